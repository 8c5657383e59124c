"""Preferences' "Remote hosts" section: the Docker hosts Labdock reaches over SSH, each with its state
(reachable, its Docker version and GPU count, or why not), an entry to add one and Remove / Check.

Adding and removing change only this list: Save writes it to settings.remote_hosts and the window starts or
stops using the hosts at once (desktop.ui.preferences_flow); Cancel forgets the changes. A host of an
ssh:// Docker context is listed but removed with `docker context rm`; a host whose notebooks are still in
the table is not removed. Check (also run when the section opens) connects to each host in use, off the
Qt thread; a host that does not answer says why in its row. Without services (tests, no window) the list
shows the entries as they are, unchecked.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from desktop.core.errors import InvalidSpec
from desktop.engines.remote_engine import RemoteDockerEngine
from desktop.engines.ssh_hosts import parse_host
from desktop.services import Services
from desktop.ui import theme
from desktop.ui.host_list_model import HostColumn, HostListModel, HostRole
from desktop.ui.host_states import CHECKING, NEW, HostRow, HostState, check_host, host_rows

ENTRY_HINT = "[name=][user@]host[:port], e.g. gpubox or ana@gpubox:2222"
ENTRY_TIP = "As ssh takes it: host may be an alias of ~/.ssh/config; name is how Labdock shows the host"
VISIBLE_ROWS = 3


class RemoteHostsSection(QGroupBox):
    def __init__(self, entries: list[str], services: Services | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Remote hosts (Docker over SSH)", parent)
        self._services = services
        self._tasks: set[asyncio.Task[Any]] = set()
        remotes = services.remotes if services else {}
        problems = services.manager.hosts.problems if services else {}
        left_out = services.host_problems if services else []
        self.model = HostListModel(host_rows(entries, remotes, problems, left_out), self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(HostColumn.STATE, QHeaderView.ResizeMode.Stretch)
        row = self.table.verticalHeader().defaultSectionSize()
        self.table.setFixedHeight(header.sizeHint().height() + VISIBLE_ROWS * row + 2 * self.table.frameWidth())
        self.empty = QLabel("No remote hosts: add one below to run notebooks on another machine's Docker.")
        theme.colour_text(self.empty, theme.muted_colour())
        self.entry = QLineEdit()
        self.entry.setPlaceholderText(ENTRY_HINT)
        self.entry.setToolTip(ENTRY_TIP)
        self.entry.installEventFilter(self)  # Enter adds the host (it would press Save otherwise)
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove")
        self.check_button = QPushButton("Check")
        self.check_button.setToolTip("Connect to each host and ask its Docker and GPUs again")
        self.problem = QLabel()
        theme.colour_text(self.problem, theme.failed_colour())
        self.problem.setWordWrap(True)
        self.problem.hide()
        self._lay_out()
        self.add_button.clicked.connect(self.add)
        self.remove_button.clicked.connect(self.remove)
        self.check_button.clicked.connect(self.check)
        self.entry.textEdited.connect(lambda _text: self.say(None))
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.rowsInserted.connect(self._rows_changed)
        self.model.rowsRemoved.connect(self._rows_changed)
        self._rows_changed()
        self._selection_changed()
        self.check_button.setEnabled(bool(remotes))
        if remotes:
            self.check()

    def _lay_out(self) -> None:
        add = QHBoxLayout()
        add.addWidget(self.entry, 1)
        add.addWidget(self.add_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.check_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.empty)
        layout.addLayout(buttons)
        layout.addLayout(add)
        layout.addWidget(self.problem)

    def entries(self) -> list[str]:
        """The hosts to keep in Preferences, as settings.remote_hosts holds them."""
        return [row.entry for row in self.model.rows() if row.entry is not None]

    def say(self, text: str | None) -> None:
        """One line under the section (why an entry or a removal was refused), or nothing."""
        self.problem.setText(text or "")
        self.problem.setVisible(bool(text))

    # -- add, remove -----------------------------------------------------------------------------

    def add(self) -> None:
        try:
            host = parse_host(self.entry.text())
        except InvalidSpec as exc:
            self.say(str(exc))
            return
        index = self.model.row_of(host.name)
        if index is not None:
            there = self.model.rows()[index]
            self.say(f"a host named '{host.name}' is already listed ({there.target or there.entry}): name it NAME=host")
            return
        self.model.add(HostRow(host.name, host.target, host.source, host.entry(), HostState(False, NEW)))
        self.entry.clear()
        self.say(None)

    def remove(self) -> None:
        row = self.selected()
        if row is None:
            return
        if not row.from_preferences:
            context = row.source.removeprefix("context ")
            self.say(
                f"'{row.name}' comes from the Docker context '{context}': remove it with docker context rm {context}"
            )
            return
        notebooks = self._notebooks_on(row.name)
        if notebooks:
            listed = ", ".join(notebooks)
            self.say(f"'{row.name}' still has notebooks in the table ({listed}): remove them first")
            return
        self.model.remove(row.name)
        self.say(None)

    def selected(self) -> HostRow | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(HostRole.ROW) if rows else None

    def _notebooks_on(self, name: str) -> list[str]:
        if self._services is None:
            return []
        return sorted(n.name for n in self._services.manager.list() if n.engine == name)

    def _selection_changed(self, *_args: object) -> None:
        self.remove_button.setEnabled(self.selected() is not None)

    def _rows_changed(self, *_args: object) -> None:
        has_rows = self.model.rowCount() > 0
        for widget in (self.table, self.remove_button, self.check_button):
            widget.setVisible(has_rows)
        self.empty.setVisible(not has_rows)
        self._selection_changed()

    # -- checking --------------------------------------------------------------------------------

    def in_use(self) -> dict[str, RemoteDockerEngine]:
        """The listed hosts the window uses now, by name (a host added here is used once saved)."""
        remotes = self._services.remotes if self._services else {}
        return {
            row.name: remotes[row.name]
            for row in self.model.rows()
            if row.name in remotes and (row.entry is None or remotes[row.name].link.host.entry() == row.entry)
        }

    def check(self) -> None:
        """Ask each host in use again, in parallel; each row changes as its answer comes."""
        engines = self.in_use()
        if not engines:
            return
        self.check_button.setEnabled(False)
        for name in engines:
            self.model.set_state(name, HostState(False, CHECKING))
        task = asyncio.ensure_future(self._check_all(engines))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check_all(self, engines: dict[str, RemoteDockerEngine]) -> None:
        async def one(name: str, engine: RemoteDockerEngine) -> None:
            state = await check_host(engine)
            if isValid(self):
                self.model.set_state(name, state)

        try:
            await asyncio.gather(*(one(name, engine) for name, engine in engines.items()))
        finally:
            if isValid(self):
                self.check_button.setEnabled(True)

    def checking(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def stop(self) -> None:
        """The dialog is closing: no row waits for an answer any more."""
        for task in self._tasks:
            task.cancel()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        enter = isinstance(event, QKeyEvent) and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if watched is self.entry and event.type() == QEvent.Type.KeyPress and enter:
            self.add()
            return True
        return super().eventFilter(watched, event)
