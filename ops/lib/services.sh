# shellcheck shell=bash
# PostgreSQL, Redis and the TLS certificate for a local run, each under a base directory
# (.run/ for `up`, a temporary directory for `test`). Every start records what it started in globals
# that the caller writes down; every stop acts on exactly that (a data dir, a pid), nothing else.

# ---- PostgreSQL --------------------------------------------------------------------------------------
# initdb and postgres refuse to run as root: as root they run as the `postgres` user (created by
# Debian's postgresql package) on directories it owns; as anyone else, as that user.

pg_user() { if is_root; then echo postgres; else id -un; fi; }

# Runs a command as the PostgreSQL user, from / (its cwd may be unreadable to that user).
pg_run() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@" 8>&- 9>&-)
    else
        (cd / && "$@" 8>&- 9>&-)
    fi
}

# The same, as a shell command line (for CITAS_TEST_PG_RESTART, run by the tests through sh -c).
pg_run_cmdline() {
    local out
    if is_root; then
        printf -v out '%q ' runuser -u postgres -- "$@"
    else
        printf -v out '%q ' "$@"
    fi
    printf 'cd / && %s' "$out"
}

# pg_init BASE: makes BASE/pg (owned by the PostgreSQL user) and a cluster in BASE/pg/data unless one
# is there. Sets PG_DIR, PG_DATA, PG_LOG, PG_SOCK, PG_BIN.
pg_init() {
    local base=$1 user
    PG_BIN=$(pg_bindir)
    user=$(pg_user)
    is_root && { id -u postgres >/dev/null 2>&1 || die "user postgres does not exist (is the postgresql package installed?)"; }
    PG_DIR=$base/pg
    PG_DATA=$PG_DIR/data
    PG_LOG=$PG_DIR/postgres.log
    PG_SOCK=$PG_DIR/sock
    mkdir -p "$PG_DIR"
    if is_root; then
        chown "$user:" "$PG_DIR"
        chmod 755 "$PG_DIR"
    fi
    pg_run test -w "$PG_DIR" ||
        die "$PG_DIR is not writable by user $user (a parent directory not traversable? try: chmod o+x on each parent)"
    pg_run mkdir -p "$PG_SOCK"
    # a unix socket path is limited to 107 bytes
    if [ $((${#PG_SOCK} + 20)) -gt 100 ]; then
        PG_SOCK=$(mktemp -d /tmp/citas-pgsock.XXXXXX)
        chmod 755 "$PG_SOCK"
        is_root && chown "$user:" "$PG_SOCK"
    fi
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        log "initdb $PG_DATA (as $user)"
        # fsync stays on for the server; trust authentication: loopback and our own socket only
        pg_run "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 ||
            { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    fi
}

# pg_start: starts the cluster of pg_init on a free port (a few attempts, ports can be taken in between).
# Sets PG_PORT, PG_PID, PG_OPTS, PG_DSN, PG_RESTART.
pg_start() {
    local attempt
    if pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        warn "a PostgreSQL of an earlier run still uses $PG_DATA (its record is gone): stopping it"
        pg_stop "$PG_DATA" "$PG_BIN"
    fi
    for attempt in 1 2 3; do
        PG_PORT=$(free_port)
        PG_OPTS="-p $PG_PORT -k $PG_SOCK -c listen_addresses=127.0.0.1 -c max_connections=200${PG_EXTRA_OPTS:+ $PG_EXTRA_OPTS}"
        if pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -o "$PG_OPTS" start >/dev/null 2>&1; then
            PG_PID=$(head -n 1 "$PG_DATA/postmaster.pid")
            PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=citas user=postgres"
            PG_RESTART=$(pg_run_cmdline "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -m fast -o "$PG_OPTS" restart)
            log "PostgreSQL up on 127.0.0.1:$PG_PORT (pid $PG_PID, data $PG_DATA)"
            return 0
        fi
        warn "PostgreSQL did not start on port $PG_PORT (attempt $attempt); log:"
        tail -n 5 "$PG_LOG" >&2 || true
    done
    die "PostgreSQL would not start; see $PG_LOG"
}

# psql against the local cluster: pg_psql DB ARGS...
pg_psql() {
    local db=$1
    shift
    PGCONNECT_TIMEOUT=10 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$db" "$@"
}

# pg_createdb NAME [fresh]: creates database NAME unless it exists; with "fresh", drops it first.
pg_createdb() {
    local name=$1
    if [ "${2:-}" = fresh ]; then
        pg_psql postgres -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null
    fi
    if [ -z "$(pg_psql postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]; then
        pg_psql postgres -c "CREATE DATABASE \"$name\"" >/dev/null
    fi
}

# pg_stop DATA [BIN]: stops the cluster in DATA (pg_ctl reads its pid from DATA/postmaster.pid).
pg_stop() {
    local data=$1 bin=${2:-}
    [ -n "$data" ] && [ -f "$data/postmaster.pid" ] || return 0
    [ -n "$bin" ] || bin=$(pg_bindir)
    pg_run "$bin/pg_ctl" -D "$data" -w -t 60 -m fast stop >/dev/null 2>&1 ||
        warn "pg_ctl stop -D $data failed"
}

# ---- Redis -------------------------------------------------------------------------------------------

# redis_start DIR: a redis-server on 127.0.0.1 and a free port, no persistence, daemonized, data and
# log in DIR. Sets REDIS_PORT, REDIS_PID.
redis_start() {
    local dir=$1 attempt
    mkdir -p "$dir"
    for attempt in 1 2 3; do
        REDIS_PORT=$(free_port)
        rm -f "$dir/redis.pid"
        redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$dir" \
            --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" 8>&- 9>&- || true
        for _ in $(seq 1 100); do
            if [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && [ -s "$dir/redis.pid" ]; then
                REDIS_PID=$(cat "$dir/redis.pid")
                log "Redis up on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID)"
                return 0
            fi
            sleep 0.1
        done
        warn "redis-server did not start on port $REDIS_PORT (attempt $attempt); log:"
        tail -n 5 "$dir/redis.log" >&2 || true
        [ -s "$dir/redis.pid" ] && stop_pid "$(cat "$dir/redis.pid")" redis-server
    done
    die "redis-server would not start; see $dir/redis.log"
}

redis_stop() { stop_pid "${1:-}" redis-server 10; }

# ---- audit signing key ----------------------------------------------------------------------------------

# audit_key_make DIR: an Ed25519 key pair for signing the audit chain head, DIR/audit.pem (private, 0600) and
# DIR/audit.pub.pem, made once and kept (a new key would not verify the heads signed with the old one).
audit_key_make() {
    local dir=$1
    mkdir -p "$dir"
    if [ ! -s "$dir/audit.pem" ]; then
        (
            umask 077
            openssl genpkey -algorithm ed25519 -out "$dir/audit.pem" >/dev/null 2>&1
        ) || die "openssl could not make the audit signing key in $dir"
        rm -f "$dir/audit.pub.pem"
    fi
    if [ ! -s "$dir/audit.pub.pem" ]; then
        openssl pkey -in "$dir/audit.pem" -pubout -out "$dir/audit.pub.pem" >/dev/null 2>&1 ||
            die "openssl could not write the audit public key in $dir"
        chmod 644 "$dir/audit.pub.pem"
    fi
}

# ---- TLS certificate ---------------------------------------------------------------------------------

# cert_make DIR: a self-signed certificate for localhost / 127.0.0.1 (ECDSA P-256, one year) in
# DIR/cert.pem and DIR/key.pem, kept while it is valid for another day.
cert_make() {
    local dir=$1
    mkdir -p "$dir"
    if [ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ] &&
        openssl x509 -in "$dir/cert.pem" -noout -checkend 86400 >/dev/null 2>&1; then
        return 0
    fi
    (
        umask 077
        openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 365 \
            -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
    ) || die "openssl could not make a certificate in $dir"
    chmod 644 "$dir/cert.pem"
}
