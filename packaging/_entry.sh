# Sourced by install.sh and uninstall.sh: run `labdock <install|uninstall>-desktop` from the bundle, or,
# while the bundle's CLI lacks that command, desktop.desktop_entry with the enclosing repository's Python.
# Arguments: install|uninstall [BUNDLE_DIR]; BUNDLE_DIR defaults to this script's folder when it sits in a
# bundle (build.sh copies the scripts there), else packaging/dist/Labdock.
set -euo pipefail
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_action="$1"
if [[ -n "${2:-}" ]]; then
    _bundle="$(cd "$2" && pwd)"
elif [[ -x "$_here/labdock" ]]; then
    _bundle="$_here"
else
    _bundle="$_here/dist/Labdock"
fi
_exe="$_bundle/labdock"
if [[ ! -x "$_exe" ]]; then
    echo "No Labdock bundle at $_bundle (build it with packaging/build.sh)" >&2
    exit 1
fi
if "$_exe" --help 2>/dev/null | grep -q "${_action}-desktop"; then
    exec "$_exe" "${_action}-desktop"
fi
_root="$_here"
while [[ "$_root" != / && ! -f "$_root/desktop/desktop_entry.py" ]]; do
    _root="$(dirname "$_root")"
done
_python="${PYTHON:-$_root/.venv/bin/python}"
if [[ ! -x "$_python" || ! -f "$_root/desktop/desktop_entry.py" ]]; then
    echo "$_exe has no ${_action}-desktop command and no Labdock source tree is beside this script" >&2
    exit 1
fi
if [[ "$_action" == install ]]; then
    cd "$_root" && exec "$_python" -m desktop.desktop_entry install --exec "$_exe"
fi
cd "$_root" && exec "$_python" -m desktop.desktop_entry uninstall
