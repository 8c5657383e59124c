"""The QtWebEngine side of notebook tabs. Imported only when the first tab opens (window starts fast).

Each notebook gets its own off-the-record profile (cookies of one server never meet another's); downloads
ask where to save.

Navigation policy: a tab shows only its notebook's origin (scheme, host and port of the URL we loaded),
because it has no address bar and runs in the notebook's logged-in profile. A main-frame navigation to
any other origin (a link, a change of window.location, a redirect) is handed to the system browser and
the tab stays where it was. A new window (window.open, target=_blank) starts as a page of its own
without a view; its first navigation decides: the same origin becomes a new tab of ours, anything else
goes to the system browser. The URL given out is the one the page asked for: the token is only ever in
URLs of the notebook's own origin, which never leave. Frames inside the page (notebook outputs that embed
other sites) load as in any browser. Every permission request (camera, microphone, geolocation,
notifications, clipboard, ...) is denied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWebEngineCore import (
    QWebEngineDownloadRequest,
    QWebEngineFileSystemAccessRequest,
    QWebEnginePage,
    QWebEnginePermission,
    QWebEngineProfile,
)
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QFileDialog, QWidget

from desktop.ui.notebook_tab import OpenWindow

log = logging.getLogger(__name__)

Origin = tuple[str, str, int]
OpenExternal = Callable[[QUrl], None]
EXTERNAL_SCHEMES = ("http", "https", "mailto")  # never file: and the like (the desktop would run them)
IN_PAGE_SCHEMES = ("about", "data")  # about:blank, and data: downloads (Chromium renders no top-level data:)


def origin(url: QUrl) -> Origin | None:
    """(scheme, host, port) of an http(s) URL; a blob: URL has the origin of the page that made it."""
    if url.scheme() == "blob":
        url = QUrl(url.path())
    scheme = url.scheme().lower()
    if scheme not in ("http", "https") or not url.host():
        return None
    return scheme, url.host().lower(), url.port(443 if scheme == "https" else 80)


def open_in_system_browser(url: QUrl) -> None:
    if not QDesktopServices.openUrl(url):
        log.warning("the system could not open %s", url.toDisplayString())


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


def _deny_permission(permission: QWebEnginePermission) -> None:
    log.info("denied %s to %s", permission.permissionType().name, permission.origin().toDisplayString())
    permission.deny()


def _deny_file_access(request: QWebEngineFileSystemAccessRequest) -> None:
    request.reject()


class LabPage(QWebEnginePage):
    """A notebook page that keeps to its origin (`home`); see the module docstring for the policy."""

    def __init__(
        self,
        profile: QWebEngineProfile,
        open_window: OpenWindow,
        open_external: OpenExternal,
        parent: QObject | None = None,
        *,
        home: Origin | None = None,
        pending: bool = False,
    ) -> None:
        super().__init__(profile, parent)
        self.home = home
        self._open_window = open_window
        self._open_external = open_external
        self._pending = pending  # a new window not yet shown: its first navigation decides where it goes
        self.permissionRequested.connect(_deny_permission)
        self.fileSystemAccessRequested.connect(_deny_file_access)

    def acceptNavigationRequest(
        self, url: QUrl | str, _type: QWebEnginePage.NavigationType, is_main_frame: bool
    ) -> bool:
        url = QUrl(url)
        if not is_main_frame or url.scheme() in IN_PAGE_SCHEMES:
            return True
        if self.home is not None and origin(url) == self.home:
            if self._pending:
                self._pending = False
                QTimer.singleShot(0, self, self._show_in_tab)  # after Qt is done with this navigation
            return True
        self._send_out(url)
        if self._pending:
            self.deleteLater()
        return False

    # Qt accepts None here (the new window is refused); the stubs say otherwise.
    def createWindow(self, _type: QWebEnginePage.WebWindowType) -> QWebEnginePage | None:  # type: ignore[override]
        """A page of its own for now: where it may go is known only at its first navigation."""
        return LabPage(self.profile(), self._open_window, self._open_external, self, home=self.home, pending=True)

    def _show_in_tab(self) -> None:
        view = self._open_window()
        if not isinstance(view, QWebEngineView):
            self.deleteLater()
            return
        previous = view.page()
        self.setParent(view)  # the tab owns it now, not the page that opened it
        view.setPage(self)
        if previous is not self and previous.parent() is view:
            previous.deleteLater()

    def _send_out(self, url: QUrl) -> None:
        if url.scheme().lower() in EXTERNAL_SCHEMES:
            self._open_external(url)
        else:
            log.info("refused to open %s", url.toDisplayString())


class LabView(QWebEngineView):
    def __init__(
        self,
        profile: QWebEngineProfile,
        open_window: OpenWindow,
        open_external: OpenExternal = open_in_system_browser,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setPage(LabPage(profile, open_window, open_external, self))

    def load_url(self, url: str) -> None:
        """Load one of the notebook's URLs; its origin is the one this tab keeps to."""
        qurl = QUrl(url)
        page = self.page()
        if isinstance(page, LabPage):
            page.home = origin(qurl)
        self.load(qurl)

    def run_js(self, script: str, callback: Callable[[object], None]) -> None:
        self.page().runJavaScript(script, 0, callback)
