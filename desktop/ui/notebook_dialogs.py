"""The New notebook dialog, opened to create one or to edit a failed one (Edit… starts it anew with the
changed settings, under its name and with its work folder)."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from desktop.services import Services
from desktop.ui.commands import NotebookCommands
from desktop.ui.gpu_dock import GpuDock
from desktop.ui.new_notebook_dialog import NewNotebookDialog
from desktop.ui.tab_opener import TabOpener


class NotebookDialogs:
    def __init__(
        self, parent: QWidget, services: Services, commands: NotebookCommands, gpu: GpuDock, opener: TabOpener
    ) -> None:
        self.parent = parent
        self.services = services
        self.commands = commands
        self.gpu = gpu
        self.opener = opener

    def new(self, engine: str | None = None) -> NewNotebookDialog:
        dialog = self._dialog(engine)
        dialog.accepted.connect(lambda: self._create(dialog))
        dialog.open()
        return dialog

    def edit(self, name: str) -> NewNotebookDialog:
        dialog = self._dialog()
        dialog.edit(self.services.manager.get(name).spec)
        dialog.accepted.connect(lambda: self.commands.replace(name, dialog.spec()))
        dialog.open()
        return dialog

    def _dialog(self, engine: str | None = None) -> NewNotebookDialog:
        manager = self.services.manager
        dialog = NewNotebookDialog(
            self.services.settings,
            self.services.paths,
            lambda name: name in {n.name for n in manager.list()},
            self.parent,
            engine=engine,
        )
        dialog.finished.connect(dialog.deleteLater)
        self.commands.runner.run("gpu-picker", self.gpu.attach_picker(dialog), "Could not list the GPUs")
        return dialog

    def _create(self, dialog: NewNotebookDialog) -> None:
        spec = dialog.spec()
        if self.services.settings.open_when_ready:
            self.opener.when_ready(spec.name)
        self.commands.create(spec)
        self.commands.tabs.show_home()
