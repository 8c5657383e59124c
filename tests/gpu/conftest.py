"""GPU tests run without a GPU (a fake at the pynvml boundary) and without a display (Qt offscreen)."""

from __future__ import annotations

import os

import pytest

from tests.gpu.fake_nvml import FakeNvml

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    """An installed fake with no GPU; tests add FakeGpu records to `.gpus`."""
    return FakeNvml().install(monkeypatch.setattr)
