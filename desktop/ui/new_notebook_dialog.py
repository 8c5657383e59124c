"""The New notebook dialog: every field is checked as the user types, with the reason shown.

Engine: Docker (a container from an image, with limits) or Local (JupyterLab as a process on this
computer; image and limits do not apply and are hidden; a GPU choice becomes CUDA_VISIBLE_DEVICES).
GPU: `set_gpu_picker` puts a GpuPicker under the "Use GPU" box; with no GPU the box stays disabled and
the picker says why. Checking it switches the image to the default GPU image unless the user chose one.
`edit(spec)` turns it into "Edit" for a notebook that exists (a failed one): its values filled in, its
name fixed, and what the dialog does not show (profile, network mode, root) kept from that spec.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import InvalidSpec
from desktop.core.models import ALL_GPUS, CPU_ONLY, NotebookSpec
from desktop.core.validation import name_problem, parse_memory, validate_image
from desktop.gpu import GpuUsage
from desktop.reservations import GpuAvailability
from desktop.settings import IMAGE_PRESETS, Settings
from desktop.store import Paths
from desktop.ui import theme
from desktop.ui.gpu_picker import GpuPicker
from desktop.ui.notebook_advanced import AdvancedFields

SHARED_MARK = " also used by "  # in reservations' sharing warning
ENGINES = (("Docker (container)", "docker"), ("Local (process on this computer, no Docker)", "local"))


def memory_text(value: int | None) -> str:
    """A memory limit as the field takes it: '8g', '512m', else bytes."""
    if not value:
        return ""
    for unit, size in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if value % size == 0:
            return f"{value // size}{unit}"
    return f"{value}b"


def image_choices(settings: Settings) -> list[str]:
    """Recently used first, then the default and the presets, each once."""
    seen: dict[str, None] = {}
    for image in (*settings.recent_images, settings.default_image, *IMAGE_PRESETS):
        seen.setdefault(image, None)
    return list(seen)


class NewNotebookDialog(QDialog):
    def __init__(
        self,
        settings: Settings,
        paths: Paths,
        taken: Callable[[str], bool] = lambda _name: False,
        parent: QWidget | None = None,
        engine: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New notebook")
        self.setMinimumWidth(560)
        self._settings = settings
        self._paths = paths
        self._taken = taken
        self._gpu_picker: GpuPicker | None = None
        self._work_edited = False
        self._image_chosen = False  # the user typed or picked an image: keep it when GPU use changes
        self._editing: NotebookSpec | None = None  # set by edit(): the spec being changed
        self._refusal: str | None = None  # the launch would break a GPU reservation (from check_launch)
        self.check_launch: Callable[[], object] = lambda: None  # asks for the launch warnings anew

        self.engine_combo = QComboBox()
        for label, value in ENGINES:
            self.engine_combo.addItem(label, value)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. vision-2")
        self.name_problem = self._problem_label()
        self.image_combo = QComboBox()
        self.image_combo.setEditable(True)
        self.image_combo.addItems(image_choices(settings))
        self._cpu_image = settings.recent_images[0] if settings.recent_images else settings.default_image
        self.image_combo.setCurrentText(self._cpu_image)
        self.image_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.image_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.image_problem = self._problem_label()
        self.use_gpu = QCheckBox("Use GPU")
        self.use_gpu.setEnabled(False)
        self.use_gpu.setToolTip("Looking for GPUs…")
        self.gpu_slot = QVBoxLayout()
        self.gpu_slot.setContentsMargins(0, 0, 0, 0)
        self.gpu_slot.addWidget(self.use_gpu)
        self.cpus = QDoubleSpinBox()
        self.cpus.setRange(0, float(os.cpu_count() or 1))
        self.cpus.setDecimals(1)
        self.cpus.setSingleStep(0.5)
        self.cpus.setSpecialValueText("no limit")
        self.memory_edit = QLineEdit()
        self.memory_edit.setPlaceholderText("no limit (e.g. 8g or 512m)")
        self.memory_problem = self._problem_label()
        self.work_edit = QLineEdit()
        self.work_edit.setPlaceholderText(str(paths.work_root / "<name>"))
        self.browse = QPushButton("Browse…")
        self.advanced = AdvancedFields(settings)
        self.advanced_problem = self._problem_label()
        self.launch_note = QLabel()
        self.launch_note.setWordWrap(True)
        theme.colour_text(self.launch_note, theme.warning_colour())
        self.launch_note.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.create_button = self.buttons.addButton("Create", QDialogButtonBox.ButtonRole.AcceptRole)
        self.create_button.setDefault(True)
        self._lay_out()

        self.name_edit.textChanged.connect(self._on_name)
        self.image_combo.editTextChanged.connect(self.validate)
        line = self.image_combo.lineEdit()
        if line is not None:
            line.textEdited.connect(self._on_image_chosen)
        self.image_combo.activated.connect(self._on_image_chosen)
        self.use_gpu.toggled.connect(self._on_use_gpu)
        self.engine_combo.currentIndexChanged.connect(self._on_engine)
        self.memory_edit.textChanged.connect(self.validate)
        self.work_edit.textEdited.connect(self._on_work_edited)
        self.browse.clicked.connect(self._browse)
        self.advanced.changed.connect(self.validate)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self.set_engine(engine or settings.default_engine)
        self._on_name("")

    def _problem_label(self) -> QLabel:
        label = QLabel()
        theme.colour_text(label, theme.failed_colour())
        label.setWordWrap(True)
        label.hide()
        return label

    def _lay_out(self) -> None:
        form = self._form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow("Engine:", self.engine_combo)
        form.addRow("Name:", self.name_edit)
        form.addRow("", self.name_problem)
        form.addRow("Image:", self.image_combo)
        form.addRow("", self.image_problem)
        gpu = QWidget()
        gpu.setLayout(self.gpu_slot)
        form.addRow("GPU:", gpu)
        form.addRow("CPU limit:", self.cpus)
        form.addRow("Memory limit:", self.memory_edit)
        form.addRow("", self.memory_problem)
        work = QHBoxLayout()
        work.addWidget(self.work_edit, 1)
        work.addWidget(self.browse)
        form.addRow("Work folder:", work)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.advanced)
        layout.addWidget(self.advanced_problem)
        layout.addStretch(1)
        layout.addWidget(self.launch_note)
        layout.addWidget(self.buttons)

    def set_gpu_picker(self, picker: GpuPicker) -> None:
        """Put the GPU picker under "Use GPU"; without a GPU the box stays off and the picker says why."""
        if self._gpu_picker is not None:
            self._gpu_picker.deleteLater()
        self._gpu_picker = picker
        self.gpu_slot.addWidget(picker)
        picker.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        picker.choiceChanged.connect(self._gpus_changed)
        picker.show()
        has_gpu = bool(picker.inventory.gpus)
        self.use_gpu.setEnabled(has_gpu)
        self.use_gpu.setToolTip("" if has_gpu else picker.note.text())
        if has_gpu and self._editing is not None and self._editing.gpus:
            picker.set_choice(self._editing.gpus)
            picker.exclusive.setChecked(self._editing.exclusive_gpus)
            self.use_gpu.setChecked(True)
        picker.setEnabled(has_gpu and self.use_gpu.isChecked())
        self._fit()

    def edit(self, spec: NotebookSpec) -> None:
        """Show `spec` to be changed; the name stays (it is the notebook's)."""
        self._editing = spec
        self.setWindowTitle(f"Edit '{spec.name}'")
        self.create_button.setText("Start")
        self.set_engine(spec.engine)
        self.name_edit.setText(spec.name)
        self.name_edit.setReadOnly(True)
        if spec.engine == "docker":
            self.image_combo.setCurrentText(spec.image)
            self._image_chosen = True
        self.cpus.setValue(spec.cpus or 0)
        self.memory_edit.setText(memory_text(spec.memory_bytes))
        if spec.work_dir is not None:
            self.work_edit.setText(str(spec.work_dir))
            self._work_edited = True
        self.advanced.load(spec)
        self.validate()

    def set_gpu_usage(self, usage: GpuUsage) -> None:
        """Who uses each GPU now, so the picker can warn about sharing."""
        if self._gpu_picker is not None:
            self._gpu_picker.set_usage(usage)
            self._fit()

    def set_gpu_availability(self, rows: tuple[GpuAvailability, ...]) -> None:
        """Per GPU: free memory, holders, whether reserved."""
        if self._gpu_picker is not None:
            self._gpu_picker.set_availability(rows)

    def engine(self) -> str:
        return str(self.engine_combo.currentData())

    def set_engine(self, engine: str) -> None:
        index = self.engine_combo.findData(engine)
        self.engine_combo.setCurrentIndex(max(0, index))
        self._on_engine()

    def _on_engine(self) -> None:
        docker = self.engine() == "docker"
        for widget in (self.image_combo, self.cpus, self.memory_edit):
            self._form.setRowVisible(widget, docker)
        self.advanced.set_engine(self.engine())
        self.validate()

    def _on_image_chosen(self, *_args: object) -> None:
        self._image_chosen = True

    def _on_use_gpu(self, on: bool) -> None:
        picker = self._gpu_picker
        if picker is not None:
            picker.setEnabled(on)
            if on and not picker.choice():
                picker.set_choice(ALL_GPUS)
        if not self._image_chosen:
            self.image_combo.setCurrentText(self._settings.default_gpu_image if on else self._cpu_image)
        self._gpus_changed()

    def _gpus_changed(self) -> None:
        self.advanced.set_gpus(self.gpus())
        self.validate()
        self.check_launch()

    # -- checking --------------------------------------------------------------------------------

    def _on_name(self, name: str) -> None:
        if not self._work_edited:
            self.work_edit.setText(str(self._paths.default_work_dir(name)) if name.strip() else "")
        self.validate()

    def _on_work_edited(self, _text: str) -> None:
        self._work_edited = True

    def problems(self) -> dict[str, str]:
        """Field name -> why it cannot be used; empty when Create may proceed."""
        found: dict[str, str] = {}
        name = self.name_edit.text()
        problem = name_problem(name)
        editing = self._editing is not None and name == self._editing.name
        if problem is None and not editing and self._taken(name):
            problem = f"a notebook named '{name}' already exists"
        if problem:
            found["name"] = problem
        problem = self.advanced.problem(self._base(), self.engine())
        if problem:
            found["advanced"] = problem
        if self._refusal and self.gpus():
            found["launch"] = self._refusal
        if self.engine() == "local":
            return found  # no image, no limits
        try:
            validate_image(self.image_combo.currentText())
        except InvalidSpec:
            found["image"] = "an image is required, e.g. quay.io/jupyter/scipy-notebook:latest"
        if self.memory_edit.text().strip():
            try:
                parse_memory(self.memory_edit.text())
            except InvalidSpec as exc:
                found["memory"] = str(exc)
        return found

    def validate(self) -> bool:
        found = self.problems()
        typed = bool(self.name_edit.text())
        self._show(self.name_problem, found.get("name") if typed else None)
        self._show(self.image_problem, found.get("image"))
        self._show(self.memory_problem, found.get("memory"))
        self._show(self.advanced_problem, found.get("advanced") or found.get("launch"))
        self.create_button.setEnabled(not found)
        self._fit()
        return not found

    def _fit(self) -> None:
        """Grow to show a wrapped reason in full (a form layout does not do it by itself)."""
        layout = self.layout()
        if layout is not None:
            layout.activate()
            height = max(self.height(), self.sizeHint().height())
            if height != self.height():
                self.resize(self.width(), height)

    @staticmethod
    def _show(label: QLabel, text: str | None) -> None:
        label.setText(text or "")
        label.setVisible(bool(text))

    # -- result ----------------------------------------------------------------------------------

    def gpus(self) -> tuple[str, ...]:
        if self._gpu_picker is None or not self.use_gpu.isChecked():
            return CPU_ONLY
        return self._gpu_picker.choice()

    def _base(self) -> NotebookSpec:
        """The spec without the Advanced section (no checks on image or memory: those have their own)."""
        work = self.work_edit.text().strip()
        base = self._editing or NotebookSpec(name="", image="", network_mode=self._settings.network)
        return dataclasses.replace(
            base,
            name=self.name_edit.text(),
            gpus=self.gpus(),
            engine=self.engine(),
            work_dir=Path(work).expanduser() if work else None,
        )

    def spec(self) -> NotebookSpec:
        local = self.engine() == "local"
        memory = "" if local else self.memory_edit.text().strip()
        spec = dataclasses.replace(
            self._base(),
            exclusive_gpus=self._exclusive(),
            image=self._settings.default_image if local else validate_image(self.image_combo.currentText()),
            cpus=None if local else self.cpus.value() or None,
            memory_bytes=parse_memory(memory) if memory else None,
        )
        return self.advanced.apply(spec, self.engine())

    def _exclusive(self) -> bool:
        return bool(self.gpus()) and self._gpu_picker is not None and self._gpu_picker.exclusive.isChecked()

    def secrets(self) -> dict[str, str]:
        """Values for the secret variables (new or changed ones only when editing)."""
        return self.advanced.secrets()

    def forget_secrets(self) -> None:
        self.advanced.env.forget_secret_values()

    def set_launch_warnings(self, warnings: tuple[str, ...], refusal: str | None = None) -> None:
        """What launching would mean (shared GPUs, a CUDA mismatch), shown above the buttons; a `refusal`
        (a reserved GPU) keeps Create disabled."""
        self._refusal = refusal
        picker = self._gpu_picker
        if picker is not None and picker.warning.isVisible():  # the picker already says who shares each GPU
            warnings = tuple(w for w in warnings if SHARED_MARK not in w)
        self._show(self.launch_note, "\n".join(warnings))
        self.validate()

    def _browse(self) -> None:
        start = self.work_edit.text() or str(self._paths.work_root)
        folder = QFileDialog.getExistingDirectory(self, "Work folder", str(Path(start).parent))
        if folder:
            self._work_edited = True
            self.work_edit.setText(folder)

    def _accept(self) -> None:
        if self.validate():
            self.accept()
