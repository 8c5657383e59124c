"""SIGTERM and SIGINT quit the app cleanly (exit 0), like Quit with "leave running"."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_test_settings

pytestmark = [pytest.mark.gui]
ROOT = Path(__file__).resolve().parents[2]
UP = b"Labdock is up"


def start_app(tmp_path: Path) -> subprocess.Popen[bytes]:
    home = tmp_path / "home"
    write_test_settings(home)
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "LABDOCK_HOME": str(home),
        "DOCKER_HOST": f"unix://{tmp_path}/missing.sock",  # the window starts without Docker too
    }
    return subprocess.Popen(
        [sys.executable, "-m", "desktop"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def wait_until_up(process: subprocess.Popen[bytes], timeout: float = 30.0) -> bytes:
    """Read the app's log until it says it is up (its event loop runs); fail with the log otherwise."""
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while UP not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or process.poll() is not None:
                pytest.fail(f"the app did not come up:\n{seen.decode(errors='replace')}")
            if selector.select(left):
                chunk = os.read(process.stderr.fileno(), 4096)
                if not chunk:
                    pytest.fail(f"the app ended early:\n{seen.decode(errors='replace')}")
                seen += chunk
    return seen


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_quits_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    process = start_app(tmp_path)
    try:
        wait_until_up(process)
        process.send_signal(sig)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err.decode(errors="replace")
    assert b"Traceback" not in err
    assert b"quitting, notebooks keep running" in err
