"""Which kernel holds GPU memory: each GPU process -> its notebook -> its Jupyter kernel -> the notebook file.

A GPU process's host pid leads to its notebook through /proc: its container (the cgroup, as desktop.gpu
reads it) for Docker notebooks, its ancestry for Local servers (kernels are children of the JupyterLab
process). The kernel id is on the command line of the kernel process (`…/kernel-<id>.json`), or of the
ancestor that is the kernel when a kernel started the process. The server's own REST API (loopback, its
token) then gives the kernel's notebook path, execution state, last activity and connections.
Processes in a notebook that are not kernels (a terminal's `python train.py`) and processes outside
every notebook are lines too, so the memory adds up. Qt-free and docker-free: the GPU dock, the new
notebook dialog and `labdock gpu` read the same lines.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from desktop import jupyter_api
from desktop.core.errors import LabdockError
from desktop.gpu import GpuProcess, GpuSample
from desktop.jupyter_api import Server
from desktop.kernel_origin import Origin, origin_of, start_time_of

log = logging.getLogger(__name__)

PROC = Path("/proc")
LOCAL_PREFIX = "local:"


class LineKind(enum.Enum):
    KERNEL = "kernel"  # a notebook's Jupyter kernel, or a process that kernel started
    PROCESS = "process"  # in a notebook's container or server, but not a kernel's (a terminal's job)
    OTHER = "other"  # in no notebook (the desktop, another user's job, a container that is no notebook)


@dataclass(frozen=True)
class KernelInfo:
    """What the server says of one kernel; fields it did not give are None."""

    kernel_id: str
    name: str | None = None  # the kernel spec, e.g. "python3"
    execution_state: str | None = None  # "idle", "busy", "starting", "dead"...
    last_activity: float | None = None  # epoch seconds of its last message
    connections: int | None = None  # open clients (tabs) on it
    path: str | None = None  # the notebook (or console) it serves, relative to the server's root


@dataclass(frozen=True)
class GpuLine:
    """One GPU process on one GPU, with what it belongs to."""

    gpu_uuid: str
    gpu_index: int
    pid: int
    memory: int | None  # bytes; None where NVML cannot tell
    utilization: int | None  # SM %, where NVML gives per-process figures
    kind: LineKind
    notebook: str | None = None  # None for OTHER
    kernel_id: str | None = None
    kernel: KernelInfo | None = None  # None: the server did not say (it did not answer, or the kernel ended)
    kernel_pid: int | None = None  # the kernel's own pid when this process is one the kernel started
    command: str = ""  # the process's command line, shortened
    container: str | None = None  # for OTHER: a container that is no notebook's (short id)

    @property
    def label(self) -> str:
        """'vision-2 / train.ipynb', 'vision-2: python train.py (not a kernel)', 'other: Xorg'."""
        if self.kind is LineKind.KERNEL:
            where = self.kernel.path if self.kernel is not None and self.kernel.path else None
            what = where or f"kernel {(self.kernel_id or '')[:8]} (no notebook file)"
            child = f" ({self.command})" if self.kernel_pid is not None and self.command else ""
            return f"{self.notebook} / {what}{child}"
        if self.kind is LineKind.PROCESS:
            return f"{self.notebook}: {self.command or f'pid {self.pid}'} (not a kernel)"
        inside = f" in container {self.container}" if self.container else ""
        return f"other: {self.command or f'pid {self.pid}'}{inside}"

    def idle_seconds(self, now: float | None = None) -> float | None:
        """How long an idle kernel has done nothing; None for a busy kernel or anything else."""
        info = self.kernel
        if info is None or info.execution_state != "idle" or info.last_activity is None:
            return None
        return max(0.0, (time.time() if now is None else now) - info.last_activity)

    def activity(self, now: float | None = None) -> str:
        """'idle 2 h 10 min', 'busy', 'ended' for a kernel; '-' for the rest."""
        if self.kind is not LineKind.KERNEL:
            return "-"
        if self.kernel is None:
            return "unknown"
        idle = self.idle_seconds(now)
        if idle is not None:
            return idle_text(idle)
        return self.kernel.execution_state or "unknown"


def idle_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"idle {int(seconds)} s"
    if minutes < 60:
        return f"idle {minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"idle {hours} h {minutes} min" if minutes else f"idle {hours} h"
    days, hours = divmod(hours, 24)
    return f"idle {days} d {hours} h" if hours else f"idle {days} d"


# --- the REST side: what each server says of its kernels ---------------------------------------------


def _epoch(stamp: Any) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def kernel_infos(kernels: Iterable[dict[str, Any]], sessions: Iterable[dict[str, Any]]) -> dict[str, KernelInfo]:
    """api/kernels and api/sessions answers -> KernelInfo per kernel id."""
    paths: dict[str, str] = {}
    for session in sessions:
        kernel = session.get("kernel") or {}
        if isinstance(kernel, dict) and kernel.get("id") and session.get("path"):
            paths[str(kernel["id"])] = str(session["path"])
    infos: dict[str, KernelInfo] = {}
    for kernel in kernels:
        if not kernel.get("id"):
            continue
        kid = str(kernel["id"])
        connections = kernel.get("connections")
        infos[kid] = KernelInfo(
            kernel_id=kid,
            name=str(kernel["name"]) if kernel.get("name") else None,
            execution_state=str(kernel["execution_state"]) if kernel.get("execution_state") else None,
            last_activity=_epoch(kernel.get("last_activity")),
            connections=connections if isinstance(connections, int) else None,
            path=paths.get(kid),
        )
    return infos


async def ask_server(server: Server) -> dict[str, KernelInfo]:
    """The server's kernels with their notebook paths (two API calls side by side)."""
    kernels, sessions = await asyncio.gather(jupyter_api.kernels(server), jupyter_api.sessions(server))
    return kernel_infos(kernels, sessions)


# --- putting it together ------------------------------------------------------------------------------


class KernelAttribution:
    """Turns GPU samples into GpuLines. Keeps what /proc said of each GPU process while the same process
    (pid + start time) holds a GPU, and each server's answer for `api_ttl` seconds (after `api_retry` when a
    kernel it has not named appears; a server that did not answer waits the full `api_ttl`), so a 1 Hz dock
    costs a /proc stat read per GPU process per round."""

    def __init__(self, proc_root: Path = PROC, api_ttl: float = 5.0, api_retry: float = 1.0) -> None:
        self.proc_root = proc_root
        self.api_ttl = api_ttl
        self.api_retry = api_retry
        self._origins: dict[int, Origin] = {}
        self._answers: dict[Server, tuple[float, dict[str, KernelInfo], bool]] = {}  # (when, what, answered)

    def forget(self, notebook: str | None = None) -> None:
        """Ask the server(s) again on the next round (after a kernel was interrupted or shut down)."""
        self._answers = {s: a for s, a in self._answers.items() if notebook is not None and s.notebook != notebook}

    async def lines(self, samples: Iterable[GpuSample], servers: Iterable[Server]) -> tuple[GpuLine, ...]:
        samples = tuple(samples)
        servers = tuple(servers)
        pids = {p.pid for s in samples for p in s.processes}
        origins = await asyncio.to_thread(self._read_origins, pids)
        owners = {pid: self._owner(origin, servers) for pid, origin in origins.items()}
        wanted: dict[Server, set[str]] = {}
        for pid, server in owners.items():
            kernel_id = origins[pid].kernel_id
            if server is not None and kernel_id is not None:
                wanted.setdefault(server, set()).add(kernel_id)
        answers = await self._ask(wanted)
        lines = []
        for sample in samples:
            for proc in sample.processes:
                server = owners.get(proc.pid)
                lines.append(
                    _line(sample, proc, origins.get(proc.pid), server, answers.get(server) if server else None)
                )
        return tuple(lines)

    def _read_origins(self, pids: set[int]) -> dict[int, Origin]:
        """Blocking /proc reads (a worker thread): a cached origin is kept only for the same process."""
        fresh: dict[int, Origin] = {}
        for pid in pids:
            known = self._origins.get(pid)
            same = known is not None and start_time_of(pid, self.proc_root) == known.start_time
            origin = known if same else origin_of(pid, self.proc_root)
            if origin is not None:
                fresh[pid] = origin
        self._origins = fresh  # pids no longer on a GPU are forgotten
        return fresh

    @staticmethod
    def _owner(origin: Origin, servers: Sequence[Server]) -> Server | None:
        for server in servers:
            cid = server.container_id
            local = cid.removeprefix(LOCAL_PREFIX) if cid.startswith(LOCAL_PREFIX) else None
            if local is not None:
                if origin.container is None and local.isdigit() and int(local) in origin.ancestry:
                    return server
            elif origin.container is not None and len(cid) >= 12 and origin.container.startswith(cid):
                return server
        return None

    async def _ask(self, wanted: dict[Server, set[str]]) -> dict[Server, dict[str, KernelInfo]]:
        now = time.monotonic()
        stale = []
        for server, kernel_ids in wanted.items():
            at, known, answered = self._answers.get(server, (float("-inf"), {}, True))
            new_kernel = answered and not kernel_ids <= known.keys()
            if now - at >= self.api_ttl or (new_kernel and now - at >= self.api_retry):
                stale.append(server)
        results = await asyncio.gather(*(ask_server(server) for server in stale), return_exceptions=True)
        for server, result in zip(stale, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, LabdockError):
                    raise result
                log.info("could not read the kernels of '%s': %s", server.notebook, result)
                self._answers[server] = (now, {}, False)
            else:
                self._answers[server] = (now, result, True)
        self._answers = {s: a for s, a in self._answers.items() if s in wanted}
        return {server: self._answers[server][1] for server in wanted}


def _line(
    sample: GpuSample,
    proc: GpuProcess,
    origin: Origin | None,
    server: Server | None,
    known: dict[str, KernelInfo] | None,
) -> GpuLine:
    # Built in one go rather than with dataclasses.replace: this runs for every GPU process every round.
    line = partial(GpuLine, sample.uuid, sample.index, proc.pid, proc.memory, proc.utilization)
    if origin is None:  # gone meanwhile, or in a pid namespace this process cannot see
        return line(LineKind.OTHER)
    if server is None:
        short = origin.container[:12] if origin.container else None
        return line(LineKind.OTHER, command=origin.command, container=short)
    if origin.kernel_id is None:
        return line(LineKind.PROCESS, server.notebook, command=origin.command)
    return line(
        LineKind.KERNEL,
        server.notebook,
        origin.kernel_id,
        (known or {}).get(origin.kernel_id),
        origin.kernel_pid,
        origin.command if origin.kernel_pid is not None else "",
    )
