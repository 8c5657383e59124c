"""Which process a pid names: pid + start time + boot id, so a recycled pid is never taken for our server.

A pid alone is ambiguous: after a crash or a reboot the same number may belong to any other program.
The start time (field 22 of /proc/<pid>/stat, clock ticks since boot) tells processes of one boot apart;
the boot id tells boots apart. Signals go only to a process whose identity matches the recorded one,
and to its process group only when that process leads it.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    start_time: int  # clock ticks after boot
    boot_id: str

    def to_json(self) -> dict[str, int | str]:
        return {"pid": self.pid, "start_time": self.start_time, "boot_id": self.boot_id}


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/<pid>/stat this module needs."""

    state: str  # "R", "S", "Z" (zombie)...
    pgid: int
    start_time: int


def parse_stat(text: str) -> ProcStat | None:
    """Parse /proc/<pid>/stat. The command name (field 2) may hold spaces and ')', so fields are
    counted after the last ')'; None for anything that does not look like a stat line."""
    _, paren, rest = text.rpartition(")")
    fields = rest.split()
    if not paren or len(fields) < 20:
        return None
    try:
        # After ')': field 3 (state) is index 0, so field 5 (pgrp) is 2 and field 22 (starttime) is 19.
        return ProcStat(state=fields[0], pgid=int(fields[2]), start_time=int(fields[19]))
    except ValueError:
        return None


def read_stat(pid: int) -> ProcStat | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            return parse_stat(stat.read())
    except OSError:
        return None


def boot_id() -> str:
    with open(BOOT_ID_FILE, encoding="ascii") as source:
        return source.read().strip()


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of the process that has `pid` now; None when there is none."""
    stat = read_stat(pid)
    return ProcessIdentity(pid, stat.start_time, boot_id()) if stat is not None else None


def is_running(recorded: ProcessIdentity) -> bool:
    """The recorded process still exists, is not a zombie, and is the same one (not a recycled pid)."""
    if recorded.pid <= 0 or recorded.boot_id != boot_id():
        return False
    stat = read_stat(recorded.pid)
    return stat is not None and stat.state != "Z" and stat.start_time == recorded.start_time


def signal_group(recorded: ProcessIdentity, signum: signal.Signals) -> bool:
    """Send `signum` to the process group the recorded process leads; False (nothing sent) unless the
    process is still the recorded one and leads its own group.

    Between the check and killpg a pid cannot be reused while the leader's zombie is unreaped, and a
    group id is not reused while the group has members; what is left is a window of microseconds.
    """
    if recorded.pid <= 1 or recorded.boot_id != boot_id():
        return False
    stat = read_stat(recorded.pid)
    if stat is None or stat.start_time != recorded.start_time or stat.pgid != recorded.pid:
        return False
    try:
        os.killpg(recorded.pid, signum)
    except ProcessLookupError:
        return False
    return True
