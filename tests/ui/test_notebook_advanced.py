"""The dialog's Advanced section: every field round trips to the spec, secrets by name only when editing,
the Local engine's limits, and bad input shown as one line with Create disabled."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.models import Mount, NotebookSpec
from desktop.settings import Settings
from desktop.store import Paths
from desktop.ui.new_notebook_dialog import NewNotebookDialog
from desktop.ui.setting_tables import UNCHANGED

SECRET = "hf_s3cr3t-value-42"


@pytest.fixture
def dialog(qtbot: QtBot, tmp_path: Path) -> NewNotebookDialog:
    settings = Settings(default_idle_stop_minutes=45)
    widget = NewNotebookDialog(settings, Paths(tmp_path / "config", tmp_path / "data"))
    qtbot.addWidget(widget)
    widget.show()
    return widget


def widget_texts(root: NewNotebookDialog) -> list[str]:
    """Every text a widget of the dialog holds (line edits, labels, table cells, buttons)."""
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QLineEdit, QTableWidget

    texts: list[str] = []
    for line in root.findChildren(QLineEdit):
        texts += [line.text(), line.placeholderText()]
    for label in root.findChildren(QLabel):
        texts.append(label.text())
    for button in root.findChildren(QAbstractButton):
        texts.append(button.text())
    for combo in root.findChildren(QComboBox):
        texts += [combo.itemText(i) for i in range(combo.count())]
    for table in root.findChildren(QTableWidget):
        for row in range(table.rowCount()):
            for col in range(table.columnCount()):
                item = table.item(row, col)
                texts.append(item.text() if item is not None else "")
    return texts


def test_fields_round_trip_to_the_spec(qtbot: QtBot, dialog: NewNotebookDialog, tmp_path: Path) -> None:
    data = tmp_path / "datasets"
    data.mkdir()
    qtbot.keyClicks(dialog.name_edit, "vision")
    advanced = dialog.advanced
    assert advanced.idle.value() == 45  # the Preferences default
    advanced.toggle.setChecked(True)
    advanced.env.add("WANDB_PROJECT", "vision")
    advanced.env.add("HF_TOKEN", SECRET, secret=True)
    advanced.shm_edit.setText("2g")
    advanced.mounts.add(str(data), "/data/sets")
    advanced.stable.setChecked(True)
    advanced.idle.setValue(30)
    advanced.survive.setChecked(True)
    advanced.args_edit.setText("--ServerApp.max_body_size=1000 --LabApp.collaborative=True")
    assert dialog.create_button.isEnabled(), dialog.advanced_problem.text()
    spec = dialog.spec()
    assert spec.env == (("WANDB_PROJECT", "vision"),)
    assert spec.secret_names == ("HF_TOKEN",)
    assert SECRET not in repr(spec)
    assert dialog.secrets() == {"HF_TOKEN": SECRET}
    assert spec.shm_bytes == 2 << 30
    assert spec.mounts == (Mount(data, "/data/sets", read_only=True),)
    assert (spec.stable_address, spec.idle_stop_minutes, spec.survive_reboot) == (True, 30, True)
    assert spec.extra_args == ("--ServerApp.max_body_size=1000", "--LabApp.collaborative=True")
    dialog.forget_secrets()
    assert not any(SECRET in text for text in widget_texts(dialog))


def test_blank_shared_memory_is_the_default_for_the_choice(qtbot: QtBot, dialog: NewNotebookDialog) -> None:
    qtbot.keyClicks(dialog.name_edit, "cpu")
    assert dialog.spec().shm_bytes is None  # CPU: Docker's default
    assert "Docker's default" in dialog.advanced.shm_edit.placeholderText()


def test_edit_shows_secret_names_not_values(qtbot: QtBot, dialog: NewNotebookDialog, tmp_path: Path) -> None:
    spec = NotebookSpec(
        "vision",
        "quay.io/jupyter/base-notebook:latest",
        env=(("A", "1"),),
        secret_names=("HF_TOKEN",),
        shm_bytes=1 << 30,
        mounts=(Mount(tmp_path, "/data", read_only=False),),
        idle_stop_minutes=20,
        extra_args=("--ServerApp.max_body_size=1000",),
    )
    dialog.edit(spec)
    env = dialog.advanced.env
    assert env.rows() == [("A", "1", False), ("HF_TOKEN", "", True)]
    assert env.value_field(1).placeholderText() == UNCHANGED
    assert dialog.create_button.isEnabled(), dialog.advanced_problem.text()
    assert dialog.secrets() == {}  # nothing typed: the stored value is kept
    again = dialog.spec()
    for field in ("env", "secret_names", "shm_bytes", "mounts", "idle_stop_minutes", "extra_args"):
        assert getattr(again, field) == getattr(spec, field), field
    env.value_field(1).setText("new-value")
    assert dialog.secrets() == {"HF_TOKEN": "new-value"}


@pytest.mark.parametrize(
    ("fill", "reason"),
    [
        (lambda d: d.advanced.env.add("1BAD", "x"), "invalid variable name"),
        (lambda d: d.advanced.env.add("TOKEN", "", secret=True), "needs a value"),
        (lambda d: d.advanced.shm_edit.setText("0"), "at least 1m"),
        (lambda d: d.advanced.mounts.add("/no/such/folder", "/data"), "does not exist"),
        (lambda d: d.advanced.args_edit.setText("--ip=0.0.0.0"), "Labdock's to set"),
    ],
)
def test_bad_input_is_one_line_and_create_stays_off(
    qtbot: QtBot, dialog: NewNotebookDialog, fill: object, reason: str
) -> None:
    qtbot.keyClicks(dialog.name_edit, "bad")
    assert dialog.create_button.isEnabled()
    fill(dialog)  # type: ignore[operator]
    assert reason in dialog.advanced_problem.text()
    assert "\n" not in dialog.advanced_problem.text()
    assert not dialog.create_button.isEnabled()


def test_local_engine_disables_container_only_fields(qtbot: QtBot, dialog: NewNotebookDialog) -> None:
    qtbot.keyClicks(dialog.name_edit, "local-one")
    dialog.advanced.shm_edit.setText("1g")
    dialog.set_engine("local")
    advanced = dialog.advanced
    assert not any(w.isEnabled() for w in (advanced.shm_edit, advanced.mounts, advanced.add_mount, advanced.survive))
    assert advanced.env.isEnabled() and advanced.idle.isEnabled()
    spec = dialog.spec()
    assert (spec.shm_bytes, spec.mounts, spec.survive_reboot) == (None, (), False)
    assert dialog.create_button.isEnabled()
