"""A notebook created in the window opens in a tab once it is ready (a preference, on by default);
clicking a ready or failed notification brings the window up on that notebook."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.models import NotebookState
from desktop.services import Services
from desktop.settings import Settings
from desktop.ui.main_window import MainWindow
from tests.ui.conftest import shown_window
from tests.ui.fake_view import fake_views

pytestmark = [pytest.mark.docker, pytest.mark.gui]
READY_MS = 120_000


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    factory, _ = fake_views()
    with shown_window(ui_services, factory) as main:
        yield main


def create(qtbot: QtBot, window: MainWindow, name: str, image: str) -> None:
    dialog = window.new_notebook()
    qtbot.keyClicks(dialog.name_edit, name)
    dialog.image_combo.setEditText(image)
    dialog.create_button.click()
    qtbot.waitUntil(lambda: window.model.row_of(name) is not None, timeout=10_000)


def test_opens_when_ready_and_notifications_lead_to_the_notebook(
    qtbot: QtBot, window: MainWindow, images: object
) -> None:
    assert Settings().open_when_ready
    create(qtbot, window, "auto", images.plain)  # type: ignore[attr-defined]
    assert window.tabs.currentWidget() is window.tabs.widget(0)  # the Notebooks page while it starts
    qtbot.waitUntil(lambda: bool(window.tabs.notebook_tabs("auto")), timeout=READY_MS)
    assert window.manager.get("auto").state is NotebookState.READY
    assert window.tabs.currentWidget() is window.tabs.notebook_tabs("auto")[0]

    window.tabs.show_home()
    window.hide()
    assert window.tray.notified == "auto"
    window.tray.icon.messageClicked.emit()
    assert window.isVisible()
    qtbot.waitUntil(lambda: window.tabs.currentWidget() is window.tabs.notebook_tabs("auto")[0], timeout=10_000)

    window.services.settings.open_when_ready = False
    create(qtbot, window, "broken", "example.org/missing/image:1")
    qtbot.waitUntil(lambda: window.manager.get("broken").state is NotebookState.FAILED, timeout=60_000)
    assert window.tray.notified == "broken"
    window.tray.icon.messageClicked.emit()
    assert window.tabs.currentWidget() is window.tabs.widget(0)
    selected = window.table.selected()
    assert selected is not None and selected.name == "broken"
    assert window.log_view.name == "broken"

    create(qtbot, window, "manual", images.plain)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: window.manager.get("manual").state is NotebookState.READY, timeout=READY_MS)
    assert window.tabs.notebook_tabs("manual") == []  # the preference is off: no tab of its own
