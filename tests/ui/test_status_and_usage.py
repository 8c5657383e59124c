"""The status bar (engine and version, running count, GPU summary), CPU % and memory used / limit per
notebook read from the container's cgroup files, the filter box, and column widths that fit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.models import NetworkMode, NotebookSpec
from desktop.gpu import GpuInfo, GpuSample, Inventory
from desktop.services import Services
from desktop.ui.cell_text import format_memory
from desktop.ui.main_window import MainWindow
from desktop.ui.notebook_model import Column
from desktop.ui.notebook_table import SAMPLES
from desktop.ui.resource_usage import CgroupFinder, Usage, UsageSampler
from desktop.ui.window_status import gpu_text
from tests.ui.conftest import shown_window, wait_for

CID = "ab" * 32
MiB = 1 << 20
GiB = 1 << 30


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("v2", [False, True], ids=["cgroup-v1", "cgroup-v2"])
def test_cgroup_counters_give_cpu_percent_and_memory(tmp_path: Path, v2: bool) -> None:
    root, proc = tmp_path / "cgroup", tmp_path / "proc"
    proc.mkdir()
    if v2:
        write(root / "cgroup.controllers", "cpu memory")
        folder = root / "system.slice" / f"docker-{CID}.scope"
        write(folder / "memory.current", str(300 * MiB))
        write(folder / "memory.stat", f"anon 1\ninactive_file {100 * MiB}\n")
        write(folder / "memory.max", str(512 * MiB))
        cpu_file, cpu = folder / "cpu.stat", lambda ns: f"usage_usec {ns // 1000}\nuser_usec 1\n"
    else:
        memory = root / "memory" / "docker" / CID
        write(memory / "memory.usage_in_bytes", str(300 * MiB))
        write(memory / "memory.stat", f"cache 5\ntotal_inactive_file {100 * MiB}\n")
        write(memory / "memory.limit_in_bytes", str(9223372036854771712))  # no limit
        cpu_file, cpu = root / "cpu,cpuacct" / "docker" / CID / "cpuacct.usage", str
    now = [0]
    sampler = UsageSampler(CgroupFinder(proc, root), clock=lambda: now[0])
    write(cpu_file, cpu(1_000_000_000))
    first = sampler.sample({CID: "nb"}, {})
    assert first == {"nb": Usage(None, 200 * MiB, 512 * MiB if v2 else None)}
    now[0] = 2_000_000_000  # two seconds later, 1.5 s of CPU more: 75% of one core
    write(cpu_file, cpu(2_500_000_000))
    usage = sampler.sample({CID: "nb"}, {})["nb"]
    assert usage.cpu_percent == pytest.approx(75.0)
    assert format_memory(usage) == ("200 MiB / 512 MiB" if v2 else "200 MiB")


def test_a_local_server_counts_its_process_tree() -> None:
    usage = UsageSampler().sample({}, {os.getpid(): "here"})["here"]
    assert usage.memory and usage.memory > 10 * MiB and usage.limit is None


def test_gpu_summary() -> None:
    assert gpu_text(Inventory(reason="no NVIDIA GPU found")) == "No GPU"
    gpus = (GpuInfo(0, "u0", "A6000", 48 * GiB), GpuInfo(1, "u1", "A6000", 48 * GiB))
    samples = (GpuSample(0, "u0", 0, 48 * GiB, 9 * GiB, 63), GpuSample(1, "u1", 0, 48 * GiB, 2 * GiB, 9))
    assert gpu_text(Inventory(gpus), samples) == "2 GPUs · 36% · 11.0 / 96.0 GiB"


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    with shown_window(ui_services) as main:
        yield main


@pytest.mark.docker
@pytest.mark.gui
def test_status_bar_usage_columns_and_filter(qtbot: QtBot, window: MainWindow, images: object) -> None:
    spec = NotebookSpec(
        name="measured",
        image=images.plain,  # type: ignore[attr-defined]
        network_mode=NetworkMode.HOST,
        cpus=1,
        memory_bytes=768 * MiB,
    )
    wait_for(qtbot, window.manager.create(spec), 120)
    row = window.model.row_of("measured")
    assert row is not None
    memory, cpu = window.model.index(row, Column.MEMORY), window.model.index(row, Column.CPU)
    qtbot.waitUntil(lambda: str(memory.data()).endswith(" / 768 MiB"), timeout=10_000)
    qtbot.waitUntil(lambda: str(cpu.data()).endswith("%"), timeout=10_000)  # a second sample gives the rate
    used = window.model.usage("measured")
    assert used is not None and used.memory and 10 * MiB < used.memory < 768 * MiB

    status = window.status
    qtbot.waitUntil(lambda: "Docker" in status.engine.text(), timeout=10_000)
    assert any(ch.isdigit() for ch in status.engine.toolTip())  # the engine's version
    assert status.running.text() == "1 of 1 running"
    qtbot.waitUntil(lambda: status.gpu.text() == "No GPU", timeout=10_000)  # no GPU on this machine

    window.home.filter.setText("nothing-like-it")
    assert window.table.proxy.rowCount() == 0
    window.home.filter.setText("MEAS")
    assert window.table.proxy.rowCount() == 1
    window.home.filter.clear()

    metrics = window.table.fontMetrics()
    for column in (Column.NAME, Column.STATE, Column.URL, Column.MEMORY):
        assert window.table.columnWidth(column) > metrics.horizontalAdvance(SAMPLES[column])
