"""A launching process killed with SIGKILL between create and start: while it lives, no other
Labdock process touches its half-made container; once it is dead, the next refresh tidies up.

The launcher is held between create and start for real: its Docker requests go through the fault
proxy, which never answers the start request.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_PREFIX, Engine, need
from tests.support.fault_proxy import HANG, FaultProxy, running
from tests.test_faults import START

pytestmark = pytest.mark.docker


@pytest.fixture
def proxy(docker_engine: Engine) -> Iterator[FaultProxy]:
    need(docker_engine.url.startswith("unix://"), "the fault proxy needs a unix-socket engine")
    with running(docker_engine.url) as proxy:
        yield proxy


def labdock(*args: str, docker_host: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": docker_host}
    return subprocess.run([sys.executable, "-m", "desktop", *args], capture_output=True, text=True, timeout=60, env=env)


def states(engine: Engine, name: str) -> list[str]:
    rows = engine.client.api.containers(all=True, filters={"name": f"^/{TEST_PREFIX}{name}$"})
    return [row["State"] for row in rows]


def until(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def row_of(listing: str, name: str) -> list[str]:
    return next(line.split() for line in listing.splitlines() if line.split()[:1] == [name])


def test_half_made_container_survives_its_live_launcher_and_goes_with_its_death(
    labdock_home: Path, proxy: FaultProxy, docker_engine: Engine, images: object
) -> None:
    proxy.add(*START, HANG)
    env = {**os.environ, "DOCKER_HOST": proxy.url}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "desktop", "new", "halfway", "--image", images.plain],  # type: ignore[attr-defined]
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        until(lambda: states(docker_engine, "halfway") == ["created"])
        for _ in range(3):  # another process refreshing, as the window does every few seconds
            listing = labdock("ls", docker_host=docker_engine.url)
            assert listing.returncode == 0, listing.stderr
            assert row_of(listing.stdout, "halfway")[1] == "starting"
            assert states(docker_engine, "halfway") == ["created"]
        refused = labdock("start", "halfway", docker_host=docker_engine.url)
        assert refused.returncode == 1 and "another Labdock" in refused.stderr, refused.stderr
    finally:
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
    listing = labdock("ls", docker_host=docker_engine.url)
    assert row_of(listing.stdout, "halfway")[1] == "stopped"
    assert states(docker_engine, "halfway") == []
    started = labdock("start", "halfway", docker_host=docker_engine.url)
    assert started.returncode == 0, started.stderr
    assert states(docker_engine, "halfway") == ["running"]
    labdock("rm", "halfway", docker_host=docker_engine.url)
