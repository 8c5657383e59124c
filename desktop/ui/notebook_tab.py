"""NotebookTab: one notebook page in the window. The browser stays behind this class.

The tab holds whatever view its factory made: the real one is desktop.ui.web_view.LabView (QtWebEngine,
imported on first use); tests can hand in a light stand-in: any QWidget with the WebView surface.
When its server stops the tab stays, the page as it was, under a strip "Stopped — Start again / Close"
(`show_stopped`); once the notebook is ready again the window loads its new URL (`stale` says so).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import Signal, SignalInstance
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class WebView(Protocol):
    """What a tab uses of its view (which must also be a QWidget)."""

    @property
    def titleChanged(self) -> SignalInstance: ...

    @property
    def loadFinished(self) -> SignalInstance: ...

    def load_url(self, url: str) -> None: ...

    def title(self) -> str: ...

    def run_js(self, script: str, callback: Callable[[object], None]) -> None:
        """Run `script` in the page; its result (JSON-like: list, dict, str, number, None) reaches `callback`."""
        ...


OpenWindow = Callable[[], WebView | None]
"""Asked by a page for a new window of its notebook: the view of a new tab, or None to refuse."""
ViewFactory = Callable[[str, OpenWindow], WebView]


class StoppedStrip(QFrame):
    """Above a page whose server is not running: what happened, Start again and Close."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stopped-strip")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.start_button = QPushButton("Start again")
        self.close_button = QPushButton("Close")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.start_button)
        layout.addWidget(self.close_button)
        self.hide()


class NotebookTab(QWidget):
    title_changed = Signal(str)
    loaded = Signal(bool)
    start_requested = Signal(str)  # the strip's Start again: the notebook's name
    close_requested = Signal(QWidget)  # the strip's Close: this tab

    def __init__(self, name: str, view: WebView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if not isinstance(view, QWidget):
            raise TypeError(f"a tab's view must be a QWidget, not {type(view).__name__}")
        self.name = name
        self.view: WebView = view
        self.last_load_ok: bool | None = None
        self.stale = False  # the page's server stopped: load the notebook's URL again once it is ready
        self.strip = StoppedStrip()
        self.strip.start_button.clicked.connect(lambda: self.start_requested.emit(self.name))
        self.strip.close_button.clicked.connect(lambda: self.close_requested.emit(self))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.strip)
        layout.addWidget(view, 1)
        view.titleChanged.connect(self._on_title)
        view.loadFinished.connect(self._on_loaded)

    def load(self, url: str) -> None:
        """Load the page; the URL (it may carry the token) is never shown anywhere."""
        self.stale = False
        self.strip.hide()
        self.view.load_url(url)

    def show_stopped(self, text: str, can_start: bool) -> None:
        """The server is not running (`text` says how it is); the page stays as it was."""
        self.stale = True
        self.strip.text.setText(text)
        self.strip.start_button.setVisible(can_start)
        self.strip.show()

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
