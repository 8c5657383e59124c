"""Inventory and samples through the fake driver: 0, 1 and 8 GPUs, missing NVML, lost GPUs."""

from __future__ import annotations

import atexit
import sys

import pynvml
import pytest

from desktop.gpu import GpuProcess, Inventory, Nvml
from tests.gpu.fake_nvml import FakeGpu, FakeNvml, GiB, make_gpus


def test_no_gpu_is_an_empty_inventory_with_a_reason(fake_nvml: FakeNvml) -> None:
    nvml = Nvml()
    inv = nvml.inventory()
    assert inv.gpus == ()
    assert inv.reason == "no NVIDIA GPU found"
    assert inv.driver_version == "550.54.15"
    assert nvml.sample() == ()
    nvml.close()
    assert fake_nvml.shutdowns == 1


def test_one_gpu(fake_nvml: FakeNvml) -> None:
    fake_nvml.gpus = [FakeGpu("GPU-aaaa", memory_used=3 * GiB, utilization=42, processes=[(77, 2 * GiB)])]
    nvml = Nvml()
    inv = nvml.inventory()
    assert inv.reason is None
    assert inv.cuda_version == "12.4"
    (gpu,) = inv.gpus
    assert (gpu.index, gpu.uuid, gpu.name, gpu.memory_total) == (0, "GPU-aaaa", "NVIDIA H100 80GB HBM3", 80 * GiB)
    (sample,) = nvml.sample()
    assert sample.uuid == "GPU-aaaa" and not sample.lost
    assert (sample.memory_used, sample.memory_total, sample.utilization) == (3 * GiB, 80 * GiB, 42)
    assert (sample.temperature, sample.power) == (40, 70.0)
    assert sample.processes == (GpuProcess(77, 2 * GiB),)
    nvml.close()


def test_eight_gpus_in_index_order(fake_nvml: FakeNvml) -> None:
    fake_nvml.gpus = make_gpus(8, procs_per_gpu=3)
    nvml = Nvml()
    assert [g.index for g in nvml.inventory().gpus] == list(range(8))
    samples = nvml.sample()
    assert [s.uuid for s in samples] == [g.uuid for g in fake_nvml.gpus]
    assert sum(len(s.processes) for s in samples) == 24
    nvml.close()


def test_nvml_is_initialised_once_and_shut_down_once(fake_nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    registered: list[object] = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(atexit, "unregister", lambda f: registered.remove(f) if f in registered else None)
    fake_nvml.gpus = make_gpus(1)
    nvml = Nvml()
    for _ in range(3):
        nvml.inventory()
        nvml.sample()
    assert fake_nvml.inits == 1
    assert registered == [nvml.close]
    nvml.close()
    nvml.close()
    assert fake_nvml.shutdowns == 1
    assert registered == []
    assert nvml.sample() == ()


def test_nvml_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    inv = Nvml().inventory()
    assert inv == Inventory(reason="nvidia-ml-py (pynvml) is not installed")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (pynvml.NVMLError_LibraryNotFound, "the NVIDIA driver is not installed (libnvidia-ml.so.1 not found)"),
        (pynvml.NVMLError_DriverNotLoaded, "the NVIDIA driver is not loaded"),
        (pynvml.NVMLError_NoPermission, "NVML could not start: Insufficient Permissions"),
    ],
)
def test_nvml_cannot_start(fake_nvml: FakeNvml, error: type[pynvml.NVMLError], reason: str) -> None:
    fake_nvml.init_error = error
    nvml = Nvml()
    assert nvml.inventory() == Inventory(reason=reason)
    assert nvml.sample() == ()
    nvml.close()
    assert fake_nvml.shutdowns == 0


def test_a_gpu_unreadable_at_start_is_left_out_with_a_reason(fake_nvml: FakeNvml) -> None:
    fake_nvml.gpus = make_gpus(3)
    fake_nvml.gpus[1].lost = True
    nvml = Nvml()
    inv = nvml.inventory()
    assert [g.index for g in inv.gpus] == [0, 2]
    assert inv.reason == "GPU 1: GPU is lost"
    assert [s.index for s in nvml.sample()] == [0, 2]
    nvml.close()


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (None, "GPU is lost"),
        (pynvml.NVMLError_Unknown, "Unknown Error"),
        (pynvml.NVMLError_ResetRequired, "GPU requires restart"),
    ],
)
def test_a_gpu_lost_while_sampling_is_reported_not_fatal(
    fake_nvml: FakeNvml, failure: type[pynvml.NVMLError] | None, reason: str
) -> None:
    fake_nvml.gpus = make_gpus(2, procs_per_gpu=1)
    nvml = Nvml()
    assert not any(s.lost for s in nvml.sample())
    if failure is None:
        fake_nvml.gpus[1].lost = True
    else:
        fake_nvml.gpus[1].failure = failure
    ok, lost = nvml.sample()
    assert not ok.lost and ok.memory_used is not None
    assert lost.lost and lost.uuid == fake_nvml.gpus[1].uuid
    assert lost.reason == reason
    assert (lost.memory_used, lost.utilization, lost.processes) == (None, None, ())
    fake_nvml.gpus[1].lost, fake_nvml.gpus[1].failure = False, None
    assert not nvml.sample()[1].lost
    nvml.close()


def test_values_a_gpu_does_not_offer_are_none(fake_nvml: FakeNvml) -> None:
    fake_nvml.gpus = make_gpus(1, procs_per_gpu=2)
    fake_nvml.gpus[0].unsupported = {
        "nvmlDeviceGetTemperature",
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetUtilizationRates",
        "nvmlDeviceGetComputeRunningProcesses",
    }
    (sample,) = Nvml().sample()
    assert not sample.lost
    assert (sample.temperature, sample.power, sample.utilization, sample.processes) == (None, None, None, ())
    assert sample.memory_used == 1 * GiB


def test_unknown_process_memory_is_none(fake_nvml: FakeNvml) -> None:
    fake_nvml.gpus = [FakeGpu("GPU-x", processes=[(5, None)])]
    (sample,) = Nvml().sample()
    assert sample.processes == (GpuProcess(5, None),)


def test_old_driver_without_memory_v2(fake_nvml: FakeNvml) -> None:
    fake_nvml.memory_v2 = False
    fake_nvml.gpus = make_gpus(2)
    nvml = Nvml()
    assert [g.memory_total for g in nvml.inventory().gpus] == [80 * GiB, 80 * GiB]
    assert [s.memory_used for s in nvml.sample()] == [GiB, GiB]


def test_records_are_frozen(fake_nvml: FakeNvml) -> None:
    fake_nvml.gpus = make_gpus(1)
    (sample,) = Nvml().sample()
    with pytest.raises(AttributeError):
        sample.lost = True  # type: ignore[misc]
