"""The window comes back as it was left: size, splitter, GPU dock, column widths and the open tabs
(the one in front too), from window.json."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.models import NetworkMode, NotebookSpec
from desktop.services import Services
from desktop.ui.notebook_model import Column
from desktop.ui.window_layout import layout_file
from tests.ui.conftest import shown_window, wait_for
from tests.ui.fake_view import fake_views

pytestmark = [pytest.mark.docker, pytest.mark.gui]


def test_layout_and_tabs_are_restored(qtbot: QtBot, ui_services: Services, images: object) -> None:
    def spec(name: str) -> NotebookSpec:
        return NotebookSpec(name=name, image=images.plain, network_mode=NetworkMode.HOST)  # type: ignore[attr-defined]

    factory, _ = fake_views()
    with shown_window(ui_services, factory) as first:
        wait_for(qtbot, first.manager.create(spec("left")), 120)
        wait_for(qtbot, first.manager.create(spec("right")), 120)
        for name in ("left", "right"):
            first.commands.open_tab(name)
            qtbot.waitUntil(lambda name=name: bool(first.tabs.notebook_tabs(name)), timeout=10_000)
        first.tabs.setCurrentWidget(first.tabs.notebook_tabs("left")[0])
        first.resize(760, 530)  # inside the offscreen screen (800 x 600)
        first.tabs.show_home()
        first.home.setSizes([300, 250])
        sizes = first.home.sizes()
        first.table.setColumnWidth(Column.NAME, 211)
        first.gpu.hide()
        first.tabs.setCurrentWidget(first.tabs.notebook_tabs("left")[0])
    assert layout_file(ui_services.paths).exists()

    with shown_window(ui_services, factory) as second:
        assert (second.width(), second.height()) == (760, 530)
        assert second.table.columnWidth(Column.NAME) == 211
        assert second.gpu.isHidden()
        qtbot.waitUntil(lambda: len(second.tabs.notebook_tabs()) == 2, timeout=20_000)
        assert second.home.sizes() == sizes  # (with the tabs back: their icons make the tab bar taller)
        assert [tab.name for tab in second.tabs.notebook_tabs()] == ["left", "right"]
        qtbot.waitUntil(lambda: second.tabs.currentWidget() is second.tabs.notebook_tabs("left")[0], timeout=10_000)
