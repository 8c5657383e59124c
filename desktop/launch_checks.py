"""What is checked and said before a GPU launch: reservations (desktop.reservations) and, on this machine, the
image's CUDA against the driver (desktop.cuda_compat). Warnings go to the log and to the listeners (the
window's dialog and status bar, the CLI's stderr); a broken reservation raises GpuReserved.

A launch's reservation check covers the other Labdock processes too: it runs under its machine's GPU lock
against their launches under way (desktop.gpu_claims) and what the machine's engines run, and leaves a claim
that the caller releases when the launch ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from desktop import cuda_compat, reservations
from desktop.bounded import bounded
from desktop.core.errors import EngineUnavailable, LabdockError
from desktop.core.models import Notebook, NotebookSpec, NotebookState, on_this_machine, same_machine
from desktop.engines.base import Engine
from desktop.gpu import Inventory
from desktop.gpu_claims import Claim, GpuClaims

log = logging.getLogger(__name__)
WarningListener = Callable[[str, str], None]  # (notebook, one line) said before its launch goes ahead


@dataclass
class Checked:
    """A launch that passed its checks: the warnings to say, and its claim on the GPUs (None for a launch
    without GPUs), to release when the launch ends."""

    warnings: tuple[str, ...] = ()
    claim: Claim | None = None

    def release(self) -> None:
        if self.claim is not None:
            self.claim.release()


class LaunchChecks:
    def __init__(
        self,
        notebooks: Callable[[], Sequence[Notebook]],
        engines: Callable[[], Iterable[Engine]],
        gpu_inventory: Callable[[], Inventory] | None,
        engine_timeout: float,
        claims: GpuClaims,
    ) -> None:
        self._notebooks, self._engines, self._claims = notebooks, engines, claims
        self._gpu_inventory, self._timeout = gpu_inventory, engine_timeout
        self._listeners: list[WarningListener] = []

    def subscribe(self, listener: WarningListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def preview(self, spec: NotebookSpec) -> tuple[str, ...]:
        """The warnings against the notebooks this process knows, claiming nothing (the dialog's)."""
        inventory, cuda = await self._inventory_and_cuda(spec)
        shared = reservations.check_launch(spec, self._notebooks(), inventory) if spec.uses_gpu else None
        return tuple(warning for warning in (shared, cuda) if warning)

    async def run(self, spec: NotebookSpec) -> Checked:
        """Check a launch and claim its GPUs; GpuReserved when it would break a reservation, here or in another
        Labdock process. A launch without GPUs, or with no GPU inventory to check against, claims nothing."""
        if not spec.uses_gpu or self._gpu_inventory is None:
            return Checked()
        inventory, cuda = await self._inventory_and_cuda(spec)
        reservations.check_launch(spec, self._notebooks(), inventory)  # refused at once by what is known here
        async with self._claims.locked(spec.engine) as locked:
            others = [*locked.elsewhere, *await self._running_beside(spec)]  # claims first: see gpu_claims
            shared = reservations.check_launch(spec, _merged(self._notebooks(), others), inventory)
            claim = locked.claim(spec)
        return Checked(tuple(warning for warning in (shared, cuda) if warning), claim)

    async def _inventory_and_cuda(self, spec: NotebookSpec) -> tuple[Inventory | None, str | None]:
        """This machine's GPUs and the image's CUDA warning; neither for a remote host (GPUs by index there)."""
        if not spec.uses_gpu or self._gpu_inventory is None or not on_this_machine(spec.engine):
            return None, None
        inventory = await asyncio.to_thread(self._gpu_inventory)
        engine = next((e for e in self._engines() if e.name == spec.engine), None)
        if engine is None:
            return inventory, None
        try:
            check = cuda_compat.check_image(engine, spec.image, inventory.cuda_version)
            return inventory, await bounded(check, self._timeout)
        except LabdockError as exc:  # the launch itself says what is wrong with the engine
            log.info("no CUDA check for '%s': %s", spec.name, exc)
            return inventory, None

    async def _running_beside(self, spec: NotebookSpec) -> list[Notebook]:
        """What the engines of `spec`'s machine run, other processes' notebooks included. An engine that does
        not answer holds nothing it could be checked against, unless it is the launch's own."""
        engines = [engine for engine in self._engines() if same_machine(engine.name, spec.engine)]
        answers = await asyncio.gather(
            *(bounded(engine.find(), self._timeout) for engine in engines), return_exceptions=True
        )
        running = []
        for engine, answer in zip(engines, answers, strict=True):
            if isinstance(answer, EngineUnavailable) and engine.name != spec.engine:
                continue
            if isinstance(answer, BaseException):
                raise answer
            running += [Notebook(spec=found.spec, state=NotebookState.READY) for found in answer if found.running]
        return running

    def warn(self, name: str, warnings: tuple[str, ...]) -> None:
        for warning in warnings:
            log.warning("launching '%s': %s", name, warning)
            for listener in list(self._listeners):
                try:
                    listener(name, warning)
                except Exception:
                    log.exception("warning listener failed")


def _merged(rows: Sequence[Notebook], others: Iterable[Notebook]) -> list[Notebook]:
    """This process's rows, with another process's active notebook in place of a row that is not (yet)."""
    by_name = {notebook.name: notebook for notebook in rows}
    for notebook in others:
        known = by_name.get(notebook.name)
        if known is None or not known.state.active:
            by_name[notebook.name] = notebook
    return list(by_name.values())
