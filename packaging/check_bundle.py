"""Smoke-check the built bundle: it starts under Xvfb, shows its window, and quits cleanly.

Usage: check_bundle.py [BUNDLE_DIR] [--runs N]   (BUNDLE_DIR defaults to packaging/dist/Labdock)

Standard library only (the X calls go through ctypes and the xdotool/xprop tools, see xtools.py), so any
python3 runs it. Each run starts the app on a private Xvfb display with a temporary LABDOCK_HOME and a Docker
socket that does not exist (the app must still show its window), measures process start to window mapped, checks the
window's class and icon, closes it the way a window manager does (WM_DELETE_WINDOW), and requires exit
status 0 with no process of the app left behind. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xtools import XError, app_window, close_window, session_processes, xvfb

HERE = Path(__file__).resolve().parent
WINDOW_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 20.0
EXPECTED_WM_CLASS = '"labdock", "Labdock"'
BUNDLE_FILES = (
    "labdock",
    "_internal/resources/labdock.svg",
    "_internal/resources/icons/labdock-48.png",
    "_internal/resources/states/busy.svg",
    "_internal/PySide6/Qt/libexec/QtWebEngineProcess",
    "_internal/PySide6/Qt/resources/qtwebengine_resources.pak",
    "_internal/PySide6/Qt/resources/icudtl.dat",
    "_internal/PySide6/Qt/translations/qtwebengine_locales/en-US.pak",
    "_internal/PySide6/Qt/plugins/platforms/libqxcb.so",
)

LINKED = (  # every library these need must resolve inside the bundle or on the system
    "_internal/PySide6/Qt/libexec/QtWebEngineProcess",
    "_internal/PySide6/QtWebEngineWidgets.abi3.so",
    "_internal/PySide6/Qt/plugins/platforms/libqxcb.so",
)


class CheckFailed(Exception):
    """A check did not pass; the message says which."""


def app_env(display: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LABDOCK_RESOURCES", "QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    runtime = home / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env.update(
        DISPLAY=display,
        QT_QPA_PLATFORM="xcb",
        QTWEBENGINE_CHROMIUM_FLAGS="--no-sandbox",
        LABDOCK_HOME=str(home / "labdock"),
        DOCKER_HOST=f"unix://{home}/no-docker.sock",
        XDG_RUNTIME_DIR=str(runtime),
    )
    return env


def run_once(exe: Path, display: str) -> float:
    """Start, see the window, close it; returns seconds from process start to window mapped."""
    with tempfile.TemporaryDirectory(prefix="labdock-check-") as tmp:
        home = Path(tmp)
        log = (home / "app.log").open("w+")
        start = time.monotonic()
        app = subprocess.Popen([str(exe)], env=app_env(display, home), stdout=log, stderr=log, start_new_session=True)
        try:
            window = app_window(display, app, "^Labdock", start, WINDOW_TIMEOUT_S, EXPECTED_WM_CLASS)
            shown = time.monotonic() - start
            close_window(display, window)
            try:
                code = app.wait(EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise CheckFailed(f"the app did not exit within {EXIT_TIMEOUT_S:.0f} s of closing its window") from None
            if code != 0:
                raise CheckFailed(f"the app exited with status {code}")
            time.sleep(0.2)
            left = session_processes(app.pid)
            if left:
                raise CheckFailed(f"processes left behind: {left}")
            return shown
        except CheckFailed:
            log.seek(0)
            sys.stderr.write(f"--- app output ---\n{log.read()}--- end ---\n")
            raise
        finally:
            if app.poll() is None:
                os.killpg(app.pid, signal.SIGKILL)
                app.wait()
            for line in session_processes(app.pid):
                os.kill(int(line.split()[0]), signal.SIGKILL)
            log.close()


def check_files(bundle: Path) -> None:
    missing = [name for name in BUNDLE_FILES if not (bundle / name).exists()]
    if missing:
        raise CheckFailed(f"missing from {bundle}: {', '.join(missing)}")
    dangling = [str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_symlink() and not p.exists()]
    if dangling:
        raise CheckFailed(f"{len(dangling)} dangling links in {bundle}, e.g. {dangling[0]}")
    env = {**os.environ, "LD_LIBRARY_PATH": str(bundle / "_internal")}
    for name in LINKED:
        out = subprocess.run(["ldd", str(bundle / name)], env=env, capture_output=True, text=True, check=False)
        unresolved = [line.split()[0] for line in out.stdout.splitlines() if "not found" in line]
        if out.returncode != 0 or unresolved:
            raise CheckFailed(f"{name} cannot load: {unresolved or out.stderr.strip()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=HERE / "dist" / "Labdock")
    parser.add_argument("--runs", type=int, default=3, help="start/close cycles (first one is the cold start)")
    args = parser.parse_args()
    try:
        for tool in ("Xvfb", "xdotool", "xprop"):
            if shutil.which(tool) is None:
                raise CheckFailed(f"{tool} is not installed (apt-get install -y xvfb xdotool x11-utils)")
        check_files(args.bundle)
        times = []
        with xvfb() as display:
            for run in range(1, args.runs + 1):
                times.append(run_once(args.bundle / "labdock", display))
                print(f"run {run}: window shown {times[-1]:.2f} s after process start; closed, exit 0, nothing left")
    except (CheckFailed, XError) as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    print(f"OK: {args.bundle} starts to window in {statistics.median(times):.2f} s (median of {len(times)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
