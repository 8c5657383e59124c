"""The table's Engine and GPU memory columns and the pull progress bar, with records only (no Docker)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionViewItem, QTableView
from pytestqt.qtbot import QtBot

from desktop.core.models import Notebook, NotebookSpec, NotebookState, PullStatus
from desktop.rows import EventKind, NotebookEvent
from desktop.ui.notebook_model import LOCAL_IMAGE, Column, NotebookTableModel, Role
from desktop.ui.pull_delegate import PullProgressDelegate, pull_percent

MiB = 1 << 20


def model_with(*notebooks: Notebook) -> NotebookTableModel:
    model = NotebookTableModel()
    for nb in notebooks:
        model.on_event(NotebookEvent(EventKind.ADDED, nb))
    return model


def test_engine_column() -> None:
    docker = Notebook(NotebookSpec(name="d", image="img:1"))
    local = Notebook(NotebookSpec(name="l", image="img:1", engine="local"))
    model = model_with(docker, local)
    assert [model.index(r, Column.ENGINE).data() for r in (0, 1)] == ["docker", "local"]
    assert model.index(1, Column.IMAGE).data() == LOCAL_IMAGE
    assert model.headerData(Column.GPU_MEMORY, Qt.Orientation.Horizontal) == "GPU memory"


def test_gpu_memory_changes_only_that_column(qtbot: QtBot) -> None:
    model = model_with(Notebook(NotebookSpec(name="a", image="i")), Notebook(NotebookSpec(name="b", image="i")))
    changes: list[tuple[int, int, int, int]] = []

    def record(top: QModelIndex, bottom: QModelIndex) -> None:
        changes.append((top.row(), bottom.row(), top.column(), bottom.column()))

    model.dataChanged.connect(record)
    model.set_gpu_memory({"b": 512 * MiB})
    assert changes == [(1, 1, Column.GPU_MEMORY, Column.GPU_MEMORY)]
    assert model.index(1, Column.GPU_MEMORY).data() == "512 MiB"
    assert model.index(0, Column.GPU_MEMORY).data() == ""
    changes.clear()
    model.set_gpu_memory({"b": 512 * MiB})
    assert changes == []  # nothing changed, nothing repainted
    model.set_gpu_memory({"a": 3 << 30})
    assert sorted(changes) == [
        (0, 0, Column.GPU_MEMORY, Column.GPU_MEMORY),
        (1, 1, Column.GPU_MEMORY, Column.GPU_MEMORY),
    ]
    assert model.index(0, Column.GPU_MEMORY).data() == "3.0 GiB"
    assert model.index(0, Column.GPU_MEMORY).data(Role.SORT) == 3 << 30


def test_pull_delegate_paints_a_bar(qtbot: QtBot) -> None:
    pulling = Notebook(
        NotebookSpec(name="p", image="i"), state=NotebookState.PULLING, pull_progress=PullStatus(60, 100, 3, 5)
    )
    starting = Notebook(NotebookSpec(name="s", image="i"), state=NotebookState.STARTING)
    model = model_with(pulling, starting)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    delegate = PullProgressDelegate(view)
    assert pull_percent(pulling) == 60 and pull_percent(starting) is None

    def paint(row: int) -> tuple[QImage, object]:
        option = QStyleOptionViewItem()
        option.rect = QRect(0, 0, 200, 24)
        option.palette = view.palette()
        option.fontMetrics = view.fontMetrics()
        option.widget = view
        index = model.index(row, Column.STATE)
        image = QImage(200, 24, QImage.Format.Format_ARGB32)
        image.fill(QColor("white"))
        painter = QPainter(image)
        delegate.paint(painter, option, index)
        painter.end()
        return image, delegate.progress_option(option, index)

    image, bar = paint(0)
    assert bar is not None
    assert bar.progress == 60 and bar.text == "60% · 3/5 layers"  # type: ignore[attr-defined]
    colours = {image.pixelColor(x, 12).rgb() for x in range(0, 200, 4)}
    assert len(colours) > 2  # a bar was drawn, not a blank cell
    _, none = paint(1)
    assert none is None  # other states are plain text
