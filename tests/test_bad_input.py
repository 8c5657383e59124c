"""Bad input, row by row: a clear one-line message, no container, no half-written settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_PREFIX, Engine

pytestmark = pytest.mark.docker


def labdock(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )


def a_file(tmp: Path) -> str:
    target = tmp / "not-a-folder"
    target.write_text("x")
    return str(target)


ROWS = [
    ("empty name", lambda t, i: ["new", ""], "a name is required"),
    ("300 characters", lambda t, i: ["new", "x" * 300], "at most 40"),
    ("unicode", lambda t, i: ["new", "café"], "use lowercase letters"),
    ("whitespace", lambda t, i: ["new", " padded "], "cannot start or end with spaces"),
    ("path in name", lambda t, i: ["new", "../x"], "use lowercase letters"),
    (
        "image that does not exist",
        lambda t, i: ["new", "ghost", "--image", "labdock-test/nope:0"],
        "is not on this machine",
    ),
    (
        "image without JupyterLab",
        lambda t, i: ["new", "nolab", "--image", "labdock-test/base:bookworm"],
        "has no 'jupyter' command",
    ),
    ("work folder is a file", lambda t, i: ["new", "filed", "--image", i, "--work-dir", a_file(t)], "is a file"),
    (
        "work folder not creatable",
        lambda t, i: ["new", "proc", "--image", i, "--work-dir", "/proc/labdock/x"],
        "cannot create the work folder",
    ),
    ("GPU that does not exist", lambda t, i: ["new", "gpu", "--image", i, "--gpu", "7"], "no GPU to give the notebook"),
    ("zero CPUs", lambda t, i: ["new", "cpu0", "--image", i, "--cpus", "0"], "more than 0"),
    ("negative CPUs", lambda t, i: ["new", "cpum", "--image", i, "--cpus=-2"], "more than 0"),
    ("too many CPUs", lambda t, i: ["new", "cpux", "--image", i, "--cpus", "4096"], "this machine has"),
    ("zero memory", lambda t, i: ["new", "mem0", "--image", i, "--memory", "0"], "at least 64m"),
    ("negative memory", lambda t, i: ["new", "memm", "--image", i, "--memory=-1g"], "invalid memory limit"),
]


@pytest.mark.parametrize(("row", "args", "message"), ROWS, ids=[r[0] for r in ROWS])
def test_bad_input(
    row: str,
    args,
    message: str,
    labdock_home: Path,
    images,
    docker_engine: Engine,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    settings = (labdock_home / "config" / "settings.json").read_text()
    result = labdock(*args(tmp_path, images.plain))
    assert result.returncode == 1, result.stdout
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not [c for c in docker_engine.client.containers.list(all=True) if c.name.startswith(TEST_PREFIX)]
    assert (
        not (labdock_home / "config" / "notebooks.json").exists()
        or 'notebooks": {}' in (labdock_home / "config" / "notebooks.json").read_text()
    )
    assert (labdock_home / "config" / "settings.json").read_text() == settings


def test_duplicate_name_loses_nothing(labdock_home: Path, images, docker_engine: Engine) -> None:
    assert labdock("new", "twin", "--image", images.plain).returncode == 0
    spec_before = (labdock_home / "config" / "notebooks.json").read_text()
    result = labdock("new", "twin", "--image", images.stacks)
    assert result.returncode == 1 and "already exists" in result.stderr
    assert (labdock_home / "config" / "notebooks.json").read_text() == spec_before
    running = [c.name for c in docker_engine.client.containers.list() if c.name.startswith(TEST_PREFIX)]
    assert running == [f"{TEST_PREFIX}twin"]
