"""Rows of remote hosts in the table: the Host column, rows greyed with their last known state while their
host does not answer (its problem as tooltip) and back by themselves when it answers; actions that need the
host say its problem in one line. The window part runs against a real host that refuses connections."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette, QStandardItemModel
from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter, QTableView
from pytestqt.qtbot import QtBot

from desktop.core.models import Notebook, NotebookSpec, NotebookState
from desktop.host_health import HostHealth
from desktop.rows import EventKind, NotebookEvent
from desktop.services import Services
from desktop.store import SpecStore
from desktop.ui import window_layout
from desktop.ui.main_window import MainWindow
from desktop.ui.notebook_model import Column, NotebookTableModel
from desktop.ui.remove_dialog import RemoveChoice
from tests.ui.conftest import wait_for, window_beside_a_refusing_host

PROBLEM = "host 'gpubox' (ana@gpubox:22) unreachable: no answer within 10 s"


def grey() -> object:
    return QApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)


def model_with(*notebooks: Notebook) -> NotebookTableModel:
    model = NotebookTableModel()
    for nb in notebooks:
        model.on_event(NotebookEvent(EventKind.ADDED, nb))
    return model


def test_the_host_column_and_the_engine_of_a_remote_row() -> None:
    here = Notebook(NotebookSpec(name="here", image="i"), state=NotebookState.READY)
    local = Notebook(NotebookSpec(name="proc", image="i", engine="local"))
    far = Notebook(NotebookSpec(name="far", image="i", engine="gpubox"), state=NotebookState.READY)
    model = model_with(here, local, far)
    assert model.headerData(Column.HOST, Qt.Orientation.Horizontal) == "Host"
    assert [model.index(r, Column.HOST).data() for r in range(3)] == ["this machine", "this machine", "gpubox"]
    assert [model.index(r, Column.ENGINE).data() for r in range(3)] == ["docker", "local", "docker"]


def test_rows_of_a_host_that_does_not_answer_are_greyed_and_come_back(qtbot: QtBot) -> None:
    here = Notebook(NotebookSpec(name="here", image="i"), state=NotebookState.READY, started_at=1.0)
    far = Notebook(NotebookSpec(name="far", image="i", engine="gpubox"), state=NotebookState.READY, started_at=1.0)
    model, hosts = model_with(here, far), HostHealth()
    stop = model.watch_hosts(hosts)
    state = model.index(1, Column.STATE)
    assert state.data() == "Ready" and model.index(1, Column.UPTIME).data() != ""
    with qtbot.waitSignal(model.dataChanged) as changed:
        hosts.update(["gpubox"], {"gpubox": PROBLEM})
    assert (changed.args[0].row(), changed.args[1].row()) == (1, 1)  # that host's rows only
    assert state.data() == "Ready — host unreachable"
    assert state.data(Qt.ItemDataRole.ToolTipRole) == PROBLEM
    assert model.index(1, Column.HOST).data(Qt.ItemDataRole.ToolTipRole) == PROBLEM
    assert state.data(Qt.ItemDataRole.ForegroundRole).color() == grey()
    assert model.index(1, Column.NAME).data(Qt.ItemDataRole.ForegroundRole).color() == grey()
    assert model.index(1, Column.UPTIME).data() == ""  # not known while the host is away
    assert model.index(0, Column.STATE).data() == "Ready"  # this machine's rows go on
    assert model.index(0, Column.NAME).data(Qt.ItemDataRole.ForegroundRole) is None

    hosts.update(["gpubox"], {})  # it answers again
    assert state.data() == "Ready" and state.data(Qt.ItemDataRole.ForegroundRole).color() != grey()
    stop()
    hosts.update(["gpubox"], {"gpubox": PROBLEM})
    assert state.data() == "Ready"  # no longer followed


def test_columns_saved_for_another_table_are_not_restored(qtbot: QtBot) -> None:
    def table(columns: int) -> QTableView:
        view = QTableView()
        qtbot.addWidget(view)
        view.setModel(QStandardItemModel(1, columns, view))
        return view

    window, splitter = QMainWindow(), QSplitter()
    qtbot.addWidget(window)
    qtbot.addWidget(splitter)
    old = table(10)
    old.setColumnWidth(3, 333)
    saved = window_layout.capture(window, splitter, old.horizontalHeader(), [], None, {})
    assert saved.columns == 10
    same, other = table(10), table(11)
    window_layout.apply_contents(saved, splitter, same.horizontalHeader())
    window_layout.apply_contents(saved, splitter, other.horizontalHeader())
    assert same.columnWidth(3) == 333
    assert other.columnWidth(3) != 333  # the defaults, not another column's width


# -- in the window, against a host that refuses connections ---------------------------------------


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    with window_beside_a_refusing_host(ui_services, NotebookSpec("far", "img", engine="down")) as main:
        yield main


@pytest.mark.docker
@pytest.mark.gui
def test_a_row_of_an_unreachable_host_in_the_window(qtbot: QtBot, window: MainWindow) -> None:
    window.refresh()
    qtbot.waitUntil(lambda: "down" in window.manager.hosts.problems, timeout=30_000)
    problem = window.manager.hosts.problems["down"]
    assert "unreachable" in problem and "\n" not in problem
    row = window.model.row_of("far")
    assert row is not None
    state = window.model.index(row, Column.STATE)
    qtbot.waitUntil(lambda: state.data() == "Stopped — host unreachable", timeout=10_000)
    assert state.data(Qt.ItemDataRole.ToolTipRole) == problem
    assert window.model.index(row, Column.HOST).data() == "down"
    assert window.model.index(row, Column.NAME).data(Qt.ItemDataRole.ForegroundRole).color() == grey()

    task = window.commands.start("far")
    qtbot.waitUntil(task.done, timeout=30_000)
    said = window.statusBar().currentMessage()
    assert said.startswith("Could not start 'far': host 'down' (127.0.0.1:1) unreachable")
    assert "\n" not in said and "Traceback" not in said

    window.commands.confirm_remove = lambda _name: RemoveChoice.KEEP_WORK
    removal = window.commands.remove("far")
    assert removal is not None
    qtbot.waitUntil(removal.done, timeout=30_000)
    assert window.statusBar().currentMessage().startswith("Could not remove 'far': host 'down'")
    assert window.model.row_of("far") is not None  # kept until the host can be asked

    opening = window.commands.open_tab("far")  # a page there would not load: the reason instead
    qtbot.waitUntil(opening.done, timeout=10_000)
    assert window.statusBar().currentMessage() == f"Could not open 'far': {problem}"
    assert not window.tabs.notebook_tabs("far")

    window.manager.hosts.update(["down"], {})  # as when it answers again
    assert state.data() == "Stopped"
    wait_for(qtbot, window.manager.refresh(), 30)
    assert state.data() == "Stopped — host unreachable"


@pytest.mark.docker
@pytest.mark.gui
def test_a_notebook_of_a_host_gone_for_good_can_be_forgotten(qtbot: QtBot, window: MainWindow) -> None:
    window.refresh()
    qtbot.waitUntil(lambda: "down" in window.manager.hosts.problems and window.model.row_of("far") is not None)
    window.commands.confirm_remove = lambda _name: RemoveChoice.FORGET  # "Forget it here?" answered Yes
    removal = window.commands.remove("far")
    assert removal is not None
    qtbot.waitUntil(removal.done, timeout=30_000)
    assert window.model.row_of("far") is None
    assert window.statusBar().currentMessage() == "Forgot 'far'; anything of it on its host stays there"
    assert "far" not in SpecStore(window.manager.paths).load()
