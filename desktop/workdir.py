"""A notebook's work folder on the host: resolved, created, checked, before any container exists."""

from __future__ import annotations

import os
from pathlib import Path

from desktop.core.errors import InvalidSpec

CONTAINER_GID = 100  # "users", the group of docker-stacks' jovyan


def prepare_work_dir(work: Path, container_uid: int) -> Path:
    """The absolute, existing, writable folder, or InvalidSpec saying plainly why it cannot be used.

    Never deletes or changes an existing folder; a folder it creates as root is handed to the
    container's non-root user so the notebook can write there.
    """
    work = work.expanduser()
    if not work.is_absolute():
        work = Path.cwd() / work
    if work.exists() and not work.is_dir():
        raise InvalidSpec(f"the work folder {work} is a file, not a folder")
    created = not work.exists()
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidSpec(f"cannot create the work folder {work}: {exc.strerror or exc}") from exc
    if not os.access(work, os.W_OK | os.X_OK):
        raise InvalidSpec(f"the work folder {work} is not writable")
    if created and os.getuid() == 0:
        os.chown(work, container_uid, CONTAINER_GID)
    return work
