"""What the window says about each remote host: whether it answers, its Docker version and its GPUs.

Qt-free. `check_host` connects (over the host's own SSH connection, off the Qt thread) and never raises:
an unreachable host's state is its problem line. `host_rows` lists the hosts for Preferences: every entry
kept in Preferences (one that cannot be read included, so it can be removed), then the hosts of the user's
ssh:// Docker contexts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from desktop.core.errors import InvalidSpec, LabdockError
from desktop.engines.remote_engine import RemoteDockerEngine
from desktop.engines.ssh_hosts import RemoteHost, parse_host
from desktop.remote_gpus import over_ssh, read_remote_gpus
from desktop.ui.row_reach import one_line

UNCHECKED = "not checked yet"
CHECKING = "checking…"
NEW = "added: in use once saved"


@dataclass(frozen=True)
class HostState:
    reachable: bool
    text: str  # "reachable · Docker 20.10.24 · 2 GPUs", or why it is not
    detail: str = ""  # the whole line where `text` shortens it (the row's tooltip)


def problem_state(problem: str, host: RemoteHost) -> HostState:
    """An unreachable host's state: its problem without the 'host NAME (TARGET)' its row already shows."""
    line = one_line(problem)
    short = line
    for where in (f"host '{host.name}' ({host.target}, over SSH)", f"host '{host.name}' ({host.target})"):
        if line.startswith(where):
            short = line.removeprefix(where).removeprefix(":").strip()
            break
    return HostState(False, short or line, line)


@dataclass(frozen=True)
class HostRow:
    """One line of the Remote hosts list. `entry` is the Preferences text (None for a context's host)."""

    name: str
    target: str
    source: str  # "Preferences" or "context NAME"
    entry: str | None
    state: HostState

    @property
    def from_preferences(self) -> bool:
        return self.entry is not None


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def known_state(engine: RemoteDockerEngine, problem: str | None = None) -> HostState:
    """What is known without connecting: the last problem (the manager's refresh, or the link's own), or
    the Docker version found when it last connected."""
    problem = problem or engine.link.problem
    if problem is not None:
        return problem_state(problem, engine.link.host)
    facts = engine.link.facts
    if facts is None:
        return HostState(False, UNCHECKED)
    return HostState(True, f"reachable · Docker {facts.docker_version}")


async def check_host(engine: RemoteDockerEngine) -> HostState:
    """Connect if need be, ask Docker there and count its GPUs (nvidia-smi); never raises."""
    host = engine.link.host
    try:
        version = await engine.engine_version()
    except LabdockError as exc:
        return problem_state(engine.link.problem or str(exc), host)
    report = await read_remote_gpus(over_ssh(engine.link))
    if report.problem:
        gpus = f"GPUs: {one_line(report.problem)}"
    elif not report.inventory.gpus:
        gpus = f"no GPU: {report.inventory.reason}" if report.inventory.reason else "no GPU"
    else:
        gpus = plural(len(report.inventory.gpus), "GPU")
    return HostState(True, f"reachable · {version} · {gpus}")


def host_rows(
    entries: Iterable[str],
    remotes: Mapping[str, RemoteDockerEngine],
    problems: Mapping[str, str],
    left_out: Sequence[str] = (),
) -> list[HostRow]:
    """The Preferences entries in their order, then the context hosts in use. `problems`: the manager's (hosts
    that did not answer at its last refresh); `left_out`: why entries were not used (Services.host_problems)."""
    rows: list[HostRow] = []
    for entry in entries:
        try:
            host = parse_host(entry)
        except InvalidSpec as exc:
            rows.append(HostRow(entry, "", "Preferences", entry, HostState(False, f"cannot be used: {exc}")))
            continue
        rows.append(preference_row(host, entry, remotes, problems, left_out))
    shown = {row.name for row in rows}
    for name, engine in remotes.items():
        if name not in shown:
            host = engine.link.host
            rows.append(HostRow(name, host.target, host.source, None, known_state(engine, problems.get(name))))
    return rows


def preference_row(
    host: RemoteHost,
    entry: str,
    remotes: Mapping[str, RemoteDockerEngine],
    problems: Mapping[str, str],
    left_out: Sequence[str] = (),
) -> HostRow:
    """A host kept in (or just added to) Preferences: its engine's state when it is the one in use."""
    engine = remotes.get(host.name)
    if engine is None or engine.link.host.entry() != host.entry():
        why = next((line for line in left_out if f"'{host.name}'" in line), None)
        state = HostState(False, f"not in use: {why}" if why else NEW)
    else:
        state = known_state(engine, problems.get(host.name))
    return HostRow(host.name, host.target, host.source, entry, state)
