"""The desktop menu entry: what install() writes under $XDG_DATA_HOME, and that uninstall() removes only that."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop import desktop_entry

REPO_RESOURCES = Path(__file__).resolve().parents[1] / "resources"
CACHE_FILES = {"mimeinfo.cache", "icon-theme.cache"}  # rebuilt by the desktop's own tools


@pytest.fixture
def share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.delenv("LABDOCK_RESOURCES", raising=False)
    return tmp_path / "share"


def read_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def assert_valid(path: Path) -> None:
    """desktop-file-validate (desktop-file-utils) passes with no error or warning, where that tool is installed.

    Its one hint, two main categories, is on purpose: Labdock belongs under both (Development;Science;).
    """
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        problems = [line for line in result.stdout.splitlines() if ": hint: " not in line]
        assert problems == [], result.stdout


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_install_writes_the_entry_and_every_icon(share: Path) -> None:
    written = desktop_entry.install("/opt/Labdock/labdock")

    entry = share / "applications" / "labdock.desktop"
    assert entry in written
    keys = read_entry(entry)
    assert keys["Type"] == "Application"
    assert keys["Name"] == "Labdock"
    assert keys["Exec"] == "/opt/Labdock/labdock"
    assert keys["TryExec"] == "/opt/Labdock/labdock"
    assert keys["Icon"] == "labdock"
    assert keys["Categories"] == "Development;Science;"
    assert keys["StartupWMClass"] == "Labdock"
    assert keys["Terminal"] == "false"
    assert_valid(entry)

    pngs = sorted((REPO_RESOURCES / "icons").glob("labdock-*.png"))
    assert len(pngs) >= 8
    for png in pngs:
        size = png.stem.split("-")[1]
        icon = share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "labdock.png"
        assert icon in written
        assert icon.read_bytes() == png.read_bytes()
    svg = share / "icons" / "hicolor" / "scalable" / "apps" / "labdock.svg"
    assert svg in written
    assert svg.read_bytes() == (REPO_RESOURCES / "labdock.svg").read_bytes()
    assert len(written) == len(pngs) + 2


def test_exec_path_with_spaces_is_quoted(share: Path) -> None:
    desktop_entry.install("/opt/My Apps/Labdock/labdock")

    entry = share / "applications" / "labdock.desktop"
    assert read_entry(entry)["Exec"] == '"/opt/My Apps/Labdock/labdock"'
    assert_valid(entry)


def test_default_exec_is_this_environments_labdock_script(share: Path) -> None:
    desktop_entry.install()

    executable = Path(read_entry(share / "applications" / "labdock.desktop")["Exec"])
    assert executable.name == "labdock"
    assert executable.is_file()


def test_from_the_bundle_exec_is_the_bundles_executable(share: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/Labdock/labdock")

    desktop_entry.install()

    assert read_entry(share / "applications" / "labdock.desktop")["Exec"] == "/opt/Labdock/labdock"


def test_uninstall_removes_what_install_wrote_and_nothing_else(share: Path) -> None:
    unrelated = [
        share / "applications" / "other.desktop",
        share / "icons" / "hicolor" / "48x48" / "apps" / "other.png",
        share / "icons" / "hicolor" / "scalable" / "apps" / "labdock-theme.svg",
    ]
    for path in unrelated:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not ours")
    before = files_under(share)

    written = desktop_entry.install("/opt/Labdock/labdock")
    removed = desktop_entry.uninstall()

    assert sorted(removed) == sorted(written)
    after = files_under(share)
    assert before <= after
    assert {p.name for p in after - before} <= CACHE_FILES
    assert all(p.read_text() == "not ours" for p in unrelated)


def test_uninstall_with_nothing_installed_removes_nothing(share: Path) -> None:
    assert desktop_entry.uninstall() == []


def test_command_line_install_and_uninstall(share: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert desktop_entry.main(["install", "--exec", "/opt/Labdock/labdock"]) == 0
    assert "labdock.desktop" in capsys.readouterr().out
    assert desktop_entry.main(["uninstall"]) == 0
    assert not (share / "applications" / "labdock.desktop").exists()


def test_imports_without_qt() -> None:
    code = (
        "import sys, desktop.desktop_entry; "
        "sys.exit(any(m.split('.')[0] in ('PySide6', 'qasync') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
