"""The main window: toolbar, the Notebooks page (table, filter, failure strip, live log), notebook
tabs, tray, the GPU dock, a banner while Docker does not answer, and a status bar.

Manager events arrive on the Qt thread; each one updates the model row, the log view, the tabs (a
stopped notebook's tabs stay, under a strip) and the tray notifications.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow
from shiboken6 import isValid

from desktop.core.errors import LabdockError
from desktop.core.models import Notebook, NotebookState
from desktop.rows import EventKind, NotebookEvent
from desktop.services import Services
from desktop.ui import quit_flow, tab_states, window_layout
from desktop.ui.commands import NotebookCommands
from desktop.ui.engine_watch import EngineWatch
from desktop.ui.gpu_dock import PAGE_HOME, PAGE_TAB, GpuDock
from desktop.ui.home_page import HomePage
from desktop.ui.idle_notice import IdleNotice
from desktop.ui.log_view import LogView
from desktop.ui.new_notebook_dialog import NewNotebookDialog
from desktop.ui.notebook_actions import Act, WindowActions
from desktop.ui.notebook_dialogs import NotebookDialogs
from desktop.ui.notebook_model import NotebookTableModel
from desktop.ui.notebook_tab import NotebookTab, ViewFactory
from desktop.ui.notebook_table import NotebookTable
from desktop.ui.preferences_dialog import PreferencesDialog
from desktop.ui.preferences_flow import apply_preferences
from desktop.ui.remote_gpu_feed import RemoteGpuFeed
from desktop.ui.resources import app_icon, state_icon
from desktop.ui.row_reach import one_line
from desktop.ui.tab_area import TabArea
from desktop.ui.tab_opener import TabOpener
from desktop.ui.tasks import TaskRunner
from desktop.ui.theme import PALETTE_EVENTS, ThemeWatcher
from desktop.ui.tray import Tray
from desktop.ui.usage_feed import UsageFeed
from desktop.ui.window_status import WindowStatus
from desktop.ui.window_toolbar import build_toolbar

REFRESH_MS = 3000
SPARE_EVERY = 10  # refreshes between two looks at the spare's memory (a Docker stats call each)


class MainWindow(QMainWindow):
    def __init__(
        self, services: Services, view_factory: ViewFactory | None = None, on_quit: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self.services = services
        self.manager = services.manager
        self._told_about_tray = False
        self._shut_down = False
        self._tabs_restored = False
        self._refreshes = 0
        self.setWindowTitle("Labdock")
        self.setWindowIcon(app_icon())
        self.resize(1100, 680)

        self.runner = TaskRunner(self.show_error)
        self.model = NotebookTableModel(self)
        self.log_view = LogView(self.manager)
        self.home = HomePage(self.log_view)
        self.banner, self.hint, self.stack, self.failure = (
            self.home.banner,
            self.home.hint,
            self.home.stack,
            self.home.failure,
        )
        self.tabs = TabArea(self.home, view_factory)
        self.commands = NotebookCommands(self.manager, self.runner, self.tabs, services.settings, services.paths, self)
        self.opener = TabOpener(self.manager, self.commands, self.tabs)
        self.table = NotebookTable(self.model, self.commands, lambda: self.manager.engine_problem)
        self.home.set_table(self.table)
        self.notebook_actions = WindowActions(
            self.current_notebook, lambda: self.manager.engine_problem, self.commands.run, self
        )
        self.table.addAction(self.notebook_actions[Act.REMOVE])  # Delete removes in the table, never inside a page
        self.setCentralWidget(self.tabs)
        self.tray = Tray(
            self.manager, self.commands, self.show_window, self.request_quit, self, new_notebook=self.new_notebook
        )
        self.gpu = GpuDock(services.nvml, self.manager, self.model, self)
        self.gpu.watch_remotes(RemoteGpuFeed(lambda: services.remotes, self.manager))  # hosts as they are now
        self.toolbar = build_toolbar(
            self,
            self.notebook_actions,
            self.new_notebook,
            self.commands.stop_all,
            self.open_preferences,
            [self.gpu.toggleViewAction()],
        )
        self.home.addAction(self.toolbar.preferences)  # its key, on the Notebooks page only
        self.status = WindowStatus(self.statusBar())
        self.engine_watch = EngineWatch(services, self.runner, self.banner, self.status)
        self.dialogs = NotebookDialogs(self, services, self.commands, self.gpu, self.opener)
        self.idle_notice = IdleNotice(self.manager, self.tray, self)
        self.quitter = quit_flow.Quitter(
            self, self.runner, self.manager, services.settings, self.commands.guard, self.tabs, self._detach, on_quit
        )
        self.usage = UsageFeed(self.manager, self.model.set_usage)
        self.commands.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.gpu.report = lambda text: self.statusBar().showMessage(text, 8000)
        self.commands.logs_requested.connect(self._show_logs)
        self.tray.notification_clicked.connect(self.focus_notebook)
        self.failure.start_requested.connect(self.commands.start)
        self.tabs.start_requested.connect(self.commands.start)
        self.tabs.on_close = self._close_tab
        self.failure.edit_requested.connect(self.edit_notebook)
        self.table.selection_changed.connect(self._selection_changed)
        self.tabs.currentChanged.connect(self._page_changed)
        self.banner.retry_requested.connect(self.refresh)
        self.banner.local_requested.connect(lambda: self.new_notebook(engine="local"))
        self.status.gpu.clicked.connect(self.gpu.toggle)
        self.gpu.gpus_changed.connect(self.status.set_gpus)
        self.theme = ThemeWatcher(self)
        self.theme.changed.connect(self._on_theme)

        self.model.reset(self.manager.list())
        for notebook in self.manager.list():
            self.tabs.set_notebook_icon(notebook.name, state_icon(notebook.state))
        self._unsubscribe = self.manager.subscribe(self._on_event)
        self._unsubscribe_engine = self.manager.subscribe_engine(self._on_engine_problem)
        self._unsubscribe_hosts = self.model.watch_hosts(self.manager.hosts)  # rows of hosts that do not answer
        self._refresh = QTimer(self)
        self._refresh.timeout.connect(self.refresh)
        self._on_engine_problem(self.manager.engine_problem)
        self.layout_state = window_layout.load(services.paths)
        window_layout.apply_window(self.layout_state, self)
        self.gpu.wanted.update(self.layout_state.gpu_dock)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, refresh_ms: int = REFRESH_MS) -> None:
        """Adopt what already runs, then catch up with other Labdock processes every few seconds."""
        if self.tray.available():
            self.tray.show()
        window_layout.apply_contents(self.layout_state, self.home, self.table.horizontalHeader())
        self.refresh()
        if refresh_ms > 0:
            self._refresh.start(refresh_ms)
        self.gpu.start(self.services.settings.gpu_sample_interval)
        self.usage.start()
        self.engine_watch.describe()

    def refresh(self) -> None:
        """Catch up with the engines; Docker not answering shows the banner (rows are kept), not an error."""
        self._refreshes += 1
        if self.manager.spares is not None and self._refreshes % SPARE_EVERY == 1:
            self.runner.run("spare-memory", self.show_spare_memory())
        if not self.runner.running("restore"):
            task = self.runner.run("restore", self.manager.refresh(), "Could not read the notebooks")
            if not self._tabs_restored:
                self._tabs_restored = True
                task.add_done_callback(lambda _task: self.runner.run("reopen-tabs", self._reopen_tabs()))

    async def show_spare_memory(self) -> None:
        spares = self.manager.spares
        try:
            used = await spares.memory_bytes() if spares is not None else 0
        except LabdockError:
            return  # the engine is away: the banner says so
        if not self._shut_down:
            self.status.set_spare(used)

    async def _reopen_tabs(self) -> None:
        if not self._shut_down:
            await self.opener.reopen(self.layout_state.tabs, self.layout_state.current)

    def _detach(self) -> None:
        self.shutdown()
        self.hide()

    def shutdown(self) -> None:
        """Detach from the manager (the window is going away); safe to call twice."""
        if self._shut_down:
            return
        self._shut_down = self.quitter.quitting = True
        self._save_layout()
        self._refresh.stop()
        self.gpu.stop()
        self.usage.stop()
        self.log_view.stop()
        self._unsubscribe()
        self._unsubscribe_engine()
        self._unsubscribe_hosts()
        self.idle_notice.close()
        self.tray.icon.hide()

    def _save_layout(self) -> None:
        front = self.tabs.currentWidget()
        self.layout_state = window_layout.capture(
            self,
            self.home,
            self.table.horizontalHeader(),
            [tab.name for tab in self.tabs.notebook_tabs()],
            front.name if isinstance(front, NotebookTab) else None,
            self.gpu.wanted,
        )
        window_layout.save(self.services.paths, self.layout_state)

    # -- events ----------------------------------------------------------------------------------

    def _on_event(self, event: NotebookEvent) -> None:
        self.model.on_event(event)
        self.tray.on_event(event)
        notebook = event.notebook
        note = tab_states.follow(self.tabs, self.commands, notebook, removed=event.kind is EventKind.REMOVED)
        if note:
            self.statusBar().showMessage(note, 8000)
        if event.kind is EventKind.REMOVED and self.log_view.name == notebook.name:
            self.log_view.show_notebook(None)
        elif event.kind is not EventKind.REMOVED:
            self.log_view.on_notebook_changed(notebook)
        if notebook.name == self.log_view.name:
            self.failure.show_notebook(None if event.kind is EventKind.REMOVED else notebook)
        self.opener.on_change(notebook, removed=event.kind is EventKind.REMOVED)
        if event.kind is EventKind.ADDED and self.table.selected() is None:
            self.table.select_name(notebook.name)
        self._update_actions()

    def _on_engine_problem(self, problem: str | None) -> None:
        """Rows of the engine go grey and unknown; the banner names the cause."""
        self.model.set_engine_problem(problem)
        self._update_actions()
        self.engine_watch.problem_changed(problem)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in PALETTE_EVENTS:
            self.theme.check()
        super().changeEvent(event)

    def _on_theme(self, _dark: bool) -> None:
        """Light or dark now: rows repaint in the new colours, JupyterLab in the tabs follows."""
        self.model.repaint()
        ready = {n.name for n in self.manager.list() if n.state is NotebookState.READY}
        for name in dict.fromkeys(tab.name for tab in self.tabs.notebook_tabs()):
            if name in ready:
                self.commands.retheme(name)

    def _selection_changed(self) -> None:
        selected = self.table.selected()
        self.log_view.show_notebook(selected.name if selected else None)
        self.failure.show_notebook(selected)
        self._update_actions()

    def current_notebook(self) -> Notebook | None:
        """What the toolbar and the shortcuts act on: the notebook whose tab is in front, else the
        selected row."""
        tab = self.tabs.currentWidget()
        if isinstance(tab, NotebookTab):
            row = self.model.row_of(tab.name)
            return None if row is None else self.model.notebook(row)
        return self.table.selected()

    def _page_changed(self, _index: int) -> None:
        in_tab = isinstance(self.tabs.currentWidget(), NotebookTab)
        self.gpu.set_page(PAGE_TAB if in_tab else PAGE_HOME)
        self._update_actions()

    def _update_actions(self) -> None:
        self.home.show_rows(self.model.rowCount() > 0)
        self.notebook_actions.update()
        notebooks = self.model.notebooks()
        self.toolbar.stop_all.setEnabled(any(n.state.active for n in notebooks))
        self.status.set_notebooks(notebooks)

    def _show_logs(self, name: str) -> None:
        self.tabs.show_home()
        self.table.select_name(name)
        self.log_view.show_notebook(name)
        self.failure.show_notebook(next((n for n in self.manager.list() if n.name == name), None))

    # -- user actions ----------------------------------------------------------------------------

    def new_notebook(self, engine: str | None = None) -> NewNotebookDialog:
        return self.dialogs.new(engine)

    def edit_notebook(self, name: str) -> NewNotebookDialog:
        """Edit… of a failed notebook: its settings in the New notebook dialog; Start launches them."""
        return self.dialogs.edit(name)

    def open_notebook(self, name: str) -> None:
        """Bring the window up on `name`'s tab (once it is ready)."""
        self.show_window()
        why_not = self.opener.open(name)
        if why_not:
            self.statusBar().showMessage(why_not, 8000)

    def focus_notebook(self, name: str) -> None:
        """Bring the window up on `name`: its tab when it is ready, else its row and log (a failure's
        reason shows there)."""
        notebook = next((n for n in self.manager.list() if n.name == name), None)
        if notebook is not None and notebook.state is NotebookState.READY:
            self.open_notebook(name)
            return
        self.show_window()
        if notebook is not None:
            self._show_logs(name)

    def open_preferences(self) -> PreferencesDialog:
        dialog = PreferencesDialog(self.services.settings, self.services.paths, self, services=self.services)
        dialog.accepted.connect(lambda: apply_preferences(self, dialog.chosen()))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def _close_tab(self, tab: NotebookTab) -> None:
        """The user closes a tab: JupyterLab's unsaved work is asked about first."""

        async def close() -> None:
            if await self.commands.guard.may_close([tab]) and isValid(tab):
                self.tabs.remove_tab(tab)

        self.runner.run("close-tab", close())

    def show_error(self, text: str) -> None:
        """A manager error: one line in the status bar (never a traceback)."""
        if not isValid(self):
            return
        self.statusBar().showMessage(one_line(text), 15000)

    def show_window(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.quitter.quitting:
            event.accept()
            return
        if not self.tray.available():
            event.ignore()  # the window goes once the quit is decided (it may be cancelled)
            self.request_quit()
            return
        event.ignore()
        self.hide()
        if not self._told_about_tray:
            self._told_about_tray = True
            self.tray.notify("Labdock is still running", "Your notebooks keep running. Quit from the tray icon.")

    def request_quit(self) -> None:
        self.quitter.request()

    def quit_leaving_running(self) -> None:
        """Quit now, notebooks left running (SIGTERM/SIGINT); the next start adopts them."""
        self.quitter.leave_running()
