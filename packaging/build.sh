#!/usr/bin/env bash
# Build the self-contained Linux bundle: packaging/dist/Labdock/labdock (PyInstaller, onedir).
# Usage: packaging/build.sh   (PYTHON=... to use another interpreter than the repo's .venv)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || "$ROOT/scripts/setup"  # a fresh clone: set up the environment first

if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    echo "Installing pyinstaller into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
    "$PYTHON" -m pip install --quiet "pyinstaller>=6.10"
fi

"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$HERE/dist" --workpath "$HERE/build" "$HERE/labdock.spec"

BUNDLE="$HERE/dist/Labdock"
cp "$HERE/_entry.sh" "$HERE/install.sh" "$HERE/uninstall.sh" "$BUNDLE/"
echo "Bundle: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1)), executable: $BUNDLE/labdock"
