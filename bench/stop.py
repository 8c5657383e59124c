"""Stop: NotebookManager.stop() to STOPPED against `docker stop` of the same kind of container,
and Stop all of 10 against one stop. Runs interleaved."""

from __future__ import annotations

import asyncio
import time

from bench.common import Bench, Figure, from_async, median, standalone
from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.manager import NotebookManager
from desktop.services import build_services

RUNS = 5
SETTLE = 1.0
MANY = 10


def spec(name: str, bench: Bench) -> NotebookSpec:
    return NotebookSpec(name, bench.image, network_mode=NetworkMode.HOST)


async def time_to_stopped(manager: NotebookManager, names: list[str]) -> float:
    """From the call to the last STOPPED event."""
    pending = set(names)
    done = asyncio.get_running_loop().create_future()

    def on_event(event) -> None:  # type: ignore[no-untyped-def]
        if event.notebook.state is NotebookState.STOPPED and event.notebook.name in pending:
            pending.discard(event.notebook.name)
            if not pending and not done.done():
                done.set_result(time.perf_counter())

    unsubscribe = manager.subscribe(on_event)
    began = time.perf_counter()
    stopping = asyncio.ensure_future(manager.stop_all() if len(names) > 1 else manager.stop(names[0]))
    ended = await done
    await stopping
    unsubscribe()
    return ended - began


async def docker_stop(bench: Bench, manager: NotebookManager, names: list[str]) -> float:
    containers = [bench.client.containers.get(manager.engine.container_name(n)) for n in names]  # type: ignore[attr-defined]
    began = time.perf_counter()
    await asyncio.gather(*(asyncio.to_thread(c.stop, timeout=10) for c in containers))
    return time.perf_counter() - began


async def launch(manager: NotebookManager, bench: Bench, names: list[str]) -> None:
    known = {n.name for n in manager.list()}
    await asyncio.gather(*(manager.start(n) if n in known else manager.create(spec(n, bench)) for n in names))
    await asyncio.sleep(SETTLE)  # both kinds are stopped from the same settled state


async def measure(bench: Bench) -> list[Figure]:
    manager = build_services().manager
    ours, floors, singles, alls, raw_alls = [], [], [], [], []
    for _ in range(RUNS):
        await launch(manager, bench, ["ours", "raw"])
        ours.append(await time_to_stopped(manager, ["ours"]))
        floors.append(await docker_stop(bench, manager, ["raw"]))
        await manager.stop("raw")
    names = [f"many-{i}" for i in range(MANY)]
    for _ in range(2):
        await launch(manager, bench, names)
        alls.append(await time_to_stopped(manager, names))
        await launch(manager, bench, names)
        raw_alls.append(await docker_stop(bench, manager, names))
        await manager.stop_all()
        await launch(manager, bench, names[:1])
        singles.append(await time_to_stopped(manager, names[:1]))
    for notebook in manager.list():
        await manager.remove(notebook.name, delete_work=True)
    await manager.close()
    ratio = median(ours) / median(floors)
    all_ratio = median(alls) / median(singles)
    return [
        Figure(
            "stop",
            f"{ratio:.2f}x docker stop",
            "1.2x",
            ratio <= 1.2,
            f"stop() {median(ours) * 1000:.0f} ms, docker stop {median(floors) * 1000:.0f} ms, {RUNS} runs",
        ),
        Figure(
            f"stop all of {MANY}",
            f"{all_ratio:.2f}x one stop",
            "2x",
            all_ratio <= 2.0,
            f"{median(alls) * 1000:.0f} ms vs one {median(singles) * 1000:.0f} ms; "
            f"{MANY} parallel docker stops take {median(raw_alls) * 1000:.0f} ms here",
        ),
    ]


run = from_async(measure)


if __name__ == "__main__":
    standalone(run)
