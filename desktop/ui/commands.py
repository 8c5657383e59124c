"""NotebookCommands: the one way in for every user action (toolbar, context menu, tray).

Each command starts a manager call as a tracked task; failures reach the user as one line. `run`
dispatches the per-notebook actions of desktop.ui.notebook_actions by their Act. Stop, Restart, Remove
and Stop all first ask the `guard` (desktop.ui.unsaved) when JupyterLab in a tab has unsaved changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget
from shiboken6 import isValid

from desktop import browser_launch
from desktop.core.errors import EngineUnavailable
from desktop.core.models import NotebookSpec, on_this_machine
from desktop.manager import NotebookManager
from desktop.settings import Settings, save_settings
from desktop.store import Paths
from desktop.ui import theme
from desktop.ui.lab_prefs import prepare_lab
from desktop.ui.new_name_dialog import NewName, ask_new_name
from desktop.ui.notebook_actions import Act
from desktop.ui.remove_dialog import RemoveChoice, ask_remove
from desktop.ui.row_reach import one_line
from desktop.ui.tab_area import TabArea
from desktop.ui.tasks import TaskRunner
from desktop.ui.unsaved import UnsavedGuard, dirty_documents


class NotebookCommands(QObject):
    logs_requested = Signal(str)
    message = Signal(str)  # a short note for the status bar

    def __init__(
        self,
        manager: NotebookManager,
        runner: TaskRunner,
        tabs: TabArea,
        settings: Settings,
        paths: Paths,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.runner = runner
        self.tabs = tabs
        self.settings = settings
        self.paths = paths
        self.confirm_remove: Callable[[str], RemoveChoice] = lambda name: self._ask_remove(parent, name)
        self.ask_name: Callable[[str, bool], NewName | None] = lambda name, duplicate: ask_new_name(
            parent, name, duplicate, lambda new: new in {n.name for n in manager.list()}
        )
        self.edit_requested: Callable[[str], object] = lambda _name: None  # the window opens its dialog
        self.guard = UnsavedGuard(tabs, parent)
        self.dark: Callable[[], bool] = theme.is_dark  # JupyterLab's theme follows ours

    async def _may_end(self, names: list[str], doing: str) -> bool:
        return await self.guard.may_end(names, doing)

    def create(self, spec: NotebookSpec, secrets: Mapping[str, str] | None = None) -> asyncio.Task[Any]:
        """Launch; the row appears as soon as the manager accepts the request."""
        self.settings.remember_image(spec.image)
        self.runner.run("settings", asyncio.to_thread(save_settings, self.paths, self.settings))
        launch = self.manager.create(spec, wait=False, secrets=dict(secrets or {}))
        return self.runner.run(spec.name, launch, f"Could not create '{spec.name}'")

    def open_tab(self, name: str) -> asyncio.Task[Any]:
        return self.runner.run(name, self._open_tab(name), f"Could not open '{name}'")

    async def _open_tab(self, name: str) -> None:
        url = await self.lab_url(name)
        if isValid(self.tabs):  # the window may have gone meanwhile
            self.tabs.open(name, url)

    def _check_host(self, name: str) -> None:
        """A page of a notebook whose remote host does not answer would fail to load with no reason given:
        say the host's problem instead (the next refresh that reaches the host lifts this)."""
        problem = self.manager.hosts.problem(self.manager.get(name).engine)
        if problem is not None:
            raise EngineUnavailable(one_line(problem))

    async def lab_url(self, name: str) -> str:
        """The URL that logs a tab in, once JupyterLab's preferences (news, theme) are set."""
        self._check_host(name)
        url = await self.manager.url_with_token(name)
        await prepare_lab(url, self.dark())
        return url

    def reload_tabs(self, name: str) -> asyncio.Task[Any]:
        """The notebook is ready again (new URL, new token): its stopped tabs load it."""

        async def run() -> None:
            url = await self.lab_url(name)
            for tab in self.tabs.notebook_tabs(name) if isValid(self.tabs) else []:
                if tab.stale:
                    tab.load(url)

        return self.runner.run(name, run(), f"Could not open '{name}' again")

    def retheme(self, name: str) -> asyncio.Task[Any]:
        """Labdock turned light or dark: JupyterLab's theme follows; a page with unsaved work keeps its
        look until it loads again (a reload now would ask about the work), the others reload."""

        async def run() -> None:
            url = await self.lab_url(name)
            for tab in self.tabs.notebook_tabs(name) if isValid(self.tabs) else []:
                if tab.stale:
                    continue
                if await dirty_documents(tab):
                    self.message.emit(f"'{name}' has unsaved changes: its new theme shows when it next loads")
                else:
                    tab.load(url)

        return self.runner.run(f"theme:{name}", run(), f"Could not change the theme of '{name}'")

    def open_in_browser(self, name: str) -> asyncio.Task[Any]:
        """Through a private redirect page, so the token is on no command line (see browser_launch)."""

        async def run() -> None:
            self._check_host(name)
            url = await self.manager.url_with_token(name)
            folder = browser_launch.private_folder(self.paths.data_dir)
            await asyncio.to_thread(browser_launch.open_in_browser, url, folder)

        return self.runner.run(name, run(), f"Could not open '{name}'")

    def copy_url(self, name: str) -> asyncio.Task[Any]:
        async def run() -> None:
            QGuiApplication.clipboard().setText(await self.manager.url_with_token(name))
            self.message.emit(f"Copied the URL of '{name}' (it includes the login token)")

        return self.runner.run(name, run(), f"Could not copy the URL of '{name}'")

    def show_logs(self, name: str) -> None:
        self.logs_requested.emit(name)

    def run(self, act: Act, name: str) -> object:
        """Carry out one of the per-notebook actions (toolbar, row menu, tray and shortcuts all come here)."""
        commands: dict[Act, Callable[[str], object]] = {
            Act.OPEN: self.open_tab,
            Act.OPEN_BROWSER: self.open_in_browser,
            Act.COPY_URL: self.copy_url,
            Act.SHOW_LOG: self.show_logs,
            Act.START: self.start,
            Act.STOP: self.stop,
            Act.RESTART: self.restart,
            Act.REMOVE: self.remove,
            Act.EDIT: self.edit_requested,
            Act.DUPLICATE: self.duplicate,
            Act.RENAME: self.rename,
        }
        return commands[act](name)

    def start(self, name: str) -> asyncio.Task[Any]:
        return self.runner.run(name, self.manager.start(name, wait=False), f"Could not start '{name}'")

    def replace(
        self, name: str, spec: NotebookSpec, secrets: Mapping[str, str] | None = None, *, start: bool = True
    ) -> asyncio.Task[Any]:
        """Edit…: the notebook's new settings (what the dialog does not show is kept; `secrets` holds only
        values the user typed), then a start when it had failed."""

        async def run() -> None:
            await self.manager.edit(name, spec, secrets=dict(secrets or {}))
            if start:
                await self.manager.start(name, wait=False)

        return self.runner.run(name, run(), f"Could not {'start' if start else 'change'} '{name}'")

    def duplicate(self, name: str) -> asyncio.Task[Any] | None:
        answer = self.ask_name(name, True)
        if answer is None:
            return None
        copy = self.manager.duplicate(name, answer.name, same_work_dir=answer.same_work_dir)
        return self.runner.run(answer.name, copy, f"Could not duplicate '{name}'")

    def rename(self, name: str) -> asyncio.Task[Any] | None:
        answer = self.ask_name(name, False)
        if answer is None:
            return None
        return self.runner.run(name, self.manager.rename(name, answer.name), f"Could not rename '{name}'")

    def restart(self, name: str) -> asyncio.Task[Any]:
        """Stop, then start with the same spec and work folder; the start makes a fresh token."""

        async def run() -> None:
            if await self._may_end([name], "Restart"):
                await self.manager.stop(name)
                await self.manager.start(name, wait=False)

        return self.runner.run(name, run(), f"Could not restart '{name}'")

    def stop(self, name: str) -> asyncio.Task[Any]:
        async def run() -> None:
            if await self._may_end([name], "Stop"):
                await self.manager.stop(name)

        return self.runner.run(name, run(), f"Could not stop '{name}'")

    def remove(self, name: str) -> asyncio.Task[Any] | None:
        choice = self.confirm_remove(name)
        if choice is RemoveChoice.CANCEL:
            return None

        async def run() -> None:
            if not await self._may_end([name], "Remove"):
                return
            if choice is RemoveChoice.FORGET:
                await self.manager.forget(name)
                self.message.emit(f"Forgot '{name}'; anything of it on its host stays there")
                return
            removed = await self.manager.remove(name, delete_work=choice is RemoveChoice.DELETE_WORK)
            if removed.kept_because is not None:
                self.message.emit(f"Removed '{name}'; kept its work folder {removed.work_dir}: {removed.kept_because}")
            elif removed.work_deleted:
                self.message.emit(f"Removed '{name}' and deleted its work folder {removed.work_dir}")

        return self.runner.run(name, run(), f"Could not remove '{name}'")

    def _ask_remove(self, parent: QWidget | None, name: str) -> RemoveChoice:
        notebook = self.manager.get(name)
        host = None if on_this_machine(notebook.engine) else notebook.engine
        unreachable = self.manager.hosts.problem(notebook.engine) if host else None
        return ask_remove(parent, name, notebook.spec.work_dir, host, unreachable)

    def stop_all(self) -> asyncio.Task[Any]:
        async def run() -> None:
            if await self._may_end([n.name for n in self.manager.list() if n.state.active], "Stop all"):
                await self.manager.stop_all()

        return self.runner.run("stop-all", run(), "Could not stop every notebook")
