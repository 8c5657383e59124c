"""GpuFeed: runs desktop.gpu's GpuMonitor as an asyncio task and hands each round to the window.

Each round: NVML samples (GpuMonitor samples in a worker thread), then the manager's kernel lines
(manager.kernels.lines: each GPU process's notebook, kernel and notebook file; /proc is read in a worker
thread and each server's kernel list is cached), and from the lines the per-notebook usage that the table's
memory column and the dialog's sharing warning read. Listeners get (samples, usage) on the Qt thread;
`lines` holds the latest lines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from desktop.core.errors import LabdockError
from desktop.gpu import OTHER, GpuMonitor, GpuSample, GpuUsage, GpuUser, Nvml
from desktop.kernels import GpuLine
from desktop.manager import NotebookManager
from desktop.ui.feed import Feed

log = logging.getLogger(__name__)
Listener = Callable[[tuple[GpuSample, ...], GpuUsage], None]


def usage_from_lines(lines: Iterable[GpuLine]) -> GpuUsage:
    """Memory per notebook over all GPUs, and per GPU its users (notebooks by size, then OTHER)."""
    per_notebook: dict[str, int] = {}
    per_gpu: dict[str, dict[str, tuple[int, list[int]]]] = {}
    for line in lines:
        owner = line.notebook or OTHER
        memory = line.memory or 0
        per_notebook[owner] = per_notebook.get(owner, 0) + memory
        users = per_gpu.setdefault(line.gpu_uuid, {})
        total, pids = users.get(owner, (0, []))
        users[owner] = (total + memory, [*pids, line.pid])
    ranked = {
        uuid: tuple(
            GpuUser(name, memory, tuple(pids))
            for name, (memory, pids) in sorted(users.items(), key=lambda kv: (kv[0] == OTHER, -kv[1][0], kv[0]))
        )
        for uuid, users in per_gpu.items()
    }
    return GpuUsage(per_notebook, ranked)


class GpuFeed(Feed[Listener]):
    """Start with start(); stop() cancels the sampling task (the window calls it when it closes)."""

    def __init__(self, nvml: Nvml, manager: NotebookManager) -> None:
        super().__init__()
        self.nvml = nvml
        self.manager = manager
        self.interval = 1.0
        self.usage = GpuUsage()
        self.samples: tuple[GpuSample, ...] = ()
        self.lines: tuple[GpuLine, ...] = ()

    def start(self, interval: float) -> None:
        """(Re)start sampling every `interval` seconds."""
        self.interval = interval if interval > 0 else 1.0
        self._begin(self._run(GpuMonitor(self.nvml, self.interval)))

    async def _run(self, monitor: GpuMonitor) -> None:
        try:
            await monitor.run(self._round)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("GPU sampling stopped")

    async def _round(self, samples: tuple[GpuSample, ...]) -> None:
        try:
            lines = await self.manager.kernels.lines(samples)
        except LabdockError as exc:  # an engine that does not answer: the GPUs are still shown
            log.info("no kernel lines this round: %s", exc)
            lines = ()
        self.samples, self.lines, self.usage = samples, lines, usage_from_lines(lines)
        for listener in list(self._listeners):
            try:
                listener(samples, self.usage)
            except Exception:
                log.exception("GPU listener failed")
