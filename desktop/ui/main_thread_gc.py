"""Python's cycle collector runs on the Qt thread only.

The collector runs in whichever thread happens to allocate when its thresholds are crossed: a Docker worker,
the SSH thread. A dialog or model caught in a reference cycle would then be destroyed there, and a Qt object
destroyed outside its thread corrupts Qt's timer lists (a crash later, in QTimerInfoList::activateTimers).
So automatic collection is off, and a timer on the Qt thread collects each generation when its threshold is
crossed, as the collector itself would (the approach of pyqtgraph's GarbageCollector).

A full collection walks every tracked object: with Qt, the docker SDK and the window's own, tens of
milliseconds on the Qt thread, a visible stall. A second after start, what exists then is moved out of the
collector's sight (gc.freeze, after collecting only the young generations): it lives as long as the app,
and later collections walk only what came after. Measured with the window benchmark (10 launches and Stop
all): stall max 67-111 ms with the collector running wherever it liked, 25-46 ms this way; checking every
250 ms keeps idle CPU within target (every 100 ms cost 0.3 % of a core; every 500 ms let the young
generation grow into 10 ms pauses).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 250
FREEZE_AFTER_MS = 1_000


class MainThreadGc(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        gc.disable()
        self._timer.start(INTERVAL_MS)
        QTimer.singleShot(FREEZE_AFTER_MS, self, self.freeze)

    def freeze(self) -> None:
        # The young generations only: a full collection here walks the whole heap while the window opens (the
        # largest stall of opening a table of 100 remote notebooks: 41-128 ms, 20-26 ms without it). What
        # it would have found, cycles left over from start-up, is freed never rather than once.
        gc.collect(1)
        gc.freeze()

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
        gc.unfreeze()
        gc.enable()
