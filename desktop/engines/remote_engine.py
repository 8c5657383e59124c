"""A Docker engine on another machine, reached over SSH (desktop.engines.ssh_link).

Everything DockerEngine does (labels, ownership, the error boundary) holds as it is; what differs:
- every call first makes sure the host's SSH connection is up, and a failure names the host;
- JupyterLab listens on the host's loopback (published on 127.0.0.1 there, or host network mode on a port
  free there), and the URL handed back is the local end of a tunnel to it, so the tab, the readiness probe
  and the kernel API all go through SSH; nothing is published on a remote interface;
- a stable address keeps the tunnel's local port, not the host's;
- the container's user is the remote user (1000 when that is root), GPUs are the host's own (the choice is
  passed to its Docker as given), mounts are checked on the host.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import re
import shlex
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import docker
from docker.transport import UnixHTTPAdapter

from desktop.core.errors import EngineTimeout, EngineUnavailable, InvalidSpec, LabdockError
from desktop.core.models import NotebookSpec
from desktop.engines.base import Found, PullProgress, Started
from desktop.engines.container_spec import DockerSettings
from desktop.engines.docker_engine import DockerEngine
from desktop.engines.endpoint import Endpoint
from desktop.engines.ssh_link import HostFacts, SshLink

log = logging.getLogger(__name__)
T = TypeVar("T")
DOCKER_SESSIONS = 6
DOCKER_VERSION = "docker version --format '{{.Server.Version}}'"
DOCKER_DOWN_PROBE_S = 10.0
HOST_MODE_PORTS = (20000, 32767)  # below Linux's ephemeral range, where outgoing connections take ports
_LOOPBACK_URL = re.compile(r"^http://127\.0\.0\.1:(\d+)/$")
LISTEN = "0A"  # the TCP state of a listening socket in /proc/net/tcp


class _OnePool(UnixHTTPAdapter):  # type: ignore[misc]
    def get_connection(self, url: str, proxies: object = None) -> object:
        return super().get_connection("http+docker://localhost", proxies)


def listening_ports(proc_net_tcp: str) -> set[int]:
    """Ports something listens on, from /proc/net/tcp and tcp6 text."""
    ports = set()
    for line in proc_net_tcp.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == LISTEN and ":" in fields[1]:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def container_uid(remote_uid: int) -> int:
    """The notebook's user on the host: the SSH user, or 1000 (jovyan) when that is root."""
    return remote_uid or 1000


class RemoteDockerEngine(DockerEngine):
    def __init__(self, link: SshLink, settings: DockerSettings) -> None:
        host = link.host
        super().__init__(
            dataclasses.replace(
                settings,
                base_url=link.docker_url,
                context=None,
                chosen_in=f"host {host.name}",
                gpu_resolver=None,  # the host's GPUs: its Docker resolves "all" and indices itself
                bindings_dir=None,  # no spares there
            )
        )
        self.name = host.name
        self.link = link
        # Each Docker API connection is an SSH session, and sshd allows 10 per connection (MaxSessions):
        # leave room for the tunnels' commands and the GPU readings.
        self._pool = ThreadPoolExecutor(max_workers=DOCKER_SESSIONS, thread_name_prefix=f"docker-{host.name}")
        self._tunnels: dict[str, int] = {}  # container id -> the host's loopback port its tunnel reaches

    def _new_client(self, endpoint: Endpoint) -> docker.DockerClient:
        """The SDK keeps a connection pool per request path (container ids in them), each connection idle in
        them an SSH session on the host: one pool of DOCKER_SESSIONS for all of them instead."""
        client = super()._new_client(endpoint)
        api = client.api
        socket_url = f"http+unix://{self.link.docker_socket}"
        adapter = _OnePool(socket_url, api.timeout, pool_connections=1, max_pool_size=DOCKER_SESSIONS)
        api.mount("http+docker://", adapter)
        api._custom_adapter = adapter
        return client

    def _where(self) -> str:
        return f"host '{self.link.host.name}' ({self.link.host.target}, over SSH)"

    async def _call(
        self, fn: Callable[[docker.DockerClient], T], *, doing: str | None = None, image: str | None = None
    ) -> T:
        self._use(await self.link.ensure())
        try:
            return await super()._call(fn, doing=doing, image=image)
        except (EngineUnavailable, EngineTimeout) as exc:
            if self.link.problem is not None:  # the connection went: that is the reason to give
                raise EngineUnavailable(self.link.problem) from exc
            if isinstance(exc, EngineUnavailable) and (why := await self._docker_down()) is not None:
                raise EngineUnavailable(why) from exc
            raise

    async def _docker_down(self) -> str | None:
        """With SSH up, a Docker connection that closes unanswered is `docker system dial-stdio` failing there,
        usually because the engine is stopped: the docker CLI on the host says why, in Docker's own words."""
        try:
            out = await self.link.run(DOCKER_VERSION, timeout=DOCKER_DOWN_PROBE_S)
        except LabdockError:
            return None
        said = [line.strip() for line in out.stderr.splitlines() if line.strip()]
        if out.exit_status == 0 or not said:
            return None  # it answers: the failure was something else, already said
        return f"Docker on '{self.name}' does not answer: {said[-1]}"

    def _use(self, facts: HostFacts) -> None:
        uid = container_uid(facts.uid)
        if self.settings.uid != uid:
            self.settings = dataclasses.replace(self.settings, uid=uid)

    async def describe(self) -> str:
        try:
            engine = await self.engine_version()
        except LabdockError as exc:
            return str(exc)
        return f"{engine} on {self.link.host.name} ({self.link.host.target}, over SSH)"

    async def engine_version(self) -> str:
        """'Docker 27.1' as the host's engine answers now; raises LabdockError (the line why) when it cannot."""
        await self._call(lambda c: c.ping())
        product = self._kind.product if self._kind else "Docker"
        version = self._kind.version if self._kind else ""
        return f"{product} {version}".strip()

    # -- launch ----------------------------------------------------------------------------------

    async def prepare(self, spec: NotebookSpec, on_pull: PullProgress | None) -> None:
        await super().prepare(dataclasses.replace(spec, mounts=()), on_pull)
        if spec.mounts:
            await self._check_mounts(spec)

    async def _check_mounts(self, spec: NotebookSpec) -> None:
        paths = " ".join(shlex.quote(str(m.host_path)) for m in spec.mounts)
        out = await self.link.run(f'for p in {paths}; do [ -e "$p" ] || printf "%s\\n" "$p"; done')
        missing = out.stdout.splitlines()
        if missing:
            raise InvalidSpec(f"the mount's host folder {missing[0]} does not exist on '{self.name}'")

    async def start(
        self,
        spec: NotebookSpec,
        token: str,
        secret_env: Mapping[str, str] | None = None,
        spare_key: str | None = None,
    ) -> Started:
        started = await super().start(dataclasses.replace(spec, stable_port=None), token, secret_env, spare_key)
        try:
            url = await self._tunnel(started.container_id, started.url, spec.stable_port)
        except LabdockError:
            await self.remove_leftover(spec.name, started.container_id)
            raise
        return Started(started.container_id, url)

    async def _host_mode_port(self, spec: NotebookSpec) -> int:
        """A port nothing listens on at the host (host network mode binds the host's own loopback)."""
        out = await self.link.run("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null")
        used = listening_ports(out.stdout)
        free = [port for port in range(*HOST_MODE_PORTS) if port not in used]
        if not free:
            raise LabdockError(f"no free port on '{self.name}' for the notebook")
        return random.choice(free)

    async def _tunnel(self, container_id: str, remote_url: str, local_port: int | None) -> str:
        match = _LOOPBACK_URL.match(remote_url)
        if match is None:
            raise LabdockError(f"the notebook on '{self.name}' is not on its loopback ({remote_url})")
        remote_port = int(match.group(1))
        try:
            port = await self.link.forward(remote_port, local_port)
        except LabdockError:
            if local_port is None:
                raise
            log.warning("the stable port %d is taken here; the notebook on '%s' gets another", local_port, self.name)
            port = await self.link.forward(remote_port, None)
        self._tunnels[container_id] = remote_port
        return f"http://127.0.0.1:{port}/"

    # -- what runs there -------------------------------------------------------------------------

    async def find(self) -> list[Found]:
        found = []
        for item in await super().find():
            if item.url is not None:
                item = dataclasses.replace(
                    item, url=await self._tunnel(item.container_id, item.url, item.spec.stable_port)
                )
            found.append(item)
        running = {item.container_id for item in found if item.url is not None}
        for container_id in [c for c in self._tunnels if c not in running]:
            await self._untunnel(container_id)
        return found

    async def _untunnel(self, container_id: str | None) -> None:
        remote_port = self._tunnels.pop(container_id, None) if container_id else None
        if remote_port is not None and remote_port not in self._tunnels.values():
            await self.link.drop_forward(remote_port)

    async def discard(self, name: str, container_id: str | None = None) -> str:
        logs = await super().discard(name, container_id)
        await self._untunnel(container_id)
        return logs

    async def remove_leftover(self, name: str, container_id: str | None = None) -> None:
        await super().remove_leftover(name, container_id)
        await self._untunnel(container_id)

    async def close(self) -> None:
        await super().close()
        await self.link.close()
