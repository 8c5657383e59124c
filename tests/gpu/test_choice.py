"""A user's GPU choice resolved to UUIDs against the inventory, with clear errors."""

from __future__ import annotations

import pytest

from desktop.core.errors import InvalidSpec
from desktop.gpu import GpuInfo, Inventory, resolve_gpus

GiB = 1 << 30
EIGHT = Inventory(gpus=tuple(GpuInfo(i, f"GPU-{i}aaa-bbbb", "H100", 80 * GiB) for i in range(8)))


def test_cpu_only() -> None:
    assert resolve_gpus((), EIGHT) == ()
    assert resolve_gpus((), Inventory(reason="no NVIDIA GPU found")) == ()


def test_all() -> None:
    assert resolve_gpus(("all",), EIGHT) == tuple(g.uuid for g in EIGHT.gpus)


@pytest.mark.parametrize(
    "choice", [("0,2",), ("0", "2"), (" 0 , 2 ",), ("GPU-0aaa-bbbb", "2"), ("gpu-0AAA-bbbb", "2,0")]
)
def test_indices_and_uuids(choice: tuple[str, ...]) -> None:
    assert resolve_gpus(choice, EIGHT) == ("GPU-0aaa-bbbb", "GPU-2aaa-bbbb")


def test_one_gpu_machine() -> None:
    one = Inventory(gpus=(GpuInfo(0, "GPU-only", "RTX 4090", 24 * GiB),))
    assert resolve_gpus(("0",), one) == ("GPU-only",)
    with pytest.raises(InvalidSpec, match=r"no GPU 1 on this machine \(it has GPU 0, or use 'all'\)"):
        resolve_gpus(("1",), one)


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        (("0,8",), "no GPU 8 on this machine"),
        (("9", "GPU-nope"), "no GPU 9, GPU-nope on this machine"),
        (("-1",), "no GPU -1"),
        (("0,,1",), "empty GPU id"),
        (("all", "1"), "'all' cannot be combined"),
    ],
)
def test_errors(choice: tuple[str, ...], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        resolve_gpus(choice, EIGHT)


@pytest.mark.parametrize("choice", [("all",), ("0",)])
def test_gpus_asked_on_a_machine_without(choice: tuple[str, ...]) -> None:
    with pytest.raises(InvalidSpec, match="no GPU to give the notebook: the NVIDIA driver is not loaded"):
        resolve_gpus(choice, Inventory(reason="the NVIDIA driver is not loaded"))
