"""`labdock gpu`: who holds each GPU's memory, down to the kernel and its notebook file; `--free` shuts down
the kernels idle past a threshold. The same lines and the same manager calls as the GPU dock."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from desktop.core.errors import LabdockError
from desktop.core.validation import format_bytes
from desktop.gpu import resolve_gpus
from desktop.gpu_table import gpu_groups, render
from desktop.kernel_actions import Freed
from desktop.kernels import GpuLine
from desktop.services import Services


def idle_minutes(text: str) -> float:
    """argparse type for --free: minutes, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of minutes") from None
    if not value >= 0:  # also NaN
        raise argparse.ArgumentTypeError("IDLE_MINUTES must be 0 or more")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gpu = sub.add_parser("gpu", help="GPU memory per notebook, kernel and notebook file, with idle times")
    gpu.add_argument(
        "--free",
        type=idle_minutes,
        metavar="IDLE_MINUTES",
        help="shut down the kernels that have been idle for this many minutes or more",
    )
    gpu.add_argument("--gpu", metavar="INDEX|UUID", help="only this GPU")


async def gpu_command(services: Services, free_minutes: float | None, only: str | None) -> int:
    inventory = await asyncio.to_thread(services.nvml.inventory)
    if not inventory.gpus:
        raise LabdockError(f"no GPU to show: {inventory.reason or 'no NVIDIA GPU found'}")
    if services.manager.engine_problem is not None:  # Local notebooks are still named, containers' are not
        print(f"labdock: warning: {services.manager.engine_problem}", file=sys.stderr)
    uuid = None
    if only is not None:
        chosen = resolve_gpus((only,), inventory)
        uuid = chosen[0] if len(chosen) == 1 else None
    samples = await asyncio.to_thread(services.nvml.sample)
    samples = tuple(s for s in samples if uuid is None or s.uuid == uuid)
    lines = await services.manager.kernels.lines(samples)
    if free_minutes is None:
        print(render(gpu_groups(inventory, samples, lines)))
        return 0
    freed = await services.manager.kernels.shut_down_idle(lines, free_minutes * 60, uuid)
    return _report(freed, lines, free_minutes, only)


def _report(freed: Freed, lines: tuple[GpuLine, ...], minutes: float, only: str | None) -> int:
    now = time.time()
    for line in freed.shut_down:
        held = sum(x.memory or 0 for x in lines if (x.notebook, x.kernel_id) == (line.notebook, line.kernel_id))
        print(f"shut down {line.label} ({line.activity(now)}), freeing {format_bytes(held)}")
    for line, why in freed.failed:
        print(f"labdock: could not shut down {line.label}: {why}", file=sys.stderr)
    if not freed.shut_down and not freed.failed:
        where = f"GPU {only}" if only is not None else "any GPU"
        print(f"no kernel on {where} has been idle for {minutes:g} min or more")
    return 1 if freed.failed else 0
