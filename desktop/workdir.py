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


def why_keep_work_dir(work: Path, work_root: Path, used_by_others: dict[str, Path]) -> str | None:
    """None when deleting `work` on request is safe; else one line saying why it is kept.

    Only a folder strictly inside Labdock's work root, that no other notebook uses (the same folder,
    one inside it or one around it), is ever deleted: a folder the user pointed a notebook at is theirs.
    """
    try:
        target, root = work.resolve(), work_root.resolve()
    except OSError as exc:
        return f"cannot resolve it: {exc.strerror or exc}"
    if not target.is_relative_to(root) or target == root:
        return f"it is not inside Labdock's work folder {root}"
    for other, path in sorted(used_by_others.items()):
        with_other = path.resolve()
        if with_other == target or with_other.is_relative_to(target) or target.is_relative_to(with_other):
            return f"notebook '{other}' also uses it"
    return None
