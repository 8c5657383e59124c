"""Quitting: stop the running notebooks or leave them running (settings.quit_action: ask/stop/leave).

Left running, they are adopted again by the next start of Labdock.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.settings import QUIT_ASK, QUIT_LEAVE, QUIT_STOP


def ask_quit_action(parent: QWidget | None, running: list[str]) -> str | None:
    """QUIT_STOP, QUIT_LEAVE, or None when the user cancels."""
    box = QMessageBox(parent)
    box.setWindowTitle("Quit Labdock")
    listed = ", ".join(f"'{n}'" for n in running[:5]) + (" and more" if len(running) > 5 else "")
    box.setText(f"{len(running)} notebook(s) still running: {listed}.")
    box.setInformativeText("Stop them, or leave them running? Labdock finds them again when it starts.")
    stop = box.addButton("Stop them", QMessageBox.ButtonRole.DestructiveRole)
    leave = box.addButton("Leave running", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(leave)
    box.exec()
    clicked = box.clickedButton()
    if clicked is stop:
        return QUIT_STOP
    if clicked is leave:
        return QUIT_LEAVE
    return None


def decide(quit_action: str, running: list[str], parent: QWidget | None) -> str | None:
    if not running:
        return QUIT_LEAVE
    if quit_action in (QUIT_STOP, QUIT_LEAVE):
        return quit_action
    if quit_action != QUIT_ASK:
        return QUIT_LEAVE
    return ask_quit_action(parent, running)
