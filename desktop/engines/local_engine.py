"""The Local engine: JupyterLab as a child process from Labdock's own environment, no Docker needed.

Same contract as the Docker engine: 127.0.0.1 only, a fresh token by environment (JUPYTER_TOKEN),
the notebook's work folder as root dir, CUDA_VISIBLE_DEVICES for the GPU choice. Each server runs in
its own session so it outlives Labdock like a container does; a small state file per notebook
(pid + start time + boot id, port, spec; never the token) lets a restarted Labdock adopt it. The pid
alone is never trusted: a record whose process identity no longer matches is a server that ended.

Token hygiene: the state dir is 0700 and every file in it 0600 from creation. A token given by
environment is not "generated", so jupyter_server prints its URLs with `token=...`; each read path
still redacts. Each server gets a private JUPYTER_RUNTIME_DIR, so its jpserver-<pid>.json/-open.html
(which hold the token) and kernel connection files never land in ~/.local/share/jupyter/runtime.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

from desktop.core.errors import InvalidSpec, LabdockError
from desktop.core.models import NotebookSpec
from desktop.core.validation import local_engine_problem
from desktop.engines.base import LOG_TAIL_LINES, Exit, Found, PullProgress, Started, last_lines
from desktop.engines.container_spec import check_stable_port, free_loopback_port, redact
from desktop.engines.local_records import (
    LocalRecords,
    Record,
    environ_of,
    pid_of,
    private_dir,
)
from desktop.engines.process_identity import ProcessIdentity, identify, is_running, signal_group
from desktop.engines.profiles import COMMON_ARGS

log = logging.getLogger(__name__)

KILL_GRACE = 2.0  # seconds for a SIGKILLed leader to end before the stop returns
# A token in a URL that did not come from us (e.g. a user's config): redacted even when the token is unknown.
_TOKEN_IN_URL = re.compile(r"(token=)(?!\.\.\.)[^\s&#\"'<>]+")


def _redact(text: str, token: str | None) -> str:
    return _TOKEN_IN_URL.sub(r"\1<token>", redact(text, token))


class LocalEngine:
    name = "local"

    def __init__(
        self,
        state_dir: Path,
        python: str = sys.executable,
        gpu_resolver: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.python = python
        self._gpu_resolver = gpu_resolver
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        # A stopped process's environment is gone, its log stays: tokens are kept by identity.
        self._tokens: dict[ProcessIdentity, str] = {}
        self._records = LocalRecords(state_dir)

    def _running(self, record: Record) -> bool:
        child = self._children.get(record.identity.pid)
        if child is not None and child.poll() is not None:
            return False
        return is_running(record.identity)

    async def prepare(self, spec: NotebookSpec, on_pull: PullProgress | None) -> None:
        problem = local_engine_problem(spec)
        if problem is not None:
            raise InvalidSpec(problem)
        if spec.stable_port is not None:
            await asyncio.to_thread(check_stable_port, spec)
        if self.python == sys.executable and importlib.util.find_spec("jupyterlab") is None:
            raise LabdockError("the Local engine needs JupyterLab in Labdock's environment: pip install jupyterlab")

    async def start(self, spec: NotebookSpec, token: str, secret_env: Mapping[str, str] | None = None) -> Started:
        if spec.work_dir is None:
            raise InvalidSpec("the notebook has no work folder")
        current = await asyncio.to_thread(self._records.record, spec.name)
        if current is not None and await asyncio.to_thread(self._running, current):
            raise LabdockError(f"a local server of '{spec.name}' is already running ({current.container_id})")
        port = spec.stable_port or free_loopback_port()
        env = {**os.environ, **dict(spec.env), **(secret_env or {})}
        env.update(JUPYTER_TOKEN=token, JUPYTER_RUNTIME_DIR=str(self._records.runtime_dir(spec.name)))
        env["CUDA_VISIBLE_DEVICES"] = ",".join(await asyncio.to_thread(self._gpus, spec.gpus))
        command = [
            self.python,
            "-m",
            "jupyterlab",
            *spec.extra_args,  # before Labdock's own: for a setting given twice the last wins
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--ServerApp.root_dir={spec.work_dir}",
            *COMMON_ARGS,
        ]
        if os.getuid() == 0:
            command.append("--allow-root")  # it runs as whoever runs Labdock; containers are where root is dropped
        record = await asyncio.to_thread(self._spawn, spec, command, env, port)
        self._tokens[record.identity] = token
        return Started(record.container_id, f"http://127.0.0.1:{port}/")

    def _spawn(self, spec: NotebookSpec, command: list[str], env: dict[str, str], port: int) -> Record:
        private_dir(self.state_dir)
        runtime = self._records.runtime_dir(spec.name)
        shutil.rmtree(runtime, ignore_errors=True)  # a previous server's files: not this one's to keep
        private_dir(runtime)
        log_file = self._records.log_file(spec.name)
        log_file.unlink(missing_ok=True)  # so the new log is created 0600, not reopened with older modes
        fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as log_out:
            child = subprocess.Popen(
                command,
                cwd=spec.work_dir,
                env=env,
                stdout=log_out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # it leads its own group: stop signals that group
            )
        self._children[child.pid] = child
        identity = identify(child.pid)  # our unreaped child: its /proc entry exists even if it already exited
        if identity is None:
            child.kill()
            raise LabdockError("the local server vanished as it started")
        record = Record(identity, port, time.time(), spec)
        self._records.write(spec.name, record)
        return record

    def _gpus(self, choice: tuple[str, ...]) -> tuple[str, ...]:
        if not choice:
            return ()
        return self._gpu_resolver(choice) if self._gpu_resolver else choice

    async def exit_status(self, container_id: str) -> Exit | None:
        found = await asyncio.to_thread(self._records.by_pid, pid_of(container_id))
        if found is None:
            return Exit(0, False, "")  # discarded: nothing of it is left
        name, record = found
        if await asyncio.to_thread(self._running, record):
            return None
        child = self._children.get(record.identity.pid)
        code = child.returncode if child is not None and child.returncode is not None else 0
        return Exit(code, False, await asyncio.to_thread(self._read_log, name, record, LOG_TAIL_LINES))

    async def token(self, container_id: str) -> str | None:
        found = await asyncio.to_thread(self._records.by_pid, pid_of(container_id))
        return self._token_for(found[1]) if found is not None else None

    def _token_for(self, record: Record) -> str | None:
        """Known from start, or read from the process while it is still the recorded one."""
        if record.identity not in self._tokens and is_running(record.identity):
            token = environ_of(record.identity.pid).get("JUPYTER_TOKEN")
            if token:
                self._tokens[record.identity] = token
        return self._tokens.get(record.identity)

    def _read_log(self, name: str, record: Record | None, tail: int | None = None) -> str:
        """The server's log with its token redacted; only the last `tail` lines when asked."""
        token = self._token_for(record) if record is not None else None
        try:
            text = self._records.log_file(name).read_text(errors="replace")
        except OSError:
            return ""
        return last_lines(_redact(text, token), tail)

    async def stop(self, name: str, timeout: float, container_id: str | None = None) -> None:
        record = await asyncio.to_thread(self._records.record, name, container_id)
        if record is None:
            return
        self._token_for(record)  # while the process can still tell: its log is redacted with it later
        await asyncio.to_thread(self._terminate, record.identity, timeout)

    def _terminate(self, identity: ProcessIdentity, timeout: float) -> None:
        """SIGTERM to the server's group, SIGKILL after `timeout`; a process that is not the recorded
        server (ended, or its pid reused) is never signalled."""
        child = self._children.get(identity.pid)

        def ended() -> bool:
            return child.poll() is not None if child is not None else not is_running(identity)

        if not signal_group(identity, signal.SIGTERM):
            ended()  # reap a child that already exited
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ended():
                return
            time.sleep(0.01)
        signal_group(identity, signal.SIGKILL)
        deadline = time.monotonic() + KILL_GRACE
        while not ended() and time.monotonic() < deadline:
            time.sleep(0.01)

    async def discard(self, name: str, container_id: str | None = None) -> str:
        record = await asyncio.to_thread(self._records.record, name, container_id)
        if record is not None and await asyncio.to_thread(self._running, record):
            raise LabdockError(f"the local server of '{name}' is still running; stop it first")
        text = await asyncio.to_thread(self._read_log, name, record)
        await asyncio.to_thread(self._remove_files, name)
        if record is not None:
            self._tokens.pop(record.identity, None)
            self._children.pop(record.identity.pid, None)
        return text

    def _remove_files(self, name: str) -> None:
        for path in (self._records.state_file(name), self._records.log_file(name)):
            path.unlink(missing_ok=True)
        shutil.rmtree(self._records.runtime_dir(name), ignore_errors=True)

    async def remove_leftover(self, name: str, container_id: str | None = None) -> None:
        await self.stop(name, timeout=5, container_id=container_id)
        await self.discard(name, container_id)

    async def find(self) -> list[Found]:
        return await asyncio.to_thread(self._find)

    def _find(self) -> list[Found]:
        found = []
        for path in sorted(self.state_dir.glob("*.json")):
            record = self._records.read(path)
            if record is None:
                continue
            if record.spec.name != path.stem:
                self._records.warn_once(path, f"ignoring the local server record {path}: it names '{record.spec.name}'")
                continue
            running = self._running(record)
            child = self._children.get(record.identity.pid)
            code = child.returncode if child is not None and child.returncode is not None else 0
            found.append(
                Found(
                    spec=record.spec,
                    container_id=record.container_id,
                    running=running,
                    never_started=False,
                    url=f"http://127.0.0.1:{record.port}/" if running else None,
                    exit_code=None if running else code,
                    created_at=record.created,
                )
            )
        return found

    async def logs(self, name: str, tail: int | None, container_id: str | None = None) -> str | None:
        record = await asyncio.to_thread(self._records.record, name, container_id)
        if record is None:
            return None
        return await asyncio.to_thread(self._read_log, name, record, tail)

    async def follow_logs(self, name: str, container_id: str | None = None) -> AsyncIterator[str]:
        """Lines as the server writes them (token redacted), until it ends."""
        record = await asyncio.to_thread(self._records.record, name, container_id)
        if record is None:
            return
        token = self._token_for(record)
        try:
            handle = await asyncio.to_thread(open, self._records.log_file(name), errors="replace")
        except OSError:
            return
        try:
            backlog, _, partial = (await asyncio.to_thread(handle.read)).rpartition("\n")
            for line in backlog.splitlines()[-200:]:
                yield _redact(line, token)
            while True:
                partial += await asyncio.to_thread(handle.readline)
                if partial.endswith("\n"):  # whole lines only: a token split across writes is still redacted
                    yield _redact(partial.rstrip("\n"), token)
                    partial = ""
                    continue
                if not await asyncio.to_thread(self._running, record):
                    partial += await asyncio.to_thread(handle.read)  # what it wrote as it ended
                    for line in partial.splitlines():
                        yield _redact(line, token)
                    return
                await asyncio.sleep(0.2)
        finally:
            handle.close()

    async def close(self) -> None:
        """Servers keep running (they are adopted on the next start); only reap what already ended."""
        for child in self._children.values():
            child.poll()
