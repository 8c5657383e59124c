"""The main toolbar: New notebook, the per-notebook actions (they act on the notebook in front), Stop
all, Preferences and the GPU panel's toggle; every entry's tooltip names its shortcut."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QToolBar

from desktop.ui.notebook_actions import NEW_SHORTCUT, Act, WindowActions, with_shortcut

GROUPS = (
    (Act.OPEN, Act.OPEN_BROWSER, Act.COPY_URL, Act.SHOW_LOG),
    (Act.START, Act.STOP, Act.RESTART),
    (Act.REMOVE,),
)
PREFERENCES_SHORTCUT = "Ctrl+,"


@dataclass(frozen=True)
class Toolbar:
    bar: QToolBar
    new: QAction
    stop_all: QAction
    preferences: QAction


def build_toolbar(
    window: QMainWindow,
    actions: WindowActions,
    new_notebook: Callable[[], object],
    stop_all: Callable[[], object],
    preferences: Callable[[], object],
    extra: list[QAction],
) -> Toolbar:
    bar = QToolBar("Notebooks")
    bar.setObjectName("main-toolbar")
    bar.setMovable(False)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    window.addToolBar(bar)

    def add(text: str, slot: Callable[[], object], tip: str, shortcut: str | None = None) -> QAction:
        action = bar.addAction(text)
        action.triggered.connect(lambda _=False: slot())
        action.setToolTip(with_shortcut(tip, shortcut) if shortcut else tip)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        return action

    new = add("New notebook", new_notebook, "Create and start a notebook", NEW_SHORTCUT)
    for group in GROUPS:
        bar.addSeparator()
        bar.addActions([actions[act] for act in group])
    bar.addSeparator()
    stop_every = add("Stop all", stop_all, "Stop every running notebook")
    bar.addSeparator()
    prefs = add("Preferences…", preferences, "Preferences", PREFERENCES_SHORTCUT)
    # Ctrl+, is JupyterLab's Settings Editor in a tab: ours works where the action is also added (the
    # Notebooks page, see MainWindow) and in the toolbar.
    prefs.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    bar.addActions(extra)
    return Toolbar(bar, new, stop_every, prefs)
