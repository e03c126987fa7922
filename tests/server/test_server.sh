#!/usr/bin/env bash
# citasd end to end over real sockets: health endpoints, metrics, access log, HTTP/2 over TLS, request
# limits, malformed requests, readiness following Redis, and a graceful SIGTERM with requests in flight.
# Usage: test_server.sh PATH/TO/citasd   (environment: see tests/support/harness.h)
set -u
citasd=$1
: "${CITAS_TEST_PG_DSN:?run the tests with ops/citas test}"
tmp=$(mktemp -d "${CITAS_TEST_TMPDIR:-/tmp}/server.XXXXXX")
pass=0
fail=0
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "${CITAS_TEST_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

check() { # check DESCRIPTION COMMAND...
    local desc=$1
    shift
    if "$@"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $desc" >&2
    fi
}

# A port nobody listens on, below Linux's ephemeral range (32768-60999): there neither the source port of
# another test's outgoing connection nor a port the kernel hands to a bind(0) picker (the C and Python tests'
# free_port) can take it before citasd binds it ("Address already in use", seen once with 46272).
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 12000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

wait_port() { # wait_port PORT: until it accepts, at most 60 s (a sanitizer build on a busy machine is slow)
    for _ in $(seq 1200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

start_redis() {
    redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >/dev/null 2>&1 &
    redis_pid=$!
    pids+=("$redis_pid")
    wait_port "$rport"
}

# --- peers and citasd ---
rport=$(free_port)
hport=$(free_port)
tport=$(free_port)
start_redis
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1
CITAS_LISTEN=127.0.0.1:$hport CITAS_TLS_LISTEN=127.0.0.1:$tport CITAS_TLS_CERT=$tmp/cert.pem \
    CITAS_TLS_KEY=$tmp/key.pem CITAS_WORKERS=2 CITAS_REDIS_PORT=$rport CITAS_PG_DSN=$CITAS_TEST_PG_DSN \
    CITAS_MAX_REQUEST_BODY=1024 CITAS_MAX_REQUEST_HEADERS=4096 CITAS_ACCESS_LOG=$tmp/access.log \
    CITAS_HEALTH_INTERVAL_MS=100 CITAS_REDIS_TIMEOUT_MS=300 CITAS_SHUTDOWN_TIMEOUT_MS=5000 CITAS_BACKGROUND_NICE=5 \
    CITAS_HCAPTCHA_SECRET=0x0000000000000000000000000000000000000000 \
    "$citasd" 2>"$tmp/citasd.err" &
citasd_pid=$!
pids+=("$citasd_pid")
listening=0
wait_port "$hport" && listening=1
[ "$listening" = 1 ] || { echo "citasd did not listen; its stderr:" >&2; cat "$tmp/citasd.err" >&2; }
check "citasd listens" [ "$listening" = 1 ]
base=http://127.0.0.1:$hport

status_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# --- health, readiness, metrics ---
check "healthz answers 200" [ "$(status_of "$base/healthz")" = 200 ]
check "healthz body" [ "$(curl -s "$base/healthz")" = '{"status":"ok"}' ]
ready() { [ "$(status_of "$base/readyz")" = 200 ]; }
wait_ready() {
    for _ in $(seq 100); do ready && return 0; sleep 0.1; done
    return 1
}
check "readyz turns 200 with Redis and PostgreSQL up" wait_ready
check "readyz lists every worker" [ "$(curl -s "$base/readyz" | grep -o '"redis":true,"pg":true' | wc -l)" = 3 ]
check "readyz marks the background worker" grep -q '"worker":2,"background":true,"redis":true' <(curl -s "$base/readyz")
# the background worker's thread runs at background_nice (5 here); the others at 0
nices=$(ps -L -o nice= -p "$citasd_pid" | tr -d ' ' | sort | uniq -c | tr -s ' ' | tr '\n' ';')
check "one thread at background_nice 5 ($nices)" [ "$(ps -L -o nice= -p "$citasd_pid" | tr -d ' ' | grep -c '^5$')" = 1 ]
metrics=$(curl -s "$base/metrics")
check "metrics count healthz by status" grep -q '^citas_http_requests_total{route="healthz",status="200"} [1-9]' <<<"$metrics"
check "metrics have a latency histogram" grep -q '^citas_http_request_duration_seconds_bucket{route="healthz",le="+Inf"} [1-9]' <<<"$metrics"
check "metrics have backend errors" grep -q '^citas_backend_errors_total{backend="redis"} ' <<<"$metrics"
check "metrics have in-flight backend calls" grep -q '^citas_backend_inflight{backend="pg"} ' <<<"$metrics"
# the health checks' PING and SELECT 1 were queued and submitted at least once on each worker
check "metrics have the ring's queue waits" grep -q '^citas_loop_queued_seconds_count [1-9]' <<<"$metrics"
check "metrics have the ring's pokes" grep -q '^citas_loop_pokes_total [0-9]' <<<"$metrics"
check "metrics have the loop's busy turns" grep -q '^citas_loop_turn_seconds_count [1-9]' <<<"$metrics"
check "metrics content type" grep -qi '^content-type: text/plain; version=0.0.4' <(curl -sI "$base/metrics")
check "HEAD is served" [ "$(curl -s -o /dev/null -w '%{http_code}' -I "$base/healthz")" = 200 ]
sleep 0.2
check "access log records requests" grep -q '"GET /healthz HTTP/1.1" 200' "$tmp/access.log"

# --- HTTP/2 over TLS ---
check "HTTP/2 over TLS" [ "$(curl -sk --http2 -o /dev/null -w '%{http_version} %{http_code}' "https://127.0.0.1:$tport/healthz")" = "2 200" ]
check "HTTP/1.1 over TLS" [ "$(curl -sk --http1.1 -o /dev/null -w '%{http_version} %{http_code}' "https://127.0.0.1:$tport/healthz")" = "1.1 200" ]

# --- errors: unknown routes, limits, malformed requests ---
check "unknown path is 404" [ "$(status_of "$base/nope")" = 404 ]
check "404 is problem+json" grep -qi '^content-type: application/problem+json' <(curl -s -D - -o /dev/null "$base/nope")
check "404 body has a status" grep -q '"status":404' <(curl -s "$base/nope")
check "wrong method is 405" [ "$(status_of -X DELETE "$base/healthz")" = 405 ]
head -c 4096 /dev/zero >"$tmp/big"
check "oversize body is 413" [ "$(status_of -X POST --data-binary @"$tmp/big" "$base/healthz")" = 413 ]
check "oversize body over HTTP/2 is 413" [ "$(curl -sk --http2 -o /dev/null -w '%{http_code}' -X POST --data-binary @"$tmp/big" "https://127.0.0.1:$tport/healthz")" = 413 ]
big_header=$(head -c 6000 /dev/zero | tr '\0' a)
check "oversize headers are 431" [ "$(status_of -H "X-Big: $big_header" "$base/healthz")" = 431 ]
raw() { # raw BYTES: send them on a new connection, print the status line of the answer
    exec {fd}<>"/dev/tcp/127.0.0.1/$hport"
    printf '%b' "$1" >&"$fd"
    timeout 5 head -n 1 <&"$fd" | tr -d '\r'
    exec {fd}>&-
}
check "garbage request line is 400" [ "$(raw 'GARBAGE\r\n\r\n' | cut -d' ' -f2)" = 400 ]
check "bad header line is 400" [ "$(raw 'GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n' | cut -d' ' -f2)" = 400 ]
check "bad content-length is 400" [ "$(raw 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n' | cut -d' ' -f2)" = 400 ]
check "relative target is 400" [ "$(raw 'GET healthz HTTP/1.1\r\nHost: x\r\n\r\n' | cut -d' ' -f2)" = 400 ]
check "still healthy after bad input" [ "$(status_of "$base/healthz")" = 200 ]

# --- readiness follows Redis ---
kill -KILL "$redis_pid"
wait "$redis_pid" 2>/dev/null
not_ready() {
    for _ in $(seq 100); do [ "$(status_of "$base/readyz")" = 503 ] && return 0; sleep 0.1; done
    return 1
}
check "readyz is 503 with Redis down" not_ready
check "readyz 503 names the failing backend" grep -q '"redis":false' <(curl -s "$base/readyz")
check "healthz stays 200 with Redis down" [ "$(status_of "$base/healthz")" = 200 ]
start_redis
check "readyz recovers after Redis restarts" wait_ready

# --- graceful shutdown: requests in flight at SIGTERM are answered ---
# an idle keep-alive connection (one request answered, then silent) must not hold the shutdown back
exec {idle}<>"/dev/tcp/127.0.0.1/$hport"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >&"$idle"
check "keep-alive connection answered before SIGTERM" [ "$(timeout 5 head -n 1 <&"$idle" | tr -d '\r' | cut -d' ' -f2)" = 200 ]
fds=()
for i in $(seq 8); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$hport"
    printf 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345' >&"$fd"
    fds+=("$fd")
done
# an HTTP/2 request whose body is still arriving (900 bytes at 600 bytes/s)
head -c 900 /dev/zero >"$tmp/slow"
curl -sk --http2 --limit-rate 600 -o /dev/null -w '%{http_code}' -X POST --data-binary @"$tmp/slow" \
    -H 'Expect:' "https://127.0.0.1:$tport/healthz" >"$tmp/h2.out" 2>/dev/null &
h2_pid=$!
sleep 0.3
kill -TERM "$citasd_pid"
sleep 0.5
check "citasd still runs while requests are in flight" kill -0 "$citasd_pid"
check "no new connections after SIGTERM" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$hport) 2>/dev/null"
answered=0
for fd in "${fds[@]}"; do
    printf '67890' >&"$fd"
    line=$(timeout 5 head -n 1 <&"$fd" | tr -d '\r')
    [ "${line%% *}" = HTTP/1.1 ] && [ "$(cut -d' ' -f2 <<<"$line")" = 405 ] && answered=$((answered + 1))
    exec {fd}>&-
done
check "every in-flight HTTP/1.1 request was answered (8)" [ "$answered" = 8 ]
wait "$h2_pid"
check "the in-flight HTTP/2 request was answered" [ "$(cat "$tmp/h2.out")" = 405 ]
exited=1
for _ in $(seq 100); do kill -0 "$citasd_pid" 2>/dev/null || { exited=0; break; }; sleep 0.1; done
check "citasd exits after the in-flight requests" [ "$exited" = 0 ]
wait "$citasd_pid"
check "citasd exit status is 0" [ "$?" = 0 ]
check "citasd logged the graceful stop" grep -q 'citasd: stopped' "$tmp/citasd.err"
check "no connection was cut at the shutdown deadline (idle keep-alive closed early)" \
    bash -c "! grep -q 'still open at the shutdown deadline' '$tmp/citasd.err'"
exec {idle}>&-

echo "server: $pass passed, $fail failed"
[ "$fail" = 0 ]
