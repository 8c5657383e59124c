"""NotebookManager against the real Docker engine and real JupyterLab images."""

from __future__ import annotations

import asyncio
from pathlib import Path

import docker
import pytest

from desktop.core.errors import InvalidSpec, NotebookExists
from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.engines.readiness import http_status
from desktop.engines.ssh_hosts import parse_host
from desktop.rows import EventKind
from desktop.services import Services, build_services
from desktop.store import Paths
from tests.conftest import TEST_PREFIX, Engine, arun
from tests.support.hung_host import hung_port

pytestmark = pytest.mark.docker


def spec(name: str, image: str, **kw: object) -> NotebookSpec:
    return NotebookSpec(name=name, image=image, network_mode=NetworkMode.HOST, **kw)  # type: ignore[arg-type]


def containers(engine: Engine) -> list[str]:
    return sorted(c.name for c in engine.client.containers.list(all=True) if c.name.startswith(TEST_PREFIX))


def test_three_at_once_ready_with_token_and_403_without(services: Services, images, docker_engine: Engine) -> None:
    manager = services.manager
    tokens_by_name: dict[str, str] = {}
    events: list[tuple[EventKind, str, NotebookState]] = []
    manager.subscribe(lambda e: events.append((e.kind, e.notebook.name, e.notebook.state)))

    async def scenario() -> None:
        created = await asyncio.gather(
            manager.create(spec("one", images.plain)),
            manager.create(spec("two", images.stacks)),
            manager.create(spec("three", images.plain, cpus=1, memory_bytes=512 * 1024**2)),
        )
        for notebook in created:
            assert notebook.state is NotebookState.READY, notebook.error
            assert notebook.url and notebook.url.startswith("http://127.0.0.1:")
            assert await http_status(notebook.url, "api/status", notebook.token) == 200
            assert await http_status(notebook.url, "api/status", None) == 403
        tokens_by_name.update({n.name: n.token or "" for n in created if n.name != "two"})
        tokens = {n.token for n in created}
        assert len(tokens) == 3 and all(t and len(t) >= 43 for t in tokens)  # 32 random bytes, urlsafe

        await manager.stop("two")
        assert manager.get("two").state is NotebookState.STOPPED
        for name in ("one", "three"):
            notebook = manager.get(name)
            assert await http_status(notebook.url or "", "api/status", notebook.token) == 200
        await manager.close()

    arun(scenario())
    states = [state for _, name, state in events if name == "one"]
    assert events[0][0] is EventKind.ADDED
    assert states[:1] == [NotebookState.CREATING]
    assert states.index(NotebookState.STARTING) < states.index(NotebookState.READY)
    names = containers(docker_engine)
    assert f"{TEST_PREFIX}one" in names and f"{TEST_PREFIX}three" in names and f"{TEST_PREFIX}two" not in names
    inspect = docker_engine.client.api.inspect_container(f"{TEST_PREFIX}three")
    host = inspect["HostConfig"]
    assert host["NanoCpus"] == 10**9 and host["Memory"] == 512 * 1024**2
    assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
    assert inspect["Config"]["User"] not in ("", "0", "root")
    for notebook_name, token in tokens_by_name.items():
        command = docker_engine.client.api.inspect_container(f"{TEST_PREFIX}{notebook_name}")["Config"]["Cmd"]
        assert token not in " ".join(command)
    labels = inspect["Config"]["Labels"]
    assert labels["org.labdock.managed"] == "1" and labels["org.labdock.name"] == "three"
    assert labels["org.labdock.gpus"] == "cpu" and labels["org.labdock.profile"] == "plain"
    assert float(labels["org.labdock.created"]) > 0
    assert (
        docker_engine.client.api.inspect_container(f"{TEST_PREFIX}one")["Config"]["Labels"]["org.labdock.profile"]
        == "plain"
    )


def test_stacks_profile_detected_and_work_dir_mounted(services: Services, images, docker_engine: Engine) -> None:
    async def scenario() -> None:
        notebook = await services.manager.create(spec("stacks", images.stacks))
        assert notebook.state is NotebookState.READY, notebook.error
        await services.manager.close()

    arun(scenario())
    inspect = docker_engine.client.api.inspect_container(f"{TEST_PREFIX}stacks")
    assert inspect["Config"]["Labels"]["org.labdock.profile"] == "docker-stacks"
    assert inspect["Config"]["Cmd"][0] == "start-notebook.py"
    assert inspect["Config"]["User"] == "1000:100"
    mount = inspect["Mounts"][0]
    assert mount["Destination"] == "/home/jovyan/work"
    assert mount["Source"] == str(services.paths.default_work_dir("stacks"))


def test_stop_during_launch_leaves_no_container(services: Services, images, docker_engine: Engine) -> None:
    manager = services.manager

    async def scenario() -> None:
        notebook = await manager.create(spec("early", images.plain), wait=False)
        while notebook.state is not NotebookState.STARTING:
            await asyncio.sleep(0.01)
        await manager.stop("early")
        assert notebook.state is NotebookState.STOPPED
        # Stop even before the launch got to Docker.
        other = await manager.create(spec("earlier", images.plain), wait=False)
        await manager.stop("earlier")
        assert other.state is NotebookState.STOPPED
        await manager.close()

    arun(scenario())
    assert containers(docker_engine) == []


def test_restore_adopts_running_and_stopped(labdock_home: Path, images, docker_engine: Engine) -> None:
    async def first() -> None:
        manager = build_services(Paths.default()).manager
        await asyncio.gather(manager.create(spec("keep", images.plain)), manager.create(spec("halt", images.stacks)))
        await manager.stop("halt")
        await manager.close()

    async def second() -> None:
        manager = build_services(Paths.default()).manager
        await manager.restore()
        await manager.restore()  # again: no duplicates
        rows = {n.name: n for n in manager.list()}
        assert sorted(rows) == ["halt", "keep"]
        assert rows["keep"].state is NotebookState.READY and rows["keep"].url
        url = await manager.url_with_token("keep")
        assert "token=" in url
        assert await http_status(rows["keep"].url, "api/status", rows["keep"].token) == 200
        assert rows["halt"].state is NotebookState.STOPPED
        started = await manager.start("halt")
        assert started.state is NotebookState.READY, started.error
        await manager.close()

    arun(first())
    arun(second())
    assert containers(docker_engine) == [f"{TEST_PREFIX}halt", f"{TEST_PREFIX}keep"]


def test_foreign_containers_are_not_adopted(labdock_home: Path, images, docker_engine: Engine) -> None:
    """A container with Labdock's labels but another installation's id stays foreign."""
    name = f"{TEST_PREFIX}foreign"
    docker_engine.client.containers.create(
        images.plain,
        name=name,
        network_mode="none",
        labels={
            "org.labdock.managed": "1",
            "org.labdock.install": "someone-else",
            "org.labdock.name": "foreign",
            "org.labdock.spec": '{"name": "foreign", "image": "x"}',
        },
    )

    async def scenario() -> list[str]:
        manager = build_services(Paths.default()).manager
        await manager.restore()
        await manager.close()
        return [n.name for n in manager.list()]

    try:
        assert arun(scenario()) == []
    finally:
        docker_engine.client.containers.get(name).remove(force=True)


@pytest.mark.parametrize("bad", ["", "Bad", "../x", "x" * 300, "é", " a"])
def test_invalid_names_make_nothing(services: Services, images, bad: str, docker_engine: Engine) -> None:
    async def scenario() -> None:
        with pytest.raises(InvalidSpec, match="invalid name"):
            await services.manager.create(spec(bad, images.plain))
        assert services.manager.list() == []
        await services.manager.close()

    arun(scenario())
    assert containers(docker_engine) == []


def test_duplicate_name_is_a_clear_error(services: Services, images) -> None:
    async def scenario() -> None:
        await services.manager.create(spec("dup", images.plain), wait=False)
        with pytest.raises(NotebookExists, match="already exists"):
            await services.manager.create(spec("dup", images.plain))
        await services.manager.stop("dup")
        await services.manager.close()

    arun(scenario())


def test_missing_image_fails_clearly_and_leaves_nothing(services: Services, docker_engine: Engine) -> None:
    async def scenario() -> None:
        notebook = await services.manager.create(spec("ghost", "labdock-test/does-not-exist:1"))
        assert notebook.state is NotebookState.FAILED
        assert "labdock-test/does-not-exist:1" in (notebook.error or "")
        assert "not on this machine" in (notebook.error or "")
        await services.manager.close()

    arun(scenario())
    assert containers(docker_engine) == []


def test_unpullable_image_fails_clearly(labdock_home: Path, docker_engine: Engine) -> None:
    """With pulls on, a registry that does not answer (a closed port on loopback) is a clear error."""
    from tests.conftest import write_test_settings

    write_test_settings(labdock_home, pull_missing=True)

    async def scenario() -> None:
        manager = build_services(Paths.default()).manager
        notebook = await manager.create(spec("nopull", "127.0.0.1:9/labdock/none:1"))
        assert notebook.state is NotebookState.FAILED
        assert "could not be pulled" in (notebook.error or "")
        await manager.close()

    arun(scenario())
    assert containers(docker_engine) == []


def test_image_without_jupyterlab_fails_clearly(services: Services, docker_engine: Engine) -> None:
    async def scenario() -> None:
        notebook = await services.manager.create(spec("nolab", "labdock-test/base:bookworm", profile="plain"))
        assert notebook.state is NotebookState.FAILED
        assert "has no 'jupyter' command" in (notebook.error or "")
        await services.manager.close()

    arun(scenario())
    assert containers(docker_engine) == []


def test_docker_unreachable_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop.core.errors import EngineUnavailable
    from desktop.engines.container_spec import DockerSettings
    from desktop.engines.docker_engine import DockerEngine
    from desktop.manager import NotebookManager

    engine = DockerEngine(DockerSettings(install_id="x", base_url=f"unix://{tmp_path}/nothing.sock"))
    manager = NotebookManager(engine, Paths(tmp_path / "c", tmp_path / "d"))

    async def scenario() -> None:
        with pytest.raises(EngineUnavailable, match="Docker is not reachable"):
            await manager.restore()
        with pytest.raises(EngineUnavailable, match="Docker is not reachable"):
            await manager.create(spec("x", "img"))
        await manager.close()

    arun(scenario())


def test_work_folder_survives_stop_and_remove(services: Services, images, docker_engine: Engine) -> None:
    manager = services.manager

    async def scenario() -> Path:
        notebook = await manager.create(spec("keeper", images.plain))
        assert notebook.state is NotebookState.READY, notebook.error
        container = docker_engine.client.containers.get(f"{TEST_PREFIX}keeper")
        result = container.exec_run(["sh", "-c", "echo precious > /work/result.txt"])
        assert result.exit_code == 0, result.output
        await manager.stop("keeper")
        work = notebook.spec.work_dir
        assert work is not None and (work / "result.txt").read_text() == "precious\n"
        await manager.start("keeper")
        await manager.remove("keeper")
        assert (work / "result.txt").read_text() == "precious\n"
        await manager.close()
        return work

    work = arun(scenario())
    assert work.is_dir()
    assert containers(docker_engine) == []


def test_remove_deletes_work_only_when_asked(services: Services, images) -> None:
    async def scenario() -> None:
        notebook = await services.manager.create(spec("tidy", images.plain))
        work = notebook.spec.work_dir
        assert work is not None
        (work / "notes.txt").write_text("x")
        await services.manager.remove("tidy", delete_work=True)
        assert not work.exists()
        await services.manager.close()

    arun(scenario())


def test_work_folder_that_is_a_file(services: Services, images, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")

    async def scenario() -> None:
        with pytest.raises(InvalidSpec, match="is a file"):
            await services.manager.create(spec("filed", images.plain, work_dir=afile))
        await services.manager.close()

    arun(scenario())


def test_bridge_mode_without_bridge_network_says_so(labdock_home: Path, images, docker_engine: Engine) -> None:
    if docker_engine.client.networks.list(names=["bridge"]):
        pytest.skip("this engine has a bridge network")  # only the private test engine lacks one

    async def scenario() -> None:
        manager = build_services(Paths.default()).manager
        notebook = await manager.create(NotebookSpec("bridged", images.plain))
        assert notebook.state is NotebookState.FAILED
        assert "no 'bridge' network" in (notebook.error or "")
        await manager.close()

    arun(scenario())
    assert containers(docker_engine) == []


def test_containers_are_labelled_docker_is_the_record(services: Services, images, docker_engine: Engine) -> None:
    async def scenario() -> None:
        await services.manager.create(spec("labelled", images.plain))
        await services.manager.close()

    arun(scenario())
    found = docker_engine.client.containers.list(filters={"label": "org.labdock.name=labelled"})
    assert [c.name for c in found] == [f"{TEST_PREFIX}labelled"]
    assert isinstance(found[0], docker.models.containers.Container)


def test_root_only_when_asked_and_visibly(services: Services, images, docker_engine: Engine) -> None:
    async def scenario() -> None:
        notebook = await services.manager.create(spec("rooted", images.plain, run_as_root=True))
        assert notebook.state is NotebookState.READY, notebook.error
        await services.manager.close()

    arun(scenario())
    inspect = docker_engine.client.api.inspect_container(f"{TEST_PREFIX}rooted")
    assert inspect["Config"]["User"] == "0"
    assert not inspect["HostConfig"]["CapDrop"] and not inspect["HostConfig"]["SecurityOpt"]
    assert inspect["Config"]["Labels"]["org.labdock.root"] == "1"


def test_restore_does_not_probe_servers_seen_answering(
    labdock_home: Path, images, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`labdock ls` stays fast with many notebooks: a server that answered once is not asked again."""

    async def first() -> None:
        manager = build_services(Paths.default()).manager
        await manager.create(spec("seen", images.plain))
        await manager.close()

    async def second() -> None:
        async def no_probe(*args: object, **kwargs: object) -> int:
            raise AssertionError("probed a server already known to answer")

        monkeypatch.setattr("desktop.adoption.http_status", no_probe)
        manager = build_services(Paths.default()).manager
        await manager.restore()
        assert manager.get("seen").state is NotebookState.READY
        await manager.close()

    arun(first())
    arun(second())


@pytest.mark.docker
def test_a_launch_here_never_waits_on_a_remote_host(services: Services, images, docker_engine: Engine) -> None:
    """A host whose SSH port accepts and then says nothing (a hung machine) is not asked when a notebook is
    launched on this machine: its name is checked against the remembered notebooks and its own engine."""
    with hung_port() as (port, accepted):
        services.add_host(parse_host(f"hung=127.0.0.1:{port}"))

        async def scenario() -> None:
            notebook = await services.manager.create(spec("here", images.plain))
            assert notebook.state is NotebookState.READY, notebook.error
            await services.manager.stop("here")
            await services.manager.close()

        arun(scenario(), timeout=120)
        assert accepted == []
