"""Builds a ready NotebookManager from the user's settings: shared by the window and the CLI."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from desktop.core.errors import InvalidSpec
from desktop.engines.container_spec import DockerSettings
from desktop.engines.docker_engine import DockerEngine
from desktop.engines.local_engine import LocalEngine
from desktop.engines.remote_engine import RemoteDockerEngine
from desktop.engines.ssh_hosts import RemoteHost, remote_hosts
from desktop.engines.ssh_link import SshLink
from desktop.gpu import Nvml, resolve_gpus
from desktop.manager import NotebookManager
from desktop.remote_workdir import RemoteWorkFolders
from desktop.settings import Settings, load_settings
from desktop.spares import BINDINGS_FOLDER, Spares
from desktop.store import Paths, install_id

log = logging.getLogger(__name__)
ENGINE_GRACE = 5.0


@dataclass
class Services:
    paths: Paths
    settings: Settings
    manager: NotebookManager
    nvml: Nvml
    docker: DockerEngine | None = None
    remotes: dict[str, RemoteDockerEngine] = field(default_factory=dict)  # by host name
    host_problems: list[str] = field(default_factory=list)  # Preferences entries that cannot be used

    def add_host(self, host: RemoteHost) -> RemoteDockerEngine:
        """A host added while the window runs: its engine joins the manager at once (nothing connects yet)."""
        if host.name in self.manager.engines:
            raise InvalidSpec(f"a host or engine named '{host.name}' is already there")
        engine = _remote_engines([host], self.docker_settings())[host.name]
        self.remotes[host.name] = engine
        self.manager.engines[host.name] = engine
        self.manager.folders.remote[host.name] = RemoteWorkFolders(engine.link)
        return engine

    async def remove_host(self, name: str) -> None:
        """Forget a host whose notebooks are gone from the table (the caller checks), closing its connection."""
        engine = self.remotes.pop(name, None)
        if engine is None:
            return
        self.manager.engines.pop(name, None)
        self.manager.folders.remote.pop(name, None)
        self.manager.hosts.update([name], {})
        await engine.close()

    def docker_settings(self) -> DockerSettings:
        assert self.docker is not None
        return self.docker.settings

    async def engine_description(self) -> str:
        """The engine line for the window and `labdock ls`: 'Docker 28.1 via context desktop-linux (unix://…)',
        'Podman 4.3 (Docker API) via DOCKER_HOST (…)'; while it does not answer, why and where it was looked for."""
        if self.docker is None:
            return "no Docker engine configured"
        return await self.docker.describe()


def build_services(paths: Paths | None = None, *, context: str | None = None) -> Services:
    """`context`: a Docker context for this process only (`labdock --context`), over the preferences."""
    paths = paths or Paths.default()
    settings = load_settings(paths)
    if settings.work_root:
        paths = Paths(paths.config_dir, paths.data_dir, Path(settings.work_root).expanduser())
    uid = os.getuid() or 1000
    nvml = Nvml()

    def gpu_resolver(choice: tuple[str, ...]) -> tuple[str, ...]:
        return resolve_gpus(choice, nvml.inventory())

    engine = DockerEngine(
        DockerSettings(
            install_id=install_id(paths),
            base_url=None if context else settings.docker_host,
            context=context or settings.docker_context,
            chosen_in="--context" if context else "Preferences",
            container_prefix=settings.container_prefix,
            pull_missing=settings.pull_missing,
            uid=uid,
            gpu_resolver=gpu_resolver,
            timeout=settings.engine_timeout,
            bindings_dir=paths.config_dir / BINDINGS_FOLDER,
        )
    )
    local = LocalEngine(paths.data_dir / "local", gpu_resolver=gpu_resolver)
    hosts, host_problems = remote_hosts(settings.remote_hosts)
    for problem in host_problems:
        log.warning("remote host left out: %s", problem)
    remotes = _remote_engines(hosts, engine.settings)
    manager = NotebookManager(
        [engine, local, *remotes.values()],
        paths,
        ready_timeout=settings.ready_timeout,
        engine_timeout=settings.engine_timeout + ENGINE_GRACE,  # the engine's own, clearer message comes first
        container_uid=uid,
        gpu_resolver=gpu_resolver,
        gpu_inventory=nvml.inventory,
        remote_folders={name: RemoteWorkFolders(remote.link) for name, remote in remotes.items()},
    )
    # Every process may take a spare; only the window keeps them (manager.spares.start()).
    manager.spares = Spares(
        engine,
        paths,
        container_uid=uid,
        has_gpus=lambda: bool(nvml.inventory().gpus),
        ready_timeout=settings.ready_timeout,
        engine_timeout=settings.engine_timeout + ENGINE_GRACE,
    )
    manager.spares.busy = manager.launching
    return Services(paths, settings, manager, nvml, engine, remotes, host_problems)


def _remote_engines(hosts: list[RemoteHost], settings: DockerSettings) -> dict[str, RemoteDockerEngine]:
    """One engine and SSH connection per host; nothing connects until first used."""
    if not hosts:
        return {}
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(runtime) if runtime and Path(runtime).is_dir() else Path(tempfile.gettempdir())
    return {host.name: RemoteDockerEngine(SshLink(host, folder), settings) for host in hosts}
