"""50 create/stop/remove cycles in one manager: nothing may grow (containers, threads, fds, memory).

Five warm-up cycles first (thread pools and caches fill once), then the figures before/after 50.
"""

from __future__ import annotations

import os
import threading

from bench.common import PREFIX, Bench, Figure, from_async, standalone
from desktop.core.models import NetworkMode, NotebookSpec
from desktop.manager import NotebookManager
from desktop.services import build_services

CYCLES = 50
WARMUP = 5


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


POOL_PREFIXES = ("docker_", "asyncio_")  # worker pools: they grow on demand up to a fixed cap


def snapshot(bench: Bench) -> dict[str, float]:
    containers = [c for c in bench.client.containers.list(all=True) if c.name.startswith(PREFIX)]
    threads = threading.enumerate()
    pooled = [t for t in threads if t.name.startswith(POOL_PREFIXES)]
    return {
        "containers": len(containers),
        "threads": len(threads) - len(pooled),
        "pool threads": len(pooled),
        "fds": len(os.listdir("/proc/self/fd")),
        "rss": rss_mib(),
    }


async def cycle(manager: NotebookManager, bench: Bench, i: int) -> None:
    notebook = await manager.create(NotebookSpec(f"cycle-{i}", bench.image, network_mode=NetworkMode.HOST))
    assert notebook.error is None, notebook.error
    await manager.stop(notebook.name)
    await manager.remove(notebook.name, delete_work=True)


async def measure(bench: Bench) -> list[Figure]:
    manager = build_services().manager
    for i in range(WARMUP):
        await cycle(manager, bench, i)
    before = snapshot(bench)
    for i in range(CYCLES):
        await cycle(manager, bench, WARMUP + i)
    after = snapshot(bench)
    await manager.close()
    figures = []
    for key in ("containers", "threads", "fds"):
        grew = after[key] - before[key]
        figures.append(
            Figure(
                f"{CYCLES} cycles: {key} left behind",
                f"{grew:+.0f}",
                "+0",
                grew <= 0,
                f"{before[key]:.0f} before, {after[key]:.0f} after",
            )
        )
    cap = 16 + min(32, (os.cpu_count() or 1) + 4)  # the Docker pool and asyncio's default executor
    figures.append(
        Figure(
            f"{CYCLES} cycles: worker-pool threads",
            f"{after['pool threads']:.0f}",
            f"<= {cap}",
            after["pool threads"] <= cap,
            f"{before['pool threads']:.0f} after warm-up; threads outside the pools are counted above",
        )
    )
    grew = after["rss"] - before["rss"]
    figures.append(
        Figure(
            f"{CYCLES} cycles: memory growth",
            f"{grew:+.1f} MiB",
            "+5 MiB",
            grew <= 5,
            f"RSS {before['rss']:.1f} MiB before, {after['rss']:.1f} MiB after",
        )
    )
    return figures


run = from_async(measure)


if __name__ == "__main__":
    standalone(run)
