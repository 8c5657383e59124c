"""Freeing GPU memory from its kernel: interrupt one, shut one down, or shut down those idle past a threshold.

Every action goes through the kernel's own server (its REST API, loopback, its token), so JupyterLab
sees the kernel end the way its own "Shut Down Kernel" would. A kernel that already ended counts as
shut down. Qt-free: the GPU dock's line actions and `labdock gpu --free` call the same functions
(through NotebookManager).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from desktop import jupyter_api
from desktop.core.errors import LabdockError
from desktop.jupyter_api import KernelGone, Server
from desktop.kernels import GpuLine, LineKind


class KernelAction(enum.Enum):
    INTERRUPT = "interrupt"
    SHUT_DOWN = "shut down"


@dataclass(frozen=True)
class Freed:
    """What a "shut down idle kernels" did: one line per kernel (its biggest), and why any failed."""

    shut_down: tuple[GpuLine, ...] = ()
    failed: tuple[tuple[GpuLine, str], ...] = ()


async def act(server: Server, kernel_id: str, action: KernelAction) -> None:
    """Interrupt or shut down one kernel; LabdockError with one line when the server will not."""
    if action is KernelAction.INTERRUPT:
        await jupyter_api.interrupt_kernel(server, kernel_id)
        return
    with contextlib.suppress(KernelGone):  # ended meanwhile: what was asked for is so
        await jupyter_api.shut_down_kernel(server, kernel_id)


def idle_kernels(
    lines: Iterable[GpuLine], idle_s: float, now: float | None = None, gpu_uuid: str | None = None
) -> tuple[GpuLine, ...]:
    """Kernels idle for at least `idle_s` seconds (on one GPU if given), one line each: the one with the
    most memory when a kernel's processes sit on several GPUs. Busy kernels and unknown states never count."""
    chosen: dict[tuple[str, str], GpuLine] = {}
    for line in lines:
        if line.kind is not LineKind.KERNEL or line.notebook is None or line.kernel_id is None:
            continue
        if gpu_uuid is not None and line.gpu_uuid != gpu_uuid:
            continue
        idle = line.idle_seconds(now)
        if idle is None or idle < idle_s:
            continue
        key = (line.notebook, line.kernel_id)
        if key not in chosen or (line.memory or 0) > (chosen[key].memory or 0):
            chosen[key] = line
    return tuple(sorted(chosen.values(), key=lambda line: (-(line.memory or 0), line.label)))


async def shut_down_idle(
    lines: Iterable[GpuLine],
    servers: Mapping[str, Server],
    idle_s: float,
    gpu_uuid: str | None = None,
    now: float | None = None,
) -> Freed:
    """Shut down every kernel idle past `idle_s`, side by side; `servers` by notebook name."""
    targets = idle_kernels(lines, idle_s, now, gpu_uuid)

    async def one(line: GpuLine) -> str | None:
        server = servers.get(line.notebook or "")
        if server is None or line.kernel_id is None:
            return f"'{line.notebook}' is not running"
        try:
            await act(server, line.kernel_id, KernelAction.SHUT_DOWN)
        except LabdockError as exc:
            return str(exc)
        return None

    results = await asyncio.gather(*(one(line) for line in targets))
    return Freed(
        shut_down=tuple(line for line, error in zip(targets, results, strict=True) if error is None),
        failed=tuple((line, error) for line, error in zip(targets, results, strict=True) if error is not None),
    )
