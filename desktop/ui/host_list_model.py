"""The Remote hosts list of Preferences as a table model: one row per host (desktop.ui.host_states.HostRow),
its state coloured (reachable, or why not, or not checked yet)."""

from __future__ import annotations

import dataclasses
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush

from desktop.ui import theme
from desktop.ui.host_states import CHECKING, NEW, UNCHECKED, HostRow, HostState

AnyIndex = QModelIndex | QPersistentModelIndex
PENDING = (NEW, UNCHECKED, CHECKING)


class HostColumn(IntEnum):
    NAME = 0
    ADDRESS = 1
    SOURCE = 2
    STATE = 3


HEADERS = {HostColumn.NAME: "Host", HostColumn.ADDRESS: "Address", HostColumn.SOURCE: "From", HostColumn.STATE: "State"}


class HostRole(IntEnum):
    ROW = Qt.ItemDataRole.UserRole + 1  # the HostRow itself


class HostListModel(QAbstractTableModel):
    def __init__(self, rows: list[HostRow], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows = list(rows)

    def rows(self) -> list[HostRow]:
        return list(self._rows)

    def row_of(self, name: str) -> int | None:
        return next((i for i, row in enumerate(self._rows) if row.name == name), None)

    def add(self, row: HostRow) -> None:
        self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows))
        self._rows.append(row)
        self.endInsertRows()

    def remove(self, name: str) -> None:
        index = self.row_of(name)
        if index is not None:
            self.beginRemoveRows(QModelIndex(), index, index)
            del self._rows[index]
            self.endRemoveRows()

    def set_state(self, name: str, state: HostState) -> None:
        index = self.row_of(name)
        if index is not None and self._rows[index].state != state:
            self._rows[index] = dataclasses.replace(self._rows[index], state=state)
            cell = self.index(index, HostColumn.STATE)
            self.dataChanged.emit(cell, cell)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HostColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[HostColumn(section)]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row, column = self._rows[index.row()], HostColumn(index.column())
        if role == HostRole.ROW:
            return row
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._text(row, column, role == Qt.ItemDataRole.ToolTipRole)
        if role == Qt.ItemDataRole.ForegroundRole and column is HostColumn.STATE:
            return QBrush(self._colour(row.state))
        return None

    @staticmethod
    def _text(row: HostRow, column: HostColumn, tooltip: bool) -> str | None:
        if column is HostColumn.NAME:
            return (f"In Preferences as {row.entry}" if row.entry else None) if tooltip else row.name
        if column is HostColumn.ADDRESS:
            return (row.target or None) if tooltip else row.target
        if column is HostColumn.SOURCE:
            return row.source
        return (row.state.detail or row.state.text) if tooltip else row.state.text

    @staticmethod
    def _colour(state: HostState) -> Any:
        if state.reachable:
            return theme.ready_colour()
        if state.text in PENDING:
            return theme.muted_colour()
        return theme.failed_colour()
