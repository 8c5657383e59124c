"""Image profiles: how to start JupyterLab in a given kind of image.

- docker-stacks: the Jupyter docker-stacks images (start-notebook.py, user jovyan uid 1000, gid 100,
  /home/jovyan/work), including their CUDA variants.
- plain: any image with `jupyter lab` on PATH.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from desktop.core.models import PLAIN_WORK_MOUNT, PROFILE_NAMES, STACKS_WORK_MOUNT

PROFILES = PROFILE_NAMES
AUTO, DOCKER_STACKS, PLAIN = PROFILES

# Our server settings: no browser, no news or update prompts in embedded tabs, no port hopping
# (a taken port must fail loudly, not move silently). The token comes from JUPYTER_TOKEN.
COMMON_ARGS = (
    "--ServerApp.open_browser=False",
    "--ServerApp.port_retries=0",
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
)


@dataclass(frozen=True)
class Profile:
    name: str
    work_mount: str
    user: str | None  # None: the image's own user
    base_command: tuple[str, ...]

    def command(self, ip: str, port: int, extra: Sequence[str] = ()) -> list[str]:
        """The user's extra arguments first, Labdock's after them: for a setting given twice the last wins."""
        return [
            *self.base_command,
            *extra,
            f"--ServerApp.ip={ip}",
            f"--ServerApp.port={port}",
            f"--ServerApp.root_dir={self.work_mount}",
            *COMMON_ARGS,
        ]


_PROFILES = {
    DOCKER_STACKS: Profile(DOCKER_STACKS, STACKS_WORK_MOUNT, "1000:100", ("start-notebook.py",)),
    PLAIN: Profile(PLAIN, PLAIN_WORK_MOUNT, None, ("jupyter", "lab")),
}


def get(name: str) -> Profile:
    try:
        return _PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown image profile {name!r}; known: {', '.join(PROFILES)}") from None


def detect(image: str, image_cmd: Sequence[str] | None, image_env: Sequence[str] | None) -> str:
    """Guess the profile from the image's name and configuration."""
    repo = image.split("@")[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    if repo.startswith(("jupyter/", "quay.io/jupyter/", "docker.io/jupyter/")):
        return DOCKER_STACKS
    if any("start-notebook" in part for part in image_cmd or ()):
        return DOCKER_STACKS
    if any(item.startswith("NB_USER=") for item in image_env or ()):
        return DOCKER_STACKS
    return PLAIN
