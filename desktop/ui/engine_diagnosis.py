"""What the engine's one-line problem means, and the one fix for it, for the banner.

The lines come from desktop.engines.docker_errors (and the endpoint resolution); each kind of trouble
is told apart there by its wording, so this reads that wording back. Whether a unix socket exists
(missing: the daemon is not running or not installed; present: it does not answer) is looked up by
`diagnose`, a file check, so callers run it off the Qt thread. Qt-free.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Diagnosis:
    cause: str  # what is wrong, first
    fix: str  # the one thing to do about it (HTML: commands in <code>)
    retry_helps: bool = False  # nothing to change: the next try may work


_URL = re.compile(r"\bat (unix://\S+|tcp://\S+|ssh://\S+|npipe://\S+|https?://\S+)")


def product_of(problem: str) -> str:
    return "Podman" if problem.startswith("Podman") else "Docker"


def socket_of(problem: str) -> Path | None:
    """The unix socket the message names, if it names one."""
    match = _URL.search(problem)
    if match is None or not match.group(1).startswith("unix://"):
        return None
    return Path(match.group(1).removeprefix("unix://").rstrip(":,;)"))


def diagnose(
    problem: str,
    exists: Callable[[Path], bool] = Path.exists,
    installed: Callable[[], bool] = lambda: bool(shutil.which("dockerd") or shutil.which("docker")),
) -> Diagnosis:
    product = product_of(problem)
    service = "podman.socket" if product == "Podman" else "docker"
    if "refused access" in problem:
        if product == "Podman":
            fix = "Use your own Podman socket: <code>systemctl --user enable --now podman.socket</code>"
        else:
            fix = (
                "Add yourself to the docker group: <code>sudo usermod -aG docker $USER</code>, "
                "then log out and in again."
            )
        return Diagnosis(f"Permission denied: you may not use the {product} socket.", fix)
    if "did not answer within" in problem:
        return Diagnosis(
            f"The {product} daemon is not answering.", f"Restart it: <code>sudo systemctl restart {service}</code>"
        )
    if "closed the connection" in problem or "cut off or unreadable" in problem:
        return Diagnosis(f"The connection to {product} broke off.", "Retry.", retry_helps=True)
    if "is not reachable at" in problem:
        return _unreachable(problem, product, service, exists, installed)
    return Diagnosis(
        f"{product} cannot be used as set up.", "Check the Docker host or context in Preferences, then Retry."
    )


def _unreachable(
    problem: str,
    product: str,
    service: str,
    exists: Callable[[Path], bool],
    installed: Callable[[], bool],
) -> Diagnosis:
    path = socket_of(problem)
    if path is None:
        return Diagnosis(
            f"{product} does not answer at the address set up.",
            "Check that the host is up and its address in Preferences, then Retry.",
        )
    if exists(path):
        return Diagnosis(
            f"The {product} daemon does not answer on {path}.",
            f"Restart it: <code>sudo systemctl restart {service}</code>",
        )
    if not installed():
        return Diagnosis(
            f"{product} is not installed (no socket at {path}).",
            "Install it: <code>sudo apt install docker.io</code> (or Docker Desktop), or use the Local engine.",
        )
    return Diagnosis(
        f"The {product} daemon is not running (no socket at {path}).",
        f"Start it: <code>sudo systemctl start {service}</code>",
    )
