"""The GPU dock's remote hosts: one section per host under this machine's cards, fed HostGpus records
(desktop.ui.remote_gpu_feed) and never reading anything itself.

A section is the host's name as heading ("gpubox", or "gpubox: <why>" greyed while its GPUs cannot be
read), then a card per GPU as this machine's (title with temperature and power, utilisation and memory
bars, graph) whose users line lists the host's notebooks by memory ("vision: 2.1 GiB"), then "other".
Widgets are kept across readings and only moved when their place changes, so a reading whose figures did
not change lays nothing out again.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop.gpu import GpuUser
from desktop.ui import theme
from desktop.ui.gpu_panel import GpuCard, gib, section_title
from desktop.ui.remote_gpu_feed import HostGpus

SECTION_GAP = 8  # pixels above a host's heading


def notebook_lines(users: Sequence[GpuUser]) -> str:
    """'vision: 2.1 GiB' per notebook, then 'other: …'; 'not in use' without any."""
    return "\n".join(f"{user.name}: {gib(user.memory)}" for user in users) or "not in use"


def heading(host: HostGpus) -> str:
    return f"{host.name}: {host.problem}" if host.problem else host.name


def drop(layout: QVBoxLayout, widget: QWidget) -> None:
    """Out of the layout now (so the places after it are right at once), deleted soon."""
    widget.hide()
    layout.removeWidget(widget)
    widget.deleteLater()


def place(layout: QVBoxLayout, widget: QWidget, position: int) -> None:
    """Put `widget` at `position`, moving it only if it is elsewhere (a move lays the whole dock out)."""
    if layout.indexOf(widget) != position:
        layout.insertWidget(position, widget)


class HostSection(QWidget):
    def __init__(self, name: str, history_points: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.history_points = history_points
        self.title = section_title(name)
        self.message = QLabel("reading its GPUs…")
        self.message.setWordWrap(True)
        self.cards: dict[str, GpuCard] = {}
        self._cards_box = QWidget()
        self._cards = QVBoxLayout(self._cards_box)
        self._cards.setContentsMargins(0, 0, 0, 0)
        self._greyed = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, SECTION_GAP, 0, 0)  # apart from what is above it: another host's
        for widget in (self.title, self.message, self._cards_box):
            layout.addWidget(widget)

    def show_host(self, host: HostGpus) -> None:
        self.title.setText(heading(host))
        self._grey(host.problem is not None)
        report = host.report
        readable = host.problem is None and report is not None
        if report is None:
            self.message.setText("reading its GPUs…")
        elif not report.samples:
            self.message.setText(f"no GPU: {report.inventory.reason or 'no NVIDIA GPU found'}")
        self.message.setVisible(host.problem is None and (report is None or not report.samples))
        self._cards_box.setVisible(readable)
        if report is None or not readable:
            return  # the last cards stay, hidden, for when the host answers again
        names = {gpu.uuid: gpu.name for gpu in report.inventory.gpus}
        samples = sorted(report.samples, key=lambda sample: sample.index)
        for uuid in set(self.cards) - {sample.uuid for sample in samples}:
            drop(self._cards, self.cards.pop(uuid))
        for position, sample in enumerate(samples):
            card = self.cards.get(sample.uuid)
            if card is None:
                card = self.cards[sample.uuid] = GpuCard(
                    sample.index, names.get(sample.uuid, "GPU"), self.history_points, sample.uuid
                )
                card.lines.hide()  # no kernel lines (and so no kernel actions) for a remote host
            place(self._cards, card, position)
            card.show_figures(sample)
            users = host.users.get(sample.uuid, ())
            card.users.setText(notebook_lines(users))
            card.users.setToolTip("\n".join(f"{user.name}: pids {', '.join(map(str, user.pids))}" for user in users))

    def _grey(self, greyed: bool) -> None:
        if greyed == self._greyed:
            return  # a palette change re-polishes the label: only when it changes
        self._greyed = greyed
        if greyed:
            theme.colour_text(self.title, theme.muted_colour())
        else:
            self.title.setPalette(QPalette())


class RemoteGpuSections(QWidget):
    """Every remote host's section, in the feed's order; hidden while there is none."""

    def __init__(self, history_points: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history_points = history_points
        self.sections: dict[str, HostSection] = {}
        self._box = QVBoxLayout(self)
        self._box.setContentsMargins(0, 0, 0, 0)
        self.hide()

    def show_hosts(self, hosts: Sequence[HostGpus]) -> None:
        for name in set(self.sections) - {host.name for host in hosts}:
            drop(self._box, self.sections.pop(name))
        for position, host in enumerate(hosts):
            section = self.sections.get(host.name)
            if section is None:
                section = self.sections[host.name] = HostSection(host.name, self.history_points)
            place(self._box, section, position)
            section.show_host(host)
        self.setVisible(bool(hosts))
