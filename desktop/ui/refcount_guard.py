"""Guard for PySide6 6.12 on Python < 3.12: keep None, True and False from being freed.

PySide6 6.12 returns None/True/False from Qt calls without taking a reference (on Python 3.12+ those
objects are immortal, so it goes unnoticed there). On 3.11 every `obj.setObjectName(...)`,
`signal.emit(...)` or Python override called by Qt leaves one of them a reference short, and after
some thousand calls the interpreter aborts ("none_dealloc" / "bool_dealloc"). Giving each of them a
huge reference count once makes them as good as immortal, as they are on 3.12.
"""

from __future__ import annotations

import ctypes
import sys

_MARGIN = 1 << 40  # a trillion Qt calls
_SINGLETONS = (None, True, False, Ellipsis, NotImplemented)


def _refcount(obj: object) -> ctypes.c_ssize_t:
    return ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt is the first field of every object


def install() -> bool:
    """Apply once where needed; returns whether it was applied."""
    if sys.version_info >= (3, 12) or getattr(install, "done", False):
        return False
    for obj in _SINGLETONS:
        _refcount(obj).value += _MARGIN
    install.done = True  # type: ignore[attr-defined]
    return True
