"""Readiness, and the loopback requests that carry the token (readiness probe, JupyterLab preferences).

A server that answers without its token is not READY. With http_proxy / all_proxy pointing at a real
listener on loopback, the token's requests still go straight to the server: the listener sees nothing
(and a naive client, the control, does reach it).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from desktop.core.errors import LaunchFailed
from desktop.engines.base import Exit
from desktop.engines.readiness import NO_TOKEN_NEEDED, http_status, wait_ready
from desktop.ui.lab_prefs import NOTIFICATION_PLUGIN, turn_off_news

TOKEN = "t0ken-for-tests"
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


async def no_exit() -> Exit | None:
    return None


@dataclass
class Recorded:
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, path, Authorization)
    settings: dict[str, str] = field(default_factory=dict)


class FakeLab(http.server.BaseHTTPRequestHandler):
    """api/status and the settings API, like jupyter_server; `require_token` False is an open server."""

    recorded: Recorded
    require_token: bool

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _allowed(self) -> bool:
        auth = self.headers.get("Authorization")
        self.recorded.requests.append((self.command, self.path, auth))
        if auth == f"token {TOKEN}" or not self.require_token:
            return True
        self._answer(403, {"message": "Forbidden"})
        return False

    def do_GET(self) -> None:
        if not self._allowed():
            return
        if self.path == "/api/status":
            self._answer(200, {"started": "now"})
        else:
            self._answer(200, {"settings": dict(self.recorded.settings)})

    def do_PUT(self) -> None:
        if not self._allowed():
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.recorded.settings = json.loads(body["raw"])
        self._answer(204, {})

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def fake_lab(require_token: bool) -> Iterator[tuple[str, Recorded]]:
    recorded = Recorded()
    handler = type("Handler", (FakeLab,), {"recorded": recorded, "require_token": require_token})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", recorded
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class ProxyTrap:
    """A real listener on a loopback port, set as every proxy variable: it records whatever reaches it."""

    url: str
    received: list[bytes]


@pytest.fixture
def proxy_trap(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProxyTrap]:
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    received.append(conn.recv(65536))
                except OSError:
                    received.append(b"")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, url)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield ProxyTrap(url, received)
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_the_proxy_trap_catches_a_client_that_honours_the_environment(proxy_trap: ProxyTrap) -> None:
    """The control: without a bypass, a loopback request with the token goes to the proxy."""
    with fake_lab(require_token=True) as (url, recorded):
        request = urllib.request.Request(url + "api/status", headers={"Authorization": f"token {TOKEN}"})
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.build_opener().open(request, timeout=5)  # not urlopen: it keeps its opener for later
    assert any(TOKEN.encode() in data for data in proxy_trap.received)
    assert recorded.requests == []


def test_ready_needs_the_token_and_a_refusal_without_it(proxy_trap: ProxyTrap) -> None:
    with fake_lab(require_token=True) as (url, recorded):
        asyncio.run(wait_ready(url, TOKEN, no_exit, timeout=10))
    assert recorded.requests == [("GET", "/api/status", f"token {TOKEN}"), ("GET", "/api/status", None)]
    assert proxy_trap.received == []


def test_a_server_that_answers_without_its_token_is_not_ready(proxy_trap: ProxyTrap) -> None:
    with fake_lab(require_token=False) as (url, recorded), pytest.raises(LaunchFailed) as failed:
        asyncio.run(wait_ready(url, TOKEN, no_exit, timeout=10))
    assert str(failed.value) == NO_TOKEN_NEEDED == "the server does not require a token (check jupyter_server_config)"
    assert len(recorded.requests) == 2  # the check costs one request
    assert proxy_trap.received == []


def test_lab_preferences_bypass_the_proxy(proxy_trap: ProxyTrap) -> None:
    with fake_lab(require_token=True) as (url, recorded):
        asyncio.run(turn_off_news(f"{url}lab?token={TOKEN}"))
    path = f"/lab/api/settings/{NOTIFICATION_PLUGIN}"
    assert recorded.requests == [("GET", path, f"token {TOKEN}"), ("PUT", path, f"token {TOKEN}")]
    assert recorded.settings == {"fetchNews": "false"}
    assert proxy_trap.received == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def jupyter_server(tmp_path: Path, token: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real jupyter_server on loopback, with its own config/data/runtime folders."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES},  # the trap is for our requests
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={tmp_path}",
        f"--IdentityProvider.token={token}",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}/", server
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def exit_of(server: subprocess.Popen[bytes], log: Path) -> Exit | None:
    code = server.poll()
    return None if code is None else Exit(code, False, log.read_text(errors="replace")[-2000:])


@pytest.mark.parametrize(("token", "ready"), [(TOKEN, True), ("", False)], ids=["with-token", "empty-token"])
def test_a_real_jupyter_server(tmp_path: Path, proxy_trap: ProxyTrap, token: str, ready: bool) -> None:
    """c.IdentityProvider.token = '' gives an open server: the launch fails with the one-line reason."""
    with jupyter_server(tmp_path, token) as (url, server):

        async def ended() -> Exit | None:
            return exit_of(server, tmp_path / "server.log")

        started = time.monotonic()
        if ready:
            asyncio.run(wait_ready(url, TOKEN, ended, timeout=60))
            assert asyncio.run(http_status(url, "api/status", None)) == 403
        else:
            with pytest.raises(LaunchFailed, match="does not require a token"):
                asyncio.run(wait_ready(url, TOKEN, ended, timeout=60))
        assert time.monotonic() - started < 60
    assert proxy_trap.received == []
