"""The text of the notebooks table's cells: states, sizes, CPU and uptimes, as a person reads them."""

from __future__ import annotations

from desktop.core.models import Notebook, NotebookState
from desktop.ui.resource_usage import Usage


def state_text(notebook: Notebook) -> str:
    state = notebook.state
    progress = notebook.pull_progress
    if state is NotebookState.PULLING and progress and progress.bytes_total:
        percent = 100 * progress.bytes_done // progress.bytes_total
        return f"Pulling {percent}% ({progress.layers_done}/{progress.layers_total} layers)"
    label = state.value.capitalize()
    if state is NotebookState.FAILED and notebook.error:
        return f"{label}: {notebook.error.splitlines()[0]}"  # the reason in plain sight, in full in the tooltip
    return f"{label}…" if state.busy else label


def format_gpu_memory(used: int | None) -> str:
    return "" if used is None else format_bytes(used)


def format_bytes(value: int) -> str:
    if value >= 1 << 30:
        return f"{value / (1 << 30):.1f} GiB"
    return f"{value / (1 << 20):.0f} MiB"


def format_cpu(usage: Usage | None) -> str:
    if usage is None or usage.cpu_percent is None:
        return ""
    percent = usage.cpu_percent
    return f"{percent:.1f}%" if percent < 10 else f"{percent:.0f}%"


def format_memory(usage: Usage | None) -> str:
    """'1.2 GiB / 2.0 GiB' (used / limit), or only what is used when there is no limit."""
    if usage is None or usage.memory is None:
        return ""
    used = format_bytes(usage.memory)
    return f"{used} / {format_bytes(usage.limit)}" if usage.limit else used


def format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
