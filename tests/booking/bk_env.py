"""Shared set-up for the booking tests (Python 3 standard library only).

Real servers throughout: a private redis-server, the suite's PostgreSQL (CITAS_TEST_PG_DSN, through psql),
citasd itself, and a tiny siteverify stand-in (responses starting with "pass" verify, like
loadtest/peers/siteverify-stub, which tests cannot depend on because loadtest/ is built after tests/).

Accounts and sessions are created directly (SQL + Redis, exactly in auth's format: hash
citas:auth:s:<sha256(token)> = {created, account, role, office, csrf} with a TTL; see src/auth/session.c)
because logging 2,000 citizens in through the real flow (password hash + emailed code) would take minutes.
"""
import asyncio
import hashlib
import http.client
import http.server
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from citas_test import free_port, wait_port  # noqa: E402  (re-exported: the tests import them from here)


class Checks:
    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL: %s" % what, flush=True)
        return cond

    def eq(self, got, want, what):
        return self.check(got == want, "%s: got %r, want %r" % (what, got, want))

    def finish(self):
        print("%s: %d passed, %d failed" % (self.name, self.passed, self.failed), flush=True)
        return 0 if self.failed == 0 and self.passed > 0 else 1


class Redis:
    """A minimal RESP client."""

    def __init__(self, port):
        self.port = port
        self.sock = None

    def _conn(self):
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            self.f = self.sock.makefile("rb")
        return self.sock

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @staticmethod
    def _enc(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("redis closed")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise ValueError("bad RESP")

    def pipeline(self, cmds):
        try:
            self._conn().sendall(b"".join(self._enc(c) for c in cmds))
            return [self._read() for _ in cmds]
        except (OSError, ConnectionError):
            self.close()
            raise

    def __call__(self, *args):
        r = self.pipeline([args])[0]
        if isinstance(r, RuntimeError):
            raise r
        return r


def psql(sql, *params):
    """Runs sql with psql -v params (:'p1'...) and returns rows as lists of strings."""
    dsn = os.environ["CITAS_TEST_PG_DSN"]
    args = ["psql", dsn, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    for i, p in enumerate(params):
        args += ["-v", "p%d=%s" % (i + 1, p)]
    r = subprocess.run(args, input=sql, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("psql: %s" % r.stderr.strip())
    return [line.split("\t") for line in r.stdout.splitlines() if line != ""]


class Siteverify(http.server.BaseHTTPRequestHandler):
    seen = []  # every response asked about, in order (all tests of a process share it)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        form = dict(kv.split("=", 1) for kv in body.split("&") if "=" in kv)
        Siteverify.seen.append(form.get("response", ""))
        ok = form.get("response", "").startswith("pass")
        out = json.dumps({"success": ok, "hostname": "localhost", "challenge_ts": "2026-01-01T00:00:00Z",
                          "error-codes": [] if ok else ["invalid-input-response"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


class Env:
    """One test's servers: redis-server, siteverify stand-in, citasd (restartable)."""

    def __init__(self, citasd, citasctl, tag, hold_ttl_ms=30000, workers=2, extra=None):
        self.citasd, self.citasctl, self.tag = citasd, citasctl, tag
        self.tmp = os.environ.get("CITAS_TEST_TMPDIR", "/tmp")
        self.rport = free_port()
        self.redis_proc = None
        self.start_redis()
        self.redis = Redis(self.rport)
        self.sv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Siteverify)
        threading.Thread(target=self.sv.serve_forever, daemon=True).start()
        self.port = free_port()
        self.proc = None
        self.env = dict(os.environ)
        self.env.update({
            "CITAS_LISTEN": "127.0.0.1:%d" % self.port, "CITAS_TLS_LISTEN": "", "CITAS_WORKERS": str(workers),
            "CITAS_REDIS_HOST": "127.0.0.1", "CITAS_REDIS_PORT": str(self.rport),
            "CITAS_PG_DSN": os.environ["CITAS_TEST_PG_DSN"], "CITAS_ACCESS_LOG": "",
            "CITAS_HCAPTCHA_SITEVERIFY_URL": "http://127.0.0.1:%d/siteverify" % self.sv.server_address[1],
            "CITAS_HCAPTCHA_SECRET": "0x0000000000000000000000000000000000000000",
            "CITAS_HCAPTCHA_SITEKEY": "", "CITAS_HCAPTCHA_HOSTNAME": "",
            "CITAS_CAPTCHA_ACTIONS": "register,login,booking", "CITAS_RATE_LIMITS": "",
            "CITAS_BOOKING_HOLD_TTL_MS": str(hold_ttl_ms), "CITAS_REDIS_TIMEOUT_MS": "1000",
            "CITAS_PG_TIMEOUT_MS": "3000", "CITAS_HEALTH_INTERVAL_MS": "200", "CITAS_PG_POOL_SIZE": "4",
            "CITAS_SHUTDOWN_TIMEOUT_MS": "2000",
        })
        self.env.update(extra or {})
        self.log = open(os.path.join(self.tmp, "citasd-%s.log" % tag), "ab")

    # --- processes ---
    def start_redis(self):
        self.redis_proc = subprocess.Popen(
            ["redis-server", "--port", str(self.rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.rport):
            raise RuntimeError("redis-server did not start")

    def stop_redis(self):
        self.redis.close()
        self.redis_proc.kill()
        self.redis_proc.wait()

    def start(self, wait_rebuild=True):
        self.proc = subprocess.Popen([self.citasd], env=self.env, stdout=self.log, stderr=self.log)
        if not wait_port(self.port):
            raise RuntimeError("citasd did not start (see citasd-%s.log)" % self.tag)
        if wait_rebuild:  # worker 0 rebuilds Redis from PostgreSQL at start-up: wait for its marker
            end = time.time() + 30
            while time.time() < end and not self._rebuilt_in_log():
                time.sleep(0.05)

    def _rebuilt_in_log(self):
        path = os.path.join(self.tmp, "citasd-%s.log" % self.tag)
        with open(path, "rb") as f:
            data = f.read()
        n = data.count(b"Redis rebuilt from PostgreSQL")
        if n > getattr(self, "_rebuilds_seen", 0):
            self._rebuilds_seen = n
            return True
        return False

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self):
        self.stop()
        self.sv.shutdown()
        self.redis.close()
        if self.redis_proc is not None:
            self.redis_proc.kill()
            self.redis_proc.wait()

    def rebuild(self, office=None):
        args = [self.citasctl, "rebuild-redis", "--redis", "127.0.0.1:%d" % self.rport]
        if office:
            args += ["--office", office]
        env = dict(os.environ, CITAS_PG_DSN=os.environ["CITAS_TEST_PG_DSN"])
        env.pop("CITAS_REDIS_HOST", None)
        env.pop("CITAS_REDIS_PORT", None)
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)

    # --- data ---
    def office(self, code, tz, name="Oficina de pruebas"):
        psql("INSERT INTO offices (code, kind, name_es, name_en, city, country, country_name_es, country_name_en, "
             "time_zone, address) VALUES (:'p1', 'consulate', :'p3', 'Test office', 'Testville', 'US', "
             "'Estados Unidos', 'United States', :'p2', 'Calle Falsa 123, Testville') ON CONFLICT DO NOTHING",
             code, tz, name)

    def window(self, office, procedure, local_starts, capacity, release_in_s=-60, state="open", minutes=30):
        """A window with slots at the given office-local wall times ('2030-03-10 09:00'); returns slot ids."""
        rows = psql(
            "WITH w AS (INSERT INTO calendar_windows (office_code, procedure_code, first_day, last_day, "
            "slot_minutes, seats_per_slot, release_at, state) "
            "SELECT :'p1', :'p2', min(t::date), max(t::date), :'p7'::int, :'p4'::int, "
            "now() + make_interval(secs => :'p5'::int), :'p6' FROM unnest(string_to_array(:'p3', ',')::timestamp[]) t "
            "RETURNING id) "
            "INSERT INTO slots (window_id, office_code, procedure_code, starts_at, local_start, capacity) "
            "SELECT w.id, :'p1', :'p2', t AT TIME ZONE o.time_zone, t, :'p4'::int FROM w, offices o, "
            "unnest(string_to_array(:'p3', ',')::timestamp[]) t WHERE o.code = :'p1' RETURNING id",
            office, procedure, ",".join(local_starts), capacity, release_in_s, state, minutes)
        return [int(r[0]) for r in rows]

    def citizens(self, n, prefix):
        """n verified citizens with consular-ID documents; returns [(account_id, doc_number)]."""
        rows = psql(
            "INSERT INTO accounts (email, password_hash, full_name, doc_type, doc_number, lang, role, verified_at) "
            "SELECT lower(:'p1') || g || '@example.com', '$argon2id$test', 'Ciudadano ' || g, 'consular_id', "
            ":'p1' || lpad(g::text, 6, '0'), 'es', 'citizen', now() FROM generate_series(1, :'p2'::int) g "
            "RETURNING id, doc_number", prefix, n)
        return [(int(r[0]), r[1]) for r in rows]

    def staff(self, prefix, role, office):
        rows = psql("INSERT INTO accounts (email, password_hash, full_name, role, office_code, verified_at) "
                    "VALUES (lower(:'p1') || '@staff.example.com', '$argon2id$test', 'Staff', :'p2', "
                    "nullif(:'p3', ''), now()) RETURNING id", prefix, role, office or "")
        return int(rows[0][0])

    def sessions(self, accounts, role="citizen", office=""):
        """Sessions in auth's format; returns [(token, csrf)] in the order of accounts."""
        out, cmds = [], []
        now = str(int(time.time() * 1000))
        for acct in accounts:
            token, csrf = secrets.token_hex(32), secrets.token_hex(32)
            key = "citas:auth:s:" + hashlib.sha256(token.encode()).hexdigest()
            cmds.append(("HSET", key, "created", now, "account", str(acct), "role", role, "office", office,
                         "csrf", csrf))
            cmds.append(("PEXPIRE", key, "3600000"))
            out.append((token, csrf))
        for i in range(0, len(cmds), 1000):
            self.redis.pipeline(cmds[i:i + 1000])
        return out

    # --- HTTP ---
    def http(self, method, path, body=None, sess=None, headers=None, raw=False):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if sess is not None:
            h["Cookie"] = "citas_session=" + sess[0]
            h["X-CSRF-Token"] = sess[1]
        data = None
        if body is not None:
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        payload = r.read()
        c.close()
        if raw:
            return r.status, dict(r.getheaders()), payload
        try:
            return r.status, dict(r.getheaders()), json.loads(payload) if payload else None
        except ValueError:
            return r.status, dict(r.getheaders()), payload

    def book(self, sess, slot, procedure, captcha=None, office=None):
        body = {"slot": slot, "procedure": procedure, "captcha": captcha or "pass-" + secrets.token_hex(8)}
        if office:
            body["office"] = office
        return self.http("POST", "/api/v1/appointments", body, sess)

    # --- Redis state of an office, for comparisons ---
    def snapshot(self, office, slots, procedure):
        cmds = []
        for s in slots:
            cmds.append(("SMEMBERS", "cal:{%s}:free:%d" % (office, s)))
            cmds.append(("HGETALL", "cal:{%s}:slot:%d" % (office, s)))
        cmds.append(("ZRANGE", "cal:{%s}:proc:%s" % (office, procedure), "0", "-1", "WITHSCORES"))
        r = self.redis.pipeline(cmds)
        out = {}
        for i, s in enumerate(slots):
            out["free:%d" % s] = sorted(r[2 * i], key=int)
            out["slot:%d" % s] = dict(zip(r[2 * i + 1][::2], r[2 * i + 1][1::2]))
        out["proc"] = r[-1]
        return out


async def _one(port, req):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(req)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        n = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":", 1)[1])
        body = await reader.readexactly(n) if n else b""
        writer.close()
        return status, body
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        return -1, str(e).encode()


def burst(port, requests, ready_all=True):
    """Sends every (method, path, body, sess) at once over its own connection; returns [(status, json)]."""
    def fmt(method, path, body, sess):
        data = json.dumps(body).encode() if body is not None else b""
        h = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n" \
            "Content-Length: %d\r\n" % (method, path, len(data))
        if sess:
            h += "Cookie: citas_session=%s\r\nX-CSRF-Token: %s\r\n" % sess
        return h.encode() + b"\r\n" + data

    async def run():
        return await asyncio.gather(*(_one(port, fmt(*r)) for r in requests))

    res = asyncio.run(run())
    out = []
    for st, body in res:
        try:
            out.append((st, json.loads(body) if body else None))
        except ValueError:
            out.append((st, body))
    return out
