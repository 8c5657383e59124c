"""Preferences: default images, engine, work folder root, network mode, GPU sampling, what Quit does,
whether a new notebook opens once ready, the theme, Docker context or host, new notebooks' idle stop and
GPU notebooks' shared memory; the remote Docker hosts reached over SSH (desktop.ui.remote_hosts_section);
and where Labdock keeps its settings and work. `chosen()` gives the edited Settings; the window saves them
(save_settings) and applies what it can at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import Qt
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
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import InvalidSpec
from desktop.core.models import NetworkMode
from desktop.core.spec_checks import IDLE_MINUTES_MAX, parse_shm
from desktop.core.validation import validate_image
from desktop.engines.endpoint import DockerContext, list_contexts
from desktop.services import Services
from desktop.settings import (
    IMAGE_PRESETS,
    QUIT_ASK,
    QUIT_LEAVE,
    QUIT_STOP,
    SHM_AUTO,
    SHM_DOCKER,
    THEME_DARK,
    THEME_LIGHT,
    THEME_SYSTEM,
    Settings,
)
from desktop.store import Paths
from desktop.ui.remote_hosts_section import RemoteHostsSection
from desktop.ui.theme import colour_text, failed_colour

QUIT_CHOICES = ((QUIT_ASK, "Ask each time"), (QUIT_STOP, "Stop the notebooks"), (QUIT_LEAVE, "Leave them running"))
THEME_CHOICES = ((THEME_SYSTEM, "As the system"), (THEME_LIGHT, "Light"), (THEME_DARK, "Dark"))
NETWORK_CHOICES = (
    (NetworkMode.BRIDGE.value, "Bridge (published on 127.0.0.1 only)"),
    (NetworkMode.HOST.value, "Host network (listens on 127.0.0.1)"),
)
ENGINE_CHOICES = (("docker", "Docker"), ("local", "Local (no Docker)"))
DOCKER_SCHEMES = ("unix://", "tcp://", "ssh://", "npipe://", "http://", "https://")
SHM_CHOICES = ((SHM_AUTO, "Automatic: half the memory, 1 to 16 GiB"), (SHM_DOCKER, "Docker's default (64 MiB)"))
AUTOMATIC_CONTEXT = "Automatic: DOCKER_HOST, the current Docker context, then local Docker and Podman sockets"


def _combo(choices: tuple[tuple[str, str], ...], current: str) -> QComboBox:
    combo = QComboBox()
    for value, label in choices:
        combo.addItem(label, value)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


def _context_combo(contexts: list[DockerContext], current: str | None) -> QComboBox:
    """Automatic first, then each context `docker context ls` shows; a saved one that is gone stays listed."""
    combo = QComboBox()
    combo.addItem(AUTOMATIC_CONTEXT, None)
    for context in contexts:
        mark = " (current)" if context.current else ""
        combo.addItem(f"{context.name}{mark}: {context.host}", context.name)
        combo.setItemData(combo.count() - 1, context.description or context.host, Qt.ItemDataRole.ToolTipRole)
    if current and combo.findData(current) < 0:
        combo.addItem(f"{current}: not found", current)
    combo.setCurrentIndex(max(0, combo.findData(current)) if current else 0)
    return combo


def _image_combo(current: str) -> QComboBox:
    combo = QComboBox()
    combo.setEditable(True)
    combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
    combo.addItems(list(dict.fromkeys((current, *IMAGE_PRESETS))))
    combo.setCurrentText(current)
    return combo


class PreferencesDialog(QDialog):
    def __init__(
        self,
        settings: Settings,
        paths: Paths,
        parent: QWidget | None = None,
        contexts: list[DockerContext] | None = None,
        services: Services | None = None,
    ) -> None:
        """`contexts`: the Docker contexts to offer; None reads them here (a few small local files).
        `services`: the window's, for the remote hosts' states (without them the hosts are listed unchecked)."""
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(620)
        self._settings = settings
        self._paths = paths
        self.default_image = _image_combo(settings.default_image)
        self.default_gpu_image = _image_combo(settings.default_gpu_image)
        self.default_engine = _combo(ENGINE_CHOICES, settings.default_engine)
        self.work_root = QLineEdit(settings.work_root or "")
        self.work_root.setPlaceholderText(str(paths.data_dir / "work"))
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        self.network_mode = _combo(NETWORK_CHOICES, settings.network_mode)
        self.sample_interval = QDoubleSpinBox()
        self.sample_interval.setRange(0.2, 60.0)
        self.sample_interval.setDecimals(1)
        self.sample_interval.setSingleStep(0.5)
        self.sample_interval.setSuffix(" s")
        self.sample_interval.setValue(settings.gpu_sample_interval)
        self.quit_action = _combo(QUIT_CHOICES, settings.quit_action)
        self.docker_context = _context_combo(list_contexts() if contexts is None else contexts, settings.docker_context)
        self.docker_host = QLineEdit(settings.docker_host or "")
        self.docker_host.setPlaceholderText("optional: a unix://, tcp:// or ssh:// URL, used instead of the context")
        self.open_when_ready = QCheckBox("Open a new notebook in a tab as soon as it is ready")
        self.open_when_ready.setChecked(settings.open_when_ready)
        self.keep_spare = QCheckBox("Keep a notebook ready to start instantly (costs its memory; see the status bar)")
        self.keep_spare.setChecked(settings.keep_spare)
        self.theme = _combo(THEME_CHOICES, settings.theme)
        self.idle_minutes = QSpinBox()
        self.idle_minutes.setRange(0, IDLE_MINUTES_MAX)
        self.idle_minutes.setSpecialValueText("never")
        self.idle_minutes.setSuffix(" min idle")
        self.idle_minutes.setValue(settings.default_idle_stop_minutes or 0)
        self.gpu_shm = _combo(SHM_CHOICES, settings.gpu_shm_size)
        self.gpu_shm.setEditable(True)
        self.gpu_shm.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        if self.gpu_shm.findData(settings.gpu_shm_size) < 0:
            self.gpu_shm.setEditText(settings.gpu_shm_size)
        self.gpu_shm.setToolTip("Or type a size, e.g. 8g")
        self.remote_hosts = RemoteHostsSection(settings.remote_hosts, services)
        self.finished.connect(lambda _result: self.remote_hosts.stop())
        self.problem = QLabel()
        colour_text(self.problem, failed_colour())
        self.problem.setWordWrap(True)
        self.problem.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self._lay_out()

    def _lay_out(self) -> None:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow("Default image:", self.default_image)
        form.addRow("Default GPU image:", self.default_gpu_image)
        form.addRow("Default engine:", self.default_engine)
        work = QHBoxLayout()
        work.addWidget(self.work_root, 1)
        work.addWidget(self.browse)
        form.addRow("Work folders in:", work)
        form.addRow("Network mode:", self.network_mode)
        form.addRow("GPU sampling every:", self.sample_interval)
        form.addRow("When quitting:", self.quit_action)
        form.addRow("New notebooks:", self.open_when_ready)
        form.addRow("", self.keep_spare)
        form.addRow("Theme:", self.theme)
        form.addRow("Stop new notebooks after:", self.idle_minutes)
        form.addRow("GPU shared memory:", self.gpu_shm)
        form.addRow("Docker context:", self.docker_context)
        form.addRow("Docker host:", self.docker_host)
        where = QLabel(
            f"Settings: <code>{self._paths.settings_file}</code><br>"
            f"Notebook data: <code>{self._paths.data_dir}</code><br>"
            f"Work folders now: <code>{self._paths.work_root}</code><br>"
            "<small>A new Docker context or Docker host takes effect when Labdock starts again; "
            "remote hosts are used as soon as they are saved.</small>"
        )
        where.setTextFormat(Qt.TextFormat.RichText)
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        where.setWordWrap(True)
        self.where = where
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.remote_hosts)
        layout.addWidget(where)
        layout.addWidget(self.problem)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

    def chosen(self) -> Settings:
        """The settings as edited; raises InvalidSpec with a user-facing reason."""
        host = self.docker_host.text().strip()
        if host and not host.startswith(DOCKER_SCHEMES):
            raise InvalidSpec(f"Docker host {host!r} should start with unix://, tcp:// or ssh://")
        work = self.work_root.text().strip()
        return dataclasses.replace(
            self._settings,
            default_image=validate_image(self.default_image.currentText()),
            default_gpu_image=validate_image(self.default_gpu_image.currentText()),
            default_engine=str(self.default_engine.currentData()),
            work_root=str(Path(work).expanduser()) if work else None,
            network_mode=str(self.network_mode.currentData()),
            gpu_sample_interval=round(self.sample_interval.value(), 1),
            quit_action=str(self.quit_action.currentData()),
            open_when_ready=self.open_when_ready.isChecked(),
            keep_spare=self.keep_spare.isChecked(),
            theme=str(self.theme.currentData()),
            docker_host=host or None,
            docker_context=str(self.docker_context.currentData() or "") or None,
            recent_images=list(self._settings.recent_images),
            default_idle_stop_minutes=self.idle_minutes.value() or None,
            gpu_shm_size=self._shm_choice(),
            remote_hosts=self.remote_hosts.entries(),
        )

    def _shm_choice(self) -> str:
        text = self.gpu_shm.currentText().strip()
        index = self.gpu_shm.findText(text)
        if index >= 0:
            return str(self.gpu_shm.itemData(index))
        parse_shm(text)  # a size: checked, kept as typed
        return text

    def _accept(self) -> None:
        try:
            self.chosen()
        except InvalidSpec as exc:
            self.problem.setText(str(exc))
            self.problem.show()
            return
        self.accept()

    def _browse(self) -> None:
        start = self.work_root.text() or str(self._paths.work_root)
        folder = QFileDialog.getExistingDirectory(self, "Work folders in", start)
        if folder:
            self.work_root.setText(folder)
