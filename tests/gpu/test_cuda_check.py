"""CUDA before launch: what an image says it needs, against what the driver supports. For real: tiny images
built FROM the test image with ENV CUDA_VERSION (offline), a warning for the newer one before anything
starts (window and `labdock new`), and silence for the matching one."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import ImageNotFound

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.cuda_compat import CudaNeed, cuda_warning, image_cuda
from desktop.services import build_services
from desktop.store import Paths
from tests.conftest import Engine, arun
from tests.gpu.fake_cli import run_cli
from tests.gpu.fake_nvml import FakeNvml, make_gpus

REQUIRE = "cuda>=12.4 brand=tesla,driver>=470,driver<471"


@pytest.mark.parametrize(
    ("env", "labels", "image", "expected"),
    [
        (
            {"NVIDIA_REQUIRE_CUDA": REQUIRE, "CUDA_VERSION": "12.4.1"},
            {},
            "nvidia/cuda:12.4.1-base",
            ((12, 4), "NVIDIA_REQUIRE_CUDA"),
        ),
        ({"CUDA_VERSION": "11.8.0"}, {}, "x", ((11, 8), "CUDA_VERSION")),
        ({"NV_CUDA_CUDART_VERSION": "12.1.105-1"}, {}, "x", ((12, 1), "NV_CUDA_CUDART_VERSION")),
        ({}, {"com.nvidia.cuda.version": "10.2.89"}, "x", ((10, 2), "label com.nvidia.cuda.version")),
        ({}, {}, "quay.io/jupyter/pytorch-notebook:cuda12-python-3.11", ((12, None), "tag")),
        ({}, {}, "pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime", ((12, 1), "tag")),
        ({}, {}, "registry:5000/cuda13:latest", None),  # a repository name is not a tag
        ({}, {}, "quay.io/jupyter/scipy-notebook:latest", None),
        ({"CUDA_VERSION": "garbage"}, {}, "x", None),
    ],
)
def test_what_an_image_needs(env: dict[str, str], labels: dict[str, str], image: str, expected: Any) -> None:
    need = image_cuda(env, labels, image)
    assert (None if need is None else (need.version, need.source)) == expected


@pytest.mark.parametrize(
    ("need", "driver", "warning"),
    [
        ((12, 4), "12.2", "the image needs CUDA 12.4; the driver supports up to 12.2: update the driver or pick "
         "an image built for CUDA 12.2 or older"),
        ((12, None), "11.8", "the image needs CUDA 12; the driver supports up to 11.8: update the driver or pick "
         "a cuda11 tag"),
        ((12, 4), "12.4", None),
        ((12, None), "12.0", None),
        ((11, 8), "12.4", None),
        ((12, 4), None, None),
    ],
)  # fmt: skip
def test_warning(need: tuple[int, int | None], driver: str | None, warning: str | None) -> None:
    assert cuda_warning(CudaNeed(need, "test"), driver) == warning
    assert cuda_warning(None, driver) is None


def cuda_image(client: docker.DockerClient, base: str, version: str) -> str:
    """FROM the test image, with only ENV CUDA_VERSION set: built offline, cached by the base's tag."""
    tag = f"labdock-test/cuda{version}:{base.rsplit(':', 1)[1]}"
    try:
        client.images.get(tag)
        return tag
    except ImageNotFound:
        pass
    dockerfile = f"FROM {base}\nENV CUDA_VERSION={version}\n".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as context:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        context.addfile(info, io.BytesIO(dockerfile))
    buffer.seek(0)
    client.images.build(fileobj=buffer, custom_context=True, tag=tag, network_mode="none", rm=True)
    return tag


@pytest.mark.docker
def test_newer_cuda_warns_before_anything_starts_and_matching_is_quiet(
    fake_nvml: FakeNvml, labdock_home: Path, images: Any, docker_engine: Engine
) -> None:
    fake_nvml.gpus = make_gpus(1)
    fake_nvml.cuda_version = 12040  # the driver supports CUDA 12.4
    newer = cuda_image(docker_engine.client, images.plain, "12.8.0")
    matching = cuda_image(docker_engine.client, images.plain, "12.4.1")
    manager = build_services(Paths.default()).manager
    said: list[tuple[str, str, int]] = []
    manager.subscribe_warnings(lambda name, warning: said.append((name, warning, len(manager.list()))))
    expected = (
        "the image needs CUDA 12.8; the driver supports up to 12.4: update the driver or pick an image built for "
        "CUDA 12.4 or older"
    )

    async def scenario() -> None:
        quiet = NotebookSpec("fits", matching, gpus=("0",), network_mode=NetworkMode.HOST)
        assert await manager.launch_warnings(quiet) == ()
        assert await manager.launch_warnings(NotebookSpec("cpu", newer, network_mode=NetworkMode.HOST)) == ()
        loud = NotebookSpec("too-new", newer, gpus=("0",), network_mode=NetworkMode.HOST)
        assert await manager.launch_warnings(loud) == (expected,)
        made = await manager.create(loud)
        assert said == [("too-new", expected, 0)]  # said before the notebook's row (or anything) existed
        assert made.state is NotebookState.FAILED  # this engine has no NVIDIA runtime: the launch goes on and fails
        await manager.close()

    arun(scenario(), timeout=120)
    warned = run_cli(fake_nvml, "new", "cli-new", "--gpu", "0", "--image", newer)
    assert warned.stderr.splitlines()[0] == f"labdock: warning: {expected}"
    assert warned.returncode == 1 and "nvidia-container-toolkit" in warned.stderr.splitlines()[1]
    fits = run_cli(fake_nvml, "new", "cli-fits", "--gpu", "0", "--image", matching)
    assert fits.returncode == 1 and "warning" not in fits.stderr and "CUDA" not in fits.stderr
