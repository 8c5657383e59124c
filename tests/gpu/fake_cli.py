"""`labdock` as a user types it, in a process of its own, on the fake NVIDIA driver.

    python -m tests.gpu.fake_cli '<FakeNvml as JSON>' ARGS...

The fake is installed at the pynvml boundary before the CLI runs, so everything above it is the real code.
`run_cli` is the tests' way to call it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.gpu.fake_nvml import FakeGpu, FakeNvml


def describe(fake: FakeNvml) -> str:
    gpus = [
        {"uuid": g.uuid, "processes": g.processes, "process_util": g.process_util, "memory_used": g.memory_used}
        for g in fake.gpus
    ]
    return json.dumps({"gpus": gpus, "cuda_version": fake.cuda_version, "live_only": fake.live_only})


def _fake(text: str) -> FakeNvml:
    data: dict[str, Any] = json.loads(text)
    gpus = []
    for g in data["gpus"]:
        util = g.get("process_util")
        gpus.append(
            FakeGpu(
                uuid=g["uuid"],
                memory_used=g["memory_used"],
                processes=[(int(pid), mem) for pid, mem in g["processes"]],
                process_util=None if util is None else {int(pid): int(v) for pid, v in util.items()},
            )
        )
    return FakeNvml(gpus=gpus, cuda_version=data["cuda_version"], live_only=data["live_only"])


def _command(fake: FakeNvml, args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "tests.gpu.fake_cli", describe(fake), *args]


def run_cli(fake: FakeNvml, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(fake, args), capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def cli_process(fake: FakeNvml, *args: str) -> subprocess.Popen[str]:
    """`labdock ARGS` started, not waited for (two of them racing, say)."""
    command = _command(fake, args)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def main() -> int:
    _fake(sys.argv[1]).install(setattr)
    from desktop.cli import main as cli_main

    return cli_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
