"""The New notebook dialog's GPU list in the window, with the fake NVML and real Local servers holding GPUs:
each GPU's free memory, holders and reservation; a reserved GPU refused before Create (one line, Create
disabled); a shared one warned about."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.models import NotebookSpec, NotebookState
from desktop.ui.main_window import MainWindow
from tests.gpu.fake_nvml import FakeNvml, make_gpus
from tests.ui.conftest import wait_for, window_sampling_gpus

pytestmark = [pytest.mark.docker, pytest.mark.gui]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    return FakeNvml(gpus=make_gpus(2)).install(monkeypatch.setattr)


@pytest.fixture
def window(fake: FakeNvml, labdock_home: Path, qtbot: QtBot) -> Iterator[MainWindow]:
    with window_sampling_gpus(qtbot) as main:
        yield main


def test_availability_reservation_and_sharing(qtbot: QtBot, window: MainWindow, fake: FakeNvml) -> None:
    manager = window.manager
    for spec in (
        NotebookSpec("holder", "img", gpus=("0",), engine="local", exclusive_gpus=True),
        NotebookSpec("sharer", "img", gpus=("1",), engine="local"),
    ):
        assert wait_for(qtbot, manager.create(spec), 120).state is NotebookState.READY
    dialog = window.new_notebook()
    qtbot.waitUntil(lambda: dialog.use_gpu.isEnabled(), timeout=10_000)
    picker = dialog._gpu_picker
    assert picker is not None
    first, second = (picker.details[gpu.uuid] for gpu in fake.gpus)
    qtbot.waitUntil(lambda: "reserved by holder" in first.text(), timeout=10_000)
    assert first.text() == "79.0 GiB free · used by holder · reserved by holder"
    assert second.text() == "79.0 GiB free · used by sharer"
    qtbot.keyClicks(dialog.name_edit, "third")
    dialog.use_gpu.setChecked(True)
    picker.all_box.setChecked(False)
    picker.boxes[fake.gpus[0].uuid].setChecked(True)
    qtbot.waitUntil(lambda: "reserved by 'holder'" in dialog.advanced_problem.text(), timeout=10_000)
    assert not dialog.create_button.isEnabled()
    picker.boxes[fake.gpus[0].uuid].setChecked(False)
    picker.boxes[fake.gpus[1].uuid].setChecked(True)
    qtbot.waitUntil(lambda: "GPU 1 is also used by 'sharer'" in dialog.launch_note.text(), timeout=10_000)
    assert dialog.create_button.isEnabled() and not dialog.advanced_problem.isVisible()
    picker.exclusive.setChecked(True)  # reserving a GPU another notebook uses is refused too
    qtbot.waitUntil(lambda: "in use by 'sharer'" in dialog.advanced_problem.text(), timeout=10_000)
    assert not dialog.create_button.isEnabled()
    dialog.reject()
