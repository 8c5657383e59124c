#!/usr/bin/env bash
# Build the self-contained Linux bundle: packaging/dist/Labdock/labdock (PyInstaller, onedir).
# Usage: packaging/build.sh   (PYTHON=... to use another interpreter than the repo's .venv)
# Installs the Debian packages of build-packages.txt that are missing (apt), then runs PyInstaller.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || "$ROOT/scripts/setup"  # a fresh clone: set up the environment first
# shellcheck source=packaging/_apt.sh
source "$HERE/_apt.sh"
# The libraries Qt's plugins need must be present to be bundled (or mapped to packages by build_deb.sh).
mapfile -t build_packages < <(packages_in "$HERE/build-packages.txt")
apt_ensure "${build_packages[@]}"

if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    echo "Installing pyinstaller into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
    "$PYTHON" -m pip install --quiet "pyinstaller>=6.10"
fi

"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$HERE/dist" --workpath "$HERE/build" "$HERE/labdock.spec"

BUNDLE="$HERE/dist/Labdock"
cp "$HERE/_entry.sh" "$HERE/install.sh" "$HERE/uninstall.sh" "$BUNDLE/"
echo "Bundle: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1)), executable: $BUNDLE/labdock"
