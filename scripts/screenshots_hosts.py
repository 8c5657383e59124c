"""The remote hosts screenshots against a real second host: docs/screenshots/preferences-remote-hosts.png and
docs/screenshots/main-window-hosts.png (one table for this machine and two hosts).

Usage: DOCKER_HOST=unix:///path/docker.sock python scripts/screenshots_hosts.py (scripts/screenshots.py runs
it after its own shots, with its engine). The engine must have the test images (`python -m tests.support`).

The second host is the test suite's (tests/support/remote_host.py): sshd and a private dockerd inside network
namespaces of this run's own, reached over SSH with per-run keys and known_hosts, here named "gpubox" through
its ~/.ssh/config alias. Beside it, "lab-server" is a host that refuses connections (127.0.0.1:1). Both
states are what Labdock's own check found. Needs root (namespaces); elsewhere it says why and makes nothing.
In the window shot, this machine's notebook is a Local one (this run's namespace cannot reach the loopback
of the outer engine's containers), gpubox's two are Docker containers there, and lab-server's is remembered
while its host does not answer. gpubox's GPUs are simulated: a stand-in `nvidia-smi` on its PATH (there is
no GPU here), read over SSH like a real one.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
NAME = "preferences-remote-hosts.png"
WINDOW_NAME = "main-window-hosts.png"
STAND_IN_SMI = """#!/bin/sh
case "$*" in
  *--query-gpu=*)
    echo "0, GPU-5d0c9a7e-1f2b-4c3d-8e9f-0a1b2c3d4e5f, 550.54.15, 81559, 30720, 71, 64, 281.40, NVIDIA H100 80GB HBM3"
    echo "1, GPU-7e1d0b8f-2a3c-4d5e-9f0a-1b2c3d4e5f60, 550.54.15, 81559, 1024, 3, 38, 72.10, NVIDIA H100 80GB HBM3" ;;
esac
"""
RUN_TIMEOUT_S = 300


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from tests.support import remote_host

    if remote_host.inside():
        return _inside()
    missing = remote_host.missing()
    if missing is not None:
        print(f"{NAME} not taken: {missing}", file=sys.stderr)
        return 0
    url = os.environ.get("DOCKER_HOST")
    if not url:
        print(f"{NAME} not taken: DOCKER_HOST must name the engine with the test images", file=sys.stderr)
        return 1
    run = remote_host.run_with_remote_host([sys.executable, str(Path(__file__).resolve())], url, ROOT, RUN_TIMEOUT_S)
    if run.returncode != 0:
        print(run.output[-6000:], file=sys.stderr)
    else:
        print(f"docs/screenshots/{NAME}")
    return run.returncode


def _inside() -> int:
    """Beside the remote host: a Labdock home that knows it, and Preferences as the window opens them."""
    from tests.support.remote_host import RemoteHost

    host = RemoteHost.from_env()
    assert host is not None
    home = Path(tempfile.mkdtemp(prefix="labdock-shots-"))
    host.install_ssh_config(home / "user")  # the user's own ~/.ssh/config and known_hosts
    os.environ["HOME"] = str(home / "user")
    os.environ["LABDOCK_HOME"] = str(home)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    (home / "config").mkdir(parents=True)
    settings = {"remote_hosts": [f"gpubox={host.alias}", "lab-server=127.0.0.1:1"], "keep_spare": False}
    (home / "config" / "settings.json").write_text(json.dumps(settings))

    import qasync
    from PySide6.QtCore import QPoint, QSize
    from PySide6.QtGui import QPixmap
    from PySide6.QtWidgets import QApplication

    import desktop.ui  # noqa: F401  (refcount guard first)
    from desktop.services import build_services
    from desktop.ui.preferences_dialog import PreferencesDialog
    from desktop.ui.theme import apply_choice

    app = QApplication(sys.argv[:1])
    app.setApplicationName("Labdock")
    app.setQuitOnLastWindowClosed(False)  # the dialog closes before the loop's work is done
    apply_choice(app, "light")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    services = build_services()

    async def shoot() -> None:
        prefs = PreferencesDialog(services.settings, services.paths, contexts=[], services=services)
        prefs.resize(760, prefs.sizeHint().height())
        prefs.show()
        section = prefs.remote_hosts
        async with asyncio.timeout(60):
            while section.checking():
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        OUT.mkdir(parents=True, exist_ok=True)
        margin = 10  # the dialog's background around the section, none of its other fields
        shot = QPixmap(section.size() + QSize(2 * margin, 2 * margin))
        shot.fill(prefs.palette().window().color())
        section.render(shot, QPoint(margin, margin))
        shot.save(str(OUT / NAME))
        print("\n".join(f"{row.name}: {row.state.text}" for row in section.model.rows()))
        prefs.reject()
        await window_shot(services, host)
        await services.manager.close()

    stand_in = host.bin_dir / "nvidia-smi"
    stand_in.write_text(STAND_IN_SMI)
    stand_in.chmod(0o755)
    with loop:
        loop.run_until_complete(shoot())
    print(OUT / NAME)
    return 0


async def window_shot(services, host) -> None:  # type: ignore[no-untyped-def]
    """The table with this machine's notebook, gpubox's two and lab-server's, and gpubox's GPUs."""
    from PySide6.QtCore import Qt

    from desktop.core.models import NetworkMode, NotebookSpec
    from desktop.store import SpecStore
    from desktop.ui.main_window import MainWindow
    from desktop.ui.notebook_model import Column
    from tests.support.images import PLAIN_IMAGE

    manager = services.manager
    SpecStore(services.paths).put(NotebookSpec("archive-2024", PLAIN_IMAGE, engine="lab-server"))
    window = MainWindow(services)
    window.resize(1600, 800)
    window.show()
    window.start(refresh_ms=3000)
    bridge = NetworkMode.BRIDGE
    try:
        on_gpubox = {"engine": "gpubox", "network_mode": bridge}
        await asyncio.gather(
            manager.create(NotebookSpec("explore", PLAIN_IMAGE, engine="local")),
            manager.create(NotebookSpec("train-llm", PLAIN_IMAGE, cpus=2, **on_gpubox)),  # type: ignore[arg-type]
            manager.create(NotebookSpec("etl", PLAIN_IMAGE, memory_bytes=8 << 30, **on_gpubox)),  # type: ignore[arg-type]
        )
        async with asyncio.timeout(60):
            while "lab-server" not in manager.hosts.problems or window.model.row_of("archive-2024") is None:
                await manager.refresh()
                await asyncio.sleep(0.5)
        await asyncio.sleep(8)  # uptimes, usage and two readings of gpubox's GPUs
        window.table.select_name("train-llm")
        window.resizeDocks([window.gpu], [420], Qt.Orientation.Horizontal)  # the GPU titles in full
        window.table.resizeColumnToContents(Column.STATE)  # "Stopped — host unreachable" in full
        await asyncio.sleep(2)
        window.grab().save(str(OUT / WINDOW_NAME))
        print(OUT / WINDOW_NAME)
    finally:
        for name in ("explore", "train-llm", "etl"):
            try:
                await manager.remove(name, delete_work=True)
            except Exception as exc:  # leave nothing behind, but report
                print(f"could not remove {name}: {exc}", file=sys.stderr)
        await manager.forget("archive-2024")
        window.close()


if __name__ == "__main__":
    raise SystemExit(main())
