"""A failure's reason in plain sight: in the State cell, and in a strip above the log with "Start again"
and "Edit…" (the New notebook dialog filled in, the name fixed, the work folder kept)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.services import Services
from desktop.ui.main_window import MainWindow
from desktop.ui.new_notebook_dialog import NewNotebookDialog
from desktop.ui.notebook_model import Column
from tests.ui.conftest import shown_window, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.gui]
MISSING = "example.org/missing/image:1"


@pytest.fixture
def window(qtbot: QtBot, ui_services: Services) -> Iterator[MainWindow]:
    with shown_window(ui_services) as main:
        yield main


def test_failure_reason_start_again_and_edit(qtbot: QtBot, window: MainWindow, images: object) -> None:
    name = "broken"
    spec = NotebookSpec(name=name, image=MISSING, network_mode=NetworkMode.HOST, cpus=1.5, memory_bytes=512 << 20)
    wait_for(qtbot, window.manager.create(spec), 60)
    failed = window.manager.get(name)
    assert failed.state is NotebookState.FAILED and failed.error
    row = window.model.row_of(name)
    assert row is not None
    assert window.model.index(row, Column.STATE).data() == f"Failed: {failed.error.splitlines()[0]}"

    window.table.select_name(name)
    strip = window.failure
    assert strip.isVisible() and name in strip.reason.text() and "missing" in strip.reason.text()

    seen: list[tuple[NotebookState, bool]] = []
    unsubscribe = window.manager.subscribe(lambda event: seen.append((event.notebook.state, strip.isVisible())))
    strip.start_button.click()
    qtbot.waitUntil(lambda: len(seen) > 1 and seen[-1][0] is NotebookState.FAILED, timeout=60_000)
    unsubscribe()
    assert seen[0][0] is NotebookState.CREATING
    qtbot.waitUntil(strip.isVisible)

    work = window.manager.get(name).spec.work_dir
    strip.edit_button.click()
    dialog = next(d for d in window.findChildren(NewNotebookDialog) if d.isVisible())
    assert dialog.name_edit.isReadOnly() and dialog.name_edit.text() == name
    assert dialog.image_combo.currentText() == MISSING
    assert (dialog.cpus.value(), dialog.memory_edit.text()) == (1.5, "512m")
    assert dialog.create_button.isEnabled() and dialog.create_button.text() == "Start"
    dialog.image_combo.setEditText(images.plain)  # type: ignore[attr-defined]
    dialog.create_button.click()
    qtbot.waitUntil(lambda: window.model.row_of(name) is not None, timeout=10_000)
    qtbot.waitUntil(
        lambda: window.model.row_of(name) is not None and window.manager.get(name).state is NotebookState.READY,
        timeout=120_000,
    )
    edited = window.manager.get(name).spec
    assert (edited.image, edited.work_dir, edited.cpus, edited.network_mode) == (
        images.plain,  # type: ignore[attr-defined]
        work,
        1.5,
        NetworkMode.HOST,
    )
    window.table.select_name(name)
    assert not strip.isVisible()
