"""A real second host reached over SSH, inside network namespaces this test run creates.

Remote-host tests need a machine the app reaches over SSH, with a Docker engine of its own. Nothing may
touch the machine's own network namespace (the network rule in ENVIRONMENT.md), so `run_with_remote_host()`
starts `unshare --net -- python -m tests.support.remote_host ...`, which in that fresh ("local") namespace

1. brings up loopback, and makes the remote side's namespace as a holder child (`unshare --net -- sleep
   infinity`, addressed as /proc/PID/ns/net: nothing is left under /run/netns if the run is killed),
2. joins the two with a veth pair, VLOCAL (LOCAL_ADDRESS) <-> VREMOTE (REMOTE_ADDRESS), and gives the remote
   side a bridge RBR (RBR_ADDRESS) for Docker's default bridge mode,
3. starts a private dockerd in the remote namespace on that bridge (its data root is cached under CACHE_DIR,
   one run at a time) and copies the test images in from the engine the outer session built them in,
4. makes per-run SSH material in a private temp dir T (host key, user key, authorized_keys, known_hosts, an
   sshd_config and a client config with the Host entry ALIAS; host-key checking stays on) and starts sshd in
   the remote namespace on REMOTE_ADDRESS:SSH_PORT, its sessions pointed at that dockerd (DOCKER_HOST), with
   XDG_DATA_HOME under T and T/bin first on PATH (a test may drop stand-in commands there),
5. runs the given command on the local side with DOCKER_HOST at the outer engine and the LABDOCK_TEST_REMOTE*
   variables set (`RemoteHost.from_env()` reads them, and lets a test stop, start and cut the remote side),
6. and tears everything down, also on failure, SIGINT and SIGTERM: the command, containers, dockerd, sshd and
   its sessions, the holder, any process left in either namespace, the temp dir. If the runner is killed
   outright, its children get SIGTERM from the kernel (PR_SET_PDEATHSIG); with the last process in them
   gone, both namespaces, the veths and the bridge vanish.

Traffic flows only between the run's own two namespaces: the remote containers reach only RBR, their
published ports are on the remote namespace's loopback, and nothing is routed anywhere else.

`--hosts N` (run_with_remote_host(..., hosts=N)) makes N such remote sides, each with its own namespace,
veth pair, bridge, dockerd (data root cached per index) and sshd: host i (1-based) is ALIAS for i = 1, as
above, and ALIAS + str(i) after that (ldremote2, ...), at 10.251.(i-1).2 from 10.251.(i-1).1, over
VLOCAL + str(i) for i > 1. Host 1's variables keep their names; host i's are the same names + "_i", and
LABDOCK_TEST_REMOTE_HOSTS says N (`RemoteHost.all_from_env()` reads them all). Every run holds host 1's lock,
so runs still take turns.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import docker
from docker.errors import DockerException

from tests.support import netns
from tests.support.dockerd import (
    CACHE_DIR,
    dockerd_command,
    running_dockerd,
    socket_url,
    spawn_dockerd,
    stop_leftover,
    term_with_parent,
)

INSIDE_ENV = "LABDOCK_TEST_REMOTE"
DIR_ENV = "LABDOCK_TEST_REMOTE_DIR"
ALIAS_ENV = "LABDOCK_TEST_REMOTE_ALIAS"
DOCKER_ENV = "LABDOCK_TEST_REMOTE_DOCKER"
NETNS_ENV = "LABDOCK_TEST_REMOTE_NETNS"
HOSTS_ENV = "LABDOCK_TEST_REMOTE_HOSTS"
MAX_HOSTS = 16

ALIAS = "ldremote"
VLOCAL = "vlocal"
VREMOTE = "vremote"
LOCAL_ADDRESS = "10.251.0.1/30"
REMOTE_ADDRESS = "10.251.0.2/30"
REMOTE_IP = REMOTE_ADDRESS.split("/")[0]
SSH_PORT = 2222
RBR = "rbr0"
RBR_ADDRESS = "10.214.0.1/24"
SSHD = "/usr/sbin/sshd"  # sshd re-executes itself, so it insists on an absolute path
PRIVSEP_DIR = Path("/run/sshd")
SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DATA_ROOT = CACHE_DIR / "remote-docker-data"
EXEC_ROOT_PREFIX = "ldr-"
TEMP_PREFIX = "ldremote-"
REMOTE_MARK = "remote netns: "  # the runner's second line: the remote namespace, checked for leftovers after
WAIT_S = 10.0


def alias_of(index: int) -> str:
    """The ssh config alias of host `index` (1-based): ALIAS, then ldremote2, ldremote3, ..."""
    return ALIAS if index == 1 else f"{ALIAS}{index}"


def _suffixed(name: str, index: int) -> str:
    return name if index == 1 else f"{name}{index}"


def _env_name(name: str, index: int) -> str:
    return name if index == 1 else f"{name}_{index}"


def remote_ip(index: int = 1) -> str:
    return REMOTE_IP if index == 1 else f"10.251.{index - 1}.2"


def _local_address(index: int) -> str:
    return LOCAL_ADDRESS if index == 1 else f"10.251.{index - 1}.1/30"


def _remote_address(index: int) -> str:
    return REMOTE_ADDRESS if index == 1 else f"{remote_ip(index)}/30"


def _rbr_address(index: int) -> str:
    return RBR_ADDRESS if index == 1 else f"10.214.{index - 1}.1/24"


def _data_root(index: int) -> Path:
    return DATA_ROOT if index == 1 else CACHE_DIR / f"remote-docker-data-{index}"


def inside() -> bool:
    """True in a process the runner started (on the local side, beside the remote host)."""
    return os.environ.get(INSIDE_ENV) == "1"


def missing() -> str | None:
    """Why a remote-host run cannot happen here, or None."""
    if os.geteuid() != 0:
        return "network namespaces with a remote host need root"
    tools = {
        "unshare": "util-linux",
        "nsenter": "util-linux",
        "ip": "iproute2",
        "dockerd": "docker.io",
        "docker": "docker.io",
        SSHD: "openssh-server",
        "ssh-keygen": "openssh-client",
        "ssh": "openssh-client",
    }
    for tool, package in tools.items():
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed (apt-get install {package}; scripts/setup --test does)"
    if _root_locked():
        return "root's account is locked ('!' in /etc/shadow): sshd without PAM refuses its key logins"
    return None


def _root_locked() -> bool:
    with contextlib.suppress(OSError):
        for line in Path("/etc/shadow").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == "root":
                return rest.startswith("!")
    return False


def run_with_remote_host(
    command: Sequence[str],
    images_from: str,
    cwd: Path,
    timeout: float,
    hosts: int = 1,
    max_sessions: int | None = None,
) -> netns.NamespaceRun:
    """Run command in a fresh network namespace beside a remote host (`hosts` of them), and wait for the
    teardown. `max_sessions`: sshd's MaxSessions there (None: sshd's default, 10). The result's namespace is
    the local side's; its leftovers are processes still in any of the run's namespaces."""
    args = [
        "--images-from",
        images_from,
        *(["--hosts", str(hosts)] if hosts != 1 else []),
        *(["--max-sessions", str(max_sessions)] if max_sessions is not None else []),
    ]
    returncode, output = netns.run_runner("tests.support.remote_host", args, command, cwd, timeout)
    local = _marked(output, netns.NAMESPACE_MARK)
    remotes = _all_marked(output, REMOTE_MARK)
    leftovers = [pid for namespace in (local, *remotes) if namespace for pid in netns._processes_in(namespace)]
    return netns.NamespaceRun(returncode, output, local, leftovers)


def _all_marked(output: str, mark: str) -> list[str]:
    return [line.removeprefix(mark) for line in output.splitlines() if line.startswith(mark)]


def _marked(output: str, mark: str) -> str | None:
    marks = _all_marked(output, mark)
    return marks[0] if marks else None


# -- for the tests inside: the remote host's parts, and ways to cut them ---------------------------


@dataclass(frozen=True)
class RemoteHost:
    """The remote host of the run this process is in (the local side of it)."""

    dir: Path  # T: the run's SSH material, the sshd config and log, bin/ and remote-data/
    alias: str  # the Host entry of ssh_config
    docker_url: str  # the remote dockerd's socket, reachable directly from here (for assertions)
    netns: str  # /proc/PID/ns/net of the remote side
    index: int = 1  # which of the run's hosts (1-based; a run makes one unless asked for more)

    port = SSH_PORT

    @property
    def address(self) -> str:
        return remote_ip(self.index)

    @classmethod
    def from_env(cls, index: int = 1) -> RemoteHost | None:
        """The remote host (the run's `index`th), or None outside a remote-host run."""
        if not inside():
            return None
        names = [_env_name(name, index) for name in (DIR_ENV, ALIAS_ENV, DOCKER_ENV, NETNS_ENV)]
        values = [os.environ.get(name) for name in names]
        if not all(values):
            raise RuntimeError(f"{INSIDE_ENV}=1 but {', '.join(names[:-1])} or {names[-1]} is unset")
        directory, alias, docker_url, namespace = (str(value) for value in values)
        return cls(Path(directory), alias, docker_url, namespace, index)

    @classmethod
    def all_from_env(cls) -> list[RemoteHost]:
        """Every remote host of the run this process is in (empty outside one)."""
        if not inside():
            return []
        count = int(os.environ.get(HOSTS_ENV, "1"))
        return [host for index in range(1, count + 1) if (host := cls.from_env(index)) is not None]

    @property
    def ssh_config(self) -> Path:
        return self.dir / "ssh" / "config"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "ssh" / "known_hosts"

    @property
    def identity(self) -> Path:
        return self.dir / "ssh" / "id_ed25519"

    @property
    def sshd_config(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def sshd_log(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def bin_dir(self) -> Path:
        """First on the remote sessions' PATH: a test may put stand-in commands here (an nvidia-smi)."""
        return self.dir / "bin"

    @property
    def data_dir(self) -> Path:
        """The remote sessions' XDG_DATA_HOME."""
        return self.dir / "remote-data"

    def ssh_config_text(self, known_hosts: Path | None = None) -> str:
        """The client config's Host entry; known_hosts (default: the run's) for a copy of it elsewhere."""
        return _client_config(self.dir, self.alias, known_hosts or self.known_hosts, self.address)

    def install_ssh_config(self, home: Path) -> Path:
        """Write home/.ssh/config and home/.ssh/known_hosts (for clients that read $HOME); returns the config.

        OpenSSH's own `ssh` takes ~ from the passwd entry, not $HOME: pass it `-F` with this path."""
        return install_ssh_configs([self], home)

    def sshd_pid(self) -> int | None:
        """The listening sshd's pid, if one runs."""
        return _sshd_listener(self.dir)

    def sshd_listening(self) -> bool:
        return _listening(self.netns, self.address)

    def stop_sshd(self, *, connections: bool = False, timeout: float = WAIT_S) -> None:
        """Stop the listener (as Debian's ssh.service does, open sessions stay, unless connections=True)."""
        if connections:
            self.kill_connections()
        pid = self.sshd_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            _reap_started(pid)
        _wait_for(
            lambda: (pid is None or _gone(pid)) and not _listening(self.netns, self.address), timeout, "sshd to stop"
        )

    def start_sshd(self, timeout: float = WAIT_S) -> None:
        """Start sshd again with the same config (a no-op while one listens); waits until the port accepts."""
        if self.sshd_pid() is not None and _listening(self.netns, self.address):
            return
        if os.readlink(self.netns) == os.readlink("/proc/self/ns/net"):
            raise RuntimeError(f"{self.netns} is this process's own network namespace, not the remote side's")
        process = _spawn_sshd(self.dir, self.netns, die_with_parent=False)
        _started[process.pid] = process
        _wait_for_sshd(process, self.netns, self.sshd_log, timeout, self.address)

    def connection_pids(self) -> list[int]:
        """sshd's per-connection processes (children of the listener)."""
        pid = self.sshd_pid()
        return _children(pid) if pid is not None else []

    def session_processes(self) -> list[int]:
        """Every process under the SSH connections: each session's command (a `docker system dial-stdio`
        per Docker API connection held open, a shell per command running)."""
        return [pid for connection in self.connection_pids() for pid in _descendants(connection)[1:]]

    def kill_connections(self) -> int:
        """SIGKILL every SSH connection's processes (and their commands), leaving the listener up.

        The kernel closes their TCP connections, so clients see the connection end. Returns how many."""
        connections = self.connection_pids()
        tree = [pid for connection in connections for pid in _descendants(connection)]
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _wait_for(lambda: all(_gone(pid) for pid in tree), WAIT_S, "the SSH connections to end")
        return len(connections)

    def link_down(self) -> None:
        """Cut the wire until link_up(): open connections stall (no FIN or RST reaches either side), and a
        new connect from this side fails at once with ENETUNREACH (the link's route goes with it)."""
        _ip("link", "set", _suffixed(VLOCAL, self.index), "down")

    def link_up(self) -> None:
        vlocal = _suffixed(VLOCAL, self.index)
        _ip("link", "set", vlocal, "up")
        _wait_for(lambda: "state UP" in _link(vlocal), WAIT_S, f"{vlocal} to come up")

    def stop_dockerd(self, timeout: float = 60.0) -> None:
        """Stop the host's Docker engine as `systemctl stop docker` does: SIGTERM, and its containers stop
        with it (no live-restore). sshd and the SSH connections stay up."""
        data_root = _data_root(self.index)
        pid = running_dockerd(data_root)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        _reap_started(pid)
        _wait_for(lambda: _gone(pid) and running_dockerd(data_root) is None, timeout, "the host's dockerd to stop")

    def start_dockerd(self, timeout: float = 60.0) -> None:
        """Start the host's Docker engine again (same data root, socket and bridge); waits until it answers."""
        data_root = _data_root(self.index)
        if running_dockerd(data_root) is not None:
            return
        exec_root = Path(self.docker_url.removeprefix("unix://")).parent
        cmd = [_nsenter(), f"--net={self.netns}", *dockerd_command(data_root, exec_root, bridge=RBR)]
        process = spawn_dockerd(cmd, self.docker_url, timeout, CACHE_DIR / f"remote-dockerd-restarted-{self.index}.log")
        _started[process.pid] = process

    def docker(self, timeout: int = 60) -> docker.DockerClient:
        """A client of the remote dockerd's socket directly, not over SSH (for assertions)."""
        return docker.DockerClient(base_url=self.docker_url, timeout=timeout)


def install_ssh_configs(hosts: Sequence[RemoteHost], home: Path) -> Path:
    """home/.ssh/config with every host's entry, and home/.ssh/known_hosts with their keys; returns the config."""
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    known_hosts = ssh_dir / "known_hosts"
    _write_private(known_hosts, "".join(host.known_hosts.read_text() for host in hosts))
    config = ssh_dir / "config"
    _write_private(config, "".join(host.ssh_config_text(known_hosts) for host in hosts))
    return config


_started: dict[int, subprocess.Popen[bytes]] = {}  # sshds and dockerds this process started, reaped when stopped


def _reap_started(pid: int) -> None:
    process = _started.pop(pid, None)
    if process is not None:
        try:
            process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def _client_config(directory: Path, alias: str, known_hosts: Path, address: str = REMOTE_IP) -> str:
    return (
        f"Host {alias}\n"
        f"    HostName {address}\n"
        f"    Port {SSH_PORT}\n"
        "    User root\n"
        f"    IdentityFile {directory / 'ssh' / 'id_ed25519'}\n"
        "    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {known_hosts}\n"
    )


def _sshd_config(directory: Path, docker_url: str, address: str = REMOTE_IP, max_sessions: int | None = None) -> str:
    data, bin_dir = directory / "remote-data", directory / "bin"
    session_env = f"DOCKER_HOST={docker_url} XDG_DATA_HOME={data} PATH={bin_dir}:{SESSION_PATH}"
    return (
        f"Port {SSH_PORT}\n"
        f"ListenAddress {address}\n"
        f"HostKey {directory / 'ssh_host_ed25519_key'}\n"
        f"AuthorizedKeysFile {directory / 'authorized_keys'}\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"  # T is under the world-writable /tmp
        "PermitRootLogin prohibit-password\n"
        f"PidFile {directory / 'sshd.pid'}\n"
        "AllowTcpForwarding yes\n"
        "AllowStreamLocalForwarding yes\n"
        "Subsystem sftp internal-sftp\n"
        f"SetEnv {session_env}\n"
        + (f"MaxSessions {max_sessions}\n" if max_sessions is not None else "")  # else sshd's default, 10
    )


def _spawn_sshd(directory: Path, namespace: str, *, die_with_parent: bool) -> subprocess.Popen[bytes]:
    """sshd in the foreground (its pid is the caller's child: nsenter execs it), logging to T/sshd.log."""
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir; left for other sshds
    with (directory / "sshd.log").open("ab") as log:
        return subprocess.Popen(
            [_nsenter(), f"--net={namespace}", SSHD, "-D", "-e", "-f", str(directory / "sshd_config")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=term_with_parent if die_with_parent else None,
        )


def _wait_for_sshd(
    process: subprocess.Popen[bytes], namespace: str, log: Path, timeout: float, address: str = REMOTE_IP
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _listening(namespace, address):
            return
        time.sleep(0.02)
    process.kill()
    process.wait()
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"sshd did not listen on {address}:{SSH_PORT}:\n{tail}")


def _listening(namespace: str, address: str = REMOTE_IP) -> bool:
    """A socket listens on address:SSH_PORT in that namespace (read from /proc, no connection made)."""
    local = f"{''.join(f'{int(part):02X}' for part in reversed(address.split('.')))}:{SSH_PORT:04X}"
    try:
        table = (Path(namespace).parent.parent / "net" / "tcp").read_text()
    except OSError:
        return False
    return any(f" {local} " in line and line.split()[3] == "0A" for line in table.splitlines()[1:])


def _sshd_listener(directory: Path) -> int | None:
    try:
        pid = int((directory / "sshd.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    if b"sshd" not in cmdline or _gone(pid):
        return None  # a stale pid file, or the pid was reused by something else
    return pid


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a process, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def _gone(pid: int) -> bool:
    stat = _stat(pid)
    return stat is None or stat[0] in ("Z", "X")  # a zombie has closed its sockets: waiting for a reaper only


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == parent and stat[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    tree = [pid]
    for child in _children(pid):
        tree.extend(_descendants(child))
    return tree


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def _nsenter() -> str:
    return shutil.which("nsenter") or "nsenter"


# -- the runner, inside the local namespace ---------------------------------------------------------


def _log(message: str) -> None:
    print(f"[remote] {message}", flush=True)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def _link(name: str) -> str:
    """`ip -o link show` of a link in this namespace ("" when it has none); /sys shows the machine's links."""
    return subprocess.run(["ip", "-o", "link", "show", "dev", name], capture_output=True, text=True).stdout


def _remote_ip(namespace: str, *args: str, capture: bool = False, stdin: str | None = None) -> str:
    cmd = [_nsenter(), f"--net={namespace}", "ip", *args]
    return subprocess.run(cmd, check=True, capture_output=capture, text=True, input=stdin).stdout or ""


def _start_holder(own: str) -> tuple[subprocess.Popen[bytes], str, str]:
    """A child in a network namespace of its own: (the process, its /proc/PID/ns/net, the namespace)."""
    holder = subprocess.Popen(
        [shutil.which("unshare") or "unshare", "--net", "--", "sleep", "infinity"],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=term_with_parent,
    )
    path = f"/proc/{holder.pid}/ns/net"
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and holder.poll() is None:
        with contextlib.suppress(OSError):  # between fork and exec: still ours, or mid-exec
            if Path(f"/proc/{holder.pid}/cmdline").read_bytes().startswith(b"sleep\0"):
                namespace = os.readlink(path)
                if namespace != own:
                    return holder, path, namespace
        time.sleep(0.005)
    raise SystemExit("the remote side's namespace holder did not start")


def _check_remote_namespace(path: str, namespace: str, own: str, taken: Sequence[str] = ()) -> None:
    """Refuse to configure anything but a fresh namespace of the run's own: neither ours, nor the machine's,
    nor another remote side's (`taken`)."""
    others = {own, *taken}
    for pid in (1, os.getppid()):
        with contextlib.suppress(OSError):
            others.add(os.readlink(f"/proc/{pid}/ns/net"))
    if namespace in others:
        raise SystemExit(f"refusing: the holder's namespace {namespace} is not a new one")
    links = _remote_ip(path, "-o", "link", "show", capture=True)
    names = [line.split(":")[1].strip() for line in links.splitlines() if line.strip()]
    if names != ["lo"]:
        raise SystemExit(f"refusing: the remote namespace is not fresh (it has {', '.join(names)})")


def _wire(path: str, holder_pid: int, index: int = 1) -> None:
    vlocal, vremote = _suffixed(VLOCAL, index), _suffixed(VREMOTE, index)
    _ip("link", "add", vlocal, "type", "veth", "peer", "name", vremote)
    _ip("link", "set", vremote, "netns", str(holder_pid))
    _ip("addr", "add", _local_address(index), "dev", vlocal)
    _ip("link", "set", vlocal, "up")
    batch = [
        "link set lo up",
        f"addr add {_remote_address(index)} dev {vremote}",
        f"link set {vremote} up",
        f"link add {RBR} type bridge",
        f"addr add {_rbr_address(index)} dev {RBR}",
        f"link set {RBR} up",
    ]
    _remote_ip(path, "-batch", "-", stdin="\n".join(batch) + "\n")


def _make_ssh_material(directory: Path, docker_url: str, index: int = 1, max_sessions: int | None = None) -> None:
    ssh_dir = directory / "ssh"
    ssh_dir.mkdir(mode=0o700)
    (directory / "bin").mkdir()
    (directory / "remote-data").mkdir()
    alias, address = alias_of(index), remote_ip(index)
    keygen = shutil.which("ssh-keygen") or "ssh-keygen"
    for key, comment in ((directory / "ssh_host_ed25519_key", f"{alias}-host"), (ssh_dir / "id_ed25519", "ldtest")):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)], check=True)
    _write_private(directory / "authorized_keys", (ssh_dir / "id_ed25519.pub").read_text())
    host_key = " ".join((directory / "ssh_host_ed25519_key.pub").read_text().split()[:2])
    _write_private(ssh_dir / "known_hosts", f"[{address}]:{SSH_PORT} {host_key}\n")
    _write_private(ssh_dir / "config", _client_config(directory, alias, ssh_dir / "known_hosts", address))
    _write_private(directory / "sshd_config", _sshd_config(directory, docker_url, address, max_sessions))


def _remove_stale_temp() -> None:
    """Exec roots and temp dirs of runners that were killed outright; called under the lock, so none is in use."""
    mounts = Path("/proc/mounts").read_text()
    for prefix in (EXEC_ROOT_PREFIX, TEMP_PREFIX):
        for stale in Path("/tmp").glob(f"{prefix}*"):
            if f" {stale}/" not in mounts:  # something still mounted there: leave it rather than fail
                shutil.rmtree(stale, ignore_errors=True)


def _end_in(namespace: str, keep: set[int], where: str) -> None:
    """Anything still in that namespace was started by this run (a session, a shim): end it by pid."""
    for pid in netns._processes_in(namespace):
        if pid not in keep:
            _log(f"ending pid {pid}, still in the {where} namespace")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@dataclass
class _Side:
    """One remote side as the runner made it (for the teardown: whatever got made)."""

    index: int
    exec_root: Path
    directory: Path
    holder: subprocess.Popen[bytes] | None = None
    path: str = ""  # /proc/PID/ns/net of the holder
    remote: str | None = None  # the namespace, as readlink names it
    daemon: subprocess.Popen[bytes] | None = None
    client: docker.DockerClient | None = None
    sshd: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return socket_url(self.exec_root)

    def env(self) -> dict[str, str]:
        values = {DIR_ENV: str(self.directory), ALIAS_ENV: alias_of(self.index), DOCKER_ENV: self.url}
        values[NETNS_ENV] = self.path
        return {_env_name(name, self.index): value for name, value in values.items()}


def _bring_up(
    side: _Side, own: str, taken: Sequence[str], images_from: str, max_sessions: int | None
) -> dict[str, float]:
    """Namespace, wire, SSH material, dockerd with the images, sshd; returns how long each step took."""
    began = time.monotonic()
    data_root = _data_root(side.index)
    side.holder, side.path, side.remote = _start_holder(own)
    print(f"{REMOTE_MARK}{side.remote}", flush=True)
    _check_remote_namespace(side.path, side.remote, own, taken)
    _wire(side.path, side.holder.pid, side.index)
    wired = time.monotonic()
    _make_ssh_material(side.directory, side.url, side.index, max_sessions)
    cmd = [_nsenter(), f"--net={side.path}", *dockerd_command(data_root, side.exec_root, bridge=RBR)]
    log = CACHE_DIR / ("remote-dockerd.log" if side.index == 1 else f"remote-dockerd-{side.index}.log")
    side.daemon = spawn_dockerd(cmd, side.url, 60.0, log, die_with_parent=True)
    dockerd_up = time.monotonic()
    side.client = docker.DockerClient(base_url=side.url, timeout=120)
    netns._remove_containers(side.client)  # a killed run's, stopped when its dockerd went
    netns._copy_images(images_from, side.client, side.url)
    images = time.monotonic()
    side.sshd = _spawn_sshd(side.directory, side.path, die_with_parent=True)
    _wait_for_sshd(side.sshd, side.path, side.directory / "sshd.log", WAIT_S, remote_ip(side.index))
    return {
        "namespaces": wired - began,
        "dockerd": dockerd_up - wired,
        "images": images - dockerd_up,
        "sshd": time.monotonic() - images,
    }


def _remove_containers_of(side: _Side) -> None:
    if side.client is not None:
        with contextlib.suppress(DockerException, OSError):
            netns._remove_containers(side.client)
        side.client.close()


def _tear_down(side: _Side) -> None:
    """What _bring_up made, the containers aside (removed before, all sides at once)."""
    if side.daemon is not None:
        netns._stop(side.daemon)
    stop_leftover(_data_root(side.index))  # one a test started again after stopping the first
    if side.sshd is not None:
        netns._stop(side.sshd)
    if side.remote is not None:
        _end_in(side.remote, {side.holder.pid} if side.holder is not None else set(), "remote")
    vlocal = _suffixed(VLOCAL, side.index)
    if _link(vlocal):
        _ip("link", "del", vlocal)  # both ends
    if side.holder is not None:
        netns._stop(side.holder)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.remote_host", description=__doc__)
    parser.add_argument("--images-from", required=True, help="the engine that has the test images")
    parser.add_argument("--hosts", type=int, default=1, help=f"how many remote hosts (1 to {MAX_HOSTS})")
    parser.add_argument("--max-sessions", type=int, help="sshd's MaxSessions on the hosts (default: sshd's, 10)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run beside the remote host")
    if not 1 <= args.hosts <= MAX_HOSTS:
        parser.error(f"--hosts must be 1 to {MAX_HOSTS}")
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    own = netns._check_fresh_namespace()
    print(f"{netns.NAMESPACE_MARK}{own}", flush=True)
    started = time.monotonic()
    _ip("link", "set", "lo", "up")
    indices = range(1, args.hosts + 1)
    with contextlib.ExitStack() as locks:
        for index in indices:  # always in this order, host 1's first: runs take turns, never deadlock
            locks.enter_context(netns._exclusive(_data_root(index).with_suffix(".lock")))
        locked = time.monotonic()
        for index in indices:
            _data_root(index).mkdir(parents=True, exist_ok=True)
            stop_leftover(_data_root(index))  # a runner killed before its dockerd saw SIGTERM
        _remove_stale_temp()
        sides: list[_Side] = []
        child: subprocess.Popen[bytes] | None = None
        try:
            steps: dict[str, float] = {}
            for index in indices:
                side = _Side(
                    index,
                    Path(tempfile.mkdtemp(prefix=EXEC_ROOT_PREFIX, dir="/tmp")),  # short: a socket path's limit
                    Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir="/tmp")),  # 0700
                )
                sides.append(side)
                taken = [other.remote for other in sides[:-1] if other.remote]
                for step, seconds in _bring_up(side, own, taken, args.images_from, args.max_sessions).items():
                    steps[step] = steps.get(step, 0.0) + seconds
            ready = time.monotonic()
            what = "remote host" if args.hosts == 1 else f"{args.hosts} remote hosts"
            _log(
                f"{what} ready in {ready - started:.1f} s (lock {locked - started:.2f} s, "
                + ", ".join(f"{step} {seconds:.2f} s" for step, seconds in steps.items())
                + ")"
            )
            env = {**os.environ, "DOCKER_HOST": args.images_from, INSIDE_ENV: "1", HOSTS_ENV: str(args.hosts)}
            for side in sides:
                env.update(side.env())
            child = subprocess.Popen(command, env=env, preexec_fn=term_with_parent)
            returncode = child.wait()
            if returncode != 0:
                for side in sides:
                    with contextlib.suppress(OSError):
                        log = (side.directory / "sshd.log").read_text(errors="replace")[-4000:]
                        _log(f"{alias_of(side.index)}'s sshd log:\n{log}")
            return returncode
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the teardown short
            if child is not None:
                netns._stop(child)
            ending = time.monotonic()
            with ThreadPoolExecutor(max_workers=max(1, len(sides))) as pool:  # each host's own containers
                list(pool.map(_remove_containers_of, sides))
            for side in sides:
                _tear_down(side)
            _end_in(own, {os.getpid()}, "local")
            for side in sides:
                shutil.rmtree(side.directory, ignore_errors=True)
                shutil.rmtree(side.exec_root, ignore_errors=True)
            now = time.monotonic()
            _log(f"remote host torn down after {now - started:.1f} s (teardown {now - ending:.2f} s)")


if __name__ == "__main__":
    sys.exit(main())
