"""A new notebook's work folder, on the machine the notebook will run on.

On this machine the field holds the default folder for the name typed (until the user edits it) and Browse…
picks another. On a remote host the local file picker cannot show that host's disk, so Browse… is off; left
empty, the folder is the host's default one, shown as the placeholder "on gpubox: /home/ana/.local/…/name"
once the host's work root is known (`set_root`: fetched off the Qt thread by desktop.ui.dialog_hosts). A path
typed for a remote host is that host's (~ is the home folder there), so it is not expanded here.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget

from desktop.store import Paths

REMOTE_TIP = "A folder on {host}: leave it empty for the default folder there, or type a path there (~ is its home)."
NO_PICKER = "The file picker shows this machine's folders only: type a path on {host}"


class WorkFolderField(QWidget):
    def __init__(self, paths: Paths, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._paths = paths
        self.edited = False  # the user typed or picked a folder: keep it when the name changes
        self._name = ""
        self._host: str | None = None  # None: this machine
        self._root: str | None = None  # the host's work root, once known
        self._note: str | None = None  # why it is not known
        self.edit = QLineEdit()
        self.browse = QPushButton("Browse…")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse)
        self.edit.textEdited.connect(self._on_edited)
        self.browse.clicked.connect(self._browse)
        self._show_default()

    def set_name(self, name: str) -> None:
        """The notebook's name changed: so does its default folder."""
        self._name = name.strip()
        if self._host is None and not self.edited:
            self.edit.setText(str(self._paths.default_work_dir(name)) if self._name else "")
        self._show_default()

    def set_host(self, host: str | None) -> None:
        """The machine the notebook will run on (None: this one). A folder filled in for the other machine goes;
        one the user typed stays."""
        if host == self._host:
            return
        self._host, self._root, self._note = host, None, None
        if not self.edited:
            self.edit.clear()
        self.browse.setEnabled(host is None)
        self.browse.setToolTip("" if host is None else NO_PICKER.format(host=host))
        self.edit.setToolTip("" if host is None else REMOTE_TIP.format(host=host))
        self.set_name(self._name)

    def set_root(self, host: str, root: str | None, problem: str | None = None) -> None:
        """The host's work root (where its default folders go), or why it could not be asked."""
        if host == self._host:
            self._root, self._note = root, problem
            self._show_default()

    def host(self) -> str | None:
        return self._host

    def placeholder(self) -> str:
        if self._host is None:
            return str(self._paths.work_root / "<name>")
        if self._root is not None:
            return f"on {self._host}: {PurePosixPath(self._root) / (self._name or '<name>')}"
        if self._note is not None:
            return f"on {self._host}: its default folder ({self._note})"
        return f"on {self._host}: its default folder (asking {self._host}…)"

    def _show_default(self) -> None:
        self.edit.setPlaceholderText(self.placeholder())

    def value(self) -> Path | None:
        """The folder chosen; None for the default one (on a remote host, decided there)."""
        text = self.edit.text().strip()
        if not text:
            return None
        return Path(text) if self._host is not None else Path(text).expanduser()

    def set_value(self, work: Path) -> None:
        self.edit.setText(str(work))
        self.edited = True

    def _on_edited(self, _text: str) -> None:
        self.edited = True

    def _browse(self) -> None:
        start = self.edit.text() or str(self._paths.work_root)
        folder = QFileDialog.getExistingDirectory(self, "Work folder", str(Path(start).parent))
        if folder:
            self.set_value(Path(folder))
