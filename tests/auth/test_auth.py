#!/usr/bin/env python3
"""End-to-end test of accounts and sessions through HTTP.

Usage: test_auth.py CITASD CITASCTL SMTP_SINK SITEVERIFY_STUB
Environment (ops/citas test): CITAS_TEST_PG_DSN (migrated), CITAS_TEST_REDIS_PORT, CITAS_TEST_TMPDIR,
optionally CITAS_TEST_TLS_CERT/KEY.

Starts its own smtp-sink, siteverify stub and two citasd instances (A: normal timeouts and a rate limit
to trip; B: short code and session timeouts) sharing the same PostgreSQL and Redis, so that a session or
a login attempt made on one instance is valid on the other. Codes are read only from the mail stored by
the SMTP sink.
"""
import http.client
import json
import os
import random
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from citas_test import Mailbox, check, failed, finish, free_port, wait_port  # noqa: E402


# --- identities -----------------------------------------------------------------------------------------
CURP_ALPHABET = "0123456789ABCDEFGHIJKLMN\u00d1OPQRSTUVWXYZ"
STATES = ["AS", "BC", "BS", "CC", "CL", "CM", "CS", "CH", "DF", "DG", "GT", "GR", "HG", "JC", "MC", "MN",
          "MS", "NT", "NL", "OC", "PL", "QT", "QR", "SP", "SL", "SR", "TC", "TS", "TL", "VZ", "YN", "ZS", "NE"]
CONSONANTS = "BCDFGHJKLMNPQRSTVWXYZ"


def curp_check_digit(first17):
    s = sum(CURP_ALPHABET.index(c) * (18 - i) for i, c in enumerate(first17))
    return str((10 - s % 10) % 10)


def new_curp():
    r = random.SystemRandom()
    letters = "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
    date = "%02d%02d%02d" % (r.randint(40, 99), r.randint(1, 12), r.randint(1, 28))
    body = (letters + date + r.choice("HM") + r.choice(STATES) + "".join(r.choice(CONSONANTS) for _ in range(3))
            + r.choice("0123456789"))
    return body + curp_check_digit(body)


RUN = secrets.token_hex(4)
_n = 0


def new_email(tag="u"):
    global _n
    _n += 1
    return "%s-%s-%d@example.org" % (tag, RUN, _n)


def captcha():
    return "pass-" + secrets.token_hex(8)


# --- HTTP ------------------------------------------------------------------------------------------------
class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def headers_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


class Client:
    """One user agent: a cookie jar holding citas_session, and the CSRF token it was given."""

    def __init__(self, port, tls=False):
        self.port = port
        self.tls = tls
        self.cookie = None
        self.csrf = None
        self.last_set_cookie = None

    def request(self, method, path, body=None, raw=None, headers=None, ctype="application/json", csrf=None,
                port=None, timeout=30):
        p = port or self.port
        if self.tls:
            conn = http.client.HTTPSConnection("127.0.0.1", p, timeout=timeout,
                                               context=ssl._create_unverified_context())
        else:
            conn = http.client.HTTPConnection("127.0.0.1", p, timeout=timeout)
        h = dict(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None and ctype:
            h["Content-Type"] = ctype
        if self.cookie:
            h["Cookie"] = "citas_session=" + self.cookie
        if csrf:
            h["X-CSRF-Token"] = csrf
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        resp = Resp(r.status, r.getheaders(), r.read())
        conn.close()
        for sc in resp.headers_all("set-cookie"):
            self.last_set_cookie = sc
            m = re.match(r"citas_session=([^;]*)", sc)
            if m:
                self.cookie = m.group(1) or None
                if "Max-Age=0" in sc:
                    self.cookie = None
        return resp


# --- processes -------------------------------------------------------------------------------------------
class Procs:
    def __init__(self):
        self.procs = []

    def start(self, argv, env=None, log=None):
        out = open(log, "ab") if log else subprocess.DEVNULL
        p = subprocess.Popen(argv, env=env, stdout=out, stderr=out)
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)


def main():
    citasd, citasctl, smtp_sink, stub = sys.argv[1:5]
    dsn = os.environ["CITAS_TEST_PG_DSN"]
    redis_port = os.environ["CITAS_TEST_REDIS_PORT"]
    tmp = tempfile.mkdtemp(prefix="auth.", dir=os.environ.get("CITAS_TEST_TMPDIR", "/tmp"))
    maildir = os.path.join(tmp, "mail")
    os.mkdir(maildir)
    procs = Procs()
    try:
        run(procs, tmp, maildir, citasd, citasctl, smtp_sink, stub, dsn, redis_port)
    finally:
        procs.stop_all()
        if failed() == 0 and not os.environ.get("CITAS_TEST_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
    return finish("auth")


def start_stub(procs, stub, port, tmp, delay=0):
    argv = [stub, "--port", str(port)]
    if delay:
        argv += ["--delay-ms", str(delay)]
    p = procs.start(argv, log=os.path.join(tmp, "stub.log"))
    wait_port(port)
    return p


def citasd_env(base, **kw):
    env = dict(base)
    for k, v in kw.items():
        env["CITAS_" + k.upper()] = str(v)
    return env


def run(procs, tmp, maildir, citasd, citasctl, smtp_sink, stub, dsn, redis_port):
    smtp_port, stub_port, a_port, b_port = free_port(), free_port(), free_port(), free_port()
    procs.start([smtp_sink, "--port", str(smtp_port), "--dir", maildir], log=os.path.join(tmp, "smtp.log"))
    check("smtp-sink listens", wait_port(smtp_port))
    stub_proc = start_stub(procs, stub, stub_port, tmp)
    smtp_url = "smtp://127.0.0.1:%d" % smtp_port
    common = citasd_env(
        os.environ, workers=1, redis_port=redis_port, pg_dsn=dsn, access_log="", health_interval_ms=200,
        hcaptcha_siteverify_url="http://127.0.0.1:%d/siteverify" % stub_port,
        hcaptcha_secret="0x0000000000000000000000000000000000000000", hcaptcha_timeout_ms=1000,
        captcha_actions="register,login",
        rate_limits="login:account=3/30,register:ip=10000/60,login:ip=10000/60,login_code:ip=10000/60",
        # the mail module's sender
        smtp_url=smtp_url, smtp_starttls="none", mail_poll_ms=50,
        auth_hash_threads=1, auth_pwhash_opslimit=3, auth_pwhash_memlimit_kib=131072)
    tls_port = None
    env_a = citasd_env(common, listen="127.0.0.1:%d" % a_port)
    if os.environ.get("CITAS_TEST_TLS_CERT") and os.environ.get("CITAS_TEST_TLS_KEY"):
        tls_port = free_port()
        env_a = citasd_env(env_a, tls_listen="127.0.0.1:%d" % tls_port,
                           tls_cert=os.environ["CITAS_TEST_TLS_CERT"], tls_key=os.environ["CITAS_TEST_TLS_KEY"])
    # A runs its mail sender on the background worker (the default), B on worker 0; they share the outbox
    env_b = citasd_env(common, listen="127.0.0.1:%d" % b_port, background_worker=0, auth_code_ttl_s=3,
                       auth_session_idle_s=3,
                       auth_session_absolute_s=6, auth_pwhash_opslimit=1, auth_pwhash_memlimit_kib=8192)
    a_proc = procs.start([citasd], env=env_a, log=os.path.join(tmp, "citasd-a.log"))
    b_proc = procs.start([citasd], env=env_b, log=os.path.join(tmp, "citasd-b.log"))
    if not check("citasd A listens", wait_port(a_port)) or not check("citasd B listens", wait_port(b_port)):
        return
    mail = Mailbox(maildir)
    ctx = {"a": a_port, "b": b_port, "tls": tls_port, "mail": mail, "tmp": tmp, "citasctl": citasctl,
           "dsn": dsn, "stub_port": stub_port, "redis_port": redis_port}

    test_happy_path(ctx)
    test_duplicates(ctx)
    test_enumeration(ctx)
    test_codes(ctx)
    test_bad_input(ctx)
    test_stored_safely(ctx)
    test_staff(ctx)
    test_serving_while_hashing(ctx)
    test_timeouts(ctx)
    test_rate_limits(ctx)
    if tls_port:
        test_tls_cookie(ctx)
    stub_proc = test_captcha(ctx, procs, stub_proc, stub, stub_port, tmp)
    test_admission(ctx, procs, common, citasd, stub, tmp)
    check("citasd A still runs", a_proc.poll() is None)
    # a graceful stop with status 0 (sanitizer builds exit non-zero on a leak or error report)
    for name, p in (("A", a_proc), ("B", b_proc)):
        procs.stop(p)
        check("citasd %s stops cleanly (status %s)" % (name, p.returncode), p.returncode == 0)


# --- helpers over the API --------------------------------------------------------------------------------
def register(c, email_addr, password="correct horse battery", name="Ana López", doc=None, lang="es",
             **extra):
    body = {"email": email_addr, "password": password, "full_name": name,
            "document": doc or {"type": "curp", "number": new_curp()}, "lang": lang, "captcha": captcha()}
    for k, v in extra.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return c.request("POST", "/api/v1/accounts", body)


def verified_account(ctx, port=None, **kw):
    """Registers and verifies a new citizen; returns (email, password)."""
    c = Client(port or ctx["a"])
    addr = new_email(kw.pop("tag", "v"))
    pw = kw.pop("password", "correct horse battery")
    r = register(c, addr, password=pw, **kw)
    check("registration of %s is 201 (%s)" % (addr, r.body[:200]), r.status == 201)
    code = ctx["mail"].wait_code(addr, "verify_code", 1)
    r = c.request("POST", "/api/v1/accounts/verify", {"email": addr, "code": code or "000000"})
    check("verification of %s is 200" % addr, r.status == 200)
    return addr, pw


def login(ctx, c, addr, pw, nth_code=1, port=None):
    """Both steps; returns the final response (the client keeps the cookie and csrf)."""
    r = c.request("POST", "/api/v1/sessions", {"email": addr, "password": pw, "captcha": captcha()}, port=port)
    if not check("login of %s is 200 (%d %s)" % (addr, r.status, r.body[:200]), r.status == 200):
        return r
    code = ctx["mail"].wait_code(addr, "login_code", nth_code)
    check("a login code was mailed to %s" % addr, code is not None)
    r = c.request("POST", "/api/v1/sessions/code", {"login_id": r.json["login_id"], "code": code or ""}, port=port)
    if r.status == 200:
        c.csrf = r.json.get("csrf_token")
    return r


def is_problem(r, status):
    return (r.status == status and (r.header("content-type") or "").startswith("application/problem+json")
            and r.json is not None and r.json.get("status") == status and bool(r.json.get("detail")))


# --- the tests -------------------------------------------------------------------------------------------
def test_happy_path(ctx):
    c = Client(ctx["a"])
    mail = ctx["mail"]
    addr = new_email("happy")
    curp = new_curp()
    r = register(c, addr, doc={"type": "curp", "number": curp.lower()}, lang="en")
    check("register: 201", r.status == 201)
    check("register: answer says unverified", r.json is not None and r.json.get("verified") is False)
    code1 = mail.wait_code(addr, "verify_code", 1)
    check("register: a verification code arrives by mail", code1 is not None)

    r = c.request("POST", "/api/v1/sessions", {"email": addr, "password": "correct horse battery",
                                               "captcha": captcha()})
    check("login before verification: 403 problem", is_problem(r, 403))
    check("login before verification: says not verified", r.json and "not verified" in r.json["title"].lower())
    code2 = mail.wait_code(addr, "verify_code", 2)
    check("login before verification re-sends a verification code", code2 is not None)

    wrong = "%06d" % ((int(code2) + 1) % 1000000)
    r = c.request("POST", "/api/v1/accounts/verify", {"email": addr, "code": wrong})
    check("verify with a wrong code: 400", is_problem(r, 400))
    if code1 != code2:
        r = c.request("POST", "/api/v1/accounts/verify", {"email": addr, "code": code1})
        check("verify with the replaced code: 400", is_problem(r, 400))
    r = c.request("POST", "/api/v1/accounts/verify", {"email": addr.upper(), "code": code2})
    check("verify with the code (email in other case): 200", r.status == 200 and r.json["verified"] is True)
    r = c.request("POST", "/api/v1/accounts/verify", {"email": addr, "code": code2})
    check("verify again with the same code: 400", is_problem(r, 400))

    r = c.request("GET", "/api/v1/me")
    check("me without a session: 401", is_problem(r, 401))

    r = c.request("POST", "/api/v1/sessions", {"email": addr, "password": "correct horse battery",
                                               "captcha": captcha()})
    check("login step 1: 200 with a login_id", r.status == 200 and len(r.json.get("login_id", "")) == 32)
    check("login step 1 sets no cookie", r.header("set-cookie") is None)
    login_id = r.json["login_id"]
    # the password step leaves the citizen's document, email, language and name where booking looks first
    # (Redis bk:acct:<id>, with booking's TTL): the first booking attempt needs no PostgreSQL look-up
    acct = subprocess.run(["psql", ctx["dsn"], "-Atc", "SELECT id FROM accounts WHERE email = '%s'" % addr],
                          capture_output=True, text=True).stdout.strip()
    cli = ["redis-cli", "-p", str(ctx["redis_port"])]
    cached = subprocess.run(cli + ["HGETALL", "bk:acct:" + acct], capture_output=True, text=True).stdout.splitlines()
    cached = dict(zip(cached[0::2], cached[1::2]))
    check("login primes booking's account cache: %r" % cached,
          cached.get("dt") == "curp" and cached.get("dn") == curp and cached.get("email") == addr
          and cached.get("lang") == "en")
    ttl = subprocess.run(cli + ["TTL", "bk:acct:" + acct], capture_output=True, text=True).stdout.strip()
    check("the primed entry expires (TTL %s s)" % ttl, ttl.lstrip("-").isdigit() and 0 < int(ttl) <= 300)
    code = mail.wait_code(addr, "login_code", 1)
    check("login code mailed", code is not None)
    r = c.request("POST", "/api/v1/sessions/code", {"login_id": login_id, "code": code})
    check("login step 2: 200", r.status == 200)
    sc = r.header("set-cookie") or ""
    check("cookie is citas_session with 64 hex", re.match(r"citas_session=[0-9a-f]{64};", sc) is not None)
    check("cookie is HttpOnly", "HttpOnly" in sc)
    check("cookie is SameSite=Lax", "SameSite=Lax" in sc)
    check("cookie has Path=/", "Path=/" in sc)
    check("cookie over plain HTTP is not Secure", "Secure" not in sc)
    check("login returns a csrf token", re.fullmatch(r"[0-9a-f]{64}", r.json.get("csrf_token", "")) is not None)
    check("login returns the role", r.json.get("role") == "citizen")
    c.csrf = r.json["csrf_token"]
    r = c.request("POST", "/api/v1/sessions/code", {"login_id": login_id, "code": code})
    check("the same code again: 401", is_problem(r, 401))

    r = c.request("GET", "/api/v1/me")
    check("me: 200", r.status == 200)
    me = r.json or {}
    check("me: email", me.get("email") == addr)
    check("me: full_name", me.get("full_name") == "Ana López")
    check("me: document normalised", me.get("document") == {"type": "curp", "number": curp})
    check("me: lang", me.get("lang") == "en")
    check("me: verified", me.get("verified") is True)
    check("me: role", me.get("role") == "citizen" and me.get("office") is None)
    check("me: csrf token equals the login's", me.get("csrf_token") == c.csrf)
    check("me: no password hash", "password" not in r.body.decode() and "argon2" not in r.body.decode())

    r = c.request("GET", "/api/v1/me", port=ctx["b"])
    check("the session works on the other citasd instance", r.status == 200)

    r = c.request("DELETE", "/api/v1/sessions")
    check("logout without CSRF token: 403", is_problem(r, 403))
    r = c.request("DELETE", "/api/v1/sessions", csrf="0" * 64)
    check("logout with a wrong CSRF token: 403", is_problem(r, 403))
    r = c.request("DELETE", "/api/v1/sessions", csrf=c.csrf[:-1])
    check("logout with a truncated CSRF token: 403", is_problem(r, 403))
    r = c.request("GET", "/api/v1/me")
    check("session still valid after refused logouts", r.status == 200)
    old = c.cookie
    r = c.request("DELETE", "/api/v1/sessions", csrf=c.csrf)
    check("logout: 204", r.status == 204)
    check("logout expires the cookie", "Max-Age=0" in (r.header("set-cookie") or ""))
    c.cookie = old
    r = c.request("GET", "/api/v1/me")
    check("the old cookie is dead after logout", is_problem(r, 401))
    c.cookie = "f" * 64
    r = c.request("GET", "/api/v1/me")
    check("a made-up cookie: 401", is_problem(r, 401))
    c.cookie = "not-hex"
    r = c.request("GET", "/api/v1/me")
    check("a malformed cookie: 401", is_problem(r, 401))


def test_duplicates(ctx):
    c = Client(ctx["a"])
    addr = new_email("dup")
    curp = new_curp()
    r = register(c, addr, doc={"type": "curp", "number": curp})
    check("dup: first registration 201", r.status == 201)
    r1 = register(c, addr.upper())
    check("dup: same email (other case), other document: 409", is_problem(r1, 409))
    spaced = curp[:4] + "-" + curp[4:10] + " " + curp[10:].lower()
    r2 = register(c, new_email("dup"), doc={"type": "curp", "number": spaced})
    check("dup: same document written differently: 409", is_problem(r2, 409))
    check("dup: both answers identical (no hint which)", r1.body == r2.body)
    passport = "G%08d" % random.SystemRandom().randint(0, 99999999)
    r = register(c, new_email("dup"), doc={"type": "passport", "number": passport})
    check("dup: passport registration 201", r.status == 201)
    r = register(c, new_email("dup"), doc={"type": "passport", "number": passport.lower()})
    check("dup: same passport: 409", is_problem(r, 409))


def test_enumeration(ctx):
    addr, pw = verified_account(ctx, tag="enum")
    c = Client(ctx["a"])
    r1 = c.request("POST", "/api/v1/sessions", {"email": addr, "password": pw + "x", "captcha": captcha()})
    r2 = c.request("POST", "/api/v1/sessions", {"email": new_email("nobody"), "password": pw,
                                                "captcha": captcha()})
    check("wrong password: 401", is_problem(r1, 401))
    check("unknown email: same status", r1.status == r2.status)
    check("unknown email: same body", r1.body == r2.body)
    check("unknown email: same content type", r1.header("content-type") == r2.header("content-type"))
    check("no login code mailed after a wrong password", ctx["mail"].messages(addr, "login_code") == [])


def test_codes(ctx):
    mail = ctx["mail"]
    addr, pw = verified_account(ctx, tag="codes")
    c = Client(ctx["a"])
    # two attempts: a code is bound to the attempt that asked for it
    r = c.request("POST", "/api/v1/sessions", {"email": addr, "password": pw, "captcha": captcha()})
    id1 = r.json["login_id"]
    code1 = mail.wait_code(addr, "login_code", 1)
    r = c.request("POST", "/api/v1/sessions", {"email": addr, "password": pw, "captcha": captcha()})
    id2 = r.json["login_id"]
    code2 = mail.wait_code(addr, "login_code", 2)
    check("codes: two attempts, two login ids", id1 != id2 and code1 and code2)
    if code1 != code2:
        r = c.request("POST", "/api/v1/sessions/code", {"login_id": id2, "code": code1})
        check("codes: attempt 1's code on attempt 2: 401", is_problem(r, 401))
    # brute force on attempt 1: 5 tries in all, then the attempt is dead even for the right code
    wrongs = [("%06d" % ((int(code1) + k) % 1000000)) for k in range(1, 6)]
    statuses = []
    for w in wrongs:
        statuses.append(c.request("POST", "/api/v1/sessions/code", {"login_id": id1, "code": w}).status)
    check("codes: 5 wrong codes: 401 each", statuses == [401] * 5)
    r = c.request("POST", "/api/v1/sessions/code", {"login_id": id1, "code": code1})
    check("codes: the right code after 5 failures: 401 (attempt dead)", is_problem(r, 401))
    check("codes: no cookie for a dead attempt", c.cookie is None)
    # attempt 2 had one wrong try (if codes differed) and still works
    r = c.request("POST", "/api/v1/sessions/code", {"login_id": id2, "code": code2})
    check("codes: attempt 2 still works with its code", r.status == 200)
    r = c.request("POST", "/api/v1/sessions/code", {"login_id": secrets.token_hex(16), "code": "123456"})
    check("codes: unknown login_id: 401", is_problem(r, 401))
    r = c.request("POST", "/api/v1/sessions/code", {"login_id": id2, "code": "12345"})
    check("codes: 5-digit code: 400 naming code", is_problem(r, 400) and "code" in r.json["detail"])
    r = c.request("POST", "/api/v1/sessions/code", {"login_id": "xyz", "code": "123456"})
    check("codes: malformed login_id: 400", is_problem(r, 400) and "login_id" in r.json["detail"])
    # verification codes: 5 attempts too
    v = new_email("vbrute")
    register(Client(ctx["a"]), v)
    vcode = mail.wait_code(v, "verify_code", 1)
    for k in range(1, 6):
        c.request("POST", "/api/v1/accounts/verify", {"email": v, "code": "%06d" % ((int(vcode) + k) % 1000000)})
    r = c.request("POST", "/api/v1/accounts/verify", {"email": v, "code": vcode})
    check("verify: the right code after 5 failures: 400", is_problem(r, 400))


def test_bad_input(ctx):
    c = Client(ctx["a"])
    good = {"email": new_email("bad"), "password": "correct horse battery", "full_name": "Ana",
            "document": {"type": "curp", "number": new_curp()}, "lang": "es", "captcha": captcha()}

    def reg(**changes):
        b = dict(good)
        b["captcha"] = captcha()
        for k, v in changes.items():
            if v is None:
                b.pop(k, None)
            else:
                b[k] = v
        return c.request("POST", "/api/v1/accounts", b)

    def refused(desc, r, field):
        check(desc, is_problem(r, 400) and field in r.json.get("detail", ""))

    r = c.request("POST", "/api/v1/accounts", raw=b'{"email": "a@b.org",', ctype="application/json")
    check("malformed JSON: 400", is_problem(r, 400))
    r = c.request("POST", "/api/v1/accounts", raw=b'[1,2]')
    check("a JSON array: 400", is_problem(r, 400))
    r = c.request("POST", "/api/v1/accounts", raw=json.dumps(good).encode(), ctype="text/plain")
    check("wrong content type: 415", is_problem(r, 415))
    r = c.request("POST", "/api/v1/accounts", raw=b'{"email": "a\xff@b.org"}')
    check("invalid UTF-8: 400", is_problem(r, 400))
    r = c.request("POST", "/api/v1/sessions", raw=b'{"email": "\xc0\xafx@b.org", "password": "x"}')
    check("overlong UTF-8 in login: 400", is_problem(r, 400))
    r = c.request("POST", "/api/v1/accounts", raw=b'{"email": "a@b.org", "email": "c@d.org"}')
    check("duplicate keys: 400", is_problem(r, 400))
    refused("missing email: 400", reg(email=None), "email")
    refused("email without @: 400", reg(email="nobody.example.org"), "email")
    refused("email with HTML: 400", reg(email="<script>@example.org"), "email")
    refused("email with SQL: 400", reg(email="x'; DROP TABLE accounts;--@example.org"), "email")
    refused("oversize email: 400", reg(email="a" * 300 + "@example.org"), "email")
    refused("email not a string: 400", reg(email=42), "email")
    refused("short password: 400", reg(password="short"), "password")
    refused("oversize password: 400", reg(password="p" * 300), "password")
    refused("password with control chars: 400", reg(password="correct horse\u0007battery"), "password")
    refused("empty name: 400", reg(full_name=""), "full_name")
    refused("blank name: 400", reg(full_name="   "), "full_name")
    refused("oversize name: 400", reg(full_name="n" * 201), "full_name")
    refused("oversize name in UTF-8 bytes: 400", reg(full_name="ñ" * 101), "full_name")
    refused("name with a newline: 400", reg(full_name="Ana\nLópez"), "full_name")
    refused("name with a bidi override: 400", reg(full_name="Ana\u202eLópez"), "full_name")
    refused("name not a string: 400", reg(full_name=["Ana"]), "full_name")
    curp = new_curp()
    bad_digit = curp[:17] + str((int(curp[17]) + 1) % 10)
    refused("CURP with a wrong check digit: 400", reg(document={"type": "curp", "number": bad_digit}),
            "document.number")
    bad_date = curp[:6] + "13" + curp[8:17]
    bad_date += curp_check_digit(bad_date)
    refused("CURP with month 13: 400", reg(document={"type": "curp", "number": bad_date}), "document.number")
    refused("CURP too short: 400", reg(document={"type": "curp", "number": curp[:17]}), "document.number")
    refused("CURP with SQL: 400", reg(document={"type": "curp", "number": "'; DROP TABLE accounts;--"}),
            "document.number")
    refused("passport of wrong shape: 400", reg(document={"type": "passport", "number": "12345678"}),
            "document.number")
    refused("consular ID too short: 400", reg(document={"type": "consular_id", "number": "AB12"}),
            "document.number")
    refused("unknown document type: 400", reg(document={"type": "license", "number": "X1234567"}),
            "document.type")
    refused("document not an object: 400", reg(document="curp " + curp), "document")
    refused("document with an extra field: 400", reg(document={"type": "curp", "number": curp, "x": 1}),
            "Unknown field")
    refused("lang fr: 400", reg(lang="fr"), "lang")
    refused("unknown field: 400", reg(admin=True), "Unknown field")
    r = c.request("POST", "/api/v1/sessions", {"email": "x@example.org"})
    check("login without password: 400", is_problem(r, 400) and "password" in r.json["detail"])
    r = c.request("POST", "/api/v1/accounts/verify", {"email": good["email"], "code": "12a456"})
    check("verify with letters in the code: 400", is_problem(r, 400) and "code" in r.json["detail"])
    big = {"email": "x@example.org", "password": "p" * 100000}
    r = c.request("POST", "/api/v1/sessions", big)
    check("an oversize body: 413", r.status == 413)
    r = c.request("GET", "/api/v1/admin/offices/%3Cscript%3E/whoami")
    check("a malformed office code: 404", is_problem(r, 404))


def test_stored_safely(ctx):
    """SQL metacharacters and HTML are data: stored as given and echoed JSON-escaped."""
    name = "Robert'); DROP TABLE accounts;-- <script>alert(\"x\")</script> & \\ ü"
    pw = "'; DROP TABLE accounts;-- <b>"
    addr, _ = verified_account(ctx, tag="safe", name=name, password=pw)
    c = Client(ctx["a"])
    r = login(ctx, c, addr, pw)
    check("safe: login with SQL/HTML in the password works", r.status == 200)
    r = c.request("GET", "/api/v1/me")
    check("safe: name echoed exactly", r.json is not None and r.json.get("full_name") == name)
    check("safe: answered as JSON (never HTML)",
          (r.header("content-type") or "").startswith("application/json")
          and r.header("x-content-type-options") == "nosniff")
    check("safe: quotes escaped in the JSON text", b'\\"x\\"' in r.body)
    r2 = register(c, new_email("safe"), password="x" * 12, captcha="'; DROP TABLE accounts;--")
    check("safe: SQL in the captcha is just an invalid captcha (403)", is_problem(r2, 403))
    r = c.request("GET", "/api/v1/me")
    check("safe: the accounts table is still there", r.status == 200)


def create_staff(ctx, addr, role, office, password):
    pwfile = os.path.join(ctx["tmp"], "pw-" + secrets.token_hex(4))
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    argv = [ctx["citasctl"], "create-staff", "--email", addr, "--name", "Staff " + role, "--role", role,
            "--password-file", pwfile]
    if office:
        argv += ["--office", office]
    p = subprocess.run(argv, env=dict(os.environ, CITAS_PG_DSN=ctx["dsn"]), capture_output=True, text=True)
    os.unlink(pwfile)
    return p


def test_staff(ctx):
    off1, off2 = "MAD" + RUN, "LAX" + RUN
    pw = "staff password 123"
    s1, s2, adm, helpdesk = new_email("staff1"), new_email("staff2"), new_email("admin"), new_email("help")
    check("create-staff consular_staff office 1", create_staff(ctx, s1, "consular_staff", off1, pw).returncode == 0)
    check("create-staff consular_staff office 2", create_staff(ctx, s2, "consular_staff", off2, pw).returncode == 0)
    check("create-staff consular_admin without office", create_staff(ctx, adm, "consular_admin", None, pw).returncode == 0)
    check("create-staff helpdesk", create_staff(ctx, helpdesk, "helpdesk", None, pw).returncode == 0)
    p = create_staff(ctx, new_email("nooffice"), "consular_staff", None, pw)
    check("create-staff refuses consular_staff without office", p.returncode != 0 and "office" in p.stderr)
    p = create_staff(ctx, new_email("citizen"), "citizen", None, pw)
    check("create-staff refuses role citizen", p.returncode != 0)
    p = create_staff(ctx, s1, "helpdesk", None, pw)
    check("create-staff refuses a duplicate email", p.returncode != 0)
    p = create_staff(ctx, new_email("weak"), "helpdesk", None, "short")
    check("create-staff refuses a short password", p.returncode != 0)

    c1, c2, ca, ch = Client(ctx["a"]), Client(ctx["a"]), Client(ctx["a"]), Client(ctx["a"])
    r = login(ctx, c1, s1, pw)
    check("staff 1 logs in with role and office", r.status == 200 and r.json.get("role") == "consular_staff"
          and r.json.get("office") == off1)
    login(ctx, c2, s2, pw)
    login(ctx, ca, adm, pw)
    login(ctx, ch, helpdesk, pw)
    path1 = "/api/v1/admin/offices/%s/whoami" % off1
    path2 = "/api/v1/admin/offices/%s/whoami" % off2
    r = c1.request("GET", path1)
    check("staff 1 on office 1: 200", r.status == 200 and r.json.get("office") == off1)
    r = c1.request("GET", path2)
    check("staff 1 on office 2: 403", is_problem(r, 403))
    r = c2.request("GET", path1)
    check("staff 2 on office 1: 403", is_problem(r, 403))
    r = c2.request("GET", path2)
    check("staff 2 on office 2: 200", r.status == 200)
    r = ca.request("GET", path2)
    check("an admin without office on any office: 200", r.status == 200)
    r = ch.request("GET", path1)
    check("helpdesk on an office route: 403", is_problem(r, 403))
    r = c1.request("POST", path1)
    check("staff POST without CSRF: 403", is_problem(r, 403))
    r = c1.request("POST", path1, csrf=c2.csrf)
    check("staff POST with another session's CSRF: 403", is_problem(r, 403))
    r = c1.request("POST", path1, csrf=c1.csrf)
    check("staff POST with its CSRF: 200", r.status == 200)
    r = c1.request("POST", path2, csrf=c1.csrf)
    check("staff POST on another office with its CSRF: 403", is_problem(r, 403))
    addr, cpw = verified_account(ctx, tag="cit")
    cc = Client(ctx["a"])
    login(ctx, cc, addr, cpw)
    r = cc.request("GET", path1)
    check("a citizen on an admin route: 403", is_problem(r, 403))
    r = Client(ctx["a"]).request("GET", path1)
    check("no session on an admin route: 401", is_problem(r, 401))


def test_serving_while_hashing(ctx):
    """Argon2id runs off the event loop: with one worker, /healthz answers while a registration hashes."""
    c = Client(ctx["a"])
    done = {}

    def slow():
        # three registrations back to back on one hashing thread: several hash times
        for i in range(3):
            done[i] = register(Client(ctx["a"]), new_email("hash")).status
        done["end"] = time.monotonic()

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.05)
    served = []
    while t.is_alive() and len(served) < 200:
        r = c.request("GET", "/healthz")
        served.append((time.monotonic(), r.status))
    t.join()
    before = [s for ts, s in served if ts < done.get("end", 0)]
    check("registrations succeeded while hashing", [done.get(i) for i in range(3)] == [201] * 3)
    check("healthz was answered (200) during the hashing", len(before) >= 3 and all(s == 200 for s in before))


def test_timeouts(ctx):
    """Instance B: code TTL 3 s, session idle 3 s, absolute 6 s."""
    mail = ctx["mail"]
    b = ctx["b"]
    addr, pw = verified_account(ctx, port=b, tag="ttl")
    c = Client(b)
    r = c.request("POST", "/api/v1/sessions", {"email": addr, "password": pw, "captcha": captcha()})
    check("ttl: login step 1", r.status == 200)
    code = mail.wait_code(addr, "login_code", 1)
    time.sleep(4)
    r = c.request("POST", "/api/v1/sessions/code", {"login_id": r.json["login_id"], "code": code or ""})
    check("ttl: an expired code: 401", is_problem(r, 401))

    c = Client(b)
    r = login(ctx, c, addr, pw, nth_code=2)
    check("ttl: login on B", r.status == 200 and r.json.get("idle_timeout") == 3)
    time.sleep(4.5)
    r = c.request("GET", "/api/v1/me")
    check("ttl: an idle session expires", is_problem(r, 401))

    c = Client(b)
    r = login(ctx, c, addr, pw, nth_code=3)
    start = time.monotonic()
    ok_early = None
    while time.monotonic() - start < 8:
        time.sleep(1.2)
        r = c.request("GET", "/api/v1/me")
        if ok_early is None:
            ok_early = r.status == 200
        if r.status != 200:
            break
    check("ttl: a session in use is refreshed", ok_early is True)
    check("ttl: a session in use still ends at the absolute timeout", is_problem(r, 401)
          and time.monotonic() - start >= 5)


def test_rate_limits(ctx):
    """login:account=3/30 (one token back every 10 s, room for a slow machine): a 4th login of one email is
    429; it recovers after Retry-After."""
    c = Client(ctx["a"])
    victim = new_email("rate")
    statuses = [c.request("POST", "/api/v1/sessions", {"email": victim, "password": "wrong password!",
                                                       "captcha": captcha()}).status for _ in range(3)]
    check("rate: first 3 logins answered normally (401)", statuses == [401, 401, 401])
    r = c.request("POST", "/api/v1/sessions", {"email": victim, "password": "wrong password!",
                                               "captcha": captcha()})
    check("rate: the 4th is 429", is_problem(r, 429))
    ra = r.header("retry-after")
    check("rate: 429 has Retry-After", ra is not None and ra.isdigit() and int(ra) >= 1)
    r2 = c.request("POST", "/api/v1/sessions", {"email": new_email("rate"), "password": "wrong password!",
                                                "captcha": captcha()})
    check("rate: another account is not limited", r2.status == 401)
    time.sleep(int(ra or "2") + 0.5)
    r = c.request("POST", "/api/v1/sessions", {"email": victim, "password": "wrong password!",
                                               "captcha": captcha()})
    check("rate: after Retry-After the account may try again", r.status == 401)


def test_tls_cookie(ctx):
    addr, pw = verified_account(ctx, tag="tls")
    c = Client(ctx["tls"], tls=True)
    r = login(ctx, c, addr, pw)
    check("tls: login over HTTPS", r.status == 200)
    check("tls: the cookie is Secure", "Secure" in (r.header("set-cookie") or ""))


def test_captcha(ctx, procs, stub_proc, stub, stub_port, tmp):
    """Captcha before any password check; logins use fresh unknown emails so rate limits stay out of it."""
    c = Client(ctx["a"])

    def body(**kw):
        return dict({"email": new_email("cap"), "password": "some password"}, **kw)

    r = c.request("POST", "/api/v1/sessions", body())
    check("captcha missing on login: 400", is_problem(r, 400) and "captcha" in r.json["detail"])
    r = c.request("POST", "/api/v1/sessions", body(captcha="bogus"))
    check("captcha invalid on login: 403", is_problem(r, 403))
    r = c.request("POST", "/api/v1/sessions", body(captcha=captcha()))
    check("captcha valid on login: the password is checked (401)", is_problem(r, 401))
    r = register(c, new_email("cap"), captcha="bogus")
    check("captcha invalid on registration: 403", is_problem(r, 403))
    r = register(c, new_email("cap"), captcha=None)
    check("captcha missing on registration: 400", is_problem(r, 400))
    once = captcha()
    r = register(c, new_email("cap"), **{"captcha": None, "h-captcha-response": once})
    check("captcha in field h-captcha-response: 201", r.status == 201)
    r = register(c, new_email("cap"), captcha=once)
    check("captcha reused: 403", is_problem(r, 403) and "used" in r.json["detail"])

    procs.stop(stub_proc)
    r = c.request("POST", "/api/v1/sessions", body(captcha=captcha()))
    check("captcha service down: 503", is_problem(r, 503))
    check("captcha service down: Retry-After", r.header("retry-after") is not None)
    slow = start_stub(procs, stub, stub_port, tmp, delay=3000)
    out = []

    def slow_login():
        out.append(Client(ctx["a"]).request("POST", "/api/v1/sessions", body(captcha=captcha())))

    t = threading.Thread(target=slow_login)
    t.start()
    time.sleep(0.1)
    h = c.request("GET", "/healthz")
    healthz_during = t.is_alive()
    t.join()
    check("captcha service slow: 503", bool(out) and is_problem(out[0], 503))
    check("captcha service slow: Retry-After", bool(out) and out[0].header("retry-after") is not None)
    check("captcha service slow: the worker kept serving", h.status == 200 and healthz_during)
    procs.stop(slow)
    stub_proc = start_stub(procs, stub, stub_port, tmp)
    r = c.request("POST", "/api/v1/sessions", body(captcha=captcha()))
    check("captcha service back: verified again (401 for the unknown email)", is_problem(r, 401))
    return stub_proc


def metric(port, line_start):
    """The value of the first /metrics line that starts with line_start, or None."""
    text = Client(port).request("GET", "/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return None


def test_admission(ctx, procs, common, citasd, stub, tmp):
    """Instance C: one worker that runs one request waiting on a backend at a time (admission_max_active=1),
    with a siteverify that takes 1 s. A login holds the worker; a second login and an availability request
    wait for admission; the availability request (class first) starts before the login that came earlier
    (class last); a login that waited admission_promote_ms starts before a later availability request;
    /healthz never waits; a request that waited admission_max_wait_ms gets 503."""
    slow_port, c_port = free_port(), free_port()
    slow = start_stub(procs, stub, slow_port, tmp, delay=1000)
    env_c = citasd_env(common, listen="127.0.0.1:%d" % c_port, background_worker=0, admission_max_active=1,
                       admission_max_wait_ms=4000, admission_promote_ms=1500, hcaptcha_timeout_ms=5000,
                       hcaptcha_siteverify_url="http://127.0.0.1:%d/siteverify" % slow_port)
    c_proc = procs.start([citasd], env=env_c, log=os.path.join(tmp, "citasd-c.log"))
    if not check("admission: citasd C listens", wait_port(c_port)):
        return
    done = {}

    def send(name, method, path, body=None):
        start = time.monotonic()
        r = Client(c_port).request(method, path, body)
        done[name] = (r, start, time.monotonic())

    def login_body():
        return {"email": new_email("adm"), "password": "some password", "captcha": captcha()}

    first = threading.Thread(target=send, args=("holder", "POST", "/api/v1/sessions", login_body()))
    first.start()
    # the login below waits 0.8-1.4 s for the holder (1-1.6 s): less than admission_promote_ms (1.5 s)
    time.sleep(0.2)
    later = threading.Thread(target=send, args=("login", "POST", "/api/v1/sessions", login_body()))
    later.start()
    time.sleep(0.1)
    avail = threading.Thread(target=send, args=("avail", "GET", "/api/v1/offices/NOPE/availability"))
    avail.start()
    time.sleep(0.1)
    send("healthz", "GET", "/healthz")
    parked_last = metric(c_port, 'citas_admission_waiting{class="last"}')
    parked_first = metric(c_port, 'citas_admission_waiting{class="first"}')
    for t in (first, later, avail):
        t.join()
    holder, login_r, avail_r, healthz = done["holder"], done["login"], done["avail"], done["healthz"]
    check("admission: the holding login is answered (401, unknown email; %.2f s)" % (holder[2] - holder[1]),
          is_problem(holder[0], 401))
    check("admission: the waiting login is answered (401)", is_problem(login_r[0], 401))
    check("admission: the waiting availability request is answered (%d, no such office: %r)"
          % (avail_r[0].status, avail_r[0].body[:160]),
          400 <= avail_r[0].status < 500 and avail_r[0].json is not None)
    check("admission: /healthz did not wait", healthz[0].status == 200 and healthz[2] < holder[2])
    check("admission: while the worker was full, a login and an availability request waited (metrics %s, %s)"
          % (parked_last, parked_first), parked_last == 1 and parked_first == 1)
    check("admission: the availability request waited for the holder",
          avail_r[2] >= holder[2] - 0.05 and avail_r[2] - avail_r[1] >= 0.3)
    check("admission: the availability request (first) went before the earlier login (last)",
          avail_r[2] < login_r[2] and login_r[2] - holder[2] >= 0.5)
    check("admission: counted in /metrics",
          metric(c_port, 'citas_admission_parked_total{class="first"}') == 1
          and metric(c_port, 'citas_admission_parked_total{class="last"}') == 1
          and metric(c_port, 'citas_admission_waiting{class="last"}') == 0)

    # promotion: two logins hold the worker in turn (1-1.6 s each); a third login, parked behind them, has
    # waited at least 1.95 s (more than admission_promote_ms, 1.5 s) when the second ends, and starts before
    # an availability request parked at 1.7 s (after the first holder); that one starts when the login is
    # answered (having waited at most 3.1 s, less than admission_max_wait_ms, 4 s)
    threads = [threading.Thread(target=send, args=(name, method, path, body))
               for name, method, path, body in (("holder2", "POST", "/api/v1/sessions", login_body()),
                                                ("holder3", "POST", "/api/v1/sessions", login_body()),
                                                ("aged", "POST", "/api/v1/sessions", login_body()),
                                                ("young", "GET", "/api/v1/offices/NOPE/availability", None))]
    for t, pause in zip(threads, (0.02, 0.03, 1.65, 0)):  # at 0, 0.02, 0.05 and 1.7 s
        t.start()
        time.sleep(pause)
    for t in threads:
        t.join()
    holder2, holder3, aged, young = done["holder2"], done["holder3"], done["aged"], done["young"]
    check("admission: the logins and the later availability request are answered (%d, %d, %d)"
          % (holder3[0].status, aged[0].status, young[0].status),
          is_problem(holder3[0], 401) and is_problem(aged[0], 401) and 400 <= young[0].status < 500)
    # (the availability request starts as the login releases the worker, so their answers may cross by ms)
    check("admission: the login that waited admission_promote_ms went first (availability answered %.2f s after"
          " the second holder, %.2f s after the login)" % (young[2] - holder3[2], young[2] - aged[2]),
          young[2] - holder3[2] >= 0.5 and young[2] >= aged[2] - 0.05)
    promoted = (metric(c_port, 'citas_admission_promoted_total{class="last"}'),
                metric(c_port, 'citas_admission_promoted_total{class="first"}'))
    check("admission: promotion counted in /metrics (last, first: %s; the holders took %.2f, %.2f and %.2f s)"
          % (promoted, holder[2] - holder[1], holder2[2] - holder2[1], holder3[2] - holder2[2]), promoted[0] >= 1 and promoted[1] == 0)

    # six logins at once, each running 1-1.6 s: the first two are answered, the sixth would wait at least
    # 4.75 s: 503 after admission_max_wait_ms (4 s); the ones between, either
    n = 6
    threads = [threading.Thread(target=send, args=("shed%d" % i, "POST", "/api/v1/sessions", login_body()))
               for i in range(n)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    statuses = [done["shed%d" % i][0].status for i in range(n)]
    shed = [done["shed%d" % i][0] for i in range(n) if done["shed%d" % i][0].status == 503]
    check("admission: after admission_max_wait_ms a waiting request gets 503 (statuses %s)" % statuses,
          statuses[:2] == [401, 401] and all(x in (401, 503) for x in statuses) and statuses[-1] == 503
          and is_problem(shed[0], 503))
    check("admission: the 503 has Retry-After", bool(shed) and shed[0].header("retry-after") == "5")
    check("admission: shedding counted in /metrics",
          metric(c_port, 'citas_admission_shed_total{class="last"}') == len(shed))
    procs.stop(c_proc)
    check("admission: citasd C stops cleanly (status %s)" % c_proc.returncode, c_proc.returncode == 0)
    procs.stop(slow)


if __name__ == "__main__":
    sys.exit(main())
