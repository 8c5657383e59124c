"""The table model with no window: inserts, updates and removals as row signals, sorting by value."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from pytestqt.qtbot import QtBot

from desktop.core.models import Notebook, NotebookSpec, NotebookState, PullStatus
from desktop.rows import EventKind, NotebookEvent
from desktop.ui.cell_text import format_uptime
from desktop.ui.notebook_model import Column, NotebookSortProxy, NotebookTableModel, Role
from desktop.ui.theme import failed_colour, ready_colour

NOW = 10_000.0


def notebook(name: str, state: NotebookState = NotebookState.CREATING, **kw: object) -> Notebook:
    return Notebook(spec=NotebookSpec(name=name, image=f"img/{name}:1"), state=state, **kw)  # type: ignore[arg-type]


def model_with(*notebooks: Notebook) -> NotebookTableModel:
    model = NotebookTableModel(clock=lambda: NOW)
    for nb in notebooks:
        model.on_event(NotebookEvent(EventKind.ADDED, nb))
    return model


def test_added_event_inserts_one_row(qtbot: QtBot) -> None:
    model = model_with(notebook("a"))
    with qtbot.waitSignal(model.rowsInserted) as inserted:
        model.on_event(NotebookEvent(EventKind.ADDED, notebook("b")))
    assert inserted.args[1:] == [1, 1]
    assert model.rowCount() == 2
    assert model.index(1, Column.NAME).data() == "b"
    assert model.index(1, Column.NAME).data(Role.NOTEBOOK).name == "b"


def test_changed_event_is_a_row_update_not_a_reset(qtbot: QtBot) -> None:
    nb = notebook("a")
    model = model_with(notebook("z"), nb)
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    nb.state, nb.url, nb.token, nb.started_at = NotebookState.READY, "http://127.0.0.1:9999/", "secret", NOW - 75
    with qtbot.waitSignal(model.dataChanged) as changed:
        model.on_event(NotebookEvent(EventKind.CHANGED, nb))
    top, bottom = changed.args[0], changed.args[1]
    assert (top.row(), bottom.row(), top.column(), bottom.column()) == (1, 1, 0, len(Column) - 1)
    assert not resets
    row = [model.index(1, c).data() for c in Column]
    assert row == [
        "a",
        "Ready",
        "this machine",
        "docker",
        "img/a:1",
        "CPU",
        "",
        "",
        "",
        "http://127.0.0.1:9999/",
        "1m 15s",
    ]
    assert all("secret" not in str(v) for v in row)
    assert model.index(1, Column.STATE).data(Qt.ItemDataRole.ForegroundRole).color() == ready_colour()


def test_failed_row_is_red_with_the_reason_as_tooltip() -> None:
    model = model_with(notebook("a", NotebookState.FAILED, error="the server stopped: exit 1"))
    index = model.index(0, Column.STATE)
    assert index.data() == "Failed: the server stopped: exit 1"
    assert index.data(Qt.ItemDataRole.ToolTipRole) == "the server stopped: exit 1"
    assert index.data(Qt.ItemDataRole.ForegroundRole).color() == failed_colour()


def test_busy_rows_show_a_turning_indicator(qtbot: QtBot) -> None:
    model = model_with(notebook("a", NotebookState.STARTING))
    index = model.index(0, Column.STATE)
    assert index.data() == "Starting…"
    first = index.data(Qt.ItemDataRole.DecorationRole).pixmap(16, 16).toImage()
    with qtbot.waitSignal(model.dataChanged, timeout=2000):
        pass  # the model's own timer ticks while something is busy
    assert index.data(Qt.ItemDataRole.DecorationRole).pixmap(16, 16).toImage() != first


def test_pull_progress_in_state_text() -> None:
    model = model_with(notebook("a", NotebookState.PULLING, pull_progress=PullStatus(25, 100, 1, 4)))
    assert model.index(0, Column.STATE).data() == "Pulling 25% (1/4 layers)"


def test_removed_event_removes_the_row(qtbot: QtBot) -> None:
    a, b, c = notebook("a"), notebook("b"), notebook("c")
    model = model_with(a, b, c)
    with qtbot.waitSignal(model.rowsRemoved) as removed:
        model.on_event(NotebookEvent(EventKind.REMOVED, b))
    assert removed.args[1:] == [1, 1]
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == ["a", "c"]
    model.on_event(NotebookEvent(EventKind.REMOVED, b))  # unknown now: no-op
    assert model.rowCount() == 2


def test_sort_by_name_state_and_uptime() -> None:
    model = model_with(
        notebook("beta", NotebookState.READY, started_at=NOW - 30),
        notebook("alpha", NotebookState.STOPPED),
        notebook("gamma", NotebookState.READY, started_at=NOW - 7200),
    )
    proxy = NotebookSortProxy()
    proxy.setSourceModel(model)

    def names() -> list[str]:
        return [proxy.index(r, Column.NAME).data() for r in range(proxy.rowCount())]

    proxy.sort(Column.NAME, Qt.SortOrder.AscendingOrder)
    assert names() == ["alpha", "beta", "gamma"]
    proxy.sort(Column.UPTIME, Qt.SortOrder.DescendingOrder)
    assert names() == ["gamma", "beta", "alpha"]
    proxy.sort(Column.STATE, Qt.SortOrder.AscendingOrder)
    assert names()[-1] == "alpha"  # READY sorts before STOPPED
    model.on_event(NotebookEvent(EventKind.ADDED, notebook("aaa", NotebookState.READY, started_at=NOW)))
    proxy.sort(Column.NAME, Qt.SortOrder.AscendingOrder)
    assert names()[0] == "aaa"


def test_headers_and_shape() -> None:
    model = model_with(notebook("a"))
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in Column] == [
        "Name",
        "State",
        "Host",
        "Engine",
        "Image",
        "GPU",
        "GPU memory",
        "CPU",
        "Memory",
        "URL",
        "Uptime",
    ]
    assert model.rowCount(model.index(0, 0)) == 0
    assert model.data(QModelIndex()) is None


def test_format_uptime() -> None:
    assert [format_uptime(s) for s in (None, 5, 75, 3725, 90000)] == ["", "5s", "1m 15s", "1h 02m", "1d 1h"]
