#!/usr/bin/env bash
# Build packaging/dist/labdock_<version>_<arch>.deb from the PyInstaller bundle (packaging/build.sh).
# Usage: packaging/build_deb.sh [--force]
#
# The package installs the bundle as /opt/labdock, the commands /usr/bin/labdock and /usr/bin/labdock-gui
# (packaging/deb/), the menu entry and hicolor icons under /usr/share (written by desktop/desktop_entry.py,
# the same code as the per-user entry). Depends: is derived from the bundle's ELF files (elf_deps.py) and
# the build fails when a needed library is neither bundled nor provided by an installed package.
# The icon cache and the desktop database need no maintainer script: the dpkg triggers of the packages that
# own those caches (gtk-update-icon-cache, desktop-file-utils) refresh them when those are installed. The
# one maintainer script, postrm, puts back /opt when dpkg took it away with /opt/labdock.
#
# A package whose inputs (sources, packaging files, Python environment, build packages) are unchanged is
# reused unless --force is given. Progress goes to stderr; the last line on stdout is the package's path.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
MAINTAINER="${DEB_MAINTAINER:-Labdock developers <labdock@users.noreply.invalid>}"
force=0
[ "${1:-}" = "--force" ] && force=1

[ -x "$PYTHON" ] || "$ROOT/scripts/setup" >&2
# shellcheck source=packaging/_apt.sh
source "$HERE/_apt.sh"
mapfile -t build_packages < <(packages_in "$HERE/build-packages.txt")
apt_ensure "${build_packages[@]}" >&2

VERSION="$("$PYTHON" - "$ROOT/pyproject.toml" <<'EOF'
import re, sys, tomllib
version = tomllib.load(open(sys.argv[1], "rb"))["project"]["version"]
# PEP 440 pre-releases sort before the release in Debian only behind a tilde: 1.0rc1 -> 1.0~rc1.
print(re.sub(r"\.?(a|b|rc|dev)(\d*)", r"~\1\2", version))
EOF
)"
ARCH="$(dpkg --print-architecture)"
DEB="$HERE/dist/labdock_${VERSION}_${ARCH}.deb"
STAMP="$DEB.inputs"

inputs_hash() {
    {
        "$PYTHON" - "$ROOT" <<'EOF'
import hashlib, os, sys
from pathlib import Path
root = Path(sys.argv[1])
digest = hashlib.sha256()
sources = [root / "pyproject.toml", root / "desktop", root / "resources", root / "packaging"]
skip_dirs = {"__pycache__", "dist", "build"}
for top in sources:
    paths = [top] if top.is_file() else sorted(
        Path(folder) / name
        for folder, dirs, names in os.walk(top)
        if not (set(Path(folder).relative_to(root).parts) & skip_dirs)
        for name in names
    )
    for path in paths:
        if path.suffix in (".pyc", ".md") or path.name.startswith("check_"):
            continue  # documentation and the checks do not change the package
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
print(digest.hexdigest())
EOF
        "$PYTHON" -m pip freeze --all 2>/dev/null
        dpkg-query -W "${build_packages[@]}" 2>/dev/null
        echo "$MAINTAINER"
    } | sha256sum | cut -d' ' -f1
}

hash="$(inputs_hash)"
if [ $force = 0 ] && [ -f "$DEB" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$hash" ]; then
    echo "Reusing $DEB (its inputs are unchanged; --force rebuilds)" >&2
    echo "$DEB"
    exit 0
fi
rm -f "$STAMP"

"$HERE/build.sh" >&2
BUNDLE="$HERE/dist/Labdock"
STAGE="$HERE/build/deb-root"
rm -rf "$STAGE"
mkdir -p "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/doc/labdock" "$STAGE/DEBIAN"

# The bundle (hard links: nothing is copied), without the per-user menu scripts build.sh adds to it.
cp -al "$BUNDLE" "$STAGE/opt/labdock"
rm -f "$STAGE/opt/labdock/_entry.sh" "$STAGE/opt/labdock/install.sh" "$STAGE/opt/labdock/uninstall.sh"
# Chromium creates this (empty) folder beside its resources when it runs and may (as root): shipped, it is the
# package's, and `apt remove` takes it away with the rest.
mkdir -m 755 "$STAGE/opt/labdock/_internal/PySide6/Qt/resources/locales"
install -m 755 "$HERE/deb/labdock" "$HERE/deb/labdock-gui" "$STAGE/usr/bin/"
install -m 644 "$HERE/deb/copyright" "$STAGE/usr/share/doc/labdock/copyright"
install -m 755 "$HERE/deb/postrm" "$STAGE/DEBIAN/postrm"

# Menu entry and icons, system-wide: desktop_entry writes under XDG_DATA_HOME, here the package's /usr/share.
written="$(cd "$ROOT" && XDG_DATA_HOME="$STAGE/usr/share" LABDOCK_RESOURCES="$BUNDLE/_internal/resources" \
    "$PYTHON" -m desktop.desktop_entry install --exec /usr/bin/labdock-gui)"
# Keep only what it wrote: cache files the desktop tools may have generated belong to other packages.
keep="$(sed -n "s|^Installed $STAGE||p" <<<"$written" | sort)"
while IFS= read -r path; do
    grep -qxF "$path" <<<"$keep" || rm -f "$STAGE$path"
done < <(cd "$STAGE" && find usr/share/applications usr/share/icons -type f | sed 's|^|/|')
grep -q '^Exec=/usr/bin/labdock-gui$' "$STAGE/usr/share/applications/labdock.desktop"

echo "Mapping the bundle's needed libraries to packages" >&2
DEPENDS="$(python3 "$HERE/elf_deps.py" "$STAGE/opt/labdock" --arch "$ARCH" --report "$HERE/build/deb-depends.txt" \
    --also "$HERE/deb/runtime-depends.txt")"
sed 's/^/  /' "$HERE/build/deb-depends.txt" >&2

chmod -R u+rwX,go+rX,go-w "$STAGE"
cat >"$STAGE/DEBIAN/control" <<EOF
Package: labdock
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
Depends: $DEPENDS
Recommends: docker.io
Section: science
Priority: optional
Description: JupyterLab notebooks in containers on your GPU workstation
 Labdock is a desktop app and a command (labdock) that runs JupyterLab notebooks as Docker containers,
 with or without GPUs, and opens them in tabs of its own window.
 .
 This package installs a self-contained build under /opt/labdock, the labdock and labdock-gui commands
 and a desktop menu entry. Notebooks and their work folders live in each user's home and are kept
 when the package is removed.
EOF

mkdir -p "$(dirname "$DEB")"
rm -f "$DEB"
echo "Packing $DEB" >&2
dpkg-deb --root-owner-group -Zzstd -z9 --build "$STAGE" "$DEB" >&2
echo "$hash" >"$STAMP"
echo "Package: $DEB ($(du -h "$DEB" | cut -f1)); Depends: $DEPENDS" >&2
echo "$DEB"
