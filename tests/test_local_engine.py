"""The Local engine: JupyterLab as a child process, in the same manager, without Docker."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.errors import LabdockError, NotOurs
from desktop.core.models import NotebookSpec, NotebookState
from desktop.engines.local_engine import LocalEngine
from desktop.engines.local_records import ID_PREFIX, environ_of
from desktop.engines.process_identity import ProcessIdentity, identify, read_stat, signal_group
from desktop.engines.readiness import http_status, wait_ready
from desktop.manager import NotebookManager
from desktop.services import build_services
from desktop.store import Paths
from tests.conftest import arun, write_test_settings
from tests.gpu.fake_nvml import FakeNvml, make_gpus


def _stop_recorded_servers(state_dir: Path) -> None:
    """Kill what the engine's records name, by identity only: a recycled pid is left alone here too."""
    for state in state_dir.glob("*.json"):
        try:
            data = json.loads(state.read_text())
            signal_group(ProcessIdentity(int(data["pid"]), int(data["start_time"]), data["boot_id"]), signal.SIGKILL)
        except (OSError, ValueError, KeyError, TypeError):
            continue


@pytest.fixture
def no_docker_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A Labdock home whose Docker engine does not answer; local servers are stopped after the test."""
    home = tmp_path / "home"
    write_test_settings(home, default_engine="local")
    monkeypatch.setenv("LABDOCK_HOME", str(home))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    yield home
    _stop_recorded_servers(home / "data" / "local")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[LocalEngine]:
    """The engine on its own, over a state folder of this test."""
    local_engine = LocalEngine(tmp_path / "state")
    yield local_engine
    _stop_recorded_servers(local_engine.state_dir)


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """Another program that leads its own process group, as a recycled server pid would."""
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield child
    child.kill()
    child.wait()


def alive(pid: int) -> bool:
    stat_now = read_stat(pid)
    return stat_now is not None and stat_now.state != "Z"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_record(engine: LocalEngine, name: str, identity: ProcessIdentity, work: Path, **extra: object) -> None:
    engine.state_dir.mkdir(parents=True, exist_ok=True)
    spec = NotebookSpec(name, "-", engine="local", work_dir=work)
    record = {**identity.to_json(), "port": 1, "created": 0.0, "spec": spec.to_json(), **extra}
    (engine.state_dir / f"{name}.json").write_text(json.dumps(record))


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
        assert environ_of(pid)["CUDA_VISIBLE_DEVICES"] == ""  # CPU only: no GPU visible
        assert notebook.token not in await asyncio.to_thread(Path(f"/proc/{pid}/cmdline").read_text)
        work = notebook.spec.work_dir
        assert work is not None
        (work / "data.txt").write_text("kept")
        token = notebook.token or ""
        await mgr.stop("solo")
        assert notebook.state is NotebookState.STOPPED and not alive(pid)
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
        assert not alive(pid)
        await mgr.close()

    arun(second(arun(first())))


def test_gpu_choice_becomes_cuda_visible_devices(no_docker_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(gpus=make_gpus(3)).install(monkeypatch.setattr)

    async def scenario() -> None:
        mgr = manager()
        notebook = await mgr.create(local("gpu", gpus=("2",)))
        assert notebook.state is NotebookState.READY, notebook.error
        assert environ_of(pid_of(notebook.container_id))["CUDA_VISIBLE_DEVICES"] == fake.gpus[2].uuid
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
        assert notebook.state is NotebookState.STOPPED and not alive(pid)
        await mgr.close()

    arun(scenario())


def test_cli_runs_a_local_notebook_with_docker_stopped(no_docker_home: Path) -> None:
    def labdock(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "desktop", *args], capture_output=True, text=True, timeout=120)

    made = labdock("new", "cli-local", "--engine", "local")
    assert made.returncode == 0, made.stderr
    listed = labdock("ls")
    assert listed.returncode == 1 and "only notebooks that do not use it are listed" in listed.stderr
    assert "cli-local" in listed.stdout and "local" in listed.stdout and "ready" in listed.stdout
    assert "token=" in labdock("url", "cli-local").stdout
    assert labdock("stop", "cli-local").returncode == 0
    assert labdock("rm", "cli-local").returncode == 0


def test_cli_reports_a_bad_name_before_asking_docker(no_docker_home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "desktop", "new", "Bad Name"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "invalid name 'Bad Name'" in result.stderr


def files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_local_files_are_private_and_hold_no_token(
    no_docker_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_home = tmp_path / "user"
    monkeypatch.setenv("HOME", str(user_home))
    for variable in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(variable, raising=False)
    state_dir = no_docker_home / "data" / "local"

    async def scenario() -> None:
        mgr = manager()
        notebook = await mgr.create(local("private"))
        assert notebook.state is NotebookState.READY, notebook.error
        token, pid = notebook.token or "", pid_of(notebook.container_id)
        runtime = state_dir / "private.runtime"
        assert mode(state_dir) == 0o700 and mode(runtime) == 0o700
        assert mode(state_dir / "private.json") == 0o600 and mode(state_dir / "private.log") == 0o600
        assert (runtime / f"jpserver-{pid}.json").exists()  # the server's info file went to the private folder
        assert "token=..." in (state_dir / "private.log").read_text()  # printed without the token
        outside_runtime = [p for p in files_holding(state_dir, token) if runtime not in p.parents]
        assert outside_runtime == [] and files_holding(user_home, token) == []
        await mgr.stop("private")
        assert not runtime.exists() and files_holding(no_docker_home, token) == []
        assert files_holding(user_home, token) == []
        await mgr.remove("private")
        await mgr.close()

    arun(scenario())


def test_every_log_read_is_redacted(engine: LocalEngine, tmp_path: Path) -> None:
    """Even a token the server itself printed (as some user config could make it) never comes back."""
    token = "s3cret-token-value"

    async def scenario() -> None:
        spec = NotebookSpec("loud", "-", engine="local", work_dir=tmp_path)
        started = await engine.start(spec, token)
        await wait_ready(started.url, token, lambda: engine.exit_status(started.container_id), 90)
        with (engine.state_dir / "loud.log").open("a") as log:
            log.write(f"printed by a config: {token}\nhttp://127.0.0.1:1/lab?token={token}\n")
        text = await engine.logs("loud", None, started.container_id)
        assert text is not None and token not in text and "printed by a config: <token>" in text
        followed = []
        async for line in engine.follow_logs("loud", started.container_id):
            followed.append(line)
            if "127.0.0.1:1/lab?token=" in line:
                break
        assert "printed by a config: <token>" in followed and all(token not in line for line in followed)
        await engine.stop("loud", 10, started.container_id)
        saved = await engine.discard("loud", started.container_id)
        assert token not in saved and "lab?token=<token>" in saved
        assert list(engine.state_dir.iterdir()) == []  # state, log and runtime folder all gone

    arun(scenario())


@pytest.mark.parametrize("wrong", ["start_time", "boot_id"])
def test_a_recycled_pid_is_never_signalled(
    engine: LocalEngine, stranger: subprocess.Popen[bytes], tmp_path: Path, wrong: str
) -> None:
    real = identify(stranger.pid)
    assert real is not None
    stale = dataclasses.replace(
        real,
        **({"start_time": real.start_time + 1} if wrong == "start_time" else {"boot_id": "0" * 8 + real.boot_id[8:]}),
    )

    async def scenario() -> None:
        write_record(engine, "ghost", stale, tmp_path)
        (engine.state_dir / "ghost.log").write_text("http://127.0.0.1:1/lab?token=abcdef0123\nlab?token=...\n")
        [found] = await engine.find()
        assert not found.running and found.url is None and found.container_id == f"{ID_PREFIX}{stranger.pid}"
        assert await engine.exit_status(found.container_id) is not None
        assert await engine.token(found.container_id) is None  # a stranger's environment is never read
        await engine.stop("ghost", 1)
        await engine.stop("ghost", 1, found.container_id)
        assert await engine.logs("ghost", None) == "http://127.0.0.1:1/lab?token=<token>\nlab?token=...\n"
        followed = [line async for line in engine.follow_logs("ghost")]
        assert followed[0].endswith("token=<token>")
        await engine.remove_leftover("ghost", found.container_id)
        assert list(engine.state_dir.iterdir()) == []
        write_record(engine, "ghost", stale, tmp_path)
        started = await engine.start(NotebookSpec("ghost", "-", engine="local", work_dir=tmp_path), "t0ken")
        [found] = await engine.find()
        assert found.running and found.container_id == started.container_id != f"{ID_PREFIX}{stranger.pid}"
        await engine.remove_leftover("ghost", started.container_id)
        assert not alive(pid_of(started.container_id))

    arun(scenario())
    assert stranger.poll() is None  # never signalled, by any of the calls above


def test_another_container_id_is_not_ours(
    engine: LocalEngine, stranger: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    identity = identify(stranger.pid)
    assert identity is not None
    write_record(engine, "mine", identity, tmp_path)  # recorded as ours: its identity matches

    async def follow(container_id: str) -> None:
        async for _ in engine.follow_logs("mine", container_id):
            pass

    async def scenario() -> None:
        other = f"{ID_PREFIX}{stranger.pid + 1}"
        calls = (
            engine.stop("mine", 1, other),
            engine.discard("mine", other),
            engine.remove_leftover("mine", other),
            engine.logs("mine", None, other),
            follow(other),
            follow("not-a-local-id"),
        )
        for call in calls:
            with pytest.raises(NotOurs, match=r"^the local server of 'mine' is local:\d+, not .*: left alone$"):
                await call
        assert stranger.poll() is None
        with pytest.raises(LabdockError, match="still running; stop it first"):
            await engine.discard("mine")
        [found] = await engine.find()
        assert found.running and found.url == "http://127.0.0.1:1/"
        await engine.stop("mine", 5, found.container_id)  # the right id: it is stopped
        assert stranger.wait(timeout=10) == -signal.SIGTERM

    arun(scenario())


def test_malformed_records_are_skipped_with_a_warning(
    engine: LocalEngine, stranger: subprocess.Popen[bytes], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    identity = identify(stranger.pid)
    assert identity is not None
    write_record(engine, "good", dataclasses.replace(identity, start_time=identity.start_time + 1), tmp_path)
    write_record(engine, "elsewhere", identity, tmp_path)
    os.rename(engine.state_dir / "elsewhere.json", engine.state_dir / "renamed.json")  # names another notebook
    spec = NotebookSpec("legacy", "-", engine="local", work_dir=tmp_path).to_json()
    for name, text in {
        "broken": "{",
        "list": "[]",
        "partial": '{"pid": 5}',
        "legacy": json.dumps({"pid": stranger.pid, "port": 1, "created": 0, "spec": spec}),  # pid only
        "badspec": json.dumps({**identity.to_json(), "port": 1, "created": 0, "spec": {"name": 3}}),
    }.items():
        (engine.state_dir / f"{name}.json").write_text(text)

    async def scenario() -> None:
        with caplog.at_level(logging.WARNING, logger="desktop.engines.local_engine"):
            assert [found.spec.name for found in await engine.find()] == ["good"]
        assert len(caplog.records) == 6 and all("ignoring" in r.getMessage() for r in caplog.records)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="desktop.engines.local_engine"):
            assert len(await engine.find()) == 1 and caplog.records == []  # said once, not on every refresh
        await engine.stop("legacy", 1)  # a pid-only record proves nothing: never signalled
        await engine.remove_leftover("broken")
        assert await engine.discard("partial") == ""
        assert not (engine.state_dir / "broken.json").exists() and not (engine.state_dir / "partial.json").exists()

    arun(scenario())
    assert stranger.poll() is None
