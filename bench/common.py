"""Shared by the benchmarks: a real engine (the test harness's), an isolated Labdock home, figures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from tests.support import dockerd
from tests.support.images import PLAIN_IMAGE, ensure_images

PREFIX = f"ldbench-{os.getpid()}-"


@dataclass(frozen=True)
class Figure:
    """One line of the results table: `name: value` against `target`, pass/miss (None: informational)."""

    name: str
    value: str
    target: str
    passed: bool | None
    note: str = ""

    def line(self) -> str:
        verdict = {True: "pass", False: "miss", None: "info"}[self.passed]
        note = f" ({self.note})" if self.note else ""
        return f"{self.name}: {self.value} (target {self.target}): {verdict}{note}"


@dataclass(frozen=True)
class Bench:
    client: docker.DockerClient
    url: str
    home: Path
    image: str = PLAIN_IMAGE


@contextlib.contextmanager
def bench_engine() -> Iterator[Bench]:
    """The engine at DOCKER_HOST or a private one; a Labdock home in host network mode (loopback only)."""
    url = dockerd.existing_engine()
    daemon = None if url else dockerd.start_private()
    url = url or daemon.base_url  # type: ignore[union-attr]
    client = docker.DockerClient(base_url=url, timeout=600)
    ensure_images(client)
    with tempfile.TemporaryDirectory(prefix="labdock-bench-") as tmp:
        home = Path(tmp)
        (home / "config").mkdir()
        (home / "config" / "settings.json").write_text(
            json.dumps(
                {
                    "network_mode": "host",
                    "pull_missing": False,
                    "container_prefix": PREFIX,
                    "default_image": PLAIN_IMAGE,
                }
            )
        )
        old = {k: os.environ.get(k) for k in ("LABDOCK_HOME", "DOCKER_HOST")}
        os.environ.update(LABDOCK_HOME=str(home), DOCKER_HOST=url)
        try:
            yield Bench(client, url, home)
        finally:
            for container in client.containers.list(all=True):
                if container.name.startswith(PREFIX):
                    container.remove(force=True)
            for key, value in old.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            client.close()
            if daemon is not None:
                daemon.stop()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) — with few runs, the honest one."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)


def standalone(run: Callable[[Bench], list[Figure]]) -> None:
    """`python -m bench.NAME`: one suite against the engine, its figures printed."""
    with bench_engine() as bench:
        for figure in run(bench):
            print(figure.line())


def from_async(measure: Callable[[Bench], Coroutine[Any, Any, list[Figure]]]) -> Callable[[Bench], list[Figure]]:
    """A suite's `run` for an async `measure`."""
    return lambda bench: asyncio.run(measure(bench))
