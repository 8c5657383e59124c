"""The window end to end: real manager, real Docker engine, real QtWebEngine tab.

New notebook dialog -> row READY -> its tab shows JupyterLab -> Stop from the tray menu -> row
STOPPED, the tab kept under its "stopped" strip, container gone.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.models import NotebookState
from desktop.services import Services
from desktop.ui.lab_prefs import NOTIFICATION_PLUGIN, split_token
from desktop.ui.main_window import MainWindow
from desktop.ui.notebook_model import Column
from tests.conftest import Engine
from tests.ui.conftest import shown_window, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.gui]
READY_MS = 120_000


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    with shown_window(ui_services) as main:
        yield main


def state_of(window: MainWindow, name: str) -> NotebookState | None:
    row = window.model.row_of(name)
    return None if row is None else window.model.notebook(row).state


def test_create_open_and_stop_from_the_tray(
    qtbot: QtBot, window: MainWindow, images: object, docker_engine: Engine
) -> None:
    name = "ui-one"
    assert window.stack.currentWidget() is window.hint  # the empty table's start hint
    dialog = window.new_notebook()
    qtbot.keyClicks(dialog.name_edit, name)
    dialog.image_combo.setEditText(images.plain)  # type: ignore[attr-defined]
    assert dialog.create_button.isEnabled()
    dialog.create_button.click()

    qtbot.waitUntil(lambda: window.model.row_of(name) is not None, timeout=10_000)
    assert window.stack.currentWidget() is window.table
    qtbot.waitUntil(lambda: state_of(window, name) is NotebookState.READY, timeout=READY_MS)
    row = window.model.row_of(name)
    assert row is not None
    assert window.model.index(row, Column.URL).data().startswith("http://127.0.0.1:")

    window.commands.open_tab(name)
    qtbot.waitUntil(lambda: bool(window.tabs.notebook_tabs(name)), timeout=10_000)
    tab = window.tabs.notebook_tabs(name)[0]
    qtbot.waitUntil(lambda: "JupyterLab" in tab.page_title(), timeout=60_000)
    label = window.tabs.tabText(window.tabs.indexOf(tab))
    token = window.manager.get(name).token
    assert token and token not in label and token not in tab.page_title()
    assert news_setting(window, name) == "false"  # JupyterLab's news question is answered for the user

    window.tray.rebuild()
    stop = window.tray.action(name, "Stop")
    assert stop is not None and stop.isEnabled()
    stop.trigger()
    qtbot.waitUntil(lambda: state_of(window, name) is NotebookState.STOPPED, timeout=30_000)
    assert window.tabs.notebook_tabs(name) == [tab]  # the page stays, under its strip
    assert tab.stale and not tab.strip.isHidden() and "is stopped" in tab.strip.text.text()
    container = window.services.settings.container_prefix + name
    # STOPPED comes first, the container goes right after: the raw list call, so a removal in flight is no error.
    qtbot.waitUntil(lambda: not docker_engine.client.api.containers(all=True, filters={"name": container}))


def news_setting(window: MainWindow, name: str) -> object:
    url = window.manager.get(name).url_with_token()
    assert url is not None
    base, token = split_token(url)
    request = urllib.request.Request(f"{base}lab/api/settings/{NOTIFICATION_PLUGIN}")
    request.add_header("Authorization", f"token {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["settings"].get("fetchNews")


def test_errors_reach_the_status_bar(qtbot: QtBot, window: MainWindow) -> None:
    task = window.commands.open_tab("no-such-notebook")
    qtbot.waitUntil(task.done, timeout=10_000)
    message = window.statusBar().currentMessage()
    assert "Could not open 'no-such-notebook'" in message
    assert "Traceback" not in message


def test_restore_and_start_again(qtbot: QtBot, window: MainWindow, images: object) -> None:
    from desktop.core.models import NetworkMode, NotebookSpec

    spec = NotebookSpec(name="ui-two", image=images.plain, network_mode=NetworkMode.HOST)  # type: ignore[attr-defined]
    wait_for(qtbot, window.manager.create(spec), 120)
    assert state_of(window, "ui-two") is NotebookState.READY
    window.commands.stop("ui-two")
    qtbot.waitUntil(lambda: state_of(window, "ui-two") is NotebookState.STOPPED, timeout=30_000)
    window.commands.start("ui-two")
    qtbot.waitUntil(lambda: state_of(window, "ui-two") is NotebookState.READY, timeout=READY_MS)
    assert ("ui-two is ready", "Click to open it.") in window.tray.messages
