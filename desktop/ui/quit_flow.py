"""Quitting: first JupyterLab's unsaved work in the tabs (desktop.ui.unsaved), then stop the running
notebooks or leave them running (settings.quit_action: ask/stop/leave).

Left running, they are adopted again by the next start of Labdock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMainWindow, QMessageBox, QWidget

from desktop.core.errors import LabdockError
from desktop.manager import NotebookManager
from desktop.settings import QUIT_ASK, QUIT_LEAVE, QUIT_STOP, Settings
from desktop.ui.tab_area import TabArea
from desktop.ui.tasks import TaskRunner
from desktop.ui.unsaved import UnsavedGuard

log = logging.getLogger(__name__)


def ask_quit_action(parent: QWidget | None, running: list[str]) -> str | None:
    """QUIT_STOP, QUIT_LEAVE, or None when the user cancels."""
    box = QMessageBox(parent)
    box.setWindowTitle("Quit Labdock")
    listed = ", ".join(f"'{n}'" for n in running[:5]) + (" and more" if len(running) > 5 else "")
    box.setText(f"{len(running)} notebook(s) still running: {listed}.")
    box.setInformativeText("Stop them, or leave them running? Labdock finds them again when it starts.")
    stop = box.addButton("Stop them", QMessageBox.ButtonRole.DestructiveRole)
    leave = box.addButton("Leave running", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(leave)
    box.exec()
    clicked = box.clickedButton()
    if clicked is stop:
        return QUIT_STOP
    if clicked is leave:
        return QUIT_LEAVE
    return None


def decide(quit_action: str, running: list[str], parent: QWidget | None) -> str | None:
    if not running:
        return QUIT_LEAVE
    if quit_action in (QUIT_STOP, QUIT_LEAVE):
        return quit_action
    if quit_action != QUIT_ASK:
        return QUIT_LEAVE
    return ask_quit_action(parent, running)


class Quitter:
    """The window's way out. `detach` lets go of the manager and hides the window; `finish` (the app's)
    ends the event loop once the manager is closed."""

    def __init__(
        self,
        window: QMainWindow,
        runner: TaskRunner,
        manager: NotebookManager,
        settings: Settings,
        guard: UnsavedGuard,
        tabs: TabArea,
        detach: Callable[[], None],
        finish: Callable[[], None] | None,
    ) -> None:
        self.window = window
        self.runner = runner
        self.manager = manager
        self.settings = settings
        self.guard = guard
        self.tabs = tabs
        self.detach = detach
        self.finish = finish
        self.quitting = False

    def request(self) -> None:
        """Quit, once the unsaved work in the tabs is saved or let go and the quit question answered."""
        if self.runner.running("quit") or self.runner.running("quit-check"):
            return

        async def check() -> None:
            if await self.guard.may_close(self.tabs.notebook_tabs(), "Quit"):
                QTimer.singleShot(0, self._decide)  # a modal question: not from inside a task

        self.runner.run("quit-check", check())

    def _decide(self) -> None:
        running = [n.name for n in self.manager.list() if n.state.active]
        choice = decide(self.settings.quit_action, running, self.window)
        if choice is not None:
            self.runner.run("quit", self._quit(choice == QUIT_STOP), "Could not stop every notebook")

    def leave_running(self) -> None:
        """Quit now, notebooks left running (SIGTERM/SIGINT); the next start adopts them."""
        if not self.runner.running("quit"):
            self.runner.run("quit", self._quit(False), "Could not quit cleanly")

    async def _quit(self, stop: bool) -> None:
        self.quitting = True
        try:
            if stop:
                self.window.statusBar().showMessage("Stopping the notebooks…")
                await self.manager.stop_all()
        finally:
            self.detach()
            spares = self.manager.spares
            try:  # spares go with the window, unless the notebooks are left running for the next start
                if spares is not None:
                    await asyncio.shield(spares.quit(keep_running=not stop))
            except LabdockError as exc:
                log.warning("could not remove the spare notebooks: %s", exc)
            await asyncio.shield(self.manager.close())
            if self.finish is not None:
                self.finish()
