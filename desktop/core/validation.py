"""Checks on what the user typed, each failing with a reason a person can act on."""

from __future__ import annotations

import dataclasses
import os
import re

from desktop.core.errors import InvalidSpec
from desktop.core.models import PROFILE_NAMES, NotebookSpec, on_this_machine
from desktop.core.spec_checks import (
    validate_env,
    validate_extra_args,
    validate_idle_minutes,
    validate_mounts,
    validate_shm,
    validate_stable_port,
)

NAME_MAX = 40
_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
MIN_MEMORY = 64 * 1024**2  # JupyterLab does not start in less


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a notebook, or None. Names become container names and folder names."""
    if not name:
        return "a name is required"
    if name != name.strip():
        return "the name cannot start or end with spaces"
    if len(name) > NAME_MAX:
        return f"the name is {len(name)} characters long; at most {NAME_MAX}"
    if not _NAME_RE.match(name):
        return "use lowercase letters, digits and '-' (not at the start or end), e.g. 'vision-2'"
    return None


def validate_name(name: str) -> str:
    problem = name_problem(name)
    if problem:
        raise InvalidSpec(f"invalid name {name!r}: {problem}")
    return name


def parse_memory(text: str) -> int:
    """'8g', '512m', '1.5GiB' -> bytes."""
    match = _MEMORY_RE.match(text)
    if not match:
        raise InvalidSpec(f"invalid memory limit {text!r}: use a number with a unit, e.g. 8g or 512m")
    value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    return validate_memory(value)


def validate_memory(value: int) -> int:
    if value < MIN_MEMORY:
        raise InvalidSpec("the memory limit must be at least 64m (JupyterLab needs more than that)")
    return value


def validate_cpus(value: float, available: int | None = None) -> float:
    if not value > 0:
        raise InvalidSpec("the CPU limit must be more than 0")
    if available is not None and value > available:
        raise InvalidSpec(f"the CPU limit is {value:g} but this machine has {available} CPUs")
    return value


def validate_image(image: str) -> str:
    image = image.strip()
    if not image or any(c.isspace() for c in image):
        raise InvalidSpec(f"invalid image name {image!r}")
    return image


_IMAGE_NAME = re.compile(r"^(?P<name>[^@]+?)(?::[\w][\w.-]{0,127})?(?:@.+)?$")


def lower_case_problem(image: str) -> str | None:
    """The message for an image reference Docker would refuse for its case, or None when it is fine.

    Docker accepts an upper-case registry host ('Quay.io/x') and then asks that registry; Labdock asks
    for lower case everywhere before the tag, so the user hears it before anything is pulled.
    """
    match = _IMAGE_NAME.match(image)
    name = match.group("name") if match else image
    if name != name.lower():
        return f"invalid image reference '{image}': use lower case"
    return None


def validate_spec(spec: NotebookSpec) -> NotebookSpec:
    """Everything about a request that can be checked without Docker; returns it normalised."""
    validate_name(spec.name)
    image = validate_image(spec.image)
    here = on_this_machine(spec.engine)
    problem = lower_case_problem(image) if spec.engine != "local" else None  # Local runs no image
    if problem is not None:
        raise InvalidSpec(problem)
    if spec.cpus is not None:
        validate_cpus(spec.cpus, os.cpu_count() if here else None)  # a remote host's Docker checks its own
    if spec.memory_bytes is not None:
        validate_memory(spec.memory_bytes)
    if spec.profile not in PROFILE_NAMES:
        raise InvalidSpec(f"unknown image profile {spec.profile!r}; use one of {', '.join(PROFILE_NAMES)}")
    validate_env(spec.env, spec.secret_names)
    if spec.shm_bytes is not None:
        validate_shm(spec.shm_bytes)
    validate_mounts(spec.mounts, here)
    validate_extra_args(spec.extra_args)
    if spec.idle_stop_minutes is not None:
        validate_idle_minutes(spec.idle_stop_minutes)
    if spec.stable_port is not None:
        validate_stable_port(spec.stable_port)
    problem = local_engine_problem(spec)
    if problem is not None:
        raise InvalidSpec(problem)
    return dataclasses.replace(spec, image=image)


def local_engine_problem(spec: NotebookSpec) -> str | None:
    """Settings only a container has, asked of a Local notebook (a process on this machine)."""
    if spec.engine != "local":
        return None
    asked = [
        what
        for what, given in (
            ("shared memory", spec.shm_bytes is not None),
            ("mounts", bool(spec.mounts)),
            ("surviving reboots", spec.survive_reboot),
        )
        if given
    ]
    if not asked:
        return None
    return f"the Local engine runs JupyterLab as a process here: {', '.join(asked)} need the Docker engine"


def format_bytes(value: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")
