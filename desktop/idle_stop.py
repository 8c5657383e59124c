"""Idle stop: a notebook that asked for it is stopped after N minutes without activity.

Activity is judged the way jupyterhub-idle-culler and jupyter_server's kernel culler judge it, from the
server's own account: /api/status's last_activity (API requests, kernel and terminal messages) and, per
kernel, /api/kernels' execution_state, last_activity and connections. A busy kernel is activity now (a
training run is not idle however quiet it is). Connections alone are not: an open tab that nobody uses
is what a forgotten notebook looks like (a tab in use makes requests, and those count). Our own
requests never count: /api/status does not track activity and /api/kernels is asked with
no_track_activity.

A WARNING event goes out at least `warn_before` seconds before the stop (the window shows it with
"Keep running", which calls postpone()); a notebook is stopped only by a watcher that warned first, so a
short-lived CLI process never stops anything. A server that cannot be asked is never judged idle.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from desktop.core.errors import LabdockError
from desktop.core.models import Notebook, NotebookState
from desktop.jupyter_api import Server, get_json

log = logging.getLogger(__name__)

BUSY_STATES = ("busy", "starting")


@dataclass(frozen=True)
class Activity:
    last_activity: float  # epoch seconds
    busy_kernels: int
    connections: int

    def last_active(self, now: float) -> float:
        return now if self.busy_kernels else self.last_activity


class IdleEventKind(enum.Enum):
    WARNING = "warning"  # it will be stopped at stop_at unless there is activity or postpone()
    CLEARED = "cleared"  # a warning no longer holds (activity, postpone, or it stopped otherwise)
    STOPPED = "stopped"


@dataclass(frozen=True)
class IdleEvent:
    kind: IdleEventKind
    name: str
    stop_at: float | None = None


IdleListener = Callable[[IdleEvent], None]


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def activity_from(status: dict[str, Any], kernels: list[dict[str, Any]]) -> Activity:
    times = [_epoch(status.get("last_activity")), _epoch(status.get("started"))]
    times += [_epoch(kernel.get("last_activity")) for kernel in kernels]
    return Activity(
        last_activity=max((t for t in times if t is not None), default=0.0),
        busy_kernels=sum(1 for kernel in kernels if kernel.get("execution_state") in BUSY_STATES),
        connections=sum(int(kernel.get("connections") or 0) for kernel in kernels),
    )


async def read_activity(url: str, token: str) -> Activity | None:
    """From the server's own API (api/status does not count as activity; api/kernels is asked not to)."""
    server = Server("", "", url, token)
    try:
        status, kernels = await asyncio.gather(
            get_json(server, "api/status"), get_json(server, "api/kernels?no_track_activity=1")
        )
    except LabdockError:
        return None  # not answering now: judged again next round
    if not isinstance(status, dict) or not isinstance(kernels, list):
        return None
    return activity_from(status, [k for k in kernels if isinstance(k, dict)])


class IdleStop:
    """`minute` is the length of a minute in seconds (shorter in tests); `clock` gives epoch seconds."""

    def __init__(
        self,
        notebooks: Callable[[], list[Notebook]],
        stop: Callable[[str, str], Awaitable[None]],
        token: Callable[[Notebook], Awaitable[str | None]],
        *,
        warn_before: float = 60.0,
        minute: float = 60.0,
        clock: Callable[[], float] = time.time,
        read: Callable[[str, str], Awaitable[Activity | None]] = read_activity,
    ) -> None:
        self._notebooks, self._stop, self._token, self._read = notebooks, stop, token, read
        self.warn_before, self.minute, self._clock = warn_before, minute, clock
        self._warned: dict[str, float] = {}  # name -> when the warning went out
        self._postponed: dict[str, float] = {}  # name -> when the user said "keep running"
        self._listeners: list[IdleListener] = []

    def subscribe(self, listener: IdleListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _emit(self, event: IdleEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("idle listener failed")

    def postpone(self, name: str) -> None:
        """'Keep running': the notebook's idle time starts again now."""
        self._postponed[name] = self._clock()
        self._clear(name)

    def _clear(self, name: str) -> None:
        if self._warned.pop(name, None) is not None:
            self._emit(IdleEvent(IdleEventKind.CLEARED, name))

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("idle check failed")
            await asyncio.sleep(interval)

    async def check(self) -> None:
        watched = [
            n
            for n in self._notebooks()
            if n.state is NotebookState.READY and n.spec.idle_stop_minutes and n.url is not None
        ]
        for name in set(self._warned) - {n.name for n in watched}:
            self._clear(name)  # stopped or changed otherwise meanwhile
        await asyncio.gather(*(self._check_one(n) for n in watched))

    async def _check_one(self, notebook: Notebook) -> None:
        name, url, minutes = notebook.name, notebook.url, notebook.spec.idle_stop_minutes
        assert url is not None and minutes is not None
        try:
            token = await self._token(notebook)
        except LabdockError:
            return
        activity = await self._read(url, token) if token else None
        if activity is None:
            return
        now = self._clock()
        last = max(activity.last_active(now), self._postponed.get(name, 0.0), notebook.started_at or 0.0)
        limit = minutes * self.minute
        idle = now - last
        warned_at = self._warned.get(name)
        if idle < limit - self.warn_before:
            self._clear(name)
        elif warned_at is None:
            self._warned[name] = now
            stop_at = max(last + limit, now + self.warn_before)
            log.info("'%s' is idle: it will be stopped in %.0f s unless it is used", name, stop_at - now)
            self._emit(IdleEvent(IdleEventKind.WARNING, name, stop_at))
        elif idle >= limit and now - warned_at >= self.warn_before:
            del self._warned[name]
            try:
                await self._stop(name, f"stopped after {minutes} min without activity")
            except LabdockError as exc:
                log.warning("idle stop of '%s' failed: %s", name, exc)
                return
            log.info("'%s' was stopped after %d min without activity", name, minutes)
            self._emit(IdleEvent(IdleEventKind.STOPPED, name))
