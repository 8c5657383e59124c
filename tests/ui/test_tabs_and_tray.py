"""Tabs with a stand-in view (no browser), the tray menu's shape, and the lazy QtWebEngine import."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from desktop.ui.tab_area import TabArea
from tests.ui.fake_view import FakeView


def area(qtbot: QtBot) -> tuple[TabArea, list[Any]]:
    opened: list[Any] = []

    def factory(name: str, open_window: Any) -> FakeView:
        view = FakeView()
        opened.append((name, open_window, view))
        return view

    tabs = TabArea(QLabel("home"), factory)
    qtbot.addWidget(tabs)
    return tabs, opened


def test_open_focuses_an_existing_tab_and_hides_the_token(qtbot: QtBot) -> None:
    tabs, opened = area(qtbot)
    tab = tabs.open("a", "http://127.0.0.1:1/lab?token=secret")
    assert tabs.open("a", "http://127.0.0.1:1/lab?token=secret") is tab
    assert len(opened) == 1 and tabs.count() == 2
    assert tabs.tabText(tabs.indexOf(tab)) == "a: JupyterLab"
    assert tab.last_load_ok is True


def test_new_window_from_the_page_becomes_a_tab(qtbot: QtBot) -> None:
    tabs, opened = area(qtbot)
    tabs.open("a", "http://127.0.0.1:1/lab?token=t")
    _, open_window, _ = opened[0]
    view = open_window()
    assert isinstance(view, FakeView)
    assert len(tabs.notebook_tabs("a")) == 2
    assert tabs.currentWidget().view is view


def test_close_notebook_closes_only_its_tabs(qtbot: QtBot) -> None:
    tabs, _ = area(qtbot)
    tabs.open("a", "u")
    tabs.open("b", "u")
    assert tabs.close_notebook("a") == 1
    assert [t.name for t in tabs.notebook_tabs()] == ["b"]
    tabs.tabCloseRequested.emit(0)  # the Notebooks page cannot be closed
    assert tabs.count() == 2


def test_window_import_does_not_load_qtwebengine() -> None:
    code = "import sys, desktop.ui.main_window; sys.exit('PySide6.QtWebEngineWidgets' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
