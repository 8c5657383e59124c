"""Where a host process comes from, read from /proc: its container, its ancestry and its Jupyter kernel.

The kernel id is on a kernel's command line (`ipykernel_launcher -f …/kernel-<id>.json`); a process a
kernel started (a DataLoader worker, `!python train.py`) finds it on an ancestor's. The ancestry also
ties a process to a Local server, whose kernels are its children. Blocking file reads: call from a
worker thread. A pid that is gone, or not visible from here, reads as None.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from desktop.gpu import container_of

MAX_DEPTH = 32  # ancestors walked up from a GPU process (a kernel's grandchild is a few levels down)
_KERNEL_FILE = re.compile(r"kernel-([0-9A-Za-z][0-9A-Za-z_-]{0,127})\.json$")


@dataclass(frozen=True)
class Origin:
    start_time: int
    container: str | None
    ancestry: tuple[int, ...]  # the process, its parent, ... up to (not including) pid 1
    kernel_id: str | None
    kernel_pid: int | None
    command: str


def _stat(pid: int, root: Path) -> tuple[int, int] | None:
    """(parent pid, start time) from /proc/<pid>/stat; the name field may hold spaces and ')'."""
    try:
        with open(f"{root}/{pid}/stat", "rb") as stat:  # plain open: read for every GPU process every round
            fields = stat.read().rpartition(b")")[2].split()
    except OSError:
        return None
    try:
        return int(fields[1]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _argv(pid: int, root: Path) -> tuple[str, ...]:
    try:
        raw = (root / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ()
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def kernel_id_of(argv: Sequence[str]) -> str | None:
    """The kernel id from a kernel's command line (`-f …/kernel-<id>.json`), else None."""
    for arg in argv:
        match = _KERNEL_FILE.search(arg)
        if match:
            return match.group(1)
    return None


def short_command(argv: Sequence[str], width: int = 60) -> str:
    if not argv:
        return ""
    text = " ".join([argv[0].rsplit("/", 1)[-1], *argv[1:]])
    return text if len(text) <= width else text[: width - 1] + "…"


def origin_of(pid: int, root: Path) -> Origin | None:
    stat = _stat(pid, root)
    if stat is None:
        return None
    argv = _argv(pid, root)
    ancestry, kernel_id, kernel_pid = [pid], kernel_id_of(argv), None
    current, parent = pid, stat[0]
    while kernel_id is None and parent > 1 and len(ancestry) < MAX_DEPTH:
        current = parent
        ancestry.append(current)
        kernel_id = kernel_id_of(_argv(current, root))
        kernel_pid = current if kernel_id is not None else None
        up = _stat(current, root)
        parent = up[0] if up is not None else 0
    while parent > 1 and len(ancestry) < MAX_DEPTH:  # on up to the server (Local notebooks)
        ancestry.append(parent)
        up = _stat(parent, root)
        parent = up[0] if up is not None else 0
    return Origin(stat[1], container_of(pid, root), tuple(ancestry), kernel_id, kernel_pid, short_command(argv))


def start_time_of(pid: int, root: Path) -> int | None:
    """The process's start time (clock ticks after boot): a pid with another start time is another process."""
    stat = _stat(pid, root)
    return stat[1] if stat is not None else None
