"""GPUs in the window, with the fake NVML (0, 1 and 8 GPUs) and the real Docker engine: the dialog's
picker, the GPU dock's cards, the table's GPU memory attributed through a real container's init pid,
and the monitor stopping with the window."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.services import Services, build_services
from desktop.store import Paths
from desktop.ui.gpu_dock import PAGE_HOME, PAGE_TAB
from desktop.ui.main_window import MainWindow
from desktop.ui.notebook_model import Column
from tests.conftest import Engine
from tests.gpu.fake_nvml import FakeNvml, make_gpus
from tests.ui.conftest import shown_window, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.gui]
MiB = 1 << 20


@pytest.fixture(params=[0, 1, 8], ids=["no-gpu", "1-gpu", "8-gpus"])
def fake(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    return FakeNvml(gpus=make_gpus(request.param)).install(monkeypatch.setattr)


@pytest.fixture
def gpu_services(fake: FakeNvml, labdock_home: Path, qtbot: QtBot) -> Iterator[Services]:
    services = build_services(Paths.default())  # after the fake is installed
    services.settings.gpu_sample_interval = 0.2
    yield services
    if any(n.state.active for n in services.manager.list()):
        wait_for(qtbot, services.manager.stop_all(), 60)
    wait_for(qtbot, services.manager.close(), 30)
    services.nvml.close()


@pytest.fixture
def window(qtbot: QtBot, gpu_services: Services) -> Iterator[MainWindow]:
    with shown_window(gpu_services) as main:
        yield main


def test_picker_and_panel(qtbot: QtBot, window: MainWindow, fake: FakeNvml) -> None:
    count = len(fake.gpus)
    panel = window.gpu.panel
    if count:
        qtbot.waitUntil(lambda: len(panel.cards) == count, timeout=10_000)
        assert panel.message.isHidden()
        assert window.gpu.isVisible()
        qtbot.waitUntil(lambda: window.status.gpu.text().startswith(f"{count} GPU"), timeout=10_000)
    else:
        qtbot.waitUntil(lambda: panel.message.text() == "no GPU: no NVIDIA GPU found", timeout=10_000)
        assert panel.cards == {}
        qtbot.waitUntil(lambda: window.gpu.available is False, timeout=10_000)
        assert window.gpu.isHidden() and not window.gpu.toggleViewAction().isEnabled()  # no empty box
        assert window.status.gpu.text() == "No GPU" and "no NVIDIA GPU found" in window.status.gpu.toolTip()

    window.services.settings.default_gpu_image = "example.org/cuda-lab:12"
    dialog = window.new_notebook()
    qtbot.waitUntil(lambda: dialog._gpu_picker is not None, timeout=10_000)
    picker = dialog._gpu_picker
    assert picker is not None and len(picker.boxes) == count
    assert dialog.use_gpu.isEnabled() == bool(count)
    if count:
        dialog.use_gpu.setChecked(True)
        assert dialog.image_combo.currentText() == "example.org/cuda-lab:12"
        qtbot.keyClicks(dialog.name_edit, "gpu-one")
        assert dialog.spec().gpus == ("all",)
    else:
        assert not picker.note.isHidden() and "no NVIDIA GPU found" in picker.note.text()
    dialog.reject()


@pytest.mark.parametrize("fake", [1, 8], indirect=True, ids=["1-gpu", "8-gpus"])
def test_gpu_memory_of_a_real_container(
    qtbot: QtBot, window: MainWindow, fake: FakeNvml, images: object, docker_engine: Engine
) -> None:
    spec = NotebookSpec(name="gpu-mem", image=images.plain, network_mode=NetworkMode.HOST)  # type: ignore[attr-defined]
    notebook = wait_for(qtbot, window.manager.create(spec), 120)
    assert notebook.state is NotebookState.READY and notebook.container_id
    pid = docker_engine.client.api.inspect_container(notebook.container_id)["State"]["Pid"]
    last = fake.gpus[-1]
    last.processes = [(pid, 512 * MiB), (1, 64 * MiB)]  # pid 1: a host process, "other"
    row = window.model.row_of("gpu-mem")
    assert row is not None
    cell = window.model.index(row, Column.GPU_MEMORY)
    qtbot.waitUntil(lambda: cell.data() == "512 MiB", timeout=10_000)
    card = window.gpu.panel.cards[last.uuid]
    qtbot.waitUntil(lambda: "gpu-mem (0.5 GiB)" in card.users.text(), timeout=5_000)
    assert "other (0.1 GiB)" in card.users.text()

    dialog = window.new_notebook()
    qtbot.waitUntil(lambda: dialog._gpu_picker is not None, timeout=10_000)
    dialog.use_gpu.setChecked(True)
    picker = dialog._gpu_picker
    assert picker is not None
    qtbot.waitUntil(lambda: "already used by gpu-mem" in picker.warning.text(), timeout=5_000)
    dialog.reject()


def test_monitor_stops_when_the_window_closes(qtbot: QtBot, window: MainWindow, fake: FakeNvml) -> None:
    qtbot.waitUntil(lambda: window.gpu.feed.running or not fake.gpus, timeout=10_000)
    window.shutdown()
    window.close()
    assert not window.gpu.feed.running


@pytest.mark.parametrize("fake", [1], indirect=True, ids=["1-gpu"])
def test_the_dock_is_collapsible_and_kept_apart_for_notebook_tabs(
    qtbot: QtBot, window: MainWindow, fake: FakeNvml
) -> None:
    dock = window.gpu
    qtbot.waitUntil(lambda: dock.available is True, timeout=10_000)
    assert dock.isVisible()
    dock.set_page(PAGE_TAB)  # a notebook tab in front: JupyterLab gets the whole width
    assert dock.isHidden()
    window.status.gpu.click()  # wanted here after all
    assert dock.isVisible()
    dock.set_page(PAGE_HOME)
    assert dock.isVisible()
    dock.close()  # its own close button
    assert dock.isHidden()
    dock.set_page(PAGE_TAB)
    assert dock.isVisible()
    dock.set_page(PAGE_HOME)
    assert dock.isHidden()
    dock.toggleViewAction().trigger()
    assert dock.isVisible() and dock.wanted == {PAGE_HOME: True, PAGE_TAB: True}
