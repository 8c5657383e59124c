#!/usr/bin/env bash
# Labdock on Podman for real, with Podman's own runtime: tests/test_podman.py, whose full-lifecycle case
# launches a notebook through Podman's Docker API, runs code in its kernel (writing to the work folder),
# has a new Labdock process adopt it, stops it (a clean exit code), starts it again and removes it.
#
#   scripts/podman_lifecycle.sh                     a private `podman system service` on test storage
#   scripts/podman_lifecycle.sh --socket URL        your own Podman, e.g.
#                                                   unix://$XDG_RUNTIME_DIR/podman/podman.sock (rootless)
#
# Run it where Podman can start containers: it fails, rather than work around it, where the runtime
# refuses (CI's VMs refuse the rlimits Podman asks for; `CI=true scripts/test` covers what works there).
# The test image comes from the Docker test engine (scripts/setup --test installs Docker and Podman).
set -euo pipefail
cd "$(dirname "$0")/.."

socket=""
while [ $# -gt 0 ]; do
    case "$1" in
        --socket) socket="${2:?--socket needs a URL}"; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--socket unix:///path/to/podman.sock]" >&2; exit 2 ;;
    esac
done

scripts/setup --test
export CI=true LABDOCK_PODMAN_RUNTIME=plain
if [ -n "$socket" ]; then export LABDOCK_PODMAN_URL="$socket"; fi
exec .venv/bin/pytest -q -p no:cacheprovider tests/test_podman.py
