"""Duplicate… and Rename…: ask for the new name (checked as it is typed), and for a copy whether it shares
the work folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QWidget

from desktop.core.validation import name_problem
from desktop.ui import theme


@dataclass(frozen=True)
class NewName:
    name: str
    same_work_dir: bool = False


class NewNameDialog(QDialog):
    def __init__(self, name: str, duplicate: bool, taken: Callable[[str], bool], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Duplicate '{name}'" if duplicate else f"Rename '{name}'")
        self._taken = taken
        self.name_edit = QLineEdit(f"{name}-copy" if duplicate else name)
        self.same_work = QCheckBox("Use the same work folder")
        self.same_work.setVisible(duplicate)
        self.problem = QLabel()
        theme.colour_text(self.problem, theme.failed_colour())
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok = self.buttons.addButton("Duplicate" if duplicate else "Rename", QDialogButtonBox.ButtonRole.AcceptRole)
        form = QFormLayout(self)
        form.addRow("New name:", self.name_edit)
        form.addRow("", self.same_work)
        form.addRow("", self.problem)
        form.addRow(self.buttons)
        self.name_edit.textChanged.connect(self._check)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._check(self.name_edit.text())

    def _check(self, text: str) -> None:
        problem = name_problem(text)
        if problem is None and self._taken(text):
            problem = f"a notebook named '{text}' already exists"
        self.problem.setText(problem or "")
        self.problem.setVisible(bool(problem))
        self.ok.setEnabled(problem is None)

    def answer(self) -> NewName:
        return NewName(self.name_edit.text(), self.same_work.isChecked())


def ask_new_name(parent: QWidget | None, name: str, duplicate: bool, taken: Callable[[str], bool]) -> NewName | None:
    dialog = NewNameDialog(name, duplicate, taken, parent)
    try:
        return dialog.answer() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()
