"""SIGTERM/SIGINT while Qt's event loop runs: Python runs a signal handler only between bytecodes, and
Qt may sit in C for a long time, so signal.set_wakeup_fd writes the signal number to a socket that a
QSocketNotifier watches; the notifier wakes Qt, and the slot calls `on_signal` on the Qt thread."""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Callable

from PySide6.QtCore import QObject, QSocketNotifier

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalWatcher(QObject):
    def __init__(self, on_signal: Callable[[int], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._on_signal = on_signal
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._previous = {sig: signal.signal(sig, lambda *_: None) for sig in SIGNALS}
        self.notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self.notifier.activated.connect(self._drain)

    def _drain(self) -> None:
        try:
            data = self._read.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        for number in data:
            self._on_signal(number)

    def close(self) -> None:
        """Give the signals back to their previous handlers."""
        self.notifier.setEnabled(False)
        signal.set_wakeup_fd(self._previous_fd)
        for sig, handler in self._previous.items():
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(sig, handler)
        self._read.close()
        self._write.close()
