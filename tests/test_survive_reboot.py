"""Survive reboots: a notebook with a restart policy comes back after its server dies with the engine, and
Labdock adopts it exactly once, with its state, URL and token.

When this session started the test engine, the comeback is a real one: dockerd is stopped, the notebook's
processes are killed while it is down (as a power cut would), and the restarted dockerd brings the container
back by its policy. When the engine is shared with another session (never stopped under it), the server's
process is killed from the host instead and Docker's restart manager brings it back: the same policy, the
same adoption."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import docker
import pytest

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.engines.readiness import http_status
from desktop.manager import NotebookManager
from desktop.rows import EventKind, NotebookEvent
from desktop.services import build_services
from desktop.store import Paths
from tests.conftest import TEST_PREFIX, Engine, arun

pytestmark = pytest.mark.docker


def manager() -> NotebookManager:
    return build_services(Paths.default()).manager


def state_of(client: docker.DockerClient, name: str) -> dict[str, object]:
    return dict(client.api.inspect_container(f"{TEST_PREFIX}{name}")["State"])


def wait_back(client: docker.DockerClient, name: str, started_before: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = state_of(client, name)
        if state.get("Running") and state.get("StartedAt") != started_before:
            return
        assert time.monotonic() < deadline, f"the container did not come back: {state}"
        time.sleep(0.1)


def kill_with_the_engine(docker_engine: Engine, pid: int) -> None:
    """Everything dies: the engine stops, the notebook's processes are killed, the engine starts again."""
    daemon = docker_engine.daemon
    assert daemon is not None
    daemon.stop_engine()
    try:
        os.kill(pid, signal.SIGKILL)
    finally:
        daemon.start_engine()


def test_comes_back_and_is_adopted_once(labdock_home: Path, images, docker_engine: Engine) -> None:
    client = docker_engine.client

    async def launch() -> tuple[str, str, str]:
        mgr = manager()
        notebook = await mgr.create(
            NotebookSpec("phoenix", images.plain, network_mode=NetworkMode.HOST, survive_reboot=True)
        )
        assert notebook.state is NotebookState.READY, notebook.error
        assert notebook.url and notebook.token and notebook.container_id
        await mgr.close()
        return notebook.url, notebook.token, notebook.container_id

    url, token, ident = arun(launch())
    before = state_of(client, "phoenix")
    assert client.api.inspect_container(ident)["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    pid = int(before["Pid"])  # type: ignore[call-overload]
    if docker_engine.daemon is not None and docker_engine.daemon.restartable:
        kill_with_the_engine(docker_engine, pid)
        client = docker.DockerClient(base_url=docker_engine.url, timeout=120)
    else:
        os.kill(pid, signal.SIGKILL)
    wait_back(client, "phoenix", before["StartedAt"])

    events: list[NotebookEvent] = []

    async def adopt() -> None:
        mgr = manager()  # Labdock starting after the reboot
        mgr.subscribe(events.append)
        await mgr.restore()
        notebook = mgr.get("phoenix")
        deadline = time.monotonic() + 60
        while notebook.state is not NotebookState.READY:
            assert time.monotonic() < deadline and notebook.state is NotebookState.STARTING, notebook.error
            await asyncio.sleep(0.05)
        assert (notebook.url, notebook.container_id) == (url, ident)
        assert await mgr.url_with_token("phoenix") == f"{url}lab?token={token}"
        deadline = time.monotonic() + 60
        while await http_status(url, "api/status", token) != 200:
            assert time.monotonic() < deadline, "the server did not answer after its comeback"
            await asyncio.sleep(0.1)
        await mgr.restore()  # again: nothing new
        assert [n.name for n in mgr.list()] == ["phoenix"]
        await mgr.stop("phoenix")  # stopped by Labdock it stays stopped, and its container goes
        await mgr.close()

    arun(adopt())
    added = [e for e in events if e.kind is EventKind.ADDED]
    assert [e.notebook.name for e in added] == ["phoenix"]
    assert not [e for e in events if e.kind is EventKind.REMOVED]
    assert not [c for c in client.containers.list(all=True) if c.name == f"{TEST_PREFIX}phoenix"]
