"""Whether a notebook's row can be trusted now, and what to say when it cannot.

Two cases keep a row as it was while its machine does not answer: this machine's Docker engine is away
(the state is unknown: the row says so), or the remote host the notebook runs on did not answer at the
last refresh (the row shows its last known state, marked, with the host's problem line as tooltip).
Either way the row is greyed; it comes back by itself when the engine or host answers again.
Qt-free: the table model, the tray and the commands share these rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from desktop.core.models import Notebook
from desktop.ui.cell_text import state_text

AWAY_TEXT = "unknown (Docker not reachable)"
HOST_AWAY = "host unreachable"


@dataclass(frozen=True)
class Away:
    text: str  # what the State cell says
    why: str  # the tooltip: the engine's or the host's problem
    known: bool  # whether the state shown is still worth something (a host's last known state is)


def engine_away(notebook: Notebook, problem: str | None) -> bool:
    """The manager keeps the rows of this machine's Docker engine as they were while it does not answer."""
    return problem is not None and notebook.engine == "docker"


def row_away(notebook: Notebook, engine_problem: str | None, host_problems: Mapping[str, str]) -> Away | None:
    """None while the row's engine answers; else what its State cell and tooltip say."""
    if engine_away(notebook, engine_problem):
        return Away(AWAY_TEXT, f"Last known: {notebook.state.value}. {engine_problem}", known=False)
    problem = host_problems.get(notebook.engine)
    if problem is not None:
        return Away(f"{state_text(notebook)} — {HOST_AWAY}", one_line(problem), known=True)
    return None


def one_line(text: str) -> str:
    """The first non-empty line: what fits a status bar, a tooltip's first line, a table cell."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
