"""Labdock: JupyterLab notebooks in containers on a GPU workstation, from one window."""

__version__ = "0.1.0"
