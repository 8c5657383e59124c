"""A fake NVIDIA driver at the pynvml boundary: the module's functions are replaced, its error classes kept.

Tests and the sampler benchmark describe GPUs as FakeGpu records; `install` patches the real `pynvml`
module so desktop.gpu runs its real code paths, including the real NVMLError subclasses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

GiB = 1 << 30


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    memory_total: int = 80 * GiB
    memory_used: int = 1 * GiB
    utilization: int = 0
    temperature: int = 40
    power_mw: int = 70_000
    processes: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, bytes)
    lost: bool = False  # every call on this GPU raises GpuIsLost
    failure: type[pynvml.NVMLError] | None = None  # every call on this GPU raises this instead
    unsupported: set[str] = field(default_factory=set)  # function names that raise NotSupported
    # pid -> SM % for nvmlDeviceGetProcessUtilization; None: the GPU does not offer per-process figures
    process_util: dict[int, int] | None = None


def make_gpus(count: int, procs_per_gpu: int = 0) -> list[FakeGpu]:
    return [
        FakeGpu(
            uuid=f"GPU-{i:08x}-1111-2222-3333-444455556666",
            processes=[(1000 + i * 100 + p, (p + 1) * 1 << 20) for p in range(procs_per_gpu)],
        )
        for i in range(count)
    ]


_PATCHED = (
    "nvmlInit",
    "nvmlShutdown",
    "nvmlSystemGetDriverVersion",
    "nvmlSystemGetCudaDriverVersion",
    "nvmlDeviceGetCount",
    "nvmlDeviceGetHandleByIndex",
    "nvmlDeviceGetUUID",
    "nvmlDeviceGetName",
    "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetUtilizationRates",
    "nvmlDeviceGetTemperature",
    "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetComputeRunningProcesses",
    "nvmlDeviceGetProcessUtilization",
)


@dataclass
class FakeNvml:
    gpus: list[FakeGpu] = field(default_factory=list)
    init_error: type[pynvml.NVMLError] | None = None
    memory_v2: bool = True
    driver_version: str = "550.54.15"
    cuda_version: int = 12040
    live_only: bool = False  # like a real driver: a pid that has exited (no /proc entry) is not listed
    inits: int = 0
    shutdowns: int = 0

    def install(self, setattr_: Callable[[Any, str, Any], None]) -> FakeNvml:
        """Patch pynvml with e.g. monkeypatch.setattr, so the test undoes it."""
        for name in _PATCHED:
            setattr_(pynvml, name, getattr(self, name))
        return self

    def _gpu(self, handle: int, call: str) -> FakeGpu:
        if self.inits <= self.shutdowns:
            raise pynvml.NVMLError_Uninitialized()
        gpu = self.gpus[handle]
        if gpu.lost:
            raise pynvml.NVMLError_GpuIsLost()
        if gpu.failure is not None:
            raise gpu.failure()
        if call in gpu.unsupported:
            raise pynvml.NVMLError_NotSupported()
        return gpu

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.init_error()
        self.inits += 1

    def nvmlShutdown(self) -> None:
        if self.inits <= self.shutdowns:
            raise pynvml.NVMLError_Uninitialized()
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver_version

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self.cuda_version

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self.gpus):
            raise pynvml.NVMLError_InvalidArgument()
        self._gpu(index, "nvmlDeviceGetHandleByIndex")
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self._gpu(handle, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return self._gpu(handle, "nvmlDeviceGetName").name.encode()

    def nvmlDeviceGetMemoryInfo(self, handle: int, version: int | None = None) -> SimpleNamespace:
        gpu = self._gpu(handle, "nvmlDeviceGetMemoryInfo")
        if version and not self.memory_v2:
            raise pynvml.NVMLError_FunctionNotFound()
        free = gpu.memory_total - gpu.memory_used
        return SimpleNamespace(total=gpu.memory_total, used=gpu.memory_used, free=free)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        gpu = self._gpu(handle, "nvmlDeviceGetUtilizationRates")
        return SimpleNamespace(gpu=gpu.utilization, memory=gpu.utilization // 2)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return self._gpu(handle, "nvmlDeviceGetTemperature").temperature

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return self._gpu(handle, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[SimpleNamespace]:
        gpu = self._gpu(handle, "nvmlDeviceGetComputeRunningProcesses")
        procs = [(pid, mem) for pid, mem in gpu.processes if not self.live_only or Path(f"/proc/{pid}").exists()]
        return [SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, mem in procs]

    def nvmlDeviceGetProcessUtilization(self, handle: int, last_seen: int) -> list[SimpleNamespace]:
        gpu = self._gpu(handle, "nvmlDeviceGetProcessUtilization")
        if gpu.process_util is None:
            raise pynvml.NVMLError_NotSupported()
        stamp = last_seen + 1_000_000
        if not gpu.process_util:
            raise pynvml.NVMLError_NotFound()
        return [
            SimpleNamespace(pid=pid, timeStamp=stamp, smUtil=util, memUtil=util // 2, encUtil=0, decUtil=0)
            for pid, util in gpu.process_util.items()
        ]
