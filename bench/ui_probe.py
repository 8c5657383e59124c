"""UI measurements, each in its own process (one QApplication per process): prints one JSON line.

  python -m bench.ui_probe window   event-loop stalls while 10 notebooks launch and stop
  python -m bench.ui_probe model    cost of one state change in a 500-row table on screen
  python -m bench.ui_probe idle     CPU and memory of the idle window (10 notebooks, fake 8-GPU NVML)
  python -m bench.ui_probe tabs     memory (PSS, browser processes included) with 0 and 5 tabs open
  python -m bench.ui_probe hosts    event-loop stalls while the window adopts the home's notebooks (as many
                                    as LABDOCK_BENCH_ROWS, e.g. on remote hosts), then refreshes them for
                                    LABDOCK_BENCH_WATCH_S seconds; nothing is launched or stopped
The Labdock home and Docker engine come from the environment (bench/ui.py sets them).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if os.geteuid() == 0:
    os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox --disable-gpu")

import qasync
from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtWidgets import QApplication

from desktop.core.models import NetworkMode, Notebook, NotebookSpec, NotebookState
from desktop.rows import EventKind, NotebookEvent

QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
TICK_MS = 5


def pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


class Probe:
    def __init__(self) -> None:
        self.app = QApplication(sys.argv)
        self.loop = qasync.QEventLoop(self.app)
        asyncio.set_event_loop(self.loop)

    def run(self, coro: Callable[[], Coroutine[Any, Any, dict[str, Any]]]) -> dict[str, Any]:
        with self.loop:
            result: dict[str, Any] = self.loop.run_until_complete(coro())
            return result

    def window(self) -> Any:
        from desktop.services import build_services
        from desktop.ui.main_thread_gc import MainThreadGc
        from desktop.ui.main_window import MainWindow

        self.collector = MainThreadGc(self.app)  # as the app does
        window = MainWindow(build_services())
        window.show()
        window.start()
        if window.manager.spares is not None:
            window.manager.spares.start()  # as the app does: the figures include keeping a spare
        return window


class StallMeter:
    """A 5 ms timer; a stall is how late each tick comes (the loop was busy)."""

    def __init__(self) -> None:
        self.stalls: list[float] = []
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._timer.start(TICK_MS)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.stalls.append(max(0.0, (now - self._last) * 1000 - TICK_MS))
        self._last = now

    def stop(self) -> list[float]:
        self._timer.stop()
        return self.stalls


async def measure_window(probe: Probe) -> dict[str, Any]:
    window = probe.window()
    manager = window.manager
    image = os.environ["LABDOCK_BENCH_IMAGE"]
    await asyncio.sleep(1.0)
    meter = StallMeter()
    names = [f"smooth-{i}" for i in range(10)]
    await asyncio.gather(*(manager.create(NotebookSpec(n, image, network_mode=NetworkMode.HOST)) for n in names))
    await manager.stop_all()
    stalls = sorted(meter.stop())
    for name in names:
        await manager.remove(name, delete_work=True)
    window.shutdown()
    return {"ticks": len(stalls), "p99": stalls[int(len(stalls) * 0.99) - 1], "max": stalls[-1]}


async def measure_model(probe: Probe) -> dict[str, Any]:
    from PySide6.QtWidgets import QTableView

    from desktop.ui.notebook_model import NotebookSortProxy, NotebookTableModel

    model = NotebookTableModel()
    proxy = NotebookSortProxy()
    proxy.setSourceModel(model)
    view = QTableView()
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.resize(1100, 700)
    view.show()
    notebooks = [Notebook(NotebookSpec(f"nb-{i:03d}", "img"), state=NotebookState.READY) for i in range(500)]
    for notebook in notebooks:
        model.on_event(NotebookEvent(EventKind.ADDED, notebook))
    probe.app.processEvents()
    costs = []
    states = (NotebookState.STOPPING, NotebookState.STOPPED, NotebookState.STARTING, NotebookState.READY)
    for i in range(200):  # 10 a second for 20 s, timed without the waits between them
        notebook = notebooks[(i * 37) % len(notebooks)]
        notebook.state = states[i % len(states)]
        began = time.perf_counter()
        model.on_event(NotebookEvent(EventKind.CHANGED, notebook))
        probe.app.processEvents()  # includes the view's repaint
        costs.append((time.perf_counter() - began) * 1000)
        await asyncio.sleep(0.1)
    costs.sort()
    return {"mean": sum(costs) / len(costs), "p99": costs[int(len(costs) * 0.99) - 1], "max": costs[-1]}


async def measure_idle(probe: Probe) -> dict[str, Any]:
    window = probe.window()
    await asyncio.sleep(10)  # settle: restore, first samples, imports done
    rss_before = _rss_mib()
    cpu_before, wall_before = _cpu_seconds(), time.monotonic()
    await asyncio.sleep(float(os.environ.get("LABDOCK_BENCH_IDLE_S", "60")))
    cpu = (_cpu_seconds() - cpu_before) / (time.monotonic() - wall_before)
    rss_after = _rss_mib()
    rows = len(window.manager.list())
    window.shutdown()
    return {"cpu_percent": cpu * 100, "rss_before": rss_before, "rss_after": rss_after, "notebooks": rows}


async def measure_tabs(probe: Probe) -> dict[str, Any]:
    window = probe.window()
    manager = window.manager
    while len([n for n in manager.list() if n.state is NotebookState.READY]) < 5:
        await asyncio.sleep(0.2)
    await asyncio.sleep(5)
    without = pss_kib(process_tree(os.getpid()))
    for notebook in [n for n in manager.list() if n.state is NotebookState.READY][:5]:
        window.commands.open_tab(notebook.name)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        tabs = window.tabs.notebook_tabs()
        if len(tabs) == 5 and all("JupyterLab" in t.page_title() for t in tabs):
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(10)  # let the pages finish their first work
    with_tabs = pss_kib(process_tree(os.getpid()))
    loaded = sum("JupyterLab" in t.page_title() for t in window.tabs.notebook_tabs())
    window.shutdown()
    return {"pss_0_tabs_mib": without / 1024, "pss_5_tabs_mib": with_tabs / 1024, "loaded": loaded}


async def measure_hosts(probe: Probe) -> dict[str, Any]:
    rows = int(os.environ["LABDOCK_BENCH_ROWS"])
    watch = float(os.environ.get("LABDOCK_BENCH_WATCH_S", "30"))
    window = probe.window()
    manager = window.manager
    refreshes: list[float] = []
    refresh = manager.refresh

    async def timed_refresh() -> bool:
        began = time.perf_counter()
        try:
            answered: bool = await refresh()
            return answered
        finally:
            refreshes.append((time.perf_counter() - began) * 1000)

    setattr(manager, "refresh", timed_refresh)  # noqa: B010  (the window calls it through the manager)
    meter = StallMeter()
    began = time.perf_counter()
    while sum(n.state is NotebookState.READY for n in manager.list()) < rows or window.model.rowCount() < rows:
        if time.perf_counter() - began > 180:
            raise RuntimeError(f"{len(manager.list())} of {rows} rows after 180 s")
        await asyncio.sleep(0.05)
    opened = time.perf_counter() - began
    opening = sorted(meter.stop())
    del refreshes[:]  # the first refresh (connecting, adopting) belongs to opening
    meter = StallMeter()
    await asyncio.sleep(watch)
    stalls = sorted(meter.stop())
    window.shutdown()
    return {
        "rows": rows,
        "open_s": opened,
        "open_p99": opening[int(len(opening) * 0.99) - 1],
        "open_max": opening[-1],
        "watch_s": watch,
        "ticks": len(stalls),
        "p99": stalls[int(len(stalls) * 0.99) - 1],
        "max": stalls[-1],
        "refresh_ms": refreshes,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(mode: str) -> None:
    if mode == "idle":
        from tests.gpu.fake_nvml import FakeNvml, make_gpus

        fake = FakeNvml(gpus=make_gpus(8, procs_per_gpu=6))
        fake.install(setattr)
    probe = Probe()
    measure = {
        "window": measure_window,
        "model": measure_model,
        "idle": measure_idle,
        "tabs": measure_tabs,
        "hosts": measure_hosts,
    }[mode]
    print(json.dumps(probe.run(lambda: measure(probe))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
