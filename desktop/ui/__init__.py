"""The Qt window, its table model, dialogs, tabs and tray. The only package that imports Qt."""

from desktop.ui import refcount_guard

refcount_guard.install()
