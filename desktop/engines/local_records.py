"""The Local engine's records: one 0600 state file per server this installation started (pid + start
time + boot id, port, spec; never the token), its log and its private Jupyter runtime dir."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.core.errors import LabdockError, NotOurs
from desktop.core.models import NotebookSpec
from desktop.engines.process_identity import ProcessIdentity
from desktop.store import write_atomic

log = logging.getLogger(__name__)

ID_PREFIX = "local:"


@dataclass(frozen=True)
class Record:
    """One state file: a server this installation started."""

    identity: ProcessIdentity
    port: int
    created: float
    spec: NotebookSpec

    @property
    def container_id(self) -> str:
        return f"{ID_PREFIX}{self.identity.pid}"

    @classmethod
    def from_json(cls, data: Any) -> Record:
        """Raises KeyError/TypeError/ValueError/LabdockError for anything malformed."""
        if not isinstance(data, dict):
            raise TypeError("not an object")
        identity = ProcessIdentity(int(data["pid"]), int(data["start_time"]), str(data["boot_id"]))
        return cls(identity, int(data["port"]), float(data["created"]), NotebookSpec.from_json(data["spec"]))

    def to_json(self) -> dict[str, Any]:
        return {**self.identity.to_json(), "port": self.port, "created": self.created, "spec": self.spec.to_json()}


def environ_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def pid_of(container_id: str) -> int | None:
    number = container_id.removeprefix(ID_PREFIX)
    return int(number) if container_id.startswith(ID_PREFIX) and number.isdigit() else None


def private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # an older or umask-made folder is tightened too


class LocalRecords:
    """The state dir: where each notebook's record, log and runtime dir are, read defensively."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._warned: set[tuple[Path, int]] = set()  # (record, mtime): a window refresh must not repeat it

    def state_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.json"

    def log_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.log"

    def runtime_dir(self, name: str) -> Path:
        return self.state_dir / f"{name}.runtime"

    def read(self, path: Path) -> Record | None:
        """The record in `path`; None when absent, and with a warning when unreadable or malformed."""
        try:
            return Record.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, KeyError, TypeError, ValueError, LabdockError) as exc:
            self.warn_once(path, f"ignoring the unreadable local server record {path}: {exc or type(exc).__name__}")
            return None

    def warn_once(self, path: Path, message: str) -> None:
        try:
            key = (path, path.stat().st_mtime_ns)
        except OSError:
            key = (path, 0)
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)

    def record(self, name: str, container_id: str | None = None) -> Record | None:
        """The notebook's record; NotOurs when the caller knows a different server under this name."""
        record = self.read(self.state_file(name))
        if record is not None and container_id is not None and container_id != record.container_id:
            raise NotOurs(f"the local server of '{name}' is {record.container_id}, not {container_id}: left alone")
        return record

    def by_pid(self, pid: int | None) -> tuple[str, Record] | None:
        for path in sorted(self.state_dir.glob("*.json")):
            record = self.read(path)
            if record is not None and record.identity.pid == pid:
                return path.stem, record
        return None

    def write(self, name: str, record: Record) -> None:
        """Atomic, and 0600 from the moment the file exists (mkstemp creates it so)."""
        write_atomic(self.state_file(name), json.dumps(record.to_json()))
