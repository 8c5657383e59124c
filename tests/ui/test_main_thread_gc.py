"""Reference cycles holding Qt objects are freed on the Qt thread, whatever thread allocates meanwhile."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QObject
from pytestqt.qtbot import QtBot


class Holder(QObject):
    me: object = None


def test_a_cycle_is_collected_on_the_qt_thread_not_where_the_allocations_happen(qtbot: QtBot) -> None:
    assert not gc.isenabled()  # the session's collector (as the app's) took over
    freed_on_main: list[bool] = []
    holder = Holder()
    holder.me = holder  # only the cycle collector can free it
    weakref.finalize(holder, lambda: freed_on_main.append(threading.current_thread() is threading.main_thread()))
    del holder

    def allocate() -> None:  # past the first generation's threshold many times over
        cycles = [[] for _ in range(20 * gc.get_threshold()[0])]
        for cycle in cycles:
            cycle.append(cycle)

    worker = threading.Thread(target=allocate)
    worker.start()
    worker.join()
    assert freed_on_main == []  # nothing was collected in the worker
    qtbot.waitUntil(lambda: bool(freed_on_main), timeout=5_000)
    assert freed_on_main == [True]
