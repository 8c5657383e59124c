"""Launch leases: which Labdock process may change a notebook's server right now.

A lease is an exclusive `flock` on a per-notebook file under the config folder. The kernel drops it
when its holder exits, however it exits (kill -9 included), so a lease can never outlive a dead
process and never needs cleaning up. Every Labdock process (window and CLI alike) takes it around
create/start/stop/remove of that notebook; `restore()` only tidies up a half-made server when it
can take the lease itself, i.e. when no live process is still making it.

flock locks belong to an open file description, so two leases on one name conflict even inside
one process: the manager's own per-notebook asyncio lock is taken first and keeps that from mattering.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from desktop.core.errors import LeaseHeld

POLL_INTERVAL = 0.05


class Leases:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, name: str) -> Path:
        # Names are validated elsewhere, but a lease file must never depend on that: hash it.
        digest = hashlib.sha256(name.encode()).hexdigest()[:24]
        return self.folder / f"{digest}.lock"

    def _open(self, name: str) -> int:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return os.open(self._path(name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def try_take(self, name: str) -> int | None:
        """The lease's file descriptor, or None when another holder has it. Release with `release`."""
        fd = self._open(name)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    @staticmethod
    def release(fd: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def held_elsewhere(self, name: str) -> bool:
        """Whether a live holder has the lease now (a snapshot: it may be released a moment later)."""
        fd = self.try_take(name)
        if fd is None:
            return True
        self.release(fd)
        return False

    @contextlib.asynccontextmanager
    async def hold(self, name: str, wait: float | None = None, busy: str | None = None) -> AsyncIterator[None]:
        """Hold the lease for the block. Waits up to `wait` seconds for another holder (None: for
        as long as it takes; 0: not at all), polling so the wait stays cancellable; raises LeaseHeld
        (saying `busy`, else that another Labdock is working on `name`)."""
        loop = asyncio.get_running_loop()
        deadline = None if wait is None else loop.time() + wait
        while (fd := self.try_take(name)) is None:
            if deadline is not None and loop.time() >= deadline:
                busy = busy or f"another Labdock window or command is working on '{name}' right now; try again"
                raise LeaseHeld(busy)
            await asyncio.sleep(POLL_INTERVAL)
        try:
            yield
        finally:
            self.release(fd)
