"""Exclusive GPUs: a notebook may reserve its GPUs, and no other notebook launches on them meanwhile.

A GPU is held by every notebook that is running or being launched on it; a holder with
`exclusive_gpus` reserves it. A launch is refused, with one line naming the holder, when it wants a
reserved GPU or wants exclusively a GPU others hold; sharing a GPU only earns a warning (JupyterLab
sessions are often idle). GPUs are compared by UUID, so "0", the GPU's UUID and "all" all meet.
Qt-free and engine-free: the rules read notebook records and the NVML inventory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from desktop.core.errors import LabdockError
from desktop.core.models import ALL_GPUS, Notebook, NotebookSpec, same_machine
from desktop.gpu import GpuSample, Inventory, resolve_gpus


class GpuReserved(LabdockError):
    """The launch would take a GPU another notebook reserved, or reserve one others use."""


@dataclass(frozen=True)
class GpuAvailability:
    """One GPU as the new-notebook dialog lists it."""

    index: int
    uuid: str
    name: str
    memory_total: int
    memory_free: int | None  # from the latest sample; None without one
    holders: tuple[str, ...]  # notebooks running (or launching) on it, by name
    reserved_by: str | None  # the holder that reserved it, if any


def gpu_ids(spec: NotebookSpec, inventory: Inventory | None) -> frozenset[str]:
    """The UUIDs a spec's GPU choice means here; without GPUs to resolve against, its ids as written
    ("all" then stands for every GPU). A choice naming a GPU that is gone holds only what still exists."""
    if not spec.gpus:
        return frozenset()
    if inventory is not None and inventory.gpus:
        try:
            return frozenset(resolve_gpus(spec.gpus, inventory))
        except LabdockError:
            known = {str(gpu.index) for gpu in inventory.gpus} | {gpu.uuid for gpu in inventory.gpus}
            kept = tuple(g for item in spec.gpus for g in item.split(",") if g.strip() in known)
            return frozenset(resolve_gpus(kept, inventory)) if kept else frozenset()
    return frozenset(g.strip() for item in spec.gpus for g in item.split(",") if g.strip())


def _overlap(mine: frozenset[str], theirs: frozenset[str]) -> frozenset[str]:
    if ALL_GPUS[0] in mine:
        return theirs
    if ALL_GPUS[0] in theirs:
        return mine
    return mine & theirs


def _holders(spec: NotebookSpec, notebooks: Iterable[Notebook]) -> list[Notebook]:
    return [
        nb
        for nb in notebooks
        if nb.name != spec.name and nb.state.active and nb.spec.uses_gpu and same_machine(nb.engine, spec.engine)
    ]


def _subject(ids: Iterable[str], inventory: Inventory | None) -> str:
    index = {gpu.uuid: str(gpu.index) for gpu in inventory.gpus} if inventory is not None else {}
    names = sorted((index.get(i, i) for i in ids), key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, n))
    return ("GPU " if len(names) == 1 else "GPUs ") + ", ".join(names) + (" is" if len(names) == 1 else " are")


def check_launch(spec: NotebookSpec, notebooks: Sequence[Notebook], inventory: Inventory | None) -> str | None:
    """Raise GpuReserved when this launch breaks a reservation; else a warning when it shares GPUs, or None."""
    mine = gpu_ids(spec, inventory)
    if not mine:
        return None
    sharing: list[tuple[Notebook, frozenset[str]]] = []
    for other in _holders(spec, notebooks):
        common = _overlap(mine, gpu_ids(other.spec, inventory))
        if not common:
            continue
        if other.spec.exclusive_gpus:
            raise GpuReserved(
                f"{_subject(common, inventory)} reserved by '{other.name}' (exclusive): "
                f"stop '{other.name}' or pick another GPU"
            )
        sharing.append((other, common))
    if not sharing:
        return None
    names = ", ".join(f"'{other.name}'" for other, _ in sharing)
    common = frozenset().union(*(ids for _, ids in sharing))
    if spec.exclusive_gpus:
        raise GpuReserved(
            f"{_subject(common, inventory)} in use by {names}: an exclusive notebook needs its GPUs to itself; "
            "stop them or pick another GPU"
        )
    return f"{_subject(common, inventory)} also used by {names}"


def availability(
    inventory: Inventory, samples: Iterable[GpuSample], notebooks: Iterable[Notebook]
) -> tuple[GpuAvailability, ...]:
    """Per GPU: its free memory, the notebooks on it and whether one of them reserved it."""
    latest = {sample.uuid: sample for sample in samples}
    holders: dict[str, list[Notebook]] = {gpu.uuid: [] for gpu in inventory.gpus}
    for notebook in notebooks:
        if not notebook.state.active or not notebook.spec.uses_gpu:
            continue
        for uuid in gpu_ids(notebook.spec, inventory):
            holders.setdefault(uuid, []).append(notebook)
    rows = []
    for gpu in inventory.gpus:
        sample = latest.get(gpu.uuid)
        used = None if sample is None or sample.lost else sample.memory_used
        on_it = sorted(holders.get(gpu.uuid, []), key=lambda nb: nb.name)
        reserved = next((nb.name for nb in on_it if nb.spec.exclusive_gpus), None)
        free = None if used is None else max(0, gpu.memory_total - used)
        names = tuple(nb.name for nb in on_it)
        rows.append(GpuAvailability(gpu.index, gpu.uuid, gpu.name, gpu.memory_total, free, names, reserved))
    return tuple(rows)
