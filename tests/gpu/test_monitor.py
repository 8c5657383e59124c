"""The sampler loop: samples off the event loop, fixed rate, no GPU = one empty call."""

from __future__ import annotations

import asyncio
import threading

import pytest

from desktop.gpu import GpuMonitor, GpuSample, Nvml
from tests.conftest import arun
from tests.gpu.fake_nvml import FakeNvml, make_gpus


async def collect(monitor: GpuMonitor, count: int, callback_async: bool = False) -> list[tuple[GpuSample, ...]]:
    seen: list[tuple[GpuSample, ...]] = []
    done = asyncio.Event()

    def record(samples: tuple[GpuSample, ...]) -> None:
        seen.append(samples)
        if len(seen) >= count:
            done.set()

    async def record_async(samples: tuple[GpuSample, ...]) -> None:
        await asyncio.sleep(0)
        record(samples)

    task = asyncio.create_task(monitor.run(record_async if callback_async else record))
    await done.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return seen


@pytest.mark.parametrize("callback_async", [False, True])
def test_run_samples_every_gpu_until_cancelled(fake_nvml: FakeNvml, callback_async: bool) -> None:
    fake_nvml.gpus = make_gpus(8, procs_per_gpu=2)
    monitor = GpuMonitor(interval=0.001)
    seen = arun(collect(monitor, 3, callback_async), timeout=10)
    assert len(seen) == 3
    assert all(len(samples) == 8 for samples in seen)
    monitor.nvml.close()


def test_samples_run_off_the_event_loop_thread(fake_nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvml.gpus = make_gpus(1)
    threads: list[threading.Thread] = []
    real = fake_nvml.nvmlDeviceGetMemoryInfo

    def spy(handle: int, version: int | None = None) -> object:
        threads.append(threading.current_thread())
        return real(handle, version)

    monkeypatch.setattr("pynvml.nvmlDeviceGetMemoryInfo", spy)
    arun(GpuMonitor().sample_once(), timeout=10)
    assert threads and threading.main_thread() not in threads


def test_no_gpu_calls_back_once_and_returns(fake_nvml: FakeNvml) -> None:
    seen: list[tuple[GpuSample, ...]] = []
    monitor = GpuMonitor(Nvml())
    arun(monitor.run(seen.append), timeout=10)
    assert seen == [()]
    assert arun(monitor.inventory()).reason == "no NVIDIA GPU found"


def test_a_lost_gpu_does_not_stop_the_loop(fake_nvml: FakeNvml) -> None:
    fake_nvml.gpus = make_gpus(2)
    monitor = GpuMonitor(interval=0.001)
    arun(monitor.inventory())
    fake_nvml.gpus[1].lost = True
    seen = arun(collect(monitor, 2), timeout=10)
    assert [[s.lost for s in samples] for samples in seen] == [[False, True], [False, True]]


@pytest.mark.parametrize("interval", [0, -1])
def test_bad_settings(interval: float) -> None:
    with pytest.raises(ValueError):
        GpuMonitor(Nvml(), interval=interval)
