"""Where Labdock keeps things on disk: remembered notebooks, settings, work folders, saved logs.

LABDOCK_HOME, when set, puts everything under one folder (tests, portable installs); otherwise the
platform's config and data dirs (platformdirs). Files are written atomically (temp file + rename) and a
corrupt file is kept aside as a backup instead of crashing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from desktop.core.models import NotebookSpec

log = logging.getLogger(__name__)
APP_NAME = "labdock"


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    work_root_override: Path | None = None

    @classmethod
    def default(cls) -> Paths:
        home = os.environ.get("LABDOCK_HOME")
        if home:
            return cls(Path(home) / "config", Path(home) / "data")
        return cls(Path(platformdirs.user_config_dir(APP_NAME)), Path(platformdirs.user_data_dir(APP_NAME)))

    @property
    def notebooks_file(self) -> Path:
        return self.config_dir / "notebooks.json"

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def install_id_file(self) -> Path:
        return self.config_dir / "install-id"

    @property
    def leases_dir(self) -> Path:
        return self.config_dir / "leases"

    @property
    def work_root(self) -> Path:
        return self.work_root_override or self.data_dir / "work"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    def default_work_dir(self, name: str) -> Path:
        return self.work_root / name

    def saved_log(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> Any:
    """The file's JSON, None when absent; a corrupt file is moved aside (`.corrupt`) with a warning."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        backup = path.with_suffix(path.suffix + ".corrupt")
        os.replace(path, backup)
        log.warning("%s was unreadable (%s); kept it as %s and started from defaults", path, exc, backup)
        return None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock shared by every Labdock process (GUI and CLI) for read-modify-write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class SpecStore:
    """The notebooks the user has made, so stopped ones come back as rows after a restart; and which
    containers have answered once, so a restarted Labdock need not probe those again."""

    def __init__(self, paths: Paths) -> None:
        self._file = paths.notebooks_file

    def load(self) -> dict[str, NotebookSpec]:
        return _specs(self._read())

    def snapshot(self) -> tuple[dict[str, NotebookSpec], set[str]]:
        """The remembered specs and the ids of containers whose server has answered (READY) at least
        once, from one read of the file (a refresh needs both)."""
        data = self._read()
        return _specs(data), _answered(data)

    def put(self, spec: NotebookSpec) -> None:
        with locked(self._file):
            data = self._read()
            data.setdefault("notebooks", {})[spec.name] = spec.to_json()
            self._write(data)

    def mark_answered(self, answers: Mapping[str, str]) -> None:
        """Record, by notebook name, the containers whose server has answered (one write for all)."""
        with locked(self._file):
            data = self._read()
            data.setdefault("answered", {}).update(answers)
            self._write(data)

    def forget(self, name: str) -> None:
        with locked(self._file):
            data = self._read()
            known = name in (data.get("notebooks") or {}) or name in (data.get("answered") or {})
            for section in ("notebooks", "answered"):
                (data.get(section) or {}).pop(name, None)
            if known:
                self._write(data)

    def _read(self) -> dict[str, Any]:
        data = read_json(self._file)
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        data["version"] = 1
        for section in ("notebooks", "answered"):
            data[section] = dict(sorted((data.get(section) or {}).items()))
        write_atomic(self._file, json.dumps(data, indent=2) + "\n")


def install_id(paths: Paths) -> str:
    """A random id of this installation; containers carry it so only ours are adopted."""
    with locked(paths.install_id_file):
        try:
            value = paths.install_id_file.read_text().strip()
        except FileNotFoundError:
            value = ""
        if len(value) < 16:
            value = secrets.token_hex(16)
            write_atomic(paths.install_id_file, value + "\n")
            os.chmod(paths.install_id_file, 0o600)
        return value


def _specs(data: dict[str, Any]) -> dict[str, NotebookSpec]:
    specs: dict[str, NotebookSpec] = {}
    for name, raw in (data.get("notebooks") or {}).items():
        try:
            specs[name] = NotebookSpec.from_json(raw)
        except (TypeError, ValueError, KeyError) as exc:
            log.warning("skipped remembered notebook %r: %s", name, exc)
    return specs


def _answered(data: dict[str, Any]) -> set[str]:
    return {str(ident) for ident in (data.get("answered") or {}).values()}
