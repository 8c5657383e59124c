"""Which GPUs a new notebook gets: "All GPUs" or a box per GPU; none checked means CPU only.

Sharing a GPU is allowed (JupyterLab sessions are often idle), so a GPU already in use only earns a
warning line, never a refusal, unless a notebook reserved it ("exclusive"). Each GPU's line says its free
memory, who holds it and whether it is reserved (desktop.reservations.availability).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QLabel, QVBoxLayout, QWidget

from desktop.core.models import ALL_GPUS
from desktop.gpu import OTHER, GpuUsage, Inventory
from desktop.reservations import GpuAvailability
from desktop.ui import theme

GiB = float(1 << 30)


class GpuPicker(QWidget):
    """choice() gives a NotebookSpec.gpus value: () CPU, ("all",), or GPU indices as strings."""

    choiceChanged = Signal()

    def __init__(self, inventory: Inventory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inventory = inventory
        self._usage = GpuUsage()
        self._exclude: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.all_box = QCheckBox("All GPUs")
        self.boxes: dict[str, QCheckBox] = {}
        layout.addWidget(self.all_box)
        self.details: dict[str, QLabel] = {}
        for gpu in inventory.gpus:
            box = QCheckBox(f"GPU {gpu.index}: {gpu.name} ({gpu.memory_total / GiB:.0f} GiB)")
            box.setToolTip(gpu.uuid)
            box.toggled.connect(self._changed)
            layout.addWidget(box)
            self.boxes[gpu.uuid] = box
            detail = self.details[gpu.uuid] = QLabel()
            detail.setIndent(24)
            theme.colour_text(detail, theme.muted_colour())
            detail.hide()
            layout.addWidget(detail)
        self.exclusive = QCheckBox("Exclusive: no other notebook may launch on these GPUs while this one runs")
        self.exclusive.setEnabled(False)
        self.exclusive.toggled.connect(self._exclusive_changed)
        layout.addWidget(self.exclusive)
        self.all_box.toggled.connect(self._changed)
        self.all_box.setEnabled(bool(inventory.gpus))
        self.note = QLabel("" if inventory.gpus else f"no GPU: {inventory.reason or 'no NVIDIA GPU found'}")
        self.note.setVisible(not inventory.gpus)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        theme.colour_text(self.warning, theme.warning_colour())
        self.warning.setVisible(False)
        layout.addWidget(self.note)
        layout.addWidget(self.warning)

    def choice(self) -> tuple[str, ...]:
        if self.all_box.isChecked():
            return ALL_GPUS
        return tuple(str(gpu.index) for gpu in self.inventory.gpus if self.boxes[gpu.uuid].isChecked())

    def set_choice(self, choice: tuple[str, ...]) -> None:
        """Show a remembered choice (indices or UUIDs); ids this machine lacks are dropped."""
        wanted = {part.strip().lower() for item in choice for part in item.split(",")}
        self.all_box.setChecked(bool(self.inventory.gpus) and ALL_GPUS[0] in wanted)
        for gpu in self.inventory.gpus:
            self.boxes[gpu.uuid].setChecked(str(gpu.index) in wanted or gpu.uuid.lower() in wanted)

    def set_availability(self, rows: tuple[GpuAvailability, ...]) -> None:
        """Per GPU: free memory, holders, reservation (from reservations.availability)."""
        for row in rows:
            label = self.details.get(row.uuid)
            if label is not None:
                label.setText(availability_text(row))
                label.setVisible(True)

    def set_usage(self, usage: GpuUsage, exclude: str | None = None) -> None:
        """Who uses each GPU now; `exclude` is the notebook being edited, which does not compete with itself."""
        self._usage, self._exclude = usage, exclude
        self._update_warning()

    def _changed(self) -> None:
        for box in self.boxes.values():
            box.setEnabled(not self.all_box.isChecked())
        self.exclusive.setEnabled(bool(self.choice()))
        self._update_warning()
        self.choiceChanged.emit()

    def _exclusive_changed(self) -> None:
        self.choiceChanged.emit()

    def _update_warning(self) -> None:
        lines = []
        for gpu in self.inventory.gpus:
            if not (self.all_box.isChecked() or self.boxes[gpu.uuid].isChecked()):
                continue
            users = self._usage.per_gpu.get(gpu.uuid, ())
            names = ["other processes" if u.name == OTHER else u.name for u in users if u.name != self._exclude]
            if names:
                lines.append(f"GPU {gpu.index} is already used by {', '.join(names)}; it will be shared.")
        self.warning.setText("\n".join(lines))
        self.warning.setVisible(bool(lines))


def availability_text(row: GpuAvailability) -> str:
    """e.g. "18.2 GiB free · used by vision-2 · reserved by vision-2"."""
    parts = ["free memory unknown" if row.memory_free is None else f"{row.memory_free / GiB:.1f} GiB free"]
    parts.append(f"used by {', '.join(row.holders)}" if row.holders else "not used by a notebook")
    if row.reserved_by:
        parts.append(f"reserved by {row.reserved_by}")
    return " · ".join(parts)
