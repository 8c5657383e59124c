"""GPU processes mapped to containers through /proc/<pid>/cgroup, then to notebooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from desktop.gpu import OTHER, GpuProcess, GpuSample, GpuUser, attribute, container_of
from tests.conftest import TEST_PREFIX, Engine

A = "a" * 60 + "0123"
B = "b" * 60 + "4567"

CGROUP_FORMATS = {
    "v1": f"12:pids:/docker/{A}\n11:memory:/docker/{A}\n1:name=systemd:/docker/{A}\n",
    "v2 systemd": f"0::/system.slice/docker-{A}.scope\n",
    "v2 cgroupfs": f"0::/docker/{A}\n",
    "v2 kubepods": f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1c2d_3e4f.slice/"
    f"cri-containerd-{A}.scope\n",
    "v1 kubepods": f"4:memory:/kubepods/besteffort/pod1c2d3e4f-0000-1111-2222-333344445555/{A}\n",
    "containerd ns": f"0::/default/{A}\n",
    "crio": f"0::/kubepods.slice/crio-{A}.scope\n",
    "docker in docker": f"0::/docker/{A}/docker/{B}\n",
    "subgroup in container": f"0::/system.slice/docker-{A}.scope/init.scope\n",
}


def write_proc(root: Path, pid: int, cgroup: str) -> None:
    (root / str(pid)).mkdir(parents=True)
    (root / str(pid) / "cgroup").write_text(cgroup)


@pytest.mark.parametrize("fmt", CGROUP_FORMATS)
def test_container_id_from_cgroup(tmp_path: Path, fmt: str) -> None:
    write_proc(tmp_path, 42, CGROUP_FORMATS[fmt])
    assert container_of(42, tmp_path) == A


@pytest.mark.parametrize(
    "cgroup",
    ["0::/user.slice/user-1000.slice/session-2.scope\n", "0::/\n", "12:pids:/\n", "", f"0::/docker/{A[:63]}\n"],
)
def test_host_processes_have_no_container(tmp_path: Path, cgroup: str) -> None:
    write_proc(tmp_path, 7, cgroup)
    assert container_of(7, tmp_path) is None


def test_gone_process(tmp_path: Path) -> None:
    assert container_of(999999, tmp_path) is None


def sample(uuid: str, *procs: tuple[int, int | None]) -> GpuSample:
    return GpuSample(0, uuid, 0.0, 80 << 30, processes=tuple(GpuProcess(pid, mem) for pid, mem in procs))


def test_attribute_per_notebook_and_per_gpu(tmp_path: Path) -> None:
    write_proc(tmp_path, 10, f"0::/system.slice/docker-{A}.scope\n")
    write_proc(tmp_path, 11, f"0::/system.slice/docker-{A}.scope\n")
    write_proc(tmp_path, 20, f"12:memory:/docker/{B}\n")
    write_proc(tmp_path, 30, "0::/user.slice\n")
    write_proc(tmp_path, 31, f"0::/docker/{'c' * 64}\n")  # a container that is not a notebook
    samples = [
        sample("GPU-0", (10, 1000), (20, 5000), (30, 7)),
        sample("GPU-1", (11, 300), (31, None), (99, 1)),  # 99: exited between NVML and /proc
        sample("GPU-2"),
    ]
    usage = attribute(samples, {A: "alpha", B[:12]: "beta"}, proc_root=tmp_path)
    assert usage.per_notebook == {"alpha": 1300, "beta": 5000, OTHER: 8}
    assert usage.per_gpu["GPU-0"] == (
        GpuUser("beta", 5000, (20,)),
        GpuUser("alpha", 1000, (10,)),
        GpuUser(OTHER, 7, (30,)),
    )
    assert usage.per_gpu["GPU-1"] == (GpuUser("alpha", 300, (11,)), GpuUser(OTHER, 1, (31, 99)))
    assert usage.per_gpu["GPU-2"] == ()


@pytest.mark.docker
def test_real_container_pid_maps_to_its_id(docker_engine: Engine, images: Any) -> None:
    container = docker_engine.client.containers.run(
        images.plain,
        command=["sleep", "300"],
        name=f"{TEST_PREFIX}gpu-cgroup",
        network_mode="host",
        detach=True,
    )
    try:
        container.reload()
        pid = container.attrs["State"]["Pid"]
        assert pid > 0
        assert container_of(pid) == container.id
        usage = attribute([sample("GPU-0", (pid, 1 << 30))], {container.id: "real"})
        assert usage.per_notebook == {"real": 1 << 30}
    finally:
        container.remove(force=True)
