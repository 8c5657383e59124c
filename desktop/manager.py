"""NotebookManager: the one place that changes notebook state.

Async, Qt-free. Operations on one notebook are serialised by a per-notebook lock; different notebooks
proceed in parallel. A stop during a launch cancels the launch first (the lock would make it wait for
READY otherwise) and then removes whatever the launch had made. Subscribers get plain-Python events.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from typing import Any

from desktop.core.errors import (
    EngineUnavailable,
    InvalidSpec,
    LabdockError,
    LaunchFailed,
    NoSuchNotebook,
    NotebookExists,
)
from desktop.core.models import Notebook, NotebookSpec, NotebookState, PullStatus
from desktop.core.validation import validate_spec
from desktop.engines.base import Engine, Found, last_lines
from desktop.engines.readiness import http_status, wait_ready
from desktop.store import Paths, SpecStore, write_atomic
from desktop.workdir import prepare_work_dir

log = logging.getLogger(__name__)

TOKEN_BYTES = 32
PORT_ATTEMPTS = 3
CLEAN_EXIT_CODES = (0, 143)  # 143: SIGTERM, i.e. an ordinary `docker stop`


class EventKind(Enum):
    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"


@dataclass(frozen=True)
class NotebookEvent:
    kind: EventKind
    notebook: Notebook


Listener = Callable[[NotebookEvent], None]
EngineListener = Callable[[str | None], None]  # the engine's problem, or None once it answers again


class NotebookManager:
    def __init__(
        self,
        engine: Engine | list[Engine],
        paths: Paths,
        *,
        ready_timeout: float = 120.0,
        stop_timeout: float = 10.0,
        container_uid: int = 1000,
        gpu_resolver: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
    ) -> None:
        self.engines: dict[str, Engine] = {e.name: e for e in ([engine] if not isinstance(engine, list) else engine)}
        self.engine = next(iter(self.engines.values()))  # the default engine
        self.paths = paths
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self._container_uid = container_uid
        self._gpu_resolver = gpu_resolver
        self._store = SpecStore(paths)
        self._notebooks: dict[str, Notebook] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._listeners: list[Listener] = []
        self._engine_listeners: list[EngineListener] = []
        self.engine_problem: str | None = None

    # -- reading -------------------------------------------------------------------------------

    def list(self) -> list[Notebook]:
        return list(self._notebooks.values())

    def get(self, name: str) -> Notebook:
        try:
            return self._notebooks[name]
        except KeyError:
            raise NoSuchNotebook(name) from None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

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

    def _emit(self, kind: EventKind, notebook: Notebook) -> None:
        for listener in list(self._listeners):
            try:
                listener(NotebookEvent(kind, notebook))
            except Exception:  # a broken view must not break the manager
                log.exception("notebook listener failed")

    def _set(self, notebook: Notebook, state: NotebookState, error: str | None = None) -> None:
        notebook.state = state
        notebook.error = error
        if state is not NotebookState.PULLING:
            notebook.pull_progress = None
        self._emit(EventKind.CHANGED, notebook)

    def _engine(self, spec: NotebookSpec) -> Engine:
        try:
            return self.engines[spec.engine]
        except KeyError:
            raise InvalidSpec(f"unknown engine '{spec.engine}'; available: {', '.join(self.engines)}") from None

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    # -- create and start ----------------------------------------------------------------------

    async def create(self, spec: NotebookSpec, *, wait: bool = True) -> Notebook:
        """Add a notebook and launch it. Bad requests raise before any row or container exists;
        launch trouble ends in FAILED with the reason. With wait, returns once READY or FAILED."""
        spec = validate_spec(spec)
        self._engine(spec)
        if spec.name in self._notebooks or await self._exists_elsewhere(spec):
            raise NotebookExists(spec.name)
        if spec.uses_gpu and self._gpu_resolver is not None:
            await asyncio.to_thread(self._gpu_resolver, spec.gpus)  # a GPU that is not here: say so now
        spec = self._with_work_dir(spec)
        notebook = Notebook(spec=spec)
        self._notebooks[spec.name] = notebook
        self._emit(EventKind.ADDED, notebook)
        return await self._launch_task(notebook, wait, first=True)

    async def start(self, name: str, *, wait: bool = True) -> Notebook:
        """Start a STOPPED or FAILED notebook again, with its spec and work folder, and a fresh token."""
        notebook = self.get(name)
        if notebook.state.active:
            return notebook
        notebook.spec = self._with_work_dir(notebook.spec)
        self._set(notebook, NotebookState.CREATING)
        await self._engine(notebook.spec).remove_leftover(name)  # e.g. a container that was killed outside Labdock
        return await self._launch_task(notebook, wait, first=False)

    async def _exists_elsewhere(self, spec: NotebookSpec) -> bool:
        """Another Labdock process may have made it: the engines know. An engine that does not answer
        matters only when the new notebook is to run on it."""
        for engine in self.engines.values():
            try:
                if any(found.spec.name == spec.name for found in await engine.find()):
                    return True
            except EngineUnavailable:
                if engine.name == spec.engine:
                    raise
        return False

    async def _launch_task(self, notebook: Notebook, wait: bool, first: bool) -> Notebook:
        task = self._spawn(notebook.name, self._launch(notebook, first))
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
        if not task.cancelled() and task.exception() is not None:
            log.debug("task for %s ended with %s", name, task.exception())

    async def _launch(self, notebook: Notebook, first: bool) -> None:
        spec = notebook.spec
        async with self._lock(spec.name):
            try:
                loop = asyncio.get_running_loop()

                def report(status: PullStatus) -> None:
                    # From the engine's worker thread: hop onto the loop before touching state.
                    loop.call_soon_threadsafe(self._pulling, notebook, status)

                await self._engine(spec).prepare(spec, report)
                self._set(notebook, NotebookState.STARTING)
                for attempt in range(PORT_ATTEMPTS):
                    try:
                        await self._start_once(notebook)
                        break
                    except LaunchFailed as exc:
                        # Host mode picks a free port, but another program may take it first.
                        if not exc.port_taken or attempt == PORT_ATTEMPTS - 1:
                            raise
                        log.info("port taken while %s started; trying another", spec.name)
                        await self._engine(spec).remove_leftover(spec.name)
            except NotebookExists:
                # Another Labdock process won the race for this name: its notebook is the real one.
                if first:
                    self._drop(notebook)
                raise
            except LabdockError as exc:
                await self._fail_launch(notebook, str(exc), forget=first)
                return
            notebook.started_at = time.time()
            self._set(notebook, NotebookState.READY)
            await self._remember_answered(notebook)

    async def _remember_answered(self, *notebooks: Notebook) -> None:
        answers = {n.name: n.container_id for n in notebooks if n.container_id is not None}
        if answers:
            await asyncio.to_thread(self._store.mark_answered, answers)

    async def _start_once(self, notebook: Notebook) -> None:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        engine = self._engine(notebook.spec)
        start = asyncio.ensure_future(engine.start(notebook.spec, token))
        try:
            started = await asyncio.shield(start)
        except asyncio.CancelledError:
            # Let an in-flight create finish so stop() finds and removes the container.
            await asyncio.wait([start])
            raise
        notebook.container_id, notebook.url, notebook.token = started.container_id, started.url, token
        self._emit(EventKind.CHANGED, notebook)
        await asyncio.to_thread(self._store.put, notebook.spec)
        await wait_ready(started.url, token, lambda: engine.exit_status(started.container_id), self.ready_timeout)

    def _pulling(self, notebook: Notebook, status: PullStatus) -> None:
        if notebook.state not in (NotebookState.CREATING, NotebookState.PULLING):
            return  # a late report after the launch moved on (or was stopped)
        notebook.pull_progress = status
        notebook.state = NotebookState.PULLING
        self._emit(EventKind.CHANGED, notebook)

    async def _fail_launch(self, notebook: Notebook, reason: str, forget: bool = False) -> None:
        """A failed launch leaves no container behind; the reason (with the log tail) stays on the row.
        A notebook whose very first launch failed is not remembered across restarts."""
        if notebook.container_id is not None:
            with contextlib.suppress(LabdockError):
                await self._engine(notebook.spec).remove_leftover(notebook.name)
        if forget:
            await asyncio.to_thread(self._store.forget, notebook.name)
        notebook.detach_server()
        self._set(notebook, NotebookState.FAILED, reason)

    def _drop(self, notebook: Notebook) -> None:
        if self._notebooks.get(notebook.name) is notebook:
            del self._notebooks[notebook.name]
            self._emit(EventKind.REMOVED, notebook)

    def _with_work_dir(self, spec: NotebookSpec) -> NotebookSpec:
        work = prepare_work_dir(spec.work_dir or self.paths.default_work_dir(spec.name), self._container_uid)
        return dataclasses.replace(spec, work_dir=work)

    # -- stop and remove -----------------------------------------------------------------------

    async def stop(self, name: str) -> None:
        """Stop the notebook's server (cancelling a launch in progress); the row stays as STOPPED."""
        notebook = self.get(name)
        launch = self._tasks.get(name)
        if launch is not None and not launch.done():
            launch.cancel()
            await asyncio.wait([launch])
        async with self._lock(name):
            if notebook.state is NotebookState.STOPPED:
                return
            before = notebook.state
            self._set(notebook, NotebookState.STOPPING)
            try:
                await self._engine(notebook.spec).stop(name, self.stop_timeout)
            except LabdockError as exc:
                self._set(notebook, before, f"could not stop: {exc}")
                raise
            notebook.detach_server()
            self._set(notebook, NotebookState.STOPPED)
            # Tidy up after the user sees STOPPED; the lock keeps a new start from racing it.
            logs = await self._engine(notebook.spec).discard(name)
            if logs:
                await asyncio.to_thread(write_atomic, self.paths.saved_log(name), logs)
            await asyncio.to_thread(self._store.put, notebook.spec)

    async def stop_all(self) -> None:
        names = [n.name for n in self._notebooks.values() if n.state.active]
        results = await asyncio.gather(*(self.stop(name) for name in names), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise LabdockError("; ".join(str(e) for e in errors))

    async def remove(self, name: str, *, delete_work: bool = False) -> None:
        """Forget the notebook. Its work folder is kept unless the user explicitly asked to delete it."""
        notebook = self.get(name)
        if notebook.state is not NotebookState.STOPPED:
            await self.stop(name)
        async with self._lock(name):
            await self._engine(notebook.spec).remove_leftover(name)
            await asyncio.to_thread(self._store.forget, name)
            with contextlib.suppress(FileNotFoundError):
                self.paths.saved_log(name).unlink()
            if delete_work and notebook.spec.work_dir is not None:
                await asyncio.to_thread(shutil.rmtree, notebook.spec.work_dir, True)
            self._locks.pop(name, None)
        self._drop(notebook)

    # -- restore -------------------------------------------------------------------------------

    async def refresh(self) -> bool:
        """restore(), for a timer: engine trouble is recorded (engine listeners hear of it) instead of
        raised, rows are kept meanwhile, and the next call that reaches the engine recovers."""
        try:
            await self.restore()
        except EngineUnavailable as exc:
            self._engine_health(str(exc))
            return False
        self._engine_health(None)
        return True

    async def restore(self) -> None:
        """Adopt this installation's containers and remembered notebooks; safe to call again to
        catch up with changes made elsewhere (another Labdock, `docker kill`)."""
        found: dict[str, Found] = {}
        unavailable: dict[str, EngineUnavailable] = {}
        engines = list(self.engines.values())
        results = await asyncio.gather(*(engine.find() for engine in engines), return_exceptions=True)
        for engine, result in zip(engines, results, strict=True):
            if isinstance(result, EngineUnavailable):
                unavailable[engine.name] = result  # keep its rows as they are; the other engines go on
            elif isinstance(result, BaseException):
                raise result
            else:
                found.update((item.spec.name, item) for item in result)
        remembered = await asyncio.to_thread(self._store.load)
        answered = await asyncio.to_thread(self._store.answered)
        seen = set(found)
        # An adoption may probe its server: all at once, not one after another; one write for what answered.
        adopted = await asyncio.gather(*(self._adopt(item, answered) for item in found.values()))
        await self._remember_answered(*(notebook for notebook in adopted if notebook is not None))
        for name, spec in remembered.items():
            if name not in seen and name not in self._notebooks and spec.engine in self.engines:
                notebook = Notebook(spec=spec, state=NotebookState.STOPPED)
                self._notebooks[name] = notebook
                self._emit(EventKind.ADDED, notebook)
        for notebook in list(self._notebooks.values()):
            if notebook.spec.engine in unavailable:
                continue
            if notebook.name not in seen and notebook.state is NotebookState.READY and not self._busy(notebook.name):
                notebook.detach_server()
                self._set(notebook, NotebookState.STOPPED, "its container was removed outside Labdock")
        if unavailable:
            raise next(iter(unavailable.values()))

    def _busy(self, name: str) -> bool:
        task = self._tasks.get(name)
        return (task is not None and not task.done()) or self._lock(name).locked()

    async def _adopt(self, item: Found, answered: set[str]) -> Notebook | None:
        """Take in what an engine reports. A server is probed only if no Labdock has seen it answer;
        returns the notebook when a probe found its server answering (to be remembered)."""
        name = item.spec.name
        notebook = self._notebooks.get(name)
        if notebook is not None and self._busy(name):
            return None
        added = notebook is None
        if (
            notebook is not None
            and notebook.container_id == item.container_id
            and not item.running
            and notebook.state in (NotebookState.STOPPED, NotebookState.FAILED)
        ):
            return None  # already known to have ended: no need to ask Docker why again
        if item.never_started:
            await self._clean_interrupted(item, notebook)
            return None
        if notebook is None:
            notebook = Notebook(spec=item.spec)
            self._notebooks[name] = notebook
        same_server = notebook.container_id == item.container_id
        known_up = (same_server and notebook.state is NotebookState.READY) or item.container_id in answered
        if not same_server:
            notebook.token = None
        notebook.spec, notebook.container_id, notebook.url = item.spec, item.container_id, item.url
        if item.running:
            notebook.started_at = notebook.started_at or item.created_at
            state = NotebookState.READY
            if item.url is None or (
                not known_up and await http_status(item.url, "api/status", None, timeout=1.0) is None
            ):
                state = NotebookState.STARTING
        else:
            notebook.url = None
            state, notebook.error = await self._ended_state(item)
        if notebook.state is not state or added:
            notebook.state = state
            self._emit(EventKind.ADDED if added else EventKind.CHANGED, notebook)
        if state is NotebookState.STARTING:
            self._spawn(name, self._await_adopted(notebook))
        return notebook if state is NotebookState.READY and not known_up else None

    async def _clean_interrupted(self, item: Found, notebook: Notebook | None) -> None:
        """A container whose launching process died before starting it: remove it, keep the row."""
        await self._engine(item.spec).remove_leftover(item.spec.name)
        added = notebook is None
        if notebook is None:
            notebook = Notebook(spec=item.spec)
            self._notebooks[item.spec.name] = notebook
        notebook.detach_server()
        notebook.state = NotebookState.STOPPED
        notebook.error = "its last launch was interrupted; start it again"
        self._emit(EventKind.ADDED if added else EventKind.CHANGED, notebook)

    async def _ended_state(self, item: Found) -> tuple[NotebookState, str | None]:
        exit_code = item.exit_code
        ended = await self._engine(item.spec).exit_status(item.container_id)
        if ended is not None and ended.oom_killed:
            return NotebookState.FAILED, "stopped outside Labdock: it ran out of memory (OOMKilled)"
        if ended is not None:
            exit_code = ended.exit_code
        if exit_code in CLEAN_EXIT_CODES:
            return NotebookState.STOPPED, None
        return NotebookState.FAILED, f"stopped outside Labdock: exit code {exit_code}"

    async def _await_adopted(self, notebook: Notebook) -> None:
        """An adopted container that is still starting (e.g. after a crash mid-launch): finish the job."""
        container_id = notebook.container_id
        if container_id is None or notebook.url is None:
            return
        async with self._lock(notebook.name):
            try:
                engine = self._engine(notebook.spec)
                token = await engine.token(container_id)
                if token is None:
                    raise LabdockError("the container carries no token")
                notebook.token = token
                await wait_ready(notebook.url, token, lambda: engine.exit_status(container_id), self.ready_timeout)
            except LabdockError as exc:
                await self._fail_launch(notebook, str(exc))
                return
            self._set(notebook, NotebookState.READY)
            await self._remember_answered(notebook)

    # -- access --------------------------------------------------------------------------------

    async def url_with_token(self, name: str) -> str:
        """The URL that logs a browser in; the token is read back from the container if needed."""
        notebook = self.get(name)
        if notebook.state is not NotebookState.READY or notebook.url is None:
            raise LabdockError(f"'{name}' is not running (it is {notebook.state.value})")
        if notebook.token is None and notebook.container_id is not None:
            notebook.token = await self._engine(notebook.spec).token(notebook.container_id)
        url = notebook.url_with_token()
        assert url is not None
        return url

    async def logs(self, name: str, tail: int | None = None) -> str:
        """The server's log, or the log saved when it was last stopped."""
        notebook = self.get(name)
        text = await self._engine(notebook.spec).logs(name, tail)
        if text is not None:
            return text
        try:
            saved = await asyncio.to_thread(self.paths.saved_log(name).read_text, errors="replace")
        except FileNotFoundError:
            return ""
        return last_lines(saved, tail)

    def follow_logs(self, name: str) -> AsyncIterator[str]:
        """The server's log lines as they come (token redacted), until the server ends."""
        return self._engine(self.get(name).spec).follow_logs(name)

    async def close(self) -> None:
        """Stop watching (notebooks keep running; the next start adopts them)."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for engine in self.engines.values():
            await engine.close()
