"""Notebook settings for real work against the real engine: /dev/shm and a 512 MB job through it, data
mounts (read-only refuses writes), edit/duplicate/rename round trips, and a stable address across restarts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from desktop.core.models import Mount, NetworkMode, NotebookSpec, NotebookState
from desktop.engines.readiness import http_status
from desktop.manager import NotebookManager
from desktop.services import build_services
from desktop.store import Paths
from tests.conftest import TEST_PREFIX, Engine, arun
from tests.test_lifecycle import execute, start_kernel

pytestmark = pytest.mark.docker
MiB = 1024**2

# A DataLoader's workers in miniature: a child process fills 512 MB of shared memory, the parent reads it.
SHM_JOB = """
import multiprocessing as mp
from multiprocessing import shared_memory
SIZE = 512 * 1024 * 1024
def fill(name):
    shm = shared_memory.SharedMemory(name=name)
    chunk = bytes([7]) * (1 << 20)
    for i in range(SIZE >> 20):
        shm.buf[i << 20:(i + 1) << 20] = chunk
    shm.close()
if __name__ == "__main__":
    shm = shared_memory.SharedMemory(create=True, size=SIZE)
    child = mp.get_context("fork").Process(target=fill, args=(shm.name,))
    child.start()
    child.join()
    seen = sum(shm.buf[i << 20] for i in range(SIZE >> 20))
    shm.close()
    shm.unlink()
    print("exit", child.exitcode, "sum", seen)
"""


@pytest.fixture(autouse=True)
def _file_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABDOCK_SECRETS", "file")  # no Secret Service here: the fallback, explicitly


def spec(name: str, image: str, **fields: object) -> NotebookSpec:
    return NotebookSpec(name=name, image=image, network_mode=NetworkMode.HOST, **fields)  # type: ignore[arg-type]


def manager() -> NotebookManager:
    return build_services(Paths.default()).manager


def run_in(engine: Engine, name: str, *command: str) -> tuple[int, str]:
    result = engine.client.containers.get(f"{TEST_PREFIX}{name}").exec_run(list(command))
    return int(result.exit_code), result.output.decode(errors="replace")


def test_shared_memory_and_mounts(labdock_home: Path, images, docker_engine: Engine, tmp_path: Path) -> None:
    data, out = tmp_path / "datasets", tmp_path / "out"
    data.mkdir()
    out.mkdir(mode=0o777)
    out.chmod(0o777)  # the notebook's user (uid 1000) writes here
    (data / "train.csv").write_text("a,b\n1,2\n")
    mounts = (Mount(data, "/data"), Mount(out, "/out", read_only=False))

    async def scenario() -> None:
        mgr = manager()
        notebook = await mgr.create(spec("shm", images.plain, shm_bytes=1024 * MiB, mounts=mounts))
        assert notebook.state is NotebookState.READY, notebook.error
        await mgr.close()

    arun(scenario())
    code, size = run_in(
        docker_engine, "shm", "python3", "-c", "import os; s = os.statvfs('/dev/shm'); print(s.f_blocks * s.f_frsize)"
    )
    assert code == 0 and int(size) == 1024 * MiB
    code, output = run_in(docker_engine, "shm", "python3", "-c", SHM_JOB)
    assert code == 0 and f"exit 0 sum {7 * 512}" in output, output
    assert run_in(docker_engine, "shm", "cat", "/data/train.csv") == (0, "a,b\n1,2\n")
    code, output = run_in(docker_engine, "shm", "touch", "/data/new.txt")
    assert code != 0 and "Read-only file system" in output
    assert not (data / "new.txt").exists()
    assert run_in(docker_engine, "shm", "sh", "-c", "echo written > /out/result.txt")[0] == 0
    assert (out / "result.txt").read_text() == "written\n"
    # The same job with Docker's default 64 MB /dev/shm dies of SIGBUS: the setting is what makes it work.
    default = docker_engine.client.containers.run(
        images.plain,
        ["python3", "-c", SHM_JOB],
        entrypoint=[],
        network_mode="none",
        detach=True,
        name=f"{TEST_PREFIX}shm-default",
    )
    try:
        status = default.wait(timeout=120)["StatusCode"]
        assert status != 0 or "exit -7" in default.logs().decode()  # the parent or the child got SIGBUS
    finally:
        default.remove(force=True)


def test_edit_duplicate_rename_round_trip(labdock_home: Path, images, docker_engine: Engine) -> None:
    async def scenario() -> None:
        mgr = manager()
        first = await mgr.create(spec("orig", images.plain, env=(("STAGE", "one"),)))
        assert first.state is NotebookState.READY, first.error
        work = first.spec.work_dir
        assert work is not None
        (work / "notes.txt").write_text("mine")
        await mgr.stop("orig")
        edited = await mgr.edit("orig", dataclasses.replace(first.spec, env=(("STAGE", "two"),), shm_bytes=256 * MiB))
        assert edited.state is NotebookState.STOPPED
        assert (await mgr.start("orig")).state is NotebookState.READY
        assert run_in(docker_engine, "orig", "printenv", "STAGE") == (0, "two\n")
        await mgr.stop("orig")

        copy = await mgr.duplicate("orig", "copy")
        assert copy.spec.env == (("STAGE", "two"),) and copy.spec.work_dir != work
        assert (await mgr.start("copy")).state is NotebookState.READY
        assert run_in(docker_engine, "copy", "printenv", "STAGE") == (0, "two\n")
        assert run_in(docker_engine, "copy", "ls", "/work")[1].strip() == ""  # a new, empty work folder
        await mgr.stop("copy")

        renamed = await mgr.rename("orig", "renamed")
        assert renamed.spec.work_dir == mgr.paths.default_work_dir("renamed") and not work.exists()
        assert (await mgr.start("renamed")).state is NotebookState.READY
        assert run_in(docker_engine, "renamed", "cat", "/work/notes.txt") == (0, "mine")
        assert sorted(n.name for n in mgr.list()) == ["copy", "renamed"]
        await mgr.close()

        again = manager()  # a restarted Labdock sees the same
        await again.restore()
        assert sorted(n.name for n in again.list()) == ["copy", "renamed"]
        assert again.get("renamed").state is NotebookState.READY
        assert again.get("renamed").spec.shm_bytes == 256 * MiB
        await again.close()

    arun(scenario())
    names = {c.name for c in docker_engine.client.containers.list(all=True) if c.name.startswith(TEST_PREFIX)}
    assert names == {f"{TEST_PREFIX}renamed"}


def test_stable_address_survives_a_restart(labdock_home: Path, images, docker_engine: Engine) -> None:
    async def scenario() -> None:
        mgr = manager()
        first = await mgr.create(spec("steady", images.plain, stable_address=True))
        assert first.state is NotebookState.READY, first.error
        url, token = first.url, first.token
        assert url == f"http://127.0.0.1:{first.spec.stable_port}/" and token
        old_container = first.container_id
        await mgr.stop("steady")
        again = await mgr.start("steady")
        assert again.state is NotebookState.READY and again.container_id != old_container
        assert (again.url, again.token) == (url, token)
        assert await http_status(url, "api/status", token) == 200  # the bookmark still works
        await mgr.close()

        fresh = manager()  # and after Labdock itself restarts
        await fresh.restore()
        assert await fresh.url_with_token("steady") == f"{url}lab?token={token}"
        await fresh.stop("steady")
        assert (await fresh.start("steady")).url == url
        await fresh.close()

    arun(scenario())


def test_local_engine_gets_env_secrets_and_a_stable_address(labdock_home: Path) -> None:
    secret = "local-secret-value-91"

    async def scenario() -> None:
        mgr = manager()
        local = NotebookSpec(
            "loc", "local", engine="local", env=(("PLAIN", "p"),), secret_names=("TOK",), stable_address=True
        )
        first = await mgr.create(local, secrets={"TOK": secret})
        assert first.state is NotebookState.READY, first.error
        url, token = first.url, first.token
        assert url and token
        kernel = await start_kernel(url, token)
        output = await execute(url, token, kernel, "import os; print(os.environ['PLAIN'], os.environ['TOK'])")
        assert output.strip() == f"p {secret}"
        await mgr.stop("loc")
        again = await mgr.start("loc")
        assert (again.url, again.token) == (url, token)
        await mgr.stop("loc")
        await mgr.close()

    arun(scenario())
    holders = [p for p in labdock_home.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert holders == [labdock_home / "config" / "secrets.json"]
