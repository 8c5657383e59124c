"""Notebooks on a remote Docker host over SSH, against a real second host.

The host is made by tests/support/remote_host.py: a network namespace of the run's own with sshd and a
private dockerd, reached from another namespace of the run's own over a veth pair, with per-run keys and
known_hosts. Outside it, each case here reports the outcome of the same case run there (all of them in one
run); under CI a machine that cannot make it fails them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from desktop.core.errors import EngineUnavailable
from desktop.core.models import NetworkMode, Notebook, NotebookSpec, NotebookState
from desktop.engines.readiness import http_status
from desktop.engines.remote_engine import DOCKER_SESSIONS
from desktop.remote_gpus import over_ssh, read_remote_gpus
from desktop.services import Services, build_services
from desktop.store import Paths
from desktop.ui.host_states import check_host
from desktop.ui.usage_feed import UsageFeed
from tests.conftest import Engine, arun, need, write_test_settings
from tests.support import remote_host
from tests.support.images import PLAIN_IMAGE
from tests.support.junit import outcomes as junit_outcomes
from tests.test_lifecycle import execute, start_kernel, token_of

pytestmark = pytest.mark.docker
HOST = remote_host.ALIAS
RUN_TIMEOUT_S = 600
GPU_UUID = "GPU-5d0c9a7e-1f2b-4c3d-8e9f-0a1b2c3d4e5f"


# -- outside: run every case of this module beside the remote host, once -------------------------


@dataclass
class RemoteOutcomes:
    run: remote_host.netns.NamespaceRun
    outcomes: dict[str, tuple[str, str]]

    def check(self, name: str) -> None:
        outcome, details = self.outcomes.get(name, ("failed", "it did not run beside the remote host"))
        if outcome != "passed":
            tail = self.run.output[-8000:]
            pytest.fail(f"{name} beside the remote host: {outcome}: {details}\n--- the run ---\n{tail}", pytrace=False)
        assert self.run.namespace is not None and not self.run.leftovers, self.run.leftovers


@pytest.fixture(scope="session")
def remote_outcomes(
    request: pytest.FixtureRequest, docker_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> RemoteOutcomes:
    missing = remote_host.missing()
    need(missing is None, f"no remote host can be made here: {missing}")
    selected = [
        item.nodeid
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is sys.modules[__name__]
    ]
    junit = tmp_path_factory.mktemp("remote") / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *selected]
    run = remote_host.run_with_remote_host(command, docker_engine.url, request.config.rootpath, RUN_TIMEOUT_S)
    return RemoteOutcomes(run, junit_outcomes(junit))


def reported_outside(request: pytest.FixtureRequest) -> bool:
    """Outside the run: check this case's outcome there and return True (the case is done)."""
    if remote_host.inside():
        return False
    request.getfixturevalue("remote_outcomes").check(request.node.name)
    return True


# -- inside: a Labdock home that knows the host -----------------------------------------------------


@pytest.fixture
def remote(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[remote_host.RemoteHost]:
    host = remote_host.RemoteHost.from_env()
    if host is None:
        yield None  # type: ignore[misc]  # outside: the case only reports
        return
    home = request.getfixturevalue("labdock_home")
    user_home = tmp_path / "user"
    host.install_ssh_config(user_home)  # the user's own ~/.ssh/config and known_hosts
    monkeypatch.setenv("HOME", str(user_home))
    write_test_settings(home, remote_hosts=[HOST])
    yield host
    with contextlib.closing(host.docker()) as client:  # what a case left on the host
        for row in client.api.containers(all=True):
            client.api.remove_container(row["Id"], force=True)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.25)


async def answers(url: str, token: str | None) -> bool:
    try:
        return await http_status(url, "api/status", token) == 200
    except OSError:
        return False


def labdock(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
    )


async def launched_there(name: str = "far") -> tuple[Services, Notebook]:
    """Services from the test's Labdock home, and a notebook launched on the host in host network mode."""
    services = build_services(Paths.default())
    spec = NotebookSpec(name, PLAIN_IMAGE, engine=HOST, network_mode=NetworkMode.HOST)
    return services, await services.manager.create(spec)


# -- the cases ----------------------------------------------------------------------------------------


def test_a_notebook_on_the_host_runs_code_through_the_tunnel_and_is_adopted_after_a_restart(
    request: pytest.FixtureRequest, remote: remote_host.RemoteHost
) -> None:
    if reported_outside(request):
        return

    async def scenario() -> None:
        first = build_services(Paths.default())
        notebook, beside = await asyncio.gather(  # bridge mode there; two at once share the connection
            first.manager.create(NotebookSpec("far", PLAIN_IMAGE, engine=HOST)),
            first.manager.create(NotebookSpec("beside", PLAIN_IMAGE, engine=HOST, cpus=1, memory_bytes=1 << 30)),
        )
        assert notebook.state is beside.state is NotebookState.READY, (notebook.error, beside.error)
        feed = UsageFeed(first.manager, lambda usage: None)  # the table's CPU and memory columns
        for _ in range(2):  # CPU % takes two readings of the host's counters
            await feed.sample_once()
            await feed.remote_readings()
            await asyncio.sleep(0.5)
        usage = await feed.sample_once(remote=False)
        feed.stop()
        assert set(usage) == {"far", "beside"}, usage
        assert usage["beside"].limit == 1 << 30 and usage["far"].limit is None
        assert all(u.cpu_percent is not None and (u.memory or 0) > 20 << 20 for u in usage.values()), usage
        await first.manager.remove("beside", delete_work=True)
        url, token, container_id = notebook.url or "", notebook.token or "", notebook.container_id or ""
        assert url.startswith("http://127.0.0.1:")
        with contextlib.closing(remote.docker()) as client:  # on the host, published on its loopback only
            ports = client.api.inspect_container(container_id)["NetworkSettings"]["Ports"]["8888/tcp"]
            assert {binding["HostIp"] for binding in ports} == {"127.0.0.1"}
        work = remote.data_dir / "labdock" / "work" / "far"
        assert notebook.spec.work_dir == work and work.is_dir()

        kernel = await start_kernel(url, token)
        code = "open('made-there.txt', 'w').write('hi')\nx = 6 * 7\nprint('answer', x)"
        assert await execute(url, token, kernel, code) == "answer 42\n"
        assert (work / "made-there.txt").read_text() == "hi"  # the folder is the host's
        await first.manager.close()  # the window closes; the notebook keeps running there

        second = build_services(Paths.default()).manager
        await second.restore()
        adopted = second.get("far")
        assert (adopted.state, adopted.container_id, adopted.engine) == (NotebookState.READY, container_id, HOST)
        assert adopted.url is not None
        again = token_of(await second.url_with_token("far"))
        assert again == token
        assert await execute(adopted.url, again, kernel, "print(x)") == "42\n"  # the same kernel, still there

        # Every Docker API connection held open is an SSH session there (sshd allows 10 per connection).
        assert len(_docker_sessions(remote)) <= DOCKER_SESSIONS
        await second.stop("far")
        assert second.get("far").state is NotebookState.STOPPED
        with contextlib.closing(remote.docker()) as client:
            assert not client.api.containers(all=True)
        removed = await second.remove("far", delete_work=True)
        assert removed.work_deleted and not work.exists()
        await second.close()

    arun(scenario())


def test_a_lost_connection_and_a_host_going_away_recover_by_themselves(
    request: pytest.FixtureRequest, remote: remote_host.RemoteHost
) -> None:
    if reported_outside(request):
        return

    async def scenario() -> None:
        services, far = await launched_there()
        manager = services.manager
        # This machine's notebook: a Local one (a container of the outer engine would listen on the loopback
        # of the machine's own namespace, which this run's namespace does not share).
        near = await manager.create(NotebookSpec("near", PLAIN_IMAGE, engine="local"))
        assert far.state is near.state is NotebookState.READY, (far.error, near.error)
        url, token = far.url or "", far.token
        checked = await check_host(services.remotes[HOST])  # Preferences' Check
        reachable = r"reachable · Docker \d+\.\S+ · (no GPU.*|\d+ GPUs?)"
        assert checked.reachable and re.fullmatch(reachable, checked.text), checked

        assert remote.kill_connections() >= 1  # the SSH connection dies under the tunnel
        await eventually(lambda: answers(url, token), 15, "the tunnel after the connection was killed")

        remote.link_down()  # a network drop shorter than the keepalive: the connection rides it out
        await asyncio.sleep(2)
        remote.link_up()
        await eventually(lambda: answers(url, token), 15, "the tunnel after the network came back")

        remote.stop_sshd(connections=True)  # the host goes away
        await eventually(lambda: _down(services), 20, "the host shown as unreachable")
        problem = manager.hosts.problem(HOST) or ""
        assert "unreachable" in problem and HOST in problem, problem
        assert manager.get("far").state is NotebookState.READY  # kept as it was, shown as unreachable
        assert manager.get("near").state is NotebookState.READY and await answers(near.url or "", near.token)
        assert manager.engine_problem is None  # this machine's Docker is fine
        with pytest.raises(EngineUnavailable, match="unreachable"):
            await manager.stop("far")
        checked = await check_host(services.remotes[HOST])
        assert not checked.reachable and "\n" not in checked.text and checked.text, checked
        assert manager.get("far").state is NotebookState.READY

        remote.start_sshd()
        await eventually(lambda: _up(services), 30, "the host back")
        await eventually(lambda: answers(url, token), 15, "the tunnel after sshd came back")
        await manager.stop("far")
        await manager.stop("near")
        await manager.close()

    arun(scenario())


def test_docker_stopping_on_the_host_is_said_in_one_line_and_the_notebook_comes_back_stopped(
    request: pytest.FixtureRequest, remote: remote_host.RemoteHost
) -> None:
    """SSH stays up while the host's Docker engine stops (its containers with it): the host's rows are kept
    and shown unreachable with Docker's own reason, a stop says so in one line, this machine's Docker is not
    blamed; once the engine is back, the notebook shows STOPPED (its container ended) and starts again."""
    if reported_outside(request):
        return

    async def scenario() -> None:
        services, far = await launched_there()
        manager = services.manager
        assert far.state is NotebookState.READY, far.error

        remote.stop_dockerd()
        await eventually(lambda: _down(services), 20, "the host shown as unreachable")
        problem = manager.hosts.problem(HOST) or ""
        assert problem.startswith(f"Docker on '{HOST}' does not answer: "), problem  # then Docker's own words
        assert "Is the docker daemon running?" in problem and "\n" not in problem, problem
        assert manager.get("far").state is NotebookState.READY  # kept as it was, shown as unreachable
        assert manager.engine_problem is None  # this machine's Docker is fine
        with pytest.raises(EngineUnavailable) as stopping:
            await manager.stop("far")
        assert str(stopping.value) == problem
        checked = await check_host(services.remotes[HOST])
        assert not checked.reachable and checked.text == problem, checked

        remote.start_dockerd()
        await eventually(lambda: _up(services), 30, "the host's Docker back")
        assert manager.get("far").state is NotebookState.STOPPED  # its container ended with the engine
        again = await manager.start("far")
        assert again.state is NotebookState.READY, again.error
        assert await answers(again.url or "", again.token)
        await manager.stop("far")
        await manager.close()

    arun(scenario())


def _docker_sessions(remote: remote_host.RemoteHost) -> list[int]:
    found = []
    for pid in remote.session_processes():
        with contextlib.suppress(OSError):
            if b"dial-stdio" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


async def _down(services: Services) -> bool:
    await services.manager.refresh()
    return services.manager.hosts.problem(HOST) is not None


async def _up(services: Services) -> bool:
    assert await services.manager.refresh()
    return services.manager.hosts.problem(HOST) is None


def test_the_cli_lists_hosts_launches_there_and_reads_its_gpus(
    request: pytest.FixtureRequest, remote: remote_host.RemoteHost
) -> None:
    if reported_outside(request):
        return
    listed = labdock("hosts")
    assert listed.returncode == 0, listed.stderr
    assert HOST in listed.stdout and "reachable: Docker" in listed.stdout and "no GPUs" in listed.stdout

    made = labdock("new", "cli-far", "--host", HOST, "--network", "bridge")
    assert made.returncode == 0, made.stderr
    assert f"ready on '{HOST}'" in made.stdout
    rows = labdock("ls").stdout.splitlines()
    assert rows[0].split()[:3] == ["NAME", "STATE", "HOST"]
    assert any(row.split()[:3] == ["cli-far", "ready", HOST] for row in rows), rows

    # `labdock url` keeps its tunnel open while it runs (another process: the address is its own)
    holder = subprocess.Popen(
        [sys.executable, "-m", "desktop", "url", "cli-far"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        address = holder.stdout.readline().strip()
        assert arun(answers(address.split("lab?")[0], token_of(address)), 30)
    finally:
        holder.send_signal(signal.SIGINT)
        holder.wait(timeout=30)

    # The host's GPUs, read with nvidia-smi over the same connection (a stand-in: there is no GPU here),
    # attributed to the notebook through the process's cgroup on the host.
    with contextlib.closing(remote.docker()) as client:
        (row,) = client.api.containers(filters={"name": "cli-far"})
        pid = client.api.inspect_container(row["Id"])["State"]["Pid"]
    stand_in = remote.bin_dir / "nvidia-smi"
    stand_in.write_text(
        '#!/bin/sh\ncase "$*" in\n'
        f'  *--query-gpu=*) echo "0, {GPU_UUID}, 550.54.15, 81559, 2048, 17, 34, 71.43, NVIDIA H100 80GB HBM3" ;;\n'
        f'  *--query-compute-apps=*) echo "{GPU_UUID}, {pid}, 1024" ;;\nesac\n'
    )
    stand_in.chmod(0o755)

    async def gpus() -> None:
        services = build_services(Paths.default())
        report = await read_remote_gpus(over_ssh(services.remotes[HOST].link))
        assert report.problem is None and [g.uuid for g in report.inventory.gpus] == [GPU_UUID]
        assert report.users_by_container == {row["Id"]: {GPU_UUID: 1024 << 20}}
        await services.manager.close()

    arun(gpus())
    assert "1 GPU" in labdock("hosts").stdout
    removed = labdock("rm", "cli-far", "--delete-work")
    assert removed.returncode == 0, removed.stderr
    assert not (remote.data_dir / "labdock" / "work" / "cli-far").exists()


def test_a_host_that_cannot_be_reached_says_why_in_one_line(
    request: pytest.FixtureRequest, remote: remote_host.RemoteHost
) -> None:
    if reported_outside(request):
        return
    made = labdock("new", "kept", "--host", HOST, "--network", "bridge")
    assert made.returncode == 0, made.stderr
    remote.stop_sshd(connections=True)
    try:
        # A notebook there can be forgotten here while its host is away; nothing on the host is touched,
        # and once the host answers its server is listed again.
        refused = labdock("rm", "kept")
        assert refused.returncode == 1 and "unreachable" in refused.stderr and "--forget" in refused.stderr
        forgot = labdock("rm", "kept", "--forget")
        assert forgot.returncode == 0, forgot.stderr
        assert "kept" not in labdock("ls").stdout
        made = labdock("new", "nowhere", "--host", HOST)
        assert made.returncode == 1
        (line,) = made.stderr.strip().splitlines()
        assert f"host '{HOST}'" in line and "unreachable" in line, line
        assert "nowhere" not in labdock("ls").stdout  # nothing left that the user did not ask for
        unknown = labdock("new", "x", "--host", "elsewhere")
        assert unknown.returncode == 1 and "no remote host named 'elsewhere'" in unknown.stderr
    finally:
        remote.start_sshd()
    listed = labdock("ls").stdout.splitlines()
    assert any(row.split()[:3] == ["kept", "ready", HOST] for row in listed), listed
    assert labdock("rm", "kept", "--delete-work").returncode == 0
