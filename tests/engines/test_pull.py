"""Pull progress from a recorded Docker pull stream (no registry is reachable here), and cancelling."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.core.errors import LabdockError
from desktop.core.models import PullStatus
from desktop.engines.pull import PullCancelled, follow_pull

RECORDED = Path(__file__).parent.parent / "data" / "pull_stream.jsonl"


def recorded() -> list[dict[str, Any]]:
    return [json.loads(line) for line in RECORDED.read_text().splitlines() if line.strip()]


def test_progress_follows_bytes_and_layers() -> None:
    seen: list[PullStatus] = []
    final = follow_pull(recorded(), seen.append, threading.Event())
    assert final == PullStatus(bytes_done=5 * 2**20, bytes_total=5 * 2**20, layers_done=3, layers_total=3)
    done = [s.bytes_done for s in seen]
    assert done == sorted(done)  # never goes backwards
    assert seen[0].layers_total == 1 and seen[-1] == final
    halfway = next(s for s in seen if s.bytes_done == 524288)
    assert halfway.bytes_total == 1048576 and halfway.layers_done == 1


def test_an_error_event_is_a_clear_error() -> None:
    events = [
        *recorded()[:3],
        {"errorDetail": {"message": "unauthorized"}, "error": "unauthorized: authentication required"},
    ]
    with pytest.raises(LabdockError, match="authentication required"):
        follow_pull(events, None, threading.Event())


def test_cancel_stops_reading_and_closes_the_stream() -> None:
    cancel = threading.Event()
    read: list[int] = []
    closed: list[bool] = []

    class Stream:
        def __iter__(self) -> Iterator[dict[str, Any]]:
            for i, event in enumerate(recorded()):
                read.append(i)
                yield event

        def close(self) -> None:
            closed.append(True)

    def on_progress(status: PullStatus) -> None:
        if status.bytes_done:
            cancel.set()  # the user pressed Stop while PULLING

    with pytest.raises(PullCancelled):
        follow_pull(Stream(), on_progress, cancel)
    assert closed == [True]
    assert len(read) < len(recorded())


@pytest.mark.docker
def test_manager_shows_pulling_and_stop_cancels_it(services, monkeypatch: pytest.MonkeyPatch, docker_engine) -> None:  # type: ignore[no-untyped-def]
    """The engine's real pull path with the registry's answer replaced by the recorded stream."""
    import asyncio

    from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
    from desktop.engines.docker_engine import DockerEngine
    from tests.conftest import TEST_PREFIX, arun

    def slow_stream(repository: str, tag: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for event in recorded():
            yield event
            threading.Event().wait(0.05)  # a slow network, in the worker thread

    real_pull = DockerEngine._pull

    def pull(self: DockerEngine, client: Any, image: str, on_pull: Any, cancel: threading.Event) -> None:
        monkeypatch.setattr(client.api, "pull", slow_stream)
        real_pull(self, client, image, on_pull, cancel)

    monkeypatch.setattr(DockerEngine, "_pull", pull)
    services.manager.engine.settings = type(services.manager.engine.settings)(
        **{**services.manager.engine.settings.__dict__, "pull_missing": True}
    )
    states: list[tuple[NotebookState, PullStatus | None]] = []

    async def scenario() -> None:
        manager = services.manager
        manager.subscribe(lambda e: states.append((e.notebook.state, e.notebook.pull_progress)))
        notebook = await manager.create(
            NotebookSpec("pulled", "127.0.0.1:9/labdock/never:1", network_mode=NetworkMode.HOST), wait=False
        )
        while not (notebook.pull_progress and notebook.pull_progress.bytes_done):
            await asyncio.sleep(0.01)
        assert notebook.state is NotebookState.PULLING
        await manager.stop("pulled")
        assert notebook.state is NotebookState.STOPPED
        await manager.close()

    arun(scenario())
    pulling = [p for s, p in states if s is NotebookState.PULLING]
    assert pulling and all(p is not None for p in pulling)
    assert pulling[-1] is not None and pulling[-1].bytes_total > 0
    assert not [c for c in docker_engine.client.containers.list(all=True) if c.name.startswith(TEST_PREFIX)]
