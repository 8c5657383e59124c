"""Idle stop, told to the user: a tray notification a minute before an idle notebook is stopped, and a
"Keep running" entry (the tray menu's top, or a click on the notification) that postpones the stop.

The manager's idle watcher (desktop.idle_stop) decides; this only listens to its events and answers with
manager.idle.postpone(name).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QSystemTrayIcon

from desktop.idle_stop import IdleEvent, IdleEventKind
from desktop.manager import NotebookManager
from desktop.ui.tray import Tray


def keep_running_text(name: str) -> str:
    return f"Keep '{name}' running"


class IdleNotice(QObject):
    def __init__(self, manager: NotebookManager, tray: Tray, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._manager = manager
        self._tray = tray
        self.warned: set[str] = set()  # notebooks to be stopped soon unless kept running
        tray.extra_entries = self.entries
        tray.notification_clicked.connect(self._clicked)
        self._unsubscribe: Callable[[], None] = manager.idle.subscribe(self.on_event)

    def close(self) -> None:
        self._unsubscribe()

    def on_event(self, event: IdleEvent) -> None:
        name = event.name
        if event.kind is IdleEventKind.WARNING:
            self.warned.add(name)
            self._tray.notify(
                f"{name} will stop in a minute",
                "It has been idle. Click here, or Keep running in the tray menu, to keep it.",
                QSystemTrayIcon.MessageIcon.Warning,
                about=name,
            )
        elif event.kind is IdleEventKind.CLEARED:
            self.warned.discard(name)
        elif event.kind is IdleEventKind.STOPPED:
            self.warned.discard(name)
            self._tray.notify(f"{name} was stopped", "It was idle; its work folder stays.", about=name)

    def keep_running(self, name: str) -> None:
        self.warned.discard(name)
        self._manager.idle.postpone(name)

    def entries(self) -> list[tuple[str, Callable[[], None]]]:
        """Tray menu entries, one per warned notebook."""
        return [(keep_running_text(name), functools.partial(self.keep_running, name)) for name in sorted(self.warned)]

    def _clicked(self, name: str) -> None:
        if name in self.warned:
            self.keep_running(name)
