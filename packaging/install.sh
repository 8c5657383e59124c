#!/usr/bin/env bash
# Add the Labdock bundle to the desktop menu (current user). Usage: install.sh [BUNDLE_DIR]
source "$(dirname "${BASH_SOURCE[0]}")/_entry.sh" install "$@"
