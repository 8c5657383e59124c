"""Applying saved preferences to a running window: what can change at once does, the rest says when."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Protocol

from PySide6.QtWidgets import QApplication, QStatusBar

from desktop.manager import NotebookManager
from desktop.services import Services
from desktop.settings import Settings, save_settings
from desktop.store import Paths
from desktop.ui.commands import NotebookCommands
from desktop.ui.gpu_dock import GpuDock
from desktop.ui.tasks import TaskRunner
from desktop.ui.theme import apply_choice


class PreferencesWindow(Protocol):
    """What applying preferences touches of the window (the main window, without importing it)."""

    services: Services
    manager: NotebookManager
    commands: NotebookCommands
    gpu: GpuDock
    runner: TaskRunner

    def statusBar(self) -> QStatusBar: ...


def apply_preferences(window: PreferencesWindow, chosen: Settings) -> None:
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
    app = QApplication.instance()
    if settings.theme != before.theme and isinstance(app, QApplication):
        apply_choice(app, settings.theme)  # the window and JupyterLab in its tabs follow
    note = "Preferences saved."
    if (settings.docker_host, settings.docker_context) != (before.docker_host, before.docker_context):
        note += " The new Docker engine is used when Labdock starts again."
    spares = window.manager.spares

    async def save() -> None:
        await asyncio.to_thread(save_settings, services.paths, settings)
        if spares is not None:
            spares.refill_soon()  # a new default image or the preference turned off retires stale spares

    window.runner.run("settings", save(), "Could not save")
    window.statusBar().showMessage(note, 8000)
