"""A notebook's work folder on the host: resolved, created, checked, before any container exists."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from desktop.core.errors import InvalidSpec
from desktop.core.models import NotebookSpec, on_this_machine

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


class WorkFolders(Protocol):
    """Work folders on the machine that runs a notebook: this one, or a remote host."""

    where: str  # "this machine" or the host's name, for messages

    async def default(self, name: str) -> Path:
        """Where a notebook's folder goes when the user chose none."""

    async def prepare(self, work: Path) -> Path:
        """The folder made ready (prepare_work_dir's contract), as an absolute path on that machine."""

    async def delete(self, work: Path, used_by_others: Mapping[str, Path]) -> str | None:
        """Delete the folder when why_keep_work_dir allows it; else the reason it is kept."""


class LocalWorkFolders:
    where = "this machine"

    def __init__(self, work_root: Path, container_uid: int) -> None:
        self.work_root, self._uid = work_root, container_uid

    async def default(self, name: str) -> Path:
        return self.work_root / name

    async def prepare(self, work: Path) -> Path:
        return await asyncio.to_thread(prepare_work_dir, work, self._uid)

    async def delete(self, work: Path, used_by_others: Mapping[str, Path]) -> str | None:
        def run() -> str | None:
            kept_because = why_keep_work_dir(work, self.work_root, dict(used_by_others))
            if kept_because is None:
                shutil.rmtree(work, ignore_errors=True)
            return kept_because

        return await asyncio.to_thread(run)


class FolderRoutes:
    """The work folders of each engine: this machine's for the local engines, a host's own for each host."""

    def __init__(self, local: LocalWorkFolders, remote: Mapping[str, WorkFolders] | None = None) -> None:
        self.local = local
        self.remote: dict[str, WorkFolders] = dict(remote or {})

    def of(self, engine: str) -> WorkFolders:
        if on_this_machine(engine) or engine not in self.remote:
            return self.local
        return self.remote[engine]

    async def delete(self, spec: NotebookSpec, work: Path, specs: Iterable[NotebookSpec]) -> str | None:
        """Delete the notebook's folder when no other notebook on its machine uses it (`specs`: every known
        notebook); else the reason it is kept."""
        folders = self.of(spec.engine)
        others: dict[str, Path] = {}
        for other in specs:
            if other.name != spec.name and other.work_dir is not None and self.of(other.engine) is folders:
                others.setdefault(other.name, other.work_dir)
        return await folders.delete(work, others)

    async def ready(self, engine: str, name: str, work: Path | None) -> Path:
        """The notebook's folder, made ready on its machine (the default one when `work` is None)."""
        folders = self.of(engine)
        return await folders.prepare(work or await folders.default(name))
