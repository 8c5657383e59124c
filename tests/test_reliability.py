"""Nothing lost under crashes, engine restarts and outside kills; two Labdock processes agree."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from desktop.core.errors import NotebookExists
from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.engines.readiness import http_status
from desktop.manager import NotebookManager
from desktop.services import build_services
from desktop.settings import load_settings
from desktop.store import Paths, SpecStore
from tests.conftest import TEST_PREFIX, Engine, arun, need
from tests.support.fault_proxy import FaultProxy

pytestmark = pytest.mark.docker


def spec(name: str, image: str, **kw: object) -> NotebookSpec:
    return NotebookSpec(name=name, image=image, network_mode=NetworkMode.HOST, **kw)  # type: ignore[arg-type]


def manager() -> NotebookManager:
    return build_services(Paths.default()).manager


def our_containers(engine: Engine, name: str) -> list[str]:
    return [c.name for c in engine.client.containers.list(all=True) if c.name == f"{TEST_PREFIX}{name}"]


async def until(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


_HOLDER = """
import asyncio, sys
from desktop.core.models import NetworkMode, NotebookSpec
from desktop.services import build_services

async def main():
    manager = build_services().manager
    await manager.create(NotebookSpec(sys.argv[1], sys.argv[2], network_mode=NetworkMode.HOST), wait=False)
    while True:
        notebook = manager.get(sys.argv[1])
        print(notebook.state.value + ("+container" if notebook.container_id else ""), flush=True)
        await asyncio.sleep(0.05)

asyncio.run(main())
"""


def run_holder(name: str, image: str) -> subprocess.Popen[str]:
    """A Labdock process (the manager without a window) that launches a notebook and stays up."""
    return subprocess.Popen([sys.executable, "-c", _HOLDER, name, image], stdout=subprocess.PIPE, text=True)


def kill_when(process: subprocess.Popen[str], state: str) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == state:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("moment", ["starting+container", "ready+container"])
def test_crash_then_restart_adopts_without_duplicates(
    labdock_home: Path, images, docker_engine: Engine, moment: str
) -> None:
    kill_when(run_holder("crashy", images.plain), moment)

    async def scenario() -> None:
        mgr = manager()
        await mgr.restore()
        notebook = mgr.get("crashy")
        await until(lambda: notebook.state is NotebookState.READY)  # a half-done launch is finished
        await mgr.url_with_token("crashy")  # reads the token back from the container
        assert await http_status(notebook.url or "", "api/status", notebook.token) == 200
        work = notebook.spec.work_dir
        assert work is not None
        (work / "kept.txt").write_text("kept")
        await mgr.close()

    arun(scenario())
    assert our_containers(docker_engine, "crashy") == [f"{TEST_PREFIX}crashy"]
    # A second crash after work was written: the work folder is untouched.
    assert (labdock_home / "data" / "work" / "crashy" / "kept.txt").read_text() == "kept"


def test_launch_interrupted_before_start_is_cleaned_up(labdock_home: Path, images, docker_engine: Engine) -> None:
    """A container created but never started (the process died in between) is removed, the row kept."""
    install = (
        (labdock_home / "config" / "install-id").read_text().strip()
        if (labdock_home / "config" / "install-id").exists()
        else None
    )

    async def scenario() -> None:
        mgr = manager()
        await mgr.restore()  # makes the install id
        ident = install or (labdock_home / "config" / "install-id").read_text().strip()
        docker_engine.client.containers.create(
            images.plain,
            name=f"{TEST_PREFIX}half",
            network_mode="none",
            labels={
                "org.labdock.managed": "1",
                "org.labdock.install": ident,
                "org.labdock.name": "half",
                "org.labdock.spec": json.dumps(spec("half", images.plain).to_json()),
            },
        )
        await mgr.restore()
        notebook = mgr.get("half")
        assert notebook.state is NotebookState.STOPPED and "interrupted" in (notebook.error or "")
        started = await mgr.start("half")
        assert started.state is NotebookState.READY, started.error
        await mgr.close()

    arun(scenario())


def test_engine_down_then_back(
    labdock_home: Path, images: Any, docker_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Docker goes away and comes back: rows kept meanwhile, everything recovers by itself. The daemon
    itself is stopped when this session started it; when it shares another session's daemon, the
    engine's socket goes away instead (a proxy in front of it stops), so the other session keeps its engine."""
    daemon = docker_engine.daemon
    proxy: FaultProxy | None = None
    if daemon is not None and daemon.restartable:
        go_away, come_back = daemon.stop_engine, daemon.start_engine
    else:
        need(docker_engine.url.startswith("unix://"), "the test engine is neither ours to restart nor a unix socket")
        proxy = FaultProxy(docker_engine.url).start()
        monkeypatch.setenv("DOCKER_HOST", proxy.url)
        go_away, come_back = proxy.go_away, proxy.start
    problems: list[str | None] = []

    async def scenario() -> None:
        mgr = manager()
        mgr.subscribe_engine(problems.append)
        notebook = await mgr.create(spec("survivor", images.plain))
        assert notebook.state is NotebookState.READY
        await asyncio.to_thread(go_away)
        try:
            assert await mgr.refresh() is False
            assert mgr.engine_problem and "Docker is not reachable" in mgr.engine_problem
            assert [n.name for n in mgr.list()] == ["survivor"]  # the rows are kept
            assert notebook.state is NotebookState.READY
        finally:
            await asyncio.to_thread(come_back)
        assert await mgr.refresh() is True
        assert mgr.engine_problem is None
        assert notebook.state is NotebookState.READY
        assert await http_status(notebook.url or "", "api/status", notebook.token) == 200
        await mgr.stop("survivor")
        await mgr.close()

    try:
        arun(scenario())
    finally:
        if proxy is not None:
            proxy.stop()
    assert problems[0] and problems[-1] is None


def test_killed_from_outside_is_reported_and_log_kept(labdock_home: Path, images, docker_engine: Engine) -> None:
    async def scenario() -> None:
        mgr = manager()
        notebook = await mgr.create(spec("victim", images.plain))
        docker_engine.client.containers.get(f"{TEST_PREFIX}victim").kill()
        await mgr.refresh()
        assert notebook.state is NotebookState.FAILED
        assert "exit code 137" in (notebook.error or "")
        assert "Jupyter Server" in await mgr.logs("victim")
        restarted = await mgr.start("victim")
        assert restarted.state is NotebookState.READY, restarted.error
        await mgr.close()

    arun(scenario())


def test_out_of_memory_is_named(labdock_home: Path, images, docker_engine: Engine) -> None:
    async def scenario() -> None:
        mgr = manager()
        notebook = await mgr.create(spec("hungry", images.plain, memory_bytes=192 * 1024**2))
        assert notebook.state is NotebookState.READY, notebook.error
        container = docker_engine.client.containers.get(f"{TEST_PREFIX}hungry")
        container.exec_run(["python3", "-c", "b = bytearray(1024 * 1024 * 1024)"])
        container.kill()
        await mgr.refresh()
        assert notebook.state is NotebookState.FAILED
        assert "OOMKilled" in (notebook.error or "")
        await mgr.close()

    arun(scenario())


def test_port_taken_in_host_mode_is_retried(
    labdock_home: Path, images, docker_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from desktop.engines import docker_engine as engine_module

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    real = engine_module.free_loopback_port
    picks = iter([taken])
    monkeypatch.setattr(engine_module, "free_loopback_port", lambda: next(picks, None) or real())

    async def scenario() -> None:
        mgr = manager()
        notebook = await mgr.create(spec("porty", images.plain))
        assert notebook.state is NotebookState.READY, notebook.error
        assert notebook.url and f":{taken}/" not in notebook.url
        await mgr.close()

    try:
        arun(scenario())
    finally:
        blocker.close()


def test_corrupt_settings_and_notebooks_files_are_kept_aside(labdock_home: Path, images) -> None:
    paths = Paths.default()
    paths.settings_file.write_text("{ not json")
    paths.notebooks_file.write_text("[[[")
    settings = load_settings(paths)
    assert settings.network_mode == "bridge"  # defaults
    assert paths.settings_file.with_suffix(".json.corrupt").read_text() == "{ not json"
    assert SpecStore(paths).load() == {}
    assert paths.notebooks_file.with_suffix(".json.corrupt").read_text() == "[[["


def test_two_processes_same_name_only_one_wins(labdock_home: Path, images, docker_engine: Engine) -> None:
    async def scenario() -> None:
        first, second = manager(), manager()
        results = await asyncio.gather(
            first.create(spec("contested", images.plain)),
            second.create(spec("contested", images.plain)),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], NotebookExists), results
        assert winners[0].state is NotebookState.READY
        loser = second if "contested" not in {n.name for n in second.list()} else first
        await loser.refresh()
        assert loser.get("contested").state is NotebookState.READY  # each sees the other's notebook
        await first.close()
        await second.close()

    arun(scenario())
    assert our_containers(docker_engine, "contested") == [f"{TEST_PREFIX}contested"]


def all_command_lines() -> list[bytes]:
    lines = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        except OSError:
            continue
    return lines


def test_token_stays_secret(labdock_home: Path, images, docker_engine: Engine) -> None:
    async def scenario() -> str:
        mgr = manager()
        notebook = await mgr.create(spec("secret", images.plain))
        token = notebook.token or ""
        assert len(token) >= 43
        command_lines = await asyncio.to_thread(all_command_lines)
        assert not any(token.encode() in line for line in command_lines)
        assert token not in await mgr.logs("secret")
        await mgr.stop("secret")
        await mgr.close()
        return token

    token = arun(scenario())
    for path in labdock_home.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_twenty_at_once(labdock_home: Path, images, docker_engine: Engine) -> None:
    names = [f"load-{i}" for i in range(20)]

    async def scenario() -> None:
        mgr = manager()
        mgr.ready_timeout = 240
        notebooks = await asyncio.gather(*(mgr.create(spec(n, images.plain)) for n in names))
        for notebook in notebooks:
            assert notebook.state is NotebookState.READY or "memory" in (notebook.error or ""), notebook.error
        await mgr.stop_all()
        assert all(n.state is NotebookState.STOPPED for n in mgr.list())
        await mgr.close()

    arun(scenario(), timeout=400)
    assert not [c for c in docker_engine.client.containers.list(all=True) if c.name.startswith(TEST_PREFIX)]
