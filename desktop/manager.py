"""NotebookManager: the one place that changes notebook state.

Async, Qt-free. Operations on one notebook are serialised by a per-notebook lock inside this process
and by a lease (desktop.lease) across Labdock processes; different notebooks proceed in parallel. A
stop during a launch cancels the launch first (the lock would make it wait for READY otherwise) and
then removes whatever the launch had made. Every row change goes through `_apply`, which always
emits; every path ends a row in a settled or truthful state, whatever the engine raises.
Adoption rules live in desktop.reconcile; this module carries out what they decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from desktop.adoption import Adoption
from desktop.bounded import bounded
from desktop.core.errors import (
    EngineUnavailable,
    InvalidSpec,
    LabdockError,
    LaunchFailed,
    LeaseHeld,
    NotebookExists,
    NotOurs,
)
from desktop.core.models import Notebook, NotebookSpec, NotebookState, PullStatus, on_this_machine
from desktop.core.spec_checks import validate_secret_values
from desktop.core.validation import validate_spec
from desktop.engines.base import Engine, Found, last_lines
from desktop.engines.readiness import wait_ready
from desktop.gpu import Inventory
from desktop.gpu_claims import GpuClaims
from desktop.host_health import HostHealth
from desktop.idle_stop import IdleStop
from desktop.launch_checks import Checked, LaunchChecks, WarningListener
from desktop.lease import Leases
from desktop.notebook_edits import NotebookEdits, with_stable_port
from desktop.notebook_kernels import NotebookKernels
from desktop.reconcile import Facts, KnownRow, reconcile
from desktop.rows import SERVER_GONE, Listener, Rows
from desktop.secrets import SecretStore, forget_notebook, launch_secrets, put_env
from desktop.spares import Spares
from desktop.store import Paths, SpecStore, write_atomic
from desktop.workdir import FolderRoutes, LocalWorkFolders, WorkFolders

log = logging.getLogger(__name__)
T = TypeVar("T")

TOKEN_BYTES = 32
PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class Removed:
    """What `remove` did with the work folder."""

    work_dir: Path | None
    work_deleted: bool
    kept_because: str | None = None  # set when deletion was asked for and refused


REMOTE_FIND_S = 8.0  # a remote host's list, healthy, takes well under a second
EngineListener = Callable[[str | None], None]  # the engine's problem, or None once it answers again


class NotebookManager:
    def __init__(
        self,
        engine: Engine | list[Engine],
        paths: Paths,
        *,
        ready_timeout: float = 120.0,
        stop_timeout: float = 10.0,
        engine_timeout: float = 60.0,
        container_uid: int = 1000,
        gpu_resolver: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
        secret_store: SecretStore | None = None,
        gpu_inventory: Callable[[], Inventory] | None = None,
        remote_folders: Mapping[str, WorkFolders] | None = None,
    ) -> None:
        self.engines: dict[str, Engine] = {e.name: e for e in ([engine] if not isinstance(engine, list) else engine)}
        self.engine = next(iter(self.engines.values()))  # the default engine
        self.paths = paths
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.engine_timeout = engine_timeout
        self.folders = FolderRoutes(LocalWorkFolders(paths.work_root, container_uid), remote_folders)
        self._gpu_resolver = gpu_resolver
        self._store = SpecStore(paths)
        self._leases = Leases(paths.leases_dir)
        self._rows = Rows()
        self._reserved: set[str] = set()  # names a create() is checking, before their row exists
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._engine_listeners: list[EngineListener] = []
        self._adoption = Adoption(self._rows, self.engines, self._leases, engine_timeout, self._watch_in_background)
        claims = GpuClaims(paths.leases_dir / "gpus")
        self._checks = LaunchChecks(self._rows.list, self.engines.values, gpu_inventory, engine_timeout, claims)
        self.engine_problem: str | None = None  # this machine's Docker; remote hosts' in self.hosts
        self.hosts = HostHealth()
        self.secrets = secret_store or SecretStore(paths)
        self._edits = NotebookEdits(
            self._rows,
            self._store,
            self.secrets,
            paths,
            self._leases,
            self._lock,
            self._name_taken,
            self.engines,
            engine_timeout,
            self.folders,
        )
        self.idle = IdleStop(self.list, self._stop_idle, self._known_token)  # watch_idle() runs it
        self.kernels = NotebookKernels(self._rows, self._known_token)  # the GPU dock's kernel lines and actions
        self._idle_task: asyncio.Task[None] | None = None
        self.spares: Spares | None = None  # warm start, where services set it up

    # -- reading -------------------------------------------------------------------------------

    def list(self) -> list[Notebook]:
        return self._rows.list()

    def list_specs(self) -> tuple[NotebookSpec, ...]:
        return tuple(notebook.spec for notebook in self._rows.list())

    def get(self, name: str) -> Notebook:
        return self._rows.get(name)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._rows.subscribe(listener)

    def subscribe_engine(self, listener: EngineListener) -> Callable[[], None]:
        self._engine_listeners.append(listener)
        return lambda: self._engine_listeners.remove(listener)

    def _engine_health(self, problem: str | None) -> None:
        if problem == self.engine_problem:
            return
        self.engine_problem = problem
        for listener in list(self._engine_listeners):
            try:
                listener(problem)
            except Exception:
                log.exception("engine listener failed")

    def _engine(self, spec: NotebookSpec) -> Engine:
        try:
            return self.engines[spec.engine]
        except KeyError:
            raise InvalidSpec(f"unknown engine '{spec.engine}'; available: {', '.join(self.engines)}") from None

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    # -- create and start ----------------------------------------------------------------------

    async def create(
        self, spec: NotebookSpec, *, wait: bool = True, secrets: Mapping[str, str] | None = None
    ) -> Notebook:
        """Add a notebook and launch it. Bad requests raise before any row or container exists;
        launch trouble ends in FAILED with the reason. With wait, returns once READY or FAILED.
        `secrets`: a value for each of spec.secret_names, kept in the secret store once the name is ours."""
        spec = validate_spec(spec)
        validate_secret_values(spec.secret_names, secrets or {}, complete=True)
        self._engine(spec)
        if spec.name in self._rows or spec.name in self._reserved:
            raise NotebookExists(spec.name)
        self._reserved.add(spec.name)  # before the first await: a second create() of this name fails above
        checked = Checked()
        try:
            if await self._exists_elsewhere(spec):
                raise NotebookExists(spec.name)
            if spec.uses_gpu and self._gpu_resolver is not None and on_this_machine(spec.engine):
                await asyncio.to_thread(self._gpu_resolver, spec.gpus)  # a GPU that is not here: say so now
            checked = await self._checks.run(spec)  # a reserved GPU is refused before anything exists
            spec = await self._with_work_dir(spec)
        except BaseException:
            checked.release()
            raise
        finally:
            self._reserved.discard(spec.name)
        self._checks.warn(spec.name, checked.warnings)
        notebook = Notebook(spec=spec)
        self._rows.apply(notebook)
        return await self._launch_task(notebook, wait, first=True, secrets=secrets, checked=checked)

    async def start(self, name: str, *, wait: bool = True) -> Notebook:
        """Start a STOPPED or FAILED notebook again, with its spec and work folder, and a fresh token."""
        notebook = self.get(name)
        if notebook.state.active and not self._busy(name) and self._leases.held_elsewhere(name):
            raise LeaseHeld(f"'{name}' is being started or stopped by another Labdock window or command")
        if notebook.state.active:
            return notebook
        checked = await self._checks.run(notebook.spec)
        try:
            spec = await self._with_work_dir(notebook.spec)
        except BaseException:
            checked.release()
            raise
        self._checks.warn(name, checked.warnings)
        self._rows.apply(notebook, NotebookState.CREATING, spec=spec)
        return await self._launch_task(notebook, wait, first=False, checked=checked)

    async def _exists_elsewhere(self, spec: NotebookSpec) -> bool:
        """Another Labdock process may have made it: the remembered notebooks (every engine's) and the
        notebook's own engine know. No other engine is asked: each would be a round trip, over SSH for a
        remote host (a hung one would hold this launch back), and a notebook there is remembered before
        its server is made, under the lease that _check_still_free takes."""
        found, remembered = await asyncio.gather(self._find(self._engine(spec)), asyncio.to_thread(self._store.load))
        return spec.name in remembered or any(f.spec.name == spec.name for f in found)

    async def _check_still_free(self, spec: NotebookSpec) -> None:
        """Under the lease: a launch elsewhere holds the lease until it has remembered its notebook,
        so the store and the notebook's engine tell whether another process took the name meanwhile."""
        if await self._exists_elsewhere(spec):
            raise NotebookExists(spec.name)

    async def _launch_task(
        self,
        notebook: Notebook,
        wait: bool,
        first: bool,
        secrets: Mapping[str, str] | None = None,
        checked: Checked | None = None,
    ) -> Notebook:
        task = self._spawn(notebook.name, self._launch(notebook, first, secrets))
        if checked is not None:  # its GPU claim lasts until the launch ends (READY, FAILED or cancelled)
            task.add_done_callback(lambda _: checked.release())
        if wait:
            await asyncio.wait([task])
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error
        return notebook

    def _spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        previous = self._tasks.get(name)
        if previous is not None and not previous.done():
            previous.cancel()
        task = asyncio.create_task(coro, name=f"labdock:{name}")
        self._tasks[name] = task
        task.add_done_callback(lambda t: self._task_done(name, t))
        return task

    def _task_done(self, name: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, LabdockError):
            log.error("the task for '%s' failed", name, exc_info=error)

    async def _launch(self, notebook: Notebook, first: bool, secrets: Mapping[str, str] | None = None) -> None:
        """Hold the notebook's lease from the first engine call until READY or FAILED, so no other
        Labdock process mistakes the half-made server for an abandoned one."""
        spec = notebook.spec
        async with self._lock(spec.name):
            try:
                async with self._leases.hold(spec.name, wait=0):
                    if first:
                        await self._check_still_free(spec)
                    else:  # e.g. a container that was killed outside Labdock
                        await bounded(self._engine(spec).remove_leftover(spec.name), self.engine_timeout)
                    if not (first and await self._take_spare(notebook)):
                        await self._prepare_and_start(notebook, secrets)
            except (NotebookExists, LeaseHeld) as exc:
                if first:  # another Labdock process owns this name: its notebook is the real one
                    self._rows.drop(notebook)
                    raise NotebookExists(spec.name) from exc
                self._rows.apply(notebook, NotebookState.STOPPED, str(exc))
                raise
            except LabdockError as exc:
                await self._fail_launch(notebook, str(exc), first, isinstance(exc, EngineUnavailable))
                return
            except Exception as exc:  # a bug must not leave the row starting for ever
                log.exception("launching '%s' failed unexpectedly", spec.name)
                await self._fail_launch(notebook, f"unexpected error: {one_line(exc)}", forget=first)
                return
            self._rows.apply(notebook, NotebookState.READY, started_at=time.time())
            await self._remember_answered(notebook)

    async def _take_spare(self, notebook: Notebook) -> bool:
        """A new notebook served by a spare that already answers (desktop.spares); shielded so a stop during
        the hand-out finds the container under the notebook's name, or a spare that was never handed out."""
        if self.spares is None:
            return False
        hand_out = asyncio.ensure_future(self.spares.hand_out(notebook.spec))
        try:
            handed = await asyncio.shield(hand_out)
        except asyncio.CancelledError:
            await asyncio.wait([hand_out])
            if not hand_out.cancelled() and hand_out.exception() is None and (done := hand_out.result()):
                self._rows.apply(notebook, container_id=done.container_id)
            raise
        if handed is not None:
            self._rows.apply(notebook, container_id=handed.container_id, url=handed.url, token=handed.token)
        return handed is not None

    async def _prepare_and_start(self, notebook: Notebook, secrets: Mapping[str, str] | None = None) -> None:
        spec = notebook.spec
        loop = asyncio.get_running_loop()

        def report(status: PullStatus) -> None:
            # From the engine's worker thread: hop onto the loop before touching state.
            loop.call_soon_threadsafe(self._pulling, notebook, status)

        # Remembered before anything is made (killed at any moment, it comes back as a row), beside
        # prepare() rather than before it: a launch waits for neither alone.
        prepared, remembered = await asyncio.gather(
            self._engine(spec).prepare(spec, report),
            asyncio.to_thread(self._remember, spec, secrets),
            return_exceptions=True,
        )
        for outcome in (remembered, prepared):
            if isinstance(outcome, BaseException):
                raise outcome
        self._rows.apply(notebook, NotebookState.STARTING)
        for attempt in range(PORT_ATTEMPTS):
            try:
                await self._start_once(notebook)
                return
            except LaunchFailed as exc:
                # Host mode picks a free port, but another program may take it first.
                if not exc.port_taken or attempt == PORT_ATTEMPTS - 1:
                    raise
                log.info("port taken while %s started; trying another", spec.name)
                await bounded(self._engine(spec).remove_leftover(spec.name, notebook.container_id), self.engine_timeout)

    def _remember(self, spec: NotebookSpec, secrets: Mapping[str, str] | None) -> None:
        self._store.put(spec)
        if secrets:  # under the lease, the name checked free: these values are this notebook's
            put_env(self.secrets, spec.name, secrets)

    async def _remember_answered(self, *notebooks: Notebook) -> None:
        answers = {n.name: n.container_id for n in notebooks if n.container_id is not None}
        if answers:
            await asyncio.to_thread(self._store.mark_answered, answers)

    async def _start_once(self, notebook: Notebook) -> None:
        spec = notebook.spec
        token, secret_env = secrets.token_urlsafe(TOKEN_BYTES), dict[str, str]()
        if spec.secret_names or spec.stable_address:  # the secret store only when needed (a keyring is slow)
            token, secret_env = await asyncio.to_thread(launch_secrets, self.secrets, spec, token)
        engine = self._engine(spec)
        start = asyncio.ensure_future(bounded(engine.start(spec, token, secret_env), self.engine_timeout))
        try:
            started = await asyncio.shield(start)
        except asyncio.CancelledError:
            # Let an in-flight create finish so stop() finds and removes the container.
            await asyncio.wait([start])
            if not start.cancelled() and start.exception() is None:
                self._rows.apply(notebook, container_id=start.result().container_id)
            raise
        self._rows.apply(notebook, container_id=started.container_id, url=started.url, token=token)
        await wait_ready(started.url, token, lambda: engine.exit_status(started.container_id), self.ready_timeout)

    def _pulling(self, notebook: Notebook, status: PullStatus) -> None:
        if notebook.state not in (NotebookState.CREATING, NotebookState.PULLING):
            return  # a late report after the launch moved on (or was stopped)
        self._rows.apply(notebook, NotebookState.PULLING, pull_progress=status)

    async def _fail_launch(
        self, notebook: Notebook, reason: str, forget: bool = False, engine_down: bool = False
    ) -> None:
        """A failed launch leaves no container behind; the reason (with the log tail) stays on the row.
        A notebook whose very first launch failed is not remembered across restarts."""
        # Past prepare() a server may exist even when its id never reached us (the engine's answer to
        # create was lost); an engine that does not answer is not asked again: restore tidies up later.
        if (notebook.container_id is not None or notebook.state is NotebookState.STARTING) and not engine_down:
            try:
                await bounded(
                    self._engine(notebook.spec).remove_leftover(notebook.name, notebook.container_id),
                    self.engine_timeout,
                )
            except NotOurs:
                pass  # a same-named server that is not ours: nothing of ours to tidy up
            except LabdockError as exc:
                reason = f"{reason} (and its container could not be removed: {exc})"
        if forget:
            await asyncio.to_thread(self._store.forget, notebook.name)
            await asyncio.to_thread(forget_notebook, self.secrets, notebook.spec)
        self._rows.apply(notebook, NotebookState.FAILED, reason, **SERVER_GONE)

    async def _with_work_dir(self, spec: NotebookSpec) -> NotebookSpec:
        work = await self.folders.ready(spec.engine, spec.name, spec.work_dir)
        return with_stable_port(dataclasses.replace(spec, work_dir=work))

    # -- stop and remove -----------------------------------------------------------------------

    async def stop(self, name: str, *, because: str | None = None) -> None:
        """Stop the notebook's server (cancelling a launch in progress); the row stays as STOPPED.
        On failure the row goes back to what it was, with the reason, and the error is raised."""
        notebook = self.get(name)
        launch = self._tasks.get(name)
        if launch is not None and not launch.done():
            launch.cancel()
            await asyncio.wait([launch])
        async with self._lock(name):
            if notebook.state is NotebookState.STOPPED:
                return
            before = notebook.state
            self._rows.apply(notebook, NotebookState.STOPPING)
            try:
                async with self._leases.hold(name, wait=self.stop_timeout):
                    await self._stop_server(notebook, because)
            except Exception as exc:
                reason = exc if isinstance(exc, LabdockError) else LabdockError(f"unexpected error: {one_line(exc)}")
                if not isinstance(exc, LabdockError):
                    log.exception("stopping '%s' failed unexpectedly", name)
                self._rows.apply(notebook, before, f"could not stop: {reason}")
                raise reason from exc

    async def _stop_server(self, notebook: Notebook, because: str | None = None) -> None:
        engine, name, ident = self._engine(notebook.spec), notebook.name, notebook.container_id
        await bounded(engine.stop(name, self.stop_timeout, ident), self.engine_timeout + self.stop_timeout)
        self._rows.apply(notebook, NotebookState.STOPPED, because, **SERVER_GONE)
        # Tidy up after the user sees STOPPED; the lock and lease keep a new start from racing it.
        try:
            logs = await bounded(engine.discard(name, ident), self.engine_timeout)
        except LabdockError as exc:
            log.warning("could not remove the stopped server of '%s': %s", name, exc)
            logs = ""
        if logs:
            await asyncio.to_thread(write_atomic, self.paths.saved_log(name), logs)
        await asyncio.to_thread(self._store.put, notebook.spec)

    async def stop_all(self) -> None:
        names = [n.name for n in self._rows.list() if n.state.active]
        results = await asyncio.gather(*(self.stop(name) for name in names), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise LabdockError("; ".join(str(e) for e in errors))

    async def remove(self, name: str, *, delete_work: bool = False) -> Removed:
        """Forget the notebook. Its work folder is kept unless the user explicitly asked to delete
        it, and even then only when it lies inside the work root and no other notebook uses it."""
        notebook = self.get(name)
        if notebook.state is not NotebookState.STOPPED:
            await self.stop(name)
        work = notebook.spec.work_dir
        async with self._lock(name), self._leases.hold(name, wait=self.stop_timeout):
            await bounded(self._engine(notebook.spec).remove_leftover(name), self.engine_timeout)
            await asyncio.to_thread(self._store.forget, name)
            await asyncio.to_thread(forget_notebook, self.secrets, notebook.spec)
            with contextlib.suppress(FileNotFoundError):
                self.paths.saved_log(name).unlink()
            kept_because = None
            if delete_work and work is not None:
                remembered = (await asyncio.to_thread(self._store.load)).values()  # also other processes' notebooks
                kept_because = await self.folders.delete(notebook.spec, work, [*self.list_specs(), *remembered])
            self._locks.pop(name, None)
        self._rows.drop(notebook)
        return Removed(work, delete_work and work is not None and kept_because is None, kept_because)

    async def forget(self, name: str) -> None:
        """Drop a notebook of a remote host that does not answer (gone for good, say) without asking it:
        whatever it has there stays; should the host answer again, a server of it is listed again."""
        notebook = self.get(name)
        if on_this_machine(notebook.engine) or (
            notebook.engine in self.engines and not self.hosts.problem(notebook.engine)
        ):
            raise LabdockError(f"'{name}' can be reached: remove it instead (labdock rm {name})")
        launch = self._tasks.get(name)
        if launch is not None and not launch.done():
            launch.cancel()
            await asyncio.wait([launch])
        async with self._lock(name):
            await asyncio.to_thread(self._store.forget, name)
            await asyncio.to_thread(forget_notebook, self.secrets, notebook.spec)
            self._locks.pop(name, None)
        self._rows.drop(notebook)

    # -- restore -------------------------------------------------------------------------------

    async def refresh(self, engines: Collection[str] | None = None) -> bool:
        """restore(), for a timer: engine trouble is recorded (engine listeners hear of it) instead of
        raised, rows are kept meanwhile, and the next call that reaches the engine recovers."""
        try:
            await self.restore(engines)
        except EngineUnavailable as exc:
            self._engine_health(str(exc))
            return False
        self._engine_health(None)
        return True

    async def restore(self, only: Collection[str] | None = None) -> None:
        """Adopt this installation's servers and remembered notebooks; safe to call again to catch up
        with changes made elsewhere (another Labdock, `docker kill`). What to do is decided by
        `reconcile`; only a server no live process holds the lease of is ever removed. `only`: the engines
        to ask (a command about one notebook need not wait for every host); the others' rows stay as
        they are."""
        revisions = self._rows.revisions()  # a row that changes while the engines answer is left for next time
        engines = [engine for engine in self.engines.values() if only is None or engine.name in only]
        results = await asyncio.gather(*(self._find(engine) for engine in engines), return_exceptions=True)
        found: dict[str, Found] = {}
        unavailable: dict[str, EngineUnavailable] = {}
        for engine, result in zip(engines, results, strict=True):
            if isinstance(result, EngineUnavailable):
                unavailable[engine.name] = result  # keep its rows as they are; the other engines go on
            elif isinstance(result, BaseException):
                raise result
            else:
                found.update((item.spec.name, item) for item in result)
        remembered, answered = await asyncio.to_thread(self._store.snapshot)
        names = set(found) | {n.name for n in self._rows.list()}
        leased = frozenset(name for name in names if not self._busy(name) and self._leases.held_elsewhere(name))
        known = {
            nb.name: KnownRow(
                nb.spec,
                nb.state,
                nb.container_id,
                self._busy(nb.name) or self._rows.revision(nb.name) != revisions.get(nb.name),
            )
            for nb in self._rows.list()
        }
        not_asked = frozenset(name for name in self.engines if only is not None and name not in only)
        facts = Facts(found, frozenset(unavailable) | not_asked, remembered, frozenset(answered), leased)
        asked = frozenset(self.engines) - not_asked
        adopted = await self._adoption.carry_out(reconcile(known, facts, asked))
        await self._remember_answered(*adopted)
        remote = [engine.name for engine in engines if not on_this_machine(engine.name)]
        self.hosts.update(remote, {name: str(exc) for name, exc in unavailable.items() if name in remote})
        here = [exc for name, exc in unavailable.items() if on_this_machine(name)]
        if here:
            raise here[0]

    async def _find(self, engine: Engine) -> Sequence[Found]:
        if on_this_machine(engine.name):
            return await bounded(engine.find(), self.engine_timeout)
        # A host whose link hangs (a network drop not yet noticed) must not hold this machine's rows back.
        return await bounded(engine.find(), min(self.engine_timeout, REMOTE_FIND_S), f"host '{engine.name}'")

    def launching(self) -> bool:
        """Whether any launch (or other notebook task) of this process is under way."""
        return any(not task.done() for task in self._tasks.values())

    def _busy(self, name: str) -> bool:
        task = self._tasks.get(name)
        return (task is not None and not task.done()) or self._lock(name).locked() or name in self._reserved

    def _watch_in_background(self, notebook: Notebook) -> None:
        self._spawn(notebook.name, self._watch_start(notebook))

    async def _watch_start(self, notebook: Notebook) -> None:
        """An adopted server that is still starting and that no live process is launching (e.g. after
        a crash mid-launch): finish the job, or fail it and tidy up, holding the lease."""
        container_id, url = notebook.container_id, notebook.url
        if container_id is None or url is None:
            return
        async with self._lock(notebook.name):
            fd = self._leases.try_take(notebook.name)
            if fd is None:
                return  # its launcher lives: the next refresh shows how it ends
            try:
                engine = self._engine(notebook.spec)
                token = await bounded(engine.token(container_id), self.engine_timeout)
                if token is None:
                    raise LabdockError("the container carries no token")
                self._rows.apply(notebook, token=token)
                await wait_ready(url, token, lambda: engine.exit_status(container_id), self.ready_timeout)
            except LabdockError as exc:
                await self._fail_launch(notebook, str(exc))
                return
            except Exception as exc:
                log.exception("watching '%s' start failed unexpectedly", notebook.name)
                await self._fail_launch(notebook, f"unexpected error: {one_line(exc)}")
                return
            finally:
                self._leases.release(fd)
            self._rows.apply(notebook, NotebookState.READY)
            await self._remember_answered(notebook)

    # -- GPUs: reservations and CUDA before a launch, kernels while running ----------------------

    def subscribe_warnings(self, listener: WarningListener) -> Callable[[], None]:
        return self._checks.subscribe(listener)

    async def launch_warnings(self, spec: NotebookSpec) -> tuple[str, ...]:
        """What to tell the user before launching `spec` (GPUs shared with other notebooks, an image whose CUDA
        is newer than the driver); raises GpuReserved when the launch would break a reservation."""
        return await self._checks.preview(spec)

    # -- edit, duplicate, rename (desktop.notebook_edits); idle stop (desktop.idle_stop) ---------

    async def edit(self, name: str, spec: NotebookSpec, *, secrets: Mapping[str, str] | None = None) -> Notebook:
        """New settings for a stopped notebook (same name); `secrets`: new values for secret variables."""
        return await self._edits.edit(name, spec, secrets)

    async def duplicate(self, name: str, new_name: str, *, same_work_dir: bool = False) -> Notebook:
        """A stopped copy of the notebook under `new_name` (its own work folder unless `same_work_dir`)."""
        return await self._edits.duplicate(name, new_name, same_work_dir)

    async def rename(self, name: str, new_name: str) -> Notebook:
        """The stopped notebook under a new name; returns its new row (the old one is removed)."""
        return await self._edits.rename(name, new_name)

    async def _name_taken(self, name: str, engine: str) -> bool:
        if name in self._rows or name in self._reserved:
            return True
        return await self._exists_elsewhere(NotebookSpec(name=name, image="", engine=engine))

    def watch_idle(self, interval: float = 15.0) -> None:
        """Stop notebooks idle for their idle_stop_minutes, warning first (self.idle: events, postpone),
        until close(). For the long-lived process (the window); a CLI command has no one to warn."""
        if self._idle_task is None or self._idle_task.done():
            self._idle_task = asyncio.create_task(self.idle.run(interval), name="labdock:idle-stop")

    async def _stop_idle(self, name: str, reason: str) -> None:
        await self.stop(name, because=reason)

    async def _known_token(self, notebook: Notebook) -> str | None:
        if notebook.token is None and notebook.container_id is not None:  # an adopted server: read it back
            token = await bounded(self._engine(notebook.spec).token(notebook.container_id), self.engine_timeout)
            self._rows.apply(notebook, token=token)
        return notebook.token

    # -- access --------------------------------------------------------------------------------

    async def url_with_token(self, name: str) -> str:
        """The URL that logs a browser in; the token is read back from the container if needed."""
        notebook = self.get(name)
        if notebook.state is not NotebookState.READY or notebook.url is None:
            raise LabdockError(f"'{name}' is not running (it is {notebook.state.value})")
        if notebook.token is None and notebook.container_id is not None:
            token = await bounded(self._engine(notebook.spec).token(notebook.container_id), self.engine_timeout)
            self._rows.apply(notebook, token=token)
        url = notebook.url_with_token()
        assert url is not None
        return url

    async def logs(self, name: str, tail: int | None = None) -> str:
        """The server's log, or the log saved when it was last stopped."""
        notebook = self.get(name)
        engine = self._engine(notebook.spec)
        text = await bounded(engine.logs(name, tail, notebook.container_id), self.engine_timeout)
        if text is not None:
            return text
        try:
            saved = await asyncio.to_thread(self.paths.saved_log(name).read_text, errors="replace")
        except FileNotFoundError:
            return ""
        return last_lines(saved, tail)

    def follow_logs(self, name: str) -> AsyncIterator[str]:
        """The server's log lines as they come (token redacted), until the server ends."""
        notebook = self.get(name)
        return self._engine(notebook.spec).follow_logs(name, notebook.container_id)

    async def close(self) -> None:
        """Stop watching (notebooks keep running; the next start adopts them)."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        if self._idle_task is not None and not self._idle_task.done():
            tasks.append(self._idle_task)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if self.spares is not None:
            await self.spares.stop()  # spares stay: removing them is Quit's choice (spares.quit)
        for engine in self.engines.values():
            await engine.close()


def one_line(exc: BaseException) -> str:
    """An exception as one line for a person: its message's first line, or its type's name."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
