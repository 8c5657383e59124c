# Sourced: `apt_ensure PKG...` installs the packages that are not installed yet (apt-get, as root or via sudo).
# `packages_in FILE` prints a package list file's names (comments and blank lines dropped).
apt_ensure() {
    local missing=() pkg
    if ! command -v dpkg-query >/dev/null; then
        echo "not a Debian system: make sure these (or their equivalents) are installed: $*" >&2
        return 0
    fi
    for pkg in "$@"; do
        dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        echo "please install: ${missing[*]}" >&2
        return 1
    fi
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    echo "installing with apt: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

packages_in() {
    sed -e 's/#.*//' "$1" | tr -s ' \t' '\n\n' | sed '/^$/d'
}
