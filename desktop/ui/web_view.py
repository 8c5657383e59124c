"""The QtWebEngine side of notebook tabs. Imported only when the first tab opens (window starts fast).

Each notebook gets its own off-the-record profile (cookies of one server never meet another's);
pages that JupyterLab opens with window.open become new tabs through `open_window`; downloads ask
where to save.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QUrl
from PySide6.QtWebEngineCore import QWebEngineDownloadRequest, QWebEnginePage, QWebEngineProfile
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QFileDialog, QWidget

OpenWindow = Callable[[], "LabView | None"]


class LabProfiles(QObject):
    """One web profile per notebook, alive while any of its tabs are."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._profiles: dict[str, QWebEngineProfile] = {}

    def profile(self, name: str) -> QWebEngineProfile:
        profile = self._profiles.get(name)
        if profile is None:
            profile = QWebEngineProfile(self)  # no storage name: off the record
            profile.setHttpCacheType(QWebEngineProfile.HttpCacheType.MemoryHttpCache)
            profile.setPersistentCookiesPolicy(QWebEngineProfile.PersistentCookiesPolicy.NoPersistentCookies)
            profile.downloadRequested.connect(_ask_where_to_save)
            self._profiles[name] = profile
        return profile

    def drop(self, name: str) -> None:
        profile = self._profiles.pop(name, None)
        if profile is not None:
            profile.deleteLater()


def _ask_where_to_save(download: QWebEngineDownloadRequest) -> None:
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DownloadLocation)
    suggested = str(Path(folder) / download.downloadFileName())
    path, _ = QFileDialog.getSaveFileName(None, "Save download", suggested)
    if not path:
        download.cancel()
        return
    target = Path(path)
    download.setDownloadDirectory(str(target.parent))
    download.setDownloadFileName(target.name)
    download.accept()


class LabPage(QWebEnginePage):
    def __init__(self, profile: QWebEngineProfile, open_window: OpenWindow, parent: QObject | None = None) -> None:
        super().__init__(profile, parent)
        self._open_window = open_window

    # Qt accepts None here (the new window is refused); the stubs say otherwise.
    def createWindow(self, _type: QWebEnginePage.WebWindowType) -> QWebEnginePage | None:  # type: ignore[override]
        """JupyterLab's "open in a new browser tab": a new tab of ours, same profile (same login)."""
        view = self._open_window()
        return view.page() if view is not None else None


class LabView(QWebEngineView):
    def __init__(self, profile: QWebEngineProfile, open_window: OpenWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPage(LabPage(profile, open_window, self))

    def load_url(self, url: str) -> None:
        self.load(QUrl(url))

    def run_js(self, script: str, callback: Callable[[object], None]) -> None:
        self.page().runJavaScript(script, 0, callback)
