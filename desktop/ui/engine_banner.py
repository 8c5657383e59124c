"""A banner above the table while Docker does not answer: what is wrong, how to fix it, Retry, and
an offer to use the Local engine meanwhile. It hides itself when the engine answers again."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

HELP = (
    "<ul style='margin:0'>"
    "<li>Install it: <code>sudo apt install docker.io</code> (or Docker Desktop on macOS/Windows).</li>"
    "<li>Start it: <code>sudo systemctl start docker</code>.</li>"
    "<li>Permission denied? <code>sudo usermod -aG docker $USER</code>, then log out and in again.</li>"
    "<li>For GPU notebooks also install <code>nvidia-container-toolkit</code>.</li>"
    "</ul>"
)
STYLE = "#engine-banner { background: #fff4e5; border: 1px solid #f0b35a; border-radius: 4px; }"


class EngineBanner(QFrame):
    retry_requested = Signal()
    local_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("engine-banner")
        self.setStyleSheet(STYLE)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.help = QLabel(HELP)
        self.help.setTextFormat(Qt.TextFormat.RichText)
        self.help.setWordWrap(True)
        self.help.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
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
        layout = QHBoxLayout(self)
        layout.addLayout(text, 1)
        layout.addLayout(buttons)
        self.problem: str | None = None
        self.hide()

    def set_problem(self, problem: str | None) -> None:
        """Show the engine's problem, or hide when it is None (the engine answers again)."""
        self.problem = problem
        if problem is None:
            self.hide()
            return
        self.title.setText(
            "<b>Docker is not available.</b> Existing notebooks are kept; Labdock retries every few seconds."
            f"<br><small>{escape(problem)}</small>"
        )
        self.retry_button.setEnabled(True)
        self.show()
