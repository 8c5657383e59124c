"""`labdock restart NAME` and `labdock open NAME [--browser]` as a user types them, with the real engine:
restart keeps the settings and changes the token; open prints the URL without a display and, with one,
hands the notebook to the running window, which opens its tab."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.services import Services
from desktop.ui import window_socket
from desktop.ui.instance import InstanceServer
from desktop.ui.main_window import MainWindow
from tests.ui.conftest import shown_window, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.gui]
ROOT = Path(__file__).resolve().parents[2]


def labdock(*args: str, display: str | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    if display is not None:
        env["DISPLAY"] = display
    return subprocess.Popen(
        [sys.executable, "-m", "desktop", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finished(qtbot: QtBot, process: subprocess.Popen[str], timeout_ms: int = 120_000) -> tuple[int, str, str]:
    """Wait with Qt's events flowing (the window under test answers the command meanwhile)."""
    qtbot.waitUntil(lambda: process.poll() is not None, timeout=timeout_ms)
    out, err = process.communicate()
    return process.returncode, out, err


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    with shown_window(ui_services) as main:
        yield main


def test_restart_and_open(qtbot: QtBot, window: MainWindow, images: object) -> None:
    name = "opened"
    spec = NotebookSpec(name=name, image=images.plain, network_mode=NetworkMode.HOST)  # type: ignore[attr-defined]
    first = wait_for(qtbot, window.manager.create(spec), 120)
    token = first.token
    assert token

    code, out, err = finished(qtbot, labdock("restart", name))
    assert code == 0, err
    assert f"'{name}' is ready at http://127.0.0.1:" in out
    wait_for(qtbot, window.manager.refresh())
    assert window.manager.get(name).state is NotebookState.READY

    code, out, err = finished(qtbot, labdock("open", name))  # no display: the URL, with the new token
    assert code == 0, err
    url = out.strip()
    assert "/lab?token=" in url and token not in url

    code, _, err = finished(qtbot, labdock("open", "nobody"))
    assert code == 1 and "nobody" in err and "Traceback" not in err

    server = InstanceServer(window.show_window, window.open_notebook, window)
    assert server.listen(window.services.paths.data_dir)
    try:
        assert not InstanceServer(lambda: None, lambda _n: None).listen(window.services.paths.data_dir)
        code, out, err = finished(qtbot, labdock("open", name, display=":77"))  # a window answers
        assert code == 0, err
        assert out == ""
        qtbot.waitUntil(lambda: bool(window.tabs.notebook_tabs(name)), timeout=20_000)
        assert window.tabs.currentWidget() is window.tabs.notebook_tabs(name)[0]
    finally:
        server.close()
    path = window_socket.socket_path(window.services.paths.data_dir)
    assert path is not None and not window_socket.send(path.parent, "show")  # nobody listens any more
