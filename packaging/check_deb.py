"""Check the .deb as a user meets it: install with apt, start from the menu entry, open a notebook tab, uninstall.

Usage: check_deb.py [--runs N] [--deb FILE] [--fresh-root] [--keep-installed]   (through packaging/check_deb.sh)

Builds the package with build_deb.sh (which reuses a package whose inputs are unchanged), then N times:
1. `apt-get install ./labdock_<version>_<arch>.deb`; the commands, menu entry and icons are in place;
2. a notebook is created with the installed `labdock new` on the test engine (the tests' Docker engine and
   offline JupyterLab image, host networking on loopback);
3. the app is started the way the desktop starts it, from the `Exec=` line of the installed .desktop file,
   on a private Xvfb display, as a fresh user (HOME and LABDOCK_HOME in a temporary folder); its window
   must appear with its class and icon;
4. the notebook's tab is opened the way a user does with the keyboard (the row is selected when it
   appears; Ctrl+O opens it), and JupyterLab must really run and paint in the bundle's QtWebEngine: the
   page's own code saves its workspace to the server (asked through the server's API: nothing but a
   browser running JupyterLab does that), and a screenshot shows JupyterLab's orange;
5. every file the running app and its QtWebEngine processes mapped from the system (libraries opened
   with dlopen, fonts) must belong to a package that labdock's Depends bring in;
6. the window is closed as a window manager closes it; with quit_action "stop" the app stops the
   notebook and exits 0, leaving no process; `labdock rm` removes the notebook;
7. `apt-get remove labdock`: every path the package installed is gone, and every path that existed
   before the install is still there.
With --fresh-root all of it happens in a fresh Debian root (deb_target.py), where the install must pull
every dependency from the archive. Screenshots and the app's output go to packaging/build/check-deb/.
Exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402  (the repository's environment: scripts/setup)
from deb_target import PACKAGE, CheckFailed, FreshRoot, Target, run  # noqa: E402
from xtools import XError, app_window, close_window, find_window, screenshot, session_processes, xdotool, xvfb  # noqa: E402

from tests.support import images  # noqa: E402
from tests.support.dockerd import Daemon, existing_engine, start_private  # noqa: E402

PREFIX = "ldpkgcheck-"
INSTALL_ROOT = "/opt/labdock"
DESKTOP_FILE = "/usr/share/applications/labdock.desktop"
OUT = HERE / "build" / "check-deb"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXPECTED_WM_CLASS = '"labdock", "Labdock"'
WINDOW_TIMEOUT_S = 60.0
TAB_TIMEOUT_S = 90.0
PAINT_TIMEOUT_S = 30.0
EXIT_TIMEOUT_S = 60.0
JUPYTER_ORANGE = "#F37626"  # the logo and the launcher's notebook icon
MIN_ORANGE_PIXELS = 100


def log(message: str) -> None:
    print(message, flush=True)


# -- the package, installed and removed ---------------------------------------------------------------------


def build_package() -> Path:
    start = time.monotonic()
    done = subprocess.run([str(HERE / "build_deb.sh")], stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise CheckFailed(f"build_deb.sh exited {done.returncode}")
    deb = Path(done.stdout.strip().splitlines()[-1])
    log(f"package: {deb} ({deb.stat().st_size / 2**20:.0f} MiB), ready in {time.monotonic() - start:.1f} s")
    return deb


def package_paths(deb: Path) -> list[str]:
    """Every path the package installs ("/" itself left out), from its data archive."""
    paths = []
    for line in run("dpkg-deb", "-c", str(deb)).stdout.splitlines():
        name = line.split(None, 5)[5].split(" -> ", 1)[0]
        path = "/" + name.removeprefix("./").rstrip("/")
        if path != "/":
            paths.append(path)
    return paths


def desktop_exec(path: Path) -> list[str]:
    """The argv of the `Exec=` key of the [Desktop Entry] group, field codes dropped (Desktop Entry spec)."""
    group = None
    for line in path.read_text().splitlines():
        if line.startswith("["):
            group = line.strip()
        elif group == "[Desktop Entry]" and line.startswith("Exec="):
            value = line[len("Exec=") :].replace("\\\\", "\\")
            return [arg.replace("%%", "%") for arg in shlex.split(value) if not re.fullmatch(r"%[a-zA-Z]", arg)]
    raise CheckFailed(f"{path} has no Exec= line")


def user_path(target: Target) -> str:
    """A user's PATH: without this repository's folders (its .venv has a `labdock` too)."""
    if isinstance(target, FreshRoot):
        return SYSTEM_PATH
    return ":".join(p for p in os.environ.get("PATH", "").split(":") if p and not p.startswith(str(ROOT)))


def check_installed(target: Target, paths: list[str]) -> None:
    missing = [p for p in paths if not os.path.lexists(target.path(p))]
    if missing:
        raise CheckFailed(f"installed package lacks {missing[:5]}")
    listed = set(target.run("dpkg", "-L", PACKAGE).stdout.split())
    if not set(paths) <= listed:
        raise CheckFailed(f"dpkg -L does not list {sorted(set(paths) - listed)[:5]}")
    env = {**os.environ, "PATH": user_path(target)}
    found = target.run("sh", "-c", "command -v labdock", env=env, check=False).stdout.strip()
    if found != "/usr/bin/labdock":
        raise CheckFailed(f"`labdock` on PATH is {found or 'missing'}, not /usr/bin/labdock")
    target.run("labdock", "--help", env=env)
    entry = target.path(DESKTOP_FILE)
    for key in ("Icon=labdock", "StartupWMClass=Labdock", "Type=Application"):
        if key not in entry.read_text().splitlines():
            raise CheckFailed(f"{DESKTOP_FILE} lacks {key}")
    run("desktop-file-validate", str(entry))
    for icon in ("48x48/apps/labdock.png", "scalable/apps/labdock.svg"):
        if not target.path(f"/usr/share/icons/hicolor/{icon}").is_file():
            raise CheckFailed(f"no hicolor icon {icon}")


def check_removed(target: Target, paths: list[str], existed_before: set[str]) -> None:
    left = [p for p in paths if os.path.lexists(target.path(p)) and p not in existed_before]
    if left:
        strays = [str(f) for p in left if target.path(p).is_dir() for f in target.path(p).iterdir()]
        raise CheckFailed(f"apt-get remove left {len(left)} paths behind, e.g. {left[:5]}; in them: {strays[:5]}")
    gone = [p for p in existed_before if not os.path.lexists(target.path(p))]
    if gone:
        raise CheckFailed(f"apt-get remove took paths that existed before the install: {sorted(gone)[:5]}")
    if target.installed_version() is not None:
        raise CheckFailed("dpkg still lists labdock as installed")
    gone = [f for f in ("/usr/bin/labdock", "/usr/bin/labdock-gui", DESKTOP_FILE) if os.path.lexists(target.path(f))]
    if gone:
        raise CheckFailed(f"still there after apt-get remove: {gone}")


def check_runtime_files(target: Target, pids: list[int]) -> str:
    """Every system file the app's processes mapped comes from a package within labdock's Depends.

    Fonts are the one kind where any will do: fontconfig picks among the fonts installed, so a font file
    needs only some font package within Depends, not its own.
    """
    files: set[str] = set()
    for pid in pids:
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        for line in maps.splitlines():
            parts = line.split(None, 5)
            path = target.inside(parts[5]) if len(parts) == 6 and parts[5].startswith("/") else None
            skipped = (INSTALL_ROOT + "/", "/dev/", "/memfd:", "/SYSV", "/tmp/")
            if path and not path.startswith(skipped) and target.path(path).is_file():
                files.add(path)
    owned = target.owners(files)
    closure = target.depends_closure(PACKAGE)
    fonts = {path for path in owned if path.startswith("/usr/share/fonts/")}
    font_packages = [p for p in closure if p.startswith(("fonts-", "ttf-"))]
    if fonts and not any(owned[path] in closure for path in fonts) and not font_packages:
        raise CheckFailed(f"the app draws with fonts ({sorted(fonts)[:3]}) but Depends bring in no font")
    outside = {path: pkg for path, pkg in owned.items() if pkg not in closure and path not in fonts}
    if outside:
        lines = "\n  ".join(f"{path} ({pkg})" for path, pkg in sorted(outside.items()))
        raise CheckFailed(f"the app uses files of packages its Depends do not bring in:\n  {lines}")
    unowned = sorted(files - set(owned))
    return (
        f"{len(files)} system files mapped by {len(pids)} processes, all from "
        f"{len(set(owned.values()))} packages within Depends ({len(unowned)} generated, e.g. {unowned[:2]})"
    )


# -- one run ------------------------------------------------------------------------------------------------


@dataclass
class Timings:
    install: float = 0.0
    notebook: float = 0.0
    window: float = 0.0
    tab: float = 0.0
    close: float = 0.0
    remove: float = 0.0


def user_env(target: Target, home: Path, docker_host: str) -> dict[str, str]:
    """A fresh user whose HOME and LABDOCK_HOME are `home` (a path on this machine, inside the target)."""
    settings = {
        "network_mode": "host",  # JupyterLab on 127.0.0.1 only (the workplace's network rule)
        "pull_missing": False,
        "container_prefix": PREFIX,
        "ready_timeout": 90,
        "default_image": images.PLAIN_IMAGE,
        "default_gpu_image": images.PLAIN_IMAGE,
        "quit_action": "stop",
    }
    (home / "labdock" / "config").mkdir(parents=True)
    (home / "labdock" / "config" / "settings.json").write_text(json.dumps(settings))
    (home / "runtime").mkdir(mode=0o700)
    inside = target.inside(str(home))
    drop = ("LABDOCK_RESOURCES", "QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "QTWEBENGINE_CHROMIUM_FLAGS", "DOCKER_CONTEXT")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env.update(
        PATH=user_path(target),
        HOME=f"{inside}",
        LABDOCK_HOME=f"{inside}/labdock",
        XDG_RUNTIME_DIR=f"{inside}/runtime",
        DOCKER_HOST=docker_host,
        DOCKER_CONFIG=f"{inside}/.docker",
    )
    return env


def workspace_count(lab_url: str) -> int:
    """How many workspaces the JupyterLab server holds: its front end saves one when it has loaded."""
    base, _, query = lab_url.partition("?")
    api = base.rsplit("/lab", 1)[0] + "/lab/api/workspaces?" + query
    with urllib.request.urlopen(api, timeout=5) as response:  # 127.0.0.1 only
        return len(json.load(response)["workspaces"]["ids"])


def orange_pixels(png: Path) -> int:
    """Pixels near JupyterLab's orange, which the app's own widgets never show."""
    done = run(
        "convert", str(png), "-fuzz", "12%", "-fill", "black", "+opaque", JUPYTER_ORANGE,
        "-fill", "white", "-opaque", JUPYTER_ORANGE, "-format", "%[fx:round(mean*w*h)]", "info:",
    )  # fmt: skip
    return int(done.stdout.strip())


def labdock_window(display: str) -> int:
    window = find_window(display, "^Labdock$")
    if window is None:
        raise CheckFailed("the Labdock window is gone")
    return window


def run_once(
    target: Target, number: int, deb: Path, paths: list[str], client: docker.DockerClient, url: str
) -> Timings:
    t = Timings()
    name = f"pkgcheck-{number}"
    if os.path.lexists(target.path(INSTALL_ROOT)):
        raise CheckFailed(f"{INSTALL_ROOT} exists while labdock is not installed: delete what an earlier run left")
    existed = {p for p in paths if os.path.lexists(target.path(p))}
    start = time.monotonic()
    target.apt("install", "-y", target.deb_path(deb))
    t.install = time.monotonic() - start
    check_installed(target, paths)
    with tempfile.TemporaryDirectory(prefix="labdock-deb-check-", dir=target.path("/tmp")) as tmp:
        env = user_env(target, Path(tmp), url)
        start = time.monotonic()
        target.run("labdock", "new", name, env=env, timeout=180)
        t.notebook = time.monotonic() - start
        lab_url = target.run("labdock", "url", name, env=env).stdout.strip()
        if workspace_count(lab_url) != 0:
            raise CheckFailed("the new notebook already has a workspace")
        command = target.command(*desktop_exec(target.path(DESKTOP_FILE)))
        with xvfb() as display:
            out_log = OUT / f"run-{number}-app.log"
            with out_log.open("w") as app_log:
                app = subprocess.Popen(
                    command, env={**env, "DISPLAY": display}, stdout=app_log, stderr=app_log, start_new_session=True
                )
                try:
                    t.window, t.tab = show_tab(display, app, lab_url, number)
                    pids = [app.pid] + [int(p.split()[0]) for p in session_processes(app.pid)]
                    log(f"  {check_runtime_files(target, pids)}")
                    t.close = close_app(display, app)
                except (CheckFailed, XError) as exc:
                    app_log.flush()
                    tail = out_log.read_text(errors="replace")[-4000:]
                    raise CheckFailed(f"{exc}\n--- app output (tail) ---\n{tail}--- end ---") from None
                finally:
                    kill_session(app)
        if client.containers.list(filters={"name": PREFIX + name, "status": "running"}):
            raise CheckFailed(f"{PREFIX + name} still runs after quitting with quit_action=stop")
        target.run("labdock", "rm", name, env=env)
        listed = target.run("labdock", "ls", env=env).stdout.split()
        if name in listed or client.containers.list(all=True, filters={"name": PREFIX + name}):
            raise CheckFailed(f"labdock rm left {name} behind")
    start = time.monotonic()
    target.apt("remove", "-y", PACKAGE)
    t.remove = time.monotonic() - start
    check_removed(target, paths, existed)
    return t


def show_tab(display: str, app: subprocess.Popen[bytes], lab_url: str, number: int) -> tuple[float, float]:
    """Wait for the window, open the notebook's tab with Ctrl+O, see JupyterLab run and paint in it."""
    start = time.monotonic()
    window = app_window(display, app, "^Labdock$", start, WINDOW_TIMEOUT_S, EXPECTED_WM_CLASS)
    shown = time.monotonic() - start
    screenshot(display, OUT / f"run-{number}-window.png")
    # The row is selected once the app has adopted the running notebook; until then Ctrl+O does nothing.
    opened = time.monotonic()
    pressed = 0.0
    while workspace_count(lab_url) == 0:
        if app.poll() is not None:
            raise CheckFailed(f"the app exited with {app.returncode} before the tab loaded")
        if time.monotonic() - opened > TAB_TIMEOUT_S:
            raise CheckFailed(f"JupyterLab did not load in a tab within {TAB_TIMEOUT_S:.0f} s of the window")
        if time.monotonic() - pressed > 3.0:
            window = labdock_window(display)  # Qt recreates the native window when the web view arrives
            xdotool(display, "windowfocus", "--sync", str(window))
            xdotool(display, "key", "--clearmodifiers", "ctrl+o")
            pressed = time.monotonic()
        time.sleep(0.1)
    loaded = time.monotonic() - opened
    shot = OUT / f"run-{number}-tab.png"
    while True:
        screenshot(display, shot)
        orange = orange_pixels(shot)
        if orange >= MIN_ORANGE_PIXELS:
            return shown, loaded
        if time.monotonic() - opened > TAB_TIMEOUT_S + PAINT_TIMEOUT_S:
            raise CheckFailed(f"JupyterLab ran but the tab shows no JupyterLab ({orange} orange pixels, see {shot})")
        time.sleep(0.5)


def close_app(display: str, app: subprocess.Popen[bytes]) -> float:
    start = time.monotonic()
    close_window(display, labdock_window(display))
    try:
        code = app.wait(EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"the app did not exit within {EXIT_TIMEOUT_S:.0f} s of closing its window") from None
    if code != 0:
        raise CheckFailed(f"the app exited with status {code}")
    deadline = time.monotonic() + 5
    while session_processes(app.pid):
        if time.monotonic() > deadline:
            raise CheckFailed(f"processes left behind: {session_processes(app.pid)}")
        time.sleep(0.1)
    return time.monotonic() - start


def kill_session(app: subprocess.Popen[bytes]) -> None:
    if app.poll() is None:
        os.killpg(app.pid, signal.SIGKILL)
        app.wait()
    for line in session_processes(app.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(line.split()[0]), signal.SIGKILL)


def remove_check_containers(client: docker.DockerClient) -> None:
    for container in client.containers.list(all=True, filters={"name": PREFIX}):
        with contextlib.suppress(docker.errors.DockerException):
            container.remove(force=True)


def test_engine() -> tuple[str, Daemon | None]:
    """The tests' engine: one that answers, a private one another session runs, or a new private one."""
    for attempt in range(2):
        url = existing_engine()
        if url is not None:
            return url, None
        try:
            daemon = start_private()
            return daemon.base_url, (daemon if daemon.process is not None else None)
        except RuntimeError as exc:  # e.g. another session was starting it on the same data root
            if attempt:
                raise CheckFailed(f"no test engine: {str(exc)[-1500:]}") from None
            time.sleep(3)
    raise AssertionError("unreachable")


def checks(args: argparse.Namespace, target: Target) -> int:
    deb = (args.deb or build_package()).resolve()
    paths = package_paths(deb)
    if isinstance(target, FreshRoot):
        start = time.monotonic()
        target.prepare()
        target.apt("update", "-qq")
        log(f"fresh Debian root at {target.root} ready in {time.monotonic() - start:.1f} s")
    elif target.installed_version() is not None:
        log("labdock is installed: removing it first")
        target.apt("remove", "-y", PACKAGE)
    url, daemon = test_engine()
    client = docker.DockerClient(base_url=url, timeout=600)
    passed = 0
    try:
        images.ensure_images(client)
        remove_check_containers(client)
        log(f"on {target.label}; test engine {url}, image {images.PLAIN_IMAGE}")
        shared = [os.path.dirname(url.removeprefix("unix://")), "/tmp/.X11-unix"]
        with target.shared(shared):
            for number in range(1, args.runs + 1):
                t = run_once(target, number, deb, paths, client, url)
                passed += 1
                log(
                    f"run {number}: PASS - install {t.install:.1f} s, notebook ready {t.notebook:.1f} s, window "
                    f"{t.window:.2f} s, JupyterLab loaded in the tab {t.tab:.1f} s after the window, closed and "
                    f"stopped {t.close:.1f} s, removed {t.remove:.1f} s, nothing left"
                )
        if args.keep_installed and not isinstance(target, FreshRoot):
            target.apt("install", "-y", str(deb))
    finally:
        remove_check_containers(client)
        if not (args.keep_installed and passed == args.runs):
            # Each run checked `apt-get remove`; its postrm keeps dpkg's record ("rc") until a purge.
            target.run("apt-get", "purge", "-y", PACKAGE, check=False)
        if daemon is not None:
            daemon.stop()
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="install/use/remove cycles, all must pass")
    parser.add_argument("--deb", type=Path, help="check this package instead of building one")
    parser.add_argument("--fresh-root", action="store_true", help="in a fresh Debian root instead of this machine")
    parser.add_argument("--keep-installed", action="store_true", help="leave the package installed at the end")
    parser.add_argument("--keep-root", action="store_true", help="leave the fresh root on disk when a run fails")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("check_deb: run as root (it installs and removes the package with apt-get)", file=sys.stderr)
        return 2
    if args.fresh_root and os.environ.get("LABDOCK_CHECK_MOUNT_NS") != "1":
        # A mount namespace of its own: the fresh root's mounts vanish with this process, however it ends.
        env = {**os.environ, "LABDOCK_CHECK_MOUNT_NS": "1"}
        argv = ["unshare", "--mount", "--propagation", "private", sys.executable, *sys.argv]
        return subprocess.run(argv, env=env, check=False).returncode
    OUT.mkdir(parents=True, exist_ok=True)
    target: Target = Target()
    if args.fresh_root:
        target = FreshRoot(images._rootfs_tarball(), Path(tempfile.mkdtemp(prefix="labdock-fresh-root-")))
    started = time.monotonic()
    failed = True
    try:
        passed = checks(args, target)
        failed = False
    except (CheckFailed, XError, subprocess.TimeoutExpired) as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    finally:
        if isinstance(target, FreshRoot):
            target.close(delete=not (failed and args.keep_root))
    log(f"OK: {passed} of {args.runs} runs passed in {time.monotonic() - started:.0f} s (screenshots in {OUT})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
