"""Runs manager coroutines as asyncio tasks from Qt slots, keeps references, reports failures.

A LabdockError becomes its one-line message for the user; anything else is logged with its traceback
and shown as a short message, never raised into Qt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from desktop.core.errors import LabdockError

log = logging.getLogger(__name__)


class TaskRunner:
    def __init__(self, on_error: Callable[[str], None]) -> None:
        self._on_error = on_error
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def run(self, key: str, coro: Coroutine[Any, Any, Any], what: str | None = None) -> asyncio.Task[Any]:
        """Start `coro`; `what` prefixes an error message (e.g. "Could not stop 'a'")."""
        task = asyncio.ensure_future(coro)
        self._tasks[f"{key}#{id(task)}"] = task
        task.add_done_callback(lambda t: self._done(f"{key}#{id(t)}", t, what))
        return task

    def running(self, key: str) -> bool:
        return bool(self.unfinished(key))

    def unfinished(self, key: str) -> list[asyncio.Task[Any]]:
        """The tasks started under `key` that have not ended yet."""
        return [t for k, t in self._tasks.items() if k.split("#", 1)[0] == key and not t.done()]

    def pending(self) -> list[asyncio.Task[Any]]:
        return [t for t in self._tasks.values() if not t.done()]

    def _done(self, key: str, task: asyncio.Task[Any], what: str | None) -> None:
        self._tasks.pop(key, None)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        prefix = f"{what}: " if what else ""
        if isinstance(exc, LabdockError):
            self._on_error(f"{prefix}{exc}")
        else:
            log.error("background task %s failed", key, exc_info=exc)
            self._on_error(f"{prefix}unexpected error ({type(exc).__name__}: {exc})")
