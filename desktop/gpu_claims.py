"""GPU claims: a reservation (exclusive GPUs) holds against a launch made at the same moment by another
Labdock window or command.

Each process checks reservations against the notebooks it knows, so two launches begun together would each
miss the other. A GPU launch therefore checks under a lock per machine (an flock, as a notebook's lease is)
against what the other processes are launching there, then leaves a claim of its own before the lock is let
go. A claim is a file under the leases folder, flock'd by its process until its launch ends: by then the
server runs, where the machine's engines show it, or the launch has failed. The kernel drops the flock of a
killed process, so a dead launch's claim counts for nothing and is removed by the next one to look.

Read order matters to the caller: the claims first, then the engines. A launch that ends between the two
reads has a server the engines already show.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from desktop.core.models import Notebook, NotebookSpec, NotebookState, on_this_machine
from desktop.lease import Leases

CLAIM_SUFFIX = ".claim"
LOCK_WAIT_S = 30.0  # the lock is held for a few engine calls; longer means a stuck process, said as LeaseHeld


def machine_of(engine: str) -> str:
    """Notebooks of engines with the same key share GPUs (desktop.core.models.same_machine)."""
    return "this machine" if on_this_machine(engine) else engine


class Claim:
    """A launch's hold on its GPUs, seen by every Labdock process until `release`."""

    def __init__(self, path: Path, fd: int) -> None:
        self._path, self._fd = path, fd

    def release(self) -> None:
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            self._path.unlink()  # before the flock goes, so no reader finds a claim it may take as stale
        Leases.release(self._fd)
        self._fd = -1


@dataclass
class ClaimsLocked:
    """Inside the machine's lock: the launches under way elsewhere, and how to leave this launch's claim."""

    folder: Path
    machine: str
    elsewhere: tuple[Notebook, ...]

    def claim(self, spec: NotebookSpec) -> Claim:
        digest = hashlib.sha256(f"{self.machine}\0{spec.name}".encode()).hexdigest()[:24]
        path = self.folder / f"{digest}{CLAIM_SUFFIX}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # a new file under the machine's lock: nobody else holds it
        os.write(fd, json.dumps({"machine": self.machine, "spec": spec.to_json()}).encode())
        return Claim(path, fd)


class GpuClaims:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._locks = Leases(folder)

    @contextlib.asynccontextmanager
    async def locked(self, engine: str) -> AsyncIterator[ClaimsLocked]:
        """Hold `engine`'s machine's lock; LeaseHeld, in one line, after LOCK_WAIT_S."""
        machine = machine_of(engine)
        self.folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # the leases folder: the user's own
        busy = f"another Labdock window or command has been checking the GPUs of {machine} for {LOCK_WAIT_S:g} s"
        async with self._locks.hold(f"gpus of {machine}", LOCK_WAIT_S, f"{busy}; try again"):
            yield ClaimsLocked(self.folder, machine, tuple(self._live_claims(machine)))

    def _live_claims(self, machine: str) -> list[Notebook]:
        """The notebooks being launched on `machine` by live holders; stale claims are removed."""
        found = []
        for path in sorted(self.folder.glob(f"*{CLAIM_SUFFIX}")):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:  # its launch just ended
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # its holder is launching: the claim stands
                record = _read(fd)
                if record is not None and record[0] == machine:
                    found.append(Notebook(spec=record[1], state=NotebookState.CREATING))
            else:  # nobody holds it: a launch whose process died
                with contextlib.suppress(OSError):
                    path.unlink()
            finally:
                os.close(fd)
        return found


def _read(fd: int) -> tuple[str, NotebookSpec] | None:
    try:
        record = json.loads(os.pread(fd, 1 << 20, 0))
        return str(record["machine"]), NotebookSpec.from_json(record["spec"])
    except (OSError, ValueError, KeyError, TypeError):  # not a claim this version wrote: nothing to honour
        return None
