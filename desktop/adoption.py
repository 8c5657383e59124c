"""Carrying out what `reconcile` decided: taking in servers the engines report, settling ended ones,
tidying up half-made ones whose launcher died. Nothing here removes a server without first taking
its lease and checking that it is still the same never-started server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from desktop.bounded import bounded
from desktop.core.errors import LabdockError
from desktop.core.models import Notebook, NotebookState
from desktop.engines.base import Engine, Found
from desktop.engines.readiness import http_status
from desktop.lease import Leases
from desktop.reconcile import (
    Action,
    AddStopped,
    Adopt,
    CleanInterrupted,
    Drop,
    MarkGone,
    SettleEnded,
    WatchElsewhere,
)
from desktop.rows import SERVER_GONE, Rows

log = logging.getLogger(__name__)

CLEAN_EXIT_CODES = (0, 143)  # 143: SIGTERM, i.e. an ordinary `docker stop`
PROBE_TIMEOUT = 1.0


class Adoption:
    def __init__(
        self,
        rows: Rows,
        engines: Mapping[str, Engine],
        leases: Leases,
        engine_timeout: float,
        watch_start: Callable[[Notebook], None],
    ) -> None:
        self._rows = rows
        self._engines = engines
        self._leases = leases
        self._timeout = engine_timeout
        self._watch_start = watch_start  # a running server that does not answer yet: see it through

    async def carry_out(self, actions: list[Action]) -> list[Notebook]:
        """All at once (an adoption may probe its server); returns the notebooks a probe found
        answering, to be remembered. One row's failure never keeps the others from being restored."""
        results = await asyncio.gather(*(self._one(action) for action in actions))
        return [notebook for notebook in results if notebook is not None]

    async def _one(self, action: Action) -> Notebook | None:
        try:
            return await self._dispatch(action)
        except LabdockError as exc:
            log.warning("could not restore a notebook (%s): %s", type(action).__name__, exc)
        except Exception:
            log.exception("restoring a notebook failed unexpectedly (%s)", type(action).__name__)
        return None

    async def _dispatch(self, action: Action) -> Notebook | None:
        if isinstance(action, Adopt):
            return await self._adopt(action.found, action.known_up)
        if isinstance(action, SettleEnded):
            state, error = await self._ended_state(action.found)
            self._take_in(action.found, state, error, url=None)
        elif isinstance(action, CleanInterrupted):
            await self._clean_interrupted(action.found)
        elif isinstance(action, WatchElsewhere):
            self._take_in(action.found, NotebookState.STARTING, "being started by another Labdock window or command")
        elif isinstance(action, AddStopped):
            self._rows.apply(Notebook(spec=action.spec, state=NotebookState.STOPPED))
        elif isinstance(action, MarkGone):
            self._rows.apply(self._rows.get(action.name), NotebookState.STOPPED, action.reason, **SERVER_GONE)
        elif isinstance(action, Drop):
            self._rows.drop(self._rows.get(action.name))
        return None

    def _take_in(self, item: Found, state: NotebookState, error: str | None, **fields: Any) -> Notebook:
        """Set a row from what an engine reports; a server other than the one the row knew has its own token."""
        notebook = self._rows.find(item.spec.name) or Notebook(spec=item.spec)
        if notebook.container_id != item.container_id:
            fields.setdefault("token", None)
        self._rows.apply(notebook, state, error, **{"spec": item.spec, "container_id": item.container_id, **fields})
        return notebook

    async def _adopt(self, item: Found, known_up: bool) -> Notebook | None:
        """A running server: READY if it has answered before or answers a probe now, else STARTING
        and watched until it answers. Returns the notebook when a probe found it answering."""
        answering = known_up or (
            item.url is not None and await http_status(item.url, "api/status", None, timeout=PROBE_TIMEOUT) is not None
        )
        known = self._rows.find(item.spec.name)
        started_at = (known.started_at if known is not None else None) or item.created_at
        if answering and item.url is not None:
            notebook = self._take_in(item, NotebookState.READY, None, url=item.url, started_at=started_at)
            return None if known_up else notebook
        notebook = self._take_in(item, NotebookState.STARTING, None, url=item.url, started_at=started_at)
        self._watch_start(notebook)
        return None

    async def _clean_interrupted(self, item: Found) -> None:
        """A server whose launching process died before starting it: remove it, keep the row."""
        name, engine = item.spec.name, self._engines[item.spec.engine]
        fd = self._leases.try_take(name)
        if fd is None:
            return  # a live process is making it after all
        try:
            still = [f for f in await bounded(engine.find(), self._timeout) if f.container_id == item.container_id]
            if not still or not still[0].never_started:
                return  # started (or gone) since it was seen: nothing abandoned here
            await bounded(engine.remove_leftover(name, item.container_id), self._timeout)
        finally:
            self._leases.release(fd)
        self._take_in(item, NotebookState.STOPPED, "its last launch was interrupted; start it again", **SERVER_GONE)

    async def _ended_state(self, item: Found) -> tuple[NotebookState, str | None]:
        exit_code = item.exit_code
        ended = await bounded(self._engines[item.spec.engine].exit_status(item.container_id), self._timeout)
        if ended is not None and ended.oom_killed:
            return NotebookState.FAILED, "stopped outside Labdock: it ran out of memory (OOMKilled)"
        if ended is not None:
            exit_code = ended.exit_code
        if exit_code in CLEAN_EXIT_CODES:
            return NotebookState.STOPPED, None
        return NotebookState.FAILED, f"stopped outside Labdock: exit code {exit_code}"
