"""The GPU row of the New notebook dialog: "Use GPU" over the GPU picker of the machine chosen.

Each machine has its own picker (this machine's from NVML, a remote host's from nvidia-smi over SSH), set
as it arrives; until the chosen machine's has, the box is off and says it is looking. Choosing another
machine clears "Use GPU": its GPUs are other GPUs. Usage and availability figures fed by the GPU dock are
this machine's, so they go to this machine's picker only.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QSizePolicy, QVBoxLayout, QWidget

from desktop.core.models import ALL_GPUS, CPU_ONLY, NotebookSpec
from desktop.gpu import GpuUsage
from desktop.reservations import GpuAvailability
from desktop.ui.gpu_picker import GpuPicker
from desktop.ui.host_choice import HERE


class MachineGpus(QWidget):
    changed = Signal()  # the GPU choice changed (the box or the picker)
    use_toggled = Signal(bool)  # "Use GPU" turned on or off

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.use_gpu = QCheckBox("Use GPU")
        self.use_gpu.setEnabled(False)
        self.use_gpu.setToolTip("Looking for GPUs…")
        self.slot = QVBoxLayout(self)
        self.slot.setContentsMargins(0, 0, 0, 0)
        self.slot.addWidget(self.use_gpu)
        self.picker: GpuPicker | None = None  # the chosen machine's, once known
        self.editing: NotebookSpec | None = None  # its GPU choice is shown once its machine's picker is there
        self._pickers: dict[str, GpuPicker] = {}  # per machine (HERE: this one)
        self._machine = HERE
        self.use_gpu.toggled.connect(self._on_use)

    def set_picker(self, picker: GpuPicker, host: str | None = None) -> None:
        """The GPUs of this machine (or of `host`); shown while that machine is chosen."""
        old = self._pickers.pop(host or HERE, None)
        if old is not None:
            if old is self.picker:
                self.picker = None
            old.deleteLater()
        self._pickers[host or HERE] = picker
        self.slot.addWidget(picker)
        picker.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        picker.choiceChanged.connect(self.changed)
        self._show()

    def show_machine(self, host: str | None) -> None:
        self._machine = host or HERE
        self._show()

    def _show(self) -> None:
        picker = self._pickers.get(self._machine)
        for each in self._pickers.values():
            each.setVisible(each is picker)
        if picker is not self.picker:
            self.use_gpu.setChecked(False)  # other GPUs: choose again
        self.picker = picker
        has_gpu = picker is not None and bool(picker.inventory.gpus)
        self.use_gpu.setEnabled(has_gpu)
        looking = f"Looking for GPUs on {self._machine or 'this machine'}…"
        self.use_gpu.setToolTip(looking if picker is None else "" if has_gpu else picker.note.text())
        if picker is None:
            return
        if has_gpu and self.editing is not None and self.editing.gpus:
            picker.set_choice(self.editing.gpus)
            picker.exclusive.setChecked(self.editing.exclusive_gpus)
            self.use_gpu.setChecked(True)
        picker.setEnabled(has_gpu and self.use_gpu.isChecked())

    def set_usage(self, usage: GpuUsage) -> None:
        """Who uses each of this machine's GPUs now, so its picker can warn about sharing."""
        picker = self._pickers.get(HERE)
        if picker is not None:
            picker.set_usage(usage)

    def set_availability(self, rows: tuple[GpuAvailability, ...]) -> None:
        """Per GPU of this machine: free memory, holders, whether reserved."""
        picker = self._pickers.get(HERE)
        if picker is not None:
            picker.set_availability(rows)

    def choice(self) -> tuple[str, ...]:
        if self.picker is None or not self.use_gpu.isChecked():
            return CPU_ONLY
        return self.picker.choice()

    def exclusive(self) -> bool:
        return bool(self.choice()) and self.picker is not None and self.picker.exclusive.isChecked()

    def _on_use(self, on: bool) -> None:
        picker = self.picker
        if picker is not None:
            picker.setEnabled(on)
            if on and not picker.choice():
                picker.set_choice(ALL_GPUS)
        self.use_toggled.emit(on)
        self.changed.emit()
