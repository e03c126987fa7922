# shellcheck shell=bash
# Installing what a fresh Debian 12 machine lacks, and building.

# Debian packages the project needs to build, test and run locally.
DEPS_PACKAGES=(
    meson ninja-build pkg-config gcc
    libh2o-evloop-dev liburing-dev libhiredis-dev libpq-dev libcurl4-openssl-dev libssl-dev libsodium-dev libqrencode-dev zlib1g-dev
    postgresql redis-server redis-tools
    curl wrk openssl nghttp2-client ca-certificates python3 gnuplot-nox
    chromium fonts-dejavu-core
)
# Node.js and npm run the browser tests (tests/browser, playwright-core driving Debian's chromium); any node
# >= 18 with its npm on the PATH will do: Debian's nodejs + npm where none is there (a node packaged with its
# own npm conflicts with Debian's npm package, so only commands decide).
command -v node >/dev/null 2>&1 || DEPS_PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || DEPS_PACKAGES+=(npm)

pkg_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# Installs the missing packages with apt-get; does nothing (no apt at all) when everything is there.
deps_install() {
    local missing=() p known=() sudo=()
    command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: ops/citas expects Debian 12"
    for p in "${DEPS_PACKAGES[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        deps_npm
        return
    fi

    if ! is_root; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            die "missing packages: ${missing[*]} (run ops/citas as root, or: sudo apt-get install ${missing[*]})"
        fi
    fi
    log "installing missing packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q || die "apt-get update failed"
    for p in "${missing[@]}"; do
        if apt-cache show --no-all-versions "$p" >/dev/null 2>&1; then
            known+=("$p")
        else
            warn "package $p is not known to apt; skipping it"
        fi
    done
    [ ${#known[@]} -eq 0 ] && return 0
    "${sudo[@]}" apt-get install -y -q "${known[@]}" || die "apt-get install failed"
    deps_npm
}

# The browser tests' npm packages (tests/browser/package-lock.json) into tests/browser/node_modules, with
# `npm ci` when they are missing or differ from the lock; nothing when they match.
deps_npm() {
    local d=$REPO/tests/browser
    [ -f "$d/package-lock.json" ] || return 0
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
        die "node and npm are needed by the browser tests (apt-get install nodejs npm)"
    node "$d/npm-install.js" >&2 || die "npm ci in tests/browser failed"
}

# The newest PostgreSQL server bin directory (initdb, pg_ctl, postgres, psql).
pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/initdb" ] || die "no PostgreSQL server under /usr/lib/postgresql/*/bin"
    echo "$d"
}

# build_dir DIR [meson setup options...]: configures DIR (again each time: the top-level meson.build
# picks modules with fs.exists() at configure time, so a module added since would be missed), builds it.
build_dir() {
    local dir=$1 out
    shift
    out=$(mktemp)
    if [ -f "$dir/meson-private/coredata.dat" ]; then
        meson setup --reconfigure "$dir" "$@" >"$out" 2>&1
    else
        log "meson setup $dir${*:+ $*}"
        meson setup "$dir" "$@" >"$out" 2>&1
    fi || {
        cat "$out" >&2
        rm -f "$out"
        return 1
    }
    rm -f "$out"
    log "building $dir"
    ninja -C "$dir" >&2 || return 1
}
