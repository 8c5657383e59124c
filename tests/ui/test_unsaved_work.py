"""Unsaved work in a real JupyterLab page is never dropped silently: closing its tab, Stop and Quit ask
first and a cancel keeps everything; a stopped server's tab stays under "Stopped — Start again / Close",
and Start again loads the page anew."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.services import Services
from desktop.ui.lab_prefs import split_token
from desktop.ui.main_window import MainWindow
from desktop.ui.notebook_actions import Act
from desktop.ui.notebook_tab import NotebookTab
from desktop.ui.unsaved import dirty_documents
from tests.ui.conftest import shown_window, wait_for
from tests.ui.fake_view import fake_views

pytestmark = [pytest.mark.docker, pytest.mark.gui]
READY_MS = 120_000


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    with shown_window(ui_services) as main:
        yield main


def js(qtbot: QtBot, tab: NotebookTab, script: str) -> object:
    future: asyncio.Future[object] = asyncio.get_event_loop().create_future()
    tab.view.run_js(script, lambda value: future.done() or future.set_result(value))
    qtbot.waitUntil(future.done, timeout=10_000)
    return future.result()


def question(qtbot: QtBot, window: MainWindow) -> QMessageBox:
    def shown() -> list[QMessageBox]:
        return [box for box in window.findChildren(QMessageBox) if box.isVisible()]

    qtbot.waitUntil(lambda: len(shown()) == 1, timeout=10_000)
    return shown()[0]


def answer(box: QMessageBox, button: QMessageBox.StandardButton) -> None:
    clicked = box.button(button)
    assert clicked is not None
    clicked.click()


def test_unsaved_changes_are_asked_about(qtbot: QtBot, window: MainWindow, images: object) -> None:
    name = "editing"
    spec = NotebookSpec(name=name, image=images.plain, network_mode=NetworkMode.HOST)  # type: ignore[attr-defined]
    notebook = wait_for(qtbot, window.manager.create(spec), 120)
    assert notebook.spec.work_dir is not None
    (notebook.spec.work_dir / "notes.txt").write_text("first line\n")
    window.commands.open_tab(name)
    qtbot.waitUntil(lambda: bool(window.tabs.notebook_tabs(name)), timeout=20_000)
    tab = window.tabs.notebook_tabs(name)[0]
    url = notebook.url_with_token()
    assert url is not None
    base, token = split_token(url)
    tab.load(f"{base}lab/tree/notes.txt?token={token}")
    editor = "document.querySelector('.jp-FileEditor .cm-content')"
    qtbot.waitUntil(lambda: js(qtbot, tab, f"{editor} !== null") is True, timeout=60_000)
    assert wait_for(qtbot, dirty_documents(tab)) == []
    js(qtbot, tab, f"{editor}.focus(); document.execCommand('insertText', false, 'unsaved words ')")
    qtbot.waitUntil(lambda: wait_for(qtbot, dirty_documents(tab)) == ["notes.txt"], timeout=20_000)

    window.tabs.tabCloseRequested.emit(window.tabs.indexOf(tab))  # the tab's close button
    box = question(qtbot, window)
    assert "notes.txt" in box.text() and name in box.text()
    answer(box, QMessageBox.StandardButton.Cancel)
    qtbot.waitUntil(lambda: not window.runner.running("close-tab"))
    assert window.tabs.notebook_tabs(name) == [tab] and window.tabs.currentWidget() is tab

    window.notebook_actions[Act.STOP].trigger()  # the tab is in front: Stop is about it
    answer(question(qtbot, window), QMessageBox.StandardButton.Cancel)
    qtbot.waitUntil(lambda: not window.runner.running(name))
    assert window.manager.get(name).state is NotebookState.READY

    window.request_quit()
    answer(question(qtbot, window), QMessageBox.StandardButton.Cancel)
    qtbot.waitUntil(lambda: not window.runner.running("quit-check"))
    assert window.isVisible() and not window.runner.running("quit")

    window.notebook_actions[Act.STOP].trigger()
    answer(question(qtbot, window), QMessageBox.StandardButton.Discard)
    qtbot.waitUntil(lambda: window.manager.get(name).state is NotebookState.STOPPED, timeout=30_000)
    assert window.tabs.notebook_tabs(name) == [tab]  # the tab stays, its page as it was
    assert tab.stale and tab.strip.isVisible() and "is stopped" in tab.strip.text.text()
    assert "unsaved words" in str(js(qtbot, tab, f"{editor}.textContent"))

    tab.last_load_ok = None
    tab.strip.start_button.click()
    qtbot.waitUntil(lambda: window.manager.get(name).state is NotebookState.READY, timeout=READY_MS)
    qtbot.waitUntil(lambda: not tab.stale, timeout=20_000)
    assert not tab.strip.isVisible()
    new_token = window.manager.get(name).token
    assert new_token and new_token != token
    qtbot.waitUntil(lambda: tab.last_load_ok is True, timeout=60_000)  # the new page, not the old one

    window.tabs.tabCloseRequested.emit(window.tabs.indexOf(tab))  # a fresh page: nothing to ask
    qtbot.waitUntil(lambda: window.tabs.notebook_tabs(name) == [], timeout=10_000)


def test_a_stopped_tab_closes_from_its_strip(qtbot: QtBot, ui_services: Services, images: object) -> None:
    factory, made = fake_views()
    with shown_window(ui_services, factory) as window:
        spec = NotebookSpec(name="quick", image=images.plain, network_mode=NetworkMode.HOST)  # type: ignore[attr-defined]
        wait_for(qtbot, window.manager.create(spec), 120)
        window.commands.open_tab("quick")
        qtbot.waitUntil(lambda: bool(window.tabs.notebook_tabs("quick")), timeout=10_000)
        tab = window.tabs.notebook_tabs("quick")[0]
        made[0][2].dirty = ["draft.ipynb"]
        window.commands.stop("quick")
        answer(question(qtbot, window), QMessageBox.StandardButton.Discard)
        qtbot.waitUntil(lambda: window.manager.get("quick").state is NotebookState.STOPPED, timeout=30_000)
        made[0][2].dirty = []
        tab.strip.close_button.click()
        qtbot.waitUntil(lambda: window.tabs.notebook_tabs("quick") == [], timeout=10_000)
