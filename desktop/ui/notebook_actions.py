"""The per-notebook actions, once: text, shortcut, tooltip and when each applies.

The toolbar, the table's row menu and the tray all build their entries from ACTIONS, so an entry is
enabled in one place exactly when it is in the others. `applies` is the one rule; a notebook whose
engine does not answer (Docker gone) offers only its log, since every other action needs the engine. A
notebook on a remote host that did not answer keeps its actions (the host may be back): those that need
the host say its problem in one line (the manager's EngineUnavailable; opening checks first, in commands).

Shortcuts avoid JupyterLab's own (Ctrl+Shift+C, Ctrl+B, Ctrl+S, Alt+W, ...): a window shortcut wins
over the page in a tab, so a clash would take a key away from JupyterLab.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from desktop.core.models import Notebook, NotebookState
from desktop.ui.row_reach import engine_away


class Act(Enum):
    OPEN = "open"
    OPEN_BROWSER = "open-browser"
    COPY_URL = "copy-url"
    SHOW_LOG = "show-log"
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    REMOVE = "remove"
    EDIT = "edit"
    DUPLICATE = "duplicate"
    RENAME = "rename"


@dataclass(frozen=True)
class ActionInfo:
    act: Act
    text: str
    shortcut: str
    tip: str
    separator_before: bool = False


ACTIONS = (
    ActionInfo(Act.OPEN, "Open", "Ctrl+O", "Open JupyterLab in a tab of this window"),
    ActionInfo(Act.OPEN_BROWSER, "Open in browser", "Ctrl+Shift+O", "Open JupyterLab in the system browser"),
    ActionInfo(Act.COPY_URL, "Copy URL", "Ctrl+Alt+C", "Copy the URL with its login token"),
    ActionInfo(Act.SHOW_LOG, "Show log", "Ctrl+L", "Show the server's log under the table", separator_before=True),
    ActionInfo(Act.START, "Start", "F5", "Start the notebook again (same settings, new token)", separator_before=True),
    ActionInfo(Act.STOP, "Stop", "Shift+F5", "Stop the notebook's server (its work folder stays)"),
    ActionInfo(Act.RESTART, "Restart", "Ctrl+Shift+F5", "Stop and start again: same settings, a fresh token"),
    ActionInfo(Act.EDIT, "Edit…", "", "Change a stopped notebook's settings", separator_before=True),
    ActionInfo(Act.DUPLICATE, "Duplicate…", "", "A stopped copy of the notebook under a new name"),
    ActionInfo(Act.RENAME, "Rename…", "", "Give a stopped notebook a new name (its default work folder follows)"),
    ActionInfo(Act.REMOVE, "Remove…", "Del", "Remove the notebook (asks first)", separator_before=True),
)
INFO = {info.act: info for info in ACTIONS}
NEW_SHORTCUT = "Ctrl+N"


def applies(act: Act, notebook: Notebook | None, engine_away: bool = False) -> bool:
    """Whether `act` can be done to `notebook` now (None: nothing is chosen)."""
    if notebook is None:
        return False
    if act is Act.SHOW_LOG:
        return True
    if engine_away:
        return False  # the engine is needed for everything else, and its rows' states are unknown
    state = notebook.state
    if act in (Act.OPEN, Act.OPEN_BROWSER, Act.COPY_URL, Act.RESTART):
        return state is NotebookState.READY
    if act in (Act.START, Act.EDIT, Act.DUPLICATE, Act.RENAME):
        return state in (NotebookState.STOPPED, NotebookState.FAILED)
    # STOP and REMOVE: anything but a stop already under way
    return state is not NotebookState.STOPPING and (state.active or act is Act.REMOVE)


def with_shortcut(text: str, shortcut: str) -> str:
    """A tooltip that names the key, in the platform's spelling."""
    key = QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)
    return f"{text} ({key})" if key else text


Runner = Callable[[Act, str], object]
"""Carries out an action on the named notebook (NotebookCommands.run)."""


def fill_menu(menu: QMenu, notebook: Notebook, run: Runner, problem: str | None) -> dict[Act, QAction]:
    """Every action for one notebook, enabled when it applies; the shortcut is shown, not bound (the
    window's own actions hold the keys, and a second binding would make them ambiguous)."""
    away = engine_away(notebook, problem)
    made: dict[Act, QAction] = {}
    for info in ACTIONS:
        if info.separator_before and made:
            menu.addSeparator()
        key = QKeySequence(info.shortcut).toString(QKeySequence.SequenceFormat.NativeText)
        action = menu.addAction(f"{info.text}\t{key}")
        action.setToolTip(info.tip)
        action.setEnabled(applies(info.act, notebook, away))
        action.triggered.connect(lambda _=False, a=info.act, n=notebook.name: run(a, n))
        made[info.act] = action
    return made


def menu_action(menu: QMenu, text: str) -> QAction | None:
    """The entry of `menu` whose text (without its shortcut) is `text`."""
    for action in menu.actions():
        if action.text().split("\t", 1)[0] == text:
            return action
    return None


class WindowActions(QObject):
    """The window's actions: they act on `target()` (the notebook in front) and hold the shortcuts."""

    def __init__(
        self,
        target: Callable[[], Notebook | None],
        problem: Callable[[], str | None],
        run: Runner,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._target = target
        self._problem = problem
        self._run = run
        self.actions: dict[Act, QAction] = {}
        for info in ACTIONS:
            action = QAction(info.text, parent)
            action.setShortcut(QKeySequence(info.shortcut))
            action.setToolTip(with_shortcut(info.tip, info.shortcut))
            action.setObjectName(f"action-{info.act.value}")
            action.triggered.connect(lambda _=False, a=info.act: self.trigger(a))
            self.actions[info.act] = action
        # Delete belongs to the page in a notebook tab: Remove's key works only where its action is added
        # (the toolbar, and the table, which adds it too).
        self.actions[Act.REMOVE].setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)

    def __getitem__(self, act: Act) -> QAction:
        return self.actions[act]

    def trigger(self, act: Act) -> None:
        notebook = self._target()
        if notebook is not None and applies(act, notebook, engine_away(notebook, self._problem())):
            self._run(act, notebook.name)

    def update(self) -> None:
        notebook = self._target()
        away = notebook is not None and engine_away(notebook, self._problem())
        for act, action in self.actions.items():
            action.setEnabled(applies(act, notebook, away))
