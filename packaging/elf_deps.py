"""The Debian `Depends:` of a self-contained tree, derived from its ELF files.

Usage: elf_deps.py TREE [--arch ARCH] [--report FILE] [--also FILE]

Every ELF file under TREE is read with `readelf -dW`; each NEEDED soname that no file in TREE carries
(PyInstaller puts the libraries it bundles beside the code) must come from the system. Each such soname is
found with `ldconfig -p`, its owner with `dpkg -S`, and the version constraint from the owner's shlibs file
(`/var/lib/dpkg/info/PKG.shlibs`, the constraint dpkg-shlibdeps would use), else `>=` the installed upstream
version. Prints the Depends value on stdout; exits 1 naming every soname that is neither carried nor
provided by an installed package (install that package at build time, or bundle the library). `--also`
merges in further entries (data the bundled libraries read, which no NEEDED entry shows).

Standard library only; the parsers are pure functions (tests/test_packaging.py).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# ldconfig's tag for each Debian architecture's native libraries.
LDCONFIG_TAGS = {"amd64": "x86-64", "arm64": "AArch64", "riscv64": "RISC-V", "ppc64el": "64bit"}
_NEEDED = re.compile(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")
_LDCONFIG = re.compile(r"^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)\s*$")
_SIMPLE_DEP = re.compile(r"^([a-z0-9][a-z0-9+.-]+)(?::[a-z0-9-]+)?(?:\s*\(\s*(>=|>>|=)\s*([^)\s]+)\s*\))?$")


class Uncovered(Exception):
    """Needed sonames that nothing carries or provides."""


@dataclass
class Needs:
    """What a tree's ELF files need from the system: soname -> the tree's files that need it."""

    system: dict[str, list[str]] = field(default_factory=dict)
    elf_count: int = 0
    carried: int = 0


def parse_needed(readelf_output: str) -> list[str]:
    """The NEEDED sonames in `readelf -dW` output, in order."""
    return _NEEDED.findall(readelf_output)


def parse_ldconfig(output: str, tag: str | None) -> dict[str, list[str]]:
    """`ldconfig -p` output -> soname: paths, keeping only entries whose flags name `tag` (all when None)."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        match = _LDCONFIG.match(line)
        if match is None:
            continue
        soname, flags, path = match.groups()
        if tag is None or tag in flags.split(","):
            found.setdefault(soname, []).append(path)
    return found


def parse_dpkg_search(output: str) -> list[str]:
    """Package names (without :arch) in `dpkg -S PATH` output, diversion lines skipped."""
    packages: list[str] = []
    for line in output.splitlines():
        if line.startswith(("diversion by", "local diversion")) or ": " not in line:
            continue
        for owner in line.split(": ", 1)[0].split(","):
            name = owner.strip().split(":", 1)[0]
            if name and name not in packages:
                packages.append(name)
    return packages


def shlibs_key(soname: str) -> tuple[str, str] | None:
    """The (library name, soname version) pair a shlibs file lists for `soname` (policy 8.6.4.1)."""
    match = re.match(r"^(.+)\.so\.(.+)$", soname)
    if match:
        return match.group(1), match.group(2)
    match = re.match(r"^(.+)-([0-9][^-]*)\.so$", soname)
    if match:
        return match.group(1), match.group(2)
    return None


def parse_shlibs(text: str, soname: str) -> str | None:
    """The dependency a shlibs file gives for `soname` (regular entries; udeb and other types skipped)."""
    key = shlibs_key(soname)
    if key is None:
        return None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split(None, 3)
        if words[0].endswith(":"):
            continue  # a typed entry such as `udeb:`
        if len(words) >= 3 and (words[0], words[1]) == key:
            return line.split(None, 2)[2].strip()
    return None


def upstream_constraint(package: str, version: str) -> str:
    """`package (>= upstream)`: the installed version without its Debian revision (the epoch stays)."""
    upstream = version.rsplit("-", 1)[0] if "-" in version else version
    return f"{package} (>= {upstream})"


def merge_dependencies(entries: Iterable[str], newer: Callable[[str, str], bool]) -> list[str]:
    """One entry per package: simple `pkg (>= v)` entries keep the highest version; others stay as written.

    `newer(a, b)` says whether Debian version a is greater than b (dpkg --compare-versions in real use).
    """
    simple: dict[str, str | None] = {}
    other: list[str] = []
    for entry in entries:
        for part in (p.strip() for p in entry.split(",")):
            match = _SIMPLE_DEP.match(part)
            if match is None:
                if part and part not in other:
                    other.append(part)
                continue
            name, op, version = match.groups()
            if op is not None and op != ">=":
                if part not in other:
                    other.append(part)
                continue
            current = simple.get(name)
            if name not in simple or (version is not None and (current is None or newer(version, current))):
                simple[name] = version
    merged = [name if version is None else f"{name} (>= {version})" for name, version in simple.items()]
    return sorted(merged + other)


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def walk_files(tree: Path) -> Iterator[Path]:
    for folder, _, names in os.walk(tree):
        for name in names:
            yield Path(folder) / name


def tree_needs(tree: Path) -> Needs:
    """The sonames the tree's ELF files need that no file (or symlink) in the tree carries."""
    files = list(walk_files(tree))
    carried = {path.name for path in files if path.exists()}  # a dangling link carries nothing
    elves = [path for path in files if not path.is_symlink() and is_elf(path)]
    needs = Needs(elf_count=len(elves), carried=len(carried))
    for path in elves:
        output = subprocess.run(["readelf", "-dW", str(path)], capture_output=True, text=True, check=False).stdout
        for soname in parse_needed(output):
            if soname not in carried:
                needs.system.setdefault(soname, []).append(str(path.relative_to(tree)))
    return needs


def _usr_alias(path: str) -> str | None:
    """The same file seen through merged /usr: /lib/x <-> /usr/lib/x."""
    if path.startswith("/usr/"):
        return path[4:]
    if path.startswith(("/lib", "/bin", "/sbin")):
        return "/usr" + path
    return None


def owner_of(paths: list[str]) -> str | None:
    """The installed package that ships one of `paths` (tried as written, through /usr, and resolved)."""
    tried: list[str] = []
    for path in paths:
        for candidate in (path, _usr_alias(path), os.path.realpath(path), _usr_alias(os.path.realpath(path))):
            if candidate and candidate not in tried:
                tried.append(candidate)
    for candidate in tried:
        found = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True, check=False)
        packages = parse_dpkg_search(found.stdout) if found.returncode == 0 else []
        if packages:
            return packages[0]
    return None


def shlibs_dependency(package: str, soname: str, arch: str) -> str:
    for name in (f"{package}:{arch}.shlibs", f"{package}.shlibs"):
        try:
            text = (Path("/var/lib/dpkg/info") / name).read_text()
        except OSError:
            continue
        dependency = parse_shlibs(text, soname)
        if dependency:
            return dependency
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=True
    ).stdout.strip()
    return upstream_constraint(package, version)


def version_newer(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "gt", b], check=False).returncode == 0


def depends_for(tree: Path, arch: str, report: list[str]) -> list[str]:
    """The Depends entries of `tree`; raises Uncovered naming what nothing provides."""
    needs = tree_needs(tree)
    ldconfig = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    located = parse_ldconfig(ldconfig, LDCONFIG_TAGS.get(arch))
    entries: list[str] = []
    uncovered: list[str] = []
    report.append(f"{needs.elf_count} ELF files, {needs.carried} names carried, {len(needs.system)} system sonames")
    for soname, users in sorted(needs.system.items()):
        package = owner_of(located.get(soname, []))
        if package is None:
            where = ", ".join(located.get(soname, [])) or "not installed"
            uncovered.append(f"{soname} ({where}; needed by {users[0]}{' and more' if len(users) > 1 else ''})")
            continue
        dependency = shlibs_dependency(package, soname, arch)
        report.append(f"{soname:32} {dependency:40} {len(users)} file(s), e.g. {users[0]}")
        entries.append(dependency)
    if uncovered:
        raise Uncovered("\n  ".join(["needed libraries neither carried nor provided by a package:", *uncovered]))
    return merge_dependencies(entries, version_newer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", type=Path)
    parser.add_argument("--arch", default=None, help="Debian architecture (default: dpkg --print-architecture)")
    parser.add_argument("--report", type=Path, help="write soname -> dependency lines here")
    parser.add_argument("--also", type=Path, help="a file of further Depends entries, one a line (# comments)")
    args = parser.parse_args(argv)
    arch = (
        args.arch
        or subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()
    )
    report: list[str] = []
    try:
        depends = depends_for(args.tree, arch, report)
    except Uncovered as exc:
        print(f"elf_deps: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.report:
            args.report.write_text("\n".join(report) + "\n")
    if args.also:
        extra = [line.split("#", 1)[0].strip() for line in args.also.read_text().splitlines()]
        depends = merge_dependencies([*depends, *filter(None, extra)], version_newer)
    print(", ".join(depends))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
