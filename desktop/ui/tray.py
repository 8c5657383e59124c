"""The tray icon: a menu rebuilt from the manager's state each time it opens (every per-notebook action,
enabled as in the window), "New notebook…", and notifications when a notebook becomes READY or FAILED."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from desktop.core.models import NotebookState
from desktop.manager import NotebookManager
from desktop.rows import EventKind, NotebookEvent
from desktop.ui.commands import NotebookCommands
from desktop.ui.notebook_actions import NEW_SHORTCUT, Act, fill_menu
from desktop.ui.resources import app_icon, state_icon
from desktop.ui.row_reach import HOST_AWAY, row_away

# Actions that show something in the window (or ask in a dialog) bring the window up first.
SHOWS_WINDOW = {Act.OPEN, Act.SHOW_LOG, Act.REMOVE, Act.EDIT, Act.DUPLICATE, Act.RENAME}


class Tray(QObject):
    notification_clicked = Signal(str)  # the notebook the clicked notification was about

    def __init__(
        self,
        manager: NotebookManager,
        commands: NotebookCommands,
        show_window: Callable[[], None],
        quit_app: Callable[[], None],
        parent: QObject | None = None,
        *,
        new_notebook: Callable[[], object] = lambda: None,
    ) -> None:
        super().__init__(parent)
        self._manager = manager
        self._commands = commands
        self._show_window = show_window
        self._quit_app = quit_app
        self._new_notebook = new_notebook
        self._states: dict[str, NotebookState] = {}
        self.messages: list[tuple[str, str]] = []  # what was notified, newest last
        self.notified: str | None = None  # the notebook of the last notification, if it was about one
        # Entries put first in the menu by others (Keep running, from desktop.ui.idle_notice).
        self.extra_entries: Callable[[], list[tuple[str, Callable[[], None]]]] = list
        self.icon = QSystemTrayIcon(app_icon(), self)
        self.icon.setToolTip("Labdock")
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self._message_clicked)
        self.rebuild()

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        self.icon.show()

    def rebuild(self) -> None:
        """Build the menu from the notebooks as they are now."""
        for action in self.menu.actions():
            if action.menu() is not None:
                action.menu().deleteLater()
        self.menu.clear()
        extra = self.extra_entries()
        for text, slot in extra:
            self._add(self.menu, text, slot, True)
        if extra:
            self.menu.addSeparator()
        self._add(self.menu, f"New notebook…\t{NEW_SHORTCUT}", self._new, True)
        self.menu.addSeparator()
        notebooks = sorted(self._manager.list(), key=lambda n: n.name)
        problem = self._manager.engine_problem
        for notebook in notebooks:
            name, state = notebook.name, notebook.state
            away = row_away(notebook, problem, self._manager.hosts.problems)
            label = state.value if away is None else f"{state.value}, {HOST_AWAY}" if away.known else "unknown"
            sub = self.menu.addMenu(state_icon(state), f"{name} ({label})")
            sub.setObjectName(f"tray-{name}")
            fill_menu(sub, notebook, self._run, problem)
        if not notebooks:
            self._add(self.menu, "No notebooks", lambda: None, False)
        self.menu.addSeparator()
        any_active = any(n.state.active for n in notebooks)
        self._add(self.menu, "Stop all", lambda: self._commands.stop_all(), any_active)
        self._add(self.menu, "Show window", self._show_window, True)
        self._add(self.menu, "Quit", self._quit_app, True)

    @staticmethod
    def _add(menu: QMenu, text: str, slot: Callable[..., object], enabled: bool) -> QAction:
        action = menu.addAction(text)
        action.setEnabled(enabled)
        action.triggered.connect(slot)
        return action

    def action(self, *path: str) -> QAction | None:
        """The menu action at `path`, e.g. action("vision", "Stop") or action("Quit")."""
        menu, found = self.menu, None
        for depth, part in enumerate(path):
            found = None
            for action in menu.actions():
                label = action.text().split(" (", 1)[0] if action.menu() else action.text().split("\t", 1)[0]
                if label == part:
                    found = action
                    break
            if found is None:
                return None
            if depth < len(path) - 1:
                sub = found.menu()
                if not isinstance(sub, QMenu):
                    return None
                menu = sub
        return found

    def _run(self, act: Act, name: str) -> None:
        if act in SHOWS_WINDOW:
            self._show_window()
        self._commands.run(act, name)

    def _new(self) -> None:
        self._show_window()
        self._new_notebook()

    def _message_clicked(self) -> None:
        if self.notified is not None:
            self.notification_clicked.emit(self.notified)
        else:
            self._show_window()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason is QSystemTrayIcon.ActivationReason.Trigger:
            self._show_window()

    def on_event(self, event: NotebookEvent) -> None:
        """Notify when a notebook turns READY or FAILED (not when an already running one is adopted)."""
        notebook = event.notebook
        before = self._states.get(notebook.name)
        if event.kind is EventKind.REMOVED:
            self._states.pop(notebook.name, None)
            return
        self._states[notebook.name] = notebook.state
        if event.kind is EventKind.ADDED or before is notebook.state:
            return
        if notebook.state is NotebookState.READY:
            self.notify(f"{notebook.name} is ready", "Click to open it.", about=notebook.name)
        elif notebook.state is NotebookState.FAILED:
            reason = (notebook.error or "unknown reason").splitlines()[0]
            self.notify(f"{notebook.name} failed", reason, QSystemTrayIcon.MessageIcon.Warning, about=notebook.name)

    def notify(
        self,
        title: str,
        text: str,
        icon: QSystemTrayIcon.MessageIcon = QSystemTrayIcon.MessageIcon.Information,
        *,
        about: str | None = None,
    ) -> None:
        """Show a notification; `about` names the notebook a click on it brings up."""
        self.messages.append((title, text))
        self.notified = about
        if self.icon.isVisible() and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(title, text, icon, 5000)
