"""Idle stop on the real engine, with minutes one second long: a busy kernel keeps the notebook running past
its limit; once idle it is warned, "Keep running" postpones, and then it is stopped (its work folder stays)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.idle_stop import IdleEvent, IdleEventKind
from desktop.services import build_services
from desktop.store import Paths
from tests.conftest import TEST_PREFIX, Engine, arun
from tests.test_lifecycle import execute, start_kernel

pytestmark = pytest.mark.docker
K = IdleEventKind


async def until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def test_idle_notebook_is_warned_postponed_and_stopped(labdock_home: Path, images, docker_engine: Engine) -> None:
    events: list[IdleEvent] = []

    def kinds() -> list[IdleEventKind]:
        return [event.kind for event in events]

    async def scenario() -> None:
        mgr = build_services(Paths.default()).manager
        mgr.idle.minute, mgr.idle.warn_before = 1.0, 1.0  # a 3 "minute" limit is 3 s, warned 1 s ahead
        mgr.idle.subscribe(events.append)
        spec = NotebookSpec("sleepy", images.plain, network_mode=NetworkMode.HOST, idle_stop_minutes=3)
        notebook = await mgr.create(spec)
        assert notebook.state is NotebookState.READY and notebook.url and notebook.token
        url, token = notebook.url, notebook.token
        kernel = await start_kernel(url, token)
        mgr.watch_idle(interval=0.2)
        await execute(url, token, kernel, "import time; time.sleep(4.5)")  # busy longer than the limit
        assert notebook.state is NotebookState.READY and kinds() == []
        await until(lambda: kinds() == [K.WARNING])
        warning = events[-1]
        assert warning.name == "sleepy" and warning.stop_at is not None and warning.stop_at > time.time()
        mgr.idle.postpone("sleepy")  # "Keep running"
        assert kinds() == [K.WARNING, K.CLEARED]
        await asyncio.sleep(1.0)
        assert notebook.state is NotebookState.READY
        await until(lambda: K.STOPPED in kinds())
        assert kinds() == [K.WARNING, K.CLEARED, K.WARNING, K.STOPPED] and notebook.state is NotebookState.STOPPED
        assert notebook.error == "stopped after 3 min without activity"
        await mgr.close()

    arun(scenario())
    assert not [c for c in docker_engine.client.containers.list(all=True) if c.name == f"{TEST_PREFIX}sleepy"]
    assert (labdock_home / "data" / "work" / "sleepy").is_dir()
