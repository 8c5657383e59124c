"""Paints a PULLING row's State cell as a progress bar (percent of bytes, layers done) instead of text.

Every other cell, and a pull whose size Docker has not reported yet, is painted as usual.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionProgressBar, QStyleOptionViewItem

from desktop.core.models import Notebook, NotebookState
from desktop.ui.notebook_model import Role


def pull_percent(notebook: Notebook | None) -> int | None:
    """0..100 while a pull with a known size runs, else None."""
    if notebook is None or notebook.state is not NotebookState.PULLING:
        return None
    progress = notebook.pull_progress
    if progress is None or not progress.bytes_total:
        return None
    return max(0, min(100, 100 * progress.bytes_done // progress.bytes_total))


class PullProgressDelegate(QStyledItemDelegate):
    def progress_option(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QStyleOptionProgressBar | None:
        """The bar to draw for this cell, or None when the cell is drawn as text."""
        notebook = index.data(Role.NOTEBOOK)
        percent = pull_percent(notebook)
        if percent is None:
            return None
        progress = notebook.pull_progress
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum = 0
        bar.maximum = 100
        bar.progress = percent
        bar.text = f"{percent}% · {progress.layers_done}/{progress.layers_total} layers"
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = option.state
        bar.palette = option.palette
        bar.fontMetrics = option.fontMetrics
        return bar

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        bar = self.progress_option(option, index)
        if bar is None:
            super().paint(painter, option, index)
            return
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, widget)
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)
