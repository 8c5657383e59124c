"""Docker faults for real: a proxy in front of the test engine answers 400/404/409/500, closes the connection
or hangs, per API path, and every operation must end its row truthfully with one line a user can act on.

Each case asserts the row's terminal state (FAILED with the reason, or back to what it was with the error
shown; never CREATING/STARTING/STOPPING/PULLING), a one-line message without a traceback, the time a hung
engine may take (its timeout + 5 s), and that nothing the user did not ask for is left behind. The same
faults through the CLI end in exit status 1 and one line on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
import urllib3.exceptions

from desktop.core.errors import EngineTimeout, EngineUnavailable, LabdockError
from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.core.validation import lower_case_problem
from desktop.engines.container_spec import DockerSettings
from desktop.engines.docker_engine import DockerEngine
from desktop.engines.docker_errors import (
    DockerRefused,
    refused,
    status_of,
    to_labdock_error,
    with_context,
)
from desktop.manager import NotebookManager
from desktop.store import Paths, SpecStore, install_id
from tests.conftest import TEST_PREFIX, Engine, arun, need, write_test_settings
from tests.support.fault_proxy import CLOSE, GARBAGE, HANG, TRUNCATE, Fault, FaultProxy, running
from tests.support.images import PLAIN_IMAGE

pytestmark = pytest.mark.docker

TIMEOUT = 3.0  # the engine's timeout here: a hung engine must end a row within TIMEOUT + SLACK
SLACK = 5.0
STOP_TIMEOUT = 1.0
MANAGER_BOUND = 30.0  # the manager's own bound, far above TIMEOUT: the engine's timeout is what is tested
UID = os.getuid() or 1000
UNPULLABLE = "127.0.0.1:9/labdock/nothing:1"  # loopback: even a pull that got through reaches nothing
BUSY = (NotebookState.CREATING, NotebookState.PULLING, NotebookState.STARTING, NotebookState.STOPPING)
ID = r"[0-9a-f]{64}"

CREATE = ("POST", r"/containers/create")
START = ("POST", rf"/containers/{ID}/start")
STOP = ("POST", rf"/containers/{ID}/stop")
DELETE = ("DELETE", rf"/containers/{ID}(\?|$)")
LIST = ("GET", r"/containers/json")
LOGS = ("GET", rf"/containers/{ID}/logs")
PULL = ("POST", r"/images/create")
IMAGE = ("GET", r"/images/.+/json")


@dataclass(frozen=True)
class Case:
    op: str  # create, pull, start, stop, remove, refresh, logs
    request: tuple[str, str]
    fault: Fault
    expect: str  # part of the one-line message

    def __str__(self) -> str:
        return f"{self.op}-{self.fault}"

    @property
    def on_running(self) -> bool:
        """Acts on a READY notebook (shared by these cases: a failed stop or log read leaves it running)."""
        return self.op in ("stop", "logs") or (self.op == "remove" and self.request == DELETE)


CASES = [
    Case(
        "create", CREATE, Fault.error(400, "bad parameter: no"), "Docker could not create the container: bad parameter"
    ),
    Case(
        "create", CREATE, Fault.error(404, "No such image: x:1"), "Docker could not create the container: No such image"
    ),
    Case("create", CREATE, Fault.error(409, "Conflict. The name is in use"), "Docker could not create the container"),
    Case("create", CREATE, Fault.error(500, "injected fault"), "Docker could not create the container: injected fault"),
    Case("create", CREATE, CLOSE, "closed the connection before it had answered"),
    Case("create", CREATE, HANG, f"Docker did not answer within {TIMEOUT:g} s"),
    Case("create", CREATE, TRUNCATE, "closed the connection before it had answered"),  # Docker did create it
    Case(
        "create", IMAGE, Fault.error(400, "invalid reference format: repository name must be lowercase"), "lower case"
    ),
    Case("pull", PULL, Fault.error(500, "injected fault"), "could not be pulled: Docker failed: injected fault"),
    Case("pull", PULL, HANG, f"could not be pulled: Docker did not answer within {TIMEOUT:g} s"),
    Case("start", START, Fault.error(404, "No such container: x"), "Docker could not start the container: No such"),
    Case("start", START, Fault.error(500, "injected fault"), "Docker could not start the container: injected fault"),
    Case("start", START, HANG, f"Docker did not answer within {TIMEOUT:g} s"),
    Case("remove", LIST, CLOSE, "closed the connection before it had answered"),
    Case("refresh", LIST, Fault.error(500, "injected fault"), "Docker failed: injected fault"),
    Case("refresh", LIST, CLOSE, "closed the connection before it had answered"),
    Case("refresh", LIST, HANG, f"Docker did not answer within {TIMEOUT:g} s"),
    Case("refresh", LIST, GARBAGE, "cut off or unreadable"),
    # On one running notebook (see `lab`): the removal, which stops it, comes last.
    Case("stop", STOP, Fault.error(500, "injected fault"), "Docker could not stop the container: injected fault"),
    Case("stop", STOP, CLOSE, "closed the connection before it had answered"),
    Case("stop", STOP, HANG, f"Docker did not answer within {TIMEOUT:g} s"),
    Case("logs", LOGS, Fault.error(500, "injected fault"), "Docker could not read the log: injected fault"),
    Case("logs", LOGS, HANG, f"Docker did not answer within {TIMEOUT:g} s"),
    Case("remove", DELETE, Fault.error(500, "injected fault"), "Docker could not remove the container: injected"),
]
SETTLED = {  # the row's state after the fault: the end of a launch, or what it was before
    "create": NotebookState.FAILED,
    "pull": NotebookState.FAILED,
    "start": NotebookState.FAILED,
    "stop": NotebookState.READY,
    "remove": NotebookState.STOPPED,
    "refresh": NotebookState.STOPPED,
    "logs": NotebookState.READY,
}


@dataclass
class Outcome:
    message: str  # what was raised (or the engine problem a refresh recorded), else the row's error
    state: NotebookState | None
    error: str | None  # the row's
    seconds: float


@pytest.fixture
def proxy(docker_engine: Engine) -> Iterator[FaultProxy]:
    need(
        docker_engine.url.startswith("unix://"), f"the fault proxy needs a unix-socket engine, not {docker_engine.url}"
    )
    with running(docker_engine.url) as proxy:
        yield proxy


@pytest.fixture
def home(labdock_home: Path, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Labdock home whose Docker is the proxy, for managers and CLI runs alike."""
    monkeypatch.setenv("DOCKER_HOST", proxy.url)
    return labdock_home


class Lab:
    """A home with a READY notebook made without the proxy, shared by the cases that act on a running one
    (a launch is the slowest part of a case); launched again when a case has stopped it."""

    def __init__(self, home: Path, engine: Engine) -> None:
        write_test_settings(home)
        self.paths = Paths(home / "config", home / "data")
        self.engine = engine
        self.launches = 0
        self.name = ""

    def ensure(self) -> str:
        if not self.name or containers(self.engine, self.name) != ["running"]:
            self.launches += 1
            self.name = f"f-lab-{self.launches}"
            arun(launch_directly(self.paths, self.engine, self.name, PLAIN_IMAGE))
        return self.name


@pytest.fixture(scope="module")
def lab(docker_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("lab") / "home", docker_engine)
    yield lab
    for launch in range(1, lab.launches + 1):
        with contextlib.suppress(docker.errors.NotFound):
            docker_engine.client.api.remove_container(f"{TEST_PREFIX}f-lab-{launch}", force=True)


def manager_for(
    paths: Paths, url: str | None = None, *, timeout: float = TIMEOUT, pull: bool = False
) -> NotebookManager:
    """A manager built as desktop/services.py does, with a short engine timeout (url None: DOCKER_HOST)."""
    settings = DockerSettings(
        install_id=install_id(paths),
        base_url=url,
        container_prefix=TEST_PREFIX,
        pull_missing=pull,
        uid=UID,
        timeout=timeout,
    )
    return NotebookManager(
        [DockerEngine(settings)],
        paths,
        ready_timeout=60,
        stop_timeout=STOP_TIMEOUT,
        engine_timeout=MANAGER_BOUND,
        container_uid=UID,
    )


def spec(name: str, image: str) -> NotebookSpec:
    return NotebookSpec(name, image, network_mode=NetworkMode.HOST)


async def launch_directly(paths: Paths, engine: Engine, name: str, image: str) -> str:
    """A READY notebook made without the proxy (and its faults); its container id."""
    manager = manager_for(paths, engine.url, timeout=60)
    notebook = await manager.create(spec(name, image))
    assert notebook.state is NotebookState.READY, notebook.error
    await manager.close()
    assert notebook.container_id is not None
    return notebook.container_id


def containers(engine: Engine, name: str) -> list[str]:
    """States of the test containers carrying this notebook's name, straight from Docker."""
    rows = engine.client.api.containers(all=True, filters={"name": f"^/{TEST_PREFIX}{name}$"})
    return [str(row["State"]) for row in rows]


def assert_one_line(message: str) -> None:
    assert message, "no message"
    assert "\n" not in message.split("; last log lines:")[0], message  # only a launch's log tail has lines
    assert "Traceback" not in message and "internal error" not in message, message


async def timed(operation: Awaitable[Any]) -> tuple[Any, str | None, float]:
    began = time.monotonic()
    try:
        async with asyncio.timeout(TIMEOUT + STOP_TIMEOUT + SLACK + 10):  # a stuck case fails, not the run
            result = await operation
    except LabdockError as exc:
        return None, str(exc), time.monotonic() - began
    return result, None, time.monotonic() - began


async def run_case(case: Case, paths: Paths, proxy: FaultProxy, image: str, name: str) -> Outcome:
    if case.op in ("start", "remove", "refresh") and not case.on_running:
        SpecStore(paths).put(remembered(spec(name, image), paths))
    manager = manager_for(paths, pull=case.op == "pull")
    try:
        await manager.restore()
        proxy.add(*case.request, case.fault)
        operations: dict[str, Callable[[], Awaitable[Any]]] = {
            "create": lambda: manager.create(spec(name, image)),
            "pull": lambda: manager.create(spec(name, UNPULLABLE)),
            "start": lambda: manager.start(name),
            "stop": lambda: manager.stop(name),
            "remove": lambda: manager.remove(name),
            "refresh": manager.refresh,
            "logs": lambda: manager.logs(name),
        }
        result, raised, seconds = await timed(operations[case.op]())
        rows = {n.name: n for n in manager.list()}
        row = rows.get(name)
        if case.op == "refresh":
            assert result is False and raised is None
            raised = manager.engine_problem
        message = raised or (row.error if row is not None else None) or ""
        return Outcome(message, row.state if row is not None else None, row.error if row else None, seconds)
    finally:
        proxy.clear()
        await manager.close()


def remembered(notebook: NotebookSpec, paths: Paths) -> NotebookSpec:
    """The spec as a notebook that ran before and was stopped is remembered: with its work folder."""
    work = paths.default_work_dir(notebook.name)
    work.mkdir(parents=True, exist_ok=True)
    return NotebookSpec(notebook.name, notebook.image, network_mode=notebook.network_mode, work_dir=work)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_fault(
    case: Case, request: pytest.FixtureRequest, proxy: FaultProxy, docker_engine: Engine, images: Any
) -> None:
    if case.on_running:
        lab: Lab = request.getfixturevalue("lab")
        name, paths = lab.ensure(), lab.paths
        request.getfixturevalue("monkeypatch").setenv("DOCKER_HOST", proxy.url)
    else:
        request.getfixturevalue("home")
        name, paths = f"f-{case.op}", Paths.default()
    outcome = arun(run_case(case, paths, proxy, images.plain, name), timeout=120)

    assert case.expect in outcome.message, outcome
    assert_one_line(outcome.message)
    assert outcome.state not in BUSY, outcome
    assert outcome.state is SETTLED[case.op], outcome
    assert outcome.seconds < TIMEOUT + STOP_TIMEOUT + SLACK, outcome
    if case.op == "stop":  # back to READY, with the reason on the row
        assert outcome.error == f"could not stop: {outcome.message}", outcome
    left = containers(docker_engine, name)
    if case.op in ("create", "pull", "start"):
        assert left == [], "a failed launch left a container"
        assert paths.default_work_dir(name).is_dir(), "the work folder is the user's: kept"
    elif case.op in ("stop", "logs"):
        assert left == ["running"], "the notebook must still run after a failed stop or log read"
    elif case.op == "remove" and case.request == DELETE:
        assert left == ["exited"], "stopped as asked; its removal failed and was said"
    else:
        assert left == []


def test_upper_case_image_is_refused_before_any_pull(home: Path, proxy: FaultProxy, docker_engine: Engine) -> None:
    """Docker would take 'Quay.io' for a registry and ask it; Labdock says 'use lower case' first."""
    proxy.add(*PULL, Fault.error(500, "no pull may leave this machine"))  # a guard, never reached
    paths = Paths.default()

    async def scenario() -> list[str]:
        manager = manager_for(paths, pull=True)
        messages = []
        for name, image in (("upper", "Quay.io/jupyter/base"), ("upper-path", "quay.io/Jupyter/base:Latest")):
            try:
                notebook = await manager.create(spec(name, image))
            except LabdockError as exc:  # refused before any row: as good
                messages.append(str(exc))
                continue
            assert notebook.state is NotebookState.FAILED
            messages.append(notebook.error or "")
        await manager.close()
        return messages

    messages = arun(scenario())
    assert messages == [
        "invalid image reference 'Quay.io/jupyter/base': use lower case",
        "invalid image reference 'quay.io/Jupyter/base:Latest': use lower case",
    ]
    assert proxy.requests("POST", r"/images/create") == []
    assert containers(docker_engine, "upper") == []


# -- the same faults through the CLI ------------------------------------------------------------------


def cli(home: Path, proxy: FaultProxy, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABDOCK_HOME": str(home), "DOCKER_HOST": proxy.url}
    env.pop("LABDOCK_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
    )


def assert_cli_failed(result: subprocess.CompletedProcess[str], expect: str) -> None:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labdock: "), result.stderr
    assert expect in lines[0], lines[0]
    assert_one_line(lines[0])


@pytest.mark.parametrize(
    ("args", "request_", "fault", "expect"),
    [
        (["new", "c-new"], CREATE, Fault.error(500, "injected fault"), "Docker could not create the container"),
        (["new", "c-new"], CREATE, CLOSE, "closed the connection"),
        (["new", "c-pull", "--image", UNPULLABLE], PULL, Fault.error(500, "injected fault"), "could not be pulled"),
        (["ls"], LIST, CLOSE, "closed the connection"),
        (["ls"], LIST, Fault.error(500, "injected fault"), "Docker failed: injected fault"),
        (["new", "c-upper", "--image", "Quay.io/jupyter/base"], PULL, Fault.error(500, "guard"), "use lower case"),
    ],
    ids=["new-500", "new-close", "pull-500", "ls-close", "ls-500", "new-upper-case"],
)
def test_cli_fault(
    args: list[str],
    request_: tuple[str, str],
    fault: Fault,
    expect: str,
    home: Path,
    proxy: FaultProxy,
    docker_engine: Engine,
) -> None:
    if "c-pull" in args:
        write_test_settings(home, pull_missing=True)
    proxy.add(*request_, fault)
    assert_cli_failed(cli(home, proxy, *args), expect)
    assert containers(docker_engine, args[1] if len(args) > 1 else "-") == []
    if "c-pull" not in args:
        assert proxy.requests(*PULL) == [], "no pull was asked for"


def test_cli_faults_on_a_running_notebook(home: Path, proxy: FaultProxy, docker_engine: Engine, images: Any) -> None:
    """stop and logs that fail leave the notebook running; rm whose removal fails says so and leaves it
    stopped; each time exit status 1 and one line."""
    paths = Paths.default()
    arun(launch_directly(paths, docker_engine, "c-run", images.plain))

    proxy.add(*STOP, Fault.error(500, "injected fault"))
    assert_cli_failed(cli(home, proxy, "stop", "c-run"), "could not stop")
    assert containers(docker_engine, "c-run") == ["running"]
    proxy.clear()

    proxy.add(*LOGS, CLOSE)
    assert_cli_failed(cli(home, proxy, "logs", "c-run"), "closed the connection")
    assert containers(docker_engine, "c-run") == ["running"]
    proxy.clear()

    proxy.add(*DELETE, Fault.error(500, "injected fault"))
    assert_cli_failed(cli(home, proxy, "rm", "c-run"), "Docker could not remove the container")
    assert containers(docker_engine, "c-run") == ["exited"]
    proxy.clear()

    result = cli(home, proxy, "rm", "c-run")  # the engine is well again: the removal goes through
    assert result.returncode == 0, result
    assert containers(docker_engine, "c-run") == []


# -- the mapping itself, without Docker -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "bad"),
    [
        ("quay.io/jupyter/base-notebook:2024-01-01", False),
        ("localhost:5000/x/y:Tag_1", False),
        ("repo@sha256:" + "a" * 64, False),
        ("Quay.io/jupyter/base", True),
        ("quay.io/Jupyter/base", True),
        ("Base:latest", True),
        ("LocalHost:5000/x", True),
    ],
)
def test_lower_case_rule(image: str, bad: bool) -> None:
    assert (lower_case_problem(image) is not None) is bad


def test_docker_400_for_case_names_the_image() -> None:
    error = refused(400, "invalid reference format: repository name must be lowercase", image="labdock/X")
    assert str(error) == "invalid image reference 'labdock/X': use lower case" and error.status == 400


def _api_error(status: int, explanation: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    cls = docker.errors.NotFound if status == 404 else docker.errors.APIError
    return cls(f"{status} Client Error", response=response, explanation=explanation)


def _wrapped(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


def _aborted(reason: BaseException) -> requests.ConnectionError:
    return requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", reason))


@pytest.mark.parametrize(
    ("exc", "kind", "expect"),
    [
        (requests.ReadTimeout("Read timed out. (read timeout=60)"), EngineTimeout, "did not answer within 60 s"),
        (urllib3.exceptions.ReadTimeoutError(None, "/x", "Read timed out."), EngineTimeout, "within 60 s"),  # type: ignore[arg-type]
        (
            _wrapped(docker.errors.DockerException("Error while fetching server API version"), requests.ReadTimeout()),
            EngineTimeout,
            "did not answer within 60 s",
        ),
        (_aborted(FileNotFoundError(2, "No such file or directory")), EngineUnavailable, "is not reachable at unix://"),
        (_aborted(ConnectionRefusedError(111, "refused")), EngineUnavailable, "is not reachable"),
        (_aborted(PermissionError(13, "Permission denied")), EngineUnavailable, "usermod -aG docker"),
        (_aborted(http.client.RemoteDisconnected("Remote end closed")), EngineUnavailable, "closed the connection"),
        (requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"), EngineUnavailable, "closed"),
        (struct.error("unpack requires a buffer of 8 bytes"), EngineUnavailable, "closed the connection"),
        (json.JSONDecodeError("Expecting value", "", 0), EngineUnavailable, "cut off or unreadable"),
        (docker.errors.TLSParameterError("bad certificate"), EngineUnavailable, "cannot be used: bad certificate"),
        (_api_error(500, "driver failed\nprogramming"), DockerRefused, "Docker failed: driver failed programming"),
        (_api_error(400, "bad parameter"), DockerRefused, "Docker refused the request: bad parameter"),
        (_api_error(404, "No such container: x"), DockerRefused, "No such container: x"),
        (_api_error(409, "Conflict"), DockerRefused, "Conflict"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_every_sdk_exception_becomes_one_line(exc: BaseException, kind: type[LabdockError], expect: str) -> None:
    error = to_labdock_error(exc, where="unix:///run/docker.sock", timeout=60)
    assert type(error) is kind and expect in str(error), error
    assert_one_line(str(error))
    assert isinstance(error, DockerRefused) == (status_of(exc) is not None)


def test_context_keeps_the_kind_of_error() -> None:
    timed_out = with_context(EngineTimeout("Docker did not answer within 3 s"), "the image 'x' could not be pulled")
    assert type(timed_out) is EngineTimeout and str(timed_out).startswith("the image 'x' could not be pulled: ")
    refusal = with_context(refused(500, "boom"), "prefix")
    assert isinstance(refusal, DockerRefused) and refusal.status == 500
