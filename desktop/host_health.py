"""Which remote hosts answer now. A host that does not keeps its rows as they were, shown as unreachable,
while the other hosts and this machine go on; its rows come back to life when it answers again."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

log = logging.getLogger(__name__)
HostListener = Callable[[], None]


class HostHealth:
    def __init__(self) -> None:
        self.problems: dict[str, str] = {}  # host name -> why it cannot be reached
        self._listeners: list[HostListener] = []

    def problem(self, engine: str) -> str | None:
        return self.problems.get(engine)

    def subscribe(self, listener: HostListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def update(self, checked: Iterable[str], unreachable: Mapping[str, str]) -> None:
        """After asking each host in `checked`: the ones in `unreachable` are down (with the reason)."""
        problems = {name: problem for name, problem in self.problems.items() if name not in set(checked)}
        problems.update(unreachable)
        if problems == self.problems:
            return
        self.problems = problems
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("host listener failed")
