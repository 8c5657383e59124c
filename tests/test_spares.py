"""Warm start (desktop.spares) against the real engine: spares are never notebooks, a hand-out is atomic
across kill -9, two processes never share a spare, and spares go when unwanted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.engines.container_spec import SPARE_LABEL
from desktop.engines.readiness import http_status
from desktop.lease import Leases
from desktop.services import Services, build_services
from desktop.settings import load_settings, save_settings
from desktop.spares import Spares
from desktop.store import Paths
from tests.conftest import TEST_PREFIX, Engine, arun

pytestmark = pytest.mark.docker


def spec(name: str, image: str, **kw: object) -> NotebookSpec:
    return NotebookSpec(name=name, image=image, network_mode=NetworkMode.HOST, **kw)  # type: ignore[arg-type]


def spares_of(engine: Engine) -> dict[str, str]:
    """{container id: name} of this test run's spare-labelled containers."""
    rows = engine.client.api.containers(all=True, filters={"label": SPARE_LABEL, "name": TEST_PREFIX})
    return {row["Id"]: row["Names"][0].lstrip("/") for row in rows}


def spares(services: Services) -> Spares:
    assert services.manager.spares is not None
    return services.manager.spares


def test_a_spare_is_no_notebook_until_handed_out_then_only_that_notebook(
    services: Services, images: object, docker_engine: Engine
) -> None:
    manager = services.manager
    handed: dict[str, str] = {}

    async def scenario() -> None:
        await spares(services).refill()
        (spare_id,) = spares_of(docker_engine)
        await manager.restore()
        assert manager.list() == []  # never adopted, never listed
        assert await spares(services).memory_bytes() > 10 * 1024**2  # its cost, for the status bar
        began = time.perf_counter()
        notebook = await manager.create(spec("one", images.plain))  # type: ignore[attr-defined]
        assert time.perf_counter() - began < 1.0
        assert notebook.state is NotebookState.READY, notebook.error
        assert notebook.container_id == spare_id
        assert await http_status(notebook.url or "", "api/status", notebook.token) == 200
        assert await http_status(notebook.url or "", "api/status", None) == 403
        handed.update(id=spare_id, token=notebook.token or "")
        await spares(services).refill()  # a fresh spare with a fresh token
        (new_id,) = set(spares_of(docker_engine)) - {spare_id}
        assert await spares(services).engine.token(new_id) != notebook.token
        await manager.close()

    arun(scenario())
    name = docker_engine.client.containers.get(handed["id"]).name
    assert name == f"{TEST_PREFIX}one"
    # The work folder followed the rename: what the server writes lands in the notebook's folder.
    container = docker_engine.client.containers.get(handed["id"])
    mount = container.attrs["Mounts"][0]["Destination"]
    assert container.exec_run(["touch", f"{mount}/made-inside"]).exit_code == 0
    assert (services.paths.default_work_dir("one") / "made-inside").exists()

    async def after_restart() -> None:
        again = build_services(Paths.default()).manager
        await again.restore()
        assert [n.name for n in again.list()] == ["one"]  # the new spare is not listed
        one = again.get("one")
        assert one.container_id == handed["id"]
        assert await again.url_with_token("one") == f"{one.url}lab?token={handed['token']}"
        await again.stop("one")
        await again.close()

    arun(after_restart())
    listing = subprocess.run(
        [sys.executable, "-m", "desktop", "ls"], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert listing.returncode == 0, listing.stderr
    assert "spare" not in listing.stdout and "one" in listing.stdout


def test_what_does_not_match_launches_cold_and_leaves_the_spare(
    services: Services, images: object, docker_engine: Engine, tmp_path: Path
) -> None:
    async def scenario() -> None:
        await spares(services).refill()
        before = set(spares_of(docker_engine))
        cold = await asyncio.gather(
            services.manager.create(spec("env", images.plain, env=(("A", "1"),))),  # type: ignore[attr-defined]
            services.manager.create(spec("folder", images.plain, work_dir=tmp_path / "mine")),  # type: ignore[attr-defined]
            services.manager.create(spec("other", images.stacks)),  # type: ignore[attr-defined]
        )
        for notebook in cold:
            assert notebook.state is NotebookState.READY, notebook.error
            assert notebook.container_id not in before
        assert set(spares_of(docker_engine)) == before
        await services.manager.close()

    arun(scenario())


def test_two_processes_asking_at_once_never_get_the_same_spare(
    services: Services, images: object, docker_engine: Engine
) -> None:
    other = build_services(Paths.default())  # a second Labdock: its own leases on the same files

    async def scenario() -> None:
        await spares(services).refill()
        (spare_id,) = spares_of(docker_engine)
        a, b = await asyncio.gather(
            services.manager.create(spec("a", images.plain)),  # type: ignore[attr-defined]
            other.manager.create(spec("b", images.plain)),  # type: ignore[attr-defined]
        )
        assert a.state is b.state is NotebookState.READY, (a.error, b.error)
        assert [a.container_id, b.container_id].count(spare_id) == 1
        assert a.token != b.token
        await services.manager.close()
        await other.manager.close()

    arun(scenario())


KILLER = """
import asyncio, sys, time
from desktop.engines.bindings import Bindings
from desktop.engines.docker_engine import DockerEngine
from desktop.services import build_services
from desktop.core.models import NetworkMode, NotebookSpec
from desktop.store import Paths

point, image = sys.argv[1], sys.argv[2]

def halt():
    print("AT", point, flush=True)
    time.sleep(600)

def after(cls, method):
    original = getattr(cls, method)
    if asyncio.iscoroutinefunction(original):
        async def wrapped(*a, **k):
            result = await original(*a, **k)
            halt()
            return result
    else:
        def wrapped(*a, **k):
            result = original(*a, **k)
            halt()
            return result
    setattr(cls, method, wrapped)

if point == "bound":
    after(Bindings, "write")
elif point == "limits":  # the folder is renamed, the container not yet
    after(DockerEngine, "update_limits")
elif point == "renamed":
    after(DockerEngine, "rename")

async def main():
    manager = build_services(Paths.default()).manager
    await manager.create(NotebookSpec("one", image, network_mode=NetworkMode.HOST))
    print("AT done", flush=True)
    time.sleep(600)

asyncio.run(main())
"""


@pytest.mark.parametrize("point", ["bound", "limits", "renamed"])
def test_kill_9_during_a_hand_out_leaves_a_spare_or_the_notebook_never_both(
    point: str, services: Services, images: object, docker_engine: Engine
) -> None:
    arun(spares(services).refill())
    (spare_id,) = spares_of(docker_engine)
    launcher = subprocess.Popen(
        [sys.executable, "-c", KILLER, point, images.plain],  # type: ignore[attr-defined]
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert launcher.stdout is not None
        line = launcher.stdout.readline()
        assert line.strip() == f"AT {point}", line  # killed inside the hand-out, not after a cold launch
    finally:
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()

    async def after_restart() -> None:
        again = build_services(Paths.default())
        await again.manager.restore()
        rows = {n.name: n for n in again.manager.list()}
        is_notebook = "one" in rows and rows["one"].container_id == spare_id
        as_spare = spares_of(docker_engine)[spare_id].startswith(f"{TEST_PREFIX}spare.")
        assert as_spare != is_notebook  # exactly one of the two, never both, never neither
        await spares(again).refill()  # the sweep: a spare whose hand-out began is retired, one is made
        if point == "renamed":
            assert is_notebook
            assert rows["one"].state in (NotebookState.READY, NotebookState.STARTING)
        else:
            assert not is_notebook
            assert all(n.container_id != spare_id for n in rows.values())
        healthy = [i for i in spares_of(docker_engine) if i != spare_id]
        assert len(healthy) == 1  # the pool is whole again
        await again.manager.close()

    arun(after_restart())


def test_preferences_memory_and_quit_retire_spares(
    services: Services, images: object, docker_engine: Engine, labdock_home: Path
) -> None:
    paths = Paths.default()

    async def scenario() -> None:
        pool = spares(services)
        await pool.refill()
        (first,) = spares_of(docker_engine)
        settings = load_settings(paths)
        settings.default_image = images.stacks  # type: ignore[attr-defined]
        save_settings(paths, settings)
        await pool.refill()
        (second,) = spares_of(docker_engine)
        assert second != first
        inspect = docker_engine.client.api.inspect_container(second)
        assert inspect["Config"]["Image"] == images.stacks  # type: ignore[attr-defined]

        pressed = Spares(pool.engine, paths, container_uid=os.getuid() or 1000, free_memory=lambda: 100 * 1024**2)
        await pressed.refill()
        assert spares_of(docker_engine) == {}

        await pool.refill()
        await pool.quit(keep_running=True)
        assert len(spares_of(docker_engine)) == 1
        await pool.quit(keep_running=False)
        assert spares_of(docker_engine) == {}

        settings.keep_spare = False
        save_settings(paths, settings)
        await pool.refill()
        assert spares_of(docker_engine) == {}
        await services.manager.close()

    arun(scenario())


def test_the_cli_takes_a_spare_with_its_limits_and_leaves_none_made_behind(
    services: Services, images: object, docker_engine: Engine
) -> None:
    arun(spares(services).refill())
    (spare_id,) = spares_of(docker_engine)
    made = subprocess.run(
        [sys.executable, "-m", "desktop", "new", "cli", "--cpus", "1", "--memory", "1g"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert made.returncode == 0, made.stderr
    inspect = docker_engine.client.api.inspect_container(spare_id)
    assert inspect["Name"] == f"/{TEST_PREFIX}cli"
    assert inspect["HostConfig"]["Memory"] == 1024**3
    assert inspect["HostConfig"]["CpuQuota"] == 100_000
    assert [i for i, n in spares_of(docker_engine).items() if n.startswith(f"{TEST_PREFIX}spare.")] == []

    arun(spares(services).refill())
    (waiting,) = (i for i, n in spares_of(docker_engine).items() if n.startswith(f"{TEST_PREFIX}spare."))
    settings = load_settings(services.paths)
    settings.keep_spare = False  # the preference holds for the CLI too: it launches cold
    save_settings(services.paths, settings)
    command = [sys.executable, "-m", "desktop", "new", "cold"]
    cold = subprocess.run(command, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert cold.returncode == 0, cold.stderr
    assert spares_of(docker_engine)[waiting].startswith(f"{TEST_PREFIX}spare.")


def test_kept_spares_are_refilled_after_each_hand_out_and_outlive_close(
    services: Services, images: object, docker_engine: Engine
) -> None:
    manager, pool = services.manager, spares(services)

    leases = Leases(services.paths.leases_dir)

    def waiting() -> set[str]:
        return {i for i, n in spares_of(docker_engine).items() if n.startswith(f"{TEST_PREFIX}spare.")}

    def ready() -> set[str]:  # a spare being made holds its lease until it answers
        return {i for i, n in spares_of(docker_engine).items() if i in waiting() and not leases.held_elsewhere(n)}

    async def until(condition: object, timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while not condition():  # type: ignore[operator]
                await asyncio.sleep(0.05)

    async def scenario() -> None:
        pool.start(interval=3600)
        await until(lambda: len(ready()) == 1)
        (first,) = ready()
        notebook = await manager.create(spec("kept", images.plain))  # type: ignore[attr-defined]
        assert notebook.container_id == first
        await until(lambda: len(ready()) == 1 and first not in waiting())  # refilled in the background
        await manager.close()  # the window's close without Quit's choice: spares stay for the next start

    arun(scenario())
    assert len(waiting()) == 1

    async def quit_without_keeping() -> None:
        again = build_services(Paths.default())
        await spares(again).quit(keep_running=False)
        await again.manager.close()

    arun(quit_without_keeping())
    assert waiting() == set()
