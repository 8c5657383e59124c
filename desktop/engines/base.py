"""The Engine protocol: what the manager needs from something that runs JupyterLab servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from desktop.core.models import NotebookSpec, PullStatus

LOG_TAIL_LINES = 30  # of a failed server's log, shown with the failure
PullProgress = Callable[[PullStatus], None]  # called from a worker thread


@dataclass(frozen=True)
class Started:
    """A server process/container that was started; readiness is checked by the manager."""

    container_id: str
    url: str  # base URL ending in '/', without the token


@dataclass(frozen=True)
class Found:
    """A server the engine already runs or ran (adopted on restore)."""

    spec: NotebookSpec
    container_id: str
    running: bool
    never_started: bool  # created, then the launching process died before starting it
    url: str | None
    exit_code: int | None
    created_at: float


@dataclass(frozen=True)
class Exit:
    """How a server that was expected to run ended."""

    exit_code: int
    oom_killed: bool
    log_tail: str

    @property
    def port_taken(self) -> bool:
        """JupyterLab gave up because its port was taken (we start it with port_retries=0)."""
        return "is not available" in self.log_tail or "already in use" in self.log_tail

    def describe(self) -> str:
        why = "it ran out of memory (OOMKilled)" if self.oom_killed else f"it exited with code {self.exit_code}"
        tail = f"; last log lines:\n{self.log_tail}" if self.log_tail.strip() else ""
        return f"the server stopped: {why}{tail}"


def last_lines(text: str, count: int | None) -> str:
    """The last `count` lines of a log (all of it for None)."""
    return text if count is None else "\n".join(text.splitlines()[-count:])


class Engine(Protocol):
    name: str

    async def prepare(self, spec: NotebookSpec, on_pull: PullProgress | None) -> None:
        """Make the launch possible (image present, network usable) or raise a LabdockError saying why."""

    async def start(self, spec: NotebookSpec, token: str, secret_env: Mapping[str, str] | None = None) -> Started:
        """Create and start the server. The token and the secret variables reach it by environment only."""

    async def exit_status(self, container_id: str) -> Exit | None:
        """None while the server runs; how it ended otherwise."""

    async def token(self, container_id: str) -> str | None:
        """Read back the token of a server this installation started."""

    # Every operation below acts only on a server this installation can prove is its own (the engine's
    # ownership record: labels for Docker, pid + start time + boot id for Local). `container_id`, when the
    # caller knows one, must match too. A same-named server that is not ours raises NotOurs, untouched.

    async def stop(self, name: str, timeout: float, container_id: str | None = None) -> None:
        """Stop the notebook's server (it is stopped when this returns; no server is no error)."""

    async def discard(self, name: str, container_id: str | None = None) -> str:
        """Remove the stopped server; returns its whole log (token redacted) to keep."""

    async def remove_leftover(self, name: str, container_id: str | None = None) -> None:
        """Remove the notebook's server, running or not, if any."""

    async def find(self) -> list[Found]:
        """Every server of this installation that exists now (unreadable records skipped with a warning)."""

    async def logs(self, name: str, tail: int | None, container_id: str | None = None) -> str | None:
        """The server's log (token redacted), or None when it has no server now."""

    def follow_logs(self, name: str, container_id: str | None = None) -> AsyncIterator[str]:
        """Log lines as they come, until the server ends."""

    async def close(self) -> None: ...
