"""Launch overhead and readiness detection, against the floor measured in the same run.

Floor: docker SDK create+start of the same image, command and network mode, then a tight 10 ms loop
on /api/status with the token. Ours: NotebookManager.create() to READY. Runs are interleaved so both
see the same machine state; each pair gives one ratio.
Readiness detection: a 1 ms prober beside each launch records when the server first answers; the
figure is the time from there to the READY event.
"""

from __future__ import annotations

import asyncio
import secrets
import time

from bench.common import Bench, Figure, from_async, median, percentile, standalone
from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.engines import profiles
from desktop.engines.container_spec import free_loopback_port
from desktop.engines.docker_engine import DockerEngine
from desktop.engines.readiness import http_status
from desktop.services import build_services

RUNS = 12


async def floor_launch(bench: Bench, engine: DockerEngine, index: int) -> float:
    spec = NotebookSpec(f"floor-{index}", bench.image, network_mode=NetworkMode.HOST, work_dir=bench.home / "floor")
    spec.work_dir.mkdir(exist_ok=True)  # type: ignore[union-attr]
    token = secrets.token_urlsafe(32)
    port = free_loopback_port()
    kwargs = engine.container_config(spec, token, profiles.get(profiles.PLAIN), {"User": "1000"}, port)
    url = f"http://127.0.0.1:{port}/"
    began = time.perf_counter()
    container = await asyncio.to_thread(bench.client.containers.create, **kwargs)
    await asyncio.to_thread(container.start)
    while await http_status(url, "api/status", token) != 200:
        await asyncio.sleep(0.010)
    elapsed = time.perf_counter() - began
    await asyncio.to_thread(container.remove, force=True)
    return elapsed


async def our_launch(bench: Bench, index: int) -> tuple[float, float]:
    """(create() to READY, first answer to READY) in seconds."""
    manager = build_services().manager
    name = f"ours-{index}"
    first_answer: list[float] = []
    ready_at: list[float] = []

    async def probe() -> None:
        while not any(n.name == name and n.url and n.token for n in manager.list()):
            await asyncio.sleep(0.001)
        notebook = manager.get(name)
        assert notebook.url is not None
        while await http_status(notebook.url, "api/status", notebook.token) != 200:
            await asyncio.sleep(0.001)
        first_answer.append(time.perf_counter())

    def on_event(event) -> None:  # type: ignore[no-untyped-def]
        if event.notebook.name == name and event.notebook.state is NotebookState.READY:
            ready_at.append(time.perf_counter())

    manager.subscribe(on_event)
    began = time.perf_counter()
    create = asyncio.ensure_future(manager.create(NotebookSpec(name, bench.image, network_mode=NetworkMode.HOST)))
    await asyncio.sleep(0)
    prober = asyncio.ensure_future(probe())
    notebook = await create
    assert notebook.state is NotebookState.READY, notebook.error
    elapsed = ready_at[0] - began
    await asyncio.wait_for(prober, 5)
    await manager.remove(name, delete_work=True)
    await manager.close()
    return elapsed, max(0.0, ready_at[0] - first_answer[0])


async def measure(bench: Bench) -> list[Figure]:
    engine = DockerEngine(build_services().manager.engine.settings)  # type: ignore[attr-defined]
    floors, ours, detections = [], [], []
    await floor_launch(bench, engine, -1)  # warm caches once, not measured
    for i in range(RUNS):
        # Alternate which goes first, so neither always follows the other's teardown.
        if i % 2:
            launch, detection = await our_launch(bench, i)
            floors.append(await floor_launch(bench, engine, i))
        else:
            floors.append(await floor_launch(bench, engine, i))
            launch, detection = await our_launch(bench, i)
        ours.append(launch)
        detections.append(detection * 1000)
    await engine.close()
    ratios = [o / f for o, f in zip(ours, floors, strict=True)]
    med, p95 = median(ratios), percentile(ratios, 95)
    added = median([(o - f) * 1000 for o, f in zip(ours, floors, strict=True)])
    note = (
        f"{RUNS} interleaved runs; floor median {median(floors):.3f} s, ours {median(ours):.3f} s, "
        f"median added {added:+.0f} ms"
    )
    return [
        Figure("launch overhead", f"{med:.2f}x", "1.05x", med <= 1.05, note),
        Figure("launch overhead p95", f"{p95:.2f}x", "1.10x", p95 <= 1.10),
        Figure(
            "readiness detection p95",
            f"{percentile(detections, 95):.1f} ms",
            "50 ms",
            percentile(detections, 95) <= 50,
            f"median {median(detections):.1f} ms",
        ),
    ]


run = from_async(measure)


if __name__ == "__main__":
    standalone(run)
