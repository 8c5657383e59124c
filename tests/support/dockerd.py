"""A Docker engine for the tests: the one at DOCKER_HOST if it answers, else a private dockerd.

The private daemon follows the workplace recipe: no bridge network, no iptables, its own data root
(kept under the cache dir so built images survive between runs) and a short exec root for its socket.
"""

from __future__ import annotations

import ctypes
import fcntl
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
    """A reachable engine; `process` is set when this session started it (and so may restart it).

    Test sessions share the private daemon; each holds a shared lock on its users file while it uses
    it, and the last one out stops it, whoever started it: a session never pulls the engine from
    under another one still running.
    """

    base_url: str
    process: subprocess.Popen[bytes] | None = None
    exec_root: Path | None = None
    command: tuple[str, ...] = ()
    users_fd: int | None = None

    @property
    def restartable(self) -> bool:
        return self.process is not None

    def stop_engine(self) -> None:
        """Stop dockerd only (with --live-restore, containers keep running)."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def start_engine(self, timeout: float = 60.0) -> None:
        self.process = spawn_dockerd(list(self.command), self.base_url, timeout)

    def stop(self) -> None:
        """Leave the engine; stop it only when no other session still uses it."""
        if self.users_fd is not None:
            last = _last_user(self.users_fd)
            try:
                if last:
                    self.stop_engine()
                    if self.process is None:
                        stop_leftover(CACHE_DIR / "docker-data")  # started by a session that has ended
                    _remove_exec_root(self.exec_root or Path(self.base_url.removeprefix("unix://")).parent)
            finally:
                os.close(self.users_fd)  # drops the lock
                self.users_fd = None
            return
        self.stop_engine()
        _remove_exec_root(self.exec_root)


def _last_user(fd: int) -> bool:
    """Turn this session's shared lock into an exclusive one, if no other session holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _remove_exec_root(exec_root: Path | None) -> None:
    if exec_root is not None and exec_root.name.startswith("ldk-") and exec_root.parent == Path("/tmp"):
        shutil.rmtree(exec_root, ignore_errors=True)


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
    data_root = CACHE_DIR / "docker-data"
    data_root.mkdir(parents=True, exist_ok=True)
    users = os.open(data_root / "dockerd.users", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(users, fcntl.LOCK_SH)  # waits while a last user is stopping it
    try:
        running = _running_private(data_root)
        if running is not None:
            return Daemon(running, users_fd=users)  # another session's daemon: shared until the last one leaves
        stop_leftover(data_root)
        exec_root = Path(tempfile.mkdtemp(prefix="ldk-", dir="/tmp"))
        cmd = dockerd_command(data_root, exec_root, live_restore=True)  # as users run it: notebooks outlive a restart
        base_url = socket_url(exec_root)
        (data_root / "dockerd.url").write_text(base_url)  # how other sessions find it to share it
        return Daemon(base_url, spawn_dockerd(cmd, base_url, timeout), exec_root, tuple(cmd), users_fd=users)
    except BaseException:
        os.close(users)
        raise


def dockerd_command(data_root: Path, exec_root: Path, *, bridge: str = "none", live_restore: bool = False) -> list[str]:
    """dockerd with its own data and exec roots, never touching iptables or forwarding.

    bridge is "none" in the machine's own network namespace (the network rule); only a daemon inside a
    namespace the run created may name a bridge of that namespace.
    """
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise RuntimeError(
            "no Docker engine answers and dockerd is not installed "
            "(apt-get install docker.io, or run the README's test command)"
        )
    return [
        dockerd,
        f"--bridge={bridge}",
        "--iptables=false",
        "--ip-masq=false",
        "--ip6tables=false",
        "--ip-forward=false",
        *(["--live-restore"] if live_restore else []),
        f"--data-root={data_root}",
        f"--exec-root={exec_root}",
        f"--pidfile={data_root / 'dockerd.pid'}",
        f"-H={socket_url(exec_root)}",
    ]


def socket_url(exec_root: Path) -> str:
    return f"unix://{exec_root / 'docker.sock'}"


def spawn_dockerd(
    cmd: list[str], base_url: str, timeout: float, log_path: Path | None = None, die_with_parent: bool = False
) -> subprocess.Popen[bytes]:
    log_path = log_path or CACHE_DIR / "dockerd.log"
    log = log_path.open("ab")
    process = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=term_with_parent if die_with_parent else None,
    )
    log.close()
    sock = Path(base_url.removeprefix("unix://"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if sock.exists() and answers(base_url, timeout=1.0):
            return process
        time.sleep(0.1)
    process.kill()
    process.wait()
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"private dockerd did not start:\n{tail}")


def term_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies, however it dies (even kill -9)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _running_private(data_root: Path) -> str | None:
    try:
        url = (data_root / "dockerd.url").read_text().strip()
    except OSError:
        return None
    return url if answers(url, timeout=1.0) else None


def running_dockerd(data_root: Path) -> int | None:
    """The pid of the dockerd holding that data root, if one runs: its pidfile, checked against /proc (a pid
    reused by something else is not ours; a zombie has no command line)."""
    try:
        pid = int((data_root / "dockerd.pid").read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except (OSError, ValueError):
        return None
    return pid if command.endswith(b"dockerd") else None


def stop_leftover(data_root: Path) -> None:
    """A daemon left by a killed run still holds the data root: stop it first."""
    pid = running_dockerd(data_root)
    if pid is None:
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
