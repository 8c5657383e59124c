"""The New notebook dialog, opened to create one or to edit a stopped or failed one (Edit… of a failed one
starts it anew with the changed settings, under its name and with its work folder).

Before Create, the manager's launch warnings (GPUs shared with other notebooks, an image whose CUDA is newer
than the driver) show in the dialog; a launch that breaks a reservation shows as the dialog's problem.
The remote hosts are offered as the dialog's Host choice (desktop.ui.dialog_hosts).
"""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import QWidget
from shiboken6 import isValid

from desktop.core.errors import LabdockError
from desktop.core.models import NotebookState
from desktop.services import Services
from desktop.ui.commands import NotebookCommands
from desktop.ui.dialog_hosts import DialogHosts
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
        self.hosts = DialogHosts(services, commands.runner)
        commands.edit_requested = self.edit

    def new(self, engine: str | None = None) -> NewNotebookDialog:
        dialog = self._dialog(engine)
        dialog.accepted.connect(lambda: self._create(dialog))
        dialog.open()
        return dialog

    def edit(self, name: str) -> NewNotebookDialog:
        dialog = self._dialog()
        notebook = self.services.manager.get(name)
        dialog.edit(notebook.spec)
        failed = notebook.state is NotebookState.FAILED
        if not failed:
            dialog.create_button.setText("Save")
        dialog.accepted.connect(lambda: self._save(name, dialog, start=failed))
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
        self.hosts.attach(dialog)
        self.commands.runner.run("gpu-picker", self.gpu.attach_picker(dialog), "Could not list the GPUs")
        dialog.check_launch = lambda: self.commands.runner.run(f"launch-check:{id(dialog)}", self._warnings(dialog))
        return dialog

    async def _warnings(self, dialog: NewNotebookDialog) -> None:
        """Warnings for the dialog's GPU choice as it is now (a short pause lets fast clicking settle)."""
        await asyncio.sleep(0.2)
        if not isValid(dialog) or not dialog.gpus():
            if isValid(dialog):
                dialog.set_launch_warnings((), None)
            return
        try:
            spec = dialog.spec()
        except LabdockError:
            return  # the dialog shows what is wrong with its fields
        try:
            warnings = await self.services.manager.launch_warnings(spec)
        except LabdockError as exc:  # GpuReserved: the launch would be refused
            if isValid(dialog):
                dialog.set_launch_warnings((), str(exc).splitlines()[0])
            return
        if isValid(dialog):
            dialog.set_launch_warnings(warnings, None)

    def _save(self, name: str, dialog: NewNotebookDialog, start: bool) -> None:
        spec, secrets = dialog.spec(), dialog.secrets()
        dialog.forget_secrets()
        self.commands.replace(name, spec, secrets, start=start)

    def _create(self, dialog: NewNotebookDialog) -> None:
        spec, secrets = dialog.spec(), dialog.secrets()
        dialog.forget_secrets()
        if self.services.settings.open_when_ready:
            self.opener.when_ready(spec.name)
        self.commands.create(spec, secrets)
        self.commands.tabs.show_home()
