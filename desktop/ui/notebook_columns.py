"""The notebooks table's columns, in order, with their headers, and the model's custom roles.

Host comes right after State: which machine a notebook runs on matters as much as whether it runs
('this machine' or the remote host's name); Engine then says docker or local.
"""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import Qt


class Column(IntEnum):
    NAME = 0
    STATE = 1
    HOST = 2
    ENGINE = 3
    IMAGE = 4
    GPU = 5
    GPU_MEMORY = 6
    CPU = 7
    MEMORY = 8
    URL = 9
    UPTIME = 10


class Role(IntEnum):
    NOTEBOOK = Qt.ItemDataRole.UserRole + 1  # the Notebook record itself
    SORT = Qt.ItemDataRole.UserRole + 2  # a value that sorts naturally (seconds, not "3m 12s")


HEADERS = {
    Column.NAME: "Name",
    Column.STATE: "State",
    Column.HOST: "Host",
    Column.ENGINE: "Engine",
    Column.IMAGE: "Image",
    Column.GPU: "GPU",
    Column.GPU_MEMORY: "GPU memory",
    Column.CPU: "CPU",
    Column.MEMORY: "Memory",
    Column.URL: "URL",
    Column.UPTIME: "Uptime",
}
LOCAL_IMAGE = "(local Python)"
NUMBERS = {Column.GPU_MEMORY, Column.CPU, Column.MEMORY}
