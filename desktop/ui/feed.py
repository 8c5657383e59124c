"""What every sampling feed of the window has (CPU and memory, this machine's GPUs, the remote hosts' GPUs):
one background asyncio task at a time, (re)started by `_begin` and cancelled by `stop`, and the listeners that
hear each round. Qt-free."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

ListenerT = TypeVar("ListenerT", bound=Callable[..., object])


class Feed(Generic[ListenerT]):
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[ListenerT] = []

    def subscribe(self, listener: ListenerT) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()

    def _begin(self, rounds: Coroutine[Any, Any, None]) -> None:
        self.stop()
        self._task = asyncio.ensure_future(rounds)
