"""Why a notebook failed, in plain sight: a strip above its log with the reason and what to do next
("Start again", "Edit…"). Shown while the notebook the log shows is FAILED."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QStyle, QWidget

from desktop.core.models import Notebook, NotebookState


class FailureStrip(QFrame):
    start_requested = Signal(str)
    edit_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("failure-strip")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self.name: str | None = None
        icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(size, size))
        self.reason = QLabel()
        self.reason.setTextFormat(Qt.TextFormat.RichText)
        self.reason.setWordWrap(True)
        self.reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.start_button = QPushButton("Start again")
        self.edit_button = QPushButton("Edit…")
        self.edit_button.setToolTip("Change the image, limits or work folder, then start")
        self.start_button.clicked.connect(lambda: self.start_requested.emit(self.name) if self.name else None)
        self.edit_button.clicked.connect(lambda: self.edit_requested.emit(self.name) if self.name else None)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.reason, 1)
        layout.addWidget(self.start_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.edit_button, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_notebook(self, notebook: Notebook | None) -> None:
        """Show the failure of `notebook`, or hide when it has none (or it is None)."""
        if notebook is None or notebook.state is not NotebookState.FAILED:
            self.name = None
            self.hide()
            return
        self.name = notebook.name
        self.reason.setText(f"<b>'{notebook.name}' failed:</b> {_escape(notebook.error or 'no reason given')}")
        self.show()


def _escape(text: str) -> str:
    return escape(text).replace("\n", "<br>")
