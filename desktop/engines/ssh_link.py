"""One SSH connection per remote host, shared by everything Labdock does there.

- The Docker API: the host's engine is reached through a private unix socket of ours; each connection
  the Docker SDK opens to it is piped to `docker system dial-stdio` on the host, as the docker CLI does for
  ssh:// hosts, so the host's own DOCKER_HOST, context or rootless engine is the one used.
- Notebooks: JupyterLab listens on the host's loopback only; a listener on our loopback forwards each
  connection over SSH (direct-tcpip) to it. The listener outlives the connection: after a network drop
  the next request reconnects, and the tab's address stays the same.
- Commands (`nvidia-smi`, `mkdir`): `run()`.

The connection uses the user's own ssh config, agent and known_hosts (asyncssh reads them as ssh does);
host keys are always checked. Keepalives find a dead link within KEEPALIVE_S * KEEPALIVE_COUNT seconds;
after a failure, callers get that failure's line at once for RETRY_AFTER_S instead of each waiting for
a connect timeout.

All of it runs on one thread of its own (SshIo), not on the caller's loop: the Docker SDK blocks in worker
threads while the pumps behind it move the bytes, and a busy window must never stall a transfer (or the
other way round). The async methods here may be awaited from any loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from desktop.core.errors import EngineUnavailable, LabdockError
from desktop.engines.ssh_hosts import RemoteHost

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger(__name__)
T = TypeVar("T")

CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_S = 5.0
KEEPALIVE_COUNT = 3
RETRY_AFTER_S = 2.0
COMMAND_TIMEOUT_S = 20.0
DIAL_STDIO = "docker system dial-stdio"
CHUNK = 256 * 1024
END_GRACE_S = 2.0  # after one side of a piped connection ends, for the rest of the other's answer
# One round trip when connecting: who we are there, where our data goes, and whether Docker answers.
PROBE = (
    'id -u; printf "%s\\n" "${XDG_DATA_HOME:-$HOME/.local/share}"; '
    "docker version --format '{{.Server.Version}}' 2>&1 | tail -n 1"
)


@dataclass(frozen=True)
class CommandOutput:
    exit_status: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class HostFacts:
    """What the connection found on the host."""

    uid: int
    data_dir: str  # the remote user's data folder ($XDG_DATA_HOME or ~/.local/share)
    docker_version: str


class SshIo:
    """The thread every SSH connection of this process runs on, with its own event loop."""

    _shared: SshIo | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ssh-io", daemon=True)
        self._thread.start()

    @classmethod
    def shared(cls) -> SshIo:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = SshIo()
            return cls._shared

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the SSH thread and await it from the caller's loop (cancelling it there too)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))


class SshLink:
    def __init__(self, host: RemoteHost, runtime_dir: Path, io: SshIo | None = None) -> None:
        """`runtime_dir`: where this process's private folder for the Docker socket is made, on first use (its
        name is random: nobody can make it first), and removed again when the link closes."""
        self.host = host
        self.docker_socket = runtime_dir / f"labdock-ssh-{os.getpid()}-{secrets.token_hex(6)}" / "docker.sock"
        self._io = io or SshIo.shared()
        self.problem: str | None = None  # why the host cannot be reached now; None when it can (or untried)
        self.facts: HostFacts | None = None
        # Touched on the SSH thread only:
        self._conn: asyncssh.SSHClientConnection | None = None
        self._connecting: asyncio.Lock | None = None
        self._failed_at = 0.0
        self._reconnecting: asyncio.Task[None] | None = None
        self._docker_server: asyncio.AbstractServer | None = None
        self._forwards: dict[int, asyncio.Server] = {}
        self._pumps: set[asyncio.Task[None]] = set()

    @property
    def docker_url(self) -> str:
        return f"unix://{self.docker_socket}"

    @property
    def connected(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.is_closed()

    # -- for callers on any loop ------------------------------------------------------------------

    async def ensure(self) -> HostFacts:
        """Connected, with the Docker socket served; EngineUnavailable (one line) when the host is not reachable."""
        return await self._io.run(self._ensure())

    async def run(self, command: str, timeout: float = COMMAND_TIMEOUT_S) -> CommandOutput:
        """Run a shell command line on the host; EngineUnavailable when the host is not reachable."""
        return await self._io.run(self._run(command, timeout))

    async def forward(self, remote_port: int, local_port: int | None = None) -> int:
        """The loopback port here that reaches the host's loopback `remote_port` (the same one each time)."""
        return await self._io.run(self._forward(remote_port, local_port))

    async def drop_forward(self, remote_port: int) -> None:
        await self._io.run(self._drop_forward(remote_port))

    async def disconnect(self) -> None:
        """Drop the connection (listeners stay): the next use connects again."""
        await self._io.run(self._disconnect())

    async def close(self) -> None:
        await self._io.run(self._close())

    # -- on the SSH thread ------------------------------------------------------------------------

    async def _ensure(self) -> HostFacts:
        await self._connection()
        if self._docker_server is None:
            with contextlib.suppress(FileExistsError):  # made by an earlier start of the server in this process
                os.mkdir(self.docker_socket.parent, 0o700)
            with contextlib.suppress(FileNotFoundError):
                self.docker_socket.unlink()
            self._docker_server = await asyncio.start_unix_server(self._dial_docker, path=str(self.docker_socket))
            os.chmod(self.docker_socket, 0o600)
        assert self.facts is not None
        return self.facts

    async def _connection(self) -> asyncssh.SSHClientConnection:
        """The live connection. The first time, callers wait for it; once the host is known to be down they
        get that line at once while a background attempt (every RETRY_AFTER_S) finds it back."""
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        if self.problem is not None:
            self._reconnect_soon()
            raise EngineUnavailable(self.problem)
        return await self._connect_once()

    def _reconnect_soon(self) -> None:
        if self._reconnecting is not None and not self._reconnecting.done():
            return

        async def attempt() -> None:
            await asyncio.sleep(max(0.0, self._failed_at + RETRY_AFTER_S - time.monotonic()))
            with contextlib.suppress(EngineUnavailable):
                await self._connect_once()

        self._reconnecting = asyncio.get_running_loop().create_task(attempt())

    async def _connect_once(self) -> asyncssh.SSHClientConnection:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            try:
                conn = await asyncio.wait_for(self._connect(), CONNECT_TIMEOUT_S + 2)
                self.facts = await self._probe(conn)
            except LabdockError as exc:
                self._failed(str(exc))
                raise EngineUnavailable(str(exc)) from exc
            except (OSError, _ssh().Error, TimeoutError, ValueError) as exc:
                self._failed(self._why(exc))
                raise EngineUnavailable(self.problem or "") from exc
            if self.problem is not None:
                log.info("host '%s' is reachable again", self.host.name)
            self._conn, self.problem = conn, None
            return conn

    async def _connect(self) -> asyncssh.SSHClientConnection:
        host = self.host
        conn, _ = await _ssh().create_connection(
            lambda: _watcher(self),
            host.address,
            port=host.port if host.port else (),
            username=host.user if host.user else (),
            keepalive_interval=KEEPALIVE_S,
            keepalive_count_max=KEEPALIVE_COUNT,
            connect_timeout=CONNECT_TIMEOUT_S,
        )
        connection: asyncssh.SSHClientConnection = conn
        return connection

    def _lost(self, conn: asyncssh.SSHClientConnection, exc: Exception | None) -> None:
        """The connection ended (network drop, keepalive timeout, sshd gone): known down until reconnected."""
        if conn is not self._conn:
            return
        self._conn = None
        if exc is not None:
            self._failed(self._why(exc))
            self._reconnect_soon()

    async def _probe(self, conn: asyncssh.SSHClientConnection) -> HostFacts:
        result = await asyncio.wait_for(conn.run(PROBE, check=False), COMMAND_TIMEOUT_S)
        lines = str(result.stdout or "").splitlines()
        if result.exit_status != 0 or len(lines) < 3 or not lines[0].strip().isdigit():
            conn.close()
            detail = (lines[-1] if lines else str(result.stderr or "").strip()) or f"exit {result.exit_status}"
            raise LabdockError(f"{self._where()}: Docker there does not answer: {detail.strip()}")
        return HostFacts(int(lines[0]), lines[1].strip(), lines[2].strip())

    def _failed(self, problem: str) -> None:
        if problem != self.problem:
            log.warning("%s", problem)
        self.problem, self._failed_at = problem, time.monotonic()

    def _where(self) -> str:
        return f"host '{self.host.name}' ({self.host.target})"

    def _why(self, exc: BaseException) -> str:
        where, target = self._where(), self.host.target
        if isinstance(exc, _ssh().HostKeyNotVerifiable):
            return f"{where}: its host key is not in known_hosts or does not match (check it with `ssh {target}`)"
        if isinstance(exc, _ssh().PermissionDenied):
            return f"{where}: SSH refused the login (no key it accepts: add one with ssh-copy-id or to ssh-agent)"
        if isinstance(exc, ConnectionRefusedError):
            return f"{where} unreachable: it refused the SSH connection (is sshd running?)"
        if isinstance(exc, socket.gaierror):
            return f"{where} unreachable: the name is not known ({exc.strerror})"
        if isinstance(exc, TimeoutError):
            return f"{where} unreachable: no answer within {CONNECT_TIMEOUT_S:.0f} s"
        if isinstance(exc, _ssh().Error):
            return f"{where} unreachable: {exc.reason}"
        if isinstance(exc, OSError):
            return f"{where} unreachable: {exc.strerror or exc}"
        return f"{where} unreachable: {exc}"

    async def _run(self, command: str, timeout: float) -> CommandOutput:
        conn = await self._connection()
        try:
            result = await asyncio.wait_for(conn.run(command, check=False), timeout)
        except TimeoutError as exc:
            raise LabdockError(f"{self._where()}: a command did not finish within {timeout:.0f} s") from exc
        except (OSError, _ssh().Error) as exc:
            self._failed(self._why(exc))
            raise EngineUnavailable(self.problem or "") from exc
        status = result.exit_status if result.exit_status is not None else -1
        return CommandOutput(status, str(result.stdout or ""), str(result.stderr or ""))

    async def _dial_docker(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conn = await self._connection()
            process = await conn.create_process(DIAL_STDIO, encoding=None)
        except (LabdockError, OSError, _ssh().Error) as exc:
            log.debug("no Docker connection to %s: %s", self.host.name, exc)
            writer.close()
            return
        with contextlib.suppress(asyncio.CancelledError):  # cancelled only when the link closes
            await self._pump(reader, writer, process.stdout, process.stdin)
        process.close()

    async def _forward(self, remote_port: int, local_port: int | None) -> int:
        server = self._forwards.get(remote_port)
        if server is None:

            async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                try:
                    conn = await self._connection()
                    far_reader, far_writer = await conn.open_connection("127.0.0.1", remote_port)
                except (LabdockError, OSError, _ssh().Error) as exc:
                    log.debug("no tunnel to %s:%d: %s", self.host.name, remote_port, exc)
                    writer.close()
                    return
                with contextlib.suppress(asyncio.CancelledError):  # cancelled only when the link closes
                    await self._pump(reader, writer, far_reader, far_writer)

            try:
                server = await asyncio.start_server(tunnel, "127.0.0.1", local_port or 0)
            except OSError as exc:
                raise LabdockError(
                    f"cannot listen on 127.0.0.1:{local_port or 0} for the notebook on "
                    f"'{self.host.name}': {exc.strerror or exc}"
                ) from exc
            self._forwards[remote_port] = server
        return int(server.sockets[0].getsockname()[1])

    async def _drop_forward(self, remote_port: int) -> None:
        server = self._forwards.pop(remote_port, None)
        if server is not None:
            server.close()

    async def _pump(self, near_r: Any, near_w: Any, far_r: Any, far_w: Any) -> None:
        """Copy both ways; once either side has finished, the other gets END_GRACE_S to finish too, then
        both are closed: a channel (an SSH session, for the Docker API) never outlives its client."""
        task = asyncio.current_task()
        if task is not None:
            self._pumps.add(task)
        copies = [asyncio.ensure_future(_copy(near_r, far_w)), asyncio.ensure_future(_copy(far_r, near_w))]
        try:
            _, pending = await asyncio.wait(copies, return_when=asyncio.FIRST_COMPLETED)
            if pending:
                await asyncio.wait(pending, timeout=END_GRACE_S)
        finally:
            for copy in copies:
                copy.cancel()
            for w in (near_w, far_w):
                with contextlib.suppress(Exception):
                    w.close()
            if task is not None:
                self._pumps.discard(task)

    async def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            with contextlib.suppress(Exception):
                await self._conn.wait_closed()
            self._conn = None

    async def _close(self) -> None:
        for server in [*self._forwards.values(), *filter(None, [self._docker_server])]:
            server.close()
        self._forwards.clear()
        self._docker_server = None
        with contextlib.suppress(FileNotFoundError):
            self.docker_socket.unlink()
        with contextlib.suppress(OSError):
            self.docker_socket.parent.rmdir()
        for task in [*self._pumps, *filter(None, [self._reconnecting])]:
            task.cancel()
        await self._disconnect()


def _ssh() -> ModuleType:
    """asyncssh, imported on first use: a process without remote hosts never loads it (about 0.1 s, 7 MiB)."""
    import asyncssh

    return asyncssh


def _watcher(link: SshLink) -> asyncssh.SSHClient:
    """The client side of a connection: tells the link when the connection ends."""

    class Watcher(_ssh().SSHClient):  # type: ignore[misc]
        def __init__(self) -> None:
            self._conn: asyncssh.SSHClientConnection | None = None

        def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
            self._conn = conn

        def connection_lost(self, exc: Exception | None) -> None:
            if self._conn is not None:
                link._lost(self._conn, exc)

    return Watcher()


async def _copy(reader: Any, writer: Any) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (OSError, _ssh().Error, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
