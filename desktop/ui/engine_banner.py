"""A banner above the table while Docker does not answer: the cause first and the one fix for it
(desktop.ui.engine_diagnosis), Retry, and an offer to use the Local engine meanwhile. It hides itself
when the engine answers again. Colours come from the palette (light and dark themes alike)."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QStyle, QVBoxLayout, QWidget

from desktop.ui.engine_diagnosis import Diagnosis


class EngineBanner(QFrame):
    retry_requested = Signal()
    local_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("engine-banner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(size, size))
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.help = QLabel()
        self.help.setTextFormat(Qt.TextFormat.RichText)
        self.help.setWordWrap(True)
        self.help.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry_button = QPushButton("Retry")
        self.local_button = QPushButton("New Local notebook…")
        self.local_button.setToolTip("Runs JupyterLab as a process on this computer, without Docker")
        self.retry_button.clicked.connect(self.retry_requested)
        self.local_button.clicked.connect(self.local_requested)
        buttons = QVBoxLayout()
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.local_button)
        buttons.addStretch(1)
        text = QVBoxLayout()
        text.addWidget(self.title)
        text.addWidget(self.help)
        text.addWidget(self.detail)
        layout = QHBoxLayout(self)
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(text, 1)
        layout.addLayout(buttons)
        self.problem: str | None = None
        self.hide()

    def set_problem(self, problem: str | None, diagnosis: Diagnosis | None = None) -> None:
        """Show the engine's problem (its cause and fix first), or hide when it is None."""
        self.problem = problem
        if problem is None:
            self.hide()
            return
        cause = diagnosis.cause if diagnosis is not None else "Docker is not available."
        self.title.setText(f"<b>{escape(cause)}</b> Existing notebooks are kept; Labdock retries every few seconds.")
        self.help.setText(diagnosis.fix if diagnosis is not None else "")
        self.help.setVisible(diagnosis is not None)
        self.detail.setText(problem)
        self.show()
