"""Which notebook tabs open, and when: on request (a ready notebook's tab opens now, one still starting
opens once it is ready), for a notebook created in the window (when "open when ready" is on), and the
tabs that were open when the window last closed."""

from __future__ import annotations

import asyncio

from desktop.core.models import Notebook, NotebookState
from desktop.manager import NotebookManager
from desktop.ui.commands import NotebookCommands
from desktop.ui.tab_area import TabArea

ENDED = {NotebookState.STOPPING, NotebookState.STOPPED, NotebookState.FAILED}


class TabOpener:
    def __init__(self, manager: NotebookManager, commands: NotebookCommands, tabs: TabArea) -> None:
        self.manager = manager
        self.commands = commands
        self.tabs = tabs
        self.pending: set[str] = set()  # names whose tab opens as soon as they are READY

    def _find(self, name: str) -> Notebook | None:
        return next((n for n in self.manager.list() if n.name == name), None)

    def open(self, name: str) -> str | None:
        """Open `name`'s tab, now or once ready (a notebook not listed yet may be on its way: a window
        that has only begun to look). Returns why it cannot, if it cannot."""
        notebook = self._find(name)
        if notebook is not None and notebook.state is NotebookState.READY:
            self.commands.open_tab(name)
        elif notebook is None or notebook.state.busy:
            self.pending.add(name)
        else:
            return f"'{name}' is {notebook.state.value}: start it to open it."
        return None

    def when_ready(self, name: str) -> None:
        self.pending.add(name)

    def on_change(self, notebook: Notebook, removed: bool) -> None:
        """A manager event: a pending notebook that became ready opens; one that ended is let go."""
        if notebook.name not in self.pending:
            return
        if removed or notebook.state in ENDED:
            self.pending.discard(notebook.name)
        elif notebook.state is NotebookState.READY:
            self.pending.discard(notebook.name)
            self.commands.open_tab(notebook.name)

    async def reopen(self, names: list[str], current: str | None) -> None:
        """The tabs of the last session, in their order, `current` in front (else the Notebooks page)."""
        ready = []
        for name in names:
            notebook = self._find(name)
            if notebook is not None and notebook.state is NotebookState.READY:
                ready.append(name)
            elif notebook is not None and notebook.state.busy:
                self.pending.add(name)
        urls = await asyncio.gather(*(self.commands.lab_url(name) for name in ready), return_exceptions=True)
        for name, url in zip(ready, urls, strict=True):
            if isinstance(url, str):  # one that stopped meanwhile is left out
                self.tabs.open(name, url)
        front = self.tabs.notebook_tabs(current) if current else []
        if front:
            self.tabs.setCurrentWidget(front[0])
        else:
            self.tabs.show_home()
