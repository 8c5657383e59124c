"""A private X display and the few X operations the package checks need (standard library, libX11 via ctypes,
and the xdotool, xprop and import tools).

The display is race-free: Xvfb picks a free display number itself and reports it on a pipe
(`-displayfd`) once it listens, and the check then waits until a client really gets in. `-noreset` keeps
the server from resetting when its last client (the app under test) disconnects: a client connecting
during such a reset is refused, which made back-to-back runs fail with "could not connect to display".
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

SCREEN = "1280x800x24"


class XError(Exception):
    """An X operation failed; the message says which."""


class _XErrorEvent(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("resourceid", ctypes.c_ulong),
        ("serial", ctypes.c_ulong),
        ("error_code", ctypes.c_ubyte),
        ("request_code", ctypes.c_ubyte),
        ("minor_code", ctypes.c_ubyte),
    )


# libX11's default error handler exits the process (a window that went away gives BadWindow): record instead.
_ERROR_HANDLER_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_XErrorEvent))
_errors: list[int] = []


@_ERROR_HANDLER_TYPE
def _on_x_error(_display: int | None, event: ctypes._Pointer[_XErrorEvent]) -> int:
    _errors.append(event.contents.error_code)
    return 0


def _xlib() -> ctypes.CDLL:
    xlib = ctypes.CDLL("libX11.so.6")
    xlib.XSetErrorHandler.argtypes = (_ERROR_HANDLER_TYPE,)
    xlib.XSetErrorHandler.restype = ctypes.c_void_p
    xlib.XSetErrorHandler(_on_x_error)
    xlib.XSync.argtypes = (ctypes.c_void_p, ctypes.c_int)
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = (ctypes.c_char_p,)
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XInternAtom.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int)
    xlib.XSendEvent.argtypes = (ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p)
    xlib.XFlush.argtypes = xlib.XCloseDisplay.argtypes = (ctypes.c_void_p,)
    return xlib


def accepts_client(display: str) -> bool:
    """Whether an X client can open `display` now."""
    xlib = _xlib()
    dpy = xlib.XOpenDisplay(display.encode())
    if not dpy:
        return False
    xlib.XCloseDisplay(dpy)
    return True


def _term_with_parent() -> None:
    """In the child before exec: SIGTERM when the check dies, however it dies (the server is not left behind)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def xvfb(timeout: float = 20.0) -> Iterator[str]:
    """A private Xvfb server for the duration of the block; yields its DISPLAY (":N")."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", SCREEN, "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_term_with_parent,
    )
    os.close(write_end)
    try:
        deadline = time.monotonic() + timeout
        number = b""
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(read_end, 64) if ready else b""
            if not chunk:
                err = server.stderr.read().decode(errors="replace") if server.poll() is not None else ""
                raise XError(f"Xvfb did not report a display within {timeout:.0f} s {err.strip()}")
            number += chunk
        display = f":{int(number)}"
        while not accepts_client(display):
            if server.poll() is not None or time.monotonic() > deadline:
                raise XError(f"Xvfb {display} does not accept clients")
            time.sleep(0.02)
        yield display
    finally:
        os.close(read_end)
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()


def _run(display: str, *command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DISPLAY": display}
    return subprocess.run(list(command), env=env, capture_output=True, text=True, check=False)


def find_window(display: str, name_regex: str) -> int | None:
    """The id of a mapped window whose name matches, or None."""
    ids = _run(display, "xdotool", "search", "--onlyvisible", "--name", name_regex).stdout.split()
    return int(ids[0]) if ids else None


def xprop(display: str, window: int, prop: str) -> str:
    return _run(display, "xprop", "-id", str(window), prop).stdout.strip()


def app_window(
    display: str, app: subprocess.Popen[bytes], name_regex: str, started: float, timeout: float, wm_class: str
) -> int:
    """The app's window once mapped, checked to carry `wm_class` (what the menu entry's StartupWMClass names)
    and an icon; XError with the one line why not (the app exited, no window in time, either property)."""
    while (window := find_window(display, name_regex)) is None:
        if app.poll() is not None:
            raise XError(f"the app exited with {app.returncode} before showing its window")
        if time.monotonic() - started > timeout:
            raise XError(f"no Labdock window within {timeout:.0f} s")
        time.sleep(0.01)
    found = xprop(display, window, "WM_CLASS")
    if wm_class not in found:
        raise XError(f"unexpected {found}: StartupWMClass of the menu entry (desktop_entry.WM_CLASS) must match")
    if "_NET_WM_ICON(CARDINAL)" not in xprop(display, window, "_NET_WM_ICON"):
        raise XError("the window has no icon: the app's resources/ folder was not found")
    return window


def xdotool(display: str, *args: str) -> None:
    done = _run(display, "xdotool", *args)
    if done.returncode != 0:
        raise XError(f"xdotool {' '.join(args)} failed: {done.stderr.strip()}")


def screenshot(display: str, path: Path) -> None:
    """The whole screen as a PNG (ImageMagick's import; no window manager needed)."""
    done = _run(display, "import", "-window", "root", str(path))
    if done.returncode != 0:
        raise XError(f"import -window root failed: {done.stderr.strip()}")


class _ClientMessage(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    )


class _XEvent(ctypes.Union):
    _fields_ = (("xclient", _ClientMessage), ("pad", ctypes.c_long * 24))


def close_window(display: str, window: int) -> None:
    """Send WM_DELETE_WINDOW, as a window manager's close button does."""
    xlib = _xlib()
    dpy = xlib.XOpenDisplay(display.encode())
    if not dpy:
        raise XError(f"cannot open X display {display}")
    try:
        event = _XEvent()
        event.xclient.type = 33  # ClientMessage
        event.xclient.window = window
        event.xclient.message_type = xlib.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        event.xclient.format = 32
        event.xclient.data[0] = xlib.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        _errors.clear()
        if not xlib.XSendEvent(dpy, window, 0, 0, ctypes.byref(event)):
            raise XError("XSendEvent failed")
        xlib.XSync(dpy, 0)
        if _errors:
            raise XError(f"closing window {window:#x} failed with X error {_errors[0]}")
    finally:
        xlib.XCloseDisplay(dpy)


def session_processes(sid: int) -> list[str]:
    """`pid command` of every process still in session `sid` (a process started as a session leader)."""
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid:
            left.append(f"{stat.parent.name} {text.split('(', 1)[1].rsplit(')', 1)[0]}")
    return left
