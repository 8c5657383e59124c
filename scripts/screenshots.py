"""Screenshots of the real app against a real Docker engine, for docs/screenshots/.

Usage: DOCKER_HOST=unix:///path/docker.sock python scripts/screenshots.py [--image IMAGE]
The engine must have a JupyterLab image (default: the test suite's plain image, built by
`python -m tests.support`). Notebooks use host networking on loopback and are removed afterwards.
Runs headless (QT_QPA_PLATFORM=offscreen) unless a DISPLAY is set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
PREFIX = "ldshot-"


def _environment(home: Path, image: str) -> None:
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if os.geteuid() == 0:
        os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = "--no-sandbox"
    os.environ["LABDOCK_HOME"] = str(home)
    settings = {
        "network_mode": "host",
        "pull_missing": False,
        "container_prefix": PREFIX,
        "default_image": image,
        "recent_images": [image],
        "ready_timeout": 90,
    }
    (home / "config").mkdir(parents=True)
    (home / "config" / "settings.json").write_text(json.dumps(settings))


async def _until(check, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.1)


async def _shoot(window, image: str) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QApplication

    from desktop.core.models import NetworkMode, NotebookSpec, NotebookState

    manager = window.manager

    def spec(name: str, img: str = image) -> NotebookSpec:
        return NotebookSpec(name=name, image=img, network_mode=NetworkMode.HOST, cpus=2, memory_bytes=2 << 30)

    await manager.restore()
    await asyncio.gather(
        manager.create(spec("vision-2")),
        manager.create(spec("nlp-experiments")),
        manager.create(spec("old-env", "example.org/missing/image:1.0")),
    )
    await manager.stop("nlp-experiments")
    window.table.select_name("vision-2")
    await _until(lambda: window.log_view.text.blockCount() > 3, 20)
    await asyncio.sleep(1.5)  # an uptime worth showing
    window.grab().save(str(OUT / "main-window.png"))

    dialog = window.new_notebook()
    dialog.name_edit.setText("segmentation")
    dialog.cpus.setValue(4)
    dialog.memory_edit.setText("16g")
    await asyncio.sleep(0.3)
    dialog.grab().save(str(OUT / "new-notebook-dialog.png"))
    dialog.name_edit.setText("Bad Name")
    await asyncio.sleep(0.2)
    dialog.grab().save(str(OUT / "new-notebook-dialog-invalid.png"))
    dialog.reject()

    window.tray.rebuild()
    menu = window.tray.menu
    menu.popup(window.mapToGlobal(window.rect().center()))
    await asyncio.sleep(0.3)
    menu.grab().save(str(OUT / "tray-menu.png"))
    sub = window.tray.action("vision-2")
    if sub is not None and sub.menu() is not None:
        sub.menu().popup(menu.mapToGlobal(menu.actionGeometry(sub).topRight()))
        await asyncio.sleep(0.3)
        sub.menu().grab().save(str(OUT / "tray-menu-notebook.png"))
        sub.menu().hide()
    menu.hide()

    window.commands.open_tab("vision-2")
    await _until(lambda: bool(window.tabs.notebook_tabs("vision-2")), 20)
    tab = window.tabs.notebook_tabs("vision-2")[0]
    await _until(lambda: "JupyterLab" in tab.page_title(), 60)
    await asyncio.sleep(6)  # JupyterLab finishes drawing its launcher after the title is set
    window.grab().save(str(OUT / "notebook-tab.png"))
    QApplication.processEvents()
    assert manager.get("old-env").state is NotebookState.FAILED


async def _clean(window) -> None:  # type: ignore[no-untyped-def]
    for notebook in list(window.manager.list()):
        try:
            await window.manager.remove(notebook.name)
        except Exception as exc:  # leave nothing behind, but report
            print(f"could not remove {notebook.name}: {exc}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image", default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    image = args.image
    if image is None:
        from tests.support.images import PLAIN_IMAGE

        image = PLAIN_IMAGE
    home = Path(tempfile.mkdtemp(prefix="labdock-shots-"))
    _environment(home, image)

    import qasync
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QApplication

    import desktop.ui  # noqa: F401  (refcount guard first)
    from desktop.services import build_services
    from desktop.ui.main_window import MainWindow

    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Labdock")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    OUT.mkdir(parents=True, exist_ok=True)
    window = MainWindow(build_services())
    window.resize(1280, 800)
    window.show()

    async def run() -> None:
        try:
            await _shoot(window, image)
        finally:
            await _clean(window)
            window.shutdown()
            await window.manager.close()

    with loop:
        loop.run_until_complete(run())
    print("\n".join(sorted(str(p.relative_to(ROOT)) for p in OUT.glob("*.png"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
