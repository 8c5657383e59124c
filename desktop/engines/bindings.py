"""Which notebook a handed-out spare container now is: one small file per container id.

Docker cannot change a container's labels, so a spare (labelled `org.labdock.spare`, no spec) that was
handed to a notebook keeps its spare labels for life. Its spec is recorded here instead, written atomically
before the container is renamed. A spare counts as the notebook only when both hold: a binding names the
notebook, and the container carries the notebook's name (Docker's rename is the atomic commit point).
A binding whose container still has its spare name is a hand-out that never finished.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from desktop.core.models import NotebookSpec
from desktop.store import write_atomic

log = logging.getLogger(__name__)
_ID = re.compile(r"^[0-9a-f]{12,64}$")


@dataclass(frozen=True)
class Binding:
    spec: NotebookSpec  # the notebook's, work folder included
    spare_dir: Path  # the spare's own folder, renamed to spec.work_dir during the hand-out


class Bindings:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, container_id: str) -> Path:
        if not _ID.match(container_id):  # the id names a file: never let it name another place
            raise ValueError(f"not a container id: {container_id!r}")
        return self.folder / f"{container_id}.json"

    def write(self, container_id: str, binding: Binding) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = {"spec": binding.spec.to_json(), "spare_dir": str(binding.spare_dir)}
        write_atomic(self._path(container_id), json.dumps(data, sort_keys=True) + "\n")

    def read(self, container_id: str) -> Binding | None:
        try:
            data = json.loads(self._path(container_id).read_text())
            return Binding(NotebookSpec.from_json(data["spec"]), Path(data["spare_dir"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("the spare binding of container %s is unreadable (%s); treated as none", container_id[:12], exc)
            return None

    def forget(self, container_id: str) -> None:
        self._path(container_id).unlink(missing_ok=True)

    def ids(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return [p.stem for p in self.folder.glob("*.json") if _ID.match(p.stem)]
