#!/usr/bin/env bash
# Smoke-check the built bundle under Xvfb (see check_bundle.py). Usage: check_bundle.sh [BUNDLE_DIR] [--runs N]
# Installs its tools (Xvfb, xdotool, xprop) with apt when they are missing.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=packaging/_apt.sh
source "$HERE/_apt.sh"
apt_ensure xvfb xdotool x11-utils libx11-6
exec python3 "$HERE/check_bundle.py" "$@"
