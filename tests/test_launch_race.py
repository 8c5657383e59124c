"""Two Labdock processes at once: a CLI launching while another process refreshes in a loop.
Before launch leases, the refresher took a created-but-not-started container for an abandoned
launch and removed it (2 launches in 5 ended 'the container was removed')."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_PREFIX, Engine
from tests.support.launch_race import run_race

pytestmark = pytest.mark.docker


def test_no_launch_lost_to_a_concurrent_refresher(labdock_home: Path, images, docker_engine: Engine) -> None:
    result = run_race([f"race{i}" for i in range(6)], images.plain, parallel=3)
    assert result.lost == []
    assert result.refreshes >= 10  # the refresher really ran during the launches
    assert not [c for c in docker_engine.client.containers.list(all=True) if c.name.startswith(TEST_PREFIX)]


def test_two_local_launches_of_one_name_start_one_server(labdock_home: Path) -> None:
    """`labdock new x --engine local` twice at once: one server, one state file, one clear refusal."""
    command = [sys.executable, "-m", "desktop", "new", "twin", "--engine", "local"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(*run.communicate(timeout=120), run.returncode) for run in runs]
    try:
        codes = sorted(code for _, _, code in outcomes)
        assert codes == [0, 1], outcomes
        refusal = next(err for _, err, code in outcomes if code == 1)
        assert "already exists" in refusal and len(refusal.strip().splitlines()) == 1
        servers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _serves(p, "twin", labdock_home)]
        assert len(servers) == 1
    finally:
        subprocess.run(
            [sys.executable, "-m", "desktop", "rm", "twin"], capture_output=True, timeout=60, env=dict(os.environ)
        )


def _serves(proc: Path, name: str, home: Path) -> bool:
    """A JupyterLab of this home's Local notebook `name` (its root dir is the notebook's work folder)."""
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"jupyterlab" in argv and any(
        arg.endswith(f"/work/{name}".encode()) and str(home).encode() in arg for arg in argv
    )
