"""Warm start: New notebook to READY when a spare is waiting, against the cold floor measured in the same run.

Floor: as in bench.launch (docker SDK create+start, then a 10 ms loop on /api/status with the token).
Warm: NotebookManager.create() to READY with a spare ready (desktop.spares), the spare made beforehand
and not timed. Runs are interleaved so both see the same machine state.
"""

from __future__ import annotations

import time

from bench.common import Bench, Figure, from_async, median, standalone
from bench.launch import floor_launch
from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.engines.docker_engine import DockerEngine
from desktop.services import build_services

RUNS = 8
TARGET = 0.15


async def warm_launch(bench: Bench, index: int) -> float:
    services = build_services()
    manager, spares = services.manager, services.manager.spares
    assert spares is not None
    await spares.refill()  # the spare the window would have kept ready
    name = f"warm-{index}"
    began = time.perf_counter()
    notebook = await manager.create(NotebookSpec(name, bench.image, network_mode=NetworkMode.HOST))
    elapsed = time.perf_counter() - began
    assert notebook.state is NotebookState.READY, notebook.error
    await manager.remove(name, delete_work=True)
    await spares.quit(keep_running=False)
    await manager.close()
    return elapsed


async def measure(bench: Bench) -> list[Figure]:
    engine = DockerEngine(build_services().manager.engine.settings)  # type: ignore[attr-defined]
    floors, warm = [], []
    await floor_launch(bench, engine, -1)  # warm caches once, not measured
    for i in range(RUNS):
        if i % 2:
            warm.append(await warm_launch(bench, i))
            floors.append(await floor_launch(bench, engine, i))
        else:
            floors.append(await floor_launch(bench, engine, i))
            warm.append(await warm_launch(bench, i))
    await engine.close()
    ours, floor = median(warm) * 1000, median(floors) * 1000
    ratio = ours / floor
    line = f"warm launch: {ours:.0f} ms (cold floor {floor:.0f} ms, ratio {ratio:.2f})"
    print(line, flush=True)
    note = f"{RUNS} interleaved runs, medians; New notebook to READY with a spare waiting"
    return [Figure("warm launch", f"{ratio:.2f}x cold floor", f"{TARGET}x", ratio <= TARGET, f"{line}; {note}")]


run = from_async(measure)


if __name__ == "__main__":
    standalone(run)
