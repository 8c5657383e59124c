"""Where check_deb.py installs the package: this machine, or a fresh Debian root (`--fresh-root`).

A fresh root is the tests' cached debootstrap minbase tarball unpacked under /tmp, with this machine's apt
sources, entered with chroot: `apt-get install ./labdock_….deb` there must pull every dependency from
the archive, as on a machine that never had Qt or X. It shares this machine's network namespace (loopback
for JupyterLab; apt reaches the Debian archive as it does here), X server socket and test engine socket.

Everything about packages (apt, dpkg queries) and user commands runs through `Target.command`, and every
path a check looks at goes through `Target.path`, so the checks read the same for both.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

PACKAGE = "labdock"
APT_CACHE = Path.home() / ".cache" / "labdock-pkgcheck" / "apt-archives"  # downloaded .debs, kept between runs


class CheckFailed(Exception):
    """A check did not pass; the message says which."""


def run(*command: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 600):
    done = subprocess.run(list(command), env=env, capture_output=True, text=True, check=False, timeout=timeout)
    if check and done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-2000:]
        raise CheckFailed(f"{' '.join(command)} exited {done.returncode}: {output}")
    return done


class Target:
    """This machine (root "/")."""

    root = Path("/")
    label = "this machine"

    def command(self, *argv: str) -> list[str]:
        return list(argv)

    def path(self, path: str | Path) -> Path:
        return self.root / str(path).lstrip("/")

    def inside(self, host_path: str) -> str | None:
        """A path as seen from this machine -> the same file's path inside the target (None: not inside)."""
        return host_path

    def run(self, *argv: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 600):
        return run(*self.command(*argv), env=env, check=check, timeout=timeout)

    def deb_path(self, deb: Path) -> str:
        return str(deb)

    # -- packages ---------------------------------------------------------------------------------------

    def installed_version(self) -> str | None:
        done = self.run("dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Version}", PACKAGE, check=False)
        return done.stdout.split()[1] if done.returncode == 0 and done.stdout.startswith("ii") else None

    def apt(self, *args: str) -> str:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        done = self.run("apt-get", *args, env=env, check=False)
        if done.returncode != 0 and args[0] == "install":
            self.run("apt-get", "update", "-qq", env=env)  # the package lists may be missing or stale
            done = self.run("apt-get", *args, env=env, check=False)
        if done.returncode != 0:
            raise CheckFailed(f"apt-get {' '.join(args)} failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
        return done.stdout

    def owners(self, paths: Iterable[str]) -> dict[str, str]:
        """path -> owning package, for the paths dpkg knows (also through merged /usr)."""
        result: dict[str, str] = {}
        for path in paths:
            for candidate in (path, path.removeprefix("/usr") if path.startswith("/usr/") else "/usr" + path):
                done = self.run("dpkg", "-S", candidate, check=False)
                lines = [ln for ln in done.stdout.splitlines() if not ln.startswith(("diversion", "local diversion"))]
                if done.returncode == 0 and lines:
                    result[path] = lines[0].split(":", 1)[0].split(",")[0].strip()
                    break
        return result

    def depends_closure(self, root: str) -> set[str]:
        """`root`, every installed package its Depends and Pre-Depends reach (alternatives: the installed
        ones), and the Essential packages (every Debian system has them)."""
        fmt = "${db:Status-Abbrev}\t${Package}\t${Essential}\t${Provides}\t${Depends}, ${Pre-Depends}\n"
        depends: dict[str, list[list[str]]] = {}
        providers: dict[str, set[str]] = {}
        todo = [root]
        for line in self.run("dpkg-query", "-W", f"-f={fmt}").stdout.splitlines():
            status, name, essential, provides, deps = line.split("\t")
            if not status.startswith("ii"):
                continue
            if essential == "yes":
                todo.append(name)
            providers.setdefault(name, set()).add(name)
            for virtual in relationship_names(provides):
                providers.setdefault(virtual, set()).add(name)
            depends[name] = [relationship_names(alt.replace("|", ",")) for alt in deps.split(",") if alt.strip()]
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for alternatives in depends.get(name, []):
                for alternative in alternatives:
                    todo.extend(providers.get(alternative, ()))
        return seen

    @contextlib.contextmanager
    def shared(self, host_dirs: Iterable[str]) -> Iterator[None]:
        """Make these folders of this machine visible inside the target for the block."""
        yield


class FreshRoot(Target):
    """A fresh Debian root under /tmp, entered with chroot; `prepare()` unpacks it, `close()` removes it."""

    label = "a fresh Debian root"

    def __init__(self, tarball: Path, root: Path) -> None:
        self.tarball = tarball
        self.root = root
        self._mounts: list[Path] = []

    def command(self, *argv: str) -> list[str]:
        return ["chroot", str(self.root), *argv]

    def inside(self, host_path: str) -> str | None:
        prefix = str(self.root).rstrip("/")
        return host_path[len(prefix) :] if host_path.startswith(prefix + "/") else None

    def deb_path(self, deb: Path) -> str:
        copy = self.path("/tmp") / deb.name
        if not copy.exists() or copy.stat().st_size != deb.stat().st_size:
            shutil.copyfile(deb, copy)
        return "/tmp/" + deb.name

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(self.tarball) as archive:
            archive.extractall(self.root, filter="fully_trusted")
        shutil.copyfile("/etc/resolv.conf", self.path("/etc/resolv.conf"))
        sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]
        sources += Path("/etc/apt/sources.list.d").glob("*.sources")
        if any(s.is_file() for s in sources):
            self.path("/etc/apt/sources.list").unlink(missing_ok=True)
            for source in sources:
                if source.is_file():
                    shutil.copyfile(source, self.path(source))
        for conf in Path("/etc/apt/apt.conf.d").iterdir():  # proxies and archive settings of this machine
            if conf.is_file() and "Acquire::" in conf.read_text(errors="replace"):
                shutil.copyfile(conf, self.path(conf))
        policy = self.path("/usr/sbin/policy-rc.d")  # services (docker.io's) are not started in a chroot
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        APT_CACHE.mkdir(parents=True, exist_ok=True)
        for source, target in (("/proc", "/proc"), ("/sys", "/sys"), ("/dev", "/dev")):
            self._bind(source, target)
        self._bind(str(APT_CACHE), "/var/cache/apt/archives")

    def _bind(self, source: str, target: str) -> None:
        """Bind (with what is mounted below: /dev/shm, /dev/pts). check_deb.py runs in a mount namespace of
        its own for a fresh root, so none of these mounts is seen outside it, even if it is killed."""
        where = self.path(target)
        where.mkdir(parents=True, exist_ok=True)
        run("mount", "--rbind", source, str(where))
        self._mounts.append(where)

    @contextlib.contextmanager
    def shared(self, host_dirs: Iterable[str]) -> Iterator[None]:
        count = len(self._mounts)
        try:
            for folder in host_dirs:
                self._bind(folder, folder)
            yield
        finally:
            while len(self._mounts) > count:
                run("umount", "-l", str(self._mounts.pop()), check=False)

    def close(self, delete: bool = True) -> None:
        """Unmount everything, then delete the root (never while anything is still mounted under it)."""
        while self._mounts:
            run("umount", "-l", str(self._mounts.pop()), check=False)
        if not delete:
            print(f"left {self.root} for inspection (delete it with rm -rf --one-file-system)", file=sys.stderr)
            return
        prefix = str(self.root).rstrip("/") + "/"
        mounted = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        still = [m for m in mounted if m.startswith(prefix)]
        if still:
            raise CheckFailed(f"not deleting {self.root}: still mounted there: {still}")
        if self.root.exists():
            run("rm", "-rf", "--one-file-system", str(self.root))


def relationship_names(field: str) -> list[str]:
    """Package names in a relationship field, versions and architecture qualifiers dropped."""
    return [re.split(r"[\s(:]", part.strip(), maxsplit=1)[0] for part in field.split(",") if part.strip()]
