"""Applying saved preferences to a running window: what can change at once does, the rest says when.

Remote hosts change at once: a host added joins the manager (services.add_host) and the window refreshes so
its notebooks show; a host removed is forgotten and its connection closed (services.remove_host), unless
notebooks of it appeared in the table meanwhile, in which case it stays in use and in Preferences."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Protocol

from PySide6.QtWidgets import QApplication, QStatusBar

from desktop.core.errors import InvalidSpec, LabdockError
from desktop.engines.ssh_hosts import RemoteHost, parse_host
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

    def refresh(self) -> None: ...


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
    hosts_changed = settings.remote_hosts != before.remote_hosts
    note = "Preferences saved."
    if (settings.docker_host, settings.docker_context) != (before.docker_host, before.docker_context):
        note += " The new Docker engine is used when Labdock starts again."
    spares = window.manager.spares

    async def save() -> None:
        if hosts_changed:
            refused = await apply_hosts(services, before.remote_hosts, settings.remote_hosts)
            if refused:
                window.statusBar().showMessage(refused, 15000)
            looking = window.runner.unfinished("restore")  # began before the hosts changed
            if looking:
                await asyncio.wait(looking)
            window.refresh()  # the new hosts' notebooks show, their states are known
        await asyncio.to_thread(save_settings, services.paths, settings)
        if spares is not None:
            spares.refill_soon()  # a new default image or the preference turned off retires stale spares

    window.runner.run("settings", save(), "Could not save")
    window.statusBar().showMessage(note, 8000)


def _hosts(entries: list[str]) -> dict[str, RemoteHost]:
    hosts: dict[str, RemoteHost] = {}
    for entry in entries:
        try:
            host = parse_host(entry)
        except InvalidSpec:
            continue  # listed as unusable in Preferences; nothing to start or stop
        hosts.setdefault(host.name, host)
    return hosts


async def apply_hosts(services: Services, before: list[str], after: list[str]) -> str | None:
    """Start using the hosts added, stop using those removed (or changed); None, or one line on what was
    kept or refused. A removed host with notebooks in the table is kept, back in `after`."""
    old, new = _hosts(before), _hosts(after)
    refused: list[str] = []
    for name, host in old.items():
        engine = services.remotes.get(name)
        unchanged = name in new and new[name].entry() == host.entry()
        if unchanged or engine is None or engine.link.host != host:
            continue  # still wanted, or not the engine of this entry (a context's host of that name)
        notebooks = sorted(n.name for n in services.manager.list() if n.engine == name)
        if notebooks:
            after.append(host.entry())
            new[name] = host
            refused.append(f"'{name}' kept: its notebooks are in the table ({', '.join(notebooks)})")
            continue
        await services.remove_host(name)
    for name, host in new.items():
        if name in services.remotes:
            continue
        try:
            services.add_host(host)
        except LabdockError as exc:
            refused.append(str(exc))
    return "; ".join(refused) or None
