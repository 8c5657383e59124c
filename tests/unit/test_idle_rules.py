"""Idle stop's rules with a fake clock and a fake server: warn first, stop only after the warning had its
time, never while a kernel is busy or the server cannot be asked; postpone starts the idle time again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from desktop.core.models import Notebook, NotebookSpec, NotebookState
from desktop.idle_stop import Activity, IdleEvent, IdleEventKind, IdleStop, activity_from
from tests.conftest import arun

K = IdleEventKind


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def test_activity_is_read_like_the_idle_culler() -> None:
    status = {"started": iso(100), "last_activity": iso(200), "connections": 1, "kernels": 2}
    kernels = [
        {"execution_state": "idle", "last_activity": iso(300), "connections": 1},
        {"execution_state": "busy", "last_activity": iso(250), "connections": 0},
    ]
    activity = activity_from(status, kernels)
    assert activity == Activity(last_activity=300.0, busy_kernels=1, connections=1)
    assert activity.last_active(now=999.0) == 999.0  # a busy kernel is activity now
    quiet = activity_from(status, [{"execution_state": "idle", "last_activity": "garbage"}])
    assert quiet.last_active(now=999.0) == 200.0


class World:
    """One READY notebook with idle stop after 10 minutes of 1 s; the clock and the server's answers are ours."""

    def __init__(self, tmp_path: Path) -> None:
        self.now = 1000.0
        self.activity: Activity | None = Activity(1000.0, 0, 0)
        spec = NotebookSpec(name="nb", image="img", work_dir=tmp_path, idle_stop_minutes=10)
        self.notebook = Notebook(spec, NotebookState.READY, url="http://127.0.0.1:9/", token="t", started_at=900.0)
        self.stopped: list[tuple[str, str]] = []
        self.events: list[IdleEvent] = []

        async def read(url: str, token: str) -> Activity | None:
            return self.activity

        async def stop(name: str, reason: str) -> None:
            self.stopped.append((name, reason))
            self.notebook.state = NotebookState.STOPPED

        async def token(notebook: Notebook) -> str | None:
            return notebook.token

        self.idle = IdleStop(
            lambda: [self.notebook], stop, token, warn_before=3.0, minute=1.0, clock=lambda: self.now, read=read
        )
        self.idle.subscribe(self.events.append)

    def at(self, now: float) -> list[IdleEventKind]:
        self.now = now
        before = len(self.events)
        arun(self.idle.check())
        return [e.kind for e in self.events[before:]]


def test_warns_then_stops(tmp_path: Path) -> None:
    world = World(tmp_path)
    assert world.at(1005.0) == []
    assert world.at(1007.0) == [K.WARNING]  # 7 s idle: 3 s before the 10 s limit
    assert world.events[-1].stop_at == 1010.0
    assert world.at(1008.0) == []  # warned once
    assert world.at(1010.0) == [K.STOPPED]
    assert world.stopped == [("nb", "stopped after 10 min without activity")]


def test_a_late_warning_still_gets_its_time(tmp_path: Path) -> None:
    world = World(tmp_path)
    assert world.at(1009.5) == [K.WARNING]  # first seen 9.5 s idle (e.g. the window just started)
    assert world.events[-1].stop_at == 1012.5
    assert world.at(1011.0) == []  # past the limit, but the warning has not had its 3 s
    assert world.at(1012.5) == [K.STOPPED]


def test_activity_or_postpone_clears_the_warning(tmp_path: Path) -> None:
    world = World(tmp_path)
    assert world.at(1008.0) == [K.WARNING]
    world.activity = Activity(1008.5, 0, 0)  # someone ran a cell
    assert world.at(1009.0) == [K.CLEARED]
    assert world.at(1016.0) == [K.WARNING]
    world.idle.postpone("nb")
    assert [e.kind for e in world.events[-1:]] == [K.CLEARED]
    assert world.at(1020.0) == []  # idle since the postpone at 1016
    assert world.at(1023.0) == [K.WARNING]
    assert world.at(1027.0) == [K.STOPPED]


def test_busy_kernel_or_silent_server_is_never_stopped(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.activity = Activity(0.0, busy_kernels=1, connections=0)
    assert world.at(5000.0) == [] and world.at(9000.0) == []
    world.activity = None  # the server does not answer: no judgement
    assert world.at(9500.0) == [] and world.stopped == []


def test_a_notebook_stopped_otherwise_clears_its_warning(tmp_path: Path) -> None:
    world = World(tmp_path)
    assert world.at(1008.0) == [K.WARNING]
    world.notebook.state = NotebookState.STOPPED
    assert world.at(1009.0) == [K.CLEARED]
    assert world.stopped == []
