"""Launches from one process while another refreshes in a loop: nothing may be lost between them.

Used by the test (a few launches) and the benchmark (100). Both sides are real OS processes running
Labdock's own code: `labdock new` from the CLI, and a refresher doing what the window's timer does
(restore against the engine), only far more often.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REFRESH_PAUSE = 0.02  # the window refreshes every 3 s; far more often here, to hit every window of a launch


@dataclass
class RaceResult:
    launched: int
    lost: list[str] = field(default_factory=list)  # "name: why" for each launch that did not end READY
    refreshes: int = 0


def _labdock(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
    )


def run_race(names: list[str], image: str, parallel: int = 3, batch: int = 20) -> RaceResult:
    """Launch every name with `labdock new` (`parallel` at a time) while a refresher process runs;
    after each batch check with `labdock ls` that all are ready, then remove them. The environment
    (LABDOCK_HOME, DOCKER_HOST) is this process's."""
    result = RaceResult(len(names))
    count_file = Path(os.environ["LABDOCK_HOME"]) / "refreshes"
    refresher = subprocess.Popen(
        [sys.executable, "-m", "tests.support.launch_race", str(count_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for start in range(0, len(names), batch):
            chunk = names[start : start + batch]
            with ThreadPoolExecutor(parallel) as pool:
                launches = list(pool.map(lambda n: (n, _labdock("new", n, "--image", image)), chunk))
            for name, made in launches:
                if made.returncode != 0:
                    result.lost.append(f"{name}: {(made.stderr or made.stdout).strip().splitlines()[-1:]}")
            listing = _labdock("ls").stdout.splitlines()
            for name, made in launches:
                row = next((line for line in listing if line.split()[:1] == [name]), None)
                if made.returncode == 0 and (row is None or row.split()[1] != "ready"):
                    result.lost.append(f"{name}: listed as {row.split()[1] if row else 'absent'} after its launch")
            with ThreadPoolExecutor(parallel) as pool:
                list(pool.map(lambda n: _labdock("rm", n, "--delete-work"), chunk))
    finally:
        refresher.terminate()
        _, errors = refresher.communicate(timeout=30)
    if refresher.returncode not in (0, -15):
        raise RuntimeError(f"the refresher process failed: {errors.strip()[-500:]}")
    result.refreshes = int(count_file.read_text() or 0) if count_file.exists() else 0
    return result


async def _refresh_forever(count_file: Path) -> None:
    from desktop.services import build_services

    manager = build_services().manager
    count = 0
    while True:
        await manager.refresh()
        count += 1
        if count % 10 == 0:
            await asyncio.to_thread(count_file.write_text, str(count))
        await asyncio.sleep(REFRESH_PAUSE)


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(_refresh_forever(Path(sys.argv[1])))
