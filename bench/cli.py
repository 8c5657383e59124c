"""`labdock ls` from a cold process, with 3 and with 50 real notebooks (wall time, median of runs)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from bench.common import Bench, Figure, median, standalone
from desktop.core.models import NetworkMode, NotebookSpec
from desktop.services import build_services

RUNS = 5


def time_ls() -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "desktop", "ls"], check=True, capture_output=True)
    return time.perf_counter() - began


async def grow_to(bench: Bench, count: int) -> None:
    manager = build_services().manager
    await manager.restore()
    have = len(manager.list())
    await asyncio.gather(
        *(
            manager.create(NotebookSpec(f"ls-{i}", bench.image, network_mode=NetworkMode.HOST, memory_bytes=256 << 20))
            for i in range(have, count)
        )
    )
    await manager.close()


def run(bench: Bench) -> list[Figure]:
    figures = []
    for count, target in ((3, 0.5), (50, 0.3)):
        asyncio.run(grow_to(bench, count))
        time_ls()  # warm the file cache once
        seconds = median([time_ls() for _ in range(RUNS)])
        figures.append(
            Figure(
                f"labdock ls with {count} notebooks",
                f"{seconds * 1000:.0f} ms",
                f"{target * 1000:.0f} ms",
                seconds <= target,
                "cold process, median of 5",
            )
        )
    asyncio.run(remove_all())
    return figures


async def remove_all() -> None:
    """Leave the engine as we found it: later suites measure with their own notebooks only."""
    manager = build_services().manager
    await manager.restore()
    await asyncio.gather(*(manager.remove(n.name, delete_work=True) for n in manager.list()))
    await manager.close()


if __name__ == "__main__":
    standalone(run)
