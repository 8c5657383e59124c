"""Where the app's icons live: the repository's top-level resources/ folder (or LABDOCK_RESOURCES)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap

from desktop.core.models import NotebookState

ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)


def resources_dir() -> Path:
    override = os.environ.get("LABDOCK_RESOURCES")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "resources"


@cache
def app_icon() -> QIcon:
    """The Labdock icon: the SVG for any size, plus the PNG renderings for crisp small sizes."""
    root = resources_dir()
    icon = QIcon(str(root / "labdock.svg"))
    for size in ICON_SIZES:
        png = root / "icons" / f"labdock-{size}.png"
        if png.exists():
            icon.addFile(str(png))
    return icon


@cache
def _state_icon(name: str) -> QIcon:
    return QIcon(str(resources_dir() / "states" / f"{name}.svg"))


def state_icon(state: NotebookState) -> QIcon:
    if state is NotebookState.READY:
        return _state_icon("ready")
    if state is NotebookState.FAILED:
        return _state_icon("failed")
    if state.busy:
        return _state_icon("busy")
    return _state_icon("stopped")


SPINNER_FRAMES = 12


@cache
def spinner_frame(frame: int, size: int = 16) -> QIcon:
    """One frame of the busy indicator: the busy icon turned by frame * 30 degrees."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.translate(QPointF(size / 2, size / 2))
    painter.rotate((frame % SPINNER_FRAMES) * 360 / SPINNER_FRAMES)
    painter.translate(QPointF(-size / 2, -size / 2))
    _state_icon("busy").paint(painter, 0, 0, size, size)
    painter.end()
    return QIcon(pixmap)
