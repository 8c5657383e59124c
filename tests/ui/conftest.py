"""UI test setup: headless Qt, QtWebEngine as root, and an asyncio loop living inside Qt (qasync).

The qasync loop is created "already running", so manager tasks advance whenever Qt processes events:
inside qtbot.waitUntil / waitSignal. Helpers here wait on tasks that way, never with sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if os.geteuid() == 0 and "--no-sandbox" not in os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", ""):
    os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = (
        os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "") + " --no-sandbox"
    ).strip()

import pytest
import qasync
from PySide6.QtCore import QCoreApplication, Qt
from pytestqt.qtbot import QtBot

from desktop.services import Services
from desktop.ui.main_thread_gc import MainThreadGc

# QtWebEngine loads lazily (first tab) and needs this before the QApplication exists.
QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)

T = TypeVar("T")


@pytest.fixture(scope="session")
def _session_qloop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    """One loop for the session (a Qt app hosts one qasync loop well; a second one stalls)."""
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.events._set_running_loop(None)  # "running" only inside the tests that use it (qloop)
    collector = MainThreadGc(qapp)  # as the app does: cycles with Qt objects are freed on the Qt thread
    try:
        yield loop
    finally:
        collector.stop()
        asyncio.events._set_running_loop(loop)
        for task in asyncio.all_tasks(loop):
            task.cancel()
        asyncio.events._set_running_loop(None)
        loop._QEventLoop__is_running = False  # type: ignore[attr-defined]  # close() refuses a running loop
        loop.close()  # also ends the loop's worker threads (asyncio.to_thread)


@pytest.fixture(autouse=True)
def qloop(_session_qloop: asyncio.AbstractEventLoop) -> Iterator[asyncio.AbstractEventLoop]:
    """The Qt-driven loop, running for this test only, so other tests may use asyncio.run()."""
    asyncio.set_event_loop(_session_qloop)
    asyncio.events._set_running_loop(_session_qloop)
    try:
        yield _session_qloop
    finally:
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)


def wait_for(qtbot: QtBot, coro: Coroutine[Any, Any, T], timeout_s: float = 60) -> T:
    """Run `coro` on the Qt-driven loop and wait for its result."""
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=int(timeout_s * 1000))
    return task.result()


@pytest.fixture
def ui_services(services: Services, qloop: asyncio.AbstractEventLoop, qtbot: QtBot) -> Iterator[Services]:
    """The real manager on the Qt loop; its notebooks are stopped and it is closed afterwards."""
    yield services
    manager = services.manager
    if any(n.state.active for n in manager.list()):
        wait_for(qtbot, manager.stop_all(), 60)
    wait_for(qtbot, manager.close(), 30)


@contextlib.contextmanager
def shown_window(services: Services, view_factory: Any = None) -> Iterator[Any]:
    """The main window over `services`, started without the periodic refresh; torn down fully after.
    `view_factory` makes the tabs' views (default: the real QtWebEngine view)."""
    from PySide6.QtCore import QEvent

    from desktop.ui.main_window import MainWindow

    main = MainWindow(services, view_factory)
    main.show()
    main.start(refresh_ms=0)
    try:
        yield main
    finally:
        main.shutdown()  # before closing: a plain close would ask what to do with running notebooks
        main.close()
        main.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # web pages go while Qt is alive


REFUSING_HOST = "down=127.0.0.1:1"  # a real remote host entry whose SSH port refuses connections


@contextlib.contextmanager
def window_beside_a_refusing_host(services: Services, *remembered: Any) -> Iterator[Any]:
    """shown_window with the host 'down' added (and `remembered` NotebookSpecs kept as if made earlier)."""
    from desktop.engines.ssh_hosts import parse_host
    from desktop.store import SpecStore

    services.add_host(parse_host(REFUSING_HOST))
    for spec in remembered:
        SpecStore(services.paths).put(spec)
    with shown_window(services) as main:
        yield main


@contextlib.contextmanager
def window_sampling_gpus(qtbot: QtBot) -> Iterator[Any]:
    """A window over services from the test's Labdock home, sampling the (fake) GPUs every 0.2 s; its
    notebooks are stopped and everything closed after."""
    from desktop.services import build_services
    from desktop.store import Paths

    services = build_services(Paths.default())
    services.settings.gpu_sample_interval = 0.2
    with shown_window(services) as main:
        yield main
    if any(n.state.active for n in services.manager.list()):
        wait_for(qtbot, services.manager.stop_all(), 60)
    wait_for(qtbot, services.manager.close(), 30)
    services.nvml.close()
