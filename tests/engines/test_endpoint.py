"""Which engine Labdock talks to: the docker CLI's order (Preferences, DOCKER_HOST, DOCKER_CONTEXT, the context
chosen with `docker context use`), then the rootless, system and Podman sockets; and the engine line.

The first part is pure (files, environment and listening sockets under a temporary folder); the second uses
the test engine through contexts made by the real `docker` CLI in a temporary DOCKER_CONFIG, a rootless-style
socket under a temporary XDG_RUNTIME_DIR, and `labdock ls` as a user runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker.context.config import get_context_id

from desktop.core.errors import EngineUnavailable
from desktop.engines import endpoint
from desktop.engines.docker_errors import to_labdock_error
from desktop.engines.endpoint import Endpoint, identify, list_contexts, load_context, resolve
from desktop.services import build_services
from desktop.store import Paths
from tests.conftest import Engine, arun, need, write_test_settings

LABELS = ("the rootless Docker socket", "the system socket", "Podman's user socket", "Podman's system socket")


# -- helpers: contexts written as the docker CLI writes them, sockets that listen or not ----------------


def write_context(config: Path, name: str, host: str, description: str = "") -> None:
    folder = config / "contexts" / "meta" / get_context_id(name)
    folder.mkdir(parents=True)
    meta = {"Name": name, "Metadata": {"Description": description}, "Endpoints": {"docker": {"Host": host}}}
    (folder / "meta.json").write_text(json.dumps(meta))


def use_context(config: Path, name: str) -> None:
    (config / "config.json").write_text(json.dumps({"auths": {}, "currentContext": name}))


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[list[tuple[Path, str]]]:
    """Four local sockets in the resolver's order, each with something listening on it."""
    servers = []
    sockets = []
    for index, label in enumerate(LABELS):
        path = tmp_path / "sockets" / f"{index}.sock"
        path.parent.mkdir(exist_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen()
        servers.append(server)
        sockets.append((path, label))
    yield sockets
    for server in servers:
        server.close()


def base_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "docker-config"
    config.mkdir(exist_ok=True)
    write_context(config, "cur", "unix:///cur.sock")
    write_context(config, "env", "unix:///env.sock")
    use_context(config, "cur")
    return {"DOCKER_CONFIG": str(config), "HOME": str(tmp_path)}


# -- precedence ------------------------------------------------------------------------------------------

PRECEDENCE = [
    # (settings host, settings context, environment, expected url, expected source)
    ("tcp://127.0.0.1:2375", "env", {"DOCKER_HOST": "unix:///h.sock"}, "tcp://127.0.0.1:2375", "the Docker host in P"),
    (None, "env", {"DOCKER_HOST": "unix:///h.sock"}, "unix:///env.sock", "context env"),
    (None, None, {"DOCKER_HOST": "unix:///h.sock", "DOCKER_CONTEXT": "env"}, "unix:///h.sock", "DOCKER_HOST"),
    (None, None, {"DOCKER_CONTEXT": "env"}, "unix:///env.sock", "context env"),
    (None, None, {}, "unix:///cur.sock", "context cur"),
    (None, "default", {}, "socket 0", LABELS[0]),  # "default": DOCKER_HOST, else the sockets
    (None, "default", {"DOCKER_HOST": "unix:///h.sock"}, "unix:///h.sock", "DOCKER_HOST"),
    (None, None, {"DOCKER_CONTEXT": "default"}, "socket 0", LABELS[0]),
]


@pytest.mark.parametrize(("host", "context", "extra", "url", "source"), PRECEDENCE)
def test_precedence(
    tmp_path: Path,
    listening: list[tuple[Path, str]],
    host: str | None,
    context: str | None,
    extra: dict[str, str],
    url: str,
    source: str,
) -> None:
    env = {**base_env(tmp_path), **extra}
    found = resolve(host, context, env=env, sockets=listening)
    expected = f"unix://{listening[0][0]}" if url == "socket 0" else url
    assert (found.url, found.problem) == (expected, None)
    assert found.source.startswith(source)


def test_without_contexts_the_first_listening_socket_wins(tmp_path: Path, listening: list[tuple[Path, str]]) -> None:
    env = {"HOME": str(tmp_path)}  # no ~/.docker at all
    for index in range(len(LABELS)):
        found = resolve(env=env, sockets=listening[index:])
        assert (found.url, found.source) == (f"unix://{listening[index][0]}", LABELS[index])
        assert found.product == ("Podman" if index >= 2 else "Docker")


def test_a_stale_socket_is_passed_over(tmp_path: Path, listening: list[tuple[Path, str]]) -> None:
    stale = tmp_path / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(stale))
    dead.close()  # the file stays, nobody listens: what a stopped rootless dockerd leaves
    sockets = [(stale, LABELS[0]), *listening[1:]]
    found = resolve(env={"HOME": str(tmp_path)}, sockets=sockets)
    assert found.source == LABELS[1] and str(stale) in found.looked


def test_a_socket_we_may_not_open_is_chosen_for_its_advice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sockets = [(tmp_path / f"{i}.sock", label) for i, label in enumerate(LABELS)]
    monkeypatch.setattr(endpoint, "_accepts", lambda path: None if path == sockets[1][0] else False)
    found = resolve(env={"HOME": str(tmp_path)}, sockets=sockets)
    assert found.source == LABELS[1]
    error = to_labdock_error(PermissionError(13, "Permission denied"), where=found.where(), timeout=60)
    assert "refused access" in str(error) and "docker' group" in str(error)


def test_nothing_anywhere_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endpoint, "SYSTEM_SOCKET", tmp_path / "var-run" / "docker.sock")
    monkeypatch.setattr(endpoint, "PODMAN_SYSTEM_SOCKET", tmp_path / "run-podman" / "podman.sock")
    env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "xdg")}
    found = resolve(env=env)
    assert found.url == f"unix://{tmp_path}/var-run/docker.sock" and found.source == "the system socket"
    error = to_labdock_error(FileNotFoundError(2, "No such file"), where=found.where(), timeout=60)
    message = str(error)
    assert isinstance(error, EngineUnavailable) and "\n" not in message
    assert message.startswith(f"Docker is not reachable at unix://{tmp_path}/var-run/docker.sock (the system socket")
    for looked in ("xdg/docker.sock", "xdg/podman/podman.sock", "run-podman/podman.sock"):
        assert looked in message


def test_a_podman_socket_that_refuses_gets_podman_advice(tmp_path: Path) -> None:
    found = Endpoint("unix:///run/podman/podman.sock", "Podman's system socket", product="Podman")
    error = to_labdock_error(PermissionError(13, "denied"), where=found.where(), timeout=60, product=found.product)
    assert "Podman at unix:///run/podman/podman.sock" in str(error) and "systemctl --user" in str(error)


# -- contexts --------------------------------------------------------------------------------------------


def test_a_missing_context_is_a_problem_that_names_the_others(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "DOCKER_CONTEXT": "nosuch"}
    found = resolve(env=env)
    assert found.url is None and found.problem is not None
    assert "'nosuch' (from DOCKER_CONTEXT) does not exist" in found.problem
    assert "default, cur, env" in found.problem


def test_contexts_listed_as_docker_context_ls(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    broken = Path(env["DOCKER_CONFIG"]) / "contexts" / "meta" / ("0" * 64)
    broken.mkdir()
    (broken / "meta.json").write_text("{not json")  # skipped, not fatal
    listed = list_contexts(env)
    assert [(c.name, c.host, c.current) for c in listed] == [
        ("default", "unix:///var/run/docker.sock", False),
        ("cur", "unix:///cur.sock", True),
        ("env", "unix:///env.sock", False),
    ]
    marked = list_contexts({**env, "DOCKER_CONTEXT": "env"})
    assert [c.name for c in marked if c.current] == ["env"]


def test_context_tls_material_is_used(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    write_context(Path(env["DOCKER_CONFIG"]), "secure", "tcp://127.0.0.1:2376")
    tls_dir = Path(env["DOCKER_CONFIG"]) / "contexts" / "tls" / get_context_id("secure") / "docker"
    tls_dir.mkdir(parents=True)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tls_dir / name).write_text("-----BEGIN TEST-----\n")
    found = load_context("secure", env)
    assert found is not None and found.tls is not None
    assert found.tls.cert == (str(tls_dir / "cert.pem"), str(tls_dir / "key.pem"))
    assert found.tls.ca_cert == str(tls_dir / "ca.pem") and found.tls.verify


# -- what answered ---------------------------------------------------------------------------------------


def test_identify_docker_podman_and_docker_desktop() -> None:
    docker_ce = {"Version": "28.1.1", "Components": [{"Name": "Engine", "Version": "28.1.1"}]}
    debian = {"Version": "20.10.24+dfsg1", "Components": [{"Name": "Engine", "Version": "20.10.24+dfsg1"}]}
    desktop = {"Platform": {"Name": "Docker Desktop 4.41.2 (191736)"}, **docker_ce}
    podman = {"Version": "4.3.1", "Components": [{"Name": "Podman Engine", "Version": "4.3.1"}]}
    where = Endpoint("unix:///home/u/.docker/desktop/docker.sock", "context desktop-linux")
    assert identify(desktop).line(where) == f"Docker 28.1 via context desktop-linux ({where.url})"
    assert identify(debian).line(where).startswith("Docker 20.10 via")
    assert identify(podman).line(Endpoint("unix:///p.sock", "DOCKER_HOST")) == (
        "Podman 4.3 (Docker API) via DOCKER_HOST (unix:///p.sock)"
    )


# -- for real: the test engine through contexts, a rootless-style socket and `labdock ls` ---------------


def docker_cli(config: Path, *args: str) -> str:
    result = subprocess.run(
        ["docker", *args],
        env={**_clean_env(), "DOCKER_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG")}


def labdock(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture
def cli_contexts(tmp_path: Path, docker_engine: Engine) -> Path:
    """A DOCKER_CONFIG where the docker CLI made 'ldtest' (the test engine, current) and 'ldbroken'."""
    need(shutil.which("docker") is not None, "the docker CLI is not on PATH")
    config = tmp_path / "docker-config"
    docker_cli(config, "context", "create", "ldtest", "--docker", f"host={docker_engine.url}")
    docker_cli(config, "context", "create", "ldbroken", "--docker", f"host=unix://{tmp_path}/nothing.sock")
    docker_cli(config, "context", "use", "ldtest")
    return config


@pytest.fixture
def home_env(tmp_path: Path, docker_engine: Engine) -> dict[str, str]:
    """A Labdock home with the test settings and an environment with no DOCKER_* variables."""
    home = tmp_path / "home"
    write_test_settings(home)
    return {**_clean_env(), "LABDOCK_HOME": str(home), "HOME": str(tmp_path)}


def engine_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    assert lines[0].startswith("NAME") and lines[-1].startswith("engine: ")
    return lines[-1].removeprefix("engine: ")


def engine_version(docker_engine: Engine) -> str:
    return identify(docker_engine.client.version()).version


@pytest.mark.docker
def test_context_chosen_with_docker_context_use(
    cli_contexts: Path, home_env: dict[str, str], docker_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**home_env, "DOCKER_CONFIG": str(cli_contexts)}
    for key in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # Read as the docker CLI reads it.
    assert resolve().url == docker_cli(cli_contexts, "context", "inspect", "--format", "{{.Endpoints.docker.Host}}")
    assert [c.name for c in list_contexts()] == docker_cli(
        cli_contexts, "context", "ls", "--format", "{{.Name}}"
    ).split()

    services = build_services(Paths.default())

    async def scenario() -> str:
        try:
            assert await services.manager.refresh(), services.manager.engine_problem
            return await services.engine_description()
        finally:
            await services.manager.close()

    expected = f"Docker {engine_version(docker_engine)} via context ldtest ({docker_engine.url})"
    assert arun(scenario()) == expected
    assert engine_line(labdock(env, "ls")) == expected


@pytest.mark.docker
def test_docker_context_and_the_context_option_override_the_current_one(
    cli_contexts: Path, home_env: dict[str, str], tmp_path: Path, docker_engine: Engine
) -> None:
    env = {**home_env, "DOCKER_CONFIG": str(cli_contexts)}
    docker_cli(cli_contexts, "context", "use", "ldbroken")
    broken = labdock(env, "ls")
    assert broken.returncode == 1 and len(broken.stderr.strip().splitlines()) == 1
    assert f"not reachable at unix://{tmp_path}/nothing.sock (context ldbroken, chosen with `docker context use`)" in (
        broken.stderr
    )
    assert "via context ldtest" in engine_line(labdock({**env, "DOCKER_CONTEXT": "ldtest"}, "ls"))
    assert "via context ldtest" in engine_line(labdock(env, "--context", "ldtest", "ls"))


@pytest.mark.docker
def test_preferences_come_first(cli_contexts: Path, home_env: dict[str, str], tmp_path: Path) -> None:
    """A context saved in Preferences beats DOCKER_HOST (here a dead socket) and the current context."""
    write_test_settings(Path(home_env["LABDOCK_HOME"]), docker_context="ldtest")
    env = {**home_env, "DOCKER_CONFIG": str(cli_contexts), "DOCKER_HOST": f"unix://{tmp_path}/dead.sock"}
    docker_cli(cli_contexts, "context", "use", "ldbroken")
    assert "via context ldtest" in engine_line(labdock(env, "ls"))


@pytest.mark.docker
def test_rootless_socket_under_xdg_runtime_dir(home_env: dict[str, str], tmp_path: Path, docker_engine: Engine) -> None:
    need(docker_engine.url.startswith("unix://"), f"the test engine is not on a unix socket: {docker_engine.url}")
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    (runtime / "docker.sock").symlink_to(docker_engine.url.removeprefix("unix://"))
    env = {**home_env, "XDG_RUNTIME_DIR": str(runtime), "DOCKER_CONFIG": str(tmp_path / "empty-config")}
    line = engine_line(labdock(env, "ls"))
    assert (
        line == f"Docker {engine_version(docker_engine)} via the rootless Docker socket (unix://{runtime}/docker.sock)"
    )
