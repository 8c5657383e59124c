"""The window as the user left it: geometry, toolbar and dock state, the Notebooks page's splitter, the
table's columns (widths, order, sort) and the open notebook tabs (with the one in front), kept in
window.json beside the settings and restored on the next start.

Qt's own state blobs are stored as base64. A file that is missing, unreadable or from another layout
leaves the defaults in place; so do columns saved when the table had other columns (Qt would give the
widths, resize modes and sort to the wrong columns). Tabs come back once the notebooks are known (after
the first refresh): a ready notebook's tab opens, one still starting opens when ready, one that is gone
is skipped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QHeaderView, QMainWindow, QSplitter

from desktop.store import Paths, read_json, write_atomic

log = logging.getLogger(__name__)
VERSION = 1


@dataclass
class Layout:
    geometry: str = ""
    state: str = ""  # toolbars and docks
    splitter: str = ""
    header: str = ""
    columns: int = 0  # how many columns the table had when `header` was saved
    tabs: list[str] = field(default_factory=list)
    current: str | None = None  # the notebook whose tab was in front; None: the Notebooks page
    gpu_dock: dict[str, bool] = field(default_factory=dict)  # GpuDock.wanted: shown per kind of page


def layout_file(paths: Paths) -> Path:
    return paths.config_dir / "window.json"


def _b64(data: QByteArray) -> str:
    return bytes(data.toBase64().data()).decode()


def _bytes(text: str) -> QByteArray:
    return QByteArray.fromBase64(text.encode())


def capture(
    window: QMainWindow,
    splitter: QSplitter,
    header: QHeaderView,
    tabs: list[str],
    current: str | None,
    gpu_dock: dict[str, bool],
) -> Layout:
    return Layout(
        _b64(window.saveGeometry()),
        _b64(window.saveState(VERSION)),
        _b64(splitter.saveState()),
        _b64(header.saveState()),
        header.count(),
        list(dict.fromkeys(tabs)),
        current,
        dict(gpu_dock),
    )


def apply_window(layout: Layout, window: QMainWindow) -> None:
    """Geometry, toolbars and docks: before the window shows. A part Qt refuses keeps its default."""
    if layout.geometry:
        window.restoreGeometry(_bytes(layout.geometry))
    if layout.state:
        window.restoreState(_bytes(layout.state), VERSION)


def apply_contents(layout: Layout, splitter: QSplitter, header: QHeaderView) -> None:
    """The splitter and the columns: once the window is shown at its size, so the sizes land as saved."""
    if layout.splitter:
        splitter.restoreState(_bytes(layout.splitter))
    if layout.header and layout.columns == header.count():
        header.restoreState(_bytes(layout.header))


def load(paths: Paths) -> Layout:
    """Read at start-up, before the window shows (a small file; the event loop is not serving yet)."""
    data = read_json(layout_file(paths))
    if not isinstance(data, dict):
        return Layout()
    try:
        tabs = [str(name) for name in data.get("tabs", [])]
        current = data.get("current")
        dock = data.get("gpu_dock", {})
        return Layout(
            str(data.get("geometry", "")),
            str(data.get("state", "")),
            str(data.get("splitter", "")),
            str(data.get("header", "")),
            int(data.get("columns", 0)),
            tabs,
            str(current) if current is not None else None,
            {str(k): bool(v) for k, v in dock.items()} if isinstance(dock, dict) else {},
        )
    except (TypeError, ValueError) as exc:
        log.warning("ignoring the saved window layout: %s", exc)
        return Layout()


def save(paths: Paths, layout: Layout) -> None:
    """Written once, as the window goes (a few hundred bytes)."""
    try:
        write_atomic(layout_file(paths), json.dumps(asdict(layout), indent=1) + "\n")
    except OSError as exc:
        log.warning("could not save the window layout: %s", exc)
