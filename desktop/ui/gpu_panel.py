"""The GPU panel: each GPU's utilisation and memory now, a graph of the last minutes, who uses it, and
its process lines down to the kernel (desktop.ui.gpu_lines).

A passive view: it is fed GpuSample, GpuUsage and GpuLine records through update_samples() and never
calls NVML, docker or a server itself, so it is tested with plain records. Line actions come out as
`kernel_action` and `free_idle`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QScrollArea, QVBoxLayout, QWidget

from desktop.gpu import GpuSample, GpuUsage, GpuUser, Inventory
from desktop.kernels import GpuLine
from desktop.ui import theme
from desktop.ui.gpu_lines import GpuLinesView

GiB = float(1 << 30)


def gib(value: int) -> str:
    return f"{value / GiB:.1f} GiB"


def users_text(users: Sequence[GpuUser]) -> str:
    if not users:
        return "not in use"
    return "used by " + ", ".join(f"{user.name} ({gib(user.memory)})" for user in users)


def section_title(text: str) -> QLabel:
    """A host's heading in the panel ("this machine", a remote host's name)."""
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    label.setWordWrap(True)
    return label


class HistoryGraph(QWidget):
    """Utilisation and memory use in percent, oldest at the left; a gap where a value was unknown."""

    def __init__(self, capacity: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.utilization: deque[float | None] = deque(maxlen=capacity)
        self.memory: deque[float | None] = deque(maxlen=capacity)
        self.setMinimumHeight(48)

    def append(self, utilization: float | None, memory: float | None) -> None:
        self.utilization.append(utilization)
        self.memory.append(memory)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect().adjusted(0, 0, -1, -1)
        painter.fillRect(rect, self.palette().base())
        painter.setPen(QPen(self.palette().mid().color(), 1, Qt.PenStyle.DotLine))
        painter.drawLine(rect.left(), rect.center().y(), rect.right(), rect.center().y())
        step = rect.width() / max(1, (self.utilization.maxlen or 1) - 1)
        palette = self.palette()  # the lines' colours follow the theme
        lines = (
            (self.memory, theme.accent(theme.ORANGE, palette)),
            (self.utilization, theme.accent(theme.BLUE, palette)),
        )
        for values, color in lines:
            painter.setPen(QPen(color, 1.5))
            offset = rect.right() - step * (len(values) - 1)
            for line in _runs(values):
                points = [QPointF(offset + i * step, rect.bottom() - rect.height() * v / 100.0) for i, v in line]
                if len(points) == 1:
                    painter.drawPoint(points[0])
                else:
                    painter.drawPolyline(QPolygonF(points))
        painter.setPen(self.palette().mid().color())
        painter.drawRect(rect)
        painter.end()


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Unbroken stretches of known values, so a lost or unreadable GPU shows as a gap, not a drop to 0."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((i, value))
    return [run for run in runs if run]


class GpuCard(QFrame):
    """One GPU: title line, utilisation and memory bars, history graph, its users."""

    def __init__(
        self, index: int, name: str, history_points: int, uuid: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.name = name
        self.title = QLabel(f"GPU {index}: {name}")
        self.utilization = QProgressBar()
        self.utilization.setRange(0, 100)
        self.memory = QProgressBar()
        self.memory.setRange(0, 1000)
        self.graph = HistoryGraph(history_points)
        self.users = QLabel("not in use")
        self.users.setWordWrap(True)
        self.lines = GpuLinesView(uuid)
        layout = QVBoxLayout(self)
        for widget in (self.title, self.utilization, self.memory, self.graph, self.users, self.lines):
            layout.addWidget(widget)

    def show_sample(self, sample: GpuSample, users: Sequence[GpuUser]) -> None:
        self.show_figures(sample)
        self.users.setText(users_text(users))
        self.users.setToolTip("\n".join(f"{user.name}: pids {', '.join(map(str, user.pids))}" for user in users))

    def show_figures(self, sample: GpuSample) -> None:
        """Title (temperature, power), bars and graph; the users line is the caller's."""
        facts = [f"GPU {sample.index}: {self.name}"]
        if sample.lost:
            facts.append(f"lost: {sample.reason}")
        if sample.temperature is not None:
            facts.append(f"{sample.temperature} °C")
        if sample.power is not None:
            facts.append(f"{sample.power:.0f} W")
        self.title.setText(" · ".join(facts))
        util = sample.utilization
        self.utilization.setValue(util or 0)
        self.utilization.setFormat(f"utilisation {util} %" if util is not None else "utilisation unknown")
        used, total = sample.memory_used, sample.memory_total
        mem_pct = None if used is None or not total else 100.0 * used / total
        self.memory.setValue(round(10 * mem_pct) if mem_pct is not None else 0)
        self.memory.setFormat(f"memory {gib(used)} / {gib(total)}" if used is not None else "memory unknown")
        self.graph.append(None if util is None else float(util), mem_pct)


class GpuPanel(QWidget):
    """All GPUs as cards, or one line saying why there is none. Other hosts' sections may follow this
    machine's cards (add_below); while they show, this machine's part is titled (set_titled)."""

    kernel_action = Signal(object, object)  # (GpuLine, KernelAction) from a card's line
    free_idle = Signal(str, float)  # (GPU UUID, idle seconds)

    def __init__(self, parent: QWidget | None = None, history_points: int = 300) -> None:
        super().__init__(parent)
        self.history_points = history_points
        self.cards: dict[str, GpuCard] = {}
        self._names: dict[str, str] = {}
        self._reason = "no NVIDIA GPU found"
        self.message = QLabel()
        self.message.setWordWrap(True)
        self._cards_box = QWidget()
        self._cards_layout = QVBoxLayout(self._cards_box)
        self.title = section_title("this machine")
        self.title.hide()
        self._cards_layout.addWidget(self.title)
        self._cards_layout.addStretch(1)
        self._below: QWidget | None = None
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self._cards_box)
        self._layout = QVBoxLayout(self)
        self._layout.addWidget(self.message)
        self._layout.addWidget(scroll)
        self._show_message()

    def set_inventory(self, inventory: Inventory) -> None:
        """GPU names come from the inventory; an empty inventory's reason is what the panel says."""
        self._names = {gpu.uuid: gpu.name for gpu in inventory.gpus}
        self._reason = inventory.reason or self._reason
        if not inventory.gpus:
            self.update_samples(())

    def update_samples(
        self, samples: Sequence[GpuSample], users: GpuUsage | None = None, lines: Sequence[GpuLine] = ()
    ) -> None:
        """`lines` in the order to show them (desktop.gpu_table.gpu_groups orders them per GPU)."""
        for sample in samples:
            card = self.cards.get(sample.uuid)
            if card is None:
                card = GpuCard(sample.index, self._names.get(sample.uuid, "GPU"), self.history_points, sample.uuid)
                card.lines.kernel_action.connect(self.kernel_action)
                card.lines.free_idle.connect(self.free_idle)
                self._cards_layout.insertWidget(self._cards_end(), card)
                self.cards[sample.uuid] = card
            card.show_sample(sample, users.per_gpu.get(sample.uuid, ()) if users else ())
            card.lines.show_lines([line for line in lines if line.gpu_uuid == sample.uuid])
        self._show_message(not samples)

    def add_below(self, widget: QWidget) -> None:
        """A part shown under this machine's cards (the remote hosts' sections)."""
        self._below = widget
        self._cards_layout.insertWidget(self._cards_layout.count() - 1, widget)

    def set_titled(self, titled: bool) -> None:
        """Title this machine's part, with its no-GPU line under the title, while other hosts show below;
        untitled, the panel is as without them. Only a change moves anything."""
        if titled == (self._cards_layout.indexOf(self.message) >= 0):
            return
        self.title.setVisible(titled)
        (self._layout if titled else self._cards_layout).removeWidget(self.message)
        if titled:
            self._cards_layout.insertWidget(1, self.message)
        else:
            self._layout.insertWidget(0, self.message)

    def _cards_end(self) -> int:
        below = self._cards_layout.indexOf(self._below) if self._below is not None else -1
        return below if below >= 0 else self._cards_layout.count() - 1

    def _show_message(self, empty: bool = True) -> None:
        self.message.setText(f"no GPU: {self._reason}" if empty else "")
        self.message.setVisible(empty)
