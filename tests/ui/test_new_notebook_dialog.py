"""The New notebook dialog on its own: checks as you type, the reason shown, the spec it builds."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.models import CPU_ONLY, NetworkMode
from desktop.settings import IMAGE_PRESETS, Settings
from desktop.store import Paths
from desktop.ui.new_notebook_dialog import NewNotebookDialog


@pytest.fixture
def dialog(qtbot: QtBot, tmp_path: Path) -> NewNotebookDialog:
    settings = Settings(network_mode="host", recent_images=["local/lab:1"])
    paths = Paths(tmp_path / "config", tmp_path / "data")
    widget = NewNotebookDialog(settings, paths, taken=lambda name: name == "taken")
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_starts_with_create_disabled_and_no_complaint(dialog: NewNotebookDialog) -> None:
    assert not dialog.create_button.isEnabled()
    assert not dialog.name_problem.isVisible()


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("Bad Name", "lowercase letters"),
        ("-x", "lowercase letters"),
        ("x" * 41, "at most 40"),
        ("taken", "already exists"),
    ],
)
def test_bad_names_show_the_reason(qtbot: QtBot, dialog: NewNotebookDialog, typed: str, reason: str) -> None:
    qtbot.keyClicks(dialog.name_edit, typed)
    assert dialog.name_problem.isVisible()
    assert reason in dialog.name_problem.text()
    assert not dialog.create_button.isEnabled()


def test_fixing_the_name_enables_create(qtbot: QtBot, dialog: NewNotebookDialog) -> None:
    qtbot.keyClicks(dialog.name_edit, "Vision")
    assert not dialog.create_button.isEnabled()
    dialog.name_edit.clear()
    qtbot.keyClicks(dialog.name_edit, "vision-2")
    assert not dialog.name_problem.isVisible()
    assert dialog.create_button.isEnabled()


def test_memory_limit_is_checked(qtbot: QtBot, dialog: NewNotebookDialog) -> None:
    qtbot.keyClicks(dialog.name_edit, "mem")
    qtbot.keyClicks(dialog.memory_edit, "lots")
    assert "invalid memory limit" in dialog.memory_problem.text()
    assert not dialog.create_button.isEnabled()
    dialog.memory_edit.setText("1g")
    assert not dialog.memory_problem.isVisible()
    assert dialog.create_button.isEnabled()


def test_empty_image_is_refused(qtbot: QtBot, dialog: NewNotebookDialog) -> None:
    qtbot.keyClicks(dialog.name_edit, "img")
    dialog.image_combo.setEditText("  ")
    assert dialog.image_problem.isVisible()
    assert not dialog.create_button.isEnabled()


def test_image_choices_recent_first_then_presets(dialog: NewNotebookDialog) -> None:
    items = [dialog.image_combo.itemText(i) for i in range(dialog.image_combo.count())]
    assert items[0] == "local/lab:1"
    assert set(IMAGE_PRESETS) <= set(items)
    assert dialog.image_combo.currentText() == "local/lab:1"


def test_spec_from_the_fields(qtbot: QtBot, dialog: NewNotebookDialog, tmp_path: Path) -> None:
    qtbot.keyClicks(dialog.name_edit, "vision")
    assert dialog.work_edit.text() == str(tmp_path / "data" / "work" / "vision")
    dialog.cpus.setValue(2)
    dialog.memory_edit.setText("512m")
    spec = dialog.spec()
    assert spec.name == "vision"
    assert spec.image == "local/lab:1"
    assert spec.gpus == CPU_ONLY
    assert (spec.cpus, spec.memory_bytes) == (2.0, 512 * 1024**2)
    assert spec.work_dir == tmp_path / "data" / "work" / "vision"
    assert spec.network_mode is NetworkMode.HOST


def test_an_edited_work_folder_is_kept(qtbot: QtBot, dialog: NewNotebookDialog, tmp_path: Path) -> None:
    qtbot.keyClicks(dialog.work_edit, "/srv/mine")
    qtbot.keyClicks(dialog.name_edit, "later")
    assert dialog.work_edit.text().endswith("/srv/mine")


def test_gpu_picker_slot(qtbot: QtBot, dialog: NewNotebookDialog) -> None:
    from PySide6.QtWidgets import QWidget

    class Picker(QWidget):
        def choice(self) -> tuple[str, ...]:
            return ("0",)

    dialog.set_gpu_picker(Picker())
    qtbot.keyClicks(dialog.name_edit, "gpu")
    assert not dialog.use_gpu.isVisible()
    assert dialog.spec().gpus == ("0",)


def test_enter_with_a_bad_name_does_not_accept(qtbot: QtBot, dialog: NewNotebookDialog) -> None:
    qtbot.keyClicks(dialog.name_edit, "Bad")
    dialog.buttons.accepted.emit()
    assert dialog.isVisible()
