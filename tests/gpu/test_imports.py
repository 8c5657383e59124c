"""desktop.gpu must run on a bare GPU machine (only nvidia-ml-py); the GPU widgets must not reach docker."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = "import sys, {module}; bad = [m for m in sys.modules if m.split('.')[0] in {banned!r}]; assert not bad, bad"


@pytest.mark.parametrize(
    ("module", "banned"),
    [
        ("desktop.gpu", ("PySide6", "qasync", "docker")),
        # the dock's and `labdock gpu`'s lines run on a bare GPU machine too (bench/gpu_smoke.py)
        ("desktop.kernel_actions", ("PySide6", "qasync", "docker")),
        ("desktop.gpu_table", ("PySide6", "qasync", "docker")),
        ("desktop.reservations", ("PySide6", "qasync", "docker")),
        ("desktop.cuda_compat", ("PySide6", "qasync", "docker")),
        ("desktop.ui.gpu_panel", ("docker",)),
        ("desktop.ui.gpu_picker", ("docker",)),
    ],
)
def test_import_stays_light(module: str, banned: tuple[str, ...]) -> None:
    code = CHECK.format(module=module, banned=banned)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
