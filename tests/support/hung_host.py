"""A host that hangs: a loopback port that accepts connections and never says a word (an SSH server that
stalls before its banner), for the tests of what must not wait for such a host."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def hung_port() -> Iterator[tuple[int, list[socket.socket]]]:
    """(its port, the connections it accepted so far); everything is closed after the block."""
    accepted: list[socket.socket] = []
    server = socket.create_server(("127.0.0.1", 0))

    def accept_all() -> None:
        with contextlib.suppress(OSError):  # shut down: the block is over
            while True:
                accepted.append(server.accept()[0])

    accepting = threading.Thread(target=accept_all, daemon=True)
    accepting.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        server.shutdown(socket.SHUT_RDWR)  # wakes the accept
        accepting.join(timeout=10)
        server.close()
        for connection in accepted:
            connection.close()
