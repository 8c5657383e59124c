#!/usr/bin/env bash
# Remove Labdock's menu entry and icons (current user). Usage: uninstall.sh [BUNDLE_DIR]
source "$(dirname "${BASH_SOURCE[0]}")/_entry.sh" uninstall "$@"
