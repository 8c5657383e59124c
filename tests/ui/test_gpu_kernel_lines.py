"""The GPU dock down to the kernel, against a real notebook and real kernels: the fake NVML reports the
kernels' real host pids; the dock names notebook, file, memory and idle time, shows other processes as
such, and "Shut down" (confirmed, naming the file) really ends the kernel and its line goes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.models import NetworkMode, NotebookSpec
from desktop.ui.gpu_lines import GpuLinesView
from desktop.ui.main_window import MainWindow
from tests.gpu.fake_nvml import FakeNvml, GiB, make_gpus
from tests.gpu.kernel_support import kernel_pid, send_code, start_session
from tests.ui.conftest import wait_for, window_sampling_gpus

pytestmark = [pytest.mark.docker, pytest.mark.gui]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    fake = FakeNvml(gpus=make_gpus(1)).install(monkeypatch.setattr)
    fake.live_only = True  # as a real driver: a process that ended is not listed
    return fake


@pytest.fixture
def window(fake: FakeNvml, labdock_home: Path, qtbot: QtBot) -> Iterator[MainWindow]:
    with window_sampling_gpus(qtbot) as main:
        yield main


def texts(view: GpuLinesView) -> list[str]:
    return [row.text.text() for row in view.rows.values()]


def test_kernel_lines_and_shut_down(qtbot: QtBot, window: MainWindow, fake: FakeNvml, images: object) -> None:
    manager = window.manager
    spec = NotebookSpec("vision", images.plain, network_mode=NetworkMode.HOST)  # type: ignore[attr-defined]
    notebook = wait_for(qtbot, manager.create(spec), 120)
    assert notebook.url and notebook.token
    kernel_id = wait_for(qtbot, start_session(notebook.url, notebook.token, "train.ipynb"), 60)
    wait_for(qtbot, send_code(notebook.url, notebook.token, kernel_id, "x = 1"), 60)  # as JupyterLab does
    pid = kernel_pid(kernel_id)
    fake.gpus[0].processes = [(pid, 20 * GiB), (os.getpid(), 1 * GiB)]
    qtbot.waitUntil(lambda: bool(window.gpu.panel.cards), timeout=10_000)
    view = next(iter(window.gpu.panel.cards.values())).lines
    qtbot.waitUntil(
        lambda: any(t.startswith("vision / train.ipynb · 20.0 GiB") and "idle" in t for t in texts(view)),
        timeout=30_000,
    )
    assert any(t.startswith("other: ") for t in texts(view)), texts(view)  # this test's own process
    row = next(r for r in view.rows.values() if r.line is not None and r.line.kernel_id == kernel_id)
    assert row.shut_down.isVisible() and row.interrupt.isVisible()
    other = next(r for r in view.rows.values() if r.line is not None and r.line.pid == os.getpid())
    assert not other.shut_down.isVisible()
    assert view.free_button.isVisible()

    asked: list[str] = []
    window.gpu.confirm = lambda _title, text: asked.append(text) is None and False  # declined first
    row.shut_down.click()
    assert "train.ipynb" in asked[-1]
    window.gpu.confirm = lambda _title, text: asked.append(text) is None
    row.shut_down.click()
    qtbot.waitUntil(lambda: not any(t.startswith("vision / train.ipynb") for t in texts(view)), timeout=30_000)
    assert any(t.startswith("other: ") for t in texts(view))
    qtbot.waitUntil(lambda: "Shut down the kernel of vision / train.ipynb" in window.statusBar().currentMessage())
