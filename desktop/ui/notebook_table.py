"""The notebooks table: sortable, double-click opens, right-click offers every per-notebook action
(desktop.ui.notebook_actions: the same entries, enabled the same way, as the toolbar and the tray)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QPoint, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QStyle, QTableView, QWidget

from desktop.core.models import Notebook
from desktop.ui.commands import NotebookCommands
from desktop.ui.notebook_actions import fill_menu
from desktop.ui.notebook_model import Column, NotebookSortProxy, NotebookTableModel, Role
from desktop.ui.pull_delegate import PullProgressDelegate

# What a cell typically holds, to size its column by (the image column takes the rest).
SAMPLES = {
    Column.NAME: "nlp-experiments",
    Column.STATE: "Starting…",
    Column.HOST: "this machine",
    Column.ENGINE: "docker",
    Column.GPU: "GPU 0,1",
    Column.GPU_MEMORY: "GPU memory",
    Column.CPU: "100%",
    Column.MEMORY: "1.9 GiB / 2.0 GiB",
    Column.URL: "http://127.0.0.1:65535/",
    Column.UPTIME: "23h 59m",
}
ICON_ROOM = {Column.STATE: 22, Column.NAME: 12}  # the state icon; the sort arrow of the first sort column


class NotebookTable(QTableView):
    selection_changed = Signal()

    def __init__(
        self,
        model: NotebookTableModel,
        commands: NotebookCommands,
        problem: Callable[[], str | None] = lambda: None,
        parent: QWidget | None = None,
    ) -> None:
        """`problem` tells the engine's problem now (the manager's engine_problem)."""
        super().__init__(parent)
        self.source = model
        self.commands = commands
        self._problem = problem
        self.proxy = NotebookSortProxy(self)
        self.proxy.setSourceModel(model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)  # the filter box matches any column
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(Column.NAME, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(Column.IMAGE, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(self.fontMetrics().horizontalAdvance("CPU") + 24)
        self.set_default_widths()
        self.pull_delegate = PullProgressDelegate(self)
        self.setItemDelegateForColumn(Column.STATE, self.pull_delegate)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)
        self.doubleClicked.connect(self._open)
        self.selectionModel().selectionChanged.connect(lambda *_: self.selection_changed.emit())

    def set_default_widths(self) -> None:
        """Wide enough for what the columns usually hold, in the font in use (not fixed pixels)."""
        metrics = self.fontMetrics()
        pad = 2 * self.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMargin) + 12
        for column, sample in SAMPLES.items():
            self.setColumnWidth(column, metrics.horizontalAdvance(sample) + pad + ICON_ROOM.get(column, 0))

    def selected(self) -> Notebook | None:
        rows = self.selectionModel().selectedRows()
        return rows[0].data(Role.NOTEBOOK) if rows else None

    def select_name(self, name: str) -> None:
        row = self.source.row_of(name)
        if row is not None:
            self.selectRow(self.proxy.mapFromSource(self.source.index(row, 0)).row())

    def _open(self, index: QModelIndex) -> None:
        notebook = index.data(Role.NOTEBOOK)
        if notebook is not None:
            self.commands.open_tab(notebook.name)

    def menu_for(self, notebook: Notebook) -> QMenu:
        """The context menu of one row (also used by tests)."""
        menu = QMenu(self)
        fill_menu(menu, notebook, self.commands.run, self._problem())
        return menu

    def _context_menu(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        if not index.isValid():
            return
        self.selectRow(index.row())
        notebook = index.data(Role.NOTEBOOK)
        menu = self.menu_for(notebook)
        menu.exec(self.viewport().mapToGlobal(pos))
        menu.deleteLater()
