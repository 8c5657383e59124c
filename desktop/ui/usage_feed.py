"""UsageFeed: samples each running notebook's CPU and memory every few seconds and hands the figures to its
listener on the Qt thread: this machine's on a worker thread (desktop.ui.resource_usage), a remote host's
by one command over its SSH connection (desktop.ui.remote_usage), every other round and never waited for:
a host's latest figures go out with the next round."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from desktop.core.errors import LabdockError
from desktop.core.models import on_this_machine
from desktop.engines.remote_engine import RemoteDockerEngine
from desktop.kernels import LOCAL_PREFIX
from desktop.manager import NotebookManager
from desktop.remote_gpus import over_ssh
from desktop.ui.feed import Feed
from desktop.ui.remote_usage import HostUsage
from desktop.ui.resource_usage import Usage, UsageSampler

log = logging.getLogger(__name__)
INTERVAL = 2.0
REMOTE_EVERY = 2  # rounds: a remote host is read every 4 s, one SSH command each time


class UsageFeed(Feed[Callable[[dict[str, Usage]], None]]):
    def __init__(
        self,
        manager: NotebookManager,
        listener: Callable[[dict[str, Usage]], None],
        sampler: UsageSampler | None = None,
    ) -> None:
        super().__init__()
        self.manager = manager
        self.subscribe(listener)
        self.sampler = sampler or UsageSampler()
        self._hosts: dict[str, HostUsage] = {}
        self._host_usage: dict[str, dict[str, Usage]] = {}  # host -> notebook -> its latest figures
        self._reading: dict[str, asyncio.Task[None]] = {}

    def start(self, interval: float = INTERVAL) -> None:
        self._begin(self._run(interval))

    def stop(self) -> None:
        super().stop()
        for reading in self._reading.values():
            reading.cancel()
        self._reading.clear()

    def _servers(self) -> tuple[dict[str, str], dict[int, str], dict[str, dict[str, str]]]:
        """(this machine's containers, its Local servers by pid, each reachable host's containers), each
        mapped to its notebook's name."""
        containers: dict[str, str] = {}
        local: dict[int, str] = {}
        remote: dict[str, dict[str, str]] = {}
        for notebook in self.manager.list():
            cid = notebook.container_id
            if not cid or notebook.state is not notebook.state.READY:
                continue
            if not on_this_machine(notebook.engine):  # its cgroups are on its host
                if self.manager.hosts.problem(notebook.engine) is None:
                    remote.setdefault(notebook.engine, {})[cid] = notebook.name
            elif cid.startswith(LOCAL_PREFIX):
                with contextlib.suppress(ValueError):
                    local[int(cid.removeprefix(LOCAL_PREFIX))] = notebook.name
            else:
                containers[cid] = notebook.name
        return containers, local, remote

    async def sample_once(self, remote: bool = True) -> dict[str, Usage]:
        """One round: this machine's figures now, each host's latest; `remote` also starts a new reading of
        each host (see remote_readings)."""
        containers, local, far = self._servers()
        for gone in set(self._hosts) - set(far):
            self._hosts.pop(gone)
            self._host_usage.pop(gone, None)
        if remote:
            for host, servers in far.items():
                self._read_host(host, servers)
        usage = await asyncio.to_thread(self.sampler.sample, containers, local)
        for host, servers in far.items():
            latest = self._host_usage.get(host, {})
            usage.update({name: latest[name] for name in servers.values() if name in latest})
        for listener in list(self._listeners):
            listener(usage)
        return usage

    async def remote_readings(self) -> None:
        """Until the hosts' readings under way have ended."""
        await asyncio.gather(*self._reading.values(), return_exceptions=True)

    def _read_host(self, host: str, servers: dict[str, str]) -> None:
        if host in self._reading and not self._reading[host].done():
            return  # one reading per host at a time: a slow host is not asked twice
        engine = self.manager.engines.get(host)
        if not isinstance(engine, RemoteDockerEngine):
            return
        reader = self._hosts.setdefault(host, HostUsage(over_ssh(engine.link)))
        self._reading[host] = asyncio.ensure_future(self._read(host, reader, servers))

    async def _read(self, host: str, reader: HostUsage, servers: dict[str, str]) -> None:
        try:
            self._host_usage[host] = await reader.read(servers)
        except LabdockError as exc:
            log.debug("no CPU and memory figures from %s: %s", host, exc)
            self._host_usage.pop(host, None)

    async def _run(self, interval: float) -> None:
        rounds = 0
        while True:
            try:
                await self.sample_once(remote=rounds % REMOTE_EVERY == 0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("CPU and memory sampling failed; trying again")
            rounds += 1
            await asyncio.sleep(interval)
