"""The window's tab widget: the Notebooks page first, then one closable tab per opened notebook page.

Closing a tab never stops its notebook; `close_notebook` closes every tab of a notebook that went away.
A close the user asks for goes through `on_close` (the window asks about unsaved work there) before
`remove_tab`. Each notebook tab carries its notebook's state icon (`set_notebook_icon`).
What a tab may show, and what goes to the system browser instead, is web_view's navigation policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QTabBar, QTabWidget, QWidget

from desktop.ui.notebook_tab import NotebookTab, OpenWindow, ViewFactory, WebView

if TYPE_CHECKING:
    from desktop.ui.web_view import LabProfiles


class TabArea(QTabWidget):
    start_requested = Signal(str)  # Start again on a stopped notebook's tab

    def __init__(
        self,
        home: QWidget,
        view_factory: ViewFactory | None = None,
        parent: QWidget | None = None,
        *,
        open_external: Callable[[QUrl], None] | None = None,
    ) -> None:
        """`open_external` receives the URLs a page may not show in its tab (default: the system browser)."""
        super().__init__(parent)
        self._view_factory = view_factory
        self._open_external = open_external
        self._profiles: LabProfiles | None = None
        self.setDocumentMode(True)
        self.setTabsClosable(True)
        self.setMovable(True)
        self.addTab(home, "Notebooks")
        self.tabBar().setTabButton(0, QTabBar.ButtonPosition.RightSide, None)
        self.tabBar().setTabButton(0, QTabBar.ButtonPosition.LeftSide, None)
        self.tabCloseRequested.connect(self._close_index)
        self._home = home
        self._icons: dict[str, QIcon] = {}  # the state icon of each notebook, for its tabs old and new
        self.on_close: Callable[[NotebookTab], None] = self.remove_tab  # a close the user asked for

    def notebook_tabs(self, name: str | None = None) -> list[NotebookTab]:
        tabs = [self.widget(i) for i in range(self.count())]
        return [t for t in tabs if isinstance(t, NotebookTab) and (name is None or t.name == name)]

    def open(self, name: str, url: str) -> NotebookTab:
        """Show the notebook's tab (a second open focuses the first tab instead of reloading it)."""
        existing = self.notebook_tabs(name)
        if existing:
            self.setCurrentWidget(existing[0])
            return existing[0]
        tab = self._new_tab(name)
        tab.load(url)
        self.setCurrentWidget(tab)
        return tab

    def close_notebook(self, name: str) -> int:
        """Close every tab of `name`; returns how many were open."""
        tabs = self.notebook_tabs(name)
        for tab in tabs:
            self.remove_tab(tab)
        if tabs and self._profiles is not None:
            self._profiles.drop(name)
        return len(tabs)

    def set_notebook_icon(self, name: str, icon: QIcon) -> None:
        """Show `icon` (the notebook's state) on every tab of `name`, and on those opened later."""
        self._icons[name] = icon
        for tab in self.notebook_tabs(name):
            self.setTabIcon(self.indexOf(tab), icon)

    def forget_notebook(self, name: str) -> None:
        self._icons.pop(name, None)

    def _new_tab(self, name: str) -> NotebookTab:
        view = self._make_view(name, lambda: self._popup(name))
        tab = NotebookTab(name, view, self)
        index = self.addTab(tab, self._icons.get(name, QIcon()), name)
        self.setTabToolTip(index, f"JupyterLab of '{name}'")
        tab.title_changed.connect(lambda label, t=tab: self._relabel(t, label))
        tab.start_requested.connect(self.start_requested)
        tab.close_requested.connect(lambda t: self.on_close(t) if isinstance(t, NotebookTab) else None)
        return tab

    def _popup(self, name: str) -> WebView:
        """A page asked for a new window (JupyterLab's "open in new browser tab"): a new current tab."""
        tab = self._new_tab(name)
        self.setCurrentWidget(tab)
        return tab.view

    def _make_view(self, name: str, open_window: OpenWindow) -> WebView:
        if self._view_factory is not None:
            return self._view_factory(name, open_window)
        from desktop.ui import web_view  # QtWebEngine loads here, on the first tab only

        if self._profiles is None:
            self._profiles = web_view.LabProfiles(self)
        open_external = self._open_external or web_view.open_in_system_browser
        return web_view.LabView(self._profiles.profile(name), open_window, open_external)

    def _relabel(self, tab: NotebookTab, label: str) -> None:
        index = self.indexOf(tab)
        if index >= 0:
            self.setTabText(index, label)

    def _close_index(self, index: int) -> None:
        tab = self.widget(index)
        if isinstance(tab, NotebookTab):
            self.on_close(tab)

    def show_stopped(self, name: str, text: str, can_start: bool) -> None:
        for tab in self.notebook_tabs(name):
            tab.show_stopped(text, can_start)

    def remove_tab(self, tab: NotebookTab) -> None:
        index = self.indexOf(tab)
        if index >= 0:
            self.removeTab(index)
        tab.deleteLater()

    def show_home(self) -> None:
        self.setCurrentWidget(self._home)
