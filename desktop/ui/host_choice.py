"""Where a new notebook runs: "this machine" or one of the remote Docker hosts (reached over SSH).

A host that did not answer at the last look is still offered (it may be back by the time the notebook is
created), marked "(unreachable)" with its problem as the item's tooltip.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget

from desktop.engines.ssh_hosts import THIS_MACHINE

HERE = ""  # the item data of "this machine" (a QVariant cannot hold None)
HERE_TIP = "Run the notebook on this computer"


@dataclass(frozen=True)
class HostItem:
    name: str
    target: str  # user@host:port as far as known
    problem: str | None = None  # why it did not answer at the last look


class HostChoice(QComboBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.addItem(THIS_MACHINE, HERE)
        self.setItemData(0, HERE_TIP, Qt.ItemDataRole.ToolTipRole)

    def set_hosts(self, hosts: list[HostItem]) -> None:
        """Offer these hosts after "this machine"; the choice stays where it can."""
        chosen = self.host()
        self.blockSignals(True)
        while self.count() > 1:
            self.removeItem(1)
        for host in hosts:
            label = f"{host.name} (unreachable)" if host.problem else host.name
            self.addItem(label, host.name)
            tip = host.problem or f"Docker on {host.target}, over SSH"
            self.setItemData(self.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.blockSignals(False)
        self.set_host(chosen)

    def host(self) -> str | None:
        """The remote host chosen; None for this machine."""
        return str(self.currentData() or "") or None

    def set_host(self, host: str | None) -> None:
        self.setCurrentIndex(max(0, self.findData(host or HERE)))

    def hosts(self) -> list[str]:
        return [str(self.itemData(i)) for i in range(1, self.count())]
