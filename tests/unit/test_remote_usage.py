"""A remote host's CPU and memory figures: the shell command's lines read as the local cgroup reader reads the
same files, and, for real, the command run through a shell here against a container of the test engine
agrees with desktop.ui.resource_usage's reading of it (this machine's cgroup layout, whichever it is)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from desktop.remote_gpus import CommandResult
from desktop.ui.remote_usage import HostUsage, parse, read_remote_counters
from desktop.ui.resource_usage import CgroupFinder, Counters
from tests.conftest import Engine, arun

CID = "ab" * 32
MiB = 1 << 20


def test_both_cgroup_versions_and_missing_values_are_read() -> None:
    reading = parse(
        "uptime 1234.56\n"
        f"{CID} v2 2500000 {300 * MiB} {100 * MiB} max\n"
        f"{'cd' * 32} v1 7000000000 {500 * MiB} - {1 << 30}\n"
        f"{'ef' * 32} v1 - {64 * MiB} 0 9223372036854771712\n"
        f"{'01' * 32} none\n"
        "sh: 1: garbage\n"
    )
    assert reading.at_ns == 1_234_560_000_000
    assert reading.counters == {
        CID: Counters(2_500_000_000, 200 * MiB, None),  # usage_usec; memory less the inactive file cache
        "cd" * 32: Counters(7_000_000_000, 500 * MiB, 1 << 30),
        "ef" * 32: Counters(None, 64 * MiB, None),  # v1's "no limit" is a number near 2**63
    }


def test_only_container_ids_are_put_on_the_command_line() -> None:
    asked: list[str] = []

    async def run(line: str, timeout: float) -> CommandResult:
        asked.append(line)
        return CommandResult(0, "uptime 1.00\n", "")

    assert arun(read_remote_counters(run, ["$(reboot)", "x y"]), timeout=10).counters == {}
    assert asked == []  # nothing to ask for
    arun(read_remote_counters(run, [CID]), timeout=10)
    assert asked[0].endswith(f" sh {CID}")


async def run_here(line: str, timeout: float) -> CommandResult:
    """The host's shell, played by this machine's: what an SSH exec returns."""
    process = await asyncio.create_subprocess_shell(
        line, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return CommandResult(process.returncode or 0, out.decode(), err.decode())


@pytest.mark.docker
def test_the_command_reads_a_real_container_as_the_local_reader_does(docker_engine: Engine, images: Any) -> None:
    busy = "x = bytearray(96 << 20)\nwhile True: pass"
    container = docker_engine.client.containers.run(
        images.plain, ["python3", "-c", busy], detach=True, network_mode="none", mem_limit="512m"
    )
    try:
        dirs = None
        deadline = time.monotonic() + 30
        while dirs is None or (dirs.read().memory or 0) < 96 * MiB:
            assert time.monotonic() < deadline, "the container's memory never showed"
            time.sleep(0.1)
            dirs = CgroupFinder().dirs(container.id)
        usage = HostUsage(run_here)
        arun(usage.read({container.id: "busy"}), timeout=30)
        time.sleep(1.0)
        here = dirs.read()
        there = arun(read_remote_counters(run_here, [container.id]), timeout=30).counters[container.id]
        assert there.limit == here.limit == 512 * MiB
        assert abs((there.memory or 0) - (here.memory or 0)) < 8 * MiB
        assert (there.cpu_ns or 0) >= (here.cpu_ns or 0) > 0
        figures = arun(usage.read({container.id: "busy"}), timeout=30)["busy"]
        assert figures.cpu_percent is not None and figures.cpu_percent > 50  # one busy core
        assert figures.limit == 512 * MiB
    finally:
        container.remove(force=True)
