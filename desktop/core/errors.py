"""Errors a user can meet. Each message is one line a person can act on."""


class LabdockError(Exception):
    """Base of every error shown to the user as its message (never as a traceback)."""


class InvalidSpec(LabdockError):
    """The notebook request is wrong (bad name, bad limits, unusable work folder...)."""


class NotebookExists(LabdockError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a notebook named '{name}' already exists; pick another name or remove it first")


class NoSuchNotebook(LabdockError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no notebook named '{name}' (see 'labdock ls')")


class EngineUnavailable(LabdockError):
    """The container engine does not answer (not installed, not running, no permission)."""


class EngineTimeout(EngineUnavailable):
    """The engine accepted the connection but did not answer in time (a hung daemon)."""


class NotOurs(LabdockError):
    """A server carries the notebook's name but this installation cannot prove it made it: left alone."""


class LeaseHeld(LabdockError):
    """Another live Labdock process is launching, stopping or removing this notebook right now."""


class LaunchFailed(LabdockError):
    """The notebook's server did not come up; the message says why, with the last log lines."""

    def __init__(self, message: str, port_taken: bool = False) -> None:
        super().__init__(message)
        self.port_taken = port_taken
