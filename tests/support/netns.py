"""A Docker engine with a real bridge, inside a network namespace this test run creates.

The machine's own namespace may have no Docker bridge (the network rule in ENVIRONMENT.md), so the default
network mode is tested in a namespace of the run's own: `run_in_namespace()` starts
`unshare --net -- python -m tests.support.netns ...`, which in the fresh namespace

1. brings up loopback and a bridge NSBR (10.213.0.1/24),
2. starts a private dockerd on that bridge (its data root is cached under CACHE_DIR, one run at a time),
3. copies the test images in from the engine the outer session built them in (a unix socket is reachable
   from any network namespace), only those it lacks,
4. runs the given command (a pytest run) with DOCKER_HOST at that dockerd and INSIDE_ENV=1,
5. and tears everything down, also on failure, SIGINT and SIGTERM: the command, containers, dockerd, any
   process left in the namespace. If the runner is killed outright, the command and dockerd get SIGTERM from
   the kernel (PR_SET_PDEATHSIG), and dockerd stops its containers. With the last process in it gone, the
   namespace, its bridge and the containers' veths vanish.

Nothing here can leave the namespace: the containers reach only the bridge, and published ports are on the
namespace's own loopback (Docker's userland proxy, since --iptables=false).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import docker
from docker.errors import DockerException

from tests.support.dockerd import CACHE_DIR, dockerd_command, socket_url, spawn_dockerd, stop_leftover, term_with_parent
from tests.support.images import PLAIN_IMAGE, STACKS_IMAGE

INSIDE_ENV = "LABDOCK_TEST_NETNS"
NSBR = "nsbr0"
NSBR_ADDRESS = "10.213.0.1/24"
DATA_ROOT = CACHE_DIR / "netns-docker-data"
EXEC_ROOT_PREFIX = "ldn-"
LOCK_WAIT_S = 240.0  # another session's namespace run holds the cached data root meanwhile
NAMESPACE_MARK = "netns: "  # the runner's first line: the namespace it runs in, checked for leftovers after


def inside() -> bool:
    """True in a process the runner started (in its namespace, at its dockerd)."""
    return os.environ.get(INSIDE_ENV) == "1"


def missing() -> str | None:
    """Why a namespace run cannot happen here, or None."""
    if os.geteuid() != 0:
        return "a network namespace with a Docker bridge needs root"
    tools = {"unshare": "util-linux", "ip": "iproute2", "dockerd": "docker.io", "docker": "docker.io"}
    for tool, package in tools.items():
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed (apt-get install {package}; scripts/setup --test does)"
    return None


@dataclass
class NamespaceRun:
    """What a finished runner left: its exit status, its whole output, and processes still in its namespace."""

    returncode: int
    output: str
    namespace: str | None
    leftovers: list[int] = field(default_factory=list)


def run_in_namespace(command: Sequence[str], images_from: str, cwd: Path, timeout: float) -> NamespaceRun:
    """Run command in a fresh network namespace beside a bridged dockerd, and wait for the teardown."""
    returncode, output = run_runner("tests.support.netns", ["--images-from", images_from], command, cwd, timeout)
    marks = [line.removeprefix(NAMESPACE_MARK) for line in output.splitlines() if line.startswith(NAMESPACE_MARK)]
    namespace = marks[0] if marks else None
    return NamespaceRun(returncode, output, namespace, _processes_in(namespace) if namespace else [])


def run_runner(module: str, args: Sequence[str], command: Sequence[str], cwd: Path, timeout: float) -> tuple[int, str]:
    """`unshare --net -- python -m MODULE ARGS -- COMMAND` from `cwd`; (exit status, whole output) once the
    runner has torn its namespace down, also when it ran out of time or this process was interrupted."""
    runner = [shutil.which("unshare") or "unshare", "--net", "--", sys.executable, "-m", module, *args, "--", *command]
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        runner, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out = _teardown(process) + f"\n[namespace run stopped after {timeout:.0f} s]\n".encode()
    except BaseException:  # Ctrl-C or pytest-timeout in the outer session: still tear the namespace down
        _teardown(process)
        raise
    return process.returncode, out.decode(errors="replace")


def _teardown(process: subprocess.Popen[bytes]) -> bytes:
    process.send_signal(signal.SIGTERM)  # the runner tears down on SIGTERM
    try:
        out, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out


def _processes_in(namespace: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "ns" / "net") == namespace:
                    found.append(int(entry.name))
    return found


# -- the runner, inside the namespace --------------------------------------------------------------


def _log(message: str) -> None:
    print(f"[netns] {message}", flush=True)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def _check_fresh_namespace() -> str:
    """Refuse to create a bridge anywhere but in a namespace of our own: not the machine's, and still empty."""
    own = os.readlink("/proc/self/ns/net")
    for pid in (1, os.getppid()):  # pid 1's may be unreadable (some VMs' init): the launcher's then tells
        with contextlib.suppress(OSError):
            if own == os.readlink(f"/proc/{pid}/ns/net"):
                raise SystemExit("refusing: not in a network namespace of this run's own (run under `unshare --net`)")
    links = subprocess.run(["ip", "-o", "link", "show"], check=True, capture_output=True, text=True).stdout
    names = [line.split(":")[1].strip() for line in links.splitlines() if line.strip()]
    if names != ["lo"]:
        raise SystemExit(f"refusing: this network namespace is not fresh (it has {', '.join(names)})")
    return own


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One namespace daemon per cached data root; released by the kernel if this runner dies."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        deadline = time.monotonic() + LOCK_WAIT_S
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"another test run kept {lock_path} for {LOCK_WAIT_S:.0f} s") from None
                if not waited:
                    _log("waiting for another test run's namespace daemon to finish")
                    waited = True
                time.sleep(0.2)
        yield


def _copy_images(source_url: str, target: docker.DockerClient, target_url: str) -> None:
    """docker save | docker load of the test images the namespace daemon lacks (layers shared, one stream)."""
    wanted = [PLAIN_IMAGE, STACKS_IMAGE]
    have = {tag for image in target.images.list() for tag in image.tags}
    lacking = [name for name in wanted if name not in have]
    for image in target.images.list(name="labdock-test/*"):
        if not set(image.tags) & set(wanted):  # an older recipe's image: keep the cache from growing
            with contextlib.suppress(DockerException):
                target.images.remove(image.id, force=True)
    if not lacking:
        return
    started = time.monotonic()
    docker_cli = shutil.which("docker") or "docker"
    save = subprocess.Popen([docker_cli, "-H", source_url, "save", *lacking], stdout=subprocess.PIPE)
    load = subprocess.run([docker_cli, "-H", target_url, "load", "-q"], stdin=save.stdout, capture_output=True)
    assert save.stdout is not None
    save.stdout.close()
    if save.wait() != 0 or load.returncode != 0:
        raise SystemExit(f"copying the test images failed: {load.stderr.decode(errors='replace')}")
    _log(f"loaded {', '.join(lacking)} in {time.monotonic() - started:.1f} s")


def _remove_stale_exec_roots() -> None:
    """Exec roots of runners that were killed outright; called under the lock, so none is in use."""
    mounts = Path("/proc/mounts").read_text()
    for stale in Path("/tmp").glob(f"{EXEC_ROOT_PREFIX}*"):
        if f" {stale}/" not in mounts:  # something still mounted there: leave it rather than fail
            shutil.rmtree(stale, ignore_errors=True)


def _remove_containers(client: docker.DockerClient) -> None:
    for row in client.api.containers(all=True):
        with contextlib.suppress(DockerException):
            client.api.remove_container(row["Id"], force=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _end_stragglers(namespace: str) -> None:
    """Anything still in this namespace was started by this run (a shim, a proxy): end it by pid."""
    me = os.getpid()
    for pid in _processes_in(namespace):
        if pid != me:
            _log(f"ending pid {pid}, still in the namespace after dockerd stopped")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.netns", description=__doc__)
    parser.add_argument("--images-from", required=True, help="the engine that has the test images")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run in the namespace")
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    namespace = _check_fresh_namespace()
    print(f"{NAMESPACE_MARK}{namespace}", flush=True)
    started = time.monotonic()
    _ip("link", "set", "lo", "up")
    _ip("link", "add", NSBR, "type", "bridge")
    _ip("addr", "add", NSBR_ADDRESS, "dev", NSBR)
    _ip("link", "set", NSBR, "up")
    with _exclusive(DATA_ROOT.with_suffix(".lock")):
        DATA_ROOT.mkdir(parents=True, exist_ok=True)
        stop_leftover(DATA_ROOT)  # a runner killed before its dockerd saw SIGTERM
        _remove_stale_exec_roots()
        exec_root = Path(tempfile.mkdtemp(prefix=EXEC_ROOT_PREFIX, dir="/tmp"))  # short: a socket path's limit
        url = socket_url(exec_root)
        daemon: subprocess.Popen[bytes] | None = None
        client: docker.DockerClient | None = None
        child: subprocess.Popen[bytes] | None = None
        try:
            cmd = dockerd_command(DATA_ROOT, exec_root, bridge=NSBR)
            daemon = spawn_dockerd(cmd, url, 60.0, CACHE_DIR / "netns-dockerd.log", die_with_parent=True)
            client = docker.DockerClient(base_url=url, timeout=120)
            _remove_containers(client)  # a killed run's, stopped when its dockerd went
            _copy_images(args.images_from, client, url)
            _log(f"namespace ready in {time.monotonic() - started:.1f} s")
            env = {**os.environ, "DOCKER_HOST": url, INSIDE_ENV: "1"}
            child = subprocess.Popen(command, env=env, preexec_fn=term_with_parent)
            return child.wait()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the teardown short
            if child is not None:
                _stop(child)
            if client is not None:
                with contextlib.suppress(DockerException, OSError):
                    _remove_containers(client)
                client.close()
            if daemon is not None:
                _stop(daemon)
            _end_stragglers(namespace)
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("link", "del", NSBR)
            shutil.rmtree(exec_root, ignore_errors=True)
            _log(f"namespace torn down after {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
