"""The Local engine: JupyterLab as a child process from Labdock's own environment, no Docker needed.

Same contract as the Docker engine: 127.0.0.1 only, a fresh token by environment (JUPYTER_TOKEN),
the notebook's work folder as root dir, CUDA_VISIBLE_DEVICES for the GPU choice. Each server runs in
its own session so it outlives Labdock like a container does; a small state file per notebook
(pid, port, spec; never the token) lets a restarted Labdock adopt it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from desktop.core.errors import InvalidSpec, LabdockError
from desktop.core.models import NotebookSpec
from desktop.engines.base import LOG_TAIL_LINES, Exit, Found, PullProgress, Started, last_lines
from desktop.engines.container_spec import free_loopback_port, redact
from desktop.engines.profiles import COMMON_ARGS

ID_PREFIX = "local:"


def _alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


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
        self._tokens: dict[int, str] = {}  # by pid: a stopped process's environment is gone, its log stays

    def _state_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.json"

    def _log_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.log"

    def _read_state(self, name: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._state_file(name).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    async def prepare(self, spec: NotebookSpec, on_pull: PullProgress | None) -> None:
        if self.python == sys.executable and importlib.util.find_spec("jupyterlab") is None:
            raise LabdockError("the Local engine needs JupyterLab in Labdock's environment: pip install jupyterlab")

    async def start(self, spec: NotebookSpec, token: str) -> Started:
        if spec.work_dir is None:
            raise InvalidSpec("the notebook has no work folder")
        port = free_loopback_port()
        env = dict(os.environ, JUPYTER_TOKEN=token)
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
        child = await asyncio.to_thread(self._spawn, spec, command, env)
        self._children[child.pid] = child
        self._tokens[child.pid] = token
        state = {"pid": child.pid, "port": port, "created": time.time(), "spec": spec.to_json()}
        self._state_file(spec.name).write_text(json.dumps(state))
        return Started(f"{ID_PREFIX}{child.pid}", f"http://127.0.0.1:{port}/")

    def _spawn(self, spec: NotebookSpec, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self._log_file(spec.name), "wb") as log:
            return subprocess.Popen(
                command,
                cwd=spec.work_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _gpus(self, choice: tuple[str, ...]) -> tuple[str, ...]:
        if not choice:
            return ()
        return self._gpu_resolver(choice) if self._gpu_resolver else choice

    async def exit_status(self, container_id: str) -> Exit | None:
        pid = int(container_id.removeprefix(ID_PREFIX))
        child = self._children.get(pid)
        code = child.poll() if child is not None else None
        if code is None and _alive(pid):
            return None
        name = next(
            (p.stem for p in self.state_dir.glob("*.json") if (self._read_state(p.stem) or {}).get("pid") == pid), None
        )
        tail = await asyncio.to_thread(self._read_log, name, LOG_TAIL_LINES) if name is not None else ""
        return Exit(code if code is not None else 0, False, tail)

    async def token(self, container_id: str) -> str | None:
        return self._token_of(int(container_id.removeprefix(ID_PREFIX)))

    def _token_of(self, pid: int) -> str | None:
        if pid not in self._tokens:
            token = _environ(pid).get("JUPYTER_TOKEN")
            if token:
                self._tokens[pid] = token
        return self._tokens.get(pid)

    def _read_log(self, name: str, tail: int | None = None) -> str:
        """The server's log with its token redacted; only the last `tail` lines when asked."""
        state = self._read_state(name)
        token = self._token_of(int(state["pid"])) if state else None
        try:
            text = self._log_file(name).read_text(errors="replace")
        except OSError:
            return ""
        return last_lines(redact(text, token), tail)

    async def stop(self, name: str, timeout: float) -> None:
        state = self._read_state(name)
        if state is None:
            return
        pid = int(state["pid"])
        self._token_of(pid)  # while the process can still tell: its log is redacted with it later
        await asyncio.to_thread(self._terminate, pid, timeout)

    def _terminate(self, pid: int, timeout: float) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        child = self._children.pop(pid, None)
        while time.monotonic() < deadline:
            if (child.poll() is not None) if child is not None else not _alive(pid):
                return
            time.sleep(0.01)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        if child is not None:
            child.wait()

    async def discard(self, name: str) -> str:
        state = self._read_state(name)
        text = await asyncio.to_thread(self._read_log, name)
        for path in (self._state_file(name), self._log_file(name)):
            path.unlink(missing_ok=True)
        if state is not None:
            self._tokens.pop(int(state["pid"]), None)
        return text

    async def remove_leftover(self, name: str) -> None:
        await self.stop(name, timeout=5)
        await self.discard(name)

    async def find(self) -> list[Found]:
        found = []
        for path in sorted(self.state_dir.glob("*.json")):
            state = self._read_state(path.stem)
            if state is None:
                continue
            try:
                spec = NotebookSpec.from_json(state["spec"])
                pid, port = int(state["pid"]), int(state["port"])
            except (KeyError, TypeError, ValueError):
                continue
            child = self._children.get(pid)
            running = (child.poll() is None) if child is not None else _alive(pid)
            found.append(
                Found(
                    spec=spec,
                    container_id=f"{ID_PREFIX}{pid}",
                    running=running,
                    never_started=False,
                    url=f"http://127.0.0.1:{port}/" if running else None,
                    exit_code=None if running else (child.returncode if child is not None else 0),
                    created_at=float(state.get("created", 0)),
                )
            )
        return found

    async def logs(self, name: str, tail: int | None) -> str | None:
        if self._read_state(name) is None:
            return None
        return await asyncio.to_thread(self._read_log, name, tail)

    async def follow_logs(self, name: str) -> AsyncIterator[str]:
        """Lines as the server writes them, until it ends."""
        state = self._read_state(name)
        if state is None:
            return
        pid = int(state["pid"])
        log = await asyncio.to_thread(open, self._log_file(name), errors="replace")
        try:
            backlog = await asyncio.to_thread(log.read)
            for line in backlog.splitlines()[-200:]:
                yield line
            while True:
                line = await asyncio.to_thread(log.readline)
                if line:
                    yield line.rstrip("\n")
                    continue
                if await self.exit_status(f"{ID_PREFIX}{pid}") is not None:
                    return
                await asyncio.sleep(0.2)
        finally:
            log.close()

    async def close(self) -> None:
        """Servers keep running (they are adopted on the next start); only reap what already ended."""
        for child in self._children.values():
            child.poll()
