"""GpuFeed: runs desktop.gpu's GpuMonitor as an asyncio task and hands each round to the window.

Each round: NVML samples (GpuMonitor samples in a worker thread), then attribution of GPU processes to
notebooks (it reads /proc, so it runs in a worker thread too). Docker notebooks are found by container
id; Local-engine notebooks ("local:<pid>") by process ancestry, since their kernels are children of the
JupyterLab process. Listeners get (samples, usage) on the Qt thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from desktop.gpu import OTHER, GpuMonitor, GpuSample, GpuUsage, GpuUser, Nvml, attribute
from desktop.manager import NotebookManager

log = logging.getLogger(__name__)
LOCAL_PREFIX = "local:"
Listener = Callable[[tuple[GpuSample, ...], GpuUsage], None]


def parent_pid(pid: int, proc_root: Path) -> int | None:
    try:
        stat = (proc_root / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name may hold spaces and parentheses
    return int(fields[1]) if len(fields) > 1 else None


def local_owner(pid: int, local: Mapping[int, str], proc_root: Path, depth: int = 32) -> str | None:
    """The Local notebook whose server is this process or one of its ancestors."""
    current: int | None = pid
    for _ in range(depth):
        if current is None or current <= 1:
            return None
        if current in local:
            return local[current]
        current = parent_pid(current, proc_root)
    return None


def attribute_all(
    samples: Iterable[GpuSample], containers: Mapping[str, str], local: Mapping[int, str], proc_root: Path
) -> GpuUsage:
    """attribute() for Docker notebooks, then what it left as OTHER credited to Local notebooks by pid."""
    samples = tuple(samples)
    usage = attribute(samples, containers, proc_root)
    if not local:
        return usage
    memory = {p.pid: p.memory or 0 for s in samples for p in s.processes}
    per_notebook = dict(usage.per_notebook)
    per_gpu: dict[str, tuple[GpuUser, ...]] = {}
    for uuid, users in usage.per_gpu.items():
        found: dict[str, tuple[int, list[int]]] = {u.name: (u.memory, list(u.pids)) for u in users}
        other = found.pop(OTHER, (0, []))
        left: list[int] = []
        for pid in other[1]:
            owner = local_owner(pid, local, proc_root)
            if owner is None:
                left.append(pid)
                continue
            mem, pids = found.get(owner, (0, []))
            found[owner] = (mem + memory.get(pid, 0), [*pids, pid])
            per_notebook[owner] = per_notebook.get(owner, 0) + memory.get(pid, 0)
            per_notebook[OTHER] = per_notebook.get(OTHER, 0) - memory.get(pid, 0)
        if left:
            found[OTHER] = (sum(memory.get(pid, 0) for pid in left), left)
        ranked = sorted(found.items(), key=lambda kv: (kv[0] == OTHER, -kv[1][0], kv[0]))
        per_gpu[uuid] = tuple(GpuUser(name, mem, tuple(pids)) for name, (mem, pids) in ranked)
    if OTHER in per_notebook and not any(u.name == OTHER for us in per_gpu.values() for u in us):
        del per_notebook[OTHER]
    return GpuUsage(per_notebook, per_gpu)


class GpuFeed:
    """Start with start(); stop() cancels the sampling task (the window calls it when it closes)."""

    def __init__(self, nvml: Nvml, manager: NotebookManager, proc_root: Path = Path("/proc")) -> None:
        self.nvml = nvml
        self.manager = manager
        self.proc_root = proc_root
        self.interval = 1.0
        self.usage = GpuUsage()
        self.samples: tuple[GpuSample, ...] = ()
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, interval: float) -> None:
        """(Re)start sampling every `interval` seconds."""
        self.stop()
        self.interval = interval if interval > 0 else 1.0
        monitor = GpuMonitor(self.nvml, self.interval)
        self._task = asyncio.ensure_future(self._run(monitor))

    def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()

    async def _run(self, monitor: GpuMonitor) -> None:
        try:
            await monitor.run(self._round)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("GPU sampling stopped")

    def _mappings(self) -> tuple[dict[str, str], dict[int, str]]:
        containers: dict[str, str] = {}
        local: dict[int, str] = {}
        for notebook in self.manager.list():
            cid = notebook.container_id
            if not cid or not notebook.state.active:
                continue
            if cid.startswith(LOCAL_PREFIX):
                with contextlib.suppress(ValueError):
                    local[int(cid.removeprefix(LOCAL_PREFIX))] = notebook.name
            else:
                containers[cid] = notebook.name
        return containers, local

    async def _round(self, samples: tuple[GpuSample, ...]) -> None:
        containers, local = self._mappings()
        usage = await asyncio.to_thread(attribute_all, samples, containers, local, self.proc_root)
        self.samples, self.usage = samples, usage
        for listener in list(self._listeners):
            try:
                listener(samples, usage)
            except Exception:
                log.exception("GPU listener failed")
