"""The New notebook dialog's Host choice: a remote host sets spec.engine, its work folder is on that host (no
local file picker), its GPUs are its own, and Local is for this machine only. In the window, a real host
that refuses connections is offered with its problem and a launch there fails with that one line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.core.models import CPU_ONLY, NotebookSpec
from desktop.gpu import GpuInfo, GpuUsage, GpuUser, Inventory
from desktop.services import Services
from desktop.settings import Settings
from desktop.store import Paths
from desktop.ui.gpu_picker import GpuPicker
from desktop.ui.host_choice import HostItem
from desktop.ui.main_window import MainWindow
from desktop.ui.new_notebook_dialog import NewNotebookDialog
from tests.ui.conftest import window_beside_a_refusing_host

GiB = 1 << 30
HERE_GPUS = Inventory(gpus=(GpuInfo(0, "GPU-here", "NVIDIA L4", 24 * GiB),))
FAR_GPUS = Inventory(gpus=tuple(GpuInfo(i, f"GPU-far{i}", "NVIDIA H100", 80 * GiB) for i in range(2)))
HOSTS = [HostItem("gpubox", "ana@gpubox"), HostItem("old", "old.lan", "host 'old' (old.lan) unreachable: no answer")]


@pytest.fixture
def dialog(qtbot: QtBot, tmp_path: Path) -> NewNotebookDialog:
    paths = Paths(tmp_path / "config", tmp_path / "data")
    widget = NewNotebookDialog(Settings(network_mode="host", recent_images=["local/lab:1"]), paths)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_no_host_row_without_remote_hosts(dialog: NewNotebookDialog) -> None:
    assert not dialog.host_choice.isVisible()
    dialog.set_hosts(HOSTS)
    assert dialog.host_choice.isVisible()
    labels = [dialog.host_choice.itemText(i) for i in range(dialog.host_choice.count())]
    assert labels == ["this machine", "gpubox", "old (unreachable)"]
    tip = dialog.host_choice.itemData(2, Qt.ItemDataRole.ToolTipRole)
    assert tip == "host 'old' (old.lan) unreachable: no answer"


def test_a_remote_host_runs_the_notebook_there(qtbot: QtBot, dialog: NewNotebookDialog, tmp_path: Path) -> None:
    dialog.set_hosts(HOSTS)
    dialog.set_engine("local")
    qtbot.keyClicks(dialog.name_edit, "vision")
    assert dialog.work_edit.text() == str(tmp_path / "data" / "work" / "vision")
    with qtbot.waitSignal(dialog.host_changed) as chosen:
        dialog.host_choice.setCurrentIndex(1)
    assert chosen.args == ["gpubox"]
    assert dialog.engine() == "gpubox"
    assert dialog.engine_combo.currentData() == "docker"  # Local is for this machine only
    local_item = dialog._engine_items().item(dialog.engine_combo.findData("local"))
    assert not local_item.isEnabled() and "this computer only" in local_item.toolTip()
    assert dialog.image_combo.isVisible()
    field = dialog.work_field
    assert dialog.work_edit.text() == "" and not field.browse.isEnabled()
    assert dialog.work_edit.placeholderText() == "on gpubox: its default folder (asking gpubox…)"
    field.set_root("gpubox", "/home/ana/.local/share/labdock/work")
    assert dialog.work_edit.placeholderText() == "on gpubox: /home/ana/.local/share/labdock/work/vision"
    dialog.name_edit.setText("vision-2")
    assert dialog.work_edit.placeholderText().endswith("/work/vision-2")
    spec = dialog.spec()
    assert (spec.engine, spec.work_dir) == ("gpubox", None)  # the host's default folder, made there
    qtbot.keyClicks(dialog.work_edit, "~/projects/vision")
    assert dialog.spec().work_dir == Path("~/projects/vision")  # the host's home, not expanded here

    dialog.host_choice.setCurrentIndex(0)
    assert dialog.engine() == "docker" and field.browse.isEnabled()
    assert local_item.isEnabled()
    assert dialog.work_edit.text() == "~/projects/vision"  # typed by the user: kept


def test_an_unreachable_host_says_why_in_the_folder_field(dialog: NewNotebookDialog) -> None:
    dialog.set_hosts(HOSTS)
    dialog.set_engine("old")
    assert dialog.engine() == "old"
    dialog.work_field.set_root("old", None, "host 'old' (old.lan) unreachable: no answer")
    assert "unreachable: no answer" in dialog.work_edit.placeholderText()
    dialog.work_field.set_root("gpubox", "/elsewhere")  # a late answer for another host: ignored
    assert "unreachable" in dialog.work_edit.placeholderText()


def test_the_gpus_are_the_chosen_hosts(qtbot: QtBot, dialog: NewNotebookDialog) -> None:
    dialog.set_hosts(HOSTS)
    dialog.set_gpu_picker(GpuPicker(HERE_GPUS))
    qtbot.keyClicks(dialog.name_edit, "gpu")
    dialog.use_gpu.setChecked(True)
    assert dialog.spec().gpus == ("all",)
    dialog.host_choice.setCurrentIndex(1)
    assert not dialog.use_gpu.isChecked() and not dialog.use_gpu.isEnabled()
    assert dialog.use_gpu.toolTip() == "Looking for GPUs on gpubox…"
    assert dialog._gpu_picker is None and dialog.spec().gpus == CPU_ONLY
    far = GpuPicker(FAR_GPUS)
    dialog.set_gpu_picker(far, "gpubox")
    assert dialog._gpu_picker is far and far.isVisible() and dialog.use_gpu.isEnabled()
    dialog.use_gpu.setChecked(True)
    far.all_box.setChecked(False)
    far.boxes["GPU-far1"].setChecked(True)
    assert dialog.spec().gpus == ("1",)
    dialog.set_gpu_usage(GpuUsage(per_gpu={"GPU-far1": (GpuUser("x", GiB, (7,)),)}))
    assert not far.warning.isVisible()  # this machine's figures are not the host's
    dialog.host_choice.setCurrentIndex(0)
    assert dialog._gpu_picker is not far and not far.isVisible()
    assert dialog._gpu_picker is not None and dialog._gpu_picker.inventory is HERE_GPUS


def test_editing_a_notebook_keeps_its_host(dialog: NewNotebookDialog) -> None:
    dialog.set_hosts(HOSTS)
    dialog.edit(NotebookSpec("far", "lab:1", engine="gpubox", work_dir=Path("/srv/far"), gpus=("1",)))
    assert dialog.engine() == "gpubox" and not dialog.host_choice.isEnabled()
    assert dialog.image_combo.currentText() == "lab:1"
    dialog.set_gpu_picker(GpuPicker(FAR_GPUS), "gpubox")
    assert dialog.use_gpu.isChecked() and dialog.spec().gpus == ("1",)
    assert dialog.spec().work_dir == Path("/srv/far")


# -- in the window, against a host that refuses connections ---------------------------------------


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    with window_beside_a_refusing_host(ui_services) as main:
        yield main


@pytest.mark.docker
@pytest.mark.gui
def test_a_host_that_refuses_connections(qtbot: QtBot, window: MainWindow) -> None:
    window.refresh()
    qtbot.waitUntil(lambda: "down" in window.manager.hosts.problems, timeout=30_000)
    problem = window.manager.hosts.problems["down"]
    dialog = window.new_notebook()
    choice = dialog.host_choice
    assert choice.isVisible() and choice.itemText(1) == "down (unreachable)"
    assert choice.itemData(1, Qt.ItemDataRole.ToolTipRole) == problem
    qtbot.keyClicks(dialog.name_edit, "far")
    choice.setCurrentIndex(1)  # still selectable
    qtbot.waitUntil(lambda: "refused the SSH connection" in dialog.work_edit.placeholderText(), timeout=30_000)
    assert dialog.work_edit.placeholderText().startswith("on down: its default folder (host 'down'")
    qtbot.waitUntil(lambda: dialog._gpu_picker is not None, timeout=30_000)
    assert dialog._gpu_picker is not None and "refused the SSH connection" in dialog._gpu_picker.note.text()
    assert not dialog.use_gpu.isEnabled()
    assert dialog.create_button.isEnabled()
    dialog.create_button.click()
    qtbot.waitUntil(lambda: "Could not create 'far'" in window.statusBar().currentMessage(), timeout=30_000)
    said = window.statusBar().currentMessage()
    assert "host 'down' (127.0.0.1:1) unreachable: it refused the SSH connection" in said and "\n" not in said
    assert window.model.row_of("far") is None
