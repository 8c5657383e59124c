"""The window's end of desktop.ui.window_socket: a QLocalServer on the data folder's socket.

Only this user may connect (UserAccessOption). A message asks to show the window or to open a
notebook's tab; `listen` refuses when another window already answers there, so one Labdock window
serves one data folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from desktop.ui import window_socket


class InstanceServer(QObject):
    def __init__(
        self, show: Callable[[], None], open_notebook: Callable[[str], None], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._show = show
        self._open = open_notebook
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)
        self.path: Path | None = None

    def listen(self, data_dir: Path) -> bool:
        """Listen on the data folder's socket; False when a window already does (or no path fits)."""
        path = window_socket.socket_path(data_dir)
        if path is None or window_socket.listening(data_dir):
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        QLocalServer.removeServer(str(path))  # a stale file from a window that crashed
        if not self.server.listen(str(path)):
            return False
        self.path = path
        return True

    def close(self) -> None:
        if self.server.isListening():
            self.server.close()

    def _accept(self) -> None:
        while (connection := self.server.nextPendingConnection()) is not None:
            connection.readyRead.connect(lambda c=connection: self._read(c))
            connection.disconnected.connect(connection.deleteLater)

    def _read(self, connection: QLocalSocket) -> None:
        if not connection.canReadLine():
            return
        line = bytes(connection.readLine().data()).decode(errors="replace")
        kind, name = window_socket.parse(line)
        connection.write(b"ok\n")
        connection.flush()
        connection.disconnectFromServer()
        if kind == "show":
            self._show()
        elif kind == "open" and name is not None:
            self._open(name)
