"""The GPU panel and picker, fed plain records (no NVML, no docker), offscreen."""

from __future__ import annotations

import time

from pytestqt.qtbot import QtBot

from desktop.gpu import OTHER, GpuInfo, GpuProcess, GpuSample, GpuUsage, GpuUser, Inventory
from desktop.kernel_actions import KernelAction
from desktop.kernels import GpuLine, KernelInfo, LineKind
from desktop.reservations import GpuAvailability
from desktop.ui import theme
from desktop.ui.gpu_lines import line_text
from desktop.ui.gpu_panel import GpuPanel, HistoryGraph, _runs
from desktop.ui.gpu_picker import GpuPicker, availability_text

GiB = 1 << 30
INVENTORY = Inventory(
    gpus=(GpuInfo(0, "GPU-a", "NVIDIA H100", 80 * GiB), GpuInfo(1, "GPU-b", "NVIDIA A100", 40 * GiB)),
    driver_version="550.54.15",
    cuda_version="12.4",
)
USAGE = GpuUsage(
    per_notebook={"alpha": 3 * GiB, OTHER: GiB},
    per_gpu={"GPU-a": (GpuUser("alpha", 3 * GiB, (10, 11)), GpuUser(OTHER, GiB, (30,))), "GPU-b": ()},
)


def samples(util: int = 50, lost_b: bool = False) -> tuple[GpuSample, ...]:
    a = GpuSample(0, "GPU-a", 1.0, 80 * GiB, 20 * GiB, util, 61, 250.4, (GpuProcess(10, 3 * GiB),))
    b = GpuSample(1, "GPU-b", 1.0, 40 * GiB, lost=lost_b, reason="GPU is lost" if lost_b else None)
    return (a, b)


def test_panel_without_gpu_says_why(qtbot: QtBot) -> None:
    panel = GpuPanel()
    qtbot.addWidget(panel)
    panel.set_inventory(Inventory(reason="the NVIDIA driver is not loaded"))
    assert panel.message.text() == "no GPU: the NVIDIA driver is not loaded"
    assert not panel.message.isHidden()
    assert panel.cards == {}


def test_panel_shows_each_gpu_and_its_users(qtbot: QtBot) -> None:
    panel = GpuPanel(history_points=4)
    qtbot.addWidget(panel)
    panel.set_inventory(INVENTORY)
    panel.update_samples(samples(), USAGE)
    assert panel.message.isHidden()
    a, b = panel.cards["GPU-a"], panel.cards["GPU-b"]
    assert a.title.text() == "GPU 0: NVIDIA H100 · 61 °C · 250 W"
    assert a.utilization.value() == 50 and a.utilization.text() == "utilisation 50 %"
    assert a.memory.text() == "memory 20.0 GiB / 80.0 GiB" and a.memory.value() == 250
    assert a.users.text() == "used by alpha (3.0 GiB), other (1.0 GiB)"
    assert "alpha: pids 10, 11" in a.users.toolTip()
    assert b.users.text() == "not in use"
    assert b.memory.text() == "memory unknown" and b.utilization.text() == "utilisation unknown"


def test_panel_history_is_bounded_and_lost_gpu_is_shown(qtbot: QtBot) -> None:
    panel = GpuPanel(history_points=3)
    qtbot.addWidget(panel)
    panel.set_inventory(INVENTORY)
    for util in (10, 20, 30, 40):
        panel.update_samples(samples(util))
    assert list(panel.cards["GPU-a"].graph.utilization) == [20.0, 30.0, 40.0]
    assert list(panel.cards["GPU-a"].graph.memory) == [25.0, 25.0, 25.0]
    panel.update_samples(samples(lost_b=True))
    assert panel.cards["GPU-b"].title.text() == "GPU 1: NVIDIA A100 · lost: GPU is lost"
    assert len(panel.cards) == 2


def test_graph_paints_the_utilisation_line(qtbot: QtBot) -> None:
    graph = HistoryGraph(capacity=10)
    qtbot.addWidget(graph)
    graph.resize(200, 60)
    for _ in range(10):
        graph.append(50.0, None)
    image = graph.grab().toImage()
    column = [image.pixelColor(100, y) for y in range(image.height())]
    util = theme.accent(theme.BLUE, graph.palette())  # the utilisation line's colour in this palette
    blue = [y for y, c in enumerate(column) if c.blue() - c.red() > (util.blue() - util.red()) // 2]
    assert blue and all(abs(y - image.height() / 2) <= 3 for y in blue)


def test_unknown_values_are_gaps_not_zeros() -> None:
    assert _runs([1.0, None, None, 2.0, 3.0, None]) == [[(0, 1.0)], [(3, 2.0), (4, 3.0)]]
    assert _runs([None]) == []


def test_picker_all_or_some(qtbot: QtBot) -> None:
    picker = GpuPicker(INVENTORY)
    qtbot.addWidget(picker)
    assert picker.choice() == ()
    with qtbot.waitSignal(picker.choiceChanged):
        picker.boxes["GPU-b"].setChecked(True)
    assert picker.choice() == ("1",)
    picker.boxes["GPU-a"].setChecked(True)
    assert picker.choice() == ("0", "1")
    picker.all_box.setChecked(True)
    assert picker.choice() == ("all",)
    assert not picker.boxes["GPU-a"].isEnabled()
    picker.all_box.setChecked(False)
    assert picker.boxes["GPU-a"].isEnabled()


def test_picker_restores_a_choice(qtbot: QtBot) -> None:
    picker = GpuPicker(INVENTORY)
    qtbot.addWidget(picker)
    picker.set_choice(("GPU-b",))
    assert picker.choice() == ("1",)
    picker.set_choice(("0,7",))
    assert picker.choice() == ("0",)
    picker.set_choice(("all",))
    assert picker.choice() == ("all",)
    picker.set_choice(())
    assert picker.choice() == ()


def test_picker_warns_when_a_chosen_gpu_is_in_use(qtbot: QtBot) -> None:
    picker = GpuPicker(INVENTORY)
    qtbot.addWidget(picker)
    picker.set_usage(USAGE)
    assert picker.warning.isHidden()
    picker.boxes["GPU-b"].setChecked(True)
    assert picker.warning.isHidden()
    picker.boxes["GPU-a"].setChecked(True)
    assert not picker.warning.isHidden()
    assert picker.warning.text() == "GPU 0 is already used by alpha, other processes; it will be shared."
    assert picker.choice() == ("0", "1")  # sharing stays allowed
    picker.set_usage(USAGE, exclude="alpha")
    assert picker.warning.text() == "GPU 0 is already used by other processes; it will be shared."
    picker.boxes["GPU-a"].setChecked(False)
    picker.all_box.setChecked(True)
    assert "GPU 0 is already used" in picker.warning.text()


def test_picker_without_gpu(qtbot: QtBot) -> None:
    picker = GpuPicker(Inventory(reason="no NVIDIA GPU found"))
    qtbot.addWidget(picker)
    assert picker.note.text() == "no GPU: no NVIDIA GPU found"
    assert not picker.all_box.isEnabled()
    picker.set_choice(("all",))
    assert picker.choice() == ()


NOW = time.time()  # the view judges idle time against the clock


def kernel_line(pid: int, idle_s: float, memory: int = 20 * GiB, util: int | None = 35) -> GpuLine:
    info = KernelInfo(f"k{pid}", "python3", "idle", NOW - idle_s, 1, "train.ipynb")
    return GpuLine("GPU-a", 0, pid, memory, util, LineKind.KERNEL, "vision-2", f"k{pid}", info)


def test_line_texts() -> None:
    assert line_text(kernel_line(10, 7800), NOW) == "vision-2 / train.ipynb · 20.0 GiB · 35 % · idle 2 h 10 min"
    job = GpuLine("GPU-a", 0, 11, GiB, None, LineKind.PROCESS, "vision-2", command="python train.py")
    assert line_text(job, NOW) == "vision-2: python train.py (not a kernel) · 1.0 GiB"
    other = GpuLine("GPU-a", 0, 12, None, None, LineKind.OTHER, command="Xorg")
    assert line_text(other, NOW) == "other: Xorg · memory unknown"


def test_card_lines_with_actions_and_idle_threshold(qtbot: QtBot) -> None:
    panel = GpuPanel(history_points=4)
    qtbot.addWidget(panel)
    panel.set_inventory(INVENTORY)
    other = GpuLine("GPU-a", 0, 30, GiB, None, LineKind.OTHER, command="Xorg")
    lines = [kernel_line(10, 7800), kernel_line(11, 600, GiB, None), other]
    panel.update_samples(samples(), USAGE, lines)
    panel.show()
    view = panel.cards["GPU-a"].lines
    rows = {key[0]: row for key, row in view.rows.items()}
    assert rows[10].shut_down.isVisible() and rows[10].interrupt.isVisible()
    assert not rows[30].shut_down.isVisible()
    assert panel.cards["GPU-b"].lines.rows == {}
    with qtbot.waitSignal(panel.kernel_action) as asked:
        rows[10].shut_down.click()
    assert asked.args == [lines[0], KernelAction.SHUT_DOWN]
    view.idle_minutes.setValue(60)
    assert view.free_button.isEnabled()  # the 2 h 10 min kernel
    view.idle_minutes.setValue(300)
    assert not view.free_button.isEnabled()
    view.idle_minutes.setValue(5)
    with qtbot.waitSignal(panel.free_idle) as freed:
        view.free_button.click()
    assert freed.args == ["GPU-a", 300.0]
    panel.update_samples(samples(), USAGE, lines[1:])  # the shut-down kernel's line goes
    assert {key[0] for key in view.rows} == {11, 30}


def test_picker_availability_and_exclusive(qtbot: QtBot) -> None:
    picker = GpuPicker(INVENTORY)
    qtbot.addWidget(picker)
    rows = (
        GpuAvailability(0, "GPU-a", "NVIDIA H100", 80 * GiB, 60 * GiB, ("alpha", "beta"), "alpha"),
        GpuAvailability(1, "GPU-b", "NVIDIA A100", 40 * GiB, None, (), None),
    )
    picker.set_availability(rows)
    assert picker.details["GPU-a"].text() == "60.0 GiB free · used by alpha, beta · reserved by alpha"
    assert (
        picker.details["GPU-b"].text() == availability_text(rows[1]) == "free memory unknown · not used by a notebook"
    )
    assert not picker.exclusive.isEnabled()
    picker.boxes["GPU-b"].setChecked(True)
    assert picker.exclusive.isEnabled()
