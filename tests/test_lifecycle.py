"""A notebook's whole life through Labdock, in both network modes: launch, run code in a kernel, adopt, stop.

Host mode runs here, against the session's engine. Bridge mode (the default) needs a Docker bridge, which the
machine's own network namespace may not have (ENVIRONMENT.md's network rule): its cases run in one pytest run
inside a network namespace this session creates, beside a dockerd on that namespace's bridge
(tests/support/netns.py), and each bridge case here reports the outcome of the same case there.
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.engines.readiness import http_status
from desktop.services import build_services
from desktop.store import Paths
from tests.conftest import Engine, arun, need, write_test_settings
from tests.support import netns
from tests.support.junit import outcomes as junit_outcomes

pytestmark = pytest.mark.docker

NAMESPACE_RUN_TIMEOUT_S = 500.0

CASES = [
    pytest.param(NetworkMode.HOST, "plain", id="host-plain"),
    pytest.param(NetworkMode.HOST, "stacks", id="host-stacks"),
    pytest.param(NetworkMode.BRIDGE, "plain", id="bridge-plain"),
    pytest.param(NetworkMode.BRIDGE, "stacks", id="bridge-stacks"),
]


# -- a minimal Jupyter client: the REST API for the kernel, its websocket for the code ---------------


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


async def start_kernel(url: str, token: str) -> str:
    """POST api/kernels; tornado's client ignores proxy variables, so this stays on loopback."""
    client = AsyncHTTPClient()
    response = await client.fetch(
        f"{url}api/kernels", method="POST", headers=_auth(token), body=json.dumps({"name": "python3"})
    )
    assert response.code == 201
    return str(json.loads(response.body)["id"])


async def kernel_ids(url: str, token: str) -> list[str]:
    response = await AsyncHTTPClient().fetch(f"{url}api/kernels", headers=_auth(token))
    return [str(kernel["id"]) for kernel in json.loads(response.body)]


async def execute(url: str, token: str, kernel_id: str, code: str, timeout: float = 60) -> str:
    """Send an execute_request over the kernel's websocket; return its stdout and result as text."""
    ws_url = "ws" + url.removeprefix("http") + f"api/kernels/{kernel_id}/channels"
    connection: WebSocketClientConnection = await websocket_connect(
        HTTPRequest(ws_url, headers=_auth(token), request_timeout=timeout)
    )
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "session": uuid.uuid4().hex,
            "username": "labdock-test",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {}},
        "channel": "shell",
        "buffers": [],
    }
    output: list[str] = []
    replied = idle = False
    try:
        await connection.write_message(json.dumps(request))
        while not (replied and idle):
            raw = await connection.read_message()
            assert raw is not None, f"the kernel's websocket closed; output so far: {output}"
            message: dict[str, Any] = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                output.append(content["text"])
            elif kind == "execute_result":
                output.append(content["data"]["text/plain"])
            elif kind == "error":
                raise AssertionError(f"the kernel raised {content['ename']}: {content['evalue']}")
            elif kind == "execute_reply":
                replied = True
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
    finally:
        connection.close()
    return "".join(output)


def token_of(url_with_token: str) -> str:
    return parse_qs(urlsplit(url_with_token).query)["token"][0]


# -- the bridge cases' stand-ins: one pytest run inside a namespace for all of them ------------------


@dataclass
class NamespaceOutcomes:
    run: netns.NamespaceRun
    outcomes: dict[str, tuple[str, str]]  # test name -> (passed/failed/skipped, details)

    def check(self, nodeid: str) -> None:
        name = nodeid.rsplit("::", 1)[-1]
        outcome, details = self.outcomes.get(name, ("failed", "it did not run in the namespace"))
        if outcome == "skipped":
            need(False, f"in the namespace: {details}")
        if outcome != "passed":
            tail = self.run.output[-8000:]
            pytest.fail(f"{name} in the network namespace: {details}\n--- the namespace run ---\n{tail}", pytrace=False)
        # The namespace went with its run: no process is left in it, and its bridge was never out here.
        assert self.run.namespace is not None and not self.run.leftovers, self.run.leftovers
        assert not Path("/sys/class/net", netns.NSBR).exists()


@pytest.fixture(scope="session")
def namespace_run(
    request: pytest.FixtureRequest, docker_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> NamespaceOutcomes:
    """Run this session's selected bridge cases in a network namespace with a bridged dockerd, once."""
    missing = netns.missing()
    need(missing is None, f"bridge mode cannot be tested: {missing}")
    selected = [
        item.nodeid
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.module is sys.modules[__name__]
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("mode") is NetworkMode.BRIDGE
    ]
    junit = tmp_path_factory.mktemp("netns") / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *selected]
    run = netns.run_in_namespace(command, docker_engine.url, request.config.rootpath, NAMESPACE_RUN_TIMEOUT_S)
    return NamespaceOutcomes(run, junit_outcomes(junit))


# -- the lifecycle ---------------------------------------------------------------------------------


async def _launch_run_adopt_stop(mode: NetworkMode, image: str, engine: Engine) -> None:
    name = f"life-{mode.value}"
    first = build_services(Paths.default()).manager
    notebook = await first.create(NotebookSpec(name, image, network_mode=mode))
    assert notebook.state is NotebookState.READY, notebook.error
    url, token, container_id = notebook.url or "", notebook.token or "", notebook.container_id or ""
    assert url.startswith("http://127.0.0.1:") and token and container_id
    assert await http_status(url, "api/status", None) == 403

    kernel = await start_kernel(url, token)
    assert await execute(url, token, kernel, "x = 6 * 7\nprint('answer', x)") == "answer 42\n"
    _check_network(mode, engine, container_id, url)
    if mode is NetworkMode.BRIDGE:
        await _not_on_bridge_address(urlsplit(url).port or 0)
    await first.close()  # the window closes; the notebook keeps running

    second = build_services(Paths.default()).manager  # a new Labdock process finds it
    await second.restore()
    adopted = second.get(name)
    assert adopted.state is NotebookState.READY, adopted.error
    assert (adopted.container_id, adopted.url) == (container_id, url)
    adopted_token = token_of(await second.url_with_token(name))
    assert adopted_token == token
    assert kernel in await kernel_ids(url, adopted_token)
    assert await execute(url, adopted_token, kernel, "x") == "42"  # the same kernel, state intact

    await second.stop(name)
    assert second.get(name).state is NotebookState.STOPPED
    assert await http_status(url, "api/status", token) is None
    assert engine.client.api.containers(all=True, filters={"id": container_id}) == []
    await second.close()


def _check_network(mode: NetworkMode, engine: Engine, container_id: str, url: str) -> None:
    data = engine.client.api.inspect_container(container_id)
    host_config, settings = data["HostConfig"], data["NetworkSettings"]
    port = urlsplit(url).port
    if mode is NetworkMode.HOST:
        assert host_config["NetworkMode"] == "host"
        assert not host_config.get("PortBindings")
        return
    assert host_config["NetworkMode"] in ("default", "bridge")
    assert host_config["PortBindings"] == {"8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert settings["Ports"] == {"8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    address = settings["Networks"]["bridge"]["IPAddress"]
    assert address.startswith(netns.NSBR_ADDRESS.rsplit(".", 1)[0] + "."), address  # on the namespace's bridge


async def _not_on_bridge_address(port: int) -> None:
    """Published on loopback only: the namespace's bridge address does not answer on that port."""
    bridge_address = netns.NSBR_ADDRESS.split("/")[0]
    assert await http_status(f"http://{bridge_address}:{port}/", "api/status", None, timeout=2.0) is None


@pytest.mark.timeout(NAMESPACE_RUN_TIMEOUT_S + 60)
@pytest.mark.parametrize(("mode", "profile"), CASES)
def test_launch_run_code_adopt_stop(
    mode: NetworkMode, profile: str, request: pytest.FixtureRequest, docker_engine: Engine
) -> None:
    if mode is NetworkMode.BRIDGE and not netns.inside():
        request.getfixturevalue("namespace_run").check(request.node.nodeid)
        return
    write_test_settings(request.getfixturevalue("labdock_home"), network_mode=mode.value)
    images = request.getfixturevalue("images")
    image = images.plain if profile == "plain" else images.stacks
    arun(_launch_run_adopt_stop(mode, image, docker_engine))
