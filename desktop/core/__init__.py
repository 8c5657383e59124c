"""Plain records and rules shared by every layer; no Qt, no Docker."""

from desktop.core.errors import EngineUnavailable, InvalidSpec, LabdockError, NoSuchNotebook, NotebookExists
from desktop.core.models import NetworkMode, Notebook, NotebookSpec, NotebookState

__all__ = [
    "EngineUnavailable",
    "InvalidSpec",
    "LabdockError",
    "NetworkMode",
    "NoSuchNotebook",
    "Notebook",
    "NotebookExists",
    "NotebookSpec",
    "NotebookState",
]
