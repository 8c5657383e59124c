"""The one table model of notebooks: a live view of the manager's records, updated by its events.

Rows hold the manager's own Notebook objects (never copies); an event turns into a row insert, a
dataChanged for that row, or a row removal. A one-second tick refreshes uptimes and turns the busy
spinner. Sorting is done by NotebookSortProxy on Role.SORT. While the Docker engine does not answer
(`set_engine_problem`), its rows say their state is unknown and are greyed: the manager keeps them as they
were, but their servers may have ended meanwhile. Rows of a remote host that did not answer at the last
refresh (`watch_hosts`: the manager's HostHealth) are greyed too, their last known state marked and the
host's problem as tooltip (desktop.ui.row_reach); they come back when the host answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
)
from PySide6.QtGui import QBrush, QGuiApplication, QIcon, QPalette

from desktop.core.models import Notebook, NotebookState, on_this_machine
from desktop.engines.ssh_hosts import host_label
from desktop.host_health import HostHealth
from desktop.rows import EventKind, NotebookEvent
from desktop.ui import theme
from desktop.ui.cell_text import format_cpu, format_gpu_memory, format_memory, format_uptime, state_text
from desktop.ui.notebook_columns import HEADERS, LOCAL_IMAGE, NUMBERS, Column, Role
from desktop.ui.resource_usage import Usage
from desktop.ui.resources import SPINNER_FRAMES, spinner_frame, state_icon
from desktop.ui.row_reach import AWAY_TEXT, Away, row_away

# The columns and roles are the model's words: importers take them from here.
__all__ = ["AWAY_TEXT", "LOCAL_IMAGE", "Column", "NotebookSortProxy", "NotebookTableModel", "Role"]

AnyIndex = QModelIndex | QPersistentModelIndex


class NotebookTableModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(parent)
        self._rows: list[Notebook] = []
        self._gpu_memory: dict[str, int] = {}  # notebook name -> bytes over all GPUs (GpuUsage.per_notebook)
        self._problem: str | None = None  # the Docker engine's, while it does not answer
        self._hosts: dict[str, str] = {}  # remote host name -> its problem, while it does not answer
        self._usage: dict[str, Usage] = {}  # notebook name -> CPU and memory now
        self._clock = clock
        self._frame = 0
        self._timer = QTimer(self)
        self._timer.setInterval(1000 // SPINNER_FRAMES * 2)
        self._timer.timeout.connect(self.tick)
        self._ticks = 0

    # -- feeding ---------------------------------------------------------------------------------

    def on_event(self, event: NotebookEvent) -> None:
        """Apply one manager event as the smallest model change."""
        notebook = event.notebook
        row = self.row_of(notebook.name)
        if event.kind is EventKind.REMOVED:
            if row is not None:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()
        elif row is None:
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows))
            self._rows.append(notebook)
            self.endInsertRows()
        else:
            self._rows[row] = notebook
            self._row_changed(row)
        self._update_timer()

    def reset(self, notebooks: list[Notebook]) -> None:
        """A full reload (only when starting over)."""
        self.beginResetModel()
        self._rows = list(notebooks)
        self.endResetModel()
        self._update_timer()

    def set_gpu_memory(self, per_notebook: dict[str, int]) -> None:
        """New GPU memory figures: dataChanged for the GPU memory cells whose value changed, nothing else."""
        old, self._gpu_memory = self._gpu_memory, dict(per_notebook)
        for row, notebook in enumerate(self._rows):
            if old.get(notebook.name) != self._gpu_memory.get(notebook.name):
                self._cell_changed(row, Column.GPU_MEMORY)

    def set_usage(self, usage: dict[str, Usage]) -> None:
        """New CPU and memory figures: dataChanged for the cells whose value changed, nothing else."""
        old, self._usage = self._usage, dict(usage)
        for row, notebook in enumerate(self._rows):
            before, now = old.get(notebook.name), self._usage.get(notebook.name)
            if before != now:
                self._cell_changed(row, Column.CPU)
                self._cell_changed(row, Column.MEMORY)

    def usage(self, name: str) -> Usage | None:
        return self._usage.get(name)

    def repaint(self) -> None:
        """Every cell again (the theme changed: colours come from the palette when painted)."""
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(Column) - 1))

    def set_engine_problem(self, problem: str | None) -> None:
        """The engine's problem (None: it answers): the rows of its notebooks change look."""
        if problem == self._problem:
            return
        self._problem = problem
        for row, notebook in enumerate(self._rows):
            if notebook.engine == "docker":
                self._row_changed(row)

    def set_host_problems(self, problems: Mapping[str, str]) -> None:
        """The remote hosts that do not answer now (name -> problem): the rows of those that changed change look."""
        old, self._hosts = self._hosts, dict(problems)
        for row, notebook in enumerate(self._rows):
            if old.get(notebook.engine) != self._hosts.get(notebook.engine):
                self._row_changed(row)

    def watch_hosts(self, hosts: HostHealth) -> Callable[[], None]:
        """Follow the manager's host health from now on; returns the call that stops it."""
        self.set_host_problems(hosts.problems)
        return hosts.subscribe(lambda: self.set_host_problems(hosts.problems))

    def away(self, notebook: Notebook) -> Away | None:
        """Why the row cannot be trusted now (its engine or host does not answer), or None."""
        return row_away(notebook, self._problem, self._hosts)

    def gpu_memory(self, name: str) -> int | None:
        return self._gpu_memory.get(name)

    def tick(self) -> None:
        """Turn the spinner of busy rows; refresh uptimes once a second."""
        self._frame = (self._frame + 1) % SPINNER_FRAMES
        self._ticks += 1
        per_second = max(1, 1000 // max(1, self._timer.interval()))
        for row, notebook in enumerate(self._rows):
            if notebook.state.busy:
                self._cell_changed(row, Column.STATE)
            elif notebook.state is NotebookState.READY and self._ticks % per_second == 0:
                self._cell_changed(row, Column.UPTIME)

    def _update_timer(self) -> None:
        if any(n.state.active for n in self._rows):
            if not self._timer.isActive():
                self._timer.start()
        else:
            self._timer.stop()

    def _row_changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1))

    def _cell_changed(self, row: int, column: Column) -> None:
        index = self.index(row, column)
        self.dataChanged.emit(index, index)

    # -- reading ---------------------------------------------------------------------------------

    def row_of(self, name: str) -> int | None:
        for row, notebook in enumerate(self._rows):
            if notebook.name == name:
                return row
        return None

    def notebook(self, row: int) -> Notebook:
        return self._rows[row]

    def notebooks(self) -> list[Notebook]:
        return list(self._rows)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        notebook = self._rows[index.row()]
        column = Column(index.column())
        if role == Role.NOTEBOOK:
            return notebook
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(notebook, column)
        if role == Role.SORT:
            return self._sort_key(notebook, column)
        away = self.away(notebook)
        if away is not None:
            return self._away_data(notebook, away, column, role)
        if column is Column.STATE:
            return self._state_data(notebook, role)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMBERS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and column in (Column.IMAGE, Column.URL):
            return self._display(notebook, column) or None
        return None

    def _away_data(self, notebook: Notebook, away: Away, column: Column, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole:
            return QGuiApplication.palette().brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        if column is Column.STATE and role == Qt.ItemDataRole.DecorationRole:
            return QIcon(state_icon(notebook.state).pixmap(16, 16, QIcon.Mode.Disabled))
        if column in (Column.STATE, Column.HOST) and role == Qt.ItemDataRole.ToolTipRole:
            return away.why
        return None

    def _display(self, notebook: Notebook, column: Column) -> str:
        if column is Column.NAME:
            return notebook.name
        if column is Column.STATE:
            away = self.away(notebook)
            return away.text if away is not None else state_text(notebook)
        if column is Column.HOST:
            return host_label(notebook.engine)
        if column is Column.IMAGE:
            return LOCAL_IMAGE if notebook.engine == "local" else notebook.spec.image
        if column is Column.ENGINE:
            return notebook.engine if on_this_machine(notebook.engine) else "docker"
        if column is Column.GPU:
            return notebook.spec.gpu_label
        if column is Column.GPU_MEMORY:
            return format_gpu_memory(self._gpu_memory.get(notebook.name))
        if column is Column.CPU:
            return "" if self.away(notebook) is not None else format_cpu(self._usage.get(notebook.name))
        if column is Column.MEMORY:
            return "" if self.away(notebook) is not None else format_memory(self._usage.get(notebook.name))
        if column is Column.URL:
            return notebook.url or ""
        return "" if self.away(notebook) is not None else format_uptime(notebook.uptime(self._clock()))

    def _sort_key(self, notebook: Notebook, column: Column) -> Any:
        if column is Column.STATE:
            return list(NotebookState).index(notebook.state)
        if column is Column.UPTIME:
            return notebook.uptime(self._clock()) or -1.0
        if column is Column.GPU_MEMORY:
            return self._gpu_memory.get(notebook.name, -1)
        usage = self._usage.get(notebook.name)
        if column is Column.CPU:
            return -1.0 if usage is None or usage.cpu_percent is None else usage.cpu_percent
        if column is Column.MEMORY:
            return -1 if usage is None or usage.memory is None else usage.memory
        return self._display(notebook, column).lower()

    def _state_data(self, notebook: Notebook, role: int) -> Any:
        state = notebook.state
        if role == Qt.ItemDataRole.DecorationRole:
            return spinner_frame(self._frame) if state.busy else state_icon(state)
        if role == Qt.ItemDataRole.ForegroundRole:
            if state is NotebookState.READY:
                return QBrush(theme.ready_colour())
            if state is NotebookState.FAILED:
                return QBrush(theme.failed_colour())
        if role == Qt.ItemDataRole.ToolTipRole:
            return notebook.error
        return None


class NotebookSortProxy(QSortFilterProxyModel):
    """Sorts on Role.SORT so uptimes and states sort by value, not by their text."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(Role.SORT)
        self.setDynamicSortFilter(True)
