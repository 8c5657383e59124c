"""NotebookTab: one notebook page in the window. The browser stays behind this class.

The tab holds whatever view its factory made: the real one is desktop.ui.web_view.LabView (QtWebEngine,
imported on first use); tests can hand in a light stand-in: any QWidget with the WebView surface.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import Signal, SignalInstance
from PySide6.QtWidgets import QVBoxLayout, QWidget


class WebView(Protocol):
    """What a tab uses of its view (which must also be a QWidget)."""

    @property
    def titleChanged(self) -> SignalInstance: ...

    @property
    def loadFinished(self) -> SignalInstance: ...

    def load_url(self, url: str) -> None: ...

    def title(self) -> str: ...


OpenWindow = Callable[[], WebView | None]
"""Asked by a page for a new window of its notebook: the view of a new tab, or None to refuse."""
ViewFactory = Callable[[str, OpenWindow], WebView]


class NotebookTab(QWidget):
    title_changed = Signal(str)
    loaded = Signal(bool)

    def __init__(self, name: str, view: WebView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if not isinstance(view, QWidget):
            raise TypeError(f"a tab's view must be a QWidget, not {type(view).__name__}")
        self.name = name
        self.view: WebView = view
        self.last_load_ok: bool | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(view)
        view.titleChanged.connect(self._on_title)
        view.loadFinished.connect(self._on_loaded)

    def load(self, url: str) -> None:
        """Load the page; the URL (it may carry the token) is never shown anywhere."""
        self.view.load_url(url)

    def page_title(self) -> str:
        return self.view.title()

    def tab_label(self) -> str:
        title = self.page_title()
        if not title or title.startswith(("http:", "https:", "127.0.0.1")):
            return self.name  # a bare URL title could show the token: never use it
        return f"{self.name}: {title}"

    def _on_title(self, _title: str) -> None:
        self.title_changed.emit(self.tab_label())

    def _on_loaded(self, ok: bool) -> None:
        self.last_load_ok = ok
        self.loaded.emit(ok)
