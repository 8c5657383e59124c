#!/usr/bin/env bash
# Smoke-check the built bundle under Xvfb (see check_bundle.py). Usage: check_bundle.sh [BUNDLE_DIR] [--runs N]
set -euo pipefail
exec python3 "$(dirname "${BASH_SOURCE[0]}")/check_bundle.py" "$@"
