"""Bad input, row by row: a clear one-line message, no container, no half-written settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_PREFIX, Engine

pytestmark = pytest.mark.docker


def labdock(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        input=stdin,  # never a terminal: a --secret is read from here, not asked for
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
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
    ("bad env name", lambda t, i: ["new", "env1", "--image", i, "--env", "1X=y"], "invalid variable name"),
    ("env without a value", lambda t, i: ["new", "env2", "--image", i, "--env", "ALONE"], "expected KEY=VALUE"),
    ("env Labdock sets", lambda t, i: ["new", "env3", "--image", i, "--env", "JUPYTER_TOKEN=x"], "set by Labdock"),
    (
        "env file missing",
        lambda t, i: ["new", "env4", "--image", i, "--env-file", f"{t}/no.env"],
        "cannot read the env",
    ),
    (
        "missing mount folder",
        lambda t, i: ["new", "mnt1", "--image", i, "--mount", f"{t}/none:/data"],
        "does not exist",
    ),
    ("mount onto the work path", lambda t, i: ["new", "mnt2", "--image", i, "--mount", f"{t}:/work"], "work folder"),
    ("mount of /", lambda t, i: ["new", "mnt3", "--image", i, "--mount", "/:/host"], "whole file system"),
    (
        "mount of the Docker socket",
        lambda t, i: ["new", "mnt4", "--image", i, "--mount", f"{engine_dir()}:/d"],
        "socket",
    ),
    ("mount without a target", lambda t, i: ["new", "mnt5", "--image", i, "--mount", str(t)], "invalid mount"),
    ("shm of 0", lambda t, i: ["new", "shm0", "--image", i, "--shm-size", "0"], "at least 1m"),
    ("shm of 1 TB", lambda t, i: ["new", "shm1", "--image", i, "--shm-size", "1t"], "more than this machine's memory"),
    ("idle stop of 0", lambda t, i: ["new", "idle0", "--image", i, "--idle-stop", "-5"], "between 1 and"),
    (
        "server arg Labdock sets",
        lambda t, i: ["new", "arg1", "--image", i, "--server-arg=--ServerApp.token="],
        "to set",
    ),
    ("secret on the command line", lambda t, i: ["new", "sec1", "--image", i, "--secret", "K=v"], "a name only"),
    ("shm on the Local engine", lambda t, i: ["new", "loc1", "--engine", "local", "--shm-size", "1g"], "Docker engine"),
]


def engine_dir() -> str:
    """The folder holding the test engine's socket (DOCKER_HOST is a unix socket here)."""
    return os.path.dirname(os.environ["DOCKER_HOST"].removeprefix("unix://"))


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


def test_secret_with_a_newline_changes_nothing(labdock_home: Path, images, docker_engine: Engine) -> None:
    secret = "first-line-of-a-secret"
    result = labdock("new", "sec2", "--image", images.plain, "--secret", "K", stdin=f"{secret}\nsecond\n")
    assert result.returncode == 1 and "the secret K contains a line break" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and secret not in result.stderr
    assert not (labdock_home / "config" / "notebooks.json").exists()
    assert not (labdock_home / "config" / "secrets.json").exists()
    assert not [c for c in docker_engine.client.containers.list(all=True) if c.name.startswith(TEST_PREFIX)]


def test_rename_to_an_existing_name_changes_nothing(labdock_home: Path, images, docker_engine: Engine) -> None:
    assert labdock("new", "one", "--image", images.plain).returncode == 0
    assert labdock("stop", "one").returncode == 0
    assert labdock("duplicate", "one", "two").returncode == 0
    before = (labdock_home / "config" / "notebooks.json").read_text()
    for args, message in [
        (("rename", "one", "two"), "already exists"),
        (("duplicate", "one", "two"), "already exists"),
        (("rename", "one", "Bad_Name"), "invalid name"),
        (("edit", "one", "--mount", "/nowhere:/data"), "does not exist"),
        (("edit", "one", "--unset-env", "NONE"), "has no variable NONE"),
    ]:
        result = labdock(*args)
        assert result.returncode == 1 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    assert (labdock_home / "config" / "notebooks.json").read_text() == before
    assert (labdock_home / "data" / "work" / "one").is_dir() and (labdock_home / "data" / "work" / "two").is_dir()
