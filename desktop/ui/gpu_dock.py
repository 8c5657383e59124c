"""The window's GPU side: the GPU panel in a dock widget, fed by a GpuFeed, and the table's GPU memory
column and open New-notebook dialogs kept up to date from the same rounds.

A kernel line's Interrupt and Shut down, and "Shut down idle kernels on this GPU", are confirmed here
(naming the notebook file) and carried out through manager.kernels; the next round shows the result.

Remote Docker hosts' GPUs (read over SSH by a RemoteGpuFeed, see watch_remotes) show as sections under
this machine's, which is then titled "this machine"; without remote hosts the dock is as before.

Without a GPU here or on a remote host the dock stays hidden (the status bar says why). With GPUs it can
be closed and brought back (toolbar, status bar), and where it shows is remembered apart for the Notebooks
page and for the notebook tabs: by default it shows beside the table and leaves JupyterLab the whole width.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QWidget
from shiboken6 import isValid

from desktop import reservations
from desktop.core.errors import LabdockError
from desktop.gpu import GpuSample, GpuUsage, Inventory, Nvml
from desktop.gpu_table import gpu_groups
from desktop.kernel_actions import KernelAction, idle_kernels
from desktop.kernels import GpuLine, idle_text
from desktop.manager import NotebookManager
from desktop.ui.gpu_feed import GpuFeed
from desktop.ui.gpu_panel import GpuPanel
from desktop.ui.gpu_picker import GpuPicker
from desktop.ui.new_notebook_dialog import NewNotebookDialog
from desktop.ui.notebook_model import NotebookTableModel
from desktop.ui.remote_gpu_feed import HostGpus, RemoteGpuFeed
from desktop.ui.remote_gpu_panel import RemoteGpuSections

PAGE_HOME, PAGE_TAB = "home", "tabs"
Report = Callable[[str], None]


def ask(parent: QWidget, title: str, text: str) -> bool:
    answer = QMessageBox.question(parent, title, text)
    return answer == QMessageBox.StandardButton.Yes


class GpuDock(QDockWidget):
    gpus_changed = Signal(object, object)  # (Inventory, tuple[GpuSample, ...]): for the status bar

    def __init__(self, nvml: Nvml, manager: NotebookManager, model: NotebookTableModel, window: QMainWindow) -> None:
        super().__init__("GPUs", window)
        self.setObjectName("gpu-dock")
        self.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.nvml = nvml
        self.manager = manager
        self.model = model
        self.panel = GpuPanel(history_points=120)
        self.panel.setMinimumWidth(320)
        self.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self)
        self.toggleViewAction().setText("GPU panel")
        self.toggleViewAction().setToolTip("Show or hide the GPU panel (remembered apart for notebook tabs)")
        self.toggleViewAction().triggered.connect(self._chosen)
        self.available: bool | None = None  # None until the inventory is read
        self.local_gpus: bool | None = None  # whether this machine has GPUs; None until the inventory is read
        self.wanted = {PAGE_HOME: True, PAGE_TAB: False}  # where the user wants it, per kind of page
        self.page = PAGE_HOME
        self.feed = GpuFeed(nvml, manager)
        self.feed.subscribe(self._on_round)
        self.inventory: Inventory | None = None
        self._starting: asyncio.Task[None] | None = None
        self.interval = 1.0
        self.confirm: Callable[[str, str], bool] = lambda title, text: ask(self, title, text)
        self.report: Report = lambda _text: None  # the window shows what a line action did or why it failed
        self._actions: set[asyncio.Task[None]] = set()
        self.panel.kernel_action.connect(self._kernel_action)
        self.panel.free_idle.connect(self._free_idle)
        self.remote: RemoteGpuFeed | None = None
        self.remote_sections = RemoteGpuSections(self.panel.history_points)
        self.panel.add_below(self.remote_sections)
        self._remote_memory: dict[str, int] = {}  # notebook on a remote host -> GPU memory there

    def watch_remotes(self, feed: RemoteGpuFeed) -> None:
        """Show the remote hosts' GPUs from `feed` (started and stopped with the dock)."""
        self.remote = feed
        feed.subscribe(self._on_remote)

    def start(self, interval: float) -> None:
        """Read the inventory off the Qt thread, then sample every `interval` seconds."""
        self.interval = interval
        self._starting = asyncio.ensure_future(self._start())
        if self.remote is not None:
            self.remote.start()

    def restart(self, interval: float) -> None:
        """A new sampling rate (from the preferences), applied at once."""
        self.interval = interval
        if self._starting is None or self._starting.done():
            self.feed.start(self.interval)

    def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        self.feed.stop()
        if self.remote is not None:
            self.remote.stop()

    async def load_inventory(self) -> Inventory:
        if self.inventory is None:
            self.inventory = await asyncio.to_thread(self.nvml.inventory)
        return self.inventory

    async def _start(self) -> None:
        inventory = await self.load_inventory()  # GPU names first, so the cards are titled right
        if isValid(self.panel):
            self.panel.set_inventory(inventory)
            self.local_gpus = bool(inventory.gpus)
            self._update_available()
            self.gpus_changed.emit(inventory, ())
            self.feed.start(self.interval)

    def set_page(self, page: str) -> None:
        """The window shows PAGE_HOME or a notebook tab (PAGE_TAB) now."""
        self.page = page
        self._show_as_wanted()

    def toggle(self) -> None:
        if self.available:
            self.wanted[self.page] = not self.isVisible()
            self._show_as_wanted()

    def _chosen(self, shown: bool) -> None:
        self.wanted[self.page] = shown

    def closeEvent(self, event: QCloseEvent) -> None:
        self.wanted[self.page] = False  # its own close button
        super().closeEvent(event)

    def _update_available(self) -> None:
        if self.local_gpus is None:
            return
        available = self.local_gpus or bool(self.remote_sections.sections)
        if available != self.available:
            self.available = available
            self.toggleViewAction().setEnabled(available)
            self._show_as_wanted()

    def _show_as_wanted(self) -> None:
        if self.available is None:
            return  # not known yet: as the saved layout left it
        self.setVisible(self.available and self.wanted[self.page])

    def _on_round(self, samples: tuple[GpuSample, ...], usage: GpuUsage) -> None:
        if not isValid(self.panel):
            return
        ordered = gpu_groups(self.inventory or Inventory(), samples, self.feed.lines)
        self.panel.update_samples(samples, usage, [line for group in ordered for line in group.lines])
        self.model.set_gpu_memory({**usage.per_notebook, **self._remote_memory})
        if self.inventory is not None:
            self.gpus_changed.emit(self.inventory, samples)

    def _on_remote(self, hosts: tuple[HostGpus, ...]) -> None:
        if not isValid(self.panel):
            return
        self.remote_sections.show_hosts(hosts)
        self.panel.set_titled(bool(hosts))
        self._remote_memory = {name: memory for host in hosts for name, memory in host.per_notebook.items()}
        self.model.set_gpu_memory({**self.feed.usage.per_notebook, **self._remote_memory})
        self._update_available()

    async def attach_picker(self, dialog: NewNotebookDialog) -> None:
        """Give a New-notebook dialog its GPU picker, warned about GPUs in use while it is open."""
        inventory = await self.load_inventory()
        if not isValid(dialog):
            return
        dialog.set_gpu_picker(GpuPicker(inventory))

        def show(samples: tuple[GpuSample, ...], usage: GpuUsage) -> None:
            if isValid(dialog):
                dialog.set_gpu_usage(usage)
                dialog.set_gpu_availability(reservations.availability(inventory, samples, self.manager.list()))

        show(self.feed.samples, self.feed.usage)
        unsubscribe: Callable[[], None] = self.feed.subscribe(show)
        dialog.finished.connect(lambda _result: unsubscribe())

    # -- line actions ------------------------------------------------------------------------------

    def _kernel_action(self, line: GpuLine, action: KernelAction) -> None:
        if line.notebook is None or line.kernel_id is None:
            return
        what = "Interrupt" if action is KernelAction.INTERRUPT else "Shut down"
        effect = (
            "What it is running stops; its variables and GPU memory stay."
            if action is KernelAction.INTERRUPT
            else "Its GPU memory is freed and its variables are lost; the notebook file stays."
        )
        if not self.confirm(f"{what} kernel", f"{what} the kernel of {line.label}? {effect}"):
            return
        self._spawn(self._act(line.notebook, line.kernel_id, action, line.label))

    async def _act(self, notebook: str, kernel_id: str, action: KernelAction, label: str) -> None:
        try:
            await self.manager.kernels.act(notebook, kernel_id, action)
        except LabdockError as exc:
            self.report(f"Could not {action.value} the kernel of {label}: {exc}")
            return
        self.report(f"{'Interrupted' if action is KernelAction.INTERRUPT else 'Shut down'} the kernel of {label}")

    def _free_idle(self, gpu_uuid: str, idle_s: float) -> None:
        idle = idle_kernels(self.feed.lines, idle_s, None, gpu_uuid)
        if not idle:
            self.report(f"No kernel on this GPU has been {idle_text(idle_s)} or more")
            return
        names = ", ".join(line.label for line in idle)
        if not self.confirm("Shut down idle kernels", f"Shut down {len(idle)} idle kernel(s): {names}?"):
            return
        self._spawn(self._free(tuple(self.feed.lines), idle_s, gpu_uuid))

    async def _free(self, lines: tuple[GpuLine, ...], idle_s: float, gpu_uuid: str) -> None:
        freed = await self.manager.kernels.shut_down_idle(lines, idle_s, gpu_uuid)
        done = f"Shut down {len(freed.shut_down)} idle kernel(s)"
        failed = f"; {len(freed.failed)} could not be: {freed.failed[0][1]}" if freed.failed else ""
        self.report(done + failed)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._actions.add(task)
        task.add_done_callback(self._actions.discard)
