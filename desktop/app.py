"""The desktop app: QApplication with the qasync loop, the manager wired to the main window."""

from __future__ import annotations

import asyncio
import sys


def main() -> int:
    import qasync
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Labdock")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = QLabel("Labdock")
    window.setWindowTitle("Labdock")
    window.show()
    with loop:
        loop.run_until_complete(asyncio.Event().wait())
    return 0
