"""A live log of the selected notebook: the container's log followed as it grows.

For a notebook without a running server it shows the log saved when it last stopped. Switching to
another notebook cancels the previous follow.
"""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from desktop.core.errors import LabdockError
from desktop.core.models import Notebook, NotebookState
from desktop.manager import NotebookManager

log = logging.getLogger(__name__)
MAX_LINES = 5000


class LogView(QWidget):
    def __init__(self, manager: NotebookManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._manager = manager
        self._task: asyncio.Task[None] | None = None
        self.name: str | None = None
        self._state: NotebookState | None = None
        self.caption = QLabel("Select a notebook to see its log.")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(MAX_LINES)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.text)

    def show_notebook(self, name: str | None, *, restart: bool = False) -> None:
        """Follow `name`'s log (None clears). Same name again is a no-op unless restart is set."""
        if name == self.name and not restart and self._task is not None and not self._task.done():
            return
        self.stop()
        self.name = name
        self._state = None
        self.text.clear()
        if name is None:
            self.caption.setText("Select a notebook to see its log.")
            return
        self.caption.setText(f"Log of '{name}'")
        self._task = asyncio.ensure_future(self._follow(name))

    def on_notebook_changed(self, notebook: Notebook) -> None:
        """Re-read the log when the shown notebook changes state (a new container, or a saved log)."""
        if notebook.name != self.name or notebook.state is self._state:
            return
        self._state = notebook.state
        following = self._task is not None and not self._task.done()
        if not following and (notebook.container_id is not None or not notebook.state.active):
            self.show_notebook(notebook.name, restart=True)

    def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def _follow(self, name: str) -> None:
        try:
            notebook = self._manager.get(name)
            self._state = notebook.state
            if not notebook.state.active or notebook.container_id is None:
                saved = await self._manager.logs(name)
                self.caption.setText(f"Log of '{name}' ({notebook.state.value}; saved when it last ran)")
                self.text.setPlainText(saved or "(no log)")
                return
            async for line in self._manager.follow_logs(name):
                self.text.appendPlainText(line)
            self.caption.setText(f"Log of '{name}' (the server has ended)")
        except asyncio.CancelledError:
            raise
        except LabdockError as exc:
            self.caption.setText(f"Log of '{name}': {exc}")
        except Exception as exc:  # the container went away under us: say so, do not crash the UI
            log.debug("log follow of %s ended: %s", name, exc)
            self.caption.setText(f"Log of '{name}' (no running server)")
