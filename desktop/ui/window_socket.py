"""Talking to a running Labdock window from another process (`labdock open NAME`, a second launch).

Qt-free on purpose: the CLI uses `send` without loading Qt. The window listens on a unix socket in
Labdock's data folder (desktop.ui.instance); a message is one line, "show" or "open NAME", answered by
"ok". No window listening (or a stale socket file) reads as False, and the caller starts one itself.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

SOCKET_NAME = "window.sock"
MAX_PATH = 100  # sun_path holds 108 bytes on Linux; leave room
TIMEOUT = 3.0


def socket_path(data_dir: Path) -> Path | None:
    """Where the window listens; None when the path is too long for a unix socket."""
    path = data_dir / SOCKET_NAME
    return path if len(str(path).encode()) <= MAX_PATH else None


def open_message(name: str) -> str:
    return f"open {name}"


def parse(message: str) -> tuple[str, str | None]:
    """("show", None) or ("open", NAME); anything else is ("", None) and is ignored."""
    text = message.strip()
    if text == "show":
        return "show", None
    if text.startswith("open ") and text[5:].strip():
        return "open", text[5:].strip()
    return "", None


def listening(data_dir: Path) -> bool:
    """Whether a window listens there: a connect succeeds (the kernel accepts for it, so this holds
    even when the asking thread is the one that would answer)."""
    path = socket_path(data_dir)
    if path is None or not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        try:
            client.connect(str(path))
        except OSError:
            return False
    return True


def send(data_dir: Path, message: str, timeout: float = TIMEOUT) -> bool:
    """True when a window took the message."""
    path = socket_path(data_dir)
    if path is None or not path.exists():
        return False
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        client.connect(str(path))
        client.sendall(message.encode() + b"\n")
        return client.recv(16).startswith(b"ok")
    return False
