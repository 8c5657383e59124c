"""The GPU smoke test's kernel part: a real kernel allocates GPU memory, and the kernel lines must name its
notebook file with about that much memory; shutting the kernel down through its server must free it.

Runs in a Local JupyterLab (jupyter_server + ipykernel in this Python) and, given `--image`, in a container
on Docker with the NVIDIA runtime. Whatever is missing on the machine is skipped with a line saying what
to install; the rest of the smoke test needs only nvidia-ml-py.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from desktop.gpu import Nvml
from desktop.jupyter_api import Server, request
from desktop.kernel_actions import KernelAction, act
from desktop.kernels import KernelAttribution, LineKind

MiB = 1 << 20
READY_S = 120.0


@dataclass
class Jupyter:
    """A running notebook server: how to reach it, and how to end it."""

    server: Server
    stop: Callable[[], None]


def skip(what: str, why: str) -> None:
    print(f"SKIP  {what}: {why}", flush=True)


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_args(port: int, token: str, root: str) -> list[str]:
    return [
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.port_retries=0",
    ]


def start_local(gpu_uuid: str) -> Jupyter | str:
    """jupyter_server from this Python, its kernels seeing only the target GPU; or why it cannot run."""
    missing = [m for m in ("jupyter_server", "ipykernel", "tornado") if importlib.util.find_spec(m) is None]
    if missing:
        return f"{', '.join(missing)} not installed (pip install jupyterlab)"
    port, token, root = _port(), secrets.token_urlsafe(24), tempfile.mkdtemp(prefix="labdock-smoke-")
    command = [sys.executable, "-m", "jupyter_server", *_server_args(port, token, root)]
    if os.getuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu_uuid}
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    return Jupyter(Server("smoke-local", f"local:{child.pid}", f"http://127.0.0.1:{port}/", token), stop)


def start_container(image: str, gpu_uuid: str) -> Jupyter | str:
    """The image's JupyterLab in a container with the target GPU, host network on loopback; or why not."""
    try:
        import docker
    except ImportError:
        return "the docker SDK is not installed (pip install docker)"
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        return f"no Docker engine answers ({exc})"
    port, token = _port(), secrets.token_urlsafe(24)
    try:
        container = client.containers.run(
            image,
            command=["jupyter", "server", *_server_args(port, token, "/tmp")],
            detach=True,
            network_mode="host",
            device_requests=[docker.types.DeviceRequest(device_ids=[gpu_uuid], capabilities=[["gpu"]])],
            name=f"labdock-smoke-{os.getpid()}",
        )
    except Exception as exc:
        return f"could not start {image} with the GPU ({str(exc).splitlines()[0]})"

    def stop() -> None:
        container.remove(force=True)
        client.close()

    return Jupyter(Server("smoke-container", container.id, f"http://127.0.0.1:{port}/", token), stop)


async def _ready(server: Server) -> bool:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        try:
            if (await request(server, "GET", "api/status"))[0] == 200:
                return True
        except Exception:
            pass
        await asyncio.sleep(0.2)
    return False


async def _post_json(server: Server, path: str, body: dict[str, Any]) -> Any:
    from tornado.httpclient import AsyncHTTPClient  # present wherever jupyter_server is

    response = await AsyncHTTPClient().fetch(
        f"{server.url}{path}",
        method="POST",
        headers={"Authorization": f"token {server.token}"},
        body=json.dumps(body),
        request_timeout=120,
    )
    return json.loads(response.body)


async def execute(server: Server, kernel_id: str, code: str, timeout: float = 300) -> str:
    """Run code in the kernel over its websocket; its printed output, or 'ERROR <name>: <value>'."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    ws_url = "ws" + server.url.removeprefix("http") + f"api/kernels/{kernel_id}/channels"
    headers = {"Authorization": f"token {server.token}"}
    connection = await websocket_connect(HTTPRequest(ws_url, headers=headers, request_timeout=timeout))
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex, "version": "5.3"}
    content = {"code": code, "silent": False, "store_history": False, "user_expressions": {}}
    message = {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"}
    output: list[str] = []
    try:
        await connection.write_message(json.dumps({**message, "buffers": []}))
        async with asyncio.timeout(timeout):
            while True:
                raw = await connection.read_message()
                if raw is None:
                    return "ERROR the kernel's websocket closed"
                reply = json.loads(raw)
                if reply.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if reply["msg_type"] == "stream":
                    output.append(reply["content"]["text"])
                elif reply["msg_type"] == "error":
                    return f"ERROR {reply['content']['ename']}: {reply['content']['evalue']}"
                elif reply["msg_type"] == "status" and reply["content"]["execution_state"] == "idle":
                    return "".join(output).strip()
    finally:
        connection.close()


async def check_kernel(report: Any, nvml: Nvml, jupyter: Jupyter, alloc: str, size: int, slack: int) -> None:
    """A session on smoke.ipynb allocates `size` bytes in its kernel; the lines must say so, then free it."""
    server, what = jupyter.server, jupyter.server.notebook
    if not report.check(await _ready(server), f"{what}: the server answers on {server.url}"):
        return
    session = await _post_json(
        server, "api/sessions", {"path": "smoke.ipynb", "type": "notebook", "kernel": {"name": "python3"}}
    )
    kernel_id = str(session["kernel"]["id"])
    said = await execute(server, kernel_id, f"{alloc}\n_keep, _how = allocate({size})\nprint('OK', _how)")
    if not report.check(said.startswith("OK"), f"{what}: the kernel allocated {size // MiB} MiB ({said})"):
        return
    attribution = KernelAttribution()
    lines = await attribution.lines(nvml.sample(), [server])
    ours = [line for line in lines if line.kind is LineKind.KERNEL and line.kernel_id == kernel_id]
    others = [(line.pid, line.label) for line in lines]
    if report.check(bool(ours), f"{what}: a GPU line for kernel {kernel_id[:8]} (lines: {others})"):
        line = ours[0]
        report.check(line.label == f"{what} / smoke.ipynb", f"{what}: labelled '{line.label}'")
        memory = line.memory or 0
        report.check(size <= memory <= size + slack, f"{what}: the kernel holds {memory // MiB} MiB")
        print(f"      activity {line.activity()}, GPU share {line.utilization}, pid {line.pid}", flush=True)
        await act(server, kernel_id, KernelAction.SHUT_DOWN)
        deadline = time.monotonic() + 30
        while any(p.pid == line.pid for s in nvml.sample() for p in s.processes) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        gone = not any(p.pid == line.pid for s in nvml.sample() for p in s.processes)
        report.check(gone, f"{what}: its GPU memory freed once 'Shut down kernel' returned")


def kernel_checks(report: Any, nvml: Nvml, gpu_uuid: str, alloc: str, size: int, slack: int, image: str | None) -> None:
    runs: list[tuple[str, Callable[[], Jupyter | str]]] = [
        ("kernel attribution in a Local JupyterLab", lambda: start_local(gpu_uuid))
    ]
    if image is None:
        skip("kernel attribution in a container", "pass --image with a CUDA JupyterLab image to cover it")
    else:
        runs.append((f"kernel attribution in a container of {image}", lambda: start_container(image, gpu_uuid)))
    for what, start in runs:
        started = start()
        if isinstance(started, str):
            skip(what, started)
            continue
        try:
            asyncio.run(check_kernel(report, nvml, started, alloc, size, slack))
        finally:
            started.stop()
