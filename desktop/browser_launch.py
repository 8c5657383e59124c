"""Open a notebook in the system browser without its token on any command line.

The way jupyter_server does it (`browser_open_file`): the token goes into a small HTML page that only its
owner can read (0600, in a 0700 folder), and the browser is given that page's file:// URL, which holds no
secret; `ps` and the launcher's arguments show only the file name. The page sends the browser on with
`location.replace` (a meta refresh when scripts are off), so the redirect page leaves no history entry,
and JupyterLab strips `?token=` from the address once it has loaded. A form POST to /login would keep the
token out of history altogether, but jupyter_server refuses it without an _xsrf cookie, which a file://
page cannot have.

The page is removed REMOVE_AFTER seconds after the browser was started: the browser reads it while
starting up, which can take a while on a cold start, so there is no moment we could know it is safe
sooner. A page left behind by a process that ended first is removed at the next open (`sweep`).
"""

from __future__ import annotations

import html
import json
import logging
import os
import secrets
import stat
import threading
import time
import webbrowser
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from desktop.core.errors import LabdockError

log = logging.getLogger(__name__)

REMOVE_AFTER = 60.0
PREFIX = "open-"


@dataclass(frozen=True)
class Opened:
    page: Path  # the redirect page, until `removal` has run
    removal: threading.Timer


def private_folder(data_dir: Path) -> Path:
    """$XDG_RUNTIME_DIR/labdock (memory-backed, the user's own) when there is one, else under `data_dir`.

    LABDOCK_HOME keeps everything under one folder, so it also wins over the runtime dir.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir() and not os.environ.get("LABDOCK_HOME"):
        return Path(runtime) / "labdock"
    return data_dir / "browser"


def redirect_page(url: str) -> str:
    """The HTML that sends a browser to `url` (escaped for both places it appears)."""
    script_url = json.dumps(url).replace("<", "\\u003c")
    attr_url = html.escape(url, quote=True)
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='referrer' content='no-referrer'>\n"
        f"<script>location.replace({script_url});</script>\n"
        f"<meta http-equiv='refresh' content='0;url={attr_url}'>\n"
        "<title>Opening JupyterLab</title>\n</head>\n<body>\n"
        f"<p>Opening JupyterLab. If nothing happens, <a href='{attr_url}'>open it here</a>.</p>\n"
        "</body>\n</html>\n"
    )


def open_in_browser(url: str, folder: Path, remove_after: float = REMOVE_AFTER) -> Opened:
    """Open `url` (it may carry the token) in the system browser through a private redirect page.

    Blocking (the browser's launcher may run until it has handed the URL over): call it off the UI thread.
    Honours $BROWSER like Python's webbrowser module.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise LabdockError(f"not a web address: {urlsplit(url).scheme}:…")
    _make_private(folder)
    sweep(folder, remove_after)
    page = _write_private(folder, redirect_page(url))
    started: bool | None
    try:
        started = webbrowser.get().open(page.as_uri())
    except webbrowser.Error:
        started = None
    except OSError:
        started = False
    except BaseException:
        _remove(page)
        raise
    if not started:
        _remove(page)
        if started is None:
            raise LabdockError("no web browser found (set the BROWSER environment variable)")
        raise LabdockError("the web browser did not start")
    removal = threading.Timer(remove_after, _remove, (page,))
    removal.daemon = True  # a page outliving the process is swept at the next open
    removal.start()
    return Opened(page, removal)


def sweep(folder: Path, older_than: float = REMOVE_AFTER) -> None:
    """Remove redirect pages older than `older_than` seconds (left by a process that ended too soon)."""
    cutoff = time.time() - older_than
    try:
        pages = list(folder.glob(f"{PREFIX}*.html"))
    except OSError:
        return
    for page in pages:
        try:
            if page.lstat().st_mtime < cutoff:
                _remove(page)
        except OSError:
            continue


def _make_private(folder: Path) -> None:
    """Create `folder` 0700, or make sure the existing one is ours, a real folder, and 0700."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise LabdockError(f"{folder} is not a folder of this user: not writing the login page there")
        if stat.S_IMODE(info.st_mode) != 0o700:
            folder.chmod(0o700)
    except OSError as exc:
        raise LabdockError(f"could not prepare {folder}: {exc.strerror or exc}") from None


def _write_private(folder: Path, text: str) -> Path:
    page = folder / f"{PREFIX}{secrets.token_hex(8)}.html"
    try:
        # O_EXCL + O_NOFOLLOW: a fresh file of ours, never someone's link; 0600 whatever the umask
        fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise LabdockError(f"could not write the login page: {exc.strerror or exc}") from None
    return page


def _remove(page: Path) -> None:
    try:
        page.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not remove %s: %s", page, exc)
