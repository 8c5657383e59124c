"""The embedded view's navigation policy, with QtWebEngine and real pages served on two loopback ports.

The "notebook" is one origin (127.0.0.1:P); the second port is another origin. Whatever the page tries,
nothing of the other origin loads in a tab (its server sees no request): it goes to the system-browser
opener, here a stub that records the URL. Same-origin popups become tabs; permissions are denied.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QUrl
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from desktop import browser_launch
from desktop.ui.notebook_tab import NotebookTab
from desktop.ui.tab_area import TabArea

TOKEN = "s3cret-token"


@dataclass
class Site:
    port: int
    paths: list[str] = field(default_factory=list)  # every path requested, in order

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def serve(pages: dict[str, str], site: Site) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.paths.append(self.path)
            body = pages.get(self.path.split("?", 1)[0])
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", site.port), Handler)
    site.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Sites:
    home: Site
    other: Site


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    other = Site(0)
    other_server = serve({"/elsewhere": "<title>Elsewhere</title>"}, other)
    home = Site(0)
    pages = {
        "/lab": f"""<!DOCTYPE html><title>Home</title><body>
            <a id="out" href="{other.url("/elsewhere?from=link")}">out</a>
            <a id="out-blank" target="_blank" href="{other.url("/elsewhere?from=blank")}">out</a>
            <a id="same" href="/tree">same</a>
            <a id="same-blank" target="_blank" href="/popup">popup</a></body>""",
        "/tree": "<!DOCTYPE html><title>Tree</title>",
        "/popup": "<!DOCTYPE html><title>Popup</title>",
    }
    home_server = serve(pages, home)
    try:
        yield Sites(home, other)
    finally:
        for server in (home_server, other_server):
            server.shutdown()
            server.server_close()


@dataclass
class Harness:
    qtbot: QtBot
    tabs: TabArea
    tab: NotebookTab
    sent: list[str]

    def js(self, script: str) -> object:
        """Run `script` in the first tab's page and wait for its value."""
        results: list[object] = []
        page = self.tab.view.page()  # type: ignore[attr-defined]  # the real LabView
        page.runJavaScript(script, 0, results.append)
        self.qtbot.waitUntil(lambda: bool(results), timeout=10_000)
        return results[0]

    def wait_js(self, script: str, timeout_ms: int = 10_000) -> object:
        """Poll `script` until it gives a non-empty value (null comes back from Qt as '' or None)."""
        seen: list[object] = []

        def ready() -> bool:
            value = self.js(script)
            if value not in (None, ""):
                seen.append(value)
            return bool(seen)

        self.qtbot.waitUntil(ready, timeout=timeout_ms)
        return seen[0]

    def path(self) -> str:
        return str(self.tab.view.url().path())  # type: ignore[attr-defined]

    def titles(self) -> list[str]:
        return [t.page_title() for t in self.tabs.notebook_tabs("nb")]


@pytest.fixture
def lab(qtbot: QtBot, sites: Sites) -> Iterator[Harness]:
    sent: list[str] = []
    tabs = TabArea(QLabel("home"), open_external=lambda url: sent.append(url.toString()))
    qtbot.addWidget(tabs)
    tabs.resize(800, 600)
    tabs.show()
    tab = tabs.open("nb", sites.home.url(f"/lab?token={TOKEN}"))
    qtbot.waitUntil(lambda: tab.last_load_ok is True and tab.page_title() == "Home", timeout=30_000)
    sites.home.paths.clear()
    sites.other.paths.clear()
    yield Harness(qtbot, tabs, tab, sent)
    tabs.close_notebook("nb")  # pages first, then their profile, while Qt is alive
    tabs.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def assert_stayed_home(lab: Harness, sites: Sites) -> None:
    assert lab.path() == "/lab"
    assert lab.tab.page_title() == "Home"
    assert len(lab.tabs.notebook_tabs()) == 1
    assert sites.other.paths == []  # nothing of the other origin was loaded in the notebook's profile
    assert not any(TOKEN in url for url in lab.sent)


@pytest.mark.gui
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("document.getElementById('out').click()", "/elsewhere?from=link"),
        ("window.location.href = '{other}/elsewhere?from=location'", "/elsewhere?from=location"),
        ("document.getElementById('out-blank').click()", "/elsewhere?from=blank"),
        ("window.open('{other}/elsewhere?from=open')", "/elsewhere?from=open"),
        (
            "var w = window.open(); w.opener = null; w.location.href = '{other}/elsewhere?from=later'",
            "/elsewhere?from=later",
        ),
    ],
    ids=["link", "location", "target-blank", "window-open", "open-then-location"],
)
def test_another_origin_goes_to_the_system_browser(lab: Harness, sites: Sites, script: str, expected: str) -> None:
    lab.js(script.format(other=f"http://127.0.0.1:{sites.other.port}"))
    lab.qtbot.waitUntil(lambda: bool(lab.sent), timeout=10_000)
    assert lab.sent == [sites.other.url(expected)]
    assert_stayed_home(lab, sites)


@pytest.mark.gui
def test_the_notebook_origin_stays_in_the_tab(lab: Harness, sites: Sites) -> None:
    lab.js("document.getElementById('same').click()")
    lab.qtbot.waitUntil(lambda: lab.tab.page_title() == "Tree" and lab.path() == "/tree", timeout=10_000)
    assert lab.sent == [] and sites.other.paths == []


@pytest.mark.gui
@pytest.mark.parametrize(
    "script",
    [
        "document.getElementById('same-blank').click()",
        "window.open('/popup')",
        "var w = window.open(); w.opener = null; w.location.href = '/popup'",  # JupyterLab's "new browser tab"
    ],
    ids=["target-blank", "window-open", "open-then-location"],
)
def test_a_same_origin_popup_becomes_a_tab(lab: Harness, sites: Sites, script: str) -> None:
    lab.js(script)
    lab.qtbot.waitUntil(lambda: lab.titles() == ["Home", "Popup"], timeout=15_000)
    popup = lab.tabs.notebook_tabs("nb")[1]
    assert lab.tabs.currentWidget() is popup
    assert lab.path() == "/lab"  # the opener stayed
    assert lab.sent == [] and sites.other.paths == []
    # the new tab keeps to the same origin too
    popup.view.page().runJavaScript(f"location.href = '{sites.other.url('/elsewhere?from=popup')}'")  # type: ignore[attr-defined]
    lab.qtbot.waitUntil(lambda: bool(lab.sent), timeout=10_000)
    assert lab.sent == [sites.other.url("/elsewhere?from=popup")] and sites.other.paths == []


@pytest.mark.gui
def test_permission_requests_are_denied(lab: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="desktop.ui.web_view")
    lab.js(
        "window.geo = null;"
        "navigator.geolocation.getCurrentPosition(() => { window.geo = 'granted'; },"
        " (e) => { window.geo = 'refused:' + e.code; });"
        "window.notes = null; Notification.requestPermission().then((p) => { window.notes = p; });"
    )
    assert lab.wait_js("window.geo") == "refused:1"  # PERMISSION_DENIED
    assert lab.wait_js("window.notes") == "denied"
    denied = " ".join(r.getMessage() for r in caplog.records)
    assert "Geolocation" in denied and "Notifications" in denied


@pytest.mark.gui
def test_the_system_browser_redirect_page_logs_in_and_leaves_no_history(
    qtbot: QtBot, sites: Sites, tmp_path: Path
) -> None:
    """The page browser_launch hands to the system browser, in a real engine: it lands on the lab URL."""
    from PySide6.QtWebEngineCore import QWebEngineSettings
    from PySide6.QtWebEngineWidgets import QWebEngineView

    page = tmp_path / "open.html"
    page.write_text(browser_launch.redirect_page(sites.home.url(f"/lab?token={TOKEN}")))
    view = QWebEngineView()
    qtbot.addWidget(view)
    # as in a desktop browser, where a file page may go on to a web page (QtWebEngine's default refuses)
    view.settings().setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, True)
    try:
        view.load(QUrl.fromLocalFile(str(page)))
        qtbot.waitUntil(lambda: view.title() == "Home", timeout=15_000)
        assert f"/lab?token={TOKEN}" in sites.home.paths
        assert view.history().count() == 1  # location.replace: the file page is not in the history
    finally:
        view.deleteLater()  # its page goes while Qt is alive
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def test_an_origin_is_scheme_host_and_port() -> None:
    from desktop.ui.web_view import origin

    assert origin(QUrl("http://127.0.0.1:8888/lab?token=x")) == ("http", "127.0.0.1", 8888)
    assert origin(QUrl("https://Example.org/x")) == ("https", "example.org", 443)
    assert origin(QUrl("blob:http://127.0.0.1:8888/0f1e")) == ("http", "127.0.0.1", 8888)
    assert origin(QUrl("file:///etc/passwd")) is None
