"""Changing a stopped notebook: edit its settings, duplicate it under a new name, rename it.

The manager owns the rows and calls in here holding nothing; each edit takes the notebook's lock and
lease itself (and the new name's, for duplicate and rename). Everything that can be checked is checked
before anything changes, so a refused edit leaves the notebook, its files and its secrets as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from desktop.bounded import bounded
from desktop.core.errors import InvalidSpec, LabdockError, NotebookExists
from desktop.core.models import Notebook, NotebookSpec, NotebookState, on_this_machine
from desktop.core.spec_checks import validate_secret_values
from desktop.core.validation import validate_name, validate_spec
from desktop.engines.base import Engine
from desktop.engines.container_spec import free_loopback_port
from desktop.lease import Leases
from desktop.rows import Rows
from desktop.secrets import SecretStore, copy_notebook, forget_notebook, missing_secrets, put_env
from desktop.store import Paths, SpecStore, write_atomic
from desktop.workdir import FolderRoutes


def with_stable_port(spec: NotebookSpec) -> NotebookSpec:
    """A stable-address notebook keeps the port it got first (one is picked now if it has none);
    without a stable address it keeps none."""
    if not spec.stable_address:
        return dataclasses.replace(spec, stable_port=None) if spec.stable_port is not None else spec
    if spec.stable_port is None:
        return dataclasses.replace(spec, stable_port=free_loopback_port())
    return spec


class NotebookEdits:
    def __init__(
        self,
        rows: Rows,
        store: SpecStore,
        secrets: SecretStore,
        paths: Paths,
        leases: Leases,
        lock: Callable[[str], asyncio.Lock],
        name_taken: Callable[[str, str], Awaitable[bool]],  # (name, engine)
        engines: Mapping[str, Engine],
        engine_timeout: float,
        folders: FolderRoutes,
    ) -> None:
        self._rows, self._store, self._secrets, self._paths = rows, store, secrets, paths
        self._leases, self._lock, self._name_taken = leases, lock, name_taken
        self._engines, self._timeout, self._folders = engines, engine_timeout, folders

    def _settled(self, notebook: Notebook, doing: str) -> None:
        if notebook.state not in (NotebookState.STOPPED, NotebookState.FAILED):
            raise LabdockError(f"stop '{notebook.name}' first to {doing} it (it is {notebook.state.value})")

    def _engine(self, spec: NotebookSpec) -> Engine:
        try:
            return self._engines[spec.engine]
        except KeyError:
            raise InvalidSpec(f"unknown engine '{spec.engine}'; available: {', '.join(self._engines)}") from None

    async def _free(self, name: str, engine: str) -> None:
        if await self._name_taken(name, engine):
            raise NotebookExists(name)

    # -- edit ------------------------------------------------------------------------------------

    async def edit(self, name: str, spec: NotebookSpec, secrets: Mapping[str, str] | None) -> Notebook:
        """New settings for a stopped notebook; `secrets`: new values (other secret variables keep theirs)."""
        notebook = self._rows.get(name)
        if spec.name != name:
            raise InvalidSpec("a notebook's name changes with rename, not edit")
        spec = validate_spec(spec)
        self._engine(spec)
        given = dict(secrets or {})
        validate_secret_values(spec.secret_names, given)
        async with self._lock(name):
            self._settled(notebook, "edit")
            async with self._leases.hold(name, wait=0):
                keep = tuple(n for n in spec.secret_names if n not in given)
                missing = await asyncio.to_thread(missing_secrets, self._secrets, name, keep)
                if missing:
                    raise InvalidSpec(
                        f"the secret {missing[0]} needs a value: labdock edit {name} --secret {missing[0]}"
                    )
                before = notebook.spec
                spec = await self._prepared(spec)
                await asyncio.to_thread(self._store.put, spec)
                await asyncio.to_thread(self._save_secrets, before, spec, given)
                self._rows.apply(notebook, spec=spec)
        return notebook

    async def _prepared(self, spec: NotebookSpec) -> NotebookSpec:
        work = await self._folders.ready(spec.engine, spec.name, spec.work_dir)
        return with_stable_port(dataclasses.replace(spec, work_dir=work))

    def _save_secrets(self, before: NotebookSpec, after: NotebookSpec, given: Mapping[str, str]) -> None:
        put_env(self._secrets, after.name, given)
        dropped = tuple(n for n in before.secret_names if n not in after.secret_names)
        if dropped:
            forget_notebook(self._secrets, before, dropped)
        if before.stable_address and not after.stable_address:
            forget_notebook(self._secrets, dataclasses.replace(before, secret_names=()))  # the lasting token

    # -- duplicate -------------------------------------------------------------------------------

    async def duplicate(self, name: str, new_name: str, same_work_dir: bool) -> Notebook:
        """A stopped copy under `new_name`: its own work folder (the same one on request), the same
        secret values, and its own address and token."""
        source = self._rows.get(name)
        validate_name(new_name)
        await self._free(new_name, source.spec.engine)
        spec = dataclasses.replace(
            source.spec, name=new_name, stable_port=None, work_dir=source.spec.work_dir if same_work_dir else None
        )
        async with self._lock(new_name), self._leases.hold(new_name, wait=0):
            await self._free(new_name, source.spec.engine)
            spec = await self._prepared(spec)
            await asyncio.to_thread(copy_notebook, self._secrets, source.spec, new_name, False)
            await asyncio.to_thread(self._store.put, spec)
            notebook = Notebook(spec=spec, state=NotebookState.STOPPED)
            self._rows.apply(notebook)
        return notebook

    # -- rename ----------------------------------------------------------------------------------

    async def rename(self, name: str, new_name: str) -> Notebook:
        """The stopped notebook under `new_name`; its work folder follows when it is the default one."""
        notebook = self._rows.get(name)
        validate_name(new_name)
        if new_name == name:
            return notebook
        await self._free(new_name, notebook.spec.engine)
        async with self._lock(name), self._lock(new_name):
            self._settled(notebook, "rename")
            async with self._leases.hold(name, wait=0), self._leases.hold(new_name, wait=0):
                await self._free(new_name, notebook.spec.engine)
                old = notebook.spec
                renamed = dataclasses.replace(old, name=new_name, work_dir=self._new_work_dir(old, new_name))
                # A stopped server Docker still keeps (stopped outside Labdock) goes, its log kept.
                log = await bounded(self._engine(old).discard(name, notebook.container_id), self._timeout)
                if log:
                    await asyncio.to_thread(write_atomic, self._paths.saved_log(name), log)
                await asyncio.to_thread(self._move, old, renamed)
                self._rows.drop(notebook)
                renamed_row = Notebook(spec=renamed, state=NotebookState.STOPPED)
                self._rows.apply(renamed_row)
        return renamed_row

    def _new_work_dir(self, spec: NotebookSpec, new_name: str) -> Path | None:
        work = spec.work_dir
        if not on_this_machine(spec.engine):
            return work  # on a remote host the folder keeps its name
        if work is None or not _same(work, self._paths.default_work_dir(spec.name)):
            return work  # a folder the user chose stays where it is
        target = self._paths.default_work_dir(new_name)
        if target.exists():
            raise InvalidSpec(f"the folder {target} already exists; move it away or pick another name")
        return target

    def _move(self, old: NotebookSpec, new: NotebookSpec) -> None:
        """Work folder, remembered spec, secrets and saved log, each put back if a later step fails."""
        moved = old.work_dir is not None and new.work_dir != old.work_dir and old.work_dir.exists()
        if moved:
            assert old.work_dir is not None and new.work_dir is not None
            try:
                os.rename(old.work_dir, new.work_dir)
            except OSError as exc:
                raise LabdockError(f"cannot move the work folder to {new.work_dir}: {exc.strerror or exc}") from exc
        try:
            self._store.put(new)
            copy_notebook(self._secrets, old, new.name, True)
        except BaseException:
            with contextlib.suppress(Exception):
                self._store.forget(new.name)
                forget_notebook(self._secrets, new)
            if moved:
                assert old.work_dir is not None and new.work_dir is not None
                os.rename(new.work_dir, old.work_dir)
            raise
        forget_notebook(self._secrets, old)
        with contextlib.suppress(FileNotFoundError):
            os.replace(self._paths.saved_log(old.name), self._paths.saved_log(new.name))
        self._store.forget(old.name)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b
