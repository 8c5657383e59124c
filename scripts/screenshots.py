"""Screenshots of the real app against a real Docker engine, for docs/screenshots/.

Usage: [DOCKER_HOST=unix:///path/docker.sock] python scripts/screenshots.py [--image IMAGE]
Without an engine at DOCKER_HOST it starts the test suite's private dockerd. The engine must have a
JupyterLab image (default: the test suite's plain image, built by `python -m tests.support`).
Notebooks use host networking on loopback and are removed afterwards. Runs headless
(QT_QPA_PLATFORM=offscreen) unless a DISPLAY is set.

The GPUs are simulated: the test suite's fake NVML plays a 2-GPU machine. "vision-2" is a real GPU
notebook of the Local engine (JupyterLab as a process with CUDA_VISIBLE_DEVICES=GPU 0's UUID: a Docker GPU
container needs the NVIDIA runtime, which a machine without a GPU lacks), and the GPU process the fake
reports on GPU 0 is that server's real pid, so its GPU column, its GPU memory and the dock agree through
the app's own attribution. Each window shot is taken light and dark (the Theme setting). Last,
scripts/screenshots_hosts.py shoots Preferences' Remote hosts against a real second host over SSH.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
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


def _fake_gpus():  # type: ignore[no-untyped-def]
    """A simulated 2-GPU workstation (tests/gpu/fake_nvml.py), installed before the services exist."""
    import pynvml

    from tests.gpu.fake_nvml import FakeNvml, GiB, make_gpus

    gpus = make_gpus(2)
    for gpu, util, used in zip(gpus, (63, 8), (9, 2), strict=True):
        gpu.name, gpu.memory_total, gpu.memory_used, gpu.utilization = "NVIDIA RTX A6000", 48 * GiB, used * GiB, util
    gpus[1].processes = [(1, 1 * GiB)]  # a host process: shown as "other"
    return FakeNvml(gpus=gpus).install(lambda _module, name, value: setattr(pynvml, name, value))


async def _wobble(fake) -> None:  # type: ignore[no-untyped-def]
    """Utilisation that moves, so the history graphs show something."""
    step = 0
    while True:
        step += 1
        fake.gpus[0].utilization = 55 + (step * 7) % 35
        fake.gpus[1].utilization = 5 + (step * 3) % 12
        await asyncio.sleep(0.25)


def _grab(widget, name: str) -> None:  # type: ignore[no-untyped-def]
    widget.grab().save(str(OUT / name))


async def _themed(app, window, name: str, settle: float = 1.0) -> None:  # type: ignore[no-untyped-def]
    """`name`.png in the light theme and `name`-dark.png in the dark one (JupyterLab follows in tabs)."""
    from desktop.ui.theme import apply_choice

    apply_choice(app, "light")
    await asyncio.sleep(settle)
    _grab(window, f"{name}.png")
    apply_choice(app, "dark")
    await asyncio.sleep(settle)
    _grab(window, f"{name}-dark.png")
    apply_choice(app, "light")
    await asyncio.sleep(settle)  # back to light everywhere (JupyterLab reloads) before the next shot


async def _shoot(app, window, image: str, fake) -> None:  # type: ignore[no-untyped-def]
    from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
    from desktop.ui.gpu_dock import PAGE_HOME
    from tests.gpu.fake_nvml import GiB

    manager = window.manager
    wobble = asyncio.ensure_future(_wobble(fake))

    def spec(name: str, img: str = image, **kw) -> NotebookSpec:  # type: ignore[no-untyped-def]
        return NotebookSpec(name=name, image=img, network_mode=NetworkMode.HOST, **kw)

    await manager.restore()
    await asyncio.gather(
        manager.create(spec("vision-2", gpus=("0",), engine="local")),
        manager.create(spec("data-prep", cpus=2, memory_bytes=2 << 30)),
        manager.create(spec("nlp-experiments", memory_bytes=4 << 30)),
        manager.create(spec("old-env", "example.org/missing/image:1.0")),
    )
    await manager.stop("nlp-experiments")
    assert manager.get("old-env").state is NotebookState.FAILED
    pid = int(manager.get("vision-2").container_id.removeprefix("local:"))
    fake.gpus[0].processes = [(pid, 6 * GiB + (300 << 20))]
    cards = window.gpu.panel.cards
    await _until(lambda: any("vision-2" in card.users.text() for card in cards.values()), 20)
    await _until(lambda: window.model.gpu_memory("vision-2") is not None, 20)
    await _until(lambda: (window.model.usage("data-prep") or _NoUsage).cpu_percent is not None, 20)
    await asyncio.sleep(6)  # an uptime worth showing, and some GPU history

    window.table.select_name("old-env")  # a failure: the reason in its row and in the strip above the log
    await _until(lambda: window.failure.isVisible(), 10)
    await _themed(app, window, "main-window")
    window.table.select_name("vision-2")
    await _until(lambda: window.log_view.text.blockCount() > 3, 20)
    await _themed(app, window, "main-window-gpu")

    dialog, picker = await _segmentation_dialog(window, fake.gpus[0].uuid)
    dialog.cpus.setValue(4)
    dialog.memory_edit.setText("16g")
    await _until(lambda: "vision-2" in picker.warning.text(), 10)
    await asyncio.sleep(0.3)
    _grab(dialog, "new-notebook-dialog.png")
    dialog.name_edit.setText("Bad Name")
    await asyncio.sleep(0.2)
    _grab(dialog, "new-notebook-dialog-invalid.png")
    dialog.reject()
    await _advanced_dialog(window, fake)
    await _dock_kernels(window, fake)

    prefs = window.open_preferences()
    await asyncio.sleep(0.3)
    _grab(prefs, "preferences-dialog.png")
    prefs.reject()

    await _tray(window)

    window.commands.open_tab("data-prep")
    await _until(lambda: bool(window.tabs.notebook_tabs("data-prep")), 20)
    tab = window.tabs.notebook_tabs("data-prep")[0]
    await _until(lambda: "JupyterLab" in tab.page_title(), 60)
    await asyncio.sleep(6)  # JupyterLab finishes drawing its launcher after the title is set
    await _themed(app, window, "notebook-tab", settle=8.0)  # the dark page is a reload: give it time

    await window.commands.stop("data-prep")
    await _until(lambda: tab.stale, 30)
    await asyncio.sleep(0.5)
    _grab(window, "stopped-tab.png")
    window.tabs.show_home()
    window.gpu.set_page(PAGE_HOME)
    wobble.cancel()
    fake.gpus[0].processes = []


async def _segmentation_dialog(window, gpu_uuid: str):  # type: ignore[no-untyped-def]
    """New notebook 'segmentation' on that one GPU, as a user fills it in."""
    dialog = window.new_notebook()
    await _until(lambda: dialog._gpu_picker is not None, 10)
    dialog.name_edit.setText("segmentation")
    dialog.use_gpu.setChecked(True)
    picker = dialog._gpu_picker
    picker.all_box.setChecked(False)
    picker.boxes[gpu_uuid].setChecked(True)
    return dialog, picker


async def _advanced_dialog(window, fake) -> None:  # type: ignore[no-untyped-def]
    """The dialog's Advanced section, light: environment with a secret row (masked), a read-only data mount,
    shared memory left to the GPU default, idle stop."""
    dialog, picker = await _segmentation_dialog(window, fake.gpus[1].uuid)
    picker.exclusive.setChecked(True)
    advanced = dialog.advanced
    advanced.toggle.setChecked(True)
    advanced.env.add("WANDB_PROJECT", "segmentation")
    advanced.env.add("HF_TOKEN", "hf_example_not_a_real_token", secret=True)
    data = Path(tempfile.mkdtemp(prefix="coco-"))
    advanced.mounts.add(str(data), "/data/coco")
    advanced.idle.setValue(120)
    dialog.resize(720, dialog.sizeHint().height())
    await asyncio.sleep(0.5)
    _grab(dialog, "new-notebook-dialog-advanced.png")
    dialog.reject()


async def _dock_kernels(window, fake) -> None:  # type: ignore[no-untyped-def]
    """The GPU dock down to the kernel: two real kernels of vision-2 reported as GPU processes."""
    from tests.gpu.fake_nvml import GiB
    from tests.gpu.kernel_support import kernel_pid, send_code, start_session

    notebook = window.manager.get("vision-2")
    server = int(notebook.container_id.removeprefix("local:"))
    train = await start_session(notebook.url, notebook.token, "train.ipynb")
    explore = await start_session(notebook.url, notebook.token, "explore/augment.ipynb")
    for kernel in (train, explore):
        await send_code(notebook.url, notebook.token, kernel, "x = 1")
    fake.gpus[0].processes = [(kernel_pid(train), 18 * GiB), (kernel_pid(explore), 5 * GiB), (server, 300 << 20)]
    fake.gpus[0].memory_used = 24 * GiB
    cards = window.gpu.panel.cards
    await _until(lambda: any("train.ipynb" in t for c in cards.values() for t in _line_texts(c)), 30)
    from PySide6.QtCore import Qt

    window.resizeDocks([window.gpu], [420], Qt.Orientation.Horizontal)
    await asyncio.sleep(1.0)
    _grab(window.gpu, "gpu-dock-kernels.png")


def _line_texts(card) -> list[str]:  # type: ignore[no-untyped-def]
    return [row.text.text() for row in card.lines.rows.values()]


class _NoUsage:
    cpu_percent = None


async def _tray(window) -> None:  # type: ignore[no-untyped-def]
    """The tray menu, and the submenu of a stopped notebook (Start is what it offers)."""
    window.tray.rebuild()
    menu = window.tray.menu
    menu.popup(window.mapToGlobal(window.rect().center()))
    await asyncio.sleep(0.3)
    _grab(menu, "tray-menu.png")
    for name, shot in (("nlp-experiments", "tray-menu-stopped.png"), ("vision-2", "tray-menu-notebook.png")):
        sub = window.tray.action(name)
        if sub is not None and sub.menu() is not None:
            sub.menu().popup(menu.mapToGlobal(menu.actionGeometry(sub).topRight()))
            await asyncio.sleep(0.3)
            _grab(sub.menu(), shot)
            sub.menu().hide()
    menu.hide()


async def _shoot_no_docker(window) -> None:  # type: ignore[no-untyped-def]
    """The first-run banner: a window whose Docker host does not answer."""
    window.start(refresh_ms=0)
    await _until(lambda: window.banner.isVisible() and window.banner.help.isVisible(), 30)
    await asyncio.sleep(1.0)
    _grab(window, "no-docker-banner.png")


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
    daemon = _engine()
    try:
        engine = os.environ["DOCKER_HOST"]  # _run points it elsewhere for its last shot
        status = _run(home, image)
        hosts = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "screenshots_hosts.py")],
            env={**os.environ, "DOCKER_HOST": engine},
            check=False,
        )
        return status or hosts.returncode
    finally:
        if daemon is not None:
            daemon.stop()


def _engine():  # type: ignore[no-untyped-def]
    """The engine at DOCKER_HOST, else the test suite's private dockerd (stopped afterwards)."""
    from tests.support.dockerd import existing_engine, start_private

    url = existing_engine()
    if url is not None:
        os.environ["DOCKER_HOST"] = url
        return None
    daemon = start_private()
    os.environ["DOCKER_HOST"] = daemon.base_url
    return daemon


def _run(home: Path, image: str) -> int:
    fake = _fake_gpus()

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
    services = build_services()
    services.settings.gpu_sample_interval = 0.25
    window = MainWindow(services)
    window.resize(1600, 900)
    window.show()

    async def run() -> None:
        window.start(refresh_ms=0)
        try:
            await _shoot(app, window, image, fake)
        finally:
            await _clean(window)
            window.shutdown()
            await window.manager.close()
            window.hide()
        os.environ["DOCKER_HOST"] = f"unix://{home}/no-docker.sock"
        first_run = MainWindow(build_services())
        first_run.resize(1280, 760)
        first_run.show()
        try:
            await _shoot_no_docker(first_run)
        finally:
            first_run.shutdown()
            await first_run.manager.close()

    with loop:
        loop.run_until_complete(run())
    print("\n".join(sorted(str(p.relative_to(ROOT)) for p in OUT.glob("*.png"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
