"""The Notebooks tab: the engine banner, a filter box and the table (or, with no notebooks yet, a hint),
then a failure strip and the log of the chosen notebook under a splitter."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QLineEdit, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from desktop.ui.engine_banner import EngineBanner
from desktop.ui.failure_strip import FailureStrip
from desktop.ui.log_view import LogView
from desktop.ui.notebook_table import NotebookTable

EMPTY_HINT = (
    "<h3>No notebooks yet</h3>"
    "<p>Click <b>New notebook</b> (Ctrl+N) to start JupyterLab in a container.<br>"
    "It opens here in a tab as soon as it is ready.</p>"
)


class HomePage(QSplitter):
    def __init__(self, log_view: LogView, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.setObjectName("home-splitter")
        self.banner = EngineBanner()
        self.hint = QLabel(EMPTY_HINT)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setTextFormat(Qt.TextFormat.RichText)
        self.filter = QLineEdit()
        self.filter.setObjectName("notebook-filter")
        self.filter.setPlaceholderText("Filter by name, state, image, engine…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setToolTip("Show only the notebooks whose row contains this text (Ctrl+F)")
        # Ctrl+F only on this page: in a notebook tab it is JupyterLab's own Find.
        find = QShortcut(QKeySequence.StandardKey.Find, self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        find.activated.connect(self.filter.setFocus)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.hint)
        self.failure = FailureStrip()
        self.log_view = log_view
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.banner)
        top_layout.addWidget(self.filter)
        top_layout.addWidget(self.stack, 1)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.failure)
        bottom_layout.addWidget(log_view, 1)
        self.addWidget(top)
        self.addWidget(bottom)
        self.setSizes([420, 200])
        self.setChildrenCollapsible(False)
        self.table: NotebookTable | None = None

    def set_table(self, table: NotebookTable) -> None:
        self.table = table
        self.stack.addWidget(table)
        self.filter.textChanged.connect(table.proxy.setFilterFixedString)

    def show_rows(self, any_rows: bool) -> None:
        """The table when there are notebooks, else the hint (and no filter box)."""
        self.stack.setCurrentWidget(self.table if any_rows and self.table is not None else self.hint)
        self.filter.setVisible(any_rows)
