"""The Local engine: JupyterLab as a child process, in the same manager, without Docker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.models import NotebookSpec, NotebookState
from desktop.engines.local_engine import ID_PREFIX, _alive, _environ
from desktop.engines.readiness import http_status
from desktop.manager import NotebookManager
from desktop.services import build_services
from desktop.store import Paths
from tests.conftest import arun, write_test_settings
from tests.gpu.fake_nvml import FakeNvml, make_gpus


@pytest.fixture
def no_docker_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A Labdock home whose Docker engine does not answer; local servers are stopped after the test."""
    home = tmp_path / "home"
    write_test_settings(home, default_engine="local")
    monkeypatch.setenv("LABDOCK_HOME", str(home))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    yield home
    for state in (home / "data" / "local").glob("*.json"):
        pid = int(__import__("json").loads(state.read_text())["pid"])
        if _alive(pid):
            os.killpg(pid, 9)


def local(name: str, **kw: object) -> NotebookSpec:
    return NotebookSpec(name, "-", engine="local", **kw)  # type: ignore[arg-type]


def pid_of(notebook_id: str | None) -> int:
    assert notebook_id is not None and notebook_id.startswith(ID_PREFIX)
    return int(notebook_id.removeprefix(ID_PREFIX))


def manager() -> NotebookManager:
    return build_services(Paths.default()).manager


def test_local_notebook_lifecycle_without_docker(no_docker_home: Path) -> None:
    async def scenario() -> None:
        mgr = manager()
        assert await mgr.refresh() is False and "Docker is not reachable" in (mgr.engine_problem or "")
        notebook = await mgr.create(local("solo"))
        assert notebook.state is NotebookState.READY, notebook.error
        assert notebook.url and notebook.url.startswith("http://127.0.0.1:")
        assert await http_status(notebook.url, "api/status", notebook.token) == 200
        assert await http_status(notebook.url, "api/status", None) == 403
        pid = pid_of(notebook.container_id)
        assert _environ(pid)["CUDA_VISIBLE_DEVICES"] == ""  # CPU only: no GPU visible
        assert notebook.token not in await asyncio.to_thread(Path(f"/proc/{pid}/cmdline").read_text)
        work = notebook.spec.work_dir
        assert work is not None
        (work / "data.txt").write_text("kept")
        token = notebook.token or ""
        await mgr.stop("solo")
        assert notebook.state is NotebookState.STOPPED and not _alive(pid)
        saved = await mgr.logs("solo")
        assert "Jupyter Server" in saved and token not in saved
        again = await mgr.start("solo")
        assert again.state is NotebookState.READY, again.error
        await mgr.remove("solo")
        assert (work / "data.txt").read_text() == "kept"
        await mgr.close()

    arun(scenario())


def test_local_notebooks_are_adopted_after_restart(no_docker_home: Path) -> None:
    async def first() -> int:
        mgr = manager()
        notebook = await mgr.create(local("stay"))
        await mgr.close()  # Labdock quits; the server keeps running
        return pid_of(notebook.container_id)

    async def second(pid: int) -> None:
        mgr = manager()
        await mgr.refresh()
        notebook = mgr.get("stay")
        assert notebook.state is NotebookState.READY and notebook.engine == "local"
        url = await mgr.url_with_token("stay")
        assert "token=" in url
        assert await http_status(notebook.url or "", "api/status", notebook.token) == 200
        await mgr.stop("stay")
        assert not _alive(pid)
        await mgr.close()

    arun(second(arun(first())))


def test_gpu_choice_becomes_cuda_visible_devices(no_docker_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(gpus=make_gpus(3)).install(monkeypatch.setattr)

    async def scenario() -> None:
        mgr = manager()
        notebook = await mgr.create(local("gpu", gpus=("2",)))
        assert notebook.state is NotebookState.READY, notebook.error
        assert _environ(pid_of(notebook.container_id))["CUDA_VISIBLE_DEVICES"] == fake.gpus[2].uuid
        await mgr.stop("gpu")
        await mgr.close()

    arun(scenario())


def test_stop_during_local_launch(no_docker_home: Path) -> None:
    async def scenario() -> None:
        mgr = manager()
        notebook = await mgr.create(local("quick"), wait=False)
        while notebook.container_id is None:
            await asyncio.sleep(0.01)
        pid = pid_of(notebook.container_id)
        await mgr.stop("quick")
        assert notebook.state is NotebookState.STOPPED and not _alive(pid)
        await mgr.close()

    arun(scenario())


def test_cli_runs_a_local_notebook_with_docker_stopped(no_docker_home: Path) -> None:
    def labdock(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "desktop", *args], capture_output=True, text=True, timeout=120)

    made = labdock("new", "cli-local", "--engine", "local")
    assert made.returncode == 0, made.stderr
    listed = labdock("ls")
    assert listed.returncode == 1 and "only local notebooks are listed" in listed.stderr
    assert "cli-local" in listed.stdout and "local" in listed.stdout and "ready" in listed.stdout
    assert "token=" in labdock("url", "cli-local").stdout
    assert labdock("stop", "cli-local").returncode == 0
    assert labdock("rm", "cli-local").returncode == 0


def test_cli_reports_a_bad_name_before_asking_docker(no_docker_home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "desktop", "new", "Bad Name"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "invalid name 'Bad Name'" in result.stderr
