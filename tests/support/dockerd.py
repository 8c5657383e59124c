"""A Docker engine for the tests: the one at DOCKER_HOST if it answers, else a private dockerd.

The private daemon follows the workplace recipe: no bridge network, no iptables, its own data root
(kept under the cache dir so built images survive between runs) and a short exec root for its socket.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import DockerException

CACHE_DIR = Path(os.environ.get("LABDOCK_TEST_CACHE", Path.home() / ".cache" / "labdock-test"))


@dataclass
class Daemon:
    """A reachable engine; `process` is set when the tests started it and must stop it."""

    base_url: str
    process: subprocess.Popen[bytes] | None = None
    exec_root: Path | None = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.exec_root is not None:
            shutil.rmtree(self.exec_root, ignore_errors=True)


def answers(base_url: str, timeout: float = 3.0) -> bool:
    try:
        client = docker.DockerClient(base_url=base_url, timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (DockerException, OSError):
        return False


def existing_engine() -> str | None:
    """The engine the user already has (DOCKER_HOST or the default socket), if it answers."""
    for url in (os.environ.get("DOCKER_HOST"), "unix:///var/run/docker.sock"):
        if url and answers(url):
            return url
    return None


def start_private(timeout: float = 60.0) -> Daemon:
    """Start dockerd as in ENVIRONMENT.md; raises RuntimeError with its log when it cannot."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise RuntimeError(
            "no Docker engine answers and dockerd is not installed "
            "(apt-get install docker.io, or run the README's test command)"
        )
    data_root = CACHE_DIR / "docker-data"
    data_root.mkdir(parents=True, exist_ok=True)
    _stop_leftover(data_root)
    exec_root = Path(tempfile.mkdtemp(prefix="ldk-", dir="/tmp"))
    sock = exec_root / "docker.sock"
    log = (CACHE_DIR / "dockerd.log").open("wb")
    cmd = [
        dockerd,
        "--bridge=none",
        "--iptables=false",
        "--ip-masq=false",
        "--ip6tables=false",
        f"--data-root={data_root}",
        f"--exec-root={exec_root}",
        f"--pidfile={data_root / 'dockerd.pid'}",
        f"-H=unix://{sock}",
    ]
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"unix://{sock}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if sock.exists() and answers(base_url, timeout=1.0):
            return Daemon(base_url, process, exec_root)
        time.sleep(0.1)
    process.kill()
    tail = (CACHE_DIR / "dockerd.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"private dockerd did not start:\n{tail}")


def _stop_leftover(data_root: Path) -> None:
    """A daemon left by a killed run still holds the data root: stop it first."""
    pidfile = data_root / "dockerd.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
