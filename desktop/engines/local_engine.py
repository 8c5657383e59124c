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
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.core.errors import InvalidSpec, LabdockError, NotOurs
from desktop.core.models import NotebookSpec
from desktop.engines.base import LOG_TAIL_LINES, Exit, Found, PullProgress, Started, last_lines
from desktop.engines.container_spec import free_loopback_port, redact
from desktop.engines.process_identity import ProcessIdentity, identify, is_running, signal_group
from desktop.engines.profiles import COMMON_ARGS

log = logging.getLogger(__name__)

ID_PREFIX = "local:"
KILL_GRACE = 2.0  # seconds for a SIGKILLed leader to end before the stop returns
# A token in a URL that did not come from us (e.g. a user's config): redacted even when the token is unknown.
_TOKEN_IN_URL = re.compile(r"(token=)(?!\.\.\.)[^\s&#\"'<>]+")


@dataclass(frozen=True)
class _Record:
    """One state file: a server this installation started."""

    identity: ProcessIdentity
    port: int
    created: float
    spec: NotebookSpec

    @property
    def container_id(self) -> str:
        return f"{ID_PREFIX}{self.identity.pid}"

    @classmethod
    def from_json(cls, data: Any) -> _Record:
        """Raises KeyError/TypeError/ValueError/LabdockError for anything malformed."""
        if not isinstance(data, dict):
            raise TypeError("not an object")
        identity = ProcessIdentity(int(data["pid"]), int(data["start_time"]), str(data["boot_id"]))
        return cls(identity, int(data["port"]), float(data["created"]), NotebookSpec.from_json(data["spec"]))

    def to_json(self) -> dict[str, Any]:
        return {**self.identity.to_json(), "port": self.port, "created": self.created, "spec": self.spec.to_json()}


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def _redact(text: str, token: str | None) -> str:
    return _TOKEN_IN_URL.sub(r"\1<token>", redact(text, token))


def _pid_of(container_id: str) -> int | None:
    number = container_id.removeprefix(ID_PREFIX)
    return int(number) if container_id.startswith(ID_PREFIX) and number.isdigit() else None


def _write_private(path: Path, text: str) -> None:
    """Atomic (readers see the old file or the new one) and 0600 from the moment the file exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # an older or umask-made folder is tightened too


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
        self._warned: set[tuple[Path, int]] = set()  # (record, mtime): a window refresh must not repeat it

    def _state_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.json"

    def _log_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.log"

    def _runtime_dir(self, name: str) -> Path:
        return self.state_dir / f"{name}.runtime"

    def _read_record(self, path: Path) -> _Record | None:
        """The record in `path`; None when absent, and with a warning when unreadable or malformed."""
        try:
            return _Record.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, KeyError, TypeError, ValueError, LabdockError) as exc:
            self._warn_once(path, f"ignoring the unreadable local server record {path}: {exc or type(exc).__name__}")
            return None

    def _warn_once(self, path: Path, message: str) -> None:
        try:
            key = (path, path.stat().st_mtime_ns)
        except OSError:
            key = (path, 0)
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)

    def _record(self, name: str, container_id: str | None = None) -> _Record | None:
        """The notebook's record; NotOurs when the caller knows a different server under this name."""
        record = self._read_record(self._state_file(name))
        if record is not None and container_id is not None and container_id != record.container_id:
            raise NotOurs(f"the local server of '{name}' is {record.container_id}, not {container_id}: left alone")
        return record

    def _record_by_pid(self, pid: int | None) -> tuple[str, _Record] | None:
        for path in sorted(self.state_dir.glob("*.json")):
            record = self._read_record(path)
            if record is not None and record.identity.pid == pid:
                return path.stem, record
        return None

    def _running(self, record: _Record) -> bool:
        child = self._children.get(record.identity.pid)
        if child is not None and child.poll() is not None:
            return False
        return is_running(record.identity)

    async def prepare(self, spec: NotebookSpec, on_pull: PullProgress | None) -> None:
        if self.python == sys.executable and importlib.util.find_spec("jupyterlab") is None:
            raise LabdockError("the Local engine needs JupyterLab in Labdock's environment: pip install jupyterlab")

    async def start(self, spec: NotebookSpec, token: str) -> Started:
        if spec.work_dir is None:
            raise InvalidSpec("the notebook has no work folder")
        current = await asyncio.to_thread(self._record, spec.name)
        if current is not None and await asyncio.to_thread(self._running, current):
            raise LabdockError(f"a local server of '{spec.name}' is already running ({current.container_id})")
        port = free_loopback_port()
        env = dict(os.environ, JUPYTER_TOKEN=token, JUPYTER_RUNTIME_DIR=str(self._runtime_dir(spec.name)))
        env["CUDA_VISIBLE_DEVICES"] = ",".join(await asyncio.to_thread(self._gpus, spec.gpus))
        command = [
            self.python,
            "-m",
            "jupyterlab",
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

    def _spawn(self, spec: NotebookSpec, command: list[str], env: dict[str, str], port: int) -> _Record:
        _private_dir(self.state_dir)
        runtime = self._runtime_dir(spec.name)
        shutil.rmtree(runtime, ignore_errors=True)  # a previous server's files: not this one's to keep
        _private_dir(runtime)
        log_file = self._log_file(spec.name)
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
        record = _Record(identity, port, time.time(), spec)
        _write_private(self._state_file(spec.name), json.dumps(record.to_json()))
        return record

    def _gpus(self, choice: tuple[str, ...]) -> tuple[str, ...]:
        if not choice:
            return ()
        return self._gpu_resolver(choice) if self._gpu_resolver else choice

    async def exit_status(self, container_id: str) -> Exit | None:
        found = await asyncio.to_thread(self._record_by_pid, _pid_of(container_id))
        if found is None:
            return Exit(0, False, "")  # discarded: nothing of it is left
        name, record = found
        if await asyncio.to_thread(self._running, record):
            return None
        child = self._children.get(record.identity.pid)
        code = child.returncode if child is not None and child.returncode is not None else 0
        return Exit(code, False, await asyncio.to_thread(self._read_log, name, record, LOG_TAIL_LINES))

    async def token(self, container_id: str) -> str | None:
        found = await asyncio.to_thread(self._record_by_pid, _pid_of(container_id))
        return self._token_for(found[1]) if found is not None else None

    def _token_for(self, record: _Record) -> str | None:
        """Known from start, or read from the process while it is still the recorded one."""
        if record.identity not in self._tokens and is_running(record.identity):
            token = _environ(record.identity.pid).get("JUPYTER_TOKEN")
            if token:
                self._tokens[record.identity] = token
        return self._tokens.get(record.identity)

    def _read_log(self, name: str, record: _Record | None, tail: int | None = None) -> str:
        """The server's log with its token redacted; only the last `tail` lines when asked."""
        token = self._token_for(record) if record is not None else None
        try:
            text = self._log_file(name).read_text(errors="replace")
        except OSError:
            return ""
        return last_lines(_redact(text, token), tail)

    async def stop(self, name: str, timeout: float, container_id: str | None = None) -> None:
        record = await asyncio.to_thread(self._record, name, container_id)
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
        record = await asyncio.to_thread(self._record, name, container_id)
        if record is not None and await asyncio.to_thread(self._running, record):
            raise LabdockError(f"the local server of '{name}' is still running; stop it first")
        text = await asyncio.to_thread(self._read_log, name, record)
        await asyncio.to_thread(self._remove_files, name)
        if record is not None:
            self._tokens.pop(record.identity, None)
            self._children.pop(record.identity.pid, None)
        return text

    def _remove_files(self, name: str) -> None:
        for path in (self._state_file(name), self._log_file(name)):
            path.unlink(missing_ok=True)
        shutil.rmtree(self._runtime_dir(name), ignore_errors=True)

    async def remove_leftover(self, name: str, container_id: str | None = None) -> None:
        await self.stop(name, timeout=5, container_id=container_id)
        await self.discard(name, container_id)

    async def find(self) -> list[Found]:
        return await asyncio.to_thread(self._find)

    def _find(self) -> list[Found]:
        found = []
        for path in sorted(self.state_dir.glob("*.json")):
            record = self._read_record(path)
            if record is None:
                continue
            if record.spec.name != path.stem:
                self._warn_once(path, f"ignoring the local server record {path}: it names '{record.spec.name}'")
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
        record = await asyncio.to_thread(self._record, name, container_id)
        if record is None:
            return None
        return await asyncio.to_thread(self._read_log, name, record, tail)

    async def follow_logs(self, name: str, container_id: str | None = None) -> AsyncIterator[str]:
        """Lines as the server writes them (token redacted), until it ends."""
        record = await asyncio.to_thread(self._record, name, container_id)
        if record is None:
            return
        token = self._token_for(record)
        try:
            handle = await asyncio.to_thread(open, self._log_file(name), errors="replace")
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
