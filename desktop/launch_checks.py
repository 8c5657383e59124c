"""What is checked and said before a GPU launch: reservations (desktop.reservations) and, on this machine, the
image's CUDA against the driver (desktop.cuda_compat). Warnings go to the log and to the listeners (the
window's dialog and status bar, the CLI's stderr); a broken reservation raises GpuReserved."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from desktop import cuda_compat, reservations
from desktop.bounded import bounded
from desktop.core.errors import LabdockError
from desktop.core.models import Notebook, NotebookSpec, on_this_machine
from desktop.engines.base import Engine
from desktop.gpu import Inventory

log = logging.getLogger(__name__)
WarningListener = Callable[[str, str], None]  # (notebook, one line) said before its launch goes ahead


class LaunchChecks:
    def __init__(
        self,
        notebooks: Callable[[], Sequence[Notebook]],
        engine_of: Callable[[NotebookSpec], Engine],
        gpu_inventory: Callable[[], Inventory] | None,
        engine_timeout: float,
    ) -> None:
        self._notebooks, self._engine_of = notebooks, engine_of
        self._gpu_inventory, self._timeout = gpu_inventory, engine_timeout
        self._listeners: list[WarningListener] = []

    def subscribe(self, listener: WarningListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def run(self, spec: NotebookSpec) -> tuple[Inventory | None, tuple[str, ...]]:
        """(this machine's GPU inventory when it applies, the warnings); GpuReserved when refused."""
        if not spec.uses_gpu or self._gpu_inventory is None:
            return None, ()
        if not on_this_machine(spec.engine):  # the host's GPUs: reservations by index, no NVML here
            warning = reservations.check_launch(spec, self._notebooks(), None)
            return None, (warning,) if warning else ()
        inventory = await asyncio.to_thread(self._gpu_inventory)
        shared = reservations.check_launch(spec, self._notebooks(), inventory)
        try:
            check = cuda_compat.check_image(self._engine_of(spec), spec.image, inventory.cuda_version)
            cuda = await bounded(check, self._timeout)
        except LabdockError as exc:  # the launch itself says what is wrong with the engine
            log.info("no CUDA check for '%s': %s", spec.name, exc)
            cuda = None
        return inventory, tuple(warning for warning in (shared, cuda) if warning)

    def warn(self, name: str, warnings: tuple[str, ...]) -> None:
        for warning in warnings:
            log.warning("launching '%s': %s", name, warning)
            for listener in list(self._listeners):
                try:
                    listener(name, warning)
                except Exception:
                    log.exception("warning listener failed")
