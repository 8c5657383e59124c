"""The notebook rows of one process and the one way to change them.

Every change goes through `Rows.apply`, which always tells the listeners, and bumps the row's
revision so a reader that awaited meanwhile (restore) can tell which rows moved under it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from desktop.core.errors import NoSuchNotebook
from desktop.core.models import Notebook, NotebookState

log = logging.getLogger(__name__)


class EventKind(Enum):
    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"


@dataclass(frozen=True)
class NotebookEvent:
    kind: EventKind
    notebook: Notebook


Listener = Callable[[NotebookEvent], None]
UNSET: Any = object()
SERVER_GONE = {"container_id": None, "url": None, "token": None, "started_at": None}


class Rows:
    def __init__(self) -> None:
        self._notebooks: dict[str, Notebook] = {}
        self._revision: dict[str, int] = {}
        self._listeners: list[Listener] = []

    def list(self) -> list[Notebook]:
        return list(self._notebooks.values())

    def get(self, name: str) -> Notebook:
        try:
            return self._notebooks[name]
        except KeyError:
            raise NoSuchNotebook(name) from None

    def find(self, name: str) -> Notebook | None:
        return self._notebooks.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._notebooks

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def revisions(self) -> dict[str, int]:
        return dict(self._revision)

    def revision(self, name: str) -> int | None:
        return self._revision.get(name)

    def apply(
        self, notebook: Notebook, state: NotebookState | None = None, error: str | None = UNSET, **fields: Any
    ) -> None:
        """Set what is given, then always tell the listeners. A new state clears the error unless one
        is given (and a pull's progress unless it is PULLING); a row not listed yet is added."""
        for name, value in fields.items():
            if not hasattr(notebook, name):
                raise AttributeError(name)
            setattr(notebook, name, value)
        if state is not None:
            notebook.state = state
            notebook.error = None if error is UNSET else error
            if state is not NotebookState.PULLING:
                notebook.pull_progress = None
        elif error is not UNSET:
            notebook.error = error
        self._bump(notebook.name)
        added = self._notebooks.get(notebook.name) is not notebook
        if added:
            self._notebooks[notebook.name] = notebook
        self._emit(EventKind.ADDED if added else EventKind.CHANGED, notebook)

    def drop(self, notebook: Notebook) -> None:
        if self._notebooks.get(notebook.name) is notebook:
            del self._notebooks[notebook.name]
            self._bump(notebook.name)
            self._emit(EventKind.REMOVED, notebook)

    def _bump(self, name: str) -> None:
        self._revision[name] = self._revision.get(name, 0) + 1

    def _emit(self, kind: EventKind, notebook: Notebook) -> None:
        for listener in list(self._listeners):
            try:
                listener(NotebookEvent(kind, notebook))
            except Exception:  # a broken view must not break the manager
                log.exception("notebook listener failed")
