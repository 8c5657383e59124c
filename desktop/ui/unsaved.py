"""Unsaved work is never dropped silently: before a tab closes, a notebook stops, restarts or is removed,
or the app quits, JupyterLab in the tabs concerned is asked which documents have unsaved changes, and
the user chooses: keep working (cancel) or go on and lose them.

JupyterLab marks the tab of every document with unsaved changes `jp-mod-dirty` (the dot on its tab);
the page is asked for those titles with one script (as JSON text: a script's array result does not
reach Python intact through PySide). A page that does not answer in time (still
loading, hung) counts as clean: waiting for it must not hang a stop. The question is a window-modal box
awaited through its `finished` signal, never `exec()`: a nested event loop inside an asyncio task would
let other tasks step into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from html import escape

from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.ui.notebook_tab import NotebookTab
from desktop.ui.tab_area import TabArea

log = logging.getLogger(__name__)

ANSWER_SECONDS = 2.0
DIRTY_SCRIPT = """(() => {
  const tabs = document.querySelectorAll('.lm-TabBar-tab.jp-mod-dirty, .p-TabBar-tab.jp-mod-dirty');
  const titles = Array.from(tabs, t => {
    const label = t.querySelector('.lm-TabBar-tabLabel, .p-TabBar-tabLabel');
    return (label || t).textContent.trim();
  });
  return JSON.stringify(Array.from(new Set(titles)));
})()"""


async def dirty_documents(tab: NotebookTab, seconds: float = ANSWER_SECONDS) -> list[str]:
    """The titles of the documents with unsaved changes in `tab`'s JupyterLab."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[object] = loop.create_future()

    def received(value: object) -> None:
        if not answer.done():
            answer.set_result(value)

    def callback(value: object) -> None:
        loop.call_soon(received, value)

    tab.view.run_js(DIRTY_SCRIPT, callback)
    try:
        value = await asyncio.wait_for(answer, seconds)
    except TimeoutError:
        log.info("the page of '%s' did not say whether it has unsaved changes", tab.name)
        return []
    try:
        titles = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return []
    return [str(title) for title in titles] if isinstance(titles, list) else []


async def ask(box: QMessageBox) -> QMessageBox.StandardButton:
    """Show `box` window-modal and wait for the answer without a nested event loop."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[QMessageBox.StandardButton] = loop.create_future()

    def finished(_result: int) -> None:
        if not answer.done():
            answer.set_result(box.standardButton(box.clickedButton()))

    box.finished.connect(finished)
    box.open()
    try:
        return await answer
    finally:
        with contextlib.suppress(RuntimeError):
            box.deleteLater()


class UnsavedGuard:
    """Asks before work in the tabs is lost; `enabled=False` (tests of other things) never asks."""

    def __init__(self, tabs: TabArea, parent: QWidget | None) -> None:
        self.tabs = tabs
        self.parent = parent
        self.enabled = True

    async def may_end(self, names: Iterable[str], doing: str) -> bool:
        """Whether `doing` ("Stop", "Remove", "Quit", ...) may go on for the notebooks `names`."""
        wanted = set(names)
        return await self.may_close([t for t in self.tabs.notebook_tabs() if t.name in wanted], doing)

    async def may_close(self, tabs: list[NotebookTab], doing: str = "Close") -> bool:
        if not self.enabled or not tabs:
            return True
        found = await asyncio.gather(*(dirty_documents(tab) for tab in tabs))
        dirty = [(tab, titles) for tab, titles in zip(tabs, found, strict=True) if titles]
        if not dirty:
            return True
        box = QMessageBox(self.parent)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Unsaved changes")
        lines = "".join(f"<li><b>{tab.name}</b>: {escape(', '.join(titles))}</li>" for tab, titles in dirty)
        box.setText(f"JupyterLab has unsaved changes:<ul>{lines}</ul>")
        box.setInformativeText(f"{doing} anyway and lose them? Cancel to go back and save them first.")
        box.setStandardButtons(QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
        discard = box.button(QMessageBox.StandardButton.Discard)
        if discard is not None:
            discard.setText(f"Discard and {doing.lower()}")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        if await ask(box) == QMessageBox.StandardButton.Discard:
            return True
        first = dirty[0][0]
        if self.tabs.indexOf(first) >= 0:
            self.tabs.setCurrentWidget(first)  # back to the work, to save it
        return False
