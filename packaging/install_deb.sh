#!/usr/bin/env bash
# Build the .deb (or reuse an unchanged one) and install it with apt, which brings every library it
# needs and recommends docker.io. Remove it with: sudo apt remove labdock (notebooks and work folders stay).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
deb="$("$HERE/build_deb.sh" | tail -n 1)"
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
"${sudo[@]}" apt-get update -qq
# apt needs a path with a slash to take a file rather than a package name.
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "$(realpath "$deb")"
echo "Installed: labdock is on your PATH and Labdock is in the applications menu."
