"""Per-process GPU share from NVML: averaged over the driver's samples since the last call; optional."""

from __future__ import annotations

import pynvml
import pytest

from desktop.gpu import Nvml
from tests.gpu.fake_nvml import FakeNvml, make_gpus


def test_share_per_process_where_offered(fake_nvml: FakeNvml) -> None:
    fake_nvml.gpus = make_gpus(3, procs_per_gpu=2)
    (a, _), (b, _) = fake_nvml.gpus[0].processes
    fake_nvml.gpus[0].process_util = {a: 35, b: 250}  # a driver's odd value is clamped
    fake_nvml.gpus[1].process_util = {}  # offered, but nothing ran since the last call
    nvml = Nvml()
    first, second, third = nvml.sample()
    assert [p.utilization for p in first.processes] == [35, 100]
    assert [p.utilization for p in second.processes] == [0, 0]
    assert [p.utilization for p in third.processes] == [None, None]  # not offered (consumer boards, vGPU)
    assert not any(s.lost for s in (first, second, third))
    nvml.close()


def test_a_failing_share_call_is_no_loss(fake_nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvml.gpus = make_gpus(1, procs_per_gpu=1)

    def broken(handle: int, last_seen: int) -> list[object]:
        raise pynvml.NVMLError_Unknown()

    monkeypatch.setattr(pynvml, "nvmlDeviceGetProcessUtilization", broken)
    (sample,) = Nvml().sample()
    assert not sample.lost and sample.processes[0].utilization is None and sample.processes[0].memory == 1 << 20


def test_only_new_driver_samples_are_asked_for(fake_nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvml.gpus = make_gpus(1, procs_per_gpu=1)
    fake_nvml.gpus[0].process_util = {fake_nvml.gpus[0].processes[0][0]: 5}
    asked: list[int] = []
    real = fake_nvml.nvmlDeviceGetProcessUtilization

    def spy(handle: int, last_seen: int) -> object:
        asked.append(last_seen)
        return real(handle, last_seen)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetProcessUtilization", spy)
    nvml = Nvml()
    nvml.sample()
    nvml.sample()
    assert asked == [0, 1_000_000]
