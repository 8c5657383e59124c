"""Remove in the window: the work folder goes only when the user ticks it, and only when it is
Labdock's own folder that no other notebook uses; otherwise it stays and the status bar says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from desktop.core.models import NotebookSpec, NotebookState
from desktop.services import Services
from desktop.store import SpecStore
from desktop.ui.main_window import MainWindow
from desktop.ui.remove_dialog import RemoveChoice, ask_remove, folder_size
from tests.ui.conftest import shown_window, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.gui]


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    paths = ui_services.paths
    own, shared = paths.default_work_dir("own"), paths.default_work_dir("shared")
    for folder in (own, shared):
        folder.mkdir(parents=True)
        (folder / "train.ipynb").write_text("{}")
    store = SpecStore(paths)
    store.put(NotebookSpec("own", "img", work_dir=own))
    store.put(NotebookSpec("shared", "img", work_dir=shared))
    store.put(NotebookSpec("sharer", "img", work_dir=shared))
    with shown_window(ui_services) as main:
        wait_for(qtbot, ui_services.manager.restore())
        yield main


def test_delete_work_when_asked_and_safe(qtbot: QtBot, window: MainWindow) -> None:
    own = window.manager.get("own").spec.work_dir
    assert own is not None and window.manager.get("own").state is NotebookState.STOPPED
    window.commands.confirm_remove = lambda name: RemoveChoice.DELETE_WORK
    with qtbot.waitSignal(window.commands.message, timeout=10_000) as said:
        window.commands.remove("own")
    assert not own.exists()
    assert said.args == [f"Removed 'own' and deleted its work folder {own}"]


def test_a_shared_work_folder_is_kept_and_the_user_told_why(qtbot: QtBot, window: MainWindow) -> None:
    shared = window.manager.get("shared").spec.work_dir
    assert shared is not None
    window.commands.confirm_remove = lambda name: RemoveChoice.DELETE_WORK
    with qtbot.waitSignal(window.commands.message, timeout=10_000) as said:
        window.commands.remove("shared")
    assert (shared / "train.ipynb").exists()
    assert "kept its work folder" in said.args[0] and "notebook 'sharer' also uses it" in said.args[0]
    qtbot.waitUntil(lambda: window.model.row_of("shared") is None)


def test_keeping_is_the_default(qtbot: QtBot, window: MainWindow) -> None:
    own = window.manager.get("own").spec.work_dir
    assert own is not None
    window.commands.confirm_remove = lambda name: RemoveChoice.KEEP_WORK
    window.commands.remove("own")
    qtbot.waitUntil(lambda: window.model.row_of("own") is None)
    assert (own / "train.ipynb").exists()


@pytest.mark.parametrize(("tick", "expected"), [(False, RemoveChoice.KEEP_WORK), (True, RemoveChoice.DELETE_WORK)])
def test_the_dialog_asks_for_an_explicit_tick(qtbot: QtBot, tmp_path: Path, tick: bool, expected: RemoveChoice) -> None:
    work = tmp_path / "x"
    (work / "data").mkdir(parents=True)
    (work / "data" / "big.bin").write_bytes(b"\0" * (3 << 20))
    (work / "notes.ipynb").write_text("{}")
    seen: list[str] = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        checkbox = box.checkBox()
        assert checkbox is not None and not checkbox.isChecked() and str(work) in checkbox.text()
        qtbot.waitUntil(lambda: "3.0 MiB" in checkbox.text(), timeout=5_000)  # counted off the Qt thread
        seen.append(checkbox.text())
        checkbox.setChecked(tick)
        yes = box.button(QMessageBox.StandardButton.Yes)
        assert yes is not None
        yes.click()

    QTimer.singleShot(0, answer)
    assert ask_remove(None, "x", work) is expected
    assert seen == [f"Also delete the work folder and every file in it ({work}, 3.0 MiB)"]


def test_the_size_count_is_bounded(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"f{i}").write_bytes(b"x" * 10)
    assert folder_size(tmp_path) == (300, True)
    size, complete = folder_size(tmp_path, entries=5)
    assert not complete and size <= 50
