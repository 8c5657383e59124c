"""The desktop menu entry: a freedesktop .desktop file and the hicolor icons, for the current user.

Qt-free on purpose (standard library and platformdirs only), so a terminal command or an install script can
call it. Everything goes under $XDG_DATA_HOME (default ~/.local/share); every file written is named
`labdock.*`, so `uninstall()` removes exactly those and nothing else.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import platformdirs

APP_ID = "labdock"
# Qt on X11 sets WM_CLASS to (argv[0]'s base name, QApplication.applicationName()); the class is "Labdock".
WM_CLASS = "Labdock"
_RESERVED = re.compile(r"[\s\"'\\><~|&;$*?#()`]")


def resources_dir() -> Path:
    """The icons' folder: LABDOCK_RESOURCES, else resources/ two levels above this module (repo or bundle)."""
    override = os.environ.get("LABDOCK_RESOURCES")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "resources"


def data_home() -> Path:
    """$XDG_DATA_HOME when set, else ~/.local/share (platformdirs reads the variable itself)."""
    return Path(platformdirs.user_data_dir())


def default_command() -> list[str]:
    """The bundle's executable when running frozen, else this environment's `labdock` script."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    beside = Path(sys.executable).parent / APP_ID
    if beside.is_file():
        return [str(beside)]
    found = shutil.which(APP_ID)
    return [found] if found else [sys.executable, "-m", "desktop"]


def quote_exec_arg(arg: str) -> str:
    """One Exec argument, quoted and escaped per the Desktop Entry spec (including the string-level `\\`)."""
    if _RESERVED.search(arg):
        inner = re.sub(r'(["`$\\])', r"\\\1", arg)
        arg = f'"{inner}"'
    return _escape(arg).replace("%", "%%")


def _escape(value: str) -> str:
    """The string-level escaping every .desktop value gets: a backslash is written twice."""
    return value.replace("\\", "\\\\")


def desktop_file_text(command: Sequence[str]) -> str:
    """The .desktop file that starts `command` (an argv list, first item the executable)."""
    executable = command[0]
    try_exec = [f"TryExec={_escape(executable)}"] if Path(executable).is_absolute() else []
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        "Name=Labdock",
        "GenericName=JupyterLab notebook manager",
        "Comment=JupyterLab notebooks in containers on your GPU workstation, from one window",
        f"Exec={' '.join(quote_exec_arg(arg) for arg in command)}",
        *try_exec,
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=Development;Science;",
        "Keywords=jupyter;jupyterlab;docker;notebook;gpu;",
        f"StartupWMClass={WM_CLASS}",
    ]
    return "\n".join(lines) + "\n"


def _desktop_file(home: Path) -> Path:
    return home / "applications" / f"{APP_ID}.desktop"


def _icon_sources(resources: Path) -> list[tuple[Path, str]]:
    """(source file, size folder) pairs: each labdock-<N>.png as NxN, the SVG as scalable."""
    pairs: list[tuple[Path, str]] = []
    for png in sorted((resources / "icons").glob(f"{APP_ID}-*.png")):
        size = png.stem.rsplit("-", 1)[1]
        if size.isdigit():
            pairs.append((png, f"{size}x{size}"))
    svg = resources / f"{APP_ID}.svg"
    if svg.is_file():
        pairs.append((svg, "scalable"))
    return pairs


def _refresh_caches(home: Path) -> None:
    """Tell the desktop about the change; the tools are optional and their failures harmless."""
    commands = (
        ("update-desktop-database", "-q", str(home / "applications")),
        ("gtk-update-icon-cache", "-q", "-t", "-f", str(home / "icons" / "hicolor")),
    )
    for command in commands:
        if shutil.which(command[0]) and Path(command[-1]).is_dir():
            subprocess.run(command, check=False, capture_output=True)


def install(target_exec: str | None = None) -> list[Path]:
    """Write the .desktop file and icons; returns the paths written. Exec defaults to `default_command()`."""
    home = data_home()
    written: list[Path] = []
    for source, size in _icon_sources(resources_dir()):
        dest = home / "icons" / "hicolor" / size / "apps" / f"{APP_ID}{source.suffix}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        written.append(dest)
    if not written:
        raise FileNotFoundError(f"no Labdock icons under {resources_dir()}")
    entry = _desktop_file(home)
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(desktop_file_text([target_exec] if target_exec else default_command()), encoding="utf-8")
    written.append(entry)
    _refresh_caches(home)
    return written


def installed_paths() -> list[Path]:
    """What `install()` writes that exists now: the .desktop file and every hicolor `labdock` icon."""
    home = data_home()
    icons = sorted((home / "icons" / "hicolor").glob(f"*/apps/{APP_ID}.*"))
    entry = _desktop_file(home)
    return [p for p in (*icons, entry) if p.is_file()]


def uninstall() -> list[Path]:
    """Remove the .desktop file and icons `install()` wrote; returns the paths removed."""
    removed = installed_paths()
    for path in removed:
        path.unlink()
    if removed:
        _refresh_caches(data_home())
    return removed


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m desktop.desktop_entry install [--exec PATH] | uninstall`."""
    parser = argparse.ArgumentParser(prog="desktop_entry", description="Labdock's desktop menu entry.")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("install", help="add Labdock to the desktop menu")
    add.add_argument("--exec", dest="target_exec", help="the executable the entry starts")
    sub.add_parser("uninstall", help="remove Labdock from the desktop menu")
    args = parser.parse_args(argv)
    paths = install(args.target_exec) if args.command == "install" else uninstall()
    verb = "Installed" if args.command == "install" else "Removed"
    for path in paths:
        print(f"{verb} {path}")
    if not paths:
        print("Nothing to remove")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
