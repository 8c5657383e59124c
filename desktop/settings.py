"""User preferences, kept across restarts in settings.json (atomic writes, corrupt file kept aside)."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import Any

from desktop.core.errors import InvalidSpec
from desktop.core.models import NetworkMode
from desktop.core.spec_checks import default_gpu_shm, parse_shm
from desktop.store import Paths, locked, read_json, write_atomic

log = logging.getLogger(__name__)

DEFAULT_CPU_IMAGE = "quay.io/jupyter/scipy-notebook:latest"
DEFAULT_GPU_IMAGE = "quay.io/jupyter/pytorch-notebook:cuda12-latest"
IMAGE_PRESETS = (
    DEFAULT_CPU_IMAGE,
    "quay.io/jupyter/base-notebook:latest",
    "quay.io/jupyter/datascience-notebook:latest",
    DEFAULT_GPU_IMAGE,
    "quay.io/jupyter/tensorflow-notebook:cuda-latest",
)
QUIT_ASK, QUIT_STOP, QUIT_LEAVE = "ask", "stop", "leave"
THEME_SYSTEM, THEME_LIGHT, THEME_DARK = "system", "light", "dark"
SHM_AUTO, SHM_DOCKER = "auto", "docker"  # default_gpu_shm's rule; Docker's own 64 MiB


@dataclass
class Settings:
    default_image: str = DEFAULT_CPU_IMAGE
    default_gpu_image: str = DEFAULT_GPU_IMAGE
    network_mode: str = NetworkMode.BRIDGE.value
    default_engine: str = "docker"
    docker_host: str | None = None  # a Docker host URL: over everything else
    docker_context: str | None = None  # a Docker context by name; None: as the docker CLI finds one
    container_prefix: str = "labdock-"
    pull_missing: bool = True
    ready_timeout: float = 120.0
    engine_timeout: float = 60.0  # one engine request; a hung engine is reported after this
    gpu_sample_interval: float = 1.0
    quit_action: str = QUIT_ASK
    work_root: str | None = None
    recent_images: list[str] = dataclasses.field(default_factory=list)
    open_when_ready: bool = True  # a notebook created in the window opens in a tab once it is ready
    theme: str = "system"  # THEME_SYSTEM follows the desktop; THEME_LIGHT / THEME_DARK for Labdock alone
    default_idle_stop_minutes: int | None = None  # new notebooks stop after this long idle; None: never
    gpu_shm_size: str = SHM_AUTO  # /dev/shm of new GPU notebooks: SHM_AUTO, SHM_DOCKER or a size ("8g")
    keep_spare: bool = True  # "Keep a notebook ready to start instantly" (desktop.spares; Docker engine only)
    # Remote Docker hosts over SSH, as `[name=][user@]host[:port]` (desktop.engines.ssh_hosts); ssh:// Docker
    # contexts are hosts too, without being listed here.
    remote_hosts: list[str] = dataclasses.field(default_factory=list)
    spare_min_free_mb: int = 2048  # no spare is kept while the machine has less RAM available than this

    @property
    def network(self) -> NetworkMode:
        return NetworkMode(self.network_mode)

    def default_shm_bytes(self, gpus: tuple[str, ...]) -> int | None:
        """/dev/shm for a new notebook given no size: for a GPU notebook the rule chosen in gpu_shm_size
        (SHM_AUTO: core.spec_checks.default_gpu_shm), None (Docker's default) otherwise."""
        if not gpus or self.gpu_shm_size == SHM_DOCKER:
            return None
        if self.gpu_shm_size == SHM_AUTO:
            return default_gpu_shm()
        try:
            return parse_shm(self.gpu_shm_size)
        except InvalidSpec as exc:
            log.warning("the GPU shared memory setting is unusable (%s); using the automatic size", exc)
            return default_gpu_shm()

    def remember_image(self, image: str, keep: int = 8) -> None:
        self.recent_images = [image, *[i for i in self.recent_images if i != image]][:keep]


def load_settings(paths: Paths) -> Settings:
    data = read_json(paths.settings_file)
    if not isinstance(data, dict):
        return Settings()
    known = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
    try:
        settings = Settings(**values)
        NetworkMode(settings.network_mode)
    except (TypeError, ValueError) as exc:
        log.warning("settings were invalid (%s); using defaults", exc)
        return Settings()
    return settings


def save_settings(paths: Paths, settings: Settings) -> None:
    with locked(paths.settings_file):
        write_atomic(paths.settings_file, json.dumps(dataclasses.asdict(settings), indent=2) + "\n")
