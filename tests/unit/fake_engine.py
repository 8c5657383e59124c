"""An in-memory Engine for the fast unit tier: servers are records, readiness is a real loopback
listener so the manager's own probe and wait_ready run unchanged."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

from desktop.core.errors import NotOurs
from desktop.core.models import NotebookSpec
from desktop.engines.base import Exit, Found, PullProgress, Started

_ids = itertools.count(1)


@dataclass
class Server:
    spec: NotebookSpec
    ident: str
    token: str
    running: bool = False
    exit_code: int | None = None
    listener: asyncio.Server | None = None
    url: str | None = None
    created_at: float = 0.0
    ours: bool = True
    log: list[str] = field(default_factory=list)
    secret_env: dict[str, str] = field(default_factory=dict)  # as the server got them


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A JupyterLab stand-in: 200 with the right token, 403 without."""
    request = await reader.readuntil(b"\r\n\r\n")
    ok = b"Authorization: token " in request
    writer.write(b"HTTP/1.0 200 OK\r\n\r\n{}" if ok else b"HTTP/1.0 403 Forbidden\r\n\r\n")
    await writer.drain()
    writer.close()


class FakeEngine:
    """Implements desktop.engines.base.Engine. `fail` maps an operation name to an exception factory
    raised when that operation is called; `hang` names operations that never return."""

    def __init__(self, name: str = "docker") -> None:
        self.name = name
        self.servers: dict[str, Server] = {}
        self.fail: dict[str, Callable[[], BaseException]] = {}
        self.hang: set[str] = set()
        self.calls: list[str] = []
        self.answer = True  # whether started servers listen (become ready)

    async def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        if operation in self.hang:
            await asyncio.Event().wait()
        if operation in self.fail:
            raise self.fail[operation]()

    def _ours(self, name: str, container_id: str | None) -> Server | None:
        server = self.servers.get(name)
        if server is None:
            return None
        if not server.ours or (container_id is not None and container_id != server.ident):
            raise NotOurs(f"a server named '{name}' exists but was not made by this Labdock; it was left alone")
        return server

    async def prepare(self, spec: NotebookSpec, on_pull: PullProgress | None) -> None:
        await self._enter("prepare")

    async def start(self, spec: NotebookSpec, token: str, secret_env: Mapping[str, str] | None = None) -> Started:
        await self._enter("start")
        server = Server(spec, f"fake{next(_ids)}", token, running=True, secret_env=dict(secret_env or {}))
        if self.answer:
            server.listener = await asyncio.start_server(_answer, "127.0.0.1", 0)
            port = server.listener.sockets[0].getsockname()[1]
            server.url = f"http://127.0.0.1:{port}/"
        else:
            server.url = "http://127.0.0.1:9/"
        self.servers[spec.name] = server
        return Started(server.ident, server.url)

    def add_created(self, spec: NotebookSpec) -> Server:
        """A server made and never started, as a launcher killed between create and start leaves it."""
        server = Server(spec, f"fake{next(_ids)}", "t")
        self.servers[spec.name] = server
        return server

    async def exit_status(self, container_id: str) -> Exit | None:
        await self._enter("exit_status")
        server = next((s for s in self.servers.values() if s.ident == container_id), None)
        if server is None:
            return Exit(-1, False, "the container was removed")
        return None if server.running or server.exit_code is None else Exit(server.exit_code, False, "")

    async def token(self, container_id: str) -> str | None:
        await self._enter("token")
        return next((s.token for s in self.servers.values() if s.ident == container_id), None)

    async def stop(self, name: str, timeout: float, container_id: str | None = None) -> None:
        await self._enter("stop")
        server = self._ours(name, container_id)
        if server is not None:
            await self._halt(server, 143)

    async def _halt(self, server: Server, code: int) -> None:
        server.running, server.exit_code = False, code
        if server.listener is not None:
            server.listener.close()
            await server.listener.wait_closed()
            server.listener = None

    async def discard(self, name: str, container_id: str | None = None) -> str:
        await self._enter("discard")
        server = self._ours(name, container_id)
        if server is None:
            return ""
        del self.servers[name]
        return "\n".join(server.log)

    async def remove_leftover(self, name: str, container_id: str | None = None) -> None:
        await self._enter("remove_leftover")
        server = self._ours(name, container_id)
        if server is not None:
            await self._halt(server, 137)
            del self.servers[name]

    async def find(self) -> list[Found]:
        await self._enter("find")
        return [
            Found(
                spec=s.spec,
                container_id=s.ident,
                running=s.running,
                never_started=not s.running and s.exit_code is None,
                url=s.url if s.running else None,
                exit_code=s.exit_code,
                created_at=s.created_at,
            )
            for s in self.servers.values()
            if s.ours
        ]

    async def logs(self, name: str, tail: int | None, container_id: str | None = None) -> str | None:
        await self._enter("logs")
        server = self._ours(name, container_id)
        return None if server is None else "\n".join(server.log)

    async def follow_logs(self, name: str, container_id: str | None = None) -> AsyncIterator[str]:
        server = self._ours(name, container_id)
        for line in server.log if server else []:
            yield line

    async def close(self) -> None:
        for server in self.servers.values():
            if server.listener is not None:
                server.listener.close()
