"""How a notebook becomes a container: the create() arguments, GPU requests, and what we read back.

Pure functions over plain data (no Docker calls), so the security-relevant settings are easy to read
and to test: labels, token by environment only, non-root, no capabilities, loopback-only ports.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.types import DeviceRequest
from docker.types import Mount as DockerMount

from desktop.core.errors import InvalidSpec, LabdockError
from desktop.core.models import ALL_GPUS, NetworkMode, NotebookSpec
from desktop.engines import profiles
from desktop.engines.base import Found

LABEL = "org.labdock"
SPARE_LABEL = f"{LABEL}.spare"  # a spare's match key (desktop.spares); a spare carries no spec label
SPARE_DIR_LABEL = f"{LABEL}.spare-dir"
CONTAINER_PORT = 8888


@dataclass(frozen=True)
class DockerSettings:
    install_id: str
    base_url: str | None = None  # None: found as endpoint.resolve does (context, DOCKER_HOST, local sockets)
    context: str | None = None  # a Docker context by name, when base_url is None
    chosen_in: str = "Preferences"  # where base_url/context were chosen, for messages ("--context")
    container_prefix: str = "labdock-"
    pull_missing: bool = True
    uid: int | None = None  # container user; None: the host user, or 1000 when the host user is root
    # A GPU choice ("all", indices, UUIDs) -> the UUIDs it means on this machine; raises InvalidSpec.
    gpu_resolver: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None
    timeout: float = 60.0  # seconds Docker may take to answer one request before it counts as hung
    bindings_dir: Path | None = None  # where handed-out spares' specs are recorded (desktop.engines.bindings)


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_stable_port(spec: NotebookSpec) -> None:
    """A stable-address notebook's port must be free before its server tries it (it would not move)."""
    if spec.stable_port is None:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no owner
        try:
            probe.bind(("127.0.0.1", spec.stable_port))
        except OSError:
            raise LabdockError(
                f"port {spec.stable_port} of '{spec.name}' (its stable address) is taken by another program: "
                "free it, or turn the stable address off"
            ) from None


def redact(text: str, token: str | None) -> str:
    return text.replace(token, "<token>") if token else text


def redact_hidden(text: str, inspect: dict[str, Any]) -> str:
    """The log text without the container's token and secret values (named by its spec label)."""
    env = container_env(inspect)
    text = redact(text, env.get("JUPYTER_TOKEN"))
    labels = (inspect.get("Config") or {}).get("Labels") or {}
    try:
        names = json.loads(labels.get(f"{LABEL}.spec") or "{}").get("secret_names") or []
    except (ValueError, AttributeError):
        names = []
    for value in sorted((env[n] for n in names if isinstance(n, str) and env.get(n)), key=len, reverse=True):
        text = text.replace(value, "<secret>")
    return text


def container_config(
    settings: DockerSettings,
    spec: NotebookSpec,
    token: str,
    profile: profiles.Profile,
    image_config: dict[str, Any],
    port: int,
    gpu_ids: tuple[str, ...] = (),
    via_cdi: bool = False,
    secret_env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The create() arguments: labels, token by environment, non-root, no privileges, limits, GPUs.

    The user's variables and secrets go by environment (secret values only there: the spec label names
    them); Labdock's own variables and arguments come last, so they win over anything given."""
    if spec.work_dir is None:
        raise InvalidSpec("the notebook has no work folder")
    host_mode = spec.network_mode is NetworkMode.HOST
    uid = settings.uid if settings.uid is not None else (os.getuid() or 1000)
    image_user = str(image_config.get("User") or "")
    user = f"{uid}:100" if profile.user else (image_user or str(uid))
    if user in ("root", "0") or user.startswith(("root:", "0:")):
        user = f"{uid}:{uid}"
    labels = {
        f"{LABEL}.managed": "1",
        f"{LABEL}.install": settings.install_id,
        f"{LABEL}.name": spec.name,
        f"{LABEL}.gpus": ",".join(spec.gpus) or "cpu",
        f"{LABEL}.profile": profile.name,
        f"{LABEL}.created": f"{time.time():.3f}",
        f"{LABEL}.spec": json.dumps(spec.to_json(), sort_keys=True),
    }
    if host_mode:
        labels[f"{LABEL}.port"] = str(port)
    environment = {**dict(spec.env), **(secret_env or {})}
    environment.update(JUPYTER_TOKEN=token, JUPYTER_RUNTIME_DIR="/tmp/jupyter-runtime")
    if spec.run_as_root:
        labels[f"{LABEL}.root"] = "1"  # visible in `docker inspect` and in Labdock's table
    if profile.user is None and not image_user:
        environment.setdefault("HOME", "/tmp")  # an image without a user has no home we may write to
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "command": profile.command("127.0.0.1" if host_mode else "0.0.0.0", port, spec.extra_args),
        "name": f"{settings.container_prefix}{spec.name}",
        "labels": labels,
        "environment": environment,
        "user": user,
        "working_dir": profile.work_mount,
        "volumes": {str(spec.work_dir): {"bind": profile.work_mount, "mode": "rw"}},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "detach": True,
    }
    if spec.run_as_root:
        # Only when the user asked (e.g. to apt-get install inside): root, Docker's default capabilities.
        kwargs.update(user="0", cap_drop=None, security_opt=None)
        kwargs["command"] = [*kwargs["command"], "--ServerApp.allow_root=True"]
        if profile.name == profiles.DOCKER_STACKS:
            environment.update(GRANT_SUDO="yes", NB_UID=str(uid))
    if host_mode:
        kwargs["network_mode"] = "host"
    else:
        kwargs["ports"] = {f"{CONTAINER_PORT}/tcp": ("127.0.0.1", spec.stable_port)}  # None: Docker picks
    if spec.shm_bytes:
        kwargs["shm_size"] = spec.shm_bytes
    if spec.mounts:
        kwargs["mounts"] = [
            DockerMount(m.container_path, str(m.host_path), type="bind", read_only=m.read_only) for m in spec.mounts
        ]
    if spec.survive_reboot:
        # Back with the engine after a reboot or a crash; a stop by Labdock (or `docker stop`) stays stopped.
        kwargs["restart_policy"] = {"Name": "unless-stopped"}
    if spec.cpus:
        kwargs["nano_cpus"] = int(spec.cpus * 1e9)
    if spec.memory_bytes:
        kwargs["mem_limit"] = spec.memory_bytes
    if spec.gpus:
        kwargs["device_requests"] = [gpu_request(gpu_ids or spec.gpus, via_cdi=via_cdi)]
    return kwargs


def as_spare(kwargs: dict[str, Any], key: str, spare_dir: Path) -> dict[str, Any]:
    """A notebook's create() arguments as a spare's: without a spec label a spare is never adopted as a
    notebook (find() skips it), and it carries its match key and its own folder instead."""
    labels = {k: v for k, v in kwargs["labels"].items() if k != f"{LABEL}.spec"}
    labels.update({SPARE_LABEL: key, SPARE_DIR_LABEL: str(spare_dir)})
    return {**kwargs, "labels": labels}


def keep_id_mode(user: str) -> str | None:
    """Rootless Podman's UsernsMode that maps the user running Podman (who owns the work folder) onto the
    container's numeric user ("1000:100" -> "keep-id:uid=1000,gid=100"); None for root, which is that user
    already, and for a user named rather than numbered (plain keep-id maps the same uid inside)."""
    uid, _, gid = user.partition(":")
    if uid in ("0", "root"):
        return None
    if not uid.isdigit():
        return "keep-id"
    return f"keep-id:uid={uid}" + (f",gid={gid}" if gid.isdigit() else "")


def gpu_request(gpus: tuple[str, ...], via_cdi: bool = False) -> DeviceRequest:
    """Exactly the chosen GPUs (UUIDs, as resolved on this machine), or all of them.

    Engines set up for CDI name devices `nvidia.com/gpu=<id>`; others use the NVIDIA runtime hook.
    """
    if via_cdi:
        ids = ["nvidia.com/gpu=all"] if gpus == ALL_GPUS else [f"nvidia.com/gpu={g}" for g in gpus]
        return DeviceRequest(driver="cdi", device_ids=ids)
    if gpus == ALL_GPUS:
        return DeviceRequest(count=-1, capabilities=[["gpu"]])
    return DeviceRequest(device_ids=list(gpus), capabilities=[["gpu"]])


def split_tag(image: str) -> tuple[str, str]:
    """'quay.io/jupyter/base-notebook:2024' -> ('quay.io/jupyter/base-notebook', '2024'); digests kept whole."""
    if "@" in image:
        repository, digest = image.split("@", 1)
        return repository, digest
    if ":" in image.rsplit("/", 1)[-1]:
        repository, tag = image.rsplit(":", 1)
        return repository, tag
    return image, "latest"


def container_env(inspect: dict[str, Any]) -> dict[str, str]:
    items = (inspect.get("Config") or {}).get("Env") or []
    return dict(item.split("=", 1) for item in items if "=" in item)


def published_port(inspect: dict[str, Any]) -> int | None:
    bindings = ((inspect.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{CONTAINER_PORT}/tcp") or []
    for binding in bindings:
        if binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


def exit_code_of(status: str) -> int | None:
    # The list call's Status reads like "Exited (137) 5 minutes ago".
    if "(" in status and ")" in status:
        try:
            return int(status.split("(", 1)[1].split(")", 1)[0])
        except ValueError:
            return None
    return None


# -- ownership: what proves a container is this installation's ------------------------------------


def ours_filter(install_id: str) -> dict[str, list[str]]:
    return {"label": [f"{LABEL}.managed=1", f"{LABEL}.install={install_id}"]}


def name_filter(container_name: str) -> dict[str, str]:
    """The name filter is a regular expression, searched in '/name' by Docker and in 'name' by Podman:
    anchor it to the whole name, with the slash optional."""
    return {"name": f"^/?{re.escape(container_name)}$"}


def named(rows: list[dict[str, Any]], container_name: str) -> dict[str, Any] | None:
    """The list row whose name is exactly `container_name` (the filter alone also matches look-alikes)."""
    return next((row for row in rows if f"/{container_name}" in (row.get("Names") or [])), None)


def is_ours(labels: dict[str, str] | None, install_id: str) -> bool:
    labels = labels or {}
    return labels.get(f"{LABEL}.managed") == "1" and labels.get(f"{LABEL}.install") == install_id


def ownership_problem(
    container_name: str, labels: dict[str, str] | None, actual_id: str, install_id: str, expected_id: str | None
) -> str | None:
    """Why this installation may not touch the container, or None when it may.

    Ids are compared whole: a short id the caller kept must not match a different container by prefix.
    """
    if not is_ours(labels, install_id):
        return (
            f"a container named '{container_name}' exists but was not made by this Labdock installation; "
            "it was left alone"
        )
    if expected_id is not None and expected_id != actual_id:
        return (
            f"the container '{container_name}' is not the one this notebook started (it was made again "
            "since); it was left alone: refresh the list"
        )
    return None


def found_from_row(row: dict[str, Any], spec: NotebookSpec | None = None) -> Found:
    """A container list row of ours as a Found; raises ValueError (or KeyError) for unreadable labels.
    `spec`: a handed-out spare's, recorded beside it since Docker cannot relabel a container."""
    labels = row.get("Labels") or {}
    spec = spec or NotebookSpec.from_json(json.loads(labels[f"{LABEL}.spec"]))
    # "restarting": its restart policy is bringing it back; seen as a server that is starting.
    running = row.get("State") in ("running", "restarting")
    port: int | None = None
    if spec.network_mode is NetworkMode.HOST:
        port = int(labels.get(f"{LABEL}.port", "0")) or None
    else:
        port = next(
            (
                int(p["PublicPort"])
                for p in row.get("Ports") or []
                if p.get("PrivatePort") == CONTAINER_PORT and p.get("PublicPort")
            ),
            None,
        )
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    created = float(labels.get(f"{LABEL}.created", row.get("Created", 0)))
    if created != created or created < 0:  # NaN or negative
        raise ValueError(f"creation time {created}")
    return Found(
        spec=spec,
        container_id=str(row["Id"]),
        running=running,
        never_started=row.get("State") == "created",
        url=f"http://127.0.0.1:{port}/" if running and port else None,
        exit_code=exit_code_of(str(row.get("Status", ""))) if not running else None,
        created_at=created,
    )
