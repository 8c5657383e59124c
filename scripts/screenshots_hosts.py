"""The Remote hosts screenshot, docs/screenshots/preferences-remote-hosts.png, against a real second host.

Usage: DOCKER_HOST=unix:///path/docker.sock python scripts/screenshots_hosts.py (scripts/screenshots.py runs
it after its own shots, with its engine). The engine must have the test images (`python -m tests.support`).

The second host is the test suite's (tests/support/remote_host.py): sshd and a private dockerd inside network
namespaces of this run's own, reached over SSH with per-run keys and known_hosts, here named "gpubox" through
its ~/.ssh/config alias. Beside it, "lab-server" is a host that refuses connections (127.0.0.1:1). Both
states are what Labdock's own check found. Needs root (namespaces); elsewhere it says why and makes nothing.
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
        await services.manager.close()

    with loop:
        loop.run_until_complete(shoot())
    print(OUT / NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
