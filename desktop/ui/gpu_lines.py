"""A GPU card's process lines: notebook -> file, memory, utilisation share and idle time for each GPU process
(desktop.kernels.GpuLine), with Interrupt and Shut down on each kernel line, and "Shut down idle kernels on
this GPU" past a threshold. The view only asks (signals); the GPU dock confirms and acts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QToolButton, QVBoxLayout, QWidget

from desktop.core.validation import format_bytes
from desktop.kernel_actions import KernelAction, idle_kernels
from desktop.kernels import GpuLine, LineKind
from desktop.ui import theme

DEFAULT_IDLE_MINUTES = 60


def line_text(line: GpuLine, now: float) -> str:
    """'vision-2 / train.ipynb · 20.0 GiB · 35 % · idle 2 h 10 min'."""
    parts = [line.label, "memory unknown" if line.memory is None else format_bytes(line.memory)]
    if line.utilization is not None:
        parts.append(f"{line.utilization} %")
    if line.kind is LineKind.KERNEL:
        parts.append(line.activity(now))
    return " · ".join(parts)


class LineRow(QWidget):
    """One GPU process; kernels get their two buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.line: GpuLine | None = None
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.interrupt = QToolButton()
        self.interrupt.setText("Interrupt")
        self.interrupt.setToolTip("Interrupt what the kernel is running (its memory stays)")
        self.shut_down = QToolButton()
        self.shut_down.setText("Shut down")
        self.shut_down.setToolTip("Shut down the kernel: its GPU memory is freed, unsaved variables are lost")
        # Text above its buttons: the dock is narrow, and a file path needs the whole width.
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.interrupt)
        buttons.addWidget(self.shut_down)
        buttons.addStretch(1)
        self.buttons = QWidget()
        self.buttons.setLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.setSpacing(2)
        layout.addWidget(self.text)
        layout.addWidget(self.buttons)

    def show_line(self, line: GpuLine, now: float) -> None:
        self.line = line
        self.text.setText(line_text(line, now))
        self.text.setToolTip(f"pid {line.pid}" + (f", kernel {line.kernel_id}" if line.kernel_id else ""))
        kernel = line.kind is LineKind.KERNEL and line.kernel_id is not None
        if line.kind is LineKind.OTHER:
            theme.colour_text(self.text, theme.muted_colour())
        self.interrupt.setVisible(kernel)
        self.shut_down.setVisible(kernel)
        self.buttons.setVisible(kernel)


class GpuLinesView(QWidget):
    """The lines of one GPU, kept as widgets across rounds (a 1 Hz dock rebuilds nothing that did not change)."""

    kernel_action = Signal(object, object)  # (GpuLine, KernelAction)
    free_idle = Signal(str, float)  # (GPU UUID, idle seconds)

    def __init__(self, gpu_uuid: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gpu_uuid = gpu_uuid
        self.rows: dict[tuple[int, str | None], LineRow] = {}
        self._lines: tuple[GpuLine, ...] = ()
        self._box = QVBoxLayout()
        self._box.setContentsMargins(0, 0, 0, 0)
        self.idle_minutes = QSpinBox()
        self.idle_minutes.setRange(0, 7 * 24 * 60)
        self.idle_minutes.setValue(DEFAULT_IDLE_MINUTES)
        self.idle_minutes.setSuffix(" min")
        self.free_button = QPushButton("Shut down idle kernels on this GPU")
        self.free_button.clicked.connect(self._free)
        self.idle_minutes.valueChanged.connect(lambda _value: self._update_free())
        self.threshold = QLabel("Idle for at least:")
        free = QHBoxLayout()
        free.addWidget(self.threshold)
        free.addWidget(self.idle_minutes)
        free.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._box)
        layout.addLayout(free)
        layout.addWidget(self.free_button)

    @property
    def lines(self) -> tuple[GpuLine, ...]:
        return self._lines

    def show_lines(self, lines: Sequence[GpuLine], now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._lines = tuple(lines)
        keys = [(line.pid, line.kernel_id) for line in lines]
        for key in set(self.rows) - set(keys):
            self.rows.pop(key).deleteLater()
        for position, (key, line) in enumerate(zip(keys, lines, strict=True)):
            row = self.rows.get(key)
            if row is None:
                row = self.rows[key] = LineRow()
                row.interrupt.clicked.connect(lambda _=False, r=row: self._act(r, KernelAction.INTERRUPT))
                row.shut_down.clicked.connect(lambda _=False, r=row: self._act(r, KernelAction.SHUT_DOWN))
            if self._box.indexOf(row) != position:  # moving a widget re-lays the whole dock out
                self._box.insertWidget(position, row)
            row.show_line(line, now)
        self._update_free(now)

    def idle_s(self) -> float:
        return self.idle_minutes.value() * 60.0

    def _update_free(self, now: float | None = None) -> None:
        idle = idle_kernels(self._lines, self.idle_s(), now, self.gpu_uuid)
        self.free_button.setEnabled(bool(idle))
        count = f"{len(idle)} kernel(s) idle that long" if idle else "no kernel idle that long"
        self.free_button.setToolTip(f"Shut down the kernels on this GPU idle at least as long as set beside: {count}")
        self.free_button.setVisible(any(line.kind is LineKind.KERNEL for line in self._lines))
        self.idle_minutes.setVisible(self.free_button.isVisible())
        self.threshold.setVisible(self.free_button.isVisible())

    def _act(self, row: LineRow, action: KernelAction) -> None:
        if row.line is not None:
            self.kernel_action.emit(row.line, action)

    def _free(self) -> None:
        self.free_idle.emit(self.gpu_uuid, self.idle_s())
