"""Applying saved preferences to a running window: what can change at once does, the rest says when."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.settings import Settings, save_settings
from desktop.store import Paths

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow


def apply_preferences(window: MainWindow, chosen: Settings) -> None:
    """Copy `chosen` into the shared Settings object, save it off the Qt thread, apply it at once."""
    services = window.services
    settings = services.settings
    before = dataclasses.replace(settings)
    for field in dataclasses.fields(Settings):
        setattr(settings, field.name, getattr(chosen, field.name))
    if settings.work_root != before.work_root:
        paths = services.paths
        root = Path(settings.work_root).expanduser() if settings.work_root else None
        services.paths = Paths(paths.config_dir, paths.data_dir, root)
        window.commands.paths = services.paths
        window.manager.paths = services.paths  # new notebooks' default work folders
    if settings.gpu_sample_interval != before.gpu_sample_interval:
        window.gpu.restart(settings.gpu_sample_interval)
    note = "Preferences saved."
    if (settings.docker_host, settings.docker_context) != (before.docker_host, before.docker_context):
        note += " The new Docker engine is used when Labdock starts again."
    window.runner.run("settings", asyncio.to_thread(save_settings, services.paths, settings), "Could not save")
    window.statusBar().showMessage(note, 8000)
