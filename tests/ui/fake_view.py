"""A stand-in for the web view (no browser): what a NotebookTab needs of its view, and a page whose
JupyterLab reports `dirty` as its unsaved documents."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget


class FakeView(QWidget):
    titleChanged = Signal(str)
    loadFinished = Signal(bool)

    def __init__(self) -> None:
        super().__init__()
        self.url: str | None = None
        self.loads: list[str] = []
        self.dirty: list[str] = []  # what the page's "unsaved documents" script answers
        self._title = ""

    def load_url(self, url: str) -> None:
        self.url = url
        self.loads.append(url)
        self._title = "JupyterLab"
        self.titleChanged.emit(self._title)
        self.loadFinished.emit(True)

    def title(self) -> str:
        return self._title

    def run_js(self, script: str, callback: Callable[[object], None]) -> None:
        callback(list(self.dirty))


def fake_views() -> tuple[Callable[[str, object], FakeView], list[tuple[str, object, FakeView]]]:
    """A view factory for MainWindow/TabArea, and the list of (name, open_window, view) it made."""
    made: list[tuple[str, object, FakeView]] = []

    def factory(name: str, open_window: object) -> FakeView:
        view = FakeView()
        made.append((name, open_window, view))
        return view

    return factory, made
