"""The desktop app: QApplication with the qasync loop, the manager wired to the main window.

One window per data folder: a second launch (or `labdock open NAME`) hands its request to the window
that runs (desktop.ui.window_socket) and exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence


def _open_arg(argv: list[str]) -> str | None:
    """`--open NAME`: the notebook whose tab to open once it is ready (taken out of argv)."""
    if "--open" not in argv:
        return None
    at = argv.index("--open")
    name = argv[at + 1] if at + 1 < len(argv) else None
    del argv[at : at + 2]
    return name


def main(argv: Sequence[str] | None = None) -> int:
    args = list(argv or [])
    open_name = _open_arg(args)
    from desktop.store import Paths
    from desktop.ui import window_socket

    message = "show" if open_name is None else window_socket.open_message(open_name)
    if window_socket.send(Paths.default().data_dir, message):
        return 0  # the running window took it

    import qasync
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QApplication, QMessageBox

    from desktop.core.errors import LabdockError
    from desktop.services import build_services
    from desktop.ui.instance import InstanceServer
    from desktop.ui.main_thread_gc import MainThreadGc
    from desktop.ui.main_window import MainWindow
    from desktop.ui.resources import app_icon
    from desktop.ui.signals import SignalWatcher
    from desktop.ui.theme import apply_choice

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # QtWebEngine is loaded only when the first tab opens; it needs this set before the app exists.
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QApplication.instance() or QApplication([sys.argv[0], *args])
    assert isinstance(app, QApplication)
    app.setApplicationName("Labdock")
    app.setApplicationDisplayName("Labdock")
    app.setDesktopFileName("labdock")
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    MainThreadGc(app)  # Qt objects in reference cycles are destroyed on the Qt thread, never elsewhere
    try:
        services = build_services()
    except LabdockError as exc:
        QMessageBox.critical(None, "Labdock", str(exc))
        return 1
    apply_choice(app, services.settings.theme)
    done: asyncio.Future[None] = loop.create_future()

    def finish() -> None:
        if not done.done():
            done.set_result(None)

    window = MainWindow(services, on_quit=finish)
    window.show()
    window.start()
    loop.call_soon(services.manager.watch_idle)  # idle stop for the notebooks that ask for it, once the loop runs
    if services.manager.spares is not None:
        loop.call_soon(services.manager.spares.start)  # a notebook ready to hand out, kept while the window runs
    if open_name is not None:
        window.open_notebook(open_name)
    instance = InstanceServer(window.show_window, window.open_notebook, window)
    instance.listen(services.paths.data_dir)
    log = logging.getLogger("desktop.app")

    def on_signal(number: int) -> None:
        log.info("signal %d: quitting, notebooks keep running", number)
        window.quit_leaving_running()

    watcher = SignalWatcher(on_signal)
    loop.call_soon(log.info, "Labdock is up (pid %d)", os.getpid())
    try:
        with loop:
            loop.run_until_complete(done)
    finally:
        watcher.close()
        instance.close()
    return 0
