"""Light and dark: the window follows the palette (the system's, or the Theme preference), its meaningful
colours are derived from it, and JupyterLab in a real tab turns to the matching theme."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop.core.models import NetworkMode, NotebookSpec
from desktop.services import Services
from desktop.settings import THEME_DARK, THEME_LIGHT, THEME_SYSTEM
from desktop.ui import theme
from desktop.ui.lab_prefs import THEMES_PLUGIN, split_token
from desktop.ui.main_window import MainWindow
from desktop.ui.notebook_model import Column
from desktop.ui.notebook_tab import NotebookTab
from tests.ui.conftest import shown_window, wait_for

pytestmark = [pytest.mark.gui]


@pytest.fixture
def app(qapp: QApplication) -> Iterator[QApplication]:
    yield qapp
    theme.apply_choice(qapp, THEME_SYSTEM)  # the next tests see the platform's look again


def test_the_preference_turns_the_palette_and_the_colours(qtbot: QtBot, app: QApplication) -> None:
    light_ready = theme.ready_colour()
    theme.apply_choice(app, THEME_DARK)
    assert theme.is_dark() and app.style().name().lower() == "fusion"
    dark_ready = theme.ready_colour()
    assert dark_ready.lightness() > light_ready.lightness()  # brighter on a dark base
    base = app.palette().base().color()
    assert abs(dark_ready.lightness() - base.lightness()) > 80  # it stands out
    theme.apply_choice(app, THEME_LIGHT)
    assert not theme.is_dark()
    theme.apply_choice(app, THEME_SYSTEM)
    assert not theme.is_dark()  # this machine's platform palette is light


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services, app: QApplication) -> Iterator[MainWindow]:
    with shown_window(ui_services) as main:
        yield main


def lab_theme(window: MainWindow, name: str) -> object:
    url = window.manager.get(name).url_with_token()
    assert url is not None
    base, token = split_token(url)
    request = urllib.request.Request(f"{base}lab/api/settings/{THEMES_PLUGIN}")
    request.add_header("Authorization", f"token {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["settings"].get("theme")


def page_theme(qtbot: QtBot, tab: NotebookTab) -> object:
    found: list[object] = []
    tab.view.run_js("document.body.dataset.jpThemeName || ''", found.append)
    qtbot.waitUntil(lambda: bool(found), timeout=10_000)
    return found[0]


@pytest.mark.docker
def test_a_theme_switch_reaches_the_rows_and_jupyterlab(
    qtbot: QtBot, window: MainWindow, app: QApplication, images: object
) -> None:
    name = "themed"
    spec = NotebookSpec(name=name, image=images.plain, network_mode=NetworkMode.HOST)  # type: ignore[attr-defined]
    wait_for(qtbot, window.manager.create(spec), 120)
    window.commands.open_tab(name)
    qtbot.waitUntil(lambda: bool(window.tabs.notebook_tabs(name)), timeout=20_000)
    tab = window.tabs.notebook_tabs(name)[0]
    qtbot.waitUntil(lambda: page_theme(qtbot, tab) == "JupyterLab Light", timeout=60_000)
    assert lab_theme(window, name) == "JupyterLab Light"
    row = window.model.row_of(name)
    assert row is not None
    state = window.model.index(row, Column.STATE)

    with qtbot.waitSignal(window.theme.changed, timeout=5_000) as turned:
        theme.apply_choice(app, THEME_DARK)
    assert turned.args == [True]
    assert state.data(Qt.ItemDataRole.ForegroundRole).color() == theme.ready_colour()
    qtbot.waitUntil(lambda: lab_theme(window, name) == "JupyterLab Dark", timeout=20_000)
    qtbot.waitUntil(lambda: page_theme(qtbot, tab) == "JupyterLab Dark", timeout=60_000)  # the page reloaded

    theme.apply_choice(app, THEME_SYSTEM)
    qtbot.waitUntil(lambda: page_theme(qtbot, tab) == "JupyterLab Light", timeout=60_000)
