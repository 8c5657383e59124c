"""Will this image's CUDA run on this driver? Asked before a GPU notebook launches, answered with a warning.

The image says which CUDA it was built for the way NVIDIA's and Jupyter's images do: `NVIDIA_REQUIRE_CUDA`
(`cuda>=12.4 …`, which nvidia-container-toolkit enforces), `CUDA_VERSION`, `NV_CUDA_*_VERSION`, the
`com.nvidia.cuda.version` label, or only a tag like `cuda12-…` / `…-cuda12.1-…`. NVML says the newest CUDA
the driver supports. An image newer than the driver gets one line saying what to do; the launch is
not refused, since a user may know better (NVIDIA_DISABLE_REQUIRE, forward-compatibility packages).
Qt-free and docker-free: the engine hands over the image's environment and labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

Version = tuple[int, int | None]  # (major, minor); minor None when only the major is known (a tag)

_REQUIRE = re.compile(r"(?:^|\s)cuda>=(\d+)\.(\d+)")
_VERSION = re.compile(r"^(\d+)\.(\d+)")
_TAG = re.compile(r"(?:^|[-_.])cuda(\d+)(?:\.(\d+))?(?=$|[-_.])", re.IGNORECASE)
_VERSION_ENV = ("CUDA_VERSION", "NV_CUDA_CUDART_VERSION", "NV_CUDA_LIB_VERSION")
_VERSION_LABELS = ("com.nvidia.cuda.version",)


@runtime_checkable
class ImageFacts(Protocol):
    """What an engine with images offers the check (the Docker engine; the Local engine has no image)."""

    async def image_env_and_labels(self, image: str) -> tuple[dict[str, str], dict[str, str]] | None:
        """The image's environment and labels, or None when the image is not on this machine."""


@dataclass(frozen=True)
class CudaNeed:
    version: Version
    source: str  # where it was read, for the log: "NVIDIA_REQUIRE_CUDA", "CUDA_VERSION", "tag"...

    @property
    def text(self) -> str:
        major, minor = self.version
        return f"{major}" if minor is None else f"{major}.{minor}"


def _parse(text: str) -> Version | None:
    match = _VERSION.match(text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def image_cuda(env: Mapping[str, str], labels: Mapping[str, str], image: str) -> CudaNeed | None:
    """The CUDA version an image needs; the enforced requirement first, then the toolkit, then the tag."""
    require = _REQUIRE.search(env.get("NVIDIA_REQUIRE_CUDA", ""))
    if require:
        return CudaNeed((int(require.group(1)), int(require.group(2))), "NVIDIA_REQUIRE_CUDA")
    for key in _VERSION_ENV:
        version = _parse(env.get(key, ""))
        if version is not None:
            return CudaNeed(version, key)
    for key in _VERSION_LABELS:
        version = _parse(labels.get(key, ""))
        if version is not None:
            return CudaNeed(version, f"label {key}")
    tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
    match = _TAG.search(tag)
    if match:
        return CudaNeed((int(match.group(1)), int(match.group(2)) if match.group(2) else None), "tag")
    return None


def driver_cuda(text: str | None) -> tuple[int, int] | None:
    """The driver's newest CUDA from NVML's "12.4"; None when unknown."""
    version = _parse(text or "")
    return (version[0], version[1] or 0) if version is not None else None


def cuda_warning(need: CudaNeed | None, driver: str | None) -> str | None:
    """One line when the image needs a newer CUDA than the driver supports; None when it fits or is unknown."""
    have = driver_cuda(driver)
    if need is None or have is None:
        return None
    major, minor = need.version
    too_new = major > have[0] or (minor is not None and major == have[0] and minor > have[1])
    if not too_new:
        return None
    remedy = f"a cuda{have[0]} tag" if major > have[0] else f"an image built for CUDA {have[0]}.{have[1]} or older"
    return (
        f"the image needs CUDA {need.text}; the driver supports up to {have[0]}.{have[1]}: "
        f"update the driver or pick {remedy}"
    )


async def check_image(engine: object, image: str, driver: str | None) -> str | None:
    """The warning for this image on this driver; None when the engine has no images, the image is not
    here yet (it is pulled at launch) or nothing says which CUDA it needs."""
    if driver is None or not isinstance(engine, ImageFacts):
        return None
    facts = await engine.image_env_and_labels(image)
    if facts is None:
        return None
    env, labels = facts
    return cuda_warning(image_cuda(env, labels, image), driver)
