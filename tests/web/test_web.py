#!/usr/bin/env python3
"""End-to-end test of the citizens' pages (Python 3 standard library only).

Usage: test_web.py CITASD SMTP_SINK SITEVERIFY_STUB
Environment (ops/citas test): CITAS_TEST_PG_DSN (migrated), CITAS_TEST_TMPDIR.

Starts its own redis-server, smtp-sink, siteverify stub and citasd (against the run's PostgreSQL, with a test
office and window made in SQL first: citasd rebuilds Redis from PostgreSQL at start-up). Fetches every page
in both languages and checks the status, the Content-Security-Policy, one <h1>, a <label> for every input,
the language chosen from ?lang=, the lang cookie and Accept-Language; that a hostile name is escaped; the
static assets' caching (ETag, 304); the redirects of personal pages; logout; the API behind "my data"
(export, correct, delete with the seat given back).
"""
import email
import email.policy
import hashlib
import html.parser
import http.client
import json
import os
import random
import re
import secrets
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from citas_test import check, failed, finish, free_port, wait_port  # noqa: E402


def psql(sql, *params):
    args = ["psql", os.environ["CITAS_TEST_PG_DSN"], "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    for i, p in enumerate(params):
        args += ["-v", "p%d=%s" % (i + 1, p)]
    r = subprocess.run(args, input=sql, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("psql: " + r.stderr.strip())
    return [line.split("\t") for line in r.stdout.splitlines() if line != ""]


def redis(port, *args):
    s = socket.create_connection(("127.0.0.1", port), 5)
    out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(str(a).encode()), str(a).encode()) for a in args)
    s.sendall(out)
    data = s.recv(65536)
    s.close()
    return data.decode()


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body
        self.text = body.decode("utf-8", "replace")
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


class Client:
    def __init__(self, port):
        self.port = port
        self.cookies = {}
        self.csrf = None

    def request(self, method, path, body=None, headers=None, ctype=None, raw=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if ctype:
            h["Content-Type"] = ctype
        if self.cookies and "Cookie" not in h:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if self.csrf and method not in ("GET", "HEAD") and "X-CSRF-Token" not in h:
            h["X-CSRF-Token"] = self.csrf
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        resp = Resp(r.status, r.getheaders(), r.read())
        c.close()
        for k, v in resp.headers:
            if k.lower() == "set-cookie":
                m = re.match(r"([^=]+)=([^;]*)", v)
                if m:
                    if m.group(2) == "" or "Max-Age=0" in v:
                        self.cookies.pop(m.group(1), None)
                    else:
                        self.cookies[m.group(1)] = m.group(2)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)


class Page(html.parser.HTMLParser):
    """What the checks need from a page: lang, <h1>s, inputs and labels, scripts, inline handlers."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.lang = None
        self.h1 = []
        self.in_h1 = False
        self.inputs = []  # (tag, id, type)
        self.label_for = set()
        self.label_depth = 0
        self.wrapped = 0
        self.scripts = []
        self.inline_script = False
        self.inline_handlers = []
        self.styles_inline = []
        self.links = []
        self.metas = {}
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in a:
            if k.startswith("on"):
                self.inline_handlers.append((tag, k))
        if "style" in a:
            self.styles_inline.append(tag)
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "h1":
            self.in_h1 = True
            self.h1.append("")
        elif tag in ("input", "select", "textarea"):
            if a.get("type") not in ("hidden", "submit", "button"):
                self.inputs.append((tag, a.get("id"), a.get("type"), self.label_depth > 0))
        elif tag == "label":
            self.label_depth += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag == "script":
            self._in_script = True
            self.scripts.append(a.get("src"))
            if not a.get("src") and a.get("type") != "application/json":
                self.inline_script = True
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "link" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "meta" and a.get("name"):
            self.metas[a["name"]] = a.get("content")

    def handle_endtag(self, tag):
        if tag == "h1":
            self.in_h1 = False
        elif tag == "label":
            self.label_depth -= 1
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self.in_h1:
            self.h1[-1] += data


def page_ok(what, r, lang, status=200, personal=False):
    """The checks every HTML page passes."""
    ok = check("%s: status %d (got %d)" % (what, status, r.status), r.status == status)
    ok &= check("%s: text/html" % what, (r.header("content-type") or "").startswith("text/html"))
    csp = r.header("content-security-policy") or ""
    ok &= check("%s: CSP default-src 'self'" % what, "default-src 'self'" in csp)
    ok &= check("%s: CSP without unsafe-inline/eval" % what, "unsafe" not in csp)
    ok &= check("%s: CSP style-src 'self'" % what, "style-src 'self'" in csp)
    ok &= check("%s: nosniff" % what, r.header("x-content-type-options") == "nosniff")
    if personal:
        ok &= check("%s: Cache-Control no-store" % what, r.header("cache-control") == "no-store")
    p = Page(r.text)
    ok &= check("%s: <html lang=%s> (got %s)" % (what, lang, p.lang), p.lang == lang)
    ok &= check("%s: one <h1> (%r)" % (what, p.h1), len(p.h1) == 1 and p.h1[0].strip() != "")
    for tag, id_, type_, wrapped in p.inputs:
        ok &= check("%s: <%s id=%s> has a <label>" % (what, tag, id_), wrapped or (id_ and id_ in p.label_for))
    ok &= check("%s: no inline script" % what, not p.inline_script)
    ok &= check("%s: no inline event handler %r" % (what, p.inline_handlers), not p.inline_handlers)
    ok &= check("%s: no style attribute %r" % (what, p.styles_inline), not p.styles_inline)
    ok &= check("%s: a language switch" % what,
                any(("lang=en" if lang == "es" else "lang=es") in l for l in p.links))
    ok &= check("%s: no resource from elsewhere" % what,
                all(not s or s.startswith("/") or s.startswith(STANDIN) for s in p.scripts))
    return p


# --- mail ---
def wait_code(maildir, to, kind, count, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        msgs = []
        for name in sorted(os.listdir(maildir)):
            if name.endswith(".eml"):
                with open(os.path.join(maildir, name), "rb") as f:
                    m = email.message_from_bytes(f.read(), policy=email.policy.default)
                if to.lower() in str(m.get("To", "")).lower() and m.get("X-Citas-Kind", "") == kind:
                    msgs.append(m)
        if len(msgs) >= count:
            text = msgs[count - 1].get_body(preferencelist=("plain",)).get_content()
            m = re.search(r"^\s+(\d{6})\s*$", text, re.M)
            return m.group(1) if m else None
        time.sleep(0.1)
    return None


STANDIN = "http://127.0.0.1:9"  # set in main(): the configured hCaptcha script's origin
TAG = "".join(random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(4))


def main():
    global STANDIN
    citasd, smtp_sink, stub = sys.argv[1:4]
    tmp = tempfile.mkdtemp(prefix="web.", dir=os.environ.get("CITAS_TEST_TMPDIR", "/tmp"))
    maildir = os.path.join(tmp, "mail")
    os.mkdir(maildir)
    procs = []

    def start(argv, env=None, log="peers.log"):
        p = subprocess.Popen(argv, env=env, stdout=open(os.path.join(tmp, log), "ab"), stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    citas = None
    try:
        rport, sport, vport, port = free_port(), free_port(), free_port(), free_port()
        STANDIN = "http://127.0.0.1:%d" % free_port()
        start(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", tmp])
        start([smtp_sink, "--port", str(sport), "--dir", maildir])
        start([stub, "--port", str(vport)])
        for p_ in (rport, sport, vport):
            check("peer on port %d" % p_, wait_port(p_))
        office, slots = make_data()
        env = dict(os.environ)
        env.update({
            "CITAS_LISTEN": "127.0.0.1:%d" % port, "CITAS_TLS_LISTEN": "", "CITAS_WORKERS": "2",
            "CITAS_REDIS_HOST": "127.0.0.1", "CITAS_REDIS_PORT": str(rport),
            "CITAS_PG_DSN": os.environ["CITAS_TEST_PG_DSN"], "CITAS_ACCESS_LOG": "",
            "CITAS_HCAPTCHA_SITEVERIFY_URL": "http://127.0.0.1:%d/siteverify" % vport,
            "CITAS_HCAPTCHA_SECRET": "0x0000000000000000000000000000000000000000",
            "CITAS_HCAPTCHA_SITEKEY": "10000000-ffff-ffff-ffff-000000000001",
            "CITAS_CAPTCHA_ACTIONS": "register,login,booking", "CITAS_RATE_LIMITS": "",
            "CITAS_SMTP_URL": "smtp://127.0.0.1:%d" % sport, "CITAS_SMTP_STARTTLS": "none", "CITAS_MAIL_POLL_MS": "50",
            # a transfer to the sink now and then stalls until smtp_timeout_ms: retry soon rather than wait 30 s
            "CITAS_SMTP_TIMEOUT_MS": "3000", "CITAS_MAIL_RETRY_BASE_MS": "200",
            "CITAS_AUTH_HASH_THREADS": "1", "CITAS_AUTH_PWHASH_OPSLIMIT": "1", "CITAS_AUTH_PWHASH_MEMLIMIT_KIB": "8192",
            "CITAS_WEB_HCAPTCHA_SCRIPT_URL": STANDIN + "/1/api.js", "CITAS_HEALTH_INTERVAL_MS": "200",
            "CITAS_SHUTDOWN_TIMEOUT_MS": "2000",
        })
        citas = start([citasd], env=env, log="citasd.log")
        if not check("citasd listens", wait_port(port)):
            return
        wait_rebuilt(os.path.join(tmp, "citasd.log"))
        ctx = {"port": port, "rport": rport, "maildir": maildir, "office": office, "slots": slots}
        test_public_pages(ctx)
        test_language(ctx)
        test_static(ctx)
        test_personal_redirects(ctx)
        test_citizen(ctx)
        citas.terminate()
        citas.wait(15)
        check("citasd stops cleanly (status %s)" % citas.returncode, citas.returncode == 0)
    finally:
        for p_ in reversed(procs):
            if p_.poll() is None:
                p_.kill()
                p_.wait()
        if failed() == 0 and not os.environ.get("CITAS_TEST_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("web: logs in %s" % tmp, file=sys.stderr)
    return finish("web")


def wait_rebuilt(log, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        with open(log, "rb") as f:
            if b"Redis rebuilt from PostgreSQL" in f.read():
                return
        time.sleep(0.05)


def make_data():
    code = "WB" + TAG
    psql("INSERT INTO offices (code, kind, name_es, name_en, city, country, country_name_es, country_name_en, "
         "time_zone, address) VALUES (:'p1', 'consulate', 'Consulado Web & <Pruebas>', 'Web & <Test> consulate', "
         "'Villaweb ' || :'p1', 'US', 'Estados Unidos', 'United States', 'America/Los_Angeles', "
         "'Calle de la Web 1, Villaweb')", code)
    psql("INSERT INTO office_procedures (office_code, procedure_code) VALUES (:'p1', 'passport_renewal')", code)
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 5 * 86400))
    rows = psql(
        "WITH w AS (INSERT INTO calendar_windows (office_code, procedure_code, first_day, last_day, slot_minutes, "
        "seats_per_slot, release_at, state) SELECT :'p1', 'passport_renewal', :'p2'::date, :'p2'::date, 30, 2, "
        "now() - interval '1 minute', 'open' RETURNING id) "
        "INSERT INTO slots (window_id, office_code, procedure_code, starts_at, local_start, capacity) "
        "SELECT w.id, :'p1', 'passport_renewal', t AT TIME ZONE 'America/Los_Angeles', t, 2 FROM w, "
        "unnest(ARRAY[(:'p2' || ' 09:00')::timestamp, (:'p2' || ' 09:30')::timestamp]) t ORDER BY t RETURNING id",
        code, day)
    return code, [int(r[0]) for r in rows]


def test_public_pages(ctx):
    c = Client(ctx["port"])
    office = ctx["office"]
    pages = ["/", "/?q=villaweb&country=US", "/offices/" + office, "/offices/%s/passport_renewal" % office,
             "/register", "/verify", "/login", "/login/code?id=" + "ab" * 16]
    for lang in ("es", "en"):
        for path in pages:
            sep = "&" if "?" in path else "?"
            r = c.get(path + sep + "lang=" + lang)
            page_ok("%s (%s)" % (path, lang), r, lang)
    # what the pages say
    r = c.get("/?lang=es&q=" + urllib.parse.quote("villaweb") + "&country=US")
    check("search: a link to the test office", 'href="/offices/%s"' % office in r.text)
    check("search: the office name escaped", "Consulado Web &amp; &lt;Pruebas&gt;" in r.text)
    check("home: what to bring (Spanish)", "Pasaporte mexicano anterior" in r.text)
    r = c.get("/?lang=en&q=nowhere-at-all")
    check("search without match: says so", "No office matches" in r.text)
    r = c.get("/?lang=en&q=" + urllib.parse.quote("méxico"))
    check("search folds accents (méxico finds Mexico City offices or none, but answers)", r.status == 200)
    r = c.get("/offices/%s?lang=en" % office)
    check("office page: address", "Calle de la Web 1" in r.text)
    check("office page: documents in English", "Previous Mexican passport" in r.text)
    check("office page: link to the calendar", 'href="/offices/%s/passport_renewal"' % office in r.text)
    r = c.get("/offices/%s/passport_renewal" % office)
    check("calendar: data attributes for the script", 'data-office="%s"' % office in r.text and
          'data-procedure="passport_renewal"' in r.text and 'data-tz="America/Los_Angeles"' in r.text)
    r = c.get("/register?lang=es")
    check("register: the captcha widget with the site key",
          'class="h-captcha" data-sitekey="10000000-ffff-ffff-ffff-000000000001"' in r.text)
    check("register: the configured captcha script", ('src="%s/1/api.js"' % STANDIN) in r.text)
    check("register: the CSP allows the stand-in's origin",
          STANDIN in (r.header("content-security-policy") or ""))
    # bad moments on public pages: translated pages, not JSON
    for lang, word in (("es", "no encontrada"), ("en", "not found")):
        r = c.get("/offices/NOPE9?lang=" + lang)
        page_ok("unknown office (%s)" % lang, r, lang, status=404, personal=True)
        check("unknown office (%s): says %r" % (lang, word), word in r.text.lower())
        r = c.get("/offices/%s/no_such_procedure?lang=%s" % (office, lang))
        check("unknown procedure (%s): 404 page" % lang, r.status == 404 and "<h1>" in r.text)
    r = c.get("/login/code?id=nothex")
    check("login code page without a login id: back to /login", r.status == 303 and r.header("location") == "/login")


def test_language(ctx):
    cases = [("en-US,en;q=0.9", "en"), ("fr-FR, en;q=0.5", "en"), ("fr", "es"), ("es-MX,es;q=0.9,en;q=0.8", "es"),
             ("en;q=0.2, es;q=0.8", "es"), ("", "es"), ("EN", "en"), ("english", "es"), ("en;q=0", "es")]
    for al, want in cases:
        c = Client(ctx["port"])
        r = c.get("/", headers={"Accept-Language": al} if al else {})
        check("Accept-Language %r -> %s (got %s)" % (al, want, Page(r.text).lang), Page(r.text).lang == want)
    c = Client(ctx["port"])
    r = c.get("/?lang=en", headers={"Accept-Language": "es"})
    check("?lang=en beats Accept-Language", Page(r.text).lang == "en")
    check("?lang=en sets the lang cookie", c.cookies.get("lang") == "en")
    r = c.get("/login", headers={"Accept-Language": "es"})
    check("the lang cookie beats Accept-Language", Page(r.text).lang == "en" and "Log in" in r.text)
    r = c.get("/login?lang=es")
    check("?lang=es switches back (cookie)", Page(r.text).lang == "es" and c.cookies.get("lang") == "es")
    r = c.get("/?lang=fr")
    check("?lang=fr is ignored", Page(r.text).lang == "es")
    r = c.get("/offices/%s?lang=en&x=1" % ctx["office"])
    check("the language switch keeps the other parameters",
          'href="/offices/%s?x=1&amp;lang=es"' % ctx["office"] in r.text)


def test_static(ctx):
    c = Client(ctx["port"])
    p = Page(c.get("/").text)
    assets = [l for l in p.links if l.startswith("/static/")] + [s for s in p.scripts if s and s.startswith("/static/")]
    check("pages link a hashed CSS and JS", any(re.match(r"^/static/citas\.[0-9a-f]{12}\.css$", a) for a in assets)
          and any(re.match(r"^/static/citas\.[0-9a-f]{12}\.js$", a) for a in assets))
    for a in assets:
        r = c.get(a)
        check("%s: 200" % a, r.status == 200 and len(r.body) > 100)
        check("%s: immutable for a year" % a, r.header("cache-control") == "public, max-age=31536000, immutable")
        etag = r.header("etag")
        check("%s: ETag" % a, etag is not None and etag.startswith('"'))
        check("%s: content type" % a, (r.header("content-type") or "").startswith(
            "text/css" if a.endswith(".css") else "text/javascript"))
        check("%s: the hash in the name is the content's" % a,
              hashlib.sha256(r.body).hexdigest()[:12] in a)
        r2 = c.get(a, headers={"If-None-Match": etag or ""})
        check("%s: If-None-Match -> 304" % a, r2.status == 304 and r2.body == b"")
        r3 = c.get(a, headers={"If-None-Match": '"0000"'})
        check("%s: another ETag -> 200" % a, r3.status == 200)
    r = c.get("/static/citas.css")
    check("unhashed name: 303 to the current URL", r.status == 303 and
          re.match(r"^/static/citas\.[0-9a-f]{12}\.css$", r.header("location") or ""))
    r = c.get("/static/nothing.js")
    check("unknown asset: 404", r.status == 404)


def test_personal_redirects(ctx):
    c = Client(ctx["port"])
    for path in ("/appointments", "/me", "/book?slot=%d&procedure=passport_renewal" % ctx["slots"][0],
                 "/appointments/ABCDEFGHJK"):
        r = c.get(path)
        loc = r.header("location") or ""
        check("%s without a session: 303 to /login?next=" % path,
              r.status == 303 and loc == "/login?next=" + urllib.parse.quote(path, safe="/"))
    c.cookies["citas_session"] = "ab" * 32
    r = c.get("/me")
    check("/me with an expired session: to /login with expired=1",
          r.status == 303 and "expired=1" in (r.header("location") or ""))
    r = c.get("/login?expired=1&next=/me&lang=en")
    check("login page explains the expired session", "session expired" in r.text and 'role="alert"' in r.text)


def register_and_login(ctx, c, name, lang="es"):
    addr = "web-%s-%s@example.org" % (TAG.lower(), secrets.token_hex(3))
    doc = "WEB%s%06d" % (TAG, random.randint(0, 999999))
    pw = "una clave larga y segura"
    r = c.request("POST", "/api/v1/accounts", {
        "email": addr, "password": pw, "full_name": name, "document": {"type": "consular_id", "number": doc},
        "lang": lang, "captcha": "pass-" + secrets.token_hex(6)})
    check("register %r: 201 (%s)" % (name, r.text[:200]), r.status == 201)
    code = wait_code(ctx["maildir"], addr, "verify_code", 1)
    r = c.request("POST", "/api/v1/accounts/verify", {"email": addr, "code": code or "000000"})
    check("verify: 200", r.status == 200)
    r = c.request("POST", "/api/v1/sessions", {"email": addr, "password": pw, "captcha": "pass-" + secrets.token_hex(6)})
    check("login: 200", r.status == 200)
    code = wait_code(ctx["maildir"], addr, "login_code", 1)
    r = c.request("POST", "/api/v1/sessions/code", {"login_id": (r.json or {}).get("login_id", ""), "code": code or ""})
    check("login code: 200", r.status == 200)
    c.csrf = (r.json or {}).get("csrf_token")
    return addr, pw


def test_citizen(ctx):
    c = Client(ctx["port"])
    hostile = "<script>alert(1)</script> \"Ana\" & 'Bo'"
    addr, pw = register_and_login(ctx, c, hostile)
    office, slots = ctx["office"], ctx["slots"]
    for lang in ("es", "en"):
        r = c.get("/me?lang=" + lang)
        p = page_ok("/me (%s)" % lang, r, lang, personal=True)
        check("/me: the hostile name is escaped",
              "&lt;script&gt;alert(1)&lt;/script&gt; &quot;Ana&quot; &amp; &#39;Bo&#39;" in r.text)
        check("/me: the hostile name is never raw", "<script>alert(1)" not in r.text)
        check("/me: the CSRF token in a meta tag", p.metas.get("csrf-token") == c.csrf)
        check("/me: the email", addr in r.text)
        check("/me: a link to the export", 'href="/api/v1/me/export"' in r.text)
        r = c.get("/appointments?lang=" + lang)
        page_ok("/appointments, none yet (%s)" % lang, r, lang, personal=True)
        r = c.get("/book?slot=%d&procedure=passport_renewal&office=%s&lang=%s" % (slots[0], office, lang))
        p = page_ok("/book (%s)" % lang, r, lang, personal=True)
        check("/book: the captcha widget", 'class="h-captcha"' in r.text)
        check("/book: the local time", "09:00" in r.text)
        check("/book: the office escaped", "Web &amp; &lt;" in r.text or "Consulado Web &amp; &lt;" in r.text)
        check("/book: a form for the API", 'data-api="/api/v1/appointments"' in r.text)
        r = c.get("/book?slot=%d&procedure=passport_renewal&lang=%s" % (slots[0], lang))
        check("/book without the office (PostgreSQL path): 200", r.status == 200 and "09:00" in r.text)
        r = c.get("/book?slot=999999999&procedure=passport_renewal&office=%s&lang=%s" % (office, lang))
        check("/book of an unknown slot: a 404 page", r.status == 404 and "<h1>" in r.text)
    # book through the API, as the page's script does, then the receipt
    r = c.request("POST", "/api/v1/appointments", {"slot": str(slots[0]), "office": office,
                                                   "procedure": "passport_renewal", "captcha": "pass-" + secrets.token_hex(6)})
    check("booking: 201 (%s)" % r.text[:200], r.status == 201)
    code = (r.json or {}).get("code", "")
    for lang in ("es", "en"):
        r = c.get("/appointments/%s?booked=1&lang=%s" % (code, lang))
        page_ok("receipt (%s)" % lang, r, lang, personal=True)
        check("receipt: the code", code in r.text)
        check("receipt: a QR code as inline SVG", re.search(r'<svg[^>]*class="qr"[^>]*role="img"', r.text) is not None)
        check("receipt: the .ics link", 'href="/api/v1/appointments/%s.ics"' % code in r.text)
        check("receipt: the address", "Calle de la Web 1" in r.text)
        check("receipt: what to bring", ("Previous Mexican passport" if lang == "en" else "Pasaporte mexicano anterior") in r.text)
        r = c.get("/appointments?lang=" + lang)
        check("my appointments: the code, a reschedule link and a cancel form", code in r.text and
              "reschedule=" + code in r.text and 'data-api="/api/v1/appointments/%s"' % code in r.text)
    r = c.get("/appointments/ZZZZZZZZZZ")
    check("someone else's or an unknown code: 404 page", r.status == 404)
    r = c.get("/offices/%s/passport_renewal?reschedule=%s" % (office, code))
    check("calendar in reschedule mode", 'data-reschedule="%s"' % code in r.text)

    # my data: correct, export
    r = c.request("PATCH", "/api/v1/me", {"full_name": "Ana Corregida", "lang": "en"})
    check("PATCH /api/v1/me: 200", r.status == 200 and (r.json or {}).get("full_name") == "Ana Corregida")
    check("the correction is in PostgreSQL", psql("SELECT full_name, lang FROM accounts WHERE email = :'p1'", addr)
          == [["Ana Corregida", "en"]])
    r = c.request("PATCH", "/api/v1/me", {"lang": "fr"})
    check("PATCH lang fr: 400", r.status == 400)
    r = c.request("PATCH", "/api/v1/me", {"email": "x@example.org"})
    check("PATCH email: 400 (not correctable here)", r.status == 400)
    r = c.request("PATCH", "/api/v1/me", {"full_name": "X"}, headers={"X-CSRF-Token": "00" * 32})
    check("PATCH with a wrong CSRF token: 403", r.status == 403)
    for path in ("/api/v1/me/export", "/me/export"):
        r = c.get(path)
        j = r.json or {}
        check("%s: JSON download" % path, r.status == 200 and "attachment" in (r.header("content-disposition") or ""))
        check("%s: account and appointment" % path, j.get("account", {}).get("email") == addr and
              any(a.get("code") == code for a in j.get("appointments", [])))
        check("%s: no password hash" % path, "argon2" not in r.text)

    # logout: the form's CSRF token is checked
    r = c.request("POST", "/logout", raw=b"csrf=" + b"0" * 64, ctype="application/x-www-form-urlencoded",
                  headers={"X-CSRF-Token": ""})
    check("logout with a wrong token: 403 page, still logged in", r.status == 403 and c.get("/me").status == 200)
    r = c.request("POST", "/logout", raw=("csrf=" + (c.csrf or "")).encode(), ctype="application/x-www-form-urlencoded")
    check("logout: 303 to /?bye=1", r.status == 303 and r.header("location") == "/?bye=1")
    check("logout: the cookie is gone", "citas_session" not in c.cookies)
    r = c.get("/me")
    check("after logout: /me goes to /login", r.status == 303)

    # delete the account: the active appointment is cancelled and its seat is free again
    c2 = Client(ctx["port"])
    addr2, pw2 = register_and_login(ctx, c2, "Borrar Me")
    r = c2.request("POST", "/api/v1/appointments", {"slot": str(slots[1]), "office": office,
                                                    "procedure": "passport_renewal",
                                                    "captcha": "pass-" + secrets.token_hex(6)})
    check("second citizen books: 201", r.status == 201)
    code2 = (r.json or {}).get("code", "")
    seat = str((r.json or {}).get("seat", ""))
    free_key = "cal:{%s}:free:%d" % (office, slots[1])
    check("the seat is taken in Redis", ":0" in redis(ctx["rport"], "SISMEMBER", free_key, seat))
    r = c2.request("DELETE", "/api/v1/me", headers={"X-CSRF-Token": ""})
    check("DELETE /api/v1/me without CSRF: 403", r.status == 403)
    r = c2.request("DELETE", "/api/v1/me")
    check("DELETE /api/v1/me: 200 with the cancelled code", r.status == 200 and (r.json or {}).get("cancelled") == [code2])
    check("the appointment is cancelled in PostgreSQL",
          psql("SELECT state FROM appointments WHERE code = :'p1'", code2) == [["cancelled"]])
    check("the seat is free again in Redis", ":1" in redis(ctx["rport"], "SISMEMBER", free_key, seat))
    check("no account with that email left", psql("SELECT count(*) FROM accounts WHERE email = :'p1'", addr2) == [["0"]])
    check("the session ended", "citas_session" not in c2.cookies)
    r = c2.request("POST", "/api/v1/sessions", {"email": addr2, "password": pw2, "captcha": "pass-" + secrets.token_hex(6)})
    check("logging in again: 401", r.status == 401)


if __name__ == "__main__":
    sys.exit(main())
