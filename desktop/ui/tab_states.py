"""What a notebook's tabs do as its state changes: a removed notebook's tabs close; a server that stops
or fails leaves its tabs in place under a "Stopped — Start again / Close" strip (the page as it was, so
nothing on it is lost unseen); once the notebook is ready again those tabs load its new URL."""

from __future__ import annotations

from desktop.core.models import Notebook, NotebookState
from desktop.ui.commands import NotebookCommands
from desktop.ui.resources import state_icon
from desktop.ui.tab_area import TabArea


def stopped_text(notebook: Notebook) -> str:
    name, state = notebook.name, notebook.state
    if state is NotebookState.FAILED:
        return f"'{name}' failed: {(notebook.error or 'no reason given').splitlines()[0]}"
    if state is NotebookState.STOPPED:
        return f"'{name}' is stopped. This page can no longer save; start it again to go on working."
    if state is NotebookState.STOPPING:
        return f"'{name}' is stopping…"
    return f"'{name}' is starting again…"


def follow(tabs: TabArea, commands: NotebookCommands, notebook: Notebook, removed: bool) -> str | None:
    """Bring `notebook`'s tabs in line with its state; returns a note for the status bar, if any."""
    name = notebook.name
    if removed:
        tabs.forget_notebook(name)
        return f"'{name}' is removed: closed its tab." if tabs.close_notebook(name) else None
    tabs.set_notebook_icon(name, state_icon(notebook.state))
    open_tabs = tabs.notebook_tabs(name)
    if not open_tabs:
        return None
    if notebook.state is NotebookState.READY:
        if any(tab.stale for tab in open_tabs):
            commands.reload_tabs(name)
        return None
    can_start = notebook.state in (NotebookState.STOPPED, NotebookState.FAILED)
    if notebook.state.busy and not any(tab.stale for tab in open_tabs) and notebook.state is not NotebookState.STOPPING:
        return None  # a tab opened while it was still starting: nothing to say
    tabs.show_stopped(name, stopped_text(notebook), can_start)
    return None
