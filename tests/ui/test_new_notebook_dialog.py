"""The New notebook dialog on its own: checks as you type, the reason shown, the spec it builds."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.models import CPU_ONLY, NetworkMode
from desktop.gpu import GpuInfo, GpuUsage, GpuUser, Inventory
from desktop.settings import IMAGE_PRESETS, Settings
from desktop.store import Paths
from desktop.ui.gpu_picker import GpuPicker
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


GiB = 1 << 30
TWO_GPUS = Inventory(gpus=(GpuInfo(0, "GPU-a", "NVIDIA H100", 80 * GiB), GpuInfo(1, "GPU-b", "NVIDIA L4", 24 * GiB)))


def test_no_gpu_leaves_use_gpu_off_with_the_reason(qtbot: QtBot, dialog: NewNotebookDialog) -> None:
    dialog.set_gpu_picker(GpuPicker(Inventory(reason="the NVIDIA driver is not loaded")))
    assert not dialog.use_gpu.isEnabled()
    assert "the NVIDIA driver is not loaded" in dialog.use_gpu.toolTip()
    assert dialog._gpu_picker is not None and dialog._gpu_picker.note.isVisible()
    qtbot.keyClicks(dialog.name_edit, "cpu")
    assert dialog.spec().gpus == CPU_ONLY


def test_use_gpu_picks_gpus_and_the_gpu_image(qtbot: QtBot, dialog: NewNotebookDialog) -> None:
    dialog._settings.default_gpu_image = "example.org/cuda-lab:12"
    dialog.set_gpu_picker(GpuPicker(TWO_GPUS))
    qtbot.keyClicks(dialog.name_edit, "gpu")
    assert dialog.use_gpu.isEnabled() and not dialog.use_gpu.isChecked()
    dialog.use_gpu.setChecked(True)
    assert dialog.image_combo.currentText() == "example.org/cuda-lab:12"
    assert dialog.spec().gpus == ("all",)
    picker = dialog._gpu_picker
    assert picker is not None
    picker.all_box.setChecked(False)
    picker.boxes["GPU-b"].setChecked(True)
    assert dialog.spec().gpus == ("1",)
    dialog.set_gpu_usage(GpuUsage(per_gpu={"GPU-b": (GpuUser("other-nb", GiB, (7,)),)}))
    assert "GPU 1 is already used by other-nb" in picker.warning.text()
    dialog.use_gpu.setChecked(False)
    assert dialog.image_combo.currentText() == "local/lab:1"  # back to the CPU image
    assert dialog.spec().gpus == CPU_ONLY


def test_an_image_the_user_chose_is_kept(qtbot: QtBot, dialog: NewNotebookDialog) -> None:
    dialog.set_gpu_picker(GpuPicker(TWO_GPUS))
    dialog.image_combo.lineEdit().clear()  # type: ignore[union-attr]
    qtbot.keyClicks(dialog.image_combo.lineEdit(), "mine/lab:2")
    dialog.use_gpu.setChecked(True)
    assert dialog.image_combo.currentText() == "mine/lab:2"


def test_local_engine_hides_image_and_limits(qtbot: QtBot, dialog: NewNotebookDialog) -> None:
    dialog.set_gpu_picker(GpuPicker(TWO_GPUS))
    dialog.set_engine("local")
    assert not dialog.image_combo.isVisible() and not dialog.memory_edit.isVisible()
    assert dialog.use_gpu.isVisible()
    dialog.image_combo.setEditText("")  # not checked for Local
    qtbot.keyClicks(dialog.name_edit, "here")
    assert dialog.create_button.isEnabled()
    dialog.use_gpu.setChecked(True)
    spec = dialog.spec()
    assert (spec.engine, spec.gpus, spec.cpus, spec.memory_bytes) == ("local", ("all",), None, None)
    dialog.set_engine("docker")
    assert dialog.image_combo.isVisible()
    assert dialog.image_combo.currentText() == dialog._settings.default_gpu_image


def test_enter_with_a_bad_name_does_not_accept(qtbot: QtBot, dialog: NewNotebookDialog) -> None:
    qtbot.keyClicks(dialog.name_edit, "Bad")
    dialog.buttons.accepted.emit()
    assert dialog.isVisible()
