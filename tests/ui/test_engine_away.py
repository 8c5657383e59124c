"""Truthful while the engine is away: the rows of the Docker engine say their state is unknown (greyed),
only the log can be asked for, and the banner names the detected cause first with only its fix.
The causes are read from the engine's own messages (desktop.engines.docker_errors)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.engines.docker_errors import to_labdock_error
from desktop.services import Services, build_services
from desktop.store import Paths
from desktop.ui.engine_diagnosis import diagnose
from desktop.ui.main_window import MainWindow
from desktop.ui.notebook_actions import Act
from desktop.ui.notebook_model import AWAY_TEXT, Column
from tests.conftest import Engine, need
from tests.support.fault_proxy import FaultProxy, running
from tests.ui.conftest import shown_window, wait_for


def message(exc: BaseException, where: str = "unix:///run/x/docker.sock") -> str:
    return str(to_labdock_error(exc, where=where, timeout=5))


def test_each_cause_gets_only_its_fix(tmp_path: Path) -> None:
    denied = diagnose(message(PermissionError(13, "Permission denied")))
    assert "Permission denied" in denied.cause and "usermod -aG docker" in denied.fix
    assert "systemctl" not in denied.fix and "apt install" not in denied.fix

    hung = diagnose(message(TimeoutError("timed out")))
    assert "not answering" in hung.cause and "systemctl restart docker" in hung.fix

    cut = diagnose(message(ConnectionResetError()))
    assert cut.retry_helps and "usermod" not in cut.fix

    missing = tmp_path / "none" / "docker.sock"
    gone = message(FileNotFoundError(2, "No such file"), where=f"unix://{missing}")
    not_running = diagnose(gone, installed=lambda: True)
    assert "not running" in not_running.cause and str(missing) in not_running.cause
    assert "systemctl start docker" in not_running.fix and "apt install" not in not_running.fix
    not_installed = diagnose(gone, installed=lambda: False)
    assert "not installed" in not_installed.cause and "apt install docker.io" in not_installed.fix

    silent = tmp_path / "silent.sock"  # a socket file that nobody listens on: refused
    with socket.socket(socket.AF_UNIX) as bound:
        bound.bind(str(silent))
        refused = diagnose(message(ConnectionRefusedError(111, "refused"), where=f"unix://{silent}"))
    assert "does not answer" in refused.cause and "systemctl restart docker" in refused.fix

    remote = diagnose(message(ConnectionRefusedError(111, "refused"), where="tcp://10.0.0.9:2375"))
    assert "Preferences" in remote.fix


@pytest.fixture
def proxy(docker_engine: Engine) -> Iterator[FaultProxy]:
    need(docker_engine.url.startswith("unix://"), f"the proxy needs a unix-socket engine, not {docker_engine.url}")
    with running(docker_engine.url) as proxy:
        yield proxy


@pytest.fixture
def window(
    qtbot: QtBot, labdock_home: Path, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MainWindow]:
    monkeypatch.setenv("DOCKER_HOST", proxy.url)
    services: Services = build_services(Paths.default())
    with shown_window(services) as main:
        yield main
    if any(n.state.active for n in services.manager.list()):
        wait_for(qtbot, services.manager.stop_all(), 60)
    wait_for(qtbot, services.manager.close(), 30)


@pytest.mark.docker
@pytest.mark.gui
def test_rows_of_an_engine_that_went_away(qtbot: QtBot, window: MainWindow, proxy: FaultProxy, images: object) -> None:
    name = "kept"
    spec = NotebookSpec(name=name, image=images.plain, network_mode=NetworkMode.HOST)  # type: ignore[attr-defined]
    wait_for(qtbot, window.manager.create(spec), 120)
    window.table.select_name(name)
    row = window.model.row_of(name)
    assert row is not None
    state = window.model.index(row, Column.STATE)
    assert state.data() == "Ready"

    away = proxy.socket_path.with_name("moved.sock")
    os.rename(proxy.socket_path, away)  # the socket is gone: as when the daemon stopped
    try:
        window.refresh()
        qtbot.waitUntil(window.banner.isVisible, timeout=30_000)
        assert state.data() == AWAY_TEXT
        grey = QApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        assert state.data(Qt.ItemDataRole.ForegroundRole).color() == grey
        assert window.model.index(row, Column.NAME).data(Qt.ItemDataRole.ForegroundRole).color() == grey
        assert window.manager.get(name).state is NotebookState.READY  # the manager keeps the row as it was
        enabled = {act for act, action in window.notebook_actions.actions.items() if action.isEnabled()}
        assert enabled == {Act.SHOW_LOG}
        window.tray.rebuild()
        assert window.tray.action(name) is not None
        assert any(a.text() == f"{name} (unknown)" for a in window.tray.menu.actions())
        title = window.banner.title.text()
        assert "not running" in title and str(proxy.socket_path) in title
        assert "systemctl start docker" in window.banner.help.text()
        assert "usermod" not in window.banner.help.text()  # only the fix for this cause
    finally:
        os.rename(away, proxy.socket_path)
    window.refresh()
    qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=30_000)
    assert state.data() == "Ready" and state.data(Qt.ItemDataRole.ForegroundRole) != grey
    assert window.notebook_actions[Act.STOP].isEnabled()
