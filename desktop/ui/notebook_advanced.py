"""The New/Edit notebook dialog's "Advanced" section: environment (plain and secret), shared memory,
extra mounts, stable address, idle stop, surviving reboots and server arguments.

Secret values are typed into password fields and handed to the manager as `secrets=`, never put in the
spec. Editing shows a stored secret's name only: its field stays empty ("unchanged"), and only a value the
user types is passed on. Shared memory, mounts and surviving reboots need a container: for the Local engine
they are disabled (core.validation.local_engine_problem is the rule).
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import InvalidSpec
from desktop.core.models import NotebookSpec
from desktop.core.spec_checks import (
    IDLE_MINUTES_MAX,
    parse_shm,
    validate_env,
    validate_extra_args,
    validate_mounts,
    validate_secret_values,
)
from desktop.core.validation import format_bytes
from desktop.settings import Settings
from desktop.ui.setting_tables import EnvTable, MountTable


def _buttons(*buttons: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    for button in buttons:
        row.addWidget(button)
    row.addStretch(1)
    return row


class AdvancedFields(QWidget):
    """The section under an "Advanced" toggle; `changed` whenever a field does."""

    changed = Signal()

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._editing: NotebookSpec | None = None
        self._gpus: tuple[str, ...] = ()
        self.toggle = QToolButton()
        self.toggle.setText("Advanced")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setAutoRaise(True)
        self.body = QWidget()
        self.body.hide()
        self.env = EnvTable()
        self.add_env = QPushButton("Add variable")
        self.remove_env = QPushButton("Remove variable")
        self.shm_edit = QLineEdit()
        self.mounts = MountTable()
        self.add_mount = QPushButton("Add folder…")
        self.remove_mount = QPushButton("Remove folder")
        self.stable = QCheckBox("Stable address (the same port and token at every start)")
        self.idle = QSpinBox()
        self.idle.setRange(0, IDLE_MINUTES_MAX)
        self.idle.setSpecialValueText("never")
        self.idle.setSuffix(" min")
        self.idle.setValue(settings.default_idle_stop_minutes or 0)
        self.survive = QCheckBox("Survive reboots (comes back when the engine restarts)")
        self.args_edit = QLineEdit()
        self.args_edit.setPlaceholderText("e.g. --ServerApp.max_body_size=1073741824")
        for table in (self.env, self.mounts):
            table.setMinimumHeight(90)
            table.setMaximumHeight(130)
        self._lay_out()
        self.toggle.toggled.connect(self._expand)
        self.add_env.clicked.connect(lambda: self.env.add())
        self.remove_env.clicked.connect(self.env.remove_current)
        self.add_mount.clicked.connect(self._pick_mount)
        self.remove_mount.clicked.connect(self.mounts.remove_current)
        for signal in (self.env.changed, self.mounts.changed, self.shm_edit.textChanged, self.args_edit.textChanged):
            signal.connect(self.changed)
        for box in (self.stable, self.survive):
            box.toggled.connect(self.changed)
        self.idle.valueChanged.connect(self.changed)
        self.set_gpus(())

    def _lay_out(self) -> None:
        form = QFormLayout(self.body)
        form.setContentsMargins(0, 0, 0, 0)
        env = QVBoxLayout()
        env.addWidget(self.env)
        env.addLayout(_buttons(self.add_env, self.remove_env))
        form.addRow("Environment:", env)
        form.addRow("Shared memory:", self.shm_edit)
        mounts = QVBoxLayout()
        mounts.addWidget(self.mounts)
        mounts.addLayout(_buttons(self.add_mount, self.remove_mount))
        form.addRow("Mounts:", mounts)
        form.addRow("Address:", self.stable)
        form.addRow("Idle stop after:", self.idle)
        form.addRow("Reboots:", self.survive)
        form.addRow("Server arguments:", self.args_edit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toggle)
        layout.addWidget(self.body)

    def _expand(self, on: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(on)
        self.changed.emit()

    def set_gpus(self, gpus: tuple[str, ...]) -> None:
        """Blank shared memory means the default for this GPU choice: say which."""
        self._gpus = gpus
        default = self._settings.default_shm_bytes(gpus)
        shown = "Docker's default (64 MiB)" if default is None else format_bytes(default)
        self.shm_edit.setPlaceholderText(f"default: {shown} (e.g. 8g)")

    def set_engine(self, engine: str) -> None:
        container = engine != "local"
        for widget in (self.shm_edit, self.mounts, self.add_mount, self.remove_mount, self.survive):
            widget.setEnabled(container)
            widget.setToolTip("" if container else "needs the Docker engine (a container)")

    def load(self, spec: NotebookSpec) -> None:
        """Fill in a notebook's settings; its secrets by name only."""
        self._editing = spec
        self.env.stored = set(spec.secret_names)
        for name, value in spec.env:
            self.env.add(name, value)
        for name in spec.secret_names:
            self.env.add(name, "", secret=True)
        self.shm_edit.setText(f"{spec.shm_bytes // (1 << 20)}m" if spec.shm_bytes else "")
        for mount in spec.mounts:
            self.mounts.add(str(mount.host_path), mount.container_path, mount.read_only)
        self.stable.setChecked(spec.stable_address)
        self.idle.setValue(spec.idle_stop_minutes or 0)
        self.survive.setChecked(spec.survive_reboot)
        self.args_edit.setText(shlex.join(spec.extra_args))
        if spec.env or spec.secret_names or spec.mounts or spec.extra_args or spec.shm_bytes:
            self.toggle.setChecked(True)

    # -- result ------------------------------------------------------------------------------------

    def secrets(self) -> dict[str, str]:
        """Values typed for secret variables; when editing, an empty field keeps the stored value."""
        return {name: value for name, value, secret in self.env.rows() if secret and value}

    def apply(self, spec: NotebookSpec, engine: str) -> NotebookSpec:
        """`spec` with this section's values; raises InvalidSpec with one line."""
        rows = self.env.rows()
        container = engine != "local"
        shm = self.shm_edit.text().strip()
        try:
            args = tuple(shlex.split(self.args_edit.text()))
        except ValueError:
            raise InvalidSpec("the server arguments have an unclosed quote") from None
        return dataclasses.replace(
            spec,
            env=tuple((name, value) for name, value, secret in rows if not secret),
            secret_names=tuple(name for name, _value, secret in rows if secret),
            shm_bytes=(parse_shm(shm) if shm else self._settings.default_shm_bytes(spec.gpus)) if container else None,
            mounts=self.mounts.mounts() if container else (),
            stable_address=self.stable.isChecked(),
            idle_stop_minutes=self.idle.value() or None,
            survive_reboot=container and self.survive.isChecked(),
            extra_args=args,
        )

    def problem(self, spec: NotebookSpec, engine: str) -> str | None:
        """Why this section's values cannot be used, in one line; None when they can."""
        try:
            full = self.apply(spec, engine)
            validate_env(full.env, full.secret_names)
            stored = set(self._editing.secret_names) if self._editing is not None else set()
            new = [name for name in full.secret_names if name not in stored]
            validate_secret_values(full.secret_names, self.secrets())
            validate_secret_values(new, {n: v for n, v in self.secrets().items() if n in new}, complete=True)
            validate_mounts(full.mounts)
            validate_extra_args(full.extra_args)
        except InvalidSpec as exc:
            return str(exc)
        return None

    def _pick_mount(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to show in the notebook", str(Path.home()))
        if folder:
            self.mounts.add(folder)
