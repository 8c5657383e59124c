"""The toolbar and the shortcuts act on the notebook whose tab is in front, not on the row selected in
the hidden table; each tab shows its notebook's state icon."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.services import Services
from desktop.ui.main_window import MainWindow
from desktop.ui.notebook_actions import Act
from desktop.ui.resources import state_icon
from tests.ui.conftest import shown_window, wait_for
from tests.ui.fake_view import fake_views

pytestmark = [pytest.mark.docker, pytest.mark.gui]


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    factory, _ = fake_views()
    with shown_window(ui_services, factory) as main:
        yield main


def icon_key(window: MainWindow, name: str) -> int:
    tab = window.tabs.notebook_tabs(name)[0]
    return window.tabs.tabIcon(window.tabs.indexOf(tab)).cacheKey()


def test_the_tab_in_front_is_the_target(qtbot: QtBot, window: MainWindow, images: object) -> None:
    def spec(name: str) -> NotebookSpec:
        return NotebookSpec(name=name, image=images.plain, network_mode=NetworkMode.HOST)  # type: ignore[attr-defined]

    manager = window.manager
    wait_for(qtbot, asyncio.gather(manager.create(spec("front")), manager.create(spec("behind"))), 120)
    window.commands.open_tab("front")
    qtbot.waitUntil(lambda: bool(window.tabs.notebook_tabs("front")), timeout=10_000)
    window.table.select_name("behind")
    assert window.tabs.currentWidget() is window.tabs.notebook_tabs("front")[0]
    current = window.current_notebook()
    assert current is not None and current.name == "front"
    assert icon_key(window, "front") == state_icon(NotebookState.READY).cacheKey()

    window.activateWindow()
    QTest.keyClick(window.tabs.currentWidget(), Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)  # Stop
    qtbot.waitUntil(lambda: manager.get("front").state is NotebookState.STOPPED, timeout=30_000)
    assert manager.get("behind").state is NotebookState.READY

    window.tabs.show_home()
    current = window.current_notebook()
    assert current is not None and current.name == "behind"
    assert window.notebook_actions[Act.STOP].isEnabled()
