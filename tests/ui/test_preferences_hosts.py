"""Preferences' Remote hosts: entries checked as ssh takes them (the reason inline), Remove only for hosts of
Preferences without notebooks, Save starting and stopping hosts in the running window, Check asking each host
again. The window part runs against a real host that refuses connections."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.core.models import NotebookSpec
from desktop.engines.ssh_hosts import parse_host
from desktop.services import Services
from desktop.settings import Settings, load_settings
from desktop.store import Paths, SpecStore
from desktop.ui.host_list_model import HostColumn
from desktop.ui.host_states import NEW, HostRow, HostState
from desktop.ui.main_window import MainWindow
from desktop.ui.preferences_dialog import PreferencesDialog
from desktop.ui.remote_hosts_section import RemoteHostsSection
from tests.ui.conftest import shown_window


def dialog(qtbot: QtBot, tmp_path: Path, settings: Settings) -> PreferencesDialog:
    prefs = PreferencesDialog(settings, Paths(tmp_path / "config", tmp_path / "data"), contexts=[])
    qtbot.addWidget(prefs)
    prefs.show()
    return prefs


def states(section: RemoteHostsSection) -> dict[str, str]:
    return {row.name: row.state.text for row in section.model.rows()}


def test_entries_are_checked_and_kept(qtbot: QtBot, tmp_path: Path) -> None:
    prefs = dialog(qtbot, tmp_path, Settings(remote_hosts=["ana@gpubox:2222", "bad host"]))
    section = prefs.remote_hosts
    assert section.model.rowCount() == 2
    assert states(section)["bad host"].startswith("cannot be used: 'bad host' is not [user@]host[:port]")
    assert section.model.index(0, HostColumn.ADDRESS).data() == "ana@gpubox:2222"

    qtbot.keyClicks(section.entry, "gpu box")
    qtbot.keyClick(section.entry, Qt.Key.Key_Return)  # adds (it does not press Save)
    assert prefs.isVisible() and section.problem.isVisible()
    assert "is not [user@]host[:port]" in section.problem.text() and "\n" not in section.problem.text()
    section.entry.clear()
    qtbot.keyClicks(section.entry, "gpubox")
    section.add_button.click()
    assert "a host named 'gpubox' is already listed" in section.problem.text()
    section.entry.clear()
    qtbot.keyClicks(section.entry, "lab=ana@10.0.0.7")
    assert not section.problem.isVisible()  # typing clears the complaint
    section.add_button.click()
    assert section.entry.text() == "" and not section.problem.isVisible()
    assert states(section)["lab"] == NEW

    section.table.selectRow(section.model.row_of("bad host"))  # type: ignore[arg-type]
    section.remove_button.click()
    assert prefs.chosen().remote_hosts == ["ana@gpubox:2222", "lab=ana@10.0.0.7"]


def test_a_context_host_is_removed_with_docker(qtbot: QtBot, tmp_path: Path) -> None:
    prefs = dialog(qtbot, tmp_path, Settings())
    section = prefs.remote_hosts
    assert section.empty.isVisible() and not section.table.isVisible()
    section.model.add(HostRow("desk", "ana@desk", "context desk", None, HostState(False, "not checked yet")))
    assert section.table.isVisible() and not section.remove_button.isEnabled()
    section.table.selectRow(0)
    section.remove_button.click()
    said = section.problem.text()
    assert said == "'desk' comes from the Docker context 'desk': remove it with docker context rm desk"
    assert section.model.rowCount() == 1 and prefs.chosen().remote_hosts == []


# -- in the window, against a host that refuses connections ---------------------------------------


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    with shown_window(ui_services) as main:
        yield main


@pytest.mark.docker
@pytest.mark.gui
def test_hosts_are_added_checked_and_removed_while_the_window_runs(qtbot: QtBot, window: MainWindow) -> None:
    services = window.services
    prefs = window.open_preferences()
    section = prefs.remote_hosts
    assert not section.check_button.isEnabled()  # nothing to check yet
    qtbot.keyClicks(section.entry, "down=127.0.0.1:1")
    section.add_button.click()
    prefs.buttons.accepted.emit()
    qtbot.waitUntil(lambda: "down" in services.remotes, timeout=10_000)
    assert "down" in services.manager.engines
    paths = Paths.default()
    qtbot.waitUntil(lambda: load_settings(paths).remote_hosts == ["down=127.0.0.1:1"], timeout=10_000)
    qtbot.waitUntil(lambda: "down" in services.manager.hosts.problems, timeout=30_000)  # the window looked

    prefs = window.open_preferences()
    section = prefs.remote_hosts
    qtbot.waitUntil(lambda: not section.checking(), timeout=30_000)  # checked as it opens
    assert states(section)["down"] == "unreachable: it refused the SSH connection (is sshd running?)"
    tip = section.model.index(0, HostColumn.STATE).data(Qt.ItemDataRole.ToolTipRole)
    assert tip == services.manager.hosts.problems["down"]  # the whole line, with the host and its address
    assert section.model.index(0, HostColumn.STATE).data(Qt.ItemDataRole.ForegroundRole) is not None
    section.check_button.click()
    assert states(section)["down"] == "checking…" and not section.check_button.isEnabled()
    qtbot.waitUntil(lambda: section.check_button.isEnabled(), timeout=30_000)
    assert "unreachable" in states(section)["down"]

    section.table.selectRow(0)
    section.remove_button.click()
    prefs.buttons.accepted.emit()
    qtbot.waitUntil(lambda: "down" not in services.remotes, timeout=10_000)
    assert "down" not in services.manager.engines and "down" not in services.manager.hosts.problems
    qtbot.waitUntil(lambda: load_settings(paths).remote_hosts == [], timeout=10_000)


@pytest.mark.docker
@pytest.mark.gui
def test_a_host_with_notebooks_in_the_table_is_not_removed(qtbot: QtBot, window: MainWindow) -> None:
    services = window.services
    services.settings.remote_hosts = ["busy=127.0.0.1:1"]
    services.add_host(parse_host("busy=127.0.0.1:1"))
    SpecStore(services.paths).put(NotebookSpec("far", "img", engine="busy"))
    window.refresh()
    qtbot.waitUntil(lambda: window.model.row_of("far") is not None, timeout=30_000)
    prefs = window.open_preferences()
    section = prefs.remote_hosts
    section.table.selectRow(0)
    section.remove_button.click()
    assert section.problem.text() == "'busy' still has notebooks in the table (far): remove them first"
    assert section.model.rowCount() == 1
    prefs.buttons.accepted.emit()
    assert "busy" in services.remotes


@pytest.mark.docker
@pytest.mark.gui
def test_a_host_already_in_use_under_that_name_is_refused_in_one_line(qtbot: QtBot, window: MainWindow) -> None:
    window.services.add_host(parse_host("dup=127.0.0.1:1", source="context dup"))
    prefs = window.open_preferences()
    section = prefs.remote_hosts
    assert states(section)["dup"] and section.model.rows()[0].source == "context dup"
    qtbot.keyClicks(section.entry, "dup=127.0.0.1:2")
    section.add_button.click()
    assert "already listed" in section.problem.text()
    prefs.reject()
