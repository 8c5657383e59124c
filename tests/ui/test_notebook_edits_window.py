"""In the window, against the real engine: a notebook made with a secret through the dialog, its value in
no widget afterwards (nor in the Edit dialog, which saves other changes and keeps the secret); Duplicate…
and Rename… from the row menu; the idle stop warning with Keep running."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QAbstractItemView, QComboBox, QLabel, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.idle_stop import IdleEvent, IdleEventKind
from desktop.services import Services
from desktop.ui.idle_notice import keep_running_text
from desktop.ui.main_window import MainWindow
from desktop.ui.new_name_dialog import NewName
from desktop.ui.new_notebook_dialog import NewNotebookDialog
from desktop.ui.notebook_actions import Act, menu_action
from tests.ui.conftest import shown_window, wait_for

SECRET = "s3cr3t-hf-token-value"
READY_MS = 120_000


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    ui_services.settings.network_mode = NetworkMode.HOST.value
    ui_services.settings.open_when_ready = False
    with shown_window(ui_services) as main:
        yield main


def all_texts(root: QWidget) -> list[str]:
    texts: list[str] = []
    for line in root.findChildren(QLineEdit):
        texts += [line.text(), line.placeholderText()]
    texts += [label.text() for label in root.findChildren(QLabel)]
    texts += [button.text() for button in root.findChildren(QAbstractButton)]
    for combo in root.findChildren(QComboBox):
        texts += [combo.itemText(i) for i in range(combo.count())]
    for view in root.findChildren(QAbstractItemView):  # the notebook table, the dialog's tables
        model = view.model()
        if model is None:
            continue
        for row in range(model.rowCount()):
            for col in range(model.columnCount()):
                for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                    texts.append(str(model.data(model.index(row, col), role)))
    return texts


def row_menu_entry(window: MainWindow, name: str, text: str) -> object:
    entry = menu_action(window.table.menu_for(window.manager.get(name)), text)
    assert entry is not None
    return entry


@pytest.mark.docker
@pytest.mark.gui
def test_secret_edit_duplicate_rename(qtbot: QtBot, window: MainWindow, images: object) -> None:
    dialog = window.new_notebook()
    qtbot.keyClicks(dialog.name_edit, "sec")
    dialog.image_combo.setEditText(images.plain)  # type: ignore[attr-defined]
    dialog.advanced.env.add("PLAIN", "one")
    dialog.advanced.env.add("HF_TOKEN", SECRET, secret=True)
    assert dialog.create_button.isEnabled(), dialog.advanced_problem.text()
    dialog.create_button.click()
    qtbot.waitUntil(lambda: "sec" in {n.name for n in window.manager.list()}, timeout=10_000)
    qtbot.waitUntil(lambda: window.manager.get("sec").state is NotebookState.READY, timeout=READY_MS)
    assert window.manager.get("sec").spec.secret_names == ("HF_TOKEN",)
    assert not any(SECRET in text for text in all_texts(window))

    wait_for(qtbot, window.manager.stop("sec"), 60)
    edit = row_menu_entry(window, "sec", "Edit…")
    assert edit.isEnabled()  # type: ignore[attr-defined]
    edit.trigger()  # type: ignore[attr-defined]
    editing = [d for d in window.findChildren(NewNotebookDialog) if d.isVisible()]
    assert len(editing) == 1
    env = editing[0].advanced.env
    assert env.rows() == [("PLAIN", "one", False), ("HF_TOKEN", "", True)]
    assert not any(SECRET in text for text in all_texts(editing[0]))
    env.value_field(0).setText("two")
    editing[0].create_button.click()
    qtbot.waitUntil(lambda: window.manager.get("sec").spec.env == (("PLAIN", "two"),), timeout=30_000)
    assert window.manager.get("sec").spec.secret_names == ("HF_TOKEN",)
    assert window.manager.get("sec").state is NotebookState.STOPPED  # saved, not started

    window.commands.ask_name = lambda name, duplicate: NewName("sec-copy") if duplicate else NewName("sec-two")
    row_menu_entry(window, "sec", "Duplicate…").trigger()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: "sec-copy" in {n.name for n in window.manager.list()}, timeout=30_000)
    assert window.manager.get("sec-copy").spec.env == (("PLAIN", "two"),)
    row_menu_entry(window, "sec-copy", "Rename…").trigger()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: "sec-two" in {n.name for n in window.manager.list()}, timeout=30_000)
    assert "sec-copy" not in {n.name for n in window.manager.list()}
    assert not any(SECRET in text for text in all_texts(window))


@pytest.mark.gui
def test_running_notebook_offers_no_rename(window: MainWindow) -> None:
    from desktop.core.models import Notebook
    from desktop.ui.notebook_actions import applies

    running = Notebook(NotebookSpec("x", "img"), state=NotebookState.READY)
    assert not any(applies(act, running) for act in (Act.EDIT, Act.DUPLICATE, Act.RENAME))


@pytest.mark.gui
def test_idle_warning_with_keep_running(qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    postponed: list[str] = []
    monkeypatch.setattr(window.manager.idle, "postpone", postponed.append)
    # What the idle watcher sends a minute before the stop (desktop.idle_stop emits to its subscribers).
    window.manager.idle._emit(IdleEvent(IdleEventKind.WARNING, "vision", time.time() + 60))
    title, _text = window.tray.messages[-1]
    assert title == "vision will stop in a minute"
    window.tray.rebuild()
    keep = window.tray.action(keep_running_text("vision"))
    assert keep is not None and keep.isEnabled()
    keep.trigger()
    assert postponed == ["vision"]
    window.tray.rebuild()
    assert window.tray.action(keep_running_text("vision")) is None

    window.manager.idle._emit(IdleEvent(IdleEventKind.WARNING, "vision", time.time() + 60))
    window.tray.notification_clicked.emit("vision")  # a click on the notification keeps it too
    assert postponed == ["vision", "vision"]
