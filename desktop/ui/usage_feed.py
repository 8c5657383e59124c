"""UsageFeed: samples each running notebook's CPU and memory (desktop.ui.resource_usage) every few
seconds on a worker thread, and hands the figures to its listener on the Qt thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from desktop.core.models import on_this_machine
from desktop.kernels import LOCAL_PREFIX
from desktop.manager import NotebookManager
from desktop.ui.resource_usage import Usage, UsageSampler

log = logging.getLogger(__name__)
INTERVAL = 2.0


class UsageFeed:
    def __init__(
        self,
        manager: NotebookManager,
        listener: Callable[[dict[str, Usage]], None],
        sampler: UsageSampler | None = None,
    ) -> None:
        self.manager = manager
        self.listener = listener
        self.sampler = sampler or UsageSampler()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, interval: float = INTERVAL) -> None:
        self.stop()
        self._task = asyncio.ensure_future(self._run(interval))

    def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()

    def _servers(self) -> tuple[dict[str, str], dict[int, str]]:
        containers: dict[str, str] = {}
        local: dict[int, str] = {}
        for notebook in self.manager.list():
            cid = notebook.container_id
            if not cid or notebook.state is not notebook.state.READY:
                continue
            if not on_this_machine(notebook.engine):  # its cgroups are on its host, not here
                continue
            if cid.startswith(LOCAL_PREFIX):
                with contextlib.suppress(ValueError):
                    local[int(cid.removeprefix(LOCAL_PREFIX))] = notebook.name
            else:
                containers[cid] = notebook.name
        return containers, local

    async def sample_once(self) -> dict[str, Usage]:
        containers, local = self._servers()
        usage = await asyncio.to_thread(self.sampler.sample, containers, local)
        self.listener(usage)
        return usage

    async def _run(self, interval: float) -> None:
        while True:
            try:
                await self.sample_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("CPU and memory sampling failed; trying again")
            await asyncio.sleep(interval)
