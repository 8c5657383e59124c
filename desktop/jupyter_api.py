"""A notebook server's own REST API, just what GPU attribution and the kernel actions need.

Loopback only, by rule and because every request carries the server's token: a URL that is not on this
machine is refused before any connection is made. Requests go straight to the server's socket (plain
HTTP/1.0, no proxy settings apply), so the token reaches nobody else. Reading is asked with
no_track_activity, so watching the GPUs never makes a forgotten notebook look busy to idle stop
(desktop.idle_stop) or Jupyter's culler. Every failure is a one-line LabdockError; a kernel that is
already gone is KernelGone, so "shut it down" can count it as done.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from desktop.core.errors import LabdockError

TIMEOUT = 5.0  # a server busy starting kernels answers its API within this on a loaded 2-core machine


class KernelGone(LabdockError):
    """The server no longer has that kernel (it ended, or another client shut it down)."""


@dataclass(frozen=True)
class Server:
    """A running notebook server: whose it is and how to reach its API."""

    notebook: str
    container_id: str  # the Docker container id, or "local:<pid>" for a Local server
    url: str  # base URL ending in '/'
    token: str


def on_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def request(server: Server, method: str, path: str, timeout: float = TIMEOUT) -> tuple[int, bytes]:
    """(status, body) of one API call; LabdockError when nothing answers in time."""
    if not on_loopback(server.url):
        raise LabdockError(
            f"'{server.notebook}' is not served on this machine ({server.url}): its kernels are not read"
        )
    parts = urlsplit(server.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path.rstrip("/") + "/" + path.lstrip("/")
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = f"{method} {target} HTTP/1.0\r\nHost: {netloc}\r\nAuthorization: token {server.token}\r\n"
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"{head}Content-Length: 0\r\n\r\n".encode())
            await writer.drain()
            raw = await reader.read()  # HTTP/1.0: the server closes the connection after the body
    except (OSError, TimeoutError) as exc:
        raise LabdockError(f"the server of '{server.notebook}' did not answer ({exc or 'timed out'})") from None
    finally:
        if writer is not None:
            writer.close()
    return _parse(server, raw)


def _parse(server: Server, raw: bytes) -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    fields = status_line.split()
    if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
        raise LabdockError(f"the server of '{server.notebook}' gave an answer that is not HTTP")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in header_lines)}
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = _unchunk(body)
    return int(fields[1]), body


def _unchunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


async def get_json(server: Server, path: str) -> Any:
    status, body = await request(server, "GET", path)
    _check(server, status, path)
    try:
        return json.loads(body)
    except ValueError:
        raise LabdockError(
            f"the server of '{server.notebook}' answered {path} with something other than JSON"
        ) from None


def _check(server: Server, status: int, what: str, kernel_id: str | None = None) -> None:
    if status in (401, 403):
        raise LabdockError(f"the server of '{server.notebook}' refused its token (was it restarted elsewhere?)")
    if status == 404 and kernel_id is not None:
        raise KernelGone(f"kernel {kernel_id[:8]} of '{server.notebook}' has already ended")
    if status >= 300:
        raise LabdockError(f"the server of '{server.notebook}' answered {what} with HTTP {status}")


async def kernels(server: Server) -> list[dict[str, Any]]:
    """api/kernels: id, name, last_activity, execution_state, connections per kernel."""
    data = await get_json(server, "api/kernels?no_track_activity=1")
    return [k for k in data if isinstance(k, dict)] if isinstance(data, list) else []


async def sessions(server: Server) -> list[dict[str, Any]]:
    """api/sessions: the notebook (or console) path each kernel serves."""
    data = await get_json(server, "api/sessions?no_track_activity=1")
    return [s for s in data if isinstance(s, dict)] if isinstance(data, list) else []


async def interrupt_kernel(server: Server, kernel_id: str) -> None:
    path = f"api/kernels/{quote(kernel_id, safe='')}/interrupt"
    status, _ = await request(server, "POST", path)
    _check(server, status, "the interrupt", kernel_id)


async def shut_down_kernel(server: Server, kernel_id: str) -> None:
    """Returns once the server has ended the kernel (it waits for the process)."""
    status, _ = await request(server, "DELETE", f"api/kernels/{quote(kernel_id, safe='')}", timeout=60.0)
    _check(server, status, "the shutdown", kernel_id)
