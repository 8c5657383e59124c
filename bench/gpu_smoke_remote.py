"""The GPU smoke test's remote part: this machine read as a remote host is (desktop.remote_gpus: one `sh`
command running nvidia-smi and reading the GPU processes' cgroups), compared with what NVML says here.

Over SSH the same command runs on the host; here it runs through a local shell, so the driver's answer is
the only thing compared. Needs nvidia-smi on PATH (it comes with the driver).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from desktop.gpu import GpuSample, Nvml
from desktop.remote_gpus import CommandResult, read_remote_gpus

MiB = 1 << 20
MEMORY_SLACK = 64 * MiB  # the two readings are a few milliseconds apart and a CUDA context can still grow


async def run_here(command: str, timeout: float) -> CommandResult:
    """RemoteCommand through a local shell: what an SSH exec would return."""
    process = await asyncio.create_subprocess_shell(
        command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return CommandResult(process.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))


def remote_reading_checks(report: Any, nvml: Nvml, pid: int) -> None:
    """`pid` holds GPU memory: the remote reading must list it with NVML's figure, and agree on the GPUs."""
    started = time.perf_counter()
    remote = asyncio.run(read_remote_gpus(run_here))
    took = (time.perf_counter() - started) * 1000
    local_inventory, local = nvml.inventory(), {s.uuid: s for s in nvml.sample()}
    if not report.check(remote.problem is None, f"remote reading: no problem ({remote.problem}), {took:.0f} ms"):
        return
    uuids = [gpu.uuid for gpu in remote.inventory.gpus]
    report.check(uuids == [gpu.uuid for gpu in local_inventory.gpus], f"remote reading: GPUs {uuids} as NVML")
    names = [gpu.name for gpu in remote.inventory.gpus]
    report.check(names == [gpu.name for gpu in local_inventory.gpus], f"remote reading: names {names} as NVML")
    driver = remote.inventory.driver_version
    report.check(driver == local_inventory.driver_version, f"remote reading: driver {driver} as NVML")
    for sample in remote.samples:
        here = local.get(sample.uuid)
        if report.check(here is not None, f"remote reading: {sample.uuid} sampled by NVML too"):
            assert here is not None
            _compare_sample(report, sample, here)
    holders = [p for s in remote.samples for p in s.processes if p.pid == pid]
    report.check(bool(holders), f"remote reading: pid {pid} listed with its GPU memory")


def _compare_sample(report: Any, remote: GpuSample, here: GpuSample) -> None:
    what = f"remote reading: GPU {remote.index}"
    total_ok = abs(remote.memory_total - here.memory_total) <= MiB
    report.check(total_ok, f"{what} memory total {remote.memory_total // MiB} MiB as NVML")
    used, used_here = remote.memory_used or 0, here.memory_used or 0
    report.check(abs(used - used_here) <= MEMORY_SLACK, f"{what} memory used {used // MiB} ~ {used_here // MiB} MiB")
    theirs = {p.pid: p.memory or 0 for p in remote.processes}
    ours = {p.pid: p.memory or 0 for p in here.processes}
    report.check(set(theirs) == set(ours), f"{what} processes {sorted(theirs)} as NVML {sorted(ours)}")
    close = all(abs(memory - ours.get(pid, 0)) <= MEMORY_SLACK for pid, memory in theirs.items())
    report.check(close, f"{what} each process's memory as NVML's (within {MEMORY_SLACK // MiB} MiB)")
