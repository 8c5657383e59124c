"""Process identity: a pid is trusted only with its start time and boot id; real processes, no mocks."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
from collections.abc import Iterator

import pytest

from desktop.engines.process_identity import (
    ProcessIdentity,
    boot_id,
    identify,
    is_running,
    parse_stat,
    read_stat,
    signal_group,
)

# 52 fields as Linux writes them; the command name holds spaces and parentheses.
STAT = "4242 (evil) S 1 2 (x) S 1 4242 4242 0 -1 4194560 5 0 0 0 1 2 0 0 20 0 1 0 987654 0 0 " + " ".join(["0"] * 29)


def test_fields_are_counted_after_the_last_parenthesis() -> None:
    stat = parse_stat(STAT)
    assert stat is not None and (stat.state, stat.pgid, stat.start_time) == ("S", 4242, 987654)


@pytest.mark.parametrize("text", ["", "4242 (x S 1 2", "4242 (x) S 1", "4242 (x) S 1 notanumber " + "0 " * 30])
def test_a_malformed_stat_line_is_none(text: str) -> None:
    assert parse_stat(text) is None


def test_this_process_is_identified_by_its_proc_entry() -> None:
    me = identify(os.getpid())
    assert me is not None and is_running(me)
    with open("/proc/self/stat") as own:
        assert me.start_time == int(own.read().rsplit(")", 1)[1].split()[19])
    assert re.fullmatch(r"[0-9a-f-]{36}", boot_id()) and me.boot_id == boot_id()
    assert identify(2**22 + 1) is None  # above pid_max's ceiling: never a process


@pytest.fixture
def leader() -> Iterator[subprocess.Popen[bytes]]:
    """A real process that leads its own session and group, like a Local server."""
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield child
    child.kill()
    child.wait()


def test_another_start_time_or_boot_is_another_process(leader: subprocess.Popen[bytes]) -> None:
    real = identify(leader.pid)
    assert real is not None and is_running(real)
    for stranger in (
        dataclasses.replace(real, start_time=real.start_time - 1),
        dataclasses.replace(real, boot_id="00000000-0000-0000-0000-000000000000"),
    ):
        assert not is_running(stranger)
        assert signal_group(stranger, signal.SIGKILL) is False
    assert leader.poll() is None  # nothing reached it


def test_the_recorded_leader_is_signalled(leader: subprocess.Popen[bytes]) -> None:
    real = identify(leader.pid)
    assert real is not None and signal_group(real, signal.SIGTERM)
    assert leader.wait(timeout=10) == -signal.SIGTERM
    assert not is_running(real)
    assert signal_group(real, signal.SIGKILL) is False  # reaped: gone


def test_a_process_that_does_not_lead_its_group_is_not_signalled() -> None:
    member = subprocess.Popen(["sleep", "60"])  # in this test run's group
    try:
        identity = identify(member.pid)
        assert identity is not None and read_stat(member.pid) is not None
        assert signal_group(identity, signal.SIGKILL) is False
        assert member.poll() is None
    finally:
        member.kill()
        member.wait()


def test_a_zombie_is_not_running() -> None:
    child = subprocess.Popen(["true"], start_new_session=True)
    identity = identify(child.pid)
    assert identity is not None
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    stat = read_stat(child.pid)
    assert stat is not None and stat.state == "Z"
    assert not is_running(identity)
    child.wait()


@pytest.mark.parametrize("pid", [0, -1, 1])
def test_no_signal_for_special_pids(pid: int) -> None:
    assert signal_group(ProcessIdentity(pid, 0, boot_id()), signal.SIGCONT) is False
