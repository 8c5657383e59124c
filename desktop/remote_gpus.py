"""A remote host's NVIDIA GPUs through `nvidia-smi` over SSH: what desktop.gpu reads from NVML locally.

NVML only reaches the driver of the machine it runs on, so for a remote host one shell command line asks
`nvidia-smi` for the GPUs (csv), then for the compute processes, then prints each of those processes'
cgroup, so that GPU memory can be credited to the container (and so the notebook) that holds it.

One round trip per reading, not two: the pids come from the process list, and a second SSH exec only
to read their cgroups would double the latency of every sample (an exec is a channel open and a remote
shell start) and widen the window in which a listed process exits or its pid is reused. A short sh
script takes the pids out of the process list itself with awk.

The script runs under `sh -c '…'` so that the user's login shell (bash, zsh, fish, tcsh) only has to
start sh: the line holds no newline, no backslash and no `!`, which csh and fish would read differently.
Each part's output follows a marker line of ours, so a login banner printed before it is skipped.

Qt-free and docker-free; the SSH connection is the caller's, given as a RemoteCommand.
"""

from __future__ import annotations

import logging
import math
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from desktop.core.errors import LabdockError
from desktop.gpu import GpuInfo, GpuProcess, GpuSample, Inventory, container_in_cgroup

if TYPE_CHECKING:  # the SSH stack stays out of this module's imports
    from desktop.engines.ssh_link import SshLink

log = logging.getLogger(__name__)

TIMEOUT_S = 15.0  # nvidia-smi takes seconds on a host with many GPUs and no persistence daemon
MiB = 1 << 20

# The name goes last: everything after the eighth comma is the name, should a board's name hold a comma.
GPU_FIELDS = (
    "index",
    "uuid",
    "driver_version",
    "memory.total",
    "memory.used",
    "utilization.gpu",
    "temperature.gpu",
    "power.draw",
    "name",
)
APP_FIELDS = ("gpu_uuid", "pid", "used_memory")
MARK = "@@labdock@@"
NO_NVIDIA_SMI = 127  # the shell's status for a command it cannot find; the script exits with it too

# No CUDA version: `--query-gpu=cuda_version` is "not a valid field" for most drivers (and one such field
# fails the whole query), and the banner of plain `nvidia-smi` would cost a third run of it per reading.
SCRIPT = "; ".join(
    (
        f"command -v nvidia-smi >/dev/null 2>&1 || exit {NO_NVIDIA_SMI}",
        f"g=$(nvidia-smi --query-gpu={','.join(GPU_FIELDS)} --format=csv,noheader,nounits 2>&1)",
        "gstatus=$?",
        f"a=$(nvidia-smi --query-compute-apps={','.join(APP_FIELDS)} --format=csv,noheader,nounits 2>&1)",
        "astatus=$?",
        f'echo "{MARK} gpus $gstatus"',
        "printf '%s' \"$g\"",
        "echo",
        f'echo "{MARK} apps $astatus"',
        "printf '%s' \"$a\"",
        "echo",
        f"echo {MARK} cgroups",
        # pid of each process line (a "[N/A]" pid is 0 to awk, so left out); its cgroup lines on one line
        "for p in $(printf '%s' \"$a\" | awk -F, '$2 + 0 > 0 { print $2 + 0 }' | sort -un)"
        "; do printf '%s ' \"$p\"; paste -s -d ' ' \"/proc/$p/cgroup\" 2>/dev/null || echo; done",
    )
)
"""The POSIX sh script; its output is read by parse_report."""

COMMAND = f"sh -c {shlex.quote(SCRIPT)}"
"""The command line to run on the host (through its login shell, as `ssh host COMMAND` does)."""


@dataclass(frozen=True)
class CommandResult:
    """What a command run on the remote host gave back."""

    exit_status: int
    stdout: str
    stderr: str


class RemoteCommand(Protocol):
    """Runs one shell command line on the remote host; the SSH side of it is the caller's.

    Failures of the connection itself (host unreachable, timeout) raise a LabdockError.
    """

    async def __call__(self, command: str, timeout: float) -> CommandResult: ...


@dataclass(frozen=True)
class RemoteGpuReport:
    """One reading of a remote host's GPUs.

    `problem` is the one line to show ("GPUs on <host>: <problem>") when the GPUs could not be read:
    nvidia-smi failing, or the connection. A host without nvidia-smi has no GPUs and no problem (its
    inventory's reason says so). `users_by_container` and `containers` cover only the GPU processes that
    run in a container; the rest (the host's own, or pids whose cgroup could not be read) are only in
    `samples`.
    """

    inventory: Inventory
    samples: tuple[GpuSample, ...] = ()
    users_by_container: dict[str, dict[str, int]] = field(default_factory=dict)  # id -> GPU uuid -> bytes
    containers: dict[int, str] = field(default_factory=dict)  # pid -> container id (64 hex)
    problem: str | None = None


async def read_remote_gpus(run: RemoteCommand, timeout: float = TIMEOUT_S) -> RemoteGpuReport:
    """The host's GPUs, their live figures and who uses them, from one command; never raises a
    LabdockError: a connection failure is the report's problem, so the dock shows it like any other."""
    try:
        result = await run(COMMAND, timeout)
    except LabdockError as exc:
        return _failed(str(exc))
    return parse_report(result, time.monotonic())


def parse_report(result: CommandResult, at: float) -> RemoteGpuReport:
    """COMMAND's output -> a report; `at` (time.monotonic()) stamps the samples."""
    if result.exit_status == NO_NVIDIA_SMI:
        return RemoteGpuReport(Inventory(reason="no nvidia-smi on the host (no NVIDIA driver)"))
    sections = _sections(result.stdout)
    if "gpus" not in sections:
        why = _first_line(result.stderr) or _first_line(result.stdout) or f"exit status {result.exit_status}"
        return _failed(f"the GPU query failed: {why}")
    gpu_status, gpu_lines = sections["gpus"]
    gpus: list[tuple[GpuInfo, GpuSample]] = []
    driver: str | None = None
    unread: list[str] = []
    for line in gpu_lines:
        parsed = _gpu_line(line, at)
        if parsed is None:
            unread.append(line)
            continue
        info, sample, version = parsed
        gpus.append((info, sample))
        driver = driver or version
    if not gpus:
        if any(line.strip() == "No devices were found" for line in gpu_lines):
            return RemoteGpuReport(Inventory(reason="no NVIDIA GPU found"))
        if gpu_status != 0 or unread:
            return _failed(unread[0].strip() if unread else f"nvidia-smi exited with status {gpu_status}")
        return RemoteGpuReport(Inventory(reason="no NVIDIA GPU found"))
    processes = _processes(sections.get("apps"), {info.uuid for info, _ in gpus})
    cgroups = _cgroups(sections.get("cgroups", (0, []))[1])
    samples = tuple(replace(sample, processes=tuple(processes.get(sample.uuid, ()))) for _, sample in gpus)
    inventory = Inventory(
        gpus=tuple(info for info, _ in gpus),
        driver_version=driver,
        reason="; ".join(line.strip() for line in unread) or None,  # e.g. a GPU nvidia-smi lost
    )
    return RemoteGpuReport(inventory, samples, *_users(samples, cgroups))


def _failed(problem: str) -> RemoteGpuReport:
    return RemoteGpuReport(Inventory(reason=problem), problem=problem)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _sections(stdout: str) -> dict[str, tuple[int, list[str]]]:
    """Marker name -> (the part's exit status, its non-empty lines); anything before the first marker (a
    login banner) is dropped."""
    sections: dict[str, tuple[int, list[str]]] = {}
    current: list[str] | None = None
    for line in stdout.splitlines():
        if line.startswith(MARK + " "):
            name, _, status = line[len(MARK) + 1 :].strip().partition(" ")
            current = []
            sections[name] = (_int(status) or 0, current)
        elif current is not None and line.strip():
            current.append(line)
    return sections


def _int(text: str) -> int | None:
    """A csv value as an integer; None for "[N/A]", "[Not Supported]", "[Unknown Error]", "" and the like."""
    try:
        return int(text.strip())
    except ValueError:
        return None


def _float(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _mib(text: str) -> int | None:
    value = _int(text)
    return None if value is None else value * MiB


def _gpu_line(line: str, at: float) -> tuple[GpuInfo, GpuSample, str | None] | None:
    """One --query-gpu line; None for a line that is no GPU's (an error nvidia-smi printed for one GPU).

    A total it cannot give (unified memory boards print "[N/A]") is 0: the GPU still counts.
    """
    fields = [part.strip() for part in line.split(",", len(GPU_FIELDS) - 1)]
    if len(fields) != len(GPU_FIELDS):
        return None
    index, uuid, driver, total, used, util, temp, power, name = fields
    number = _int(index)
    if number is None or not uuid.startswith("GPU-"):
        return None
    memory_total = _mib(total) or 0
    info = GpuInfo(number, uuid, name, memory_total)
    sample = GpuSample(number, uuid, at, memory_total, _mib(used), _int(util), _int(temp), _float(power))
    return info, sample, None if driver.startswith("[") or not driver else driver


def _processes(section: tuple[int, list[str]] | None, uuids: set[str]) -> dict[str, list[GpuProcess]]:
    """GPU uuid -> its compute processes, in nvidia-smi's order; a process of a GPU not in the list is
    dropped. A list nvidia-smi could not give leaves every GPU without processes (and a line in the log)."""
    if section is None:
        return {}
    status, lines = section
    if status != 0:
        log.info("nvidia-smi could not list the GPU processes: %s", _first_line("\n".join(lines)) or status)
        return {}
    per_gpu: dict[str, list[GpuProcess]] = {}
    for line in lines:
        fields = [part.strip() for part in line.split(",")]
        if len(fields) != len(APP_FIELDS):
            continue
        uuid, pid_text, memory = fields
        pid = _int(pid_text)
        if pid is None or pid <= 0 or uuid not in uuids:
            continue
        per_gpu.setdefault(uuid, []).append(GpuProcess(pid, _mib(memory)))
    return per_gpu


def _cgroups(lines: Sequence[str]) -> dict[int, str]:
    """pid -> container id, from the script's "<pid> <cgroup lines joined by spaces>" lines."""
    found: dict[int, str] = {}
    for line in lines:
        pid_text, _, text = line.strip().partition(" ")
        pid = _int(pid_text)
        container = container_in_cgroup(text)
        if pid is not None and container is not None:
            found[pid] = container
    return found


def _users(samples: Sequence[GpuSample], cgroups: dict[int, str]) -> tuple[dict[str, dict[str, int]], dict[int, str]]:
    """Container id -> GPU uuid -> bytes (unknown amounts count as 0, as in desktop.gpu.attribute), and
    pid -> container id for the GPU processes in a container."""
    users: dict[str, dict[str, int]] = {}
    containers: dict[int, str] = {}
    for sample in samples:
        for proc in sample.processes:
            container = cgroups.get(proc.pid)
            if container is None:
                continue
            containers[proc.pid] = container
            per_gpu = users.setdefault(container, {})
            per_gpu[sample.uuid] = per_gpu.get(sample.uuid, 0) + (proc.memory or 0)
    return users, containers


def over_ssh(link: SshLink) -> RemoteCommand:
    """The host's SSH connection as a RemoteCommand (the connection's own errors are LabdockErrors)."""

    async def run(command: str, timeout: float) -> CommandResult:
        out = await link.run(command, timeout)
        return CommandResult(out.exit_status, out.stdout, out.stderr)

    return run
