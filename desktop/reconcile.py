"""Adoption rules: what to do with the rows this process knows, given what the engines report now.

A pure function (no Qt, no Docker, no I/O): the manager gathers the facts (what each engine found,
which engines did not answer, the remembered specs, which servers have answered once, which
notebooks another live process holds the lease of), asks `reconcile` for actions and carries them out.
Keeping the rules here lets them be tested exhaustively without an engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from desktop.core.models import NotebookSpec, NotebookState
from desktop.engines.base import Found


@dataclass(frozen=True)
class KnownRow:
    """What this process believes about one notebook."""

    spec: NotebookSpec
    state: NotebookState
    container_id: str | None
    busy: bool  # this process is launching, stopping or removing it right now


@dataclass(frozen=True)
class Facts:
    found: Mapping[str, Found]  # by notebook name, from the engines that answered
    unavailable: frozenset[str] = frozenset()  # engines that did not answer: their rows stay as they are
    remembered: Mapping[str, NotebookSpec] = field(default_factory=dict)
    answered: frozenset[str] = frozenset()  # server ids that some Labdock has seen answering
    leased_elsewhere: frozenset[str] = frozenset()  # names another live process is working on


@dataclass(frozen=True)
class Adopt:
    """Take the server in. `known_up`: it has answered before, so no probe is needed."""

    found: Found
    known_up: bool


@dataclass(frozen=True)
class SettleEnded:
    """The server exists but has ended: ask the engine how, then STOPPED or FAILED."""

    found: Found


@dataclass(frozen=True)
class CleanInterrupted:
    """Created, never started, and no live process is making it: remove it, keep a STOPPED row."""

    found: Found


@dataclass(frozen=True)
class WatchElsewhere:
    """Another live process is launching it: show it as starting, touch nothing."""

    found: Found


@dataclass(frozen=True)
class AddStopped:
    spec: NotebookSpec


@dataclass(frozen=True)
class MarkGone:
    """Its server vanished: it was running (removed outside Labdock), or another process was
    launching it and gave up. The row becomes STOPPED with `reason`."""

    name: str
    reason: str | None


@dataclass(frozen=True)
class Drop:
    """Removed by another Labdock process: it is neither running nor remembered any more."""

    name: str


Action = Adopt | SettleEnded | CleanInterrupted | WatchElsewhere | AddStopped | MarkGone | Drop

_SETTLED = (NotebookState.STOPPED, NotebookState.FAILED)


REMOVED_OUTSIDE = "its container was removed outside Labdock"


def reconcile(known: Mapping[str, KnownRow], facts: Facts, engines: frozenset[str]) -> list[Action]:
    """The actions that bring `known` in line with `facts`. Rows this process is busy with are its
    own business and never touched; rows of an engine that did not answer are kept as they are."""
    actions: list[Action] = []
    for name, item in facts.found.items():
        row = known.get(name)
        if row is not None and row.busy:
            continue
        if name in facts.leased_elsewhere:
            if row is None or (row.state in _SETTLED and (item.running or item.never_started)):
                actions.append(WatchElsewhere(item))
        elif item.never_started:
            actions.append(CleanInterrupted(item))
        elif item.running:
            same = row is not None and row.container_id == item.container_id
            up_here = same and row is not None and row.state is NotebookState.READY
            if not up_here:
                actions.append(Adopt(item, known_up=item.container_id in facts.answered))
        elif not (row is not None and row.container_id == item.container_id and row.state in _SETTLED):
            actions.append(SettleEnded(item))  # already known to have ended: no need to ask again
    for name, spec in facts.remembered.items():
        if name not in facts.found and name not in known and spec.engine in engines:
            actions.append(AddStopped(spec))
    for name, row in known.items():
        if name in facts.found or row.busy or row.spec.engine in facts.unavailable or name in facts.leased_elsewhere:
            continue
        remembered = name in facts.remembered
        if row.state is NotebookState.READY:
            actions.append(MarkGone(name, REMOVED_OUTSIDE))
        elif row.state.busy:  # shown as another process's launch, which has ended without a server
            actions.append(MarkGone(name, None) if remembered else Drop(name))
        elif row.state is NotebookState.STOPPED and not remembered:
            actions.append(Drop(name))
    return actions
