"""Python's cycle collector runs on the Qt thread only.

The collector runs in whichever thread happens to allocate when its thresholds are crossed: a Docker worker,
the SSH thread. A dialog or model caught in a reference cycle would then be destroyed there, and a Qt object
destroyed outside its thread corrupts Qt's timer lists (a crash later, in QTimerInfoList::activateTimers).
So automatic collection is off, and a timer on the Qt thread collects each generation when its threshold is
crossed, as the collector itself would (the approach of pyqtgraph's GarbageCollector).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class MainThreadGc(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        gc.disable()
        self._timer.start(INTERVAL_MS)

    def check(self) -> None:
        first, second, third = gc.get_count()
        if first > self.thresholds[0]:
            gc.collect(0)
            if second > self.thresholds[1]:
                gc.collect(1)
                if third > self.thresholds[2]:
                    gc.collect(2)

    def stop(self) -> None:
        self._timer.stop()
        gc.enable()
