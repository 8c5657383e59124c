"""The New notebook dialog: every field is checked as the user types, with the reason shown.

Host (shown once remote hosts exist, `set_hosts`): this machine or a remote Docker host over SSH; for a host,
spec.engine is its name, the work folder is on that host (desktop.ui.work_folder_field) and the GPUs are its
own. Engine: Docker (a container from an image, with limits) or Local (JupyterLab as a process on this
computer only; image and limits do not apply and are hidden; a GPU choice becomes CUDA_VISIBLE_DEVICES).
GPU: `set_gpu_picker` puts a GpuPicker (one per machine) under the "Use GPU" box; with no GPU the box stays
disabled and the picker says why. Checking it switches the image to the default GPU image unless the user
chose one. `host_changed` asks for the host's work root and GPUs (desktop.ui.dialog_hosts fetches them).
`edit(spec)` turns it into "Edit" for a notebook that exists (a failed one): its values filled in, its
name fixed, and what the dialog does not show (profile, network mode, root) kept from that spec.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import InvalidSpec
from desktop.core.models import LOCAL_ENGINES, NotebookSpec
from desktop.core.validation import name_problem, parse_memory, validate_image
from desktop.gpu import GpuUsage
from desktop.reservations import GpuAvailability
from desktop.settings import IMAGE_PRESETS, Settings
from desktop.store import Paths
from desktop.ui import theme
from desktop.ui.gpu_picker import GpuPicker
from desktop.ui.host_choice import HERE, HostChoice, HostItem
from desktop.ui.machine_gpus import MachineGpus
from desktop.ui.notebook_advanced import AdvancedFields
from desktop.ui.work_folder_field import WorkFolderField

SHARED_MARK = " also used by "  # in reservations' sharing warning
ENGINES = (("Docker (container)", "docker"), ("Local (process on this computer, no Docker)", "local"))
LOCAL_HERE_ONLY = "Local runs JupyterLab on this computer only: on a remote host notebooks run in Docker"


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
    host_changed = Signal(str)  # the remote host chosen ("" for this machine)

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
        self._image_chosen = False  # the user typed or picked an image: keep it when GPU use changes
        self._editing: NotebookSpec | None = None  # set by edit(): the spec being changed
        self._refusal: str | None = None  # the launch would break a GPU reservation (from check_launch)
        self.check_launch: Callable[[], object] = lambda: None  # asks for the launch warnings anew

        self.host_choice = HostChoice()
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
        self.gpu_row = MachineGpus()
        self.use_gpu = self.gpu_row.use_gpu
        self.cpus = QDoubleSpinBox()
        self.cpus.setRange(0, float(os.cpu_count() or 1))
        self.cpus.setDecimals(1)
        self.cpus.setSingleStep(0.5)
        self.cpus.setSpecialValueText("no limit")
        self.memory_edit = QLineEdit()
        self.memory_edit.setPlaceholderText("no limit (e.g. 8g or 512m)")
        self.memory_problem = self._problem_label()
        self.work_field = WorkFolderField(paths)
        self.work_edit = self.work_field.edit
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
        self.gpu_row.use_toggled.connect(self._on_use_gpu)
        self.gpu_row.changed.connect(self._gpus_changed)
        self.engine_combo.currentIndexChanged.connect(self._on_engine)
        self.host_choice.currentIndexChanged.connect(self._on_host)
        self.memory_edit.textChanged.connect(self.validate)
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
        form.addRow("Host:", self.host_choice)
        form.setRowVisible(self.host_choice, False)  # until there are remote hosts
        form.addRow("Engine:", self.engine_combo)
        form.addRow("Name:", self.name_edit)
        form.addRow("", self.name_problem)
        form.addRow("Image:", self.image_combo)
        form.addRow("", self.image_problem)
        form.addRow("GPU:", self.gpu_row)
        form.addRow("CPU limit:", self.cpus)
        form.addRow("Memory limit:", self.memory_edit)
        form.addRow("", self.memory_problem)
        form.addRow("Work folder:", self.work_field)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.advanced)
        layout.addWidget(self.advanced_problem)
        layout.addStretch(1)
        layout.addWidget(self.launch_note)
        layout.addWidget(self.buttons)

    def set_gpu_picker(self, picker: GpuPicker, host: str | None = None) -> None:
        """The GPU picker of this machine (or of `host`), under "Use GPU" while its machine is chosen; without
        a GPU the box stays off and the picker says why."""
        self.gpu_row.set_picker(picker, host)
        self._fit()

    @property
    def _gpu_picker(self) -> GpuPicker | None:
        return self.gpu_row.picker

    def edit(self, spec: NotebookSpec) -> None:
        """Show `spec` to be changed; the name stays (it is the notebook's)."""
        self._editing = self.gpu_row.editing = spec
        self.setWindowTitle(f"Edit '{spec.name}'")
        self.create_button.setText("Start")
        self.set_engine(spec.engine)
        self.host_choice.setEnabled(False)  # a notebook stays on its machine
        self.name_edit.setText(spec.name)
        self.name_edit.setReadOnly(True)
        if spec.engine != "local":
            self.image_combo.setCurrentText(spec.image)
            self._image_chosen = True
        self.cpus.setValue(spec.cpus or 0)
        self.memory_edit.setText(memory_text(spec.memory_bytes))
        if spec.work_dir is not None:
            self.work_field.set_value(spec.work_dir)
        self.advanced.load(spec)
        self.validate()

    def set_gpu_usage(self, usage: GpuUsage) -> None:
        """Who uses each of this machine's GPUs now, so its picker can warn about sharing."""
        self.gpu_row.set_usage(usage)
        self._fit()

    def set_gpu_availability(self, rows: tuple[GpuAvailability, ...]) -> None:
        """Per GPU of this machine: free memory, holders, whether reserved."""
        self.gpu_row.set_availability(rows)

    def set_hosts(self, hosts: list[HostItem]) -> None:
        """The remote hosts to offer besides this machine (the Host row shows once there is one)."""
        self.host_choice.set_hosts(hosts)
        self._form.setRowVisible(self.host_choice, bool(hosts))

    def host(self) -> str | None:
        """The remote host chosen; None for this machine."""
        return self.host_choice.host()

    def engine(self) -> str:
        """spec.engine: the remote host's name, else docker or local."""
        return self.host() or str(self.engine_combo.currentData())

    def set_engine(self, engine: str) -> None:
        """An engine of this machine, or a remote host by name."""
        self.host_choice.set_host(None if engine in LOCAL_ENGINES else engine)
        index = self.engine_combo.findData(engine if engine in LOCAL_ENGINES else "docker")
        self.engine_combo.setCurrentIndex(max(0, index))
        self._on_engine()

    def _on_host(self) -> None:
        host = self.host()
        local = self.engine_combo.findData("local")
        item = self._engine_items().item(local)
        item.setEnabled(host is None)
        item.setToolTip("" if host is None else LOCAL_HERE_ONLY)
        if host is not None and self.engine_combo.currentIndex() == local:
            self.engine_combo.setCurrentIndex(self.engine_combo.findData("docker"))
        self.work_field.set_host(host)
        self.gpu_row.show_machine(host)
        self._fit()
        self.host_changed.emit(host or HERE)
        self._on_engine()

    def _engine_items(self) -> QStandardItemModel:
        model = self.engine_combo.model()
        assert isinstance(model, QStandardItemModel)
        return model

    def _on_engine(self) -> None:
        docker = self.engine() != "local"
        for widget in (self.image_combo, self.cpus, self.memory_edit):
            self._form.setRowVisible(widget, docker)
        self.advanced.set_engine(self.engine())
        self.validate()

    def _on_image_chosen(self, *_args: object) -> None:
        self._image_chosen = True

    def _on_use_gpu(self, on: bool) -> None:
        if not self._image_chosen:
            self.image_combo.setCurrentText(self._settings.default_gpu_image if on else self._cpu_image)

    def _gpus_changed(self) -> None:
        self.advanced.set_gpus(self.gpus())
        self.validate()
        self.check_launch()

    # -- checking --------------------------------------------------------------------------------

    def _on_name(self, name: str) -> None:
        self.work_field.set_name(name)
        self.validate()

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
        return self.gpu_row.choice()

    def _base(self) -> NotebookSpec:
        """The spec without the Advanced section (no checks on image or memory: those have their own)."""
        base = self._editing or NotebookSpec(name="", image="", network_mode=self._settings.network)
        return dataclasses.replace(
            base,
            name=self.name_edit.text(),
            gpus=self.gpus(),
            engine=self.engine(),
            work_dir=self.work_field.value(),
        )

    def spec(self) -> NotebookSpec:
        local = self.engine() == "local"
        memory = "" if local else self.memory_edit.text().strip()
        spec = dataclasses.replace(
            self._base(),
            exclusive_gpus=self.gpu_row.exclusive(),
            image=self._settings.default_image if local else validate_image(self.image_combo.currentText()),
            cpus=None if local else self.cpus.value() or None,
            memory_bytes=parse_memory(memory) if memory else None,
        )
        return self.advanced.apply(spec, self.engine())

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

    def _accept(self) -> None:
        if self.validate():
            self.accept()
