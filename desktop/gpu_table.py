"""The GPU table: per GPU, who holds its memory, down to the notebook file, and how long each kernel idled.

`gpu_groups` orders the lines for any view (the GPU dock shows these groups as they are); `render` is the
text of `labdock gpu`. Qt-free.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from desktop.core.validation import format_bytes
from desktop.gpu import GpuSample, Inventory
from desktop.kernels import GpuLine, LineKind


@dataclass(frozen=True)
class GpuGroup:
    """One GPU at one sample, with its lines: notebooks first (by name, kernels before other processes),
    then the rest; the biggest first within each."""

    index: int
    uuid: str
    name: str
    memory_total: int
    memory_used: int | None
    utilization: int | None
    lost: bool
    lines: tuple[GpuLine, ...]


def _order(line: GpuLine) -> tuple[bool, str, bool, int, int]:
    kind = line.kind
    return (kind is LineKind.OTHER, line.notebook or "", kind is not LineKind.KERNEL, -(line.memory or 0), line.pid)


def gpu_groups(inventory: Inventory, samples: Iterable[GpuSample], lines: Iterable[GpuLine]) -> tuple[GpuGroup, ...]:
    names = {gpu.uuid: gpu.name for gpu in inventory.gpus}
    per_gpu: dict[str, list[GpuLine]] = {}
    for line in lines:
        per_gpu.setdefault(line.gpu_uuid, []).append(line)
    return tuple(
        GpuGroup(
            index=sample.index,
            uuid=sample.uuid,
            name=names.get(sample.uuid, "GPU"),
            memory_total=sample.memory_total,
            memory_used=sample.memory_used,
            utilization=sample.utilization,
            lost=sample.lost,
            lines=tuple(sorted(per_gpu.get(sample.uuid, ()), key=_order)),
        )
        for sample in sorted(samples, key=lambda s: s.index)
    )


def _heading(group: GpuGroup) -> str:
    if group.lost:
        return f"GPU {group.index}: {group.name}, lost (it no longer answers)"
    used = "?" if group.memory_used is None else format_bytes(group.memory_used)
    busy = "" if group.utilization is None else f", {group.utilization} % busy"
    return f"GPU {group.index}: {group.name}, {used} of {format_bytes(group.memory_total)} used{busy}"


def render(groups: Iterable[GpuGroup], now: float | None = None) -> str:
    """`labdock gpu`: one heading per GPU, then one row per GPU process (no token, no full paths)."""
    out: list[str] = []
    for group in groups:
        out.append(_heading(group))
        if not group.lines:
            out.append("  no GPU processes")
            continue
        rows = [("NOTEBOOK / FILE", "MEMORY", "GPU %", "ACTIVITY", "PID")]
        for line in group.lines:
            memory = "?" if line.memory is None else format_bytes(line.memory)
            share = "-" if line.utilization is None else f"{line.utilization} %"
            rows.append((line.label, memory, share, line.activity(now), str(line.pid)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        out.extend("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)
    return "\n".join(out)
