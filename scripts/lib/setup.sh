# Sourced by scripts/*: make the project runnable on a fresh Debian machine, idempotently.
# Installs Debian packages when missing (as root, or through sudo), creates .venv and installs
# the project into it; does nothing the second time unless pyproject.toml changed.

MM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$MM_ROOT/.venv"

say() { printf '%s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else say "mm setup needs root to run: $*"; say "Run it as root, or install sudo."; return 1
    fi
}

# ensure_debs PKG... : install Debian packages that are not installed yet.
ensure_debs() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "Installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

pick_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    return 1
}

# ensure_env [dev] : the venv with mm installed (and the test/lint tools with "dev").
ensure_env() {
    local extras="${1:-}"
    local py
    if ! py="$(pick_python)"; then
        ensure_debs python3 python3-venv
        py="$(pick_python)" || { say "Python 3.11 or newer is required."; return 1; }
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        if ! "$py" -m venv "$VENV" 2>/dev/null; then
            ensure_debs python3-venv
            rm -rf "$VENV"
            "$py" -m venv "$VENV"
        fi
    fi
    local spec="." stamp="$VENV/.mm-installed"
    [ "$extras" = dev ] && spec=".[dev]" && stamp="$VENV/.mm-installed-dev"
    # the install also compiles the message catalogs (setup.py): a changed .po or a missing .mo
    # (a fresh checkout, `git clean -X`) means installing again
    local want po compiled=yes
    want="$(cat "$MM_ROOT/pyproject.toml" "$MM_ROOT"/mm_tui/locale/*/LC_MESSAGES/mm.po |
        sha256sum | cut -d' ' -f1)"
    for po in "$MM_ROOT"/mm_tui/locale/*/LC_MESSAGES/mm.po; do
        [ -f "${po%.po}.mo" ] || compiled=no
    done
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ "$compiled" = no ]; then
        say "Installing mm and its Python packages into .venv ..."
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
        (cd "$MM_ROOT" && "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
            -e "$spec") >&2
        echo "$want" >"$stamp"
    fi
}

# ensure_npm PKG... : Node packages (test servers such as Azurite) under .cache/node, not globally.
NODE_PREFIX="$MM_ROOT/.cache/node"
ensure_npm() {
    command -v npm >/dev/null 2>&1 || ensure_debs nodejs npm
    local missing=()
    for pkg in "$@"; do
        [ -d "$NODE_PREFIX/node_modules/$pkg" ] || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "Installing Node packages: ${missing[*]}"
    mkdir -p "$NODE_PREFIX"
    npm install --silent --no-fund --no-audit --prefix "$NODE_PREFIX" "${missing[@]}" >/dev/null
}
