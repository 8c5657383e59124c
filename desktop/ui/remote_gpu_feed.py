"""RemoteGpuFeed: each remote Docker host's GPUs for the GPU dock, read with `nvidia-smi` over the host's
SSH link (desktop.remote_gpus) every few seconds, since NVML only reaches this machine's driver.

The hosts are `services.remotes` as it is at each tick, so a host added or removed while the window runs
is picked up (and a removed host's section goes). Per host at most one reading is in flight; a host whose
link says it cannot be reached now (`link.problem`) is read again only every `retry_s`, and shows that
problem meanwhile. Each reading's GPU memory per container is credited to the notebook on that host whose
container it is. Listeners get every host's latest HostGpus, in the order of `services.remotes`, on the
Qt thread (the qasync loop) whenever something changed; the SSH work itself runs on the SSH thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from desktop.core.models import Notebook
from desktop.engines.remote_engine import RemoteDockerEngine
from desktop.gpu import OTHER, GpuUser, Inventory
from desktop.manager import NotebookManager
from desktop.remote_gpus import RemoteGpuReport, over_ssh, read_remote_gpus
from desktop.ui.feed import Feed

log = logging.getLogger(__name__)
INTERVAL_S = 3.0  # an SSH round trip and two nvidia-smi runs per host: not every second
RETRY_S = 15.0  # a host known to be unreachable is tried this often
Reader = Callable[[RemoteDockerEngine], Awaitable[RemoteGpuReport]]


@dataclass(frozen=True)
class HostGpus:
    """One remote host as the dock shows it. `report` is None until the first reading came back;
    `problem` is why its GPUs cannot be shown now (the link's or the reading's), else None."""

    name: str
    report: RemoteGpuReport | None = None
    problem: str | None = None
    users: dict[str, tuple[GpuUser, ...]] = field(default_factory=dict)  # GPU uuid -> notebooks, then OTHER
    per_notebook: dict[str, int] = field(default_factory=dict)  # notebook -> bytes over the host's GPUs


async def read_over_ssh(engine: RemoteDockerEngine) -> RemoteGpuReport:
    return await read_remote_gpus(over_ssh(engine.link))


def _notebook_of(container: str, notebooks: Mapping[str, str]) -> str | None:
    """The notebook whose container this is; ids may be given short (12 hex) on either side."""
    name = notebooks.get(container)
    if name is None:
        name = next((n for cid, n in notebooks.items() if cid.startswith(container) or container.startswith(cid)), None)
    return name


def host_users(name: str, report: RemoteGpuReport, notebooks: Iterable[Notebook]) -> HostGpus:
    """Credit the report's memory per container to the host's notebooks: per GPU the notebooks by size,
    then OTHER for the rest of the GPU's process memory (other containers, the host's own processes)."""
    by_container = {n.container_id: n.name for n in notebooks if n.engine == name and n.container_id}
    pids: dict[str, list[int]] = {}
    for pid, container in report.containers.items():
        pids.setdefault(container, []).append(pid)
    users: dict[str, tuple[GpuUser, ...]] = {}
    per_notebook: dict[str, int] = {}
    for sample in report.samples:
        mine: dict[str, tuple[int, list[int]]] = {}
        for container, per_gpu in report.users_by_container.items():
            notebook = _notebook_of(container, by_container)
            if notebook is None or sample.uuid not in per_gpu:
                continue
            memory, own = mine.get(notebook, (0, []))
            mine[notebook] = (memory + per_gpu[sample.uuid], own + sorted(pids.get(container, [])))
            per_notebook[notebook] = per_notebook.get(notebook, 0) + per_gpu[sample.uuid]
        ranked = [GpuUser(n, memory, tuple(own)) for n, (memory, own) in sorted(mine.items(), key=lambda kv: -kv[1][0])]
        credited = {pid for user in ranked for pid in user.pids}
        rest = [proc for proc in sample.processes if proc.pid not in credited]
        rest_memory = sum(proc.memory or 0 for proc in rest)
        if rest:
            ranked.append(GpuUser(OTHER, rest_memory, tuple(proc.pid for proc in rest)))
        users[sample.uuid] = tuple(ranked)
    return HostGpus(name, report, report.problem, users, per_notebook)


Listener = Callable[[tuple[HostGpus, ...]], None]


class RemoteGpuFeed(Feed[Listener]):
    """start() ticks every `interval` seconds until stop(); tick() is one round (tests call it directly)."""

    def __init__(
        self,
        remotes: Callable[[], Mapping[str, RemoteDockerEngine]],
        manager: NotebookManager,
        reader: Reader = read_over_ssh,
        *,
        interval: float = INTERVAL_S,
        retry_s: float = RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.remotes = remotes
        self.manager = manager
        self.reader = reader
        self.interval = interval
        self.retry_s = retry_s
        self.clock = clock
        self.hosts: dict[str, HostGpus] = {}
        self._engines: dict[str, RemoteDockerEngine] = {}  # the engine each host's state was read from
        self._polls: dict[str, asyncio.Task[None]] = {}
        self._tried: dict[str, float] = {}

    def start(self) -> None:
        self._begin(self._run())

    def stop(self) -> None:
        super().stop()
        for poll in self._polls.values():
            poll.cancel()
        self._polls.clear()

    async def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("reading the remote hosts' GPUs failed; trying again")
            await asyncio.sleep(self.interval)

    def tick(self) -> None:
        """Forget removed hosts, start a reading for each host that has none in flight (a host known to be
        unreachable only every retry_s), and tell the listeners when the set of hosts or a problem changed."""
        remotes = dict(self.remotes())
        changed = False
        for name in [n for n in self.hosts if self._engines.get(n) is not remotes.get(n)]:
            self._forget(name)
            changed = True
        now = self.clock()
        for name, engine in remotes.items():
            if name not in self.hosts:
                self.hosts[name] = HostGpus(name, problem=engine.link.problem)
                self._engines[name] = engine
                changed = True
            poll = self._polls.get(name)
            if poll is not None and not poll.done():
                continue
            problem = engine.link.problem
            if problem is not None and now - self._tried.get(name, -self.retry_s) < self.retry_s:
                if self.hosts[name].problem != problem:
                    self.hosts[name] = HostGpus(name, self.hosts[name].report, problem)
                    changed = True
                continue
            self._tried[name] = now
            self._polls[name] = asyncio.ensure_future(self._poll(name, engine))
        if changed:
            self._tell()

    def _forget(self, name: str) -> None:
        self.hosts.pop(name, None)
        self._engines.pop(name, None)
        self._tried.pop(name, None)
        poll = self._polls.pop(name, None)
        if poll is not None:
            poll.cancel()

    async def _poll(self, name: str, engine: RemoteDockerEngine) -> None:
        try:
            report = await self.reader(engine)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # read_remote_gpus never raises; a reader that does is shown, not fatal
            log.exception("reading the GPUs of '%s' failed", name)
            report = RemoteGpuReport(Inventory(reason=str(exc)), problem=str(exc) or type(exc).__name__)
        if self._engines.get(name) is not engine:
            return  # removed (or replaced) meanwhile
        self.hosts[name] = host_users(name, report, self.manager.list())
        self._tell()

    def _tell(self) -> None:
        hosts = tuple(self.hosts[name] for name in self.remotes() if name in self.hosts)
        for listener in list(self._listeners):
            try:
                listener(hosts)
            except Exception:
                log.exception("remote GPU listener failed")
