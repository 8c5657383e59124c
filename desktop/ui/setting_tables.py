"""The two tables of the dialog's Advanced section: environment variables (a value is masked while its row
is ticked secret; a stored secret shows "unchanged") and extra mounts (read-only ticked by default)."""

from __future__ import annotations

import posixpath
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHeaderView, QLineEdit, QTableWidget, QTableWidgetItem, QWidget

from desktop.core.models import Mount

UNCHANGED = "unchanged (kept in the secret store)"


def _check_cell(checked: bool) -> QTableWidgetItem:
    item = QTableWidgetItem()
    item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
    item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
    return item


class EnvTable(QTableWidget):
    """Name | Value | Secret. A value is a line edit, masked while the row is secret."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 3, parent)
        self.setHorizontalHeaderLabels(["Name", "Value", "Secret"])
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().hide()
        self.stored: set[str] = set()  # secret names whose values are kept already (editing)
        self.itemChanged.connect(self._item_changed)

    def add(self, name: str = "", value: str = "", secret: bool = False) -> None:
        row = self.rowCount()
        self.blockSignals(True)  # a half-made row is not read
        self.insertRow(row)
        self.setItem(row, 0, QTableWidgetItem(name))
        field = QLineEdit(value)
        field.setFrame(False)
        field.textChanged.connect(self.changed)
        self.setCellWidget(row, 1, field)
        self.setItem(row, 2, _check_cell(secret))
        self.blockSignals(False)
        self._mask(row)
        self.changed.emit()

    def remove_current(self) -> None:
        if self.currentRow() >= 0:
            self.removeRow(self.currentRow())
            self.changed.emit()

    def value_field(self, row: int) -> QLineEdit:
        field = self.cellWidget(row, 1)
        assert isinstance(field, QLineEdit)
        return field

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == 2:
            self._mask(item.row())
        self.changed.emit()

    def _mask(self, row: int) -> None:
        secret = self._secret(row)
        field = self.value_field(row)
        field.setEchoMode(QLineEdit.EchoMode.Password if secret else QLineEdit.EchoMode.Normal)
        field.setPlaceholderText(UNCHANGED if secret and self._name(row) in self.stored else "")

    def _name(self, row: int) -> str:
        item = self.item(row, 0)
        return item.text().strip() if item is not None else ""

    def _secret(self, row: int) -> bool:
        item = self.item(row, 2)
        return item is not None and item.checkState() == Qt.CheckState.Checked

    def rows(self) -> list[tuple[str, str, bool]]:
        """(name, value, secret) for each row with a name."""
        found = []
        for row in range(self.rowCount()):
            name = self._name(row)
            if name:
                found.append((name, self.value_field(row).text(), self._secret(row)))
        return found

    def forget_secret_values(self) -> None:
        """Once saved, no widget holds a secret's value any more."""
        for row in range(self.rowCount()):
            if self._secret(row):
                self.value_field(row).clear()


class MountTable(QTableWidget):
    """Host folder | Container path | Read-only (ticked by default)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 3, parent)
        self.setHorizontalHeaderLabels(["Host folder", "Container path", "Read-only"])
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().hide()
        self.itemChanged.connect(lambda _item: self.changed.emit())

    def add(self, host: str, target: str = "", read_only: bool = True) -> None:
        row = self.rowCount()
        self.blockSignals(True)
        self.insertRow(row)
        self.setItem(row, 0, QTableWidgetItem(host))
        self.setItem(row, 1, QTableWidgetItem(target or posixpath.join("/data", Path(host).name or "data")))
        self.setItem(row, 2, _check_cell(read_only))
        self.blockSignals(False)
        self.changed.emit()

    def remove_current(self) -> None:
        if self.currentRow() >= 0:
            self.removeRow(self.currentRow())
            self.changed.emit()

    def mounts(self) -> tuple[Mount, ...]:
        found = []
        for row in range(self.rowCount()):
            host, target, ro = (self.item(row, col) for col in range(3))
            if host is None or target is None or not host.text().strip():
                continue
            read_only = ro is None or ro.checkState() == Qt.CheckState.Checked
            found.append(Mount(Path(host.text().strip()).expanduser(), target.text().strip(), read_only))
        return tuple(found)
