"""Every lifecycle action in the toolbar, the row menu and the tray, each enabled exactly when it
applies, with its shortcut shown; Restart keeps the settings and changes the token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from desktop.core.models import NetworkMode, Notebook, NotebookSpec, NotebookState
from desktop.services import Services
from desktop.ui.main_window import MainWindow
from desktop.ui.new_notebook_dialog import NewNotebookDialog
from desktop.ui.notebook_actions import ACTIONS, Act, applies, menu_action
from tests.ui.conftest import shown_window, wait_for

READY_MS = 120_000
ALL = [info.act for info in ACTIONS]
SETTLED = {Act.START, Act.EDIT, Act.DUPLICATE, Act.RENAME}  # only for a notebook that is not running
EXPECTED = {
    NotebookState.READY: set(ALL) - SETTLED,
    NotebookState.STOPPED: {Act.SHOW_LOG, Act.REMOVE} | SETTLED,
    NotebookState.FAILED: {Act.SHOW_LOG, Act.REMOVE} | SETTLED,
    NotebookState.STARTING: {Act.SHOW_LOG, Act.STOP, Act.REMOVE},
    NotebookState.STOPPING: {Act.SHOW_LOG},
}


@pytest.mark.parametrize("state", list(EXPECTED), ids=[s.value for s in EXPECTED])
def test_each_action_applies_in_its_states(state: NotebookState) -> None:
    notebook = Notebook(NotebookSpec("a", "img"), state=state)
    assert {act for act in ALL if applies(act, notebook)} == EXPECTED[state]
    assert {act for act in ALL if applies(act, notebook, engine_away=True)} == {Act.SHOW_LOG}
    assert not any(applies(act, None) for act in ALL)


def enabled(menu: QMenu) -> set[Act]:
    found = set()
    for info in ACTIONS:
        action = menu_action(menu, info.text)
        assert action is not None, info.text
        assert "\t" in action.text()  # the shortcut is shown beside the entry
        if action.isEnabled():
            found.add(info.act)
    return found


def toolbar_enabled(window: MainWindow) -> set[Act]:
    return {act for act, action in window.notebook_actions.actions.items() if action.isEnabled()}


def tray_enabled(window: MainWindow, name: str) -> set[Act]:
    window.tray.rebuild()
    entry = window.tray.action(name)
    assert entry is not None
    sub = entry.menu()
    assert isinstance(sub, QMenu)
    return enabled(sub)


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    with shown_window(ui_services) as main:
        yield main


@pytest.mark.docker
@pytest.mark.gui
def test_toolbar_row_menu_and_tray_agree(qtbot: QtBot, window: MainWindow, images: object) -> None:
    name = "life"
    spec = NotebookSpec(name=name, image=images.plain, network_mode=NetworkMode.HOST)  # type: ignore[attr-defined]
    assert toolbar_enabled(window) == set()  # nothing chosen
    new = window.tray.action("New notebook…")
    assert new is not None and new.isEnabled()
    wait_for(qtbot, window.manager.create(spec), 120)
    window.table.select_name(name)

    def states_agree(state: NotebookState) -> None:
        notebook = window.manager.get(name)
        assert notebook.state is state
        window._update_actions()
        assert toolbar_enabled(window) == EXPECTED[state]
        assert enabled(window.table.menu_for(notebook)) == EXPECTED[state]
        assert tray_enabled(window, name) == EXPECTED[state]

    states_agree(NotebookState.READY)
    start = window.notebook_actions[Act.START]
    assert "F5" in start.toolTip() and start.shortcut().toString() == "F5"
    assert "Ctrl+Shift+F5" in window.notebook_actions[Act.RESTART].toolTip()

    before = window.manager.get(name)
    token, work = before.token, before.spec.work_dir
    window.notebook_actions[Act.RESTART].trigger()
    qtbot.waitUntil(lambda: window.manager.get(name).state is not NotebookState.READY, timeout=10_000)
    qtbot.waitUntil(lambda: window.manager.get(name).state is NotebookState.READY, timeout=READY_MS)
    after = window.manager.get(name)
    assert after.token and after.token != token and after.spec.work_dir == work

    stop = window.tray.action(name, "Stop")
    assert stop is not None
    stop.trigger()
    qtbot.waitUntil(lambda: window.manager.get(name).state is NotebookState.STOPPED, timeout=30_000)
    states_agree(NotebookState.STOPPED)

    menu = window.table.menu_for(window.manager.get(name))
    start_entry = menu_action(menu, "Start")
    assert start_entry is not None
    start_entry.trigger()
    qtbot.waitUntil(lambda: window.manager.get(name).state is NotebookState.READY, timeout=READY_MS)

    window.tray.rebuild()
    new = window.tray.action("New notebook…")
    assert new is not None
    new.trigger()
    dialogs = [d for d in window.findChildren(NewNotebookDialog) if d.isVisible()]
    assert len(dialogs) == 1
    dialogs[0].reject()
