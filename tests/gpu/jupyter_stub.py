"""A stand-in for a notebook server's REST API on loopback, and a fake /proc tree, for the fast kernel tests
(the real servers and kernels are in test_kernels_real.py)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.jupyter_api import Server


def write_proc(
    root: Path, pid: int, ppid: int, argv: list[str], cgroup: str = "0::/user.slice\n", start: int = 1000
) -> None:
    folder = root / str(pid)
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(argv[0]).name if argv else "?"
    fields = ["S", str(ppid), str(pid), str(pid)] + ["0"] * 15 + [str(start)] + ["0"] * 20
    (folder / "stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")
    (folder / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (folder / "cgroup").write_text(cgroup)


def kernel_argv(kernel_id: str) -> list[str]:
    return ["/opt/venv/bin/python", "-m", "ipykernel_launcher", "-f", f"/tmp/runtime/kernel-{kernel_id}.json"]


@dataclass
class StubServer:
    """Answers api/kernels, api/sessions, DELETE api/kernels/<id> and POST …/interrupt for one token."""

    token: str = "t0ken"
    kernels: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    status: int | None = None  # answer every request with this status instead
    chunked: bool = False
    requests: list[str] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> StubServer:
        self.server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def as_server(self, notebook: str, container_id: str) -> Server:
        return Server(notebook, container_id, f"http://127.0.0.1:{self.port}/", self.token)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def add_kernel(
        self, kernel_id: str, state: str = "idle", last: str = "2026-01-01T00:00:00.000000Z", path: str = ""
    ) -> None:
        kernel = {"id": kernel_id, "name": "python3", "execution_state": state, "last_activity": last, "connections": 1}
        self.kernels.append(kernel)
        if path:
            self.sessions.append({"id": f"s-{kernel_id}", "path": path, "type": "notebook", "kernel": kernel})

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
        self.requests.append(f"{method} {target}")
        target, _, query = target.partition("?")
        if method == "GET":
            assert query == "no_track_activity=1", target  # watching must not count as activity
        status, body = self._route(method, target, f"Authorization: token {self.token}\r\n" in head)
        payload = json.dumps(body).encode() if body is not None else b""
        if self.chunked:
            framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload) if payload else b"0\r\n\r\n"
            writer.write(b"HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n\r\n%s" % (status, framed))
        else:
            writer.write(b"HTTP/1.0 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(payload), payload))
        await writer.drain()
        writer.close()

    def _route(self, method: str, target: str, authorised: bool) -> tuple[int, Any]:
        if self.status is not None:
            return self.status, {"message": "stub"}
        if not authorised:
            return 403, {"message": "Forbidden"}
        if method == "GET" and target == "/api/kernels":
            return 200, self.kernels
        if method == "GET" and target == "/api/sessions":
            return 200, self.sessions
        parts = target.strip("/").split("/")
        if len(parts) >= 3 and parts[:2] == ["api", "kernels"]:
            known = any(k["id"] == parts[2] for k in self.kernels)
            if not known:
                return 404, {"message": "no such kernel"}
            if method == "DELETE" and len(parts) == 3:
                self.kernels = [k for k in self.kernels if k["id"] != parts[2]]
                self.sessions = [s for s in self.sessions if s["kernel"]["id"] != parts[2]]
                return 204, None
            if method == "POST" and parts[3:] == ["interrupt"]:
                return 204, None
        return 404, {"message": "not found"}
