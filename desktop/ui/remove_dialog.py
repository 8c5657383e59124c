"""Remove asks first: the work folder is kept unless "Also delete the work folder (path, size)" is
ticked. The size is counted on a worker thread, bounded in time and files, while the question shows."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QCheckBox, QMessageBox, QWidget

from desktop.core.validation import format_bytes

SIZE_SECONDS = 2.0  # a huge folder on a slow disk gets "more than ..." rather than a long count
SIZE_ENTRIES = 200_000


class RemoveChoice(Enum):
    CANCEL = "cancel"
    KEEP_WORK = "keep"
    DELETE_WORK = "delete"
    FORGET = "forget"  # its host does not answer: dropped from Labdock only


def folder_size(folder: Path, seconds: float = SIZE_SECONDS, entries: int = SIZE_ENTRIES) -> tuple[int, bool]:
    """(bytes, complete) of the files under `folder`, not following links; stops at the bounds."""
    total, seen, deadline = 0, 0, time.monotonic() + seconds
    todo = [folder]
    while todo:
        with contextlib.suppress(OSError), os.scandir(todo.pop()) as found:
            for entry in found:
                seen += 1
                if seen > entries or (seen % 1000 == 0 and time.monotonic() > deadline):
                    return total, False
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
    return total, True


def size_text(size: int, complete: bool) -> str:
    return format_bytes(size) if complete else f"more than {format_bytes(size)}"


def delete_text(work_dir: Path | None, size: str, host: str | None = None) -> str:
    if work_dir is None:
        return "Also delete the work folder (this notebook has none)"
    if host is not None:  # its size would take a walk over SSH: the path says enough
        return f"Also delete the work folder on '{host}' and every file in it ({work_dir})"
    return f"Also delete the work folder and every file in it ({work_dir}, {size})"


class _SizeProbe(QObject):
    """Counts on a thread; the result reaches the Qt thread as a queued signal."""

    measured = Signal(str)

    def start(self, folder: Path) -> None:
        def run() -> None:
            text = size_text(*folder_size(folder))
            with contextlib.suppress(RuntimeError):  # the question was answered and is gone
                self.measured.emit(text)

        threading.Thread(target=run, name="labdock-folder-size", daemon=True).start()


def ask_remove(
    parent: QWidget | None,
    name: str,
    work_dir: Path | None,
    host: str | None = None,
    unreachable: str | None = None,
) -> RemoveChoice:
    """Remove, keeping the work folder by default; deleting it is an explicit tick (the manager still
    refuses a folder outside the work root or one another notebook uses, and says so). `host`: the remote
    host the notebook runs on; `unreachable`: why that host does not answer, in which case the notebook can
    only be forgotten here (its server and folder stay on the host)."""
    if unreachable is not None:
        answer = QMessageBox.question(
            parent,
            "Forget notebook",
            f"'{name}' runs on '{host}', which does not answer ({unreachable}).\n\nForget it here? Its server "
            "and work folder stay on the host; if the host answers again, its server is listed again.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return RemoveChoice.FORGET if answer == QMessageBox.StandardButton.Yes else RemoveChoice.CANCEL
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Remove notebook",
        f"Remove '{name}'? Its server is stopped and the row goes away.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        parent,
    )
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    delete = QCheckBox(delete_text(work_dir, "counting…", host))
    delete.setEnabled(work_dir is not None)
    box.setCheckBox(delete)
    probe = _SizeProbe(box)
    if work_dir is not None and host is None:
        probe.measured.connect(lambda size: delete.setText(delete_text(work_dir, size)))
        probe.start(work_dir)
    if box.exec() != QMessageBox.StandardButton.Yes:
        return RemoveChoice.CANCEL
    return RemoveChoice.DELETE_WORK if delete.isChecked() else RemoveChoice.KEEP_WORK
