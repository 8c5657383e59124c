"""Image pull progress: folds Docker's pull stream (one JSON event per layer step) into totals."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from desktop.core.errors import LabdockError
from desktop.core.models import PullStatus

_DONE = ("Pull complete", "Already exists")


class PullCancelled(LabdockError):
    def __init__(self) -> None:
        super().__init__("the image pull was cancelled")


class PullTracker:
    """Bytes downloaded and layers finished so far, from the events seen."""

    def __init__(self) -> None:
        self._bytes: dict[str, tuple[int, int]] = {}  # layer -> (downloaded, size)
        self._layers: set[str] = set()
        self._finished: set[str] = set()

    def feed(self, event: Mapping[str, Any]) -> bool:
        """Take one event; True when the totals changed. Raises LabdockError on an error event."""
        if "error" in event:
            raise LabdockError(str(event.get("error")))
        layer, status = event.get("id"), str(event.get("status", ""))
        if not layer or status.startswith("Pulling from"):
            return False
        self._layers.add(layer)
        detail = event.get("progressDetail") or {}
        if status == "Downloading" and detail.get("total"):
            self._bytes[layer] = (int(detail.get("current", 0)), int(detail["total"]))
        elif status in ("Download complete", *_DONE) and layer in self._bytes:
            size = self._bytes[layer][1]
            self._bytes[layer] = (size, size)
        if status in _DONE:
            self._finished.add(layer)
        return True

    @property
    def status(self) -> PullStatus:
        return PullStatus(
            bytes_done=sum(done for done, _ in self._bytes.values()),
            bytes_total=sum(size for _, size in self._bytes.values()),
            layers_done=len(self._finished),
            layers_total=len(self._layers),
        )


def follow_pull(
    events: Iterable[Mapping[str, Any]], on_progress: Callable[[PullStatus], None] | None, cancel: threading.Event
) -> PullStatus:
    """Consume a pull stream, reporting progress; stops (closing the stream) as soon as `cancel` is set."""
    tracker = PullTracker()
    try:
        for event in events:
            if cancel.is_set():
                raise PullCancelled()
            if tracker.feed(event) and on_progress is not None:
                on_progress(tracker.status)
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
    return tracker.status
