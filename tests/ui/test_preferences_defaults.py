"""Preferences for new notebooks: the default idle stop and the GPU notebooks' shared memory rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.errors import InvalidSpec
from desktop.settings import SHM_AUTO, SHM_DOCKER, Settings
from desktop.store import Paths
from desktop.ui.preferences_dialog import PreferencesDialog


def dialog(qtbot: QtBot, tmp_path: Path, settings: Settings) -> PreferencesDialog:
    prefs = PreferencesDialog(settings, Paths(tmp_path / "config", tmp_path / "data"), contexts=[])
    qtbot.addWidget(prefs)
    return prefs


def test_idle_stop_default(qtbot: QtBot, tmp_path: Path) -> None:
    prefs = dialog(qtbot, tmp_path, Settings(default_idle_stop_minutes=90))
    assert prefs.idle_minutes.value() == 90
    prefs.idle_minutes.setValue(0)
    assert prefs.chosen().default_idle_stop_minutes is None  # "never"
    prefs.idle_minutes.setValue(30)
    assert prefs.chosen().default_idle_stop_minutes == 30


@pytest.mark.parametrize(("typed", "kept"), [(None, SHM_AUTO), ("docker", SHM_DOCKER), ("8g", "8g")])
def test_gpu_shared_memory(qtbot: QtBot, tmp_path: Path, typed: str | None, kept: str) -> None:
    prefs = dialog(qtbot, tmp_path, Settings())
    if typed == "docker":
        prefs.gpu_shm.setCurrentIndex(prefs.gpu_shm.findData(SHM_DOCKER))
    elif typed is not None:
        prefs.gpu_shm.setEditText(typed)
    assert prefs.chosen().gpu_shm_size == kept


def test_a_saved_size_is_shown_and_a_bad_one_refused(qtbot: QtBot, tmp_path: Path) -> None:
    prefs = dialog(qtbot, tmp_path, Settings(gpu_shm_size="4g"))
    assert prefs.gpu_shm.currentText() == "4g"
    prefs.gpu_shm.setEditText("lots")
    with pytest.raises(InvalidSpec, match="invalid shared memory size"):
        prefs.chosen()
