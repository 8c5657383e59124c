"""Remote hosts' GPUs in the GPU dock: the dock and its RemoteGpuFeed fed by a stand-in for the one
nvidia-smi reading over SSH (read_remote_gpus), with this machine's GPU from the fake NVML.

Each remote host gets a section ("gpubox", or "gpubox: <why>" greyed) with a card per GPU and the host's
notebooks' memory by container; this machine's part is titled only while such sections show, and with no
remote host the dock is as it was. A reading whose figures did not change lays nothing out again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget
from pytestqt.qtbot import QtBot

from desktop.core.models import NotebookSpec, NotebookState
from desktop.engines.container_spec import DockerSettings
from desktop.engines.remote_engine import RemoteDockerEngine
from desktop.engines.ssh_hosts import RemoteHost
from desktop.engines.ssh_link import SshLink
from desktop.gpu import GpuInfo, GpuProcess, GpuSample, Inventory, Nvml
from desktop.manager import NotebookManager
from desktop.remote_gpus import RemoteGpuReport
from desktop.store import Paths
from desktop.ui import theme
from desktop.ui.gpu_dock import GpuDock
from desktop.ui.gpu_panel import GpuPanel
from desktop.ui.notebook_model import Column, NotebookTableModel
from desktop.ui.remote_gpu_feed import RemoteGpuFeed
from tests.gpu.fake_nvml import FakeNvml, make_gpus
from tests.ui.conftest import wait_for
from tests.unit.fake_engine import FakeEngine

pytestmark = [pytest.mark.gui]
GiB = 1 << 30
HOST = "gpubox"
NAME = "NVIDIA A100-SXM4-80GB"


def report(container: str, notebook_memory: int = int(2.1 * GiB), util: int = 87) -> RemoteGpuReport:
    """Two GPUs; the first holds the notebook's process (pid 4242) and one of the host's own (777)."""
    inventory = Inventory((GpuInfo(0, "GPU-r0", NAME, 80 * GiB), GpuInfo(1, "GPU-r1", NAME, 80 * GiB)), "550.54.15")
    first = GpuSample(
        0, "GPU-r0", 1.0, 80 * GiB, 30 * GiB, util, 64, 301.0, (GpuProcess(4242, notebook_memory), GpuProcess(777, GiB))
    )
    second = GpuSample(1, "GPU-r1", 1.0, 80 * GiB, 0, 0, 35, 60.0)
    return RemoteGpuReport(inventory, (first, second), {container: {"GPU-r0": notebook_memory}}, {4242: container})


class Reader:
    """Stands in for read_remote_gpus over the host's link: the report set for the host; `gate` holds the
    reading until set."""

    def __init__(self) -> None:
        self.reports: dict[str, RemoteGpuReport] = {}
        self.calls: list[str] = []
        self.answered = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, engine: RemoteDockerEngine) -> RemoteGpuReport:
        self.calls.append(engine.link.host.name)
        if self.gate is not None:
            await self.gate.wait()
        self.answered += 1
        return self.reports[engine.link.host.name]


class LayoutRequests(QObject):
    """Counts the layout passes asked for anywhere in `root` (a moved or resized widget asks for one)."""

    def __init__(self, root: QWidget) -> None:
        super().__init__()
        self.root = root
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        inside = isinstance(watched, QWidget) and (watched is self.root or self.root.isAncestorOf(watched))
        if event.type() == QEvent.Type.LayoutRequest and inside:
            self.count += 1
        return False


def message_on_top(panel: GpuPanel) -> bool:
    """The no-GPU line above the cards, where it is without remote hosts."""
    layout = panel.layout()
    assert layout is not None
    return layout.indexOf(panel.message) == 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def manager(tmp_path: Path, qtbot: QtBot) -> Iterator[NotebookManager]:
    """A manager whose second engine is named as the remote host (the unit tier's in-memory engine)."""
    manager = NotebookManager(
        [FakeEngine("docker"), FakeEngine(HOST)],
        Paths(tmp_path / "config", tmp_path / "data"),
        container_uid=1000,
    )
    yield manager
    if any(n.state.active for n in manager.list()):
        wait_for(qtbot, manager.stop_all(), 30)
    wait_for(qtbot, manager.close(), 30)


@pytest.fixture
def remotes() -> dict[str, RemoteDockerEngine]:
    """services.remotes: no host until a test adds one."""
    return {}


def remote_host(folder: Path) -> RemoteDockerEngine:
    """The remote host as services.add_host makes it; nothing connects (the reader stands in)."""
    return RemoteDockerEngine(SshLink(RemoteHost(HOST, "gpubox.invalid"), folder), DockerSettings(install_id="test"))


@pytest.fixture
def parts(
    monkeypatch: pytest.MonkeyPatch, qtbot: QtBot, manager: NotebookManager, remotes: dict[str, RemoteDockerEngine]
) -> Iterator[tuple[GpuDock, RemoteGpuFeed, Reader, Clock, NotebookTableModel]]:
    """The dock in a shown window, this machine's GPU read once (a long interval), and the remote feed
    ticked by the test (tick()) on a clock of its own."""
    FakeNvml(gpus=make_gpus(1)).install(monkeypatch.setattr)
    window = QMainWindow()
    qtbot.addWidget(window)
    nvml = Nvml()
    model = NotebookTableModel()
    dock = GpuDock(nvml, manager, model, window)
    reader, clock = Reader(), Clock()
    feed = RemoteGpuFeed(lambda: remotes, manager, reader, interval=3600.0, retry_s=15.0, clock=clock)
    dock.watch_remotes(feed)
    window.show()
    dock.start(3600.0)
    qtbot.waitUntil(lambda: bool(dock.panel.cards) and dock.isVisible(), timeout=10_000)
    yield dock, feed, reader, clock, model
    dock.stop()
    nvml.close()


def told(qtbot: QtBot, feed: RemoteGpuFeed, reader: Reader, answers: int) -> None:
    """Tick once and wait for answer number `answers` to reach the dock (it is told as the reading
    returns), then let Qt handle what that posted."""
    feed.tick()
    qtbot.waitUntil(lambda: reader.answered >= answers, timeout=5_000)
    QApplication.sendPostedEvents()


def test_without_remote_hosts_the_dock_is_as_before(
    qtbot: QtBot, parts: tuple[GpuDock, RemoteGpuFeed, Reader, Clock, NotebookTableModel]
) -> None:
    dock, feed, reader, _clock, _model = parts
    feed.tick()
    panel = dock.panel
    assert reader.calls == [] and feed.hosts == {}
    assert panel.title.isHidden() and dock.remote_sections.isHidden()
    assert message_on_top(panel)  # the no-GPU line above the cards, as before
    assert dock.remote_sections.sections == {}


def test_a_remote_hosts_gpus_notebooks_problem_and_removal(
    qtbot: QtBot,
    parts: tuple[GpuDock, RemoteGpuFeed, Reader, Clock, NotebookTableModel],
    manager: NotebookManager,
    remotes: dict[str, RemoteDockerEngine],
    tmp_path: Path,
) -> None:
    dock, feed, reader, _clock, model = parts
    notebook = wait_for(qtbot, manager.create(NotebookSpec("vision", "img", engine=HOST)), 30)
    assert notebook.state is NotebookState.READY and notebook.container_id
    model.reset(manager.list())
    reader.reports[HOST] = report(notebook.container_id)
    remotes[HOST] = remote_host(tmp_path)  # added while the window runs
    told(qtbot, feed, reader, 1)

    panel, section = dock.panel, dock.remote_sections.sections[HOST]
    assert panel.title.isVisible() and panel.title.text() == "this machine"
    assert section.title.text() == HOST and section.message.isHidden()
    first, second = section.cards["GPU-r0"], section.cards["GPU-r1"]
    assert first.title.text() == f"GPU 0: {NAME} · 64 °C · 301 W"
    assert first.utilization.text() == "utilisation 87 %"
    assert first.memory.text() == "memory 30.0 GiB / 80.0 GiB"
    assert first.users.text() == "vision: 2.1 GiB\nother: 1.0 GiB"
    assert "vision: pids 4242" in first.users.toolTip()
    assert second.users.text() == "not in use" and second.title.text() == f"GPU 1: {NAME} · 35 °C · 60 W"
    assert first.lines.isHidden()  # no kernel lines or kernel actions for a remote host
    row = model.row_of("vision")
    assert row is not None
    assert model.index(row, Column.GPU_MEMORY).data() == "2.1 GiB"

    # A reading with the same figures lays nothing out; one with new figures does (the counter works).
    told(qtbot, feed, reader, 2)
    layouts = LayoutRequests(dock)
    app = QApplication.instance()
    assert app is not None
    app.installEventFilter(layouts)
    try:
        told(qtbot, feed, reader, 3)
        told(qtbot, feed, reader, 4)
        assert layouts.count == 0
        reader.reports[HOST] = report(notebook.container_id, notebook_memory=int(3.5 * GiB), util=12)
        told(qtbot, feed, reader, 5)
        assert layouts.count > 0
    finally:
        app.removeEventFilter(layouts)
    assert first.users.text() == "vision: 3.5 GiB\nother: 1.0 GiB" and first.utilization.text() == "utilisation 12 %"
    assert dock.remote_sections.sections[HOST].cards["GPU-r0"] is first  # kept, not rebuilt

    # nvidia-smi failing: one greyed line, the cards hidden until the host answers again.
    reader.reports[HOST] = RemoteGpuReport(Inventory(reason="x"), problem="nvidia-smi: Unable to determine the device")
    told(qtbot, feed, reader, 6)
    assert section.title.text() == "gpubox: nvidia-smi: Unable to determine the device"
    assert section.title.palette().color(QPalette.ColorRole.WindowText) == theme.muted_colour()
    assert not first.isVisible()
    reader.reports[HOST] = report(notebook.container_id)
    told(qtbot, feed, reader, 7)
    assert section.title.text() == HOST and first.isVisible()
    assert section.title.palette().color(QPalette.ColorRole.WindowText) != theme.muted_colour()

    # The host removed while the window runs: its section goes and the dock is as without remote hosts.
    del remotes[HOST]
    feed.tick()
    assert dock.remote_sections.sections == {} and dock.remote_sections.isHidden()
    assert panel.title.isHidden() and message_on_top(panel)
    assert model.index(row, Column.GPU_MEMORY).data() == ""


def test_one_reading_in_flight_and_an_unreachable_host_retried_slowly(
    qtbot: QtBot,
    parts: tuple[GpuDock, RemoteGpuFeed, Reader, Clock, NotebookTableModel],
    remotes: dict[str, RemoteDockerEngine],
    tmp_path: Path,
) -> None:
    dock, feed, reader, clock, _model = parts
    reader.reports[HOST] = RemoteGpuReport(Inventory(reason="no nvidia-smi on the host (no NVIDIA driver)"))
    remotes[HOST] = remote_host(tmp_path)
    told(qtbot, feed, reader, 1)
    section = dock.remote_sections.sections[HOST]
    assert section.message.text() == "no GPU: no nvidia-smi on the host (no NVIDIA driver)"
    assert section.title.text() == HOST and section.cards == {}
    assert dock.panel.title.isVisible()

    reader.gate = asyncio.Event()  # a slow host: ticks while it reads start no second reading
    for _ in range(3):
        feed.tick()
    qtbot.waitUntil(lambda: len(reader.calls) == 2, timeout=5_000)
    feed.tick()
    assert len(reader.calls) == 2
    reader.gate.set()
    qtbot.waitUntil(lambda: reader.answered == 2, timeout=5_000)
    reader.gate = None

    link = remotes[HOST].link
    link.problem = "cannot reach gpubox.invalid:22: Name or service not known"
    for _ in range(5):  # known down: not read again within retry_s of the last reading, the problem shown
        clock.now += 2.0
        feed.tick()
    assert len(reader.calls) == 2
    assert section.title.text() == f"gpubox: {link.problem}" and section.message.isHidden()
    clock.now += 5.0
    told(qtbot, feed, reader, 3)  # and read again after it
    assert len(reader.calls) == 3
