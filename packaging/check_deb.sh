#!/usr/bin/env bash
# Check the .deb as a user meets it (see check_deb.py): build it (or reuse it), install it with apt, start the
# app from its menu entry on Xvfb, open a notebook tab on the test engine, close, uninstall.
# Usage: packaging/check_deb.sh [--runs N] [--deb FILE] [--fresh-root] [--keep-installed]      (as root)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
# The repository's environment and the test engine's needs (docker.io, debootstrap), then this check's tools.
"$ROOT/scripts/setup" --test
# shellcheck source=packaging/_apt.sh
source "$HERE/_apt.sh"
apt_ensure xvfb xdotool x11-utils imagemagick desktop-file-utils libx11-6
exec "$ROOT/.venv/bin/python" "$HERE/check_deb.py" "$@"
