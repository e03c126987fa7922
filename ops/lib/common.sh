# shellcheck shell=bash
# Helpers shared by ops/citas: messages, users, free ports, waiting, pid checks.
# Sourced, never run; expects REPO to be set by the caller.

log() { printf '%s citas: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { printf '%s citas: warning: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf '%s citas: error: %s\n' "$(date +%H:%M:%S)" "$*" >&2
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Seconds since the epoch with decimals, for timings.
now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1fs", b - a }'; }

# A TCP port on 127.0.0.1 that was free a moment ago and that this script has not handed out before.
# The kernel picks it (bind to port 0) when python3 is there (meson needs it, so it is after `deps`);
# otherwise a random port that refuses connections.
PORTS_GIVEN=" "
free_port() {
    local p i
    for _ in $(seq 1 50); do
        if command -v python3 >/dev/null 2>&1; then
            p=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        else
            p=$((20000 + RANDOM % 40000))
            if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
        fi
        case "$PORTS_GIVEN" in *" $p "*) continue ;; esac
        PORTS_GIVEN="$PORTS_GIVEN$p "
        echo "$p"
        return 0
    done
    die "no free TCP port found on 127.0.0.1"
}

# Does 127.0.0.1:$1 accept connections?
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Is $1 a live process whose command line contains $2?
pid_is() {
    local pid=$1 want=$2 cmd
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    case "$cmd" in *"$want"*) return 0 ;; esac
    return 1
}

# Sends SIGTERM to pid $1 (only if its command line still contains $2) and waits up to $3 seconds
# (default 10) for it to go, then SIGKILL.
stop_pid() {
    local pid=$1 want=$2 wait_s=${3:-10}
    pid_is "$pid" "$want" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 $((wait_s * 10))); do
        pid_is "$pid" "$want" || return 0 # gone, or a zombie (empty command line) nobody reaped yet
        sleep 0.1
    done
    warn "$want (pid $pid) ignored SIGTERM for ${wait_s}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# Shell-quoted assignment line for an env file: qassign NAME VALUE.
qassign() { printf '%s=%q\n' "$1" "$2"; }

# The executable $1 built in build dir $2 (searched, since each module's meson.build picks its folder).
find_bin() {
    local name=$1 dir=$2 f
    for f in "$dir/src/citasd/$name" "$dir/src/ctl/$name" "$dir/$name"; do
        [ -x "$f" ] && [ -f "$f" ] && { echo "$f"; return 0; }
    done
    f=$(find "$dir" -maxdepth 4 -type f -name "$name" -perm -u+x 2>/dev/null | head -n 1)
    [ -n "$f" ] && { echo "$f"; return 0; }
    return 1
}
