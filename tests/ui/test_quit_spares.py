"""The window keeps a spare notebook while it runs; Quit removes it when the notebooks are stopped,
and keeps it when they are left running (the next start finds it ready again)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from desktop.services import Services
from desktop.ui.main_window import MainWindow
from tests.conftest import Engine
from tests.ui.conftest import shown_window, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.gui]


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    with shown_window(ui_services) as main:
        yield main


@pytest.mark.parametrize(("stop", "kept"), [(True, False), (False, True)], ids=["stop: spare removed", "leave: kept"])
def test_quit_and_the_spare(
    qtbot: QtBot,
    window: MainWindow,
    ui_services: Services,
    docker_engine: Engine,
    images: object,
    stop: bool,
    kept: bool,
) -> None:
    spares = ui_services.manager.spares
    assert spares is not None
    engine = ui_services.manager.engines["docker"]
    wait_for(qtbot, spares.refill(), 120)  # what the window's start() does in the background: a ready spare
    assert wait_for(qtbot, engine.spare_rows())  # type: ignore[attr-defined]
    wait_for(qtbot, window.quitter._quit(stop), 60)  # the manager is closed after this
    install = ui_services.manager.engines["docker"].settings.install_id  # type: ignore[attr-defined]
    labels = {"label": [f"org.labdock.install={install}", "org.labdock.spare"]}
    rows = docker_engine.client.api.containers(all=True, filters=labels)
    assert bool(rows) is kept
    for row in rows:  # leave the engine as found
        docker_engine.client.api.remove_container(row["Id"], force=True)


def test_the_spare_costs_are_in_the_status_bar(qtbot: QtBot, window: MainWindow, ui_services: Services) -> None:
    spares = ui_services.manager.spares
    assert spares is not None
    wait_for(qtbot, spares.refill(), 120)
    wait_for(qtbot, window.show_spare_memory())  # what every tenth refresh does
    assert window.status.spare.isVisible()
    assert window.status.spare.text().startswith("spare ready: ")
    wait_for(qtbot, spares.retire_all(), 60)
