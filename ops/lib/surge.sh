# shellcheck shell=bash
# `ops/citas surge [ARGS]`: builds build/, then runs the opening-day surge harness (loadtest/surge/run) on
# its own PostgreSQL, Redis, peers and citasd in a temporary directory; results under .run/surge/<time>/
# unless --out is given. ARGS go to loadtest/surge/run (--users, --seats, --bot-share, fault modes, ...).
cmd_surge() {
    case "${1:-}" in -h | --help) exec "$REPO/loadtest/surge/run" --help ;; esac
    deps_install
    build_dir build || die "build failed"
    exec "$REPO/loadtest/surge/run" --build "$REPO/build" "$@"
}
