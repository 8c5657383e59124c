"""Warm start: one spare notebook server per default image, started ahead of time and handed to the next
new notebook that matches it, so that notebook is READY at once.

A spare is an ordinary, fully locked-down notebook container with its own fresh token and its own empty
folder under the work root, labelled `org.labdock.spare` (its match key) and carrying no spec label, so it
is never adopted or listed as a notebook. A hand-out, under the notebook's launch lease and the spare's own
lease (so two processes never take the same spare):
  1. record the binding (engines.bindings),   2. rename the spare's folder to the notebook's work folder
  (the bind mount follows the directory),     3. apply CPU/memory limits,
  4. rename the container to the notebook's name: the commit point,   5. remember the spec.
Killed before 4, the container is still a spare (one whose hand-out began is retired by the next sweep);
killed after, it is the notebook, which any Labdock adopts. Only the long-lived window keeps spares
(`start`); a CLI command may take one but never refills: it would exit with a half-made spare behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.bounded import bounded
from desktop.core.errors import LabdockError
from desktop.core.models import ALL_GPUS, NotebookSpec
from desktop.engines.bindings import Binding, Bindings
from desktop.engines.container_spec import SPARE_DIR_LABEL, SPARE_LABEL, found_from_row
from desktop.engines.docker_engine import DockerEngine
from desktop.engines.readiness import http_status, wait_ready
from desktop.lease import Leases
from desktop.settings import Settings, load_settings
from desktop.store import Paths, SpecStore
from desktop.workdir import prepare_work_dir

log = logging.getLogger(__name__)
BUSY_POLL = 0.5
BUSY_WAIT_MAX = 60.0  # a refill waits at most this long for launches to end

TOKEN_BYTES = 32
POOL_LEASE = "spares:pool"  # one refill at a time across Labdock processes
BINDINGS_FOLDER = "spare-bindings"  # under the config folder; the engine's find() reads it too


@dataclass(frozen=True)
class Handed:
    """A spare now serving a notebook."""

    container_id: str
    url: str
    token: str


def match_key(spec: NotebookSpec) -> str:
    """What a spare must share with a notebook to serve it: everything but the name, the work folder and
    what a running container can still take (limits) or that is Labdock's own (idle stop, reservation)."""
    general = dataclasses.replace(
        spec, name="", work_dir=None, cpus=None, memory_bytes=None, idle_stop_minutes=None, exclusive_gpus=False
    )
    return json.dumps(general.to_json(), sort_keys=True)


def mem_available() -> int | None:
    """MemAvailable from /proc/meminfo in bytes; None where there is no such file."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class Spares:
    def __init__(
        self,
        engine: DockerEngine,
        paths: Paths,
        *,
        container_uid: int,
        has_gpus: Callable[[], bool] = lambda: False,
        ready_timeout: float = 120.0,
        engine_timeout: float = 60.0,
        free_memory: Callable[[], int | None] = mem_available,
    ) -> None:
        self.engine = engine
        self.paths = paths
        self._uid = container_uid
        self._has_gpus = has_gpus
        self._ready_timeout = ready_timeout
        self._engine_timeout = engine_timeout
        self._free_memory = free_memory
        self._leases = Leases(paths.leases_dir)
        self._bindings = Bindings(engine.settings.bindings_dir or paths.config_dir / BINDINGS_FOLDER)
        self._store = SpecStore(paths)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._interval = 60.0
        # Launches in flight: a refill waits for them, so a spare's boot never competes with the notebooks
        # the user is waiting for (set by services to the manager's own view).
        self.busy: Callable[[], bool] = lambda: False

    # -- what is wanted -------------------------------------------------------------------------

    def settings(self) -> Settings:
        return load_settings(self.paths)  # read each time: Preferences may change in any process

    def wanted(self, settings: Settings) -> list[NotebookSpec]:
        """The spares to keep: none when turned off or short of memory; else one for the default image
        (and one for the default GPU image with all GPUs, where there are GPUs), as a new notebook has them."""
        free = self._free_memory()
        if settings.default_engine != self.engine.name or not settings.keep_spare:
            return []
        if free is not None and free < settings.spare_min_free_mb * 1024**2:
            return []
        network = settings.network
        wanted = [NotebookSpec("", settings.default_image, network_mode=network)]
        if self._has_gpus():
            shm = settings.default_shm_bytes(ALL_GPUS)
            wanted.append(NotebookSpec("", settings.default_gpu_image, ALL_GPUS, network_mode=network, shm_bytes=shm))
        return wanted

    # -- hand-out -------------------------------------------------------------------------------

    async def hand_out(self, spec: NotebookSpec) -> Handed | None:
        """A running spare for `spec`, now the notebook's, or None (launch it cold). The caller holds the
        notebook's launch lease and has prepared its (default, empty) work folder."""
        settings = await asyncio.to_thread(self.settings)
        if spec.engine != self.engine.name or not settings.keep_spare or self.engine.settings.bindings_dir is None:
            return None
        if not await asyncio.to_thread(self._fits, spec):
            return None
        key = match_key(spec)
        try:
            rows = await bounded(self.engine.spare_rows(), self._engine_timeout)
        except LabdockError as exc:
            log.info("no spare for '%s': %s", spec.name, exc)
            return None
        for row in rows:
            labels = row.get("Labels") or {}
            if labels.get(SPARE_LABEL) != key or row.get("State") != "running":
                continue
            fd = self._leases.try_take(_lease(row))
            if fd is None:
                continue  # being made, or taken by another process right now
            try:
                handed = await self._bind(row, spec)
            finally:
                self._leases.release(fd)
            if handed is not None:
                self.refill_soon()
                return handed
        return None

    def _fits(self, spec: NotebookSpec) -> bool:
        default = self.paths.default_work_dir(spec.name)
        if spec.work_dir is None or spec.work_dir.resolve() != default.resolve():
            return False
        return spec.work_dir.is_dir() and not any(spec.work_dir.iterdir())

    async def _bind(self, row: dict[str, Any], spec: NotebookSpec) -> Handed | None:
        ident = str(row["Id"])
        spare_dir = Path((row.get("Labels") or {}).get(SPARE_DIR_LABEL, ""))
        # Under the spare's lease, check again: another process may have taken it and let go since.
        fresh = {str(r["Id"]): r for r in await bounded(self.engine.spare_rows(), self._engine_timeout)}.get(ident)
        if fresh is None or fresh.get("Names") != row.get("Names") or self._bindings.read(ident) is not None:
            return None
        if spec.work_dir is None or not await asyncio.to_thread(spare_dir.is_dir):
            return None
        found = found_from_row(fresh, spec)
        token = await bounded(self.engine.token(ident), self._engine_timeout)
        if found.url is None or token is None or await http_status(found.url, "api/status", token) != 200:
            return None
        await asyncio.to_thread(self._bindings.write, ident, Binding(spec, spare_dir))
        await asyncio.to_thread(os.rename, spare_dir, spec.work_dir)  # onto the empty folder made for it
        await bounded(self.engine.update_limits(ident, spec.cpus, spec.memory_bytes), self._engine_timeout)
        await bounded(self.engine.rename(ident, spec.name), self._engine_timeout)  # the commit point
        await asyncio.to_thread(self._store.put, spec)
        log.info("'%s' took a spare (%s)", spec.name, ident[:12])
        return Handed(ident, found.url, token)

    # -- keeping spares -------------------------------------------------------------------------

    def start(self, interval: float = 60.0) -> None:
        """Keep spares for as long as this process runs (the window): now, after each hand-out, after
        `refill_soon` (Preferences changed) and every `interval` seconds (memory pressure)."""
        self._interval = interval
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._keep(), name="labdock:spares")

    def refill_soon(self) -> None:
        """Bring spares in line with the preferences soon; only where `start` was called."""
        self._wake.set()

    async def _keep(self) -> None:
        while True:
            self._wake.clear()
            waited = 0.0
            while self.busy() and waited < BUSY_WAIT_MAX:
                await asyncio.sleep(BUSY_POLL)
                waited += BUSY_POLL
            try:
                await self.refill()
            except LabdockError as exc:
                log.info("spares not refilled: %s", exc)
            except Exception:
                log.exception("refilling spares failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)

    async def refill(self) -> None:
        """One pass: retire spares nobody wants (stale image or preferences, memory short, a hand-out that
        never finished), tidy bindings of containers that are gone, and make what is missing."""
        fd = self._leases.try_take(POOL_LEASE)
        if fd is None:
            return  # another Labdock is doing it
        try:
            # Off the loop: settings are a file, and asking NVML whether there are GPUs may block.
            templates = await asyncio.to_thread(lambda: self.wanted(self.settings()))
            wanted = {match_key(spec): spec for spec in templates}
            rows = await bounded(self.engine.spare_rows(), self._engine_timeout)
            have: set[str] = set()
            for row in rows:
                if self.engine.handed_out(row) is not None:
                    continue  # a notebook now
                key = (row.get("Labels") or {}).get(SPARE_LABEL, "")
                if key in wanted and key not in have and self._healthy(row):
                    have.add(key)
                else:
                    await self._retire(row)
            live = {str(row["Id"]) for row in rows}
            for ident in self._bindings.ids():
                if ident not in live:  # its notebook was removed: nothing reads this binding again
                    await asyncio.to_thread(self._bindings.forget, ident)
            for key, spec in wanted.items():
                if key not in have:
                    try:
                        await self._make(key, spec)
                    except LabdockError as exc:  # e.g. no GPU runtime: the other spares are still made
                        log.info("no spare for %s: %s", spec.image, exc)
        finally:
            self._leases.release(fd)

    def _healthy(self, row: dict[str, Any]) -> bool:
        spare_dir = Path((row.get("Labels") or {}).get(SPARE_DIR_LABEL, "/nonexistent"))
        begun = self._bindings.read(str(row["Id"])) is not None  # a hand-out that stopped half way
        return row.get("State") == "running" and spare_dir.is_dir() and not begun

    async def _retire(self, row: dict[str, Any]) -> bool:
        """Remove a spare no one is taking right now, with its folder and binding."""
        fd = self._leases.try_take(_lease(row))
        if fd is None:
            return False
        try:
            ident = str(row["Id"])
            if self.engine.handed_out(row) is not None:
                return False
            await bounded(self.engine.remove_container(ident), self._engine_timeout)
            await asyncio.to_thread(self._bindings.forget, ident)
            spare_dir = Path((row.get("Labels") or {}).get(SPARE_DIR_LABEL, ""))
            if spare_dir.parent == self._spares_root():  # never anything outside Labdock's own spares folder
                await asyncio.to_thread(shutil.rmtree, spare_dir, True)
            log.info("retired spare %s", ident[:12])
            return True
        finally:
            self._leases.release(fd)

    def _spares_root(self) -> Path:
        return self.paths.work_root / ".spares"

    async def _make(self, key: str, template: NotebookSpec) -> None:
        name = f"spare.{secrets.token_hex(6)}"  # a dot: never a notebook's name
        fd = self._leases.try_take(self.engine.container_name(name))
        if fd is None:
            return
        try:
            if await bounded(self.engine.image_env_and_labels(template.image), self._engine_timeout) is None:
                log.info("no spare for %s: the image is not on this machine", template.image)
                return  # never pull gigabytes in the background for a spare
            work = await asyncio.to_thread(prepare_work_dir, self._spares_root() / name, self._uid)
            spec = dataclasses.replace(template, name=name, work_dir=work)
            token, started = secrets.token_urlsafe(TOKEN_BYTES), None
            try:
                await bounded(self.engine.prepare(spec, None), self._engine_timeout)
                started = await bounded(self.engine.start(spec, token, spare_key=key), self._engine_timeout)
                ident, exit_status = started.container_id, self.engine.exit_status
                await wait_ready(started.url, token, lambda: exit_status(ident), self._ready_timeout)
            except BaseException:  # nothing half made stays behind, whatever stopped it
                if started is not None:
                    with contextlib.suppress(LabdockError):
                        await self.engine.remove_container(started.container_id)
                await asyncio.to_thread(shutil.rmtree, work, True)
                raise
            log.info("spare ready for %s (%s)", template.image, started.container_id[:12])
        finally:
            self._leases.release(fd)

    async def memory_bytes(self) -> int:
        """What the spares waiting now take in memory, for the status bar (their cost made visible)."""
        total = 0
        for row in await bounded(self.engine.spare_rows(), self._engine_timeout):
            if self.engine.handed_out(row) is None and row.get("State") == "running":
                usage = await bounded(self.engine.memory_usage(str(row["Id"])), self._engine_timeout)
                total += usage or 0
        return total

    async def stop(self) -> None:
        """Stop keeping spares (those made stay)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None

    async def quit(self, keep_running: bool) -> None:
        """At Quit, before manager.close(): stop keeping spares, and remove them unless the user keeps
        notebooks running."""
        await self.stop()
        if not keep_running:
            await self.retire_all()

    async def retire_all(self) -> None:
        for row in await bounded(self.engine.spare_rows(), self._engine_timeout):
            if self.engine.handed_out(row) is None:
                await self._retire(row)


def _lease(row: dict[str, Any]) -> str:
    """A spare's lease is named after its spare container name (taken before it exists, while it is made)."""
    names = row.get("Names") or [""]
    return str(names[0]).lstrip("/")
