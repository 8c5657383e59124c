"""The manager's state machine against a fake engine: error boundary, one emitting change method,
name reservation, leases, the work-folder deletion policy. Fast: no Docker, no JupyterLab."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from desktop.core.errors import EngineUnavailable, LabdockError, NotebookExists
from desktop.core.models import NotebookSpec, NotebookState
from desktop.lease import Leases
from desktop.manager import NotebookManager
from desktop.rows import EventKind, NotebookEvent
from desktop.store import Paths
from tests.conftest import arun
from tests.unit.fake_engine import FakeEngine

S = NotebookState


def make(tmp_path: Path, **options: float) -> tuple[NotebookManager, FakeEngine, list[NotebookEvent]]:
    engine = FakeEngine()
    paths = Paths(tmp_path / "config", tmp_path / "data")
    manager = NotebookManager(engine, paths, container_uid=1000, **options)  # type: ignore[arg-type]
    events: list[NotebookEvent] = []
    manager.subscribe(events.append)
    return manager, engine, events


def spec(name: str = "nb", work_dir: Path | None = None) -> NotebookSpec:
    return NotebookSpec(name=name, image="img", work_dir=work_dir)


UNEXPECTED: list[tuple[str, Callable[[], BaseException]]] = [
    ("labdock error", lambda: LabdockError("Docker failed: boom")),
    ("engine gone", lambda: EngineUnavailable("Docker is not reachable at unix:///x")),
    ("a bug", lambda: RuntimeError("boom")),
    ("a stray SDK-level error", lambda: requests.ReadTimeout("read timed out")),
]


@pytest.mark.parametrize("operation", ["prepare", "start"])
@pytest.mark.parametrize(("kind", "error"), UNEXPECTED, ids=[k for k, _ in UNEXPECTED])
def test_launch_failure_of_any_kind_ends_failed(
    tmp_path: Path, operation: str, kind: str, error: Callable[[], BaseException], caplog: pytest.LogCaptureFixture
) -> None:
    manager, engine, _ = make(tmp_path)
    engine.fail[operation] = error

    async def go() -> None:
        notebook = await manager.create(spec())
        assert notebook.state is S.FAILED
        assert notebook.error and "\n" not in notebook.error and "Traceback" not in notebook.error
        assert not engine.servers

    with caplog.at_level(logging.ERROR):
        arun(go(), timeout=10)
    unexpected = not isinstance(error(), LabdockError)
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records) is unexpected


def test_hung_engine_fails_the_launch_within_its_timeout(tmp_path: Path) -> None:
    manager, engine, _ = make(tmp_path, engine_timeout=0.3)
    engine.hang.add("start")

    async def go() -> None:
        notebook = await manager.create(spec())
        assert notebook.state is S.FAILED
        assert "did not answer within" in (notebook.error or "")

    arun(go(), timeout=5)


@pytest.mark.parametrize(("kind", "error"), UNEXPECTED, ids=[k for k, _ in UNEXPECTED])
def test_failed_stop_goes_back_to_ready_with_the_reason(
    tmp_path: Path, kind: str, error: Callable[[], BaseException]
) -> None:
    manager, engine, _ = make(tmp_path)

    async def go() -> None:
        await manager.create(spec())
        engine.fail["stop"] = error
        with pytest.raises(LabdockError) as raised:
            await manager.stop("nb")
        notebook = manager.get("nb")
        assert notebook.state is S.READY
        assert notebook.error is not None and notebook.error.startswith("could not stop")
        assert "\n" not in str(raised.value)

    arun(go(), timeout=10)


def test_hung_stop_gives_the_row_back(tmp_path: Path) -> None:
    manager, engine, _ = make(tmp_path, engine_timeout=0.2, stop_timeout=0.1)

    async def go() -> None:
        await manager.create(spec())
        engine.hang.add("stop")
        with pytest.raises(LabdockError, match="did not answer"):
            await manager.stop("nb")
        assert manager.get("nb").state is S.READY

    arun(go(), timeout=5)


def test_every_change_emits(tmp_path: Path) -> None:
    manager, _, _ = make(tmp_path)
    states: list[tuple[EventKind, NotebookState]] = []
    manager.subscribe(lambda e: states.append((e.kind, e.notebook.state)))  # as seen at each event

    async def go() -> None:
        await manager.create(spec())
        await manager.stop("nb")
        await manager.start("nb")
        await manager.remove("nb")

    arun(go(), timeout=10)
    assert states[0] == (EventKind.ADDED, S.CREATING)
    assert (EventKind.CHANGED, S.READY) in states and (EventKind.CHANGED, S.STOPPED) in states
    assert states[-1][0] is EventKind.REMOVED


def test_two_creates_of_one_name_at_once(tmp_path: Path) -> None:
    manager, engine, _ = make(tmp_path)

    async def go() -> None:
        results = await asyncio.gather(manager.create(spec()), manager.create(spec()), return_exceptions=True)
        assert sum(isinstance(r, NotebookExists) for r in results) == 1
        assert len(engine.servers) == 1 and engine.calls.count("start") == 1

    arun(go(), timeout=10)


def test_half_made_server_is_left_alone_while_its_lease_is_held(tmp_path: Path) -> None:
    manager, engine, _ = make(tmp_path)
    engine.add_created(spec("half"))
    other = Leases(manager.paths.leases_dir)  # another open file description: as another process would hold it

    async def go() -> None:
        fd = other.try_take("half")
        assert fd is not None
        await manager.restore()
        assert "half" in engine.servers
        assert manager.get("half").state is S.STARTING
        other.release(fd)
        await manager.restore()
        assert "half" not in engine.servers
        assert manager.get("half").state is S.STOPPED

    arun(go(), timeout=10)


def test_stop_while_another_process_holds_the_lease(tmp_path: Path) -> None:
    manager, _, _ = make(tmp_path, stop_timeout=0.2)
    other = Leases(manager.paths.leases_dir)

    async def go() -> None:
        await manager.create(spec())
        fd = other.try_take("nb")
        with pytest.raises(LabdockError, match="another Labdock"):
            await manager.stop("nb")
        assert manager.get("nb").state is S.READY
        assert fd is not None
        other.release(fd)
        await manager.stop("nb")
        assert manager.get("nb").state is S.STOPPED

    arun(go(), timeout=10)


def test_restore_survives_one_bad_row(tmp_path: Path) -> None:
    manager, engine, _ = make(tmp_path)
    engine.add_created(spec("bad"))
    engine.fail["remove_leftover"] = lambda: LabdockError("Docker failed: boom")

    async def go() -> None:
        await manager.create(spec("good"))
        engine.servers["good"].running = False
        engine.servers["good"].exit_code = 0
        await manager.restore()  # the bad row's cleanup fails; the good row is still settled
        assert manager.get("good").state is S.STOPPED

    arun(go(), timeout=10)


def test_delete_work_only_inside_the_work_root_and_unshared(tmp_path: Path) -> None:
    manager, _, _ = make(tmp_path)
    outside = tmp_path / "mine"

    async def go() -> None:
        await manager.create(spec("inside"))
        await manager.create(spec("outside", work_dir=outside))
        shared = manager.get("inside").spec.work_dir
        assert shared is not None
        await manager.create(spec("sharer", work_dir=shared))
        await manager.stop_all()
        removed = await manager.remove("outside", delete_work=True)
        assert removed.kept_because and "not inside" in removed.kept_because and outside.is_dir()
        removed = await manager.remove("inside", delete_work=True)
        assert removed.kept_because == "notebook 'sharer' also uses it" and shared.is_dir()
        removed = await manager.remove("sharer", delete_work=True)
        assert removed.work_deleted and not shared.exists()

    arun(go(), timeout=10)
