"""What a New-notebook dialog needs of the remote hosts: the list to choose from, and for the host chosen
its default work folder and its GPUs, asked over the host's SSH connection off the Qt thread.

Each host is asked once per dialog, when it is first chosen (not per keystroke: the folder shown for a
name is the host's work root joined with the name, as the manager makes it); a host that could not be
asked is asked again when chosen again. An unreachable host is still offered: its row says why.
"""

from __future__ import annotations

from shiboken6 import isValid

from desktop.core.errors import LabdockError
from desktop.remote_gpus import over_ssh, read_remote_gpus
from desktop.reservations import availability
from desktop.services import Services
from desktop.ui.gpu_picker import GpuPicker
from desktop.ui.host_choice import HostItem
from desktop.ui.new_notebook_dialog import NewNotebookDialog
from desktop.ui.row_reach import one_line
from desktop.ui.tasks import TaskRunner

SAMPLE_NAME = "notebook"  # any name: its folder's parent is the host's work root


def host_items(services: Services) -> list[HostItem]:
    """The hosts in use, with the problem of those that did not answer at the last look."""
    problems = services.manager.hosts.problems
    return [
        HostItem(name, engine.link.host.target, problems.get(name) or engine.link.problem)
        for name, engine in services.remotes.items()
    ]


class DialogHosts:
    def __init__(self, services: Services, runner: TaskRunner) -> None:
        self.services = services
        self.runner = runner

    def attach(self, dialog: NewNotebookDialog) -> None:
        """Offer the hosts in `dialog`, and fetch what it shows of each as it is chosen."""
        dialog.set_hosts(host_items(self.services))
        asked: set[str] = set()

        def chosen(host: str) -> None:
            if not host or host in asked or host not in self.services.remotes:
                return
            asked.add(host)
            key = f"dialog-host:{id(dialog)}:{host}"
            self.runner.run(key, self._folder(dialog, host, asked))
            self.runner.run(key, self._gpus(dialog, host, asked))

        dialog.host_changed.connect(chosen)
        chosen(dialog.host() or "")

    async def _folder(self, dialog: NewNotebookDialog, host: str, asked: set[str]) -> None:
        try:
            sample = await self.services.manager.folders.of(host).default(SAMPLE_NAME)
        except LabdockError as exc:
            asked.discard(host)
            if isValid(dialog):
                dialog.work_field.set_root(host, None, one_line(str(exc)))
            return
        if isValid(dialog):
            dialog.work_field.set_root(host, str(sample.parent))

    async def _gpus(self, dialog: NewNotebookDialog, host: str, asked: set[str]) -> None:
        engine = self.services.remotes.get(host)
        if engine is None:
            return
        report = await read_remote_gpus(over_ssh(engine.link))
        if report.problem and not report.inventory.gpus:
            asked.discard(host)
        if not isValid(dialog):
            return
        picker = GpuPicker(report.inventory)
        on_host = [n for n in self.services.manager.list() if n.engine == host]
        picker.set_availability(availability(report.inventory, report.samples, on_host))
        dialog.set_gpu_picker(picker, host)
