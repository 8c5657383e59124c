"""Real kernels for the GPU attribution tests: sessions started through a server's REST API, their host pids
found through /proc the way an administrator would, code sent to a kernel over its websocket."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.simple_httpclient import HTTPTimeoutError
from tornado.websocket import WebSocketClientConnection, websocket_connect

from desktop.gpu import container_of


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


async def start_session(url: str, token: str, path: str) -> str:
    """A notebook session on `path` with a fresh python3 kernel; returns the kernel id (tornado's client
    ignores proxy variables, so this stays on loopback)."""
    body = {"path": path, "name": path.rsplit("/", 1)[-1], "type": "notebook", "kernel": {"name": "python3"}}
    response = await AsyncHTTPClient().fetch(
        f"{url}api/sessions", method="POST", headers=_auth(token), body=json.dumps(body), request_timeout=60
    )
    assert response.code == 201, response.body
    return str(json.loads(response.body)["kernel"]["id"])


async def start_kernel(url: str, token: str) -> str:
    """A kernel with no notebook (as a console or an API client makes one)."""
    response = await AsyncHTTPClient().fetch(
        f"{url}api/kernels", method="POST", headers=_auth(token), body=json.dumps({"name": "python3"})
    )
    assert response.code == 201, response.body
    return str(json.loads(response.body)["id"])


async def kernel_states(url: str, token: str) -> dict[str, str]:
    response = await AsyncHTTPClient().fetch(f"{url}api/kernels", headers=_auth(token))
    return {str(k["id"]): str(k["execution_state"]) for k in json.loads(response.body)}


async def send_code(url: str, token: str, kernel_id: str, code: str) -> None:
    """Send an execute_request and return once the kernel took it (busy); the code runs on without us."""
    connection = await _connect(url, token, kernel_id)
    header = {"msg_id": uuid.uuid4().hex, "msg_type": "execute_request", "session": uuid.uuid4().hex}
    request = {
        "header": {**header, "username": "labdock-test", "version": "5.3"},
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {}},
        "channel": "shell",
        "buffers": [],
    }
    try:
        await connection.write_message(json.dumps(request))
        while True:
            raw = await connection.read_message()
            assert raw is not None, "the kernel's websocket closed"
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != header["msg_id"]:
                continue
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "busy":
                return
    finally:
        connection.close()


async def _connect(url: str, token: str, kernel_id: str, attempts: int = 3) -> WebSocketClientConnection:
    """The kernel's websocket. One opened right after the kernel started sometimes waits out the server's
    kernel_info timeout (the kernel's first reply lost to ZMQ's slow joiner); JupyterLab reconnects then."""
    ws_url = "ws" + url.removeprefix("http") + f"api/kernels/{kernel_id}/channels"
    for attempt in range(attempts):
        try:
            return await websocket_connect(HTTPRequest(ws_url, headers=_auth(token), request_timeout=15))
        except HTTPTimeoutError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def host_pids(match: list[str], container: str | None = None) -> list[int]:
    """Host pids whose command line has every string of `match` (and that run in `container`, if given)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        line = " ".join(argv)
        if all(part in line for part in match) and (container is None or container_of(int(entry.name)) == container):
            found.append(int(entry.name))
    return found


def kernel_pid(kernel_id: str) -> int:
    pids = host_pids([f"kernel-{kernel_id}.json"])
    assert len(pids) == 1, f"kernel {kernel_id}: host pids {pids}"
    return pids[0]


async def until(check: Callable[[], object], timeout: float = 20.0, every: float = 0.1) -> None:
    """Await `check()` (sync or async) until it is truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, f"not so within {timeout} s"
        await asyncio.sleep(every)
