#!/usr/bin/env python3
"""End-to-end test of the calendar: offices, windows and their slots (DST), availability, close, cancel day.

Usage: test_calendar.py CITASD CITASCTL SMTP_SINK
Environment (ops/citas test): CITAS_TEST_PG_DSN (migrated), CITAS_TEST_REDIS_PORT, CITAS_TEST_TMPDIR.

Creates its own offices (codes unique to this run) in the shared database, two staff accounts (logged in
through the API; their one-time codes are read from the messages an SMTP sink stores) and starts one citasd.
"""
import gzip
import http.client
import json
import os
import random
import re
import secrets
import string
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from citas_test import Mailbox, check, finish, free_port, wait_port  # noqa: E402

RUN = "".join(random.choice(string.ascii_uppercase + string.digits) for _ in range(4))
PROC = "passport_renewal"


def psql(dsn, sql, *args):
    """Runs sql with psql variables :'v1', :'v2'... bound to args; returns rows (lists of strings)."""
    argv = ["psql", dsn, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    for i, a in enumerate(args):
        argv += ["-v", "v%d=%s" % (i + 1, a)]
    p = subprocess.run(argv, input=sql, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("psql: " + p.stderr)
    return [line.split("\t") for line in p.stdout.splitlines() if line]


def redis(port, *args):
    p = subprocess.run(["redis-cli", "-p", str(port), "--raw"] + [str(a) for a in args], capture_output=True,
                       text=True)
    return p.stdout.strip()


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


class Client:
    def __init__(self, port):
        self.port = port
        self.cookie = None
        self.csrf = None

    def request(self, method, path, body=None, raw=None, ctype="application/json", csrf=True, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = dict(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None and ctype:
            h["Content-Type"] = ctype
        if self.cookie:
            h["Cookie"] = "citas_session=" + self.cookie
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = self.csrf
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        resp = Resp(r.status, r.getheaders(), r.read())
        conn.close()
        for k, v in resp.headers:
            if k.lower() == "set-cookie":
                m = re.match(r"citas_session=([^;]*)", v)
                if m:
                    self.cookie = m.group(1) or None
        return resp


def is_problem(r, status):
    return (r.status == status and (r.header("content-type") or "").startswith("application/problem+json")
            and r.json is not None and r.json.get("status") == status)


# --- set-up ------------------------------------------------------------------------------------------------
def office(code):
    return code + RUN


def setup_offices(dsn):
    offices = [
        # code, tz, country, hours (opens, closes) every day
        (office("CLA"), "America/Los_Angeles", "US", "08:00", "14:00"),
        (office("CLN"), "America/Los_Angeles", "US", "01:00", "04:00"),
        (office("CLP"), "America/Phoenix", "US", "08:00", "14:00"),
        (office("CLS"), "Australia/Sydney", "AU", "08:00", "14:00"),
        (office("CLO"), "America/Chicago", "US", "08:00", "14:00"),
    ]
    sql = []
    for code, tz, country, opens, closes in offices:
        sql.append("INSERT INTO offices (code, kind, name_es, name_en, city, country, country_name_es,"
                   " country_name_en, time_zone, address) VALUES ('%s', 'consulate', 'Consulado de prueba %s',"
                   " 'Test consulate %s', 'Testville %s', '%s', 'País', 'Country', '%s', 'Calle 1');"
                   % (code, code, code, code, country, tz))
        sql.append("INSERT INTO office_procedures (office_code, procedure_code) VALUES ('%s', '%s');" % (code, PROC))
        sql.append("INSERT INTO office_hours (office_code, weekday, opens, closes) SELECT '%s', d, '%s', '%s'"
                   " FROM generate_series(1, 7) d;" % (code, opens, closes))
    sql.append("INSERT INTO office_holidays (office_code, day, name) VALUES ('%s', '2030-03-12', 'Fiesta');"
               % office("CLA"))
    psql(dsn, "\n".join(sql))


def create_staff(citasctl, dsn, tmp, addr, office_code, password):
    pwfile = os.path.join(tmp, "pw-" + secrets.token_hex(4))
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    p = subprocess.run([citasctl, "create-staff", "--email", addr, "--name", "Staff " + office_code, "--role",
                        "consular_staff", "--office", office_code, "--password-file", pwfile],
                       env=dict(os.environ, CITAS_PG_DSN=dsn), capture_output=True, text=True)
    os.unlink(pwfile)
    return p.returncode == 0


def login(maildir, c, addr, pw):
    r = c.request("POST", "/api/v1/sessions", {"email": addr, "password": pw, "captcha": "x"})
    if not check("staff login %s: 200 (%s)" % (addr, r.body[:200]), r.status == 200):
        return False
    code = Mailbox(maildir).wait_code(addr, "login_code", 1, timeout=15.0)
    check("login code for %s mailed" % addr, code is not None)
    r = c.request("POST", "/api/v1/sessions/code", {"login_id": r.json["login_id"], "code": code or ""})
    if r.status == 200:
        c.csrf = r.json.get("csrf_token")
    return check("staff session for %s" % addr, r.status == 200 and c.csrf is not None)


# --- helpers ---------------------------------------------------------------------------------------------
def iso_utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def window_body(first, last, minutes=60, seats=2, excluded=None, release=None, procedure=PROC):
    b = {"procedure": procedure, "first_day": first, "last_day": last, "slot_minutes": minutes,
         "seats_per_slot": seats, "release_at": release or iso_utc(time.time() - 60)}
    if excluded is not None:
        b["excluded_days"] = excluded
    return b


def avail(c, code, frm, to, procedure=PROC):
    return c.request("GET", "/api/v1/offices/%s/availability?procedure=%s&from=%s&to=%s"
                     % (code, procedure, frm, to))


def slots_of(av):
    return [s for d in av.json["days"] for s in d["slots"]]


def preview_starts(r):
    return [s["start"] for d in r.json["days"] for s in d["slots"]]


# --- tests -----------------------------------------------------------------------------------------------
def test_offices(ctx):
    c = Client(ctx["port"])
    r = c.request("GET", "/api/v1/offices?country=us")
    codes = [o["code"] for o in r.json["offices"]] if r.json else []
    check("offices list: 200 with our US office", r.status == 200 and office("CLA") in codes)
    check("offices list: filtered by country", r.json and all(o["country"] == "US" for o in r.json["offices"]))
    check("offices list: cacheable for 60 s", "max-age=60" in (r.header("cache-control") or ""))
    r = c.request("GET", "/api/v1/offices?q=testville%20" + office("CLS").lower())
    check("offices list: ?q= search", r.status == 200 and [o["code"] for o in r.json["offices"]] == [office("CLS")])
    r = c.request("GET", "/api/v1/offices?city=Testville%20" + office("CLP"))
    check("offices list: ?city=", r.status == 200 and [o["code"] for o in r.json["offices"]] == [office("CLP")])
    r = c.request("GET", "/api/v1/offices?country=USA")
    check("offices list: bad country is 400", is_problem(r, 400))
    r = c.request("GET", "/api/v1/offices/" + office("CLS"))
    check("office detail: time zone and names", r.status == 200 and r.json["time_zone"] == "Australia/Sydney"
          and r.json["name_en"].startswith("Test consulate") and len(r.json["hours"]) == 7)
    r = c.request("GET", "/api/v1/offices/" + office("CLA") + "/procedures")
    procs = r.json["procedures"] if r.status == 200 else []
    check("office procedures: the one offered, with documents", [p["code"] for p in procs] == [PROC]
          and len(procs[0]["documents_es"]) > 0 and len(procs[0]["documents_en"]) > 0
          and procs[0]["needs_appointment"] is True and procs[0]["duration_min"] > 0)
    r = c.request("GET", "/api/v1/offices/NOPE" + RUN)
    check("unknown office: 404 problem", is_problem(r, 404))
    r = c.request("GET", "/api/v1/offices/NOPE" + RUN + "/procedures")
    check("unknown office procedures: 404 problem", is_problem(r, 404))
    r = c.request("GET", "/api/v1/offices/LAX")
    check("a seeded office is there too", r.status == 200 and r.json["time_zone"] == "America/Los_Angeles")


def test_spring_forward(ctx):
    s, code = ctx["staff"], office("CLA")
    base = "/api/v1/admin/offices/%s/windows" % code
    body = window_body("2030-03-09", "2030-03-11")
    r = s.request("POST", base + "/preview", body)
    starts = preview_starts(r) if r.status == 200 else []
    check("preview: 200, 18 slots (%s)" % r.body[:200], r.status == 200 and r.json["slots"] == 18 and len(starts) == 18)
    check("preview: offsets -08:00 before the change, -07:00 after",
          starts[:6] == ["2030-03-09T%02d:00:00-08:00" % h for h in range(8, 14)]
          and starts[6:12] == ["2030-03-10T%02d:00:00-07:00" % h for h in range(8, 14)]
          and starts[12:] == ["2030-03-11T%02d:00:00-07:00" % h for h in range(8, 14)])
    r2 = s.request("POST", base + "?preview=1", body)
    check("?preview=1 is the same preview", r2.status == 200 and preview_starts(r2) == starts)
    r = s.request("GET", base)
    check("preview wrote nothing", r.status == 200 and r.json["windows"] == [])

    r = s.request("POST", base, body)
    ok = check("window created: 201 with 18 slots (%s)" % r.body[:300], r.status == 201 and r.json["slots"] == 18
               and r.json["seats"] == 36 and r.json["loaded"] is True)
    if not ok:
        return
    ctx["w1"] = r.json["window"]["id"]
    check("window echoes its fields", r.json["window"]["office"] == code and r.json["window"]["slot_minutes"] == 60
          and r.json["window"]["state"] == "open" and r.json["window"]["release_at"].endswith(("-08:00", "-07:00")))
    rows = psql(ctx["dsn"], "SELECT to_char(local_start, 'YYYY-MM-DD HH24:MI'), capacity FROM slots"
                            " WHERE window_id = :'v1' ORDER BY starts_at", ctx["w1"])
    check("slots in PostgreSQL: local times 08:00..13:00 each day",
          [r[0] for r in rows] == ["2030-03-%02d %02d:00" % (d, h) for d in (9, 10, 11) for h in range(8, 14)]
          and all(r[1] == "2" for r in rows))
    a = avail(Client(ctx["port"]), code, "2030-03-09", "2030-03-11")
    sl = slots_of(a) if a.status == 200 else []
    check("availability: 3 days x 6 slots, 2 free each (%s)" % a.body[:200],
          a.status == 200 and [d["date"] for d in a.json["days"]] == ["2030-03-09", "2030-03-10", "2030-03-11"]
          and len(sl) == 18 and all(x["free"] == 2 for x in sl) and a.json["free"] == 36
          and a.json["opens_at"] is None)
    check("availability: starts with the office's offsets, local times",
          [x["start"] for x in sl] == starts and sl[0]["local"] == "2030-03-09T08:00" and sl[0]["time"] == "08:00")
    check("availability: not cacheable beyond a second", "max-age=1" in (a.header("cache-control") or ""))
    # gzip for a client that takes it (browsers do): the same answer, compressed once per cache entry
    path = "/api/v1/offices/%s/availability?procedure=%s&from=2030-03-09&to=2030-03-11" % (code, PROC)
    z = Client(ctx["port"]).request("GET", path, headers={"Accept-Encoding": "br, gzip;q=0.8"})
    try:
        zj = json.loads(gzip.decompress(z.body))
    except (OSError, ValueError):
        zj = None
    check("availability gzipped: Content-Encoding gzip, smaller, the same days (%d against %d bytes)"
          % (len(z.body), len(a.body)),
          z.status == 200 and z.header("content-encoding") == "gzip" and zj is not None
          and zj["days"] == a.json["days"] and zj["free"] == a.json["free"] and len(z.body) < len(a.body) / 2)
    check("availability: Vary: Accept-Encoding on both, no Content-Encoding on the plain one",
          z.header("vary") == "accept-encoding" and a.header("vary") == "accept-encoding"
          and a.header("content-encoding") is None)
    for ae in ("gzip;q=0, identity", "deflate, br", "gzip;q=0.000"):
        n = Client(ctx["port"]).request("GET", path, headers={"Accept-Encoding": ae})
        check("availability: Accept-Encoding %r gets the plain answer" % ae,
              n.status == 200 and n.header("content-encoding") is None and n.json is not None
              and n.json["days"] == a.json["days"])
    for ae in ("GZIP", "*", "identity;q=0.5, gzip;q=0.001"):
        n = Client(ctx["port"]).request("GET", path, headers={"Accept-Encoding": ae})
        check("availability: Accept-Encoding %r gets gzip" % ae,
              n.status == 200 and n.header("content-encoding") == "gzip")
    r = s.request("POST", base, window_body("2030-03-11", "2030-03-16"))
    check("overlapping open window: 409", is_problem(r, 409))

    # seats taken in Redis show in the list; an expired hold goes back to the free set on availability
    first = sl[0]["id"]
    rp = ctx["redis_port"]
    seat = redis(rp, "SPOP", "cal:{%s}:free:%d" % (code, first))
    r = s.request("GET", base)
    w = r.json["windows"][0] if r.status == 200 and r.json["windows"] else {}
    check("list: seats offered and booked from Redis", w.get("seats") == 36 and w.get("booked") == 1
          and w.get("free") == 35 and w.get("slots") == 18)
    redis(rp, "ZADD", "bk:{%s}:holds" % code, int(time.time() * 1000) - 1000, "%d:%s" % (first, seat))
    time.sleep(0.4)  # past the per-worker availability cache
    a = avail(Client(ctx["port"]), code, "2030-03-09", "2030-03-09")
    check("availability reclaims an expired hold", a.status == 200 and slots_of(a)[0]["free"] == 2
          and redis(rp, "SCARD", "cal:{%s}:free:%d" % (code, first)) == "2"
          and redis(rp, "ZCARD", "bk:{%s}:holds" % code) == "0")


def test_night_office(ctx):
    s, code = ctx["staff_n"], office("CLN")
    base = "/api/v1/admin/offices/%s/windows" % code
    r = s.request("POST", base, window_body("2030-03-10", "2030-03-10", minutes=30))
    ok = check("night window on spring-forward day: 201 with 4 slots (%s)" % r.body[:200],
               r.status == 201 and r.json["slots"] == 4)
    a = avail(Client(ctx["port"]), code, "2030-03-10", "2030-03-10")
    check("the missing hour 02:00-03:00 is skipped",
          ok and [x["start"] for x in slots_of(a)] == ["2030-03-10T01:00:00-08:00", "2030-03-10T01:30:00-08:00",
                                                        "2030-03-10T03:00:00-07:00", "2030-03-10T03:30:00-07:00"])
    r = s.request("POST", base, window_body("2030-11-03", "2030-11-03", minutes=30))
    check("night window on fall-back day: 201 with 6 slots", r.status == 201 and r.json["slots"] == 6)
    a = avail(Client(ctx["port"]), code, "2030-11-03", "2030-11-03")
    sl = slots_of(a) if a.status == 200 else []
    locs = [x["time"] for x in sl]
    check("the repeated hour is generated once", locs == ["01:00", "01:30", "02:00", "02:30", "03:00", "03:30"])
    utc = [x["start"] for x in sl]
    check("fall-back slots have distinct instants and standard-time offsets after the change",
          len(set(utc)) == 6 and all(u.endswith("-08:00") for u in utc))


def test_zones(ctx):
    s = ctx["staff_p"]
    r = s.request("POST", "/api/v1/admin/offices/%s/windows" % office("CLP"),
                  window_body("2030-03-09", "2030-03-11"))
    check("Phoenix window: 201", r.status == 201 and r.json["slots"] == 18)
    a = avail(Client(ctx["port"]), office("CLP"), "2030-03-09", "2030-03-11")
    check("Arizona keeps -07:00 across the US change",
          a.status == 200 and len(slots_of(a)) == 18 and all(x["start"].endswith("-07:00") for x in slots_of(a)))
    s = ctx["staff_s"]
    r = s.request("POST", "/api/v1/admin/offices/%s/windows/preview" % office("CLS"),
                  window_body("2030-04-06", "2030-04-07"))
    st = preview_starts(r) if r.status == 200 else []
    check("Sydney: +11:00 before 7 April 2030, +10:00 from it",
          len(st) == 12 and all(x.endswith("+11:00") for x in st[:6]) and all(x.endswith("+10:00") for x in st[6:])
          and st[0] == "2030-04-06T08:00:00+11:00" and st[6] == "2030-04-07T08:00:00+10:00")
    r = s.request("POST", "/api/v1/admin/offices/%s/windows/preview" % office("CLS"),
                  window_body("2030-10-05", "2030-10-06"))
    st = preview_starts(r) if r.status == 200 else []
    check("Sydney: +10:00 before 6 October 2030, +11:00 from it",
          len(st) == 12 and all(x.endswith("+10:00") for x in st[:6]) and all(x.endswith("+11:00") for x in st[6:]))


def test_excluded_and_holidays(ctx):
    s, code = ctx["staff"], office("CLA")
    r = s.request("POST", "/api/v1/admin/offices/%s/windows" % code,
                  window_body("2030-03-12", "2030-03-15", excluded=["2030-03-13"]))
    ok = check("window with a holiday and an excluded day: 201 with 12 slots (%s)" % r.body[:200],
               r.status == 201 and r.json["slots"] == 12)
    if ok:
        ctx["w2"] = r.json["window"]["id"]
        check("excluded_days echoed", r.json["window"]["excluded_days"] == ["2030-03-13"])
    a = avail(Client(ctx["port"]), code, "2030-03-12", "2030-03-15")
    check("holiday 16 and excluded 17 skipped", a.status == 200
          and [d["date"] for d in a.json["days"]] == ["2030-03-14", "2030-03-15"])


def test_release(ctx):
    s, code = ctx["staff_s"], office("CLS")
    release = time.time() + 3
    r = s.request("POST", "/api/v1/admin/offices/%s/windows" % code,
                  window_body("2030-04-08", "2030-04-09", release=iso_utc(release)))
    check("window released in 3 s: 201", r.status == 201 and r.json["slots"] == 12)
    c = Client(ctx["port"])
    a = avail(c, code, "2030-04-08", "2030-04-09")
    sl = slots_of(a) if a.status == 200 else []
    check("before release: opens_at, no bookable seat", a.status == 200 and a.json["opens_at"] == iso_utc(release)
          and a.json["free"] == 0 and len(sl) == 12 and all(x["free"] == 0 and x["opens_at"] for x in sl))
    rows = psql(ctx["dsn"], "SELECT count(*) FROM slots s JOIN calendar_windows w ON w.id = s.window_id"
                            " WHERE w.office_code = :'v1' AND w.first_day = '2030-04-08'", code)
    check("slots are loaded ahead of time", rows == [["12"]]
          and redis(ctx["redis_port"], "ZCOUNT", "cal:{%s}:proc:%s" % (code, PROC), "-inf", "+inf") == "12")
    time.sleep(max(0, release - time.time()) + 0.6)
    a = avail(c, code, "2030-04-08", "2030-04-09")
    check("after release: seats and no opens_at", a.status == 200 and a.json["opens_at"] is None
          and a.json["free"] == 24 and all(x["free"] == 2 for x in slots_of(a)))


def test_close(ctx):
    if "w1" not in ctx:
        return
    s, code = ctx["staff"], office("CLA")
    base = "/api/v1/admin/offices/%s/windows" % code
    r = s.request("POST", "%s/%d/close" % (base, ctx["w1"]))
    check("close: 200 (%s)" % r.body[:200], r.status == 200 and r.json["state"] == "closed" and r.json["slots"] == 18)
    time.sleep(0.4)
    a = avail(Client(ctx["port"]), code, "2030-03-09", "2030-03-11")
    check("closed window: no availability", a.status == 200 and a.json["days"] == [])
    check("closed in Redis", redis(ctx["redis_port"], "HGET", "cal:{%s}:window:%d" % (code, ctx["w1"]), "state")
          == "closed")
    r = s.request("GET", base)
    states = {w["window"]["id"]: w["window"]["state"] for w in r.json["windows"]} if r.status == 200 else {}
    check("list shows it closed", states.get(ctx["w1"]) == "closed")
    r = s.request("POST", "%s/%d/close" % (base, ctx["w1"]))
    check("closing again is fine", r.status == 200)
    r = s.request("POST", "%s/999999999/close" % base)
    check("closing an unknown window: 404", is_problem(r, 404))
    r = s.request("POST", "%s/abc/close" % base)
    check("closing a malformed id: 404", is_problem(r, 404))
    r = s.request("POST", base, window_body("2030-03-10", "2030-03-11"))
    check("a closed window no longer blocks a new one", r.status == 201)


def test_cancel_day(ctx):
    if "w2" not in ctx:
        return
    s, code, dsn = ctx["staff"], office("CLA"), ctx["dsn"]
    if psql(dsn, "SELECT to_regclass('appointments') IS NOT NULL") != [["t"]]:
        # before booking's migration: the day's slots alone
        r = s.request("POST", "/api/v1/admin/offices/%s/days/2030-03-14/cancel" % code)
        check("cancel day without appointments table: 200 with 6 slots (%s)" % r.body[:300], r.status == 200
              and r.json["slots_cancelled"] == 6 and r.json["appointments_cancelled"] == 0)
        rows = psql(dsn, "SELECT DISTINCT state FROM slots WHERE office_code = :'v1'"
                         " AND local_start::date = '2030-03-14'", code)
        check("the day's slots are cancelled in PostgreSQL", rows == [["cancelled"]])
        return
    addr = "cit-%s@example.org" % RUN.lower()
    rows = psql(dsn, "INSERT INTO accounts (email, password_hash, full_name, doc_type, doc_number, lang)"
                     " VALUES (:'v1', '$argon2id$v=19$m=8,t=1,p=1$x$y', 'Ana', 'passport', :'v2', 'en')"
                     " RETURNING id", addr, "G" + str(random.randint(10000000, 99999999)))
    acc = rows[0][0]
    appt = "".join(random.choice("23456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(10))
    psql(dsn, "INSERT INTO appointments (code, slot_id, seat, office_code, procedure_code, account_id,"
              " document_type, document_number) SELECT :'v1', s.id, 1, s.office_code, s.procedure_code, :'v2',"
              " 'passport', a.doc_number FROM slots s, accounts a WHERE s.window_id = :'v3'"
              " AND s.local_start = '2030-03-14 09:00' AND a.id = :'v2'", appt, acc, ctx["w2"])
    person = "bk:{%s}:person:test:%s" % (code, PROC)
    redis(ctx["redis_port"], "SET", person, appt)
    r = s.request("POST", "/api/v1/admin/offices/%s/days/2030-03-14/cancel" % code)
    check("cancel day: 200 with 6 slots, 1 appointment, 1 email (%s)" % r.body[:300], r.status == 200
          and r.json["slots_cancelled"] == 6 and r.json["appointments_cancelled"] == 1 and r.json["emails"] == 1)
    rows = psql(dsn, "SELECT state, cancel_reason FROM appointments WHERE code = :'v1'", appt)
    check("the appointment is cancelled", rows == [["cancelled", "day_cancelled"]])
    rows = psql(dsn, "SELECT count(*) FROM mail_outbox WHERE to_addr = :'v1' AND kind = 'booking_cancelled'"
                     " AND params->>'code' = :'v2'", addr, appt)
    check("the citizen is emailed", rows == [["1"]])
    rows = psql(dsn, "SELECT count(*) FROM booking_events e JOIN appointments a ON a.id = e.appointment_id"
                     " WHERE a.code = :'v1' AND e.action = 'cancelled'", appt)
    check("the action is recorded", rows == [["1"]])
    rows = psql(dsn, "SELECT DISTINCT state FROM slots WHERE office_code = :'v1'"
                     " AND local_start::date = '2030-03-14'", code)
    check("the day's slots are cancelled in PostgreSQL", rows == [["cancelled"]])
    time.sleep(0.4)
    a = avail(Client(ctx["port"]), code, "2030-03-14", "2030-03-15")
    check("the day has no availability, the next one keeps it", a.status == 200
          and [d["date"] for d in a.json["days"]] == ["2030-03-15"])
    r = s.request("POST", "/api/v1/admin/offices/%s/days/2030-03-14/cancel" % code)
    check("cancelling again: 200, nothing left", r.status == 200 and r.json["slots_cancelled"] == 0
          and r.json["appointments_cancelled"] == 0)
    r = s.request("POST", "/api/v1/admin/offices/%s/days/2030-02-30/cancel" % code)
    check("cancel a bad date: 400", is_problem(r, 400))


def test_bad_input(ctx):
    s, code, c = ctx["staff"], office("CLA"), Client(ctx["port"])
    base = "/api/v1/admin/offices/%s/windows" % code

    def refused(desc, r, status):
        check("%s: %d problem (%d %s)" % (desc, status, r.status, r.body[:160]), is_problem(r, status))

    refused("procedure not offered", s.request("POST", base, window_body("2030-04-29", "2030-04-30",
                                                                         procedure="visa")), 422)
    refused("unknown procedure", s.request("POST", base, window_body("2030-04-29", "2030-04-30",
                                                                     procedure="nope")), 422)
    refused("last day before first", s.request("POST", base, window_body("2030-04-30", "2030-04-29")), 422)
    refused("range over 180 days", s.request("POST", base, window_body("2030-04-27", "2030-12-27")), 422)
    refused("first day in the past", s.request("POST", base, window_body("2024-05-01", "2024-05-02")), 422)
    refused("bad JSON", s.request("POST", base, raw=b'{"procedure": '), 400)
    refused("not an object", s.request("POST", base, raw=b'[1]'), 400)
    refused("bad date", s.request("POST", base, window_body("2030-02-30", "2030-02-26")), 400)
    refused("date with garbage", s.request("POST", base, window_body("2030-3-1", "2030-02-26")), 400)
    refused("slot_minutes too small", s.request("POST", base, window_body("2030-04-29", "2030-04-30", minutes=3)), 400)
    refused("slot_minutes not an integer", s.request("POST", base, window_body("2030-04-29", "2030-04-30",
                                                                               minutes=7.5)), 400)
    refused("seats too many", s.request("POST", base, window_body("2030-04-29", "2030-04-30", seats=1000)), 400)
    refused("release without offset", s.request("POST", base, window_body("2030-04-29", "2030-04-30",
                                                                           release="2030-04-27T09:00:00")), 400)
    refused("release absurdly late", s.request("POST", base, window_body("2030-04-29", "2030-04-30",
                                                                         release="2035-05-01T09:00:00Z")), 422)
    refused("excluded day not a date", s.request("POST", base, window_body("2030-04-29", "2030-04-30",
                                                                           excluded=["tomorrow"])), 400)
    b = window_body("2030-04-29", "2030-04-30")
    b["colour"] = "red"
    refused("unknown member", s.request("POST", base, b), 400)
    refused("window for an unknown office", s.request("POST", "/api/v1/admin/offices/ZZZ%s/windows/preview" % RUN,
                                                      window_body("2030-04-29", "2030-04-30")), 403)
    r = s.request("POST", base, raw=b"procedure=x", ctype="application/x-www-form-urlencoded")
    refused("wrong content type", r, 415)

    refused("availability: unknown office", avail(c, "NOPE" + RUN, "2030-03-09", "2030-03-11"), 404)
    refused("availability: procedure not offered", avail(c, code, "2030-03-09", "2030-03-11", "visa"), 404)
    refused("availability: bad procedure", avail(c, code, "2030-03-09", "2030-03-11", "DROP%20TABLE"), 400)
    refused("availability: no procedure", c.request("GET", "/api/v1/offices/%s/availability" % code), 400)
    refused("availability: bad from", avail(c, code, "2030-13-01", "2030-03-11"), 400)
    refused("availability: to before from", avail(c, code, "2030-03-11", "2030-03-09"), 400)
    refused("availability: more than 62 days", avail(c, code, "2030-02-25", "2030-05-28"), 400)


def test_authorisation(ctx):
    code = office("CLA")
    other = ctx["staff_o"]
    body = window_body("2030-05-28", "2030-05-29")
    r = other.request("POST", "/api/v1/admin/offices/%s/windows" % code, body)
    check("staff of another office cannot open a window: 403", is_problem(r, 403))
    r = other.request("GET", "/api/v1/admin/offices/%s/windows" % code)
    check("... nor list them: 403", is_problem(r, 403))
    r = other.request("POST", "/api/v1/admin/offices/%s/days/2030-05-28/cancel" % code)
    check("... nor cancel a day: 403", is_problem(r, 403))
    if "w2" in ctx:
        r = other.request("POST", "/api/v1/admin/offices/%s/windows/%d/close" % (code, ctx["w2"]))
        check("... nor close a window: 403", is_problem(r, 403))
    r = other.request("POST", "/api/v1/admin/offices/%s/windows" % office("CLO"),
                      window_body("2030-03-28", "2030-03-30", excluded=[]))
    check("staff of that office can (201)", r.status == 201)
    r = Client(ctx["port"]).request("POST", "/api/v1/admin/offices/%s/windows" % code, body)
    check("no session: 401", is_problem(r, 401))
    r = ctx["staff"].request("POST", "/api/v1/admin/offices/%s/windows" % code, body, csrf=False)
    check("no CSRF token: 403", is_problem(r, 403))


def main():
    citasd, citasctl, smtp_sink = sys.argv[1:4]
    dsn = os.environ["CITAS_TEST_PG_DSN"]
    redis_port = os.environ["CITAS_TEST_REDIS_PORT"]
    tmp = tempfile.mkdtemp(prefix="calendar.", dir=os.environ.get("CITAS_TEST_TMPDIR", "/tmp"))
    port = free_port()
    proc = sink = None
    maildir = os.path.join(tmp, "mail")
    os.mkdir(maildir)
    sport = free_port()
    try:
        sink = subprocess.Popen([smtp_sink, "--port", str(sport), "--dir", maildir], stdout=subprocess.DEVNULL)
        check("smtp sink listens", wait_port(sport))
        setup_offices(dsn)
        pw = "staff password 123"
        staff = {}
        for key, off in (("staff", "CLA"), ("staff_n", "CLN"), ("staff_p", "CLP"), ("staff_s", "CLS"),
                         ("staff_o", "CLO")):
            addr = "%s-%s@example.org" % (key.replace("_", "-"), RUN.lower())
            check("create-staff %s" % off, create_staff(citasctl, dsn, tmp, addr, office(off), pw))
            staff[key] = addr
        env = dict(os.environ)
        env.update({"CITAS_LISTEN": "127.0.0.1:%d" % port, "CITAS_TLS_LISTEN": "", "CITAS_WORKERS": "2",
                    "CITAS_REDIS_PORT": redis_port, "CITAS_PG_DSN": dsn, "CITAS_ACCESS_LOG": "",
                    "CITAS_CAPTCHA_ACTIONS": "booking",
                    "CITAS_HCAPTCHA_SECRET": "0x0000000000000000000000000000000000000000",
                    "CITAS_AUTH_HASH_THREADS": "1", "CITAS_AUTH_PWHASH_OPSLIMIT": "1",
                    "CITAS_AUTH_PWHASH_MEMLIMIT_KIB": "8192",
                    "CITAS_SMTP_URL": "smtp://127.0.0.1:%d" % sport, "CITAS_SMTP_STARTTLS": "none",
                    "CITAS_MAIL_POLL_MS": "50"})
        log = open(os.path.join(tmp, "citasd.log"), "ab")
        proc = subprocess.Popen([citasd], env=env, stdout=log, stderr=log)
        if not check("citasd listens", wait_port(port)):
            return 1
        ctx = {"port": port, "dsn": dsn, "redis_port": redis_port}
        for key, addr in staff.items():
            c = Client(port)
            login(maildir, c, addr, pw)
            ctx[key] = c
        test_offices(ctx)
        test_spring_forward(ctx)
        test_night_office(ctx)
        test_zones(ctx)
        test_excluded_and_holidays(ctx)
        test_release(ctx)
        test_close(ctx)
        test_cancel_day(ctx)
        test_bad_input(ctx)
        test_authorisation(ctx)
        check("citasd still runs", proc.poll() is None)
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            check("citasd stops cleanly", proc.returncode == 0)
        if sink is not None:
            sink.terminate()
            sink.wait()
    return finish("calendar")


if __name__ == "__main__":
    sys.exit(main())
