"""Labdock on Podman's Docker-compatible API, with a real `podman system service` (tests/support/podman.py).

What Podman does on these machines, through Labdock's own code: it is found at its sockets and named in the
engine line, creates containers with Labdock's labels, lists them, lets a fresh manager tidy up one that was
created and never started, removes them, refuses GPU notebooks with one line, and a launch that its runtime
refuses ends FAILED with one line and nothing left behind. The full lifecycle (launch, kernel code, stop,
start, adoption by a new process, remove) runs too: with Podman's own runtime where it can start containers
(scripts/podman_lifecycle.sh insists on that), else with runc minus the rlimits these VMs refuse.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker.errors import APIError

from desktop.core.errors import LabdockError, NotOurs
from desktop.core.models import ALL_GPUS, NetworkMode, NotebookSpec, NotebookState
from desktop.engines import profiles
from desktop.engines.container_spec import DockerSettings, free_loopback_port, keep_id_mode
from desktop.engines.docker_engine import DockerEngine
from desktop.engines.endpoint import identify, local_sockets, resolve
from desktop.manager import NotebookManager
from desktop.services import build_services
from desktop.store import Paths, install_id
from tests.conftest import TEST_PREFIX, Engine, arun, need, write_test_settings
from tests.support import podman
from tests.support.images import PLAIN_IMAGE
from tests.test_lifecycle import execute, start_kernel, token_of

pytestmark = pytest.mark.docker  # the test image comes from the Docker test engine

INTERRUPTED = "its last launch was interrupted"


@pytest.fixture(scope="module")
def service(docker_engine: Engine) -> Iterator[podman.PodmanService]:
    need(podman.missing() is None or podman.external_url() is not None, str(podman.missing()))
    try:
        running = podman.start_service()
    except RuntimeError as exc:
        need(False, f"no Podman service: {exc}")
        raise
    try:
        podman.load_images(running, docker_engine.client, [PLAIN_IMAGE])
        yield running
    finally:
        running.remove_containers(TEST_PREFIX)
        running.stop()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service: podman.PodmanService) -> Iterator[Path]:
    """A Labdock home whose engine is the Podman service (DOCKER_HOST), with the test settings."""
    home = tmp_path / "home"
    write_test_settings(home)
    monkeypatch.setenv("LABDOCK_HOME", str(home))
    monkeypatch.setenv("DOCKER_HOST", service.base_url)
    yield home
    service.remove_containers(TEST_PREFIX)


def engine_for(paths: Paths, url: str) -> DockerEngine:
    settings = DockerSettings(install_id(paths), url, container_prefix=TEST_PREFIX, pull_missing=False, timeout=60)
    return DockerEngine(settings)


def spec(name: str, work: Path, **changes: object) -> NotebookSpec:
    work.mkdir(parents=True, exist_ok=True)
    made = NotebookSpec(name, PLAIN_IMAGE, network_mode=NetworkMode.HOST, work_dir=work)
    return dataclasses.replace(made, **changes)


def ours(service: podman.PodmanService) -> list[dict[str, object]]:
    return list(service.client.api.containers(all=True, filters={"name": TEST_PREFIX}))


async def create_only(engine: DockerEngine, wanted: NotebookSpec) -> str:
    """What a launcher killed between create and start leaves: Labdock's container, created, never started."""
    await engine.prepare(wanted, None)
    config = (await engine._image_config(wanted.image)) or {}
    profile = profiles.get(profiles.detect(wanted.image, config.get("Cmd"), config.get("Env")))
    kwargs = engine.container_config(wanted, "t0ken", profile, config, free_loopback_port())
    return await engine._create(wanted, kwargs)


def podman_version(service: podman.PodmanService) -> str:
    return identify(service.client.version()).version


# -- found, and named ------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["user", "system"])
def test_podman_sockets_are_found(service: podman.PodmanService, tmp_path: Path, where: str) -> None:
    runtime = tmp_path / "xdg"
    env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(runtime)}
    sockets = [
        (p if p.is_relative_to(runtime) else tmp_path / "absent" / p.name, label) for p, label in local_sockets(env)
    ]
    target = sockets[2][0] if where == "user" else sockets[3][0]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(service.base_url.removeprefix("unix://"))
    found = resolve(env=env, sockets=sockets)
    assert found.url == f"unix://{target}" and found.product == "Podman"
    assert found.source == ("Podman's user socket" if where == "user" else "Podman's system socket")


def test_engine_line_names_podman(service: podman.PodmanService, home: Path) -> None:
    version = podman_version(service)
    services = build_services(Paths.default())

    async def scenario() -> str:
        try:
            assert await services.manager.refresh(), services.manager.engine_problem
            return await services.engine_description()
        finally:
            await services.manager.close()

    assert arun(scenario()) == f"Podman {version} (Docker API) via DOCKER_HOST ({service.base_url})"
    listed = subprocess.run(
        [sys.executable, "-m", "desktop", "ls"], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert (
        lines[0].startswith("NAME")
        and lines[-1] == f"engine: Podman {version} (Docker API) via DOCKER_HOST ({service.base_url})"
    )


# -- create, list, adopt, remove -------------------------------------------------------------------------


def test_created_container_is_labelled_listed_and_tidied_by_a_fresh_manager(
    service: podman.PodmanService, home: Path, tmp_path: Path
) -> None:
    paths = Paths.default()
    wanted = spec("pm-half", tmp_path / "work")

    async def scenario() -> None:
        engine = engine_for(paths, service.base_url)
        ident = await create_only(engine, wanted)
        labels = service.client.api.inspect_container(ident)["Config"]["Labels"]
        assert labels["org.labdock.managed"] == "1" and labels["org.labdock.install"] == install_id(paths)
        assert labels["org.labdock.name"] == "pm-half" and "org.labdock.spec" in labels
        found = await engine.find()
        assert [(f.spec.name, f.container_id, f.never_started, f.running) for f in found] == [
            ("pm-half", ident, True, False)
        ]
        assert found[0].spec == wanted
        await engine.close()

        manager = NotebookManager([engine_for(paths, service.base_url)], paths)  # nobody holds its lease
        try:
            await manager.restore()
            row = manager.get("pm-half")
            assert row.state is NotebookState.STOPPED and INTERRUPTED in (row.error or "")
        finally:
            await manager.close()

    arun(scenario())
    assert ours(service) == []


def test_stop_logs_and_remove_of_a_created_container(service: podman.PodmanService, home: Path, tmp_path: Path) -> None:
    paths = Paths.default()

    async def scenario() -> None:
        engine = engine_for(paths, service.base_url)
        try:
            ident = await create_only(engine, spec("pm-rm", tmp_path / "work"))
            await engine.stop("pm-rm", 5, ident)  # never started: nothing to stop, no error
            assert await engine.logs("pm-rm", None, ident) == ""
            assert await engine.exit_status(ident) is None  # "created" counts as not ended yet
            assert await engine.discard("pm-rm", ident) == ""
            assert await engine.find() == []
            assert await engine.logs("pm-rm", None) is None
            await engine.remove_leftover("pm-rm")  # already gone: no error
        finally:
            await engine.close()

    arun(scenario())
    assert ours(service) == []


def test_a_strangers_container_with_the_name_is_left_alone(
    service: podman.PodmanService, home: Path, tmp_path: Path
) -> None:
    """Podman answers 500 (Docker: 409) for a taken name: still "not ours", and the stranger is not removed."""
    stranger = service.client.containers.create(
        PLAIN_IMAGE, ["true"], name=f"{TEST_PREFIX}pm-taken", network_mode="host"
    )

    async def scenario() -> None:
        engine = engine_for(Paths.default(), service.base_url)
        try:
            with pytest.raises(NotOurs, match="was not made by this Labdock installation"):
                await create_only(engine, spec("pm-taken", tmp_path / "work"))
        finally:
            await engine.close()

    arun(scenario())
    assert [row["Id"] for row in ours(service)] == [stranger.id]


@pytest.mark.parametrize(
    ("user", "mode"),
    [("1000:100", "keep-id:uid=1000,gid=100"), ("1000", "keep-id:uid=1000"), ("jovyan", "keep-id"), ("0", None)],
)
def test_rootless_podman_maps_the_user_onto_the_containers(user: str, mode: str | None) -> None:
    assert keep_id_mode(user) == mode


def test_gpu_notebooks_are_refused_with_one_line(service: podman.PodmanService, home: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = engine_for(Paths.default(), service.base_url)
        try:
            with pytest.raises(LabdockError, match="GPU notebooks need Docker") as caught:
                await engine.prepare(spec("pm-gpu", tmp_path / "work", gpus=ALL_GPUS), None)
            assert "\n" not in str(caught.value)
        finally:
            await engine.close()

    arun(scenario())
    assert ours(service) == []


# -- launch: refused by this machine's runtime, or the whole lifecycle ----------------------------------


def _runtime_refuses(service: podman.PodmanService) -> bool:
    """Whether Podman's runtime here refuses to start a container (these VMs: rlimits)."""
    probe = service.client.containers.create(PLAIN_IMAGE, ["true"], name=f"{TEST_PREFIX}probe", network_mode="host")
    try:
        probe.start()
        return False
    except APIError as exc:
        if "rlimit" not in str(exc):
            raise
        return True
    finally:
        probe.remove(force=True)


def test_a_refused_start_ends_failed_with_one_line(service: podman.PodmanService, home: Path, tmp_path: Path) -> None:
    refuses = _runtime_refuses(service)
    services = build_services(Paths.default())

    async def scenario() -> None:
        manager = services.manager
        try:
            notebook = await manager.create(spec("pm-launch", tmp_path / "work"))
            if not refuses:  # a machine where Podman runs containers: the lifecycle test covers the rest
                assert notebook.state is NotebookState.READY, notebook.error
                await manager.remove("pm-launch")
                return
            assert notebook.state is NotebookState.FAILED
            error = notebook.error or ""
            assert error.startswith("Podman could not start the container: ") and "\n" not in error
            assert "rlimit" in error
        finally:
            await manager.close()

    arun(scenario())
    assert ours(service) == []
    if refuses:  # and the CLI says the same in one line
        made = subprocess.run(
            [sys.executable, "-m", "desktop", "new", "pm-cli"], capture_output=True, text=True, timeout=60
        )
        assert made.returncode == 1 and len(made.stderr.strip().splitlines()) == 1
        assert "'pm-cli' failed to start: Podman could not start the container" in made.stderr
        assert ours(service) == []


@pytest.fixture
def starting_service(service: podman.PodmanService) -> Iterator[podman.PodmanService]:
    """A service whose containers start: Podman's own runtime where it can, else (unless
    LABDOCK_PODMAN_RUNTIME=plain) one that drops the rlimits these machines refuse."""
    if not _runtime_refuses(service):
        yield service
        return
    need(os.environ.get("LABDOCK_PODMAN_RUNTIME") != "plain", "Podman's runtime cannot start containers here")
    need(service.private, "Podman's runtime cannot start containers at LABDOCK_PODMAN_URL")
    second = podman.start_service(drop_rlimits=True)
    try:
        yield second
    finally:
        second.stop()


def test_full_lifecycle(starting_service: podman.PodmanService, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", starting_service.base_url)
    name = "pm-life"

    async def scenario() -> None:
        first = build_services(Paths.default()).manager
        notebook = await first.create(NotebookSpec(name, PLAIN_IMAGE, network_mode=NetworkMode.HOST))
        assert notebook.state is NotebookState.READY, notebook.error
        url, token, container_id = notebook.url or "", notebook.token or "", notebook.container_id or ""
        kernel = await start_kernel(url, token)
        code = "import pathlib\npathlib.Path('from-kernel.txt').write_text('hi')\nprint(6 * 7)"
        assert await execute(url, token, kernel, code) == "42\n"
        work = notebook.spec.work_dir
        assert work is not None and (work / "from-kernel.txt").read_text() == "hi"  # the work folder is shared
        await first.close()  # the window closes; the notebook keeps running

        second = build_services(Paths.default()).manager  # a new Labdock process finds it
        try:
            await second.restore()
            adopted = second.get(name)
            assert adopted.state is NotebookState.READY, adopted.error
            assert (adopted.container_id, adopted.url) == (container_id, url)
            assert token_of(await second.url_with_token(name)) == token
            await second.stop(name)
            stopped = second.get(name)
            assert stopped.state is NotebookState.STOPPED and stopped.error is None  # Podman's stop code is clean
            restarted = await second.start(name)
            assert restarted.state is NotebookState.READY, restarted.error
            await second.remove(name)
        finally:
            await second.close()

    arun(scenario())
    assert starting_service.client.api.containers(all=True, filters={"name": f"{TEST_PREFIX}{name}"}) == []


def test_docker_client_sees_podman_containers_by_name(service: podman.PodmanService) -> None:
    """The name filter Labdock sends matches on Podman (which searches 'name', not '/name') and on Docker."""
    from desktop.engines.container_spec import name_filter

    made = service.client.containers.create(PLAIN_IMAGE, ["true"], name=f"{TEST_PREFIX}pm.dot", network_mode="host")
    try:
        rows = service.client.api.containers(all=True, filters=name_filter(f"{TEST_PREFIX}pm.dot"))
        assert [r["Id"] for r in rows] == [made.id]
        assert service.client.api.containers(all=True, filters=name_filter(f"{TEST_PREFIX}pm")) == []
    finally:
        made.remove(force=True)
