"""Shared fixtures: a real Docker engine, the offline-built test images, isolated Labdock homes.

Under CI=true a test that needs Docker fails when no engine can be had; elsewhere it is skipped.
Test containers are named with TEST_PREFIX and removed at session end; a failing test prints the
logs of the test containers that exist at that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import docker
import pytest

from desktop.services import Services, build_services
from desktop.store import Paths
from tests.support import dockerd
from tests.support.images import PLAIN_IMAGE, STACKS_IMAGE, ensure_images

T = TypeVar("T")
TEST_PREFIX = f"ldtest-{os.getpid()}-"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip outside CI; fail under CI (a missing real part is a failure there, never a skip)."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def arun(coro: Coroutine[Any, Any, T], timeout: float = 240) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


@dataclass(frozen=True)
class Engine:
    url: str
    client: docker.DockerClient
    daemon: dockerd.Daemon | None  # set when the tests started it (and so may restart it)


_engine_state: dict[str, Any] = {}


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Engine]:
    url = dockerd.existing_engine()
    daemon = None
    if url is None:
        try:
            daemon = dockerd.start_private()
        except RuntimeError as exc:
            need(False, f"no Docker engine: {exc}")
        url = daemon.base_url
    client = docker.DockerClient(base_url=url, timeout=600)
    ensure_images(client)
    _engine_state["client"] = client
    try:
        yield Engine(url, client, daemon)
    finally:
        _remove_test_containers(client)
        _engine_state.pop("client", None)
        client.close()
        if daemon is not None:
            daemon.stop()


def _test_containers(client: docker.DockerClient) -> list[tuple[str, str, str]]:
    """(id, name, state) of this session's containers; the raw list, so one being removed is no error."""
    rows = client.api.containers(all=True, filters={"name": TEST_PREFIX})
    return [(r["Id"], r["Names"][0].lstrip("/"), r["State"]) for r in rows]


def _remove_test_containers(client: docker.DockerClient) -> None:
    for ident, _, _ in _test_containers(client):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):  # already going
            client.api.remove_container(ident, force=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    client = _engine_state.get("client")
    if report.failed and client is not None:
        for ident, name, state in _test_containers(client):
            with contextlib.suppress(docker.errors.NotFound):
                logs = client.api.logs(ident, tail=40).decode(errors="replace")
                report.sections.append((f"container {name} ({state})", logs))


@pytest.fixture
def images(docker_engine: Engine) -> Any:
    @dataclass(frozen=True)
    class Images:
        plain: str = PLAIN_IMAGE
        stacks: str = STACKS_IMAGE

    return Images()


def write_test_settings(home: Path, **overrides: Any) -> None:
    """Settings for tests: host networking on loopback (the network rule), no pulls, test prefix.

    The default bridge mode needs a Docker bridge, which only a network namespace of the run's own may have:
    tests/test_lifecycle.py runs its bridge cases there (tests/support/netns.py)."""
    settings = {
        "network_mode": "host",
        "pull_missing": False,
        "container_prefix": TEST_PREFIX,
        "ready_timeout": 90,
        "default_image": PLAIN_IMAGE,
        "default_gpu_image": PLAIN_IMAGE,
        **overrides,
    }
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "settings.json").write_text(json.dumps(settings))


@pytest.fixture
def labdock_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docker_engine: Engine) -> Iterator[Path]:
    """A fresh Labdock home per test; the test's containers are removed after it."""
    home = tmp_path / "home"
    write_test_settings(home)
    monkeypatch.setenv("LABDOCK_HOME", str(home))
    monkeypatch.setenv("DOCKER_HOST", docker_engine.url)
    yield home
    _remove_test_containers(docker_engine.client)


@pytest.fixture
def services(labdock_home: Path) -> Services:
    """A manager as the app builds it; each test makes its own inside `arun`."""
    return build_services(Paths.default())
