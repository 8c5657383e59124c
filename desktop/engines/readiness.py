"""Readiness: a server is READY when GET /api/status with its token answers 200 and without it is refused.

The tokenless request is one extra round trip, made once the tokened one answered: a user config that
empties the token (c.IdentityProvider.token = '') would otherwise give an open server that we call READY.
Requests go straight to the server's socket, never through an HTTP proxy (they carry the token).
Polling starts at 2 ms and backs off to 10 ms, so READY comes well within 50 ms of the server being
up; a refused connection on loopback costs microseconds, so the polling itself is cheap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from desktop.core.errors import LaunchFailed
from desktop.engines.base import Exit

FIRST_DELAY = 0.002
MAX_DELAY = 0.010
EXIT_CHECK_INTERVAL = 0.25
NO_TOKEN_NEEDED = "the server does not require a token (check jupyter_server_config)"


async def http_status(url: str, path: str, token: str | None, timeout: float = 2.0) -> int | None:
    """Status code of GET url+path, or None when nothing answers.

    Plain HTTP/1.0 on a socket of our own: no proxy settings apply, so the token goes to the server only.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path.rstrip("/") + "/" + path.lstrip("/")
    auth = f"Authorization: token {token}\r\n" if token else ""
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"GET {target} HTTP/1.0\r\nHost: {netloc}\r\n{auth}\r\n".encode()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            await writer.drain()
            line = await reader.readline()
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return None
    finally:
        if writer is not None:
            writer.close()
    fields = line.split()
    if len(fields) < 2 or not fields[0].startswith(b"HTTP/"):
        return None
    try:
        return int(fields[1])
    except ValueError:
        return None


async def wait_ready(
    url: str,
    token: str,
    exit_status: Callable[[], Awaitable[Exit | None]],
    timeout: float,
) -> None:
    """Return when the server answers and requires its token; raise LaunchFailed when it does not require
    one, exits, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    delay = FIRST_DELAY
    exit_check: asyncio.Task[Exit | None] | None = None
    next_exit_check = time.monotonic() + EXIT_CHECK_INTERVAL
    try:
        while True:
            status = await http_status(url, "api/status", token)
            if status == 200:
                anonymous = await http_status(url, "api/status", None)
                if anonymous in (401, 403):
                    return
                if anonymous is not None:
                    raise LaunchFailed(NO_TOKEN_NEEDED)
                # nothing answered the second request: keep polling as if not up yet
            if status in (401, 403):
                raise LaunchFailed("the server refused its own token (is another server on that port?)")
            now = time.monotonic()
            if exit_check is not None and exit_check.done():
                ended = exit_check.result()
                if ended is not None:
                    raise LaunchFailed(ended.describe(), ended.port_taken)
                exit_check = None
            if exit_check is None and now >= next_exit_check:
                # The exit check is a Docker call: run it beside the fast poll, not in its way.
                exit_check = asyncio.ensure_future(exit_status())
                next_exit_check = now + EXIT_CHECK_INTERVAL
            if now >= deadline:
                ended = await exit_status()
                if ended is not None:
                    raise LaunchFailed(ended.describe(), ended.port_taken)
                raise LaunchFailed(f"JupyterLab did not answer within {timeout:.0f} s")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, MAX_DELAY)
    finally:
        if exit_check is not None and not exit_check.done():
            exit_check.cancel()
