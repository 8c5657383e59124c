"""What the user asked for (NotebookSpec) and what is true now (Notebook)."""

from __future__ import annotations

import dataclasses
import enum
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple


class NotebookState(enum.Enum):
    CREATING = "creating"
    PULLING = "pulling"
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def busy(self) -> bool:
        """A transition is under way (the UI shows a busy indicator)."""
        return self in _BUSY

    @property
    def active(self) -> bool:
        """A container exists or is being made for it."""
        return self in _ACTIVE


_BUSY = {NotebookState.CREATING, NotebookState.PULLING, NotebookState.STARTING, NotebookState.STOPPING}
_ACTIVE = _BUSY | {NotebookState.READY}


class NetworkMode(enum.Enum):
    BRIDGE = "bridge"  # published on 127.0.0.1 only, host port chosen by Docker
    HOST = "host"  # JupyterLab binds 127.0.0.1 on a port the app picked


PROFILE_NAMES = ("auto", "docker-stacks", "plain")
STACKS_WORK_MOUNT, PLAIN_WORK_MOUNT = "/home/jovyan/work", "/work"  # where each profile mounts the work folder
WORK_MOUNTS = (STACKS_WORK_MOUNT, PLAIN_WORK_MOUNT)
LOCAL_ENGINES = ("docker", "local")  # the engines of the machine Labdock runs on; any other is a remote host
CPU_ONLY: tuple[str, ...] = ()
ALL_GPUS: tuple[str, ...] = ("all",)


def on_this_machine(engine: str) -> bool:
    """Whether a notebook of `engine` runs here (its folders, ports and GPUs are this machine's)."""
    return engine in LOCAL_ENGINES


def same_machine(engine: str, other: str) -> bool:
    """Whether notebooks of the two engines share a machine (its GPUs, its folders)."""
    return engine == other or (on_this_machine(engine) and on_this_machine(other))


class PullStatus(NamedTuple):
    """How far an image pull has got (Docker reports bytes per layer)."""

    bytes_done: int
    bytes_total: int
    layers_done: int
    layers_total: int


@dataclass(frozen=True)
class Mount:
    """A host folder shown inside the notebook's container (read-only unless asked otherwise)."""

    host_path: Path
    container_path: str
    read_only: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"host_path": str(self.host_path), "container_path": self.container_path, "read_only": self.read_only}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mount:
        return cls(Path(data["host_path"]), str(data["container_path"]), bool(data.get("read_only", True)))

    def describe(self) -> str:
        return f"{self.host_path} -> {self.container_path} ({'ro' if self.read_only else 'rw'})"


@dataclass(frozen=True)
class NotebookSpec:
    """A notebook as the user asked for it; stored, and enough to start it again.

    gpus: () for CPU only, ("all",) for every GPU, else GPU indices or UUIDs.
    profile: how to start JupyterLab in the image ("auto", "docker-stacks", "plain").
    env: plain environment variables; secret_names: variables whose values live in the secret store
    (desktop.secrets), never here. shm_bytes None: Docker's default /dev/shm (64 MiB).
    stable_port: the loopback port a stable-address notebook keeps, chosen at its first start.
    """

    name: str
    image: str
    gpus: tuple[str, ...] = CPU_ONLY
    cpus: float | None = None
    memory_bytes: int | None = None
    work_dir: Path | None = None
    profile: str = "auto"
    network_mode: NetworkMode = NetworkMode.BRIDGE
    engine: str = "docker"  # or "local": JupyterLab as a child process, no Docker
    run_as_root: bool = False  # only on request: root and Docker's default capabilities in the container
    exclusive_gpus: bool = False  # its GPUs are reserved: no other notebook may launch on them meanwhile
    env: tuple[tuple[str, str], ...] = ()
    secret_names: tuple[str, ...] = ()
    shm_bytes: int | None = None
    mounts: tuple[Mount, ...] = ()
    stable_address: bool = False  # the same port and token across restarts
    stable_port: int | None = None
    idle_stop_minutes: int | None = None  # stopped after this long without activity; None: never
    survive_reboot: bool = False  # a restart policy: it comes back with the engine
    extra_args: tuple[str, ...] = ()  # extra JupyterLab arguments, before the ones Labdock sets

    @property
    def uses_gpu(self) -> bool:
        return bool(self.gpus)

    @property
    def gpu_label(self) -> str:
        if not self.gpus:
            return "CPU"
        if self.gpus == ALL_GPUS:
            return "all GPUs"
        return "GPU " + ",".join(self.gpus)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["gpus"] = list(self.gpus)
        data["work_dir"] = str(self.work_dir) if self.work_dir else None
        data["network_mode"] = self.network_mode.value
        data["env"] = [list(pair) for pair in self.env]
        data["secret_names"] = list(self.secret_names)
        data["mounts"] = [mount.to_json() for mount in self.mounts]
        data["extra_args"] = list(self.extra_args)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NotebookSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["gpus"] = tuple(str(g) for g in values.get("gpus") or ())
        if values.get("work_dir"):
            values["work_dir"] = Path(values["work_dir"])
        values["network_mode"] = NetworkMode(values.get("network_mode", NetworkMode.BRIDGE.value))
        # Fields added later are absent from older records and labels: their defaults apply.
        values["env"] = tuple((str(k), str(v)) for k, v in values.get("env") or ())
        values["secret_names"] = tuple(str(n) for n in values.get("secret_names") or ())
        values["mounts"] = tuple(Mount.from_json(m) for m in values.get("mounts") or ())
        values["extra_args"] = tuple(str(a) for a in values.get("extra_args") or ())
        return cls(**values)


@dataclass
class Notebook:
    """A notebook's live record. Only the manager changes it; everyone else reads it.

    url is the server's base URL without the token; the token never leaves this record except
    through url_with_token() when the user opens the notebook.
    """

    spec: NotebookSpec
    state: NotebookState = NotebookState.CREATING
    url: str | None = None
    token: str | None = field(default=None, repr=False)
    container_id: str | None = None
    error: str | None = None
    started_at: float | None = None
    pull_progress: PullStatus | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def engine(self) -> str:
        return self.spec.engine

    def detach_server(self) -> None:
        """Forget the server this record pointed at (it stopped, failed or went away)."""
        self.container_id = self.url = self.token = None
        self.started_at = None

    def url_with_token(self) -> str | None:
        if not self.url or not self.token:
            return self.url
        return f"{self.url}lab?token={self.token}"

    def uptime(self, now: float | None = None) -> float | None:
        if self.state is not NotebookState.READY or self.started_at is None:
            return None
        return max(0.0, (now or time.time()) - self.started_at)
