"""CPU and memory per notebook, read cheaply: a few cgroup files per container (what `docker stats`
reads, without one stream per container), and /proc for Local notebooks (the server's process tree).

Qt-free. A container's cgroup folder is found once and remembered: first where Docker puts it (cgroup v2
`system.slice/docker-<id>.scope` or `docker/<id>`, v1 `<controller>/docker/<id>`), else through
/proc/<pid>/cgroup of one of its processes (rootless Docker, Podman, other slices), matched as
desktop.gpu.container_of does. Memory is what `docker stats` shows: usage less the inactive file cache.
CPU % is of one core (100% = one core busy), from the difference between two samples.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from desktop.gpu import container_of

NO_LIMIT = 1 << 62  # cgroup v1 says "no limit" with a number near 2**63


@dataclass(frozen=True)
class Usage:
    cpu_percent: float | None  # None until two samples exist
    memory: int | None  # bytes
    limit: int | None  # bytes; None: no limit


@dataclass(frozen=True)
class Counters:
    cpu_ns: int | None
    memory: int | None
    limit: int | None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _stat_value(path: Path, key: str) -> int | None:
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    return None


@dataclass(frozen=True)
class CgroupDirs:
    """Where one container's counters are: one folder (v2) or a cpu and a memory folder (v1)."""

    cpu: Path
    memory: Path
    v2: bool

    def read(self) -> Counters:
        if self.v2:
            usec = _stat_value(self.cpu / "cpu.stat", "usage_usec")
            used = _read_int(self.memory / "memory.current")
            inactive = _stat_value(self.memory / "memory.stat", "inactive_file") or 0
            limit = _read_int(self.memory / "memory.max")  # "max": None
            return Counters(None if usec is None else usec * 1000, _less(used, inactive), limit)
        used = _read_int(self.memory / "memory.usage_in_bytes")
        inactive = _stat_value(self.memory / "memory.stat", "total_inactive_file") or 0
        limit = _read_int(self.memory / "memory.limit_in_bytes")
        cpu = _read_int(self.cpu / "cpuacct.usage")
        return Counters(cpu, _less(used, inactive), None if limit is None or limit >= NO_LIMIT else limit)


def _less(used: int | None, inactive: int) -> int | None:
    return None if used is None else max(0, used - inactive)


class CgroupFinder:
    """Finds (and remembers) the cgroup folders of containers by id."""

    def __init__(self, proc_root: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> None:
        self.proc_root = proc_root
        self.root = cgroup_root
        self.v2 = (cgroup_root / "cgroup.controllers").exists()
        self._found: dict[str, CgroupDirs] = {}

    def dirs(self, container_id: str) -> CgroupDirs | None:
        found = self._found.get(container_id)
        if found is None:
            found = self._usual(container_id) or self._through_proc(container_id)
            if found is not None:
                self._found[container_id] = found
        return found

    def forget_except(self, container_ids: set[str]) -> None:
        for gone in set(self._found) - container_ids:
            del self._found[gone]

    def _usual(self, cid: str) -> CgroupDirs | None:
        if self.v2:
            for folder in (self.root / "system.slice" / f"docker-{cid}.scope", self.root / "docker" / cid):
                if (folder / "memory.current").exists():
                    return CgroupDirs(folder, folder, True)
            return None
        for suffix in (Path("docker") / cid, Path("system.slice") / f"docker-{cid}.scope"):
            memory = self.root / "memory" / suffix
            cpu = next(
                (c for c in (self.root / "cpuacct" / suffix, self.root / "cpu,cpuacct" / suffix) if c.is_dir()), None
            )
            if memory.is_dir() and cpu is not None:
                return CgroupDirs(cpu, memory, False)
        return None

    def _through_proc(self, cid: str) -> CgroupDirs | None:
        for entry in _pids(self.proc_root):
            if container_of(entry, self.proc_root) == cid:
                return self._from_proc_cgroup(entry)
        return None

    def _from_proc_cgroup(self, pid: int) -> CgroupDirs | None:
        try:
            lines = (self.proc_root / str(pid) / "cgroup").read_text().splitlines()
        except OSError:
            return None
        paths: dict[str, str] = {}
        for line in lines:
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path.lstrip("/")
        if self.v2 and "" in paths:
            folder = self.root / paths[""]
            return CgroupDirs(folder, folder, True)
        if "memory" in paths and "cpuacct" in paths:
            cpu_root = next((c for c in ("cpuacct", "cpu,cpuacct") if (self.root / c).is_dir()), "cpuacct")
            return CgroupDirs(self.root / cpu_root / paths["cpuacct"], self.root / "memory" / paths["memory"], False)
        return None


def _pids(proc_root: Path) -> list[int]:
    try:
        return [int(name) for name in os.listdir(proc_root) if name.isdigit()]
    except OSError:
        return []


def process_tree_counters(root_pid: int, proc_root: Path = Path("/proc")) -> Counters:
    """CPU time and resident memory of a process and all its descendants (a Local notebook's server and
    kernels). One pass over /proc."""
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[int, int]] = {}  # pid -> (cpu ticks, rss pages)
    for pid in _pids(proc_root):
        try:
            text = (proc_root / str(pid) / "stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[-1].split()
        if len(fields) < 22:
            continue
        children.setdefault(int(fields[1]), []).append(pid)
        stats[pid] = (int(fields[11]) + int(fields[12]), int(fields[21]))
    if root_pid not in stats:
        return Counters(None, None, None)
    ticks = pages = 0
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        cpu, rss = stats.get(pid, (0, 0))
        ticks, pages = ticks + cpu, pages + rss
        todo.extend(children.get(pid, []))
    per_tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return Counters(ticks * per_tick, pages * os.sysconf("SC_PAGE_SIZE"), None)


class UsageSampler:
    """Turns counters into Usage: CPU % from the previous sample of the same notebook and server."""

    def __init__(self, finder: CgroupFinder | None = None, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.finder = finder or CgroupFinder()
        self.clock = clock
        self._last: dict[str, tuple[str, int, int]] = {}  # name -> (server id, at ns, cpu ns)

    def sample(self, containers: Mapping[str, str], local: Mapping[int, str]) -> dict[str, Usage]:
        """containers: container id -> notebook name; local: server pid -> notebook name. Blocking."""
        now = self.clock()
        counters: dict[str, tuple[str, Counters]] = {}
        for cid, name in containers.items():
            dirs = self.finder.dirs(cid)
            if dirs is not None:
                counters[name] = (cid, dirs.read())
        for pid, name in local.items():
            counters[name] = (f"pid:{pid}", process_tree_counters(pid, self.finder.proc_root))
        self.finder.forget_except(set(containers))
        return self.usage(counters, now)

    def usage(self, counters: Mapping[str, tuple[str, Counters]], now: int) -> dict[str, Usage]:
        """name -> (server id, its counters read at `now`) -> Usage; CPU % against this sampler's previous
        reading of the same server. `now` is in ns of one clock per sampler (a remote host's own, for its)."""
        usage: dict[str, Usage] = {}
        last, self._last = self._last, {}
        for name, (server, found) in counters.items():
            percent = None
            before = last.get(name)
            if found.cpu_ns is not None:
                if before is not None and before[0] == server and now > before[1]:
                    percent = max(0.0, 100.0 * (found.cpu_ns - before[2]) / (now - before[1]))
                self._last[name] = (server, now, found.cpu_ns)
            usage[name] = Usage(percent, found.memory, found.limit)
        return usage
