"""Opening a notebook in the system browser: the token is in a private file, never on a command line.

The "browser" is a small program set as $BROWSER that records its arguments and what it could read.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
import webbrowser
from pathlib import Path
from typing import Any

import pytest

from desktop import browser_launch
from desktop.core.errors import LabdockError

TOKEN = "9f2c1e-secret-token"
URL = f"http://127.0.0.1:48123/lab?token={TOKEN}"

FAKE_BROWSER = """#!{python}
import json, os, stat, sys, urllib.parse, urllib.request
page = urllib.request.url2pathname(urllib.parse.urlsplit(sys.argv[1]).path)
with open("/proc/self/cmdline", "rb") as cmdline:
    seen_in_ps = cmdline.read().decode(errors="replace")
record = {{
    "argv": sys.argv,
    "ps": seen_in_ps,
    "page": page,
    "mode": stat.S_IMODE(os.stat(page).st_mode),
    "folder_mode": stat.S_IMODE(os.stat(os.path.dirname(page)).st_mode),
    "content": open(page, encoding="utf-8").read(),
}}
with open({record!r}, "w") as out:
    json.dump(record, out)
"""


def use_browser(monkeypatch: pytest.MonkeyPatch, program: str) -> None:
    """$BROWSER = program; webbrowser reads $BROWSER once per process, so its registry starts afresh."""
    monkeypatch.setenv("BROWSER", program)
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})


@pytest.fixture
def fake_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The record file the fake browser writes."""
    record = tmp_path / "record.json"
    program = tmp_path / "fake-browser"
    program.write_text(FAKE_BROWSER.format(python=sys.executable, record=str(record)))
    program.chmod(0o755)
    use_browser(monkeypatch, str(program))
    return record


def test_the_token_reaches_the_browser_only_inside_a_private_file(tmp_path: Path, fake_browser: Path) -> None:
    folder = tmp_path / "run" / "labdock"
    opened = browser_launch.open_in_browser(URL, folder, remove_after=0.2)
    seen: dict[str, Any] = json.loads(fake_browser.read_text())
    assert not any(TOKEN in arg for arg in seen["argv"]) and TOKEN not in seen["ps"]
    assert seen["argv"][1:] == [opened.page.as_uri()] and Path(seen["page"]).parent == folder
    assert seen["mode"] == 0o600 and seen["folder_mode"] == 0o700
    assert f"location.replace({json.dumps(URL)})" in seen["content"]
    assert f"content='0;url={URL}'" in seen["content"]
    opened.removal.join(10)
    assert not opened.page.exists() and list(folder.iterdir()) == []


def test_a_browser_that_fails_leaves_no_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_browser(monkeypatch, "/bin/false")
    with pytest.raises(LabdockError, match="did not start"):
        browser_launch.open_in_browser(URL, tmp_path / "open")
    assert list((tmp_path / "open").iterdir()) == []


def test_no_browser_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def none(using: str | None = None) -> webbrowser.BaseBrowser:
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(webbrowser, "get", none)
    with pytest.raises(LabdockError, match="no web browser found"):
        browser_launch.open_in_browser(URL, tmp_path / "open")
    assert list((tmp_path / "open").iterdir()) == []


def test_pages_left_by_an_earlier_run_are_swept(tmp_path: Path, fake_browser: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)  # made private on use
    stale, recent = folder / "open-stale.html", folder / "open-recent.html"
    for page in (stale, recent):
        page.write_text("token inside")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    opened = browser_launch.open_in_browser(URL, folder)
    opened.removal.cancel()
    assert not stale.exists() and recent.exists() and opened.page.exists()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_folder_that_is_a_link_is_refused(tmp_path: Path, fake_browser: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "open").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LabdockError, match="not a folder of this user"):
        browser_launch.open_in_browser(URL, tmp_path / "open")
    assert not fake_browser.exists() and list((tmp_path / "elsewhere").iterdir()) == []


def test_only_web_addresses(tmp_path: Path, fake_browser: Path) -> None:
    with pytest.raises(LabdockError, match="not a web address"):
        browser_launch.open_in_browser("file:///etc/passwd", tmp_path / "open")
    assert not fake_browser.exists()


def test_the_private_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("LABDOCK_HOME", raising=False)
    assert browser_launch.private_folder(tmp_path / "data") == tmp_path / "labdock"  # memory-backed, the user's
    monkeypatch.setenv("LABDOCK_HOME", str(tmp_path / "home"))
    assert browser_launch.private_folder(tmp_path / "data") == tmp_path / "data" / "browser"
    monkeypatch.delenv("LABDOCK_HOME")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert browser_launch.private_folder(tmp_path / "data") == tmp_path / "data" / "browser"
