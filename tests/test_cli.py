"""`labdock` end to end, as a user types it, against the real engine."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import TEST_PREFIX, Engine, write_test_settings
from tests.support.hung_host import hung_port

pytestmark = pytest.mark.docker


def labdock(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env or dict(os.environ),
    )


def test_new_ls_url_logs_stop_rm(labdock_home: Path, images, docker_engine: Engine) -> None:
    made = labdock("new", "demo", "--image", images.plain, "--cpus", "1", "--memory", "1g")
    assert made.returncode == 0, made.stderr
    assert "'demo' is ready at http://127.0.0.1:" in made.stdout

    listed = labdock("ls")
    assert listed.returncode == 0
    row = next(line for line in listed.stdout.splitlines() if line.startswith("demo "))
    assert "ready" in row and "CPU" in row and images.plain in row and "http://127.0.0.1:" in row
    assert "token" not in listed.stdout

    url = labdock("url", "demo").stdout.strip()
    assert "/lab?token=" in url
    token = url.split("token=", 1)[1]
    assert token not in listed.stdout and token not in made.stdout
    with urllib.request.urlopen(url, timeout=10) as page:  # loopback: a working JupyterLab
        assert page.status == 200 and b"JupyterLab" in page.read()

    logs = labdock("logs", "demo")
    assert logs.returncode == 0 and "Jupyter Server" in logs.stdout and token not in logs.stdout

    assert labdock("stop", "demo").returncode == 0
    assert "stopped" in labdock("ls").stdout
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)
    assert "Jupyter Server" in labdock("logs", "demo").stdout  # the log is kept after stop

    removed = labdock("rm", "demo")
    assert removed.returncode == 0 and "work folder is kept" in removed.stdout
    assert "demo" not in labdock("ls").stdout
    assert not [c for c in docker_engine.client.containers.list(all=True) if c.name.startswith(TEST_PREFIX)]


def test_stop_all(labdock_home: Path, images, docker_engine: Engine) -> None:
    for name in ("a1", "a2"):
        assert labdock("new", name, "--image", images.plain, "--no-wait").returncode == 0
    assert labdock("stop", "--all").returncode == 0
    out = labdock("ls").stdout
    assert out.count("stopped") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("new", "Bad_Name"), "invalid name"),
        (("new", "ok", "--memory", "lots"), "invalid memory limit"),
        (("new", "ok", "--cpus", "0"), "CPU limit must be more than 0"),
        (("url", "nobody"), "no notebook named 'nobody'"),
        (("stop", "nobody"), "no notebook named 'nobody'"),
        (("rm", "nobody"), "no notebook named 'nobody'"),
        (("logs", "nobody"), "no notebook named 'nobody'"),
        (("new", "ghost", "--image", "labdock-test/none:1"), "not on this machine"),
    ],
)
def test_errors_are_one_line_and_non_zero(labdock_home: Path, args: tuple[str, ...], message: str) -> None:
    result = labdock(*args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_docker_unreachable(labdock_home: Path, tmp_path: Path) -> None:
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/no.sock")
    result = labdock("ls", env=env)
    assert result.returncode == 1
    assert "Docker is not reachable" in result.stderr and "Traceback" not in result.stderr


def test_duplicate_name(labdock_home: Path, images) -> None:
    assert labdock("new", "twin", "--image", images.plain, "--no-wait").returncode == 0
    result = labdock("new", "twin", "--image", images.plain)
    assert result.returncode == 1 and "already exists" in result.stderr


def test_commands_about_a_notebook_here_never_wait_for_a_hung_host(labdock_home: Path, images) -> None:
    """A host whose SSH port accepts and then says nothing: `new`, `url` and `stop` of a notebook on this
    machine never connect to it; `ls` does (it lists every host), and says in one line why it could not."""
    with hung_port() as (port, connections):
        write_test_settings(labdock_home, remote_hosts=[f"hung=127.0.0.1:{port}"])
        made = labdock("new", "here", "--image", images.plain)
        assert made.returncode == 0, made.stderr
        assert labdock("url", "here").stdout.startswith("http://127.0.0.1:")
        assert connections == []
        listed = labdock("ls")
        assert listed.stdout.startswith("NAME") and "here" in listed.stdout
        said = [line for line in listed.stderr.splitlines() if "hung" in line]
        assert len(said) == 1 and said[0].startswith("labdock: warning: host 'hung'"), listed.stderr
        assert len(connections) >= 1
        assert labdock("stop", "here").returncode == 0
