"""The status bar's lasting part: the engine in use (and its version), how many notebooks run, and a
GPU summary that also shows or hides the GPU panel. Messages still come and go on its left."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtWidgets import QLabel, QStatusBar, QToolButton

from desktop.core.models import Notebook
from desktop.core.validation import format_bytes
from desktop.gpu import GpuSample, Inventory

GiB = float(1 << 30)
MAX_ENGINE_CHARS = 60


def running_text(notebooks: Iterable[Notebook]) -> str:
    rows = list(notebooks)
    running = sum(1 for n in rows if n.state.active)
    return f"{running} of {len(rows)} running" if rows else "no notebooks"


def gpu_text(inventory: Inventory | None, samples: Sequence[GpuSample] = ()) -> str:
    """'2 GPUs · 36% · 11.0 / 96.0 GiB'; 'No GPU' (the reason is the tooltip's)."""
    if inventory is None:
        return "GPUs: looking…"
    if not inventory.gpus:
        return "No GPU"
    count = len(inventory.gpus)
    label = f"{count} GPU" + ("s" if count > 1 else "")
    live = [s for s in samples if not s.lost]
    utilization = [s.utilization for s in live if s.utilization is not None]
    used = [s.memory_used for s in live if s.memory_used is not None]
    if utilization:
        label += f" · {sum(utilization) / len(utilization):.0f}%"
    if used:
        total = sum(g.memory_total for g in inventory.gpus)
        label += f" · {sum(used) / GiB:.1f} / {total / GiB:.1f} GiB"
    return label


class WindowStatus:
    def __init__(self, bar: QStatusBar) -> None:
        self.engine = QLabel()
        self.engine.setObjectName("status-engine")
        self.running = QLabel()
        self.running.setObjectName("status-running")
        self.gpu = QToolButton()
        self.gpu.setObjectName("status-gpu")
        self.gpu.setAutoRaise(True)
        self.gpu.setText(gpu_text(None))
        self.spare = QLabel()  # what the notebook kept ready to start instantly costs, in plain sight
        self.spare.setObjectName("status-spare")
        self.spare.setToolTip("A notebook server kept ready, so a new notebook starts at once (Preferences)")
        self.spare.hide()
        for widget in (self.engine, self.running, self.spare, self.gpu):
            bar.addPermanentWidget(widget)

    def set_engine(self, line: str) -> None:
        short = line if len(line) <= MAX_ENGINE_CHARS else line[: MAX_ENGINE_CHARS - 1] + "…"
        self.engine.setText(short)
        self.engine.setToolTip(line)

    def set_notebooks(self, notebooks: Iterable[Notebook]) -> None:
        self.running.setText(running_text(notebooks))

    def set_spare(self, memory_bytes: int) -> None:
        self.spare.setText(f"spare ready: {format_bytes(memory_bytes)}")
        self.spare.setVisible(memory_bytes > 0)

    def set_gpus(self, inventory: Inventory | None, samples: Sequence[GpuSample] = ()) -> None:
        self.gpu.setText(gpu_text(inventory, samples))
        if inventory is not None and not inventory.gpus:
            self.gpu.setToolTip(f"No GPU panel: {inventory.reason or 'no NVIDIA GPU found'}")
        else:
            self.gpu.setToolTip("Show or hide the GPU panel")
