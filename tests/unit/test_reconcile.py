"""The adoption rules as a table: known rows + what the engines report -> actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.models import NotebookSpec, NotebookState
from desktop.engines.base import Found
from desktop.reconcile import (
    REMOVED_OUTSIDE,
    AddStopped,
    Adopt,
    CleanInterrupted,
    Drop,
    Facts,
    KnownRow,
    MarkGone,
    SettleEnded,
    WatchElsewhere,
    reconcile,
)

S = NotebookState
ENGINES = frozenset({"docker", "local"})


def spec(name: str = "nb", engine: str = "docker") -> NotebookSpec:
    return NotebookSpec(name=name, image="img", work_dir=Path("/w") / name, engine=engine)


def found(name: str = "nb", ident: str = "c1", *, running: bool = True, created: bool = False) -> Found:
    return Found(
        spec=spec(name),
        container_id=ident,
        running=running and not created,
        never_started=created,
        url="http://127.0.0.1:1/" if running and not created else None,
        exit_code=None if running or created else 0,
        created_at=0.0,
    )


def row(state: NotebookState, ident: str | None = "c1", busy: bool = False, name: str = "nb") -> KnownRow:
    return KnownRow(spec(name), state, ident, busy)


CASES = [
    # (known row or None, found or None, extra facts, expected actions)
    pytest.param(None, found(), {}, [Adopt(found(), known_up=False)], id="new running server is adopted and probed"),
    pytest.param(
        None, found(), {"answered": frozenset({"c1"})}, [Adopt(found(), True)], id="answered before: no probe"
    ),
    pytest.param(row(S.READY), found(), {}, [], id="ready row, same server: nothing to do"),
    pytest.param(row(S.READY, "old"), found(), {}, [Adopt(found(), False)], id="another server of ours replaced it"),
    pytest.param(row(S.STARTING, busy=True), found(), {}, [], id="this process is busy with it: hands off"),
    pytest.param(None, found(created=True), {}, [CleanInterrupted(found(created=True))], id="abandoned half launch"),
    pytest.param(
        None,
        found(created=True),
        {"leased_elsewhere": frozenset({"nb"})},
        [WatchElsewhere(found(created=True))],
        id="half launch of a live process is watched, never removed",
    ),
    pytest.param(
        row(S.READY),
        found(),
        {"leased_elsewhere": frozenset({"nb"})},
        [],
        id="another process stopping a ready notebook: unchanged until it is done",
    ),
    pytest.param(
        row(S.STOPPED, None),
        found(),
        {"leased_elsewhere": frozenset({"nb"})},
        [WatchElsewhere(found())],
        id="another process starting a stopped one: shown as starting",
    ),
    pytest.param(None, found(running=False), {}, [SettleEnded(found(running=False))], id="ended server is settled"),
    pytest.param(row(S.STOPPED), found(running=False), {}, [], id="already known to have ended"),
    pytest.param(row(S.READY), None, {}, [MarkGone("nb", REMOVED_OUTSIDE)], id="ready server vanished"),
    pytest.param(row(S.READY), None, {"unavailable": frozenset({"docker"})}, [], id="engine silent: row kept"),
    pytest.param(row(S.READY, busy=True), None, {}, [], id="busy row not marked gone"),
    pytest.param(
        row(S.READY), None, {"leased_elsewhere": frozenset({"nb"})}, [], id="being restarted elsewhere: not gone"
    ),
    pytest.param(
        row(S.STARTING),
        None,
        {"remembered": {"nb": spec()}},
        [MarkGone("nb", None)],
        id="watched launch elsewhere ended without a server: stopped",
    ),
    pytest.param(row(S.STARTING), None, {}, [Drop("nb")], id="watched first launch elsewhere failed: row goes"),
    pytest.param(row(S.STOPPED, None), None, {}, [Drop("nb")], id="removed by another process"),
    pytest.param(row(S.STOPPED, None), None, {"remembered": {"nb": spec()}}, [], id="stopped and remembered"),
    pytest.param(row(S.FAILED, None), None, {}, [], id="a failure stays visible"),
    pytest.param(None, None, {"remembered": {"nb": spec()}}, [AddStopped(spec())], id="remembered comes back stopped"),
]


@pytest.mark.parametrize(("known", "item", "extra", "expected"), CASES)
def test_reconcile(
    known: KnownRow | None, item: Found | None, extra: dict[str, object], expected: list[object]
) -> None:
    facts = Facts(found={"nb": item} if item else {}, **extra)  # type: ignore[arg-type]
    assert reconcile({"nb": known} if known else {}, facts, ENGINES) == expected


def test_remembered_notebook_of_an_unknown_engine_is_not_listed() -> None:
    facts = Facts(found={}, remembered={"x": spec("x", engine="elsewhere")})
    assert reconcile({}, facts, ENGINES) == []


def test_rows_of_other_notebooks_are_independent() -> None:
    known = {"a": row(S.READY, "ca", name="a"), "b": row(S.READY, "cb", name="b")}
    facts = Facts(found={"a": found("a", "ca")})
    assert reconcile(known, facts, ENGINES) == [MarkGone("b", REMOVED_OUTSIDE)]
