"""Ownership against a real engine: a container this installation cannot prove it made is never touched.

Proof is the labels (`org.labdock.managed=1`, `org.labdock.install=<our id>`) plus, when the caller
knows one, the exact container id. A same-named container of another installation (or of nobody) is left
running, and every operation says so in one line; malformed labels of our own never break find().
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import docker
import pytest

from desktop.core.errors import NotOurs
from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.engines.container_spec import DockerSettings, found_from_row, ownership_problem
from desktop.engines.docker_engine import DockerEngine
from desktop.manager import NotebookManager
from desktop.store import Paths, SpecStore, install_id
from tests.conftest import TEST_PREFIX, Engine, arun

pytestmark = pytest.mark.docker

NOT_OURS = "was not made by this Labdock installation; it was left alone"
REPLACED = "is not the one this notebook started"


def engine_for(paths: Paths, url: str, ident: str | None = None) -> DockerEngine:
    return DockerEngine(
        DockerSettings(
            install_id=ident or install_id(paths),
            base_url=url,
            container_prefix=TEST_PREFIX,
            pull_missing=False,
            timeout=30,
        )
    )


def spec(name: str, image: str, work: Path) -> NotebookSpec:
    work.mkdir(parents=True, exist_ok=True)
    return NotebookSpec(name, image, network_mode=NetworkMode.HOST, work_dir=work)


def state_of(client: docker.DockerClient, ident: str) -> str:
    return str(client.api.inspect_container(ident)["State"]["Status"])


def stranger(client: docker.DockerClient, image: str, name: str, labels: dict[str, str] | None = None) -> str:
    """A running container with the notebook's name that Labdock did not make (by default: no labels)."""
    container = client.containers.run(
        image, ["sleep", "300"], name=f"{TEST_PREFIX}{name}", network_mode="none", labels=labels or {}, detach=True
    )
    return str(container.id)


@pytest.fixture
def paths(labdock_home: Path) -> Paths:
    return Paths.default()


async def refused_everywhere(engine: DockerEngine, name: str, ident: str, message: str) -> None:
    """Every operation on the container refuses with `message` and leaves it as it was."""
    for attempt in (
        engine.stop(name, 1),
        engine.discard(name),
        engine.remove_leftover(name),
        engine.logs(name, None),
        engine.token(ident),
        engine.exit_status(ident),
    ):
        with pytest.raises(NotOurs, match=message) as caught:
            await attempt
        assert "\n" not in str(caught.value)
    with pytest.raises(NotOurs, match=message):
        async for _ in engine.follow_logs(name):
            pass


def test_a_container_without_our_labels_is_left_alone(
    paths: Paths, images: Any, docker_engine: Engine, tmp_path: Path
) -> None:
    ident = stranger(docker_engine.client, images.plain, "twin")

    async def scenario() -> None:
        engine = engine_for(paths, docker_engine.url)
        await refused_everywhere(engine, "twin", ident, NOT_OURS)
        with pytest.raises(NotOurs, match="pick another name"):
            await engine.start(spec("twin", images.plain, tmp_path / "twin"), "secret")
        await engine.close()

    arun(scenario())
    assert state_of(docker_engine.client, ident) == "running"


def test_another_installations_notebook_is_left_alone(
    paths: Paths, images: Any, docker_engine: Engine, tmp_path: Path
) -> None:
    """Two Labdock homes on one engine: one's notebook is invisible and untouchable to the other."""

    async def scenario() -> str:
        theirs = engine_for(paths, docker_engine.url, ident="another-installation-0123456789")
        started = await theirs.start(spec("shared", images.plain, tmp_path / "theirs"), "their-token")
        ours = engine_for(paths, docker_engine.url)
        assert [f.spec.name for f in await ours.find()] == []
        await refused_everywhere(ours, "shared", started.container_id, NOT_OURS)
        with pytest.raises(NotOurs, match="pick another name"):
            await ours.start(spec("shared", images.plain, tmp_path / "ours"), "our-token")
        assert await theirs.token(started.container_id) == "their-token"  # its owner still may
        await theirs.close()
        await ours.close()
        return started.container_id

    ident = arun(scenario())
    assert state_of(docker_engine.client, ident) == "running"


def test_the_manager_leaves_a_strangers_container_alone(
    paths: Paths, images: Any, docker_engine: Engine, tmp_path: Path
) -> None:
    """A remembered notebook whose name a stranger's container now carries: rm, start and logs refuse with
    one line and the stranger keeps running; a new notebook of that name fails with the reason."""
    ident = stranger(docker_engine.client, images.plain, "taken", {"org.labdock.managed": "1"})
    SpecStore(paths).put(spec("taken", images.plain, tmp_path / "taken"))

    async def scenario() -> None:
        manager = NotebookManager(engine_for(paths, docker_engine.url), paths, stop_timeout=1, engine_timeout=35)
        await manager.restore()
        assert manager.get("taken").state is NotebookState.STOPPED
        with pytest.raises(NotOurs, match=NOT_OURS):
            await manager.logs("taken")
        with pytest.raises(NotOurs, match=NOT_OURS):
            await manager.remove("taken")
        assert manager.get("taken").state is NotebookState.STOPPED
        try:
            notebook = await manager.start("taken")
        except NotOurs as exc:  # either way: one line, and the row settled
            message = str(exc)
        else:
            message = notebook.error or ""
        assert NOT_OURS in message and "\n" not in message
        assert manager.get("taken").state in (NotebookState.STOPPED, NotebookState.FAILED)
        await manager.close()

    arun(scenario())
    assert state_of(docker_engine.client, ident) == "running"


def test_a_stale_container_id_is_refused(paths: Paths, images: Any, docker_engine: Engine, tmp_path: Path) -> None:
    """The name now belongs to a newer container of ours: an operation that names the old id (or a short
    prefix of the new one) acts on nothing; the exact id works."""

    async def scenario() -> str:
        engine = engine_for(paths, docker_engine.url)
        old = await engine.start(spec("again", images.plain, tmp_path / "again"), "first")
        await engine.remove_leftover("again", old.container_id)
        new = await engine.start(spec("again", images.plain, tmp_path / "again"), "second")
        for stale in (old.container_id, new.container_id[:12]):
            for attempt in (
                engine.stop("again", 1, stale),
                engine.remove_leftover("again", stale),
                engine.discard("again", stale),
                engine.logs("again", None, stale),
            ):
                with pytest.raises(NotOurs, match=REPLACED):
                    await attempt
        assert state_of(docker_engine.client, new.container_id) == "running"
        assert await engine.logs("again", 5, new.container_id) is not None
        await engine.stop("again", 1, new.container_id)
        assert await engine.exit_status(new.container_id) is not None
        await engine.discard("again", new.container_id)
        await engine.close()
        return new.container_id

    ident = arun(scenario())
    with pytest.raises(docker.errors.NotFound):
        docker_engine.client.api.inspect_container(ident)


def test_no_container_is_no_error(paths: Paths, docker_engine: Engine) -> None:
    async def scenario() -> None:
        engine = engine_for(paths, docker_engine.url)
        await engine.stop("nobody", 1)
        await engine.remove_leftover("nobody", "f" * 64)
        assert await engine.discard("nobody") == ""
        assert await engine.logs("nobody", 10) is None
        assert [line async for line in engine.follow_logs("nobody")] == []
        assert await engine.token("f" * 64) is None
        ended = await engine.exit_status("f" * 64)
        assert ended is not None and "removed" in ended.log_tail
        await engine.close()

    arun(scenario())


def test_a_look_alike_name_is_not_the_notebook(
    paths: Paths, images: Any, docker_engine: Engine, tmp_path: Path
) -> None:
    """Docker's name filter matches substrings: 'ab' must not find the container 'xab-c' or 'ab2'."""
    others = [stranger(docker_engine.client, images.plain, n) for n in ("ab2", "ab-c")]

    async def scenario() -> None:
        engine = engine_for(paths, docker_engine.url)
        await engine.stop("ab", 1)  # nothing named exactly 'ab': no error, nothing touched
        assert await engine.logs("ab", None) is None
        await engine.close()

    arun(scenario())
    assert [state_of(docker_engine.client, i) for i in others] == ["running", "running"]


def test_malformed_labels_are_skipped_and_restore_goes_on(
    paths: Paths, images: Any, docker_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ours = install_id(paths)
    good_spec = NotebookSpec("good", images.plain, network_mode=NetworkMode.HOST, work_dir=tmp_path / "good")
    bad: dict[str, dict[str, str]] = {
        "badport": {"org.labdock.port": "eighty"},
        "badtime": {"org.labdock.created": "yesterday"},
        "badspec": {"org.labdock.spec": "{not json"},
        "listspec": {"org.labdock.spec": "[1, 2]"},
    }

    def labels(name: str, extra: dict[str, str]) -> dict[str, str]:
        spec_json = json.dumps(NotebookSpec(name, images.plain, network_mode=NetworkMode.HOST).to_json())
        return {
            "org.labdock.managed": "1",
            "org.labdock.install": ours,
            "org.labdock.name": name,
            "org.labdock.spec": spec_json,
            "org.labdock.port": "8888",
            "org.labdock.created": "1700000000.0",
            **extra,
        }

    made = [
        docker_engine.client.containers.run(
            images.plain,
            ["sleep", "300"],
            name=f"{TEST_PREFIX}{name}",
            network_mode="none",
            labels=labels(name, extra),
            detach=True,
        ).id
        for name, extra in bad.items()
    ]
    docker_engine.client.containers.run(
        images.plain,
        ["true"],
        name=f"{TEST_PREFIX}good",
        network_mode="none",
        labels=labels("good", {"org.labdock.spec": json.dumps(good_spec.to_json())}),
        detach=True,
    ).wait()  # a notebook that ran and ended: adopted as STOPPED

    async def scenario() -> None:
        engine = engine_for(paths, docker_engine.url)
        assert [f.spec.name for f in await engine.find()] == ["good"]
        manager = NotebookManager(engine, paths, stop_timeout=1, engine_timeout=35)
        await manager.restore()
        await manager.restore()
        assert [(n.name, n.state) for n in manager.list()] == [("good", NotebookState.STOPPED)]
        await manager.close()

    arun(scenario())
    assert sum("unreadable Labdock labels" in r.getMessage() for r in caplog.records) >= len(bad)
    assert [state_of(docker_engine.client, i) for i in made] == ["running"] * len(bad)  # left alone


# -- the pure rules, without Docker ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "actual", "expected", "problem"),
    [
        ({"org.labdock.managed": "1", "org.labdock.install": "me"}, "a" * 64, None, None),
        ({"org.labdock.managed": "1", "org.labdock.install": "me"}, "a" * 64, "a" * 64, None),
        ({"org.labdock.managed": "1", "org.labdock.install": "me"}, "a" * 64, "a" * 12, REPLACED),
        ({"org.labdock.managed": "1", "org.labdock.install": "me"}, "a" * 64, "b" * 64, REPLACED),
        ({"org.labdock.managed": "1", "org.labdock.install": "you"}, "a" * 64, None, NOT_OURS),
        ({"org.labdock.install": "me"}, "a" * 64, None, NOT_OURS),
        (None, "a" * 64, "a" * 64, NOT_OURS),
    ],
)
def test_ownership_problem(
    labels: dict[str, str] | None, actual: str, expected: str | None, problem: str | None
) -> None:
    found = ownership_problem("labdock-x", labels, actual, "me", expected)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    "labels",
    [
        {"org.labdock.port": "x"},
        {"org.labdock.port": "70000"},
        {"org.labdock.created": "soon"},
        {"org.labdock.created": "nan"},
        {"org.labdock.spec": "null"},
        {"org.labdock.spec": '{"image": "x"}'},
    ],
)
def test_found_from_row_rejects_malformed_labels(labels: dict[str, str]) -> None:
    spec_json = json.dumps(NotebookSpec("x", "img", network_mode=NetworkMode.HOST).to_json())
    row = {"Id": "a" * 64, "State": "running", "Labels": {"org.labdock.spec": spec_json, **labels}}
    with pytest.raises((KeyError, ValueError, TypeError, AttributeError)):
        found_from_row(row)
