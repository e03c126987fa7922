#!/usr/bin/env python3
"""The audit log end to end, against real citasd, Redis and PostgreSQL (a database of its own, so that the
whole chain and every signed head in it are this test's): a booking, a reschedule, a cancel, a check-in, a
window opened and closed, a day cancelled, an agenda viewed and help-desk ticket actions each leave one
chained record with actor, role, action, time, office and client IP; citasd's chainer drains audit_pending
and its signer signs the head; `citasctl verify-audit` passes, then names the first broken record after a
superuser changes one behind the trigger's back. GET /api/v1/admin/audit: sysadmin sees everything,
consular_admin only their office (another office's filter 403), consular_staff, helpdesk and citizens 403,
anonymous 401; filters (from/to, action and prefix, actor, subject, office), bad filters 400, keyset
pagination, CSV. Usage: test_audit_api.py CITASD CITASCTL SQL_DIR"""
import csv
import datetime
import io
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "booking"))
from bk_env import Checks, Env, psql  # noqa: E402

CITASD, CITASCTL, SQLDIR = sys.argv[1], sys.argv[2], sys.argv[3]
t = Checks("audit_api")
run = "".join(random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5))
OFF, OFF2 = "TAU" + run, "TAV" + run
PROC = "passport_renewal"
tmp = os.environ.get("CITAS_TEST_TMPDIR", "/tmp")
base_dsn = os.environ["CITAS_TEST_PG_DSN"]
db = "citas_test_auditapi_%d_%d" % (os.getpid(), int(time.time()))


def sh(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, **kw)


def verify():
    r = sh(CITASCTL, "verify-audit", "--public-key", pub, "--dsn", os.environ["CITAS_TEST_PG_DSN"])
    return r.returncode, (r.stdout + r.stderr).strip()


def iso_utc(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- a database of our own, migrated; an Ed25519 key for the signer ---
r = sh("psql", base_dsn, "-qAtX", "-c", "CREATE DATABASE %s" % db)
if r.returncode != 0:
    print("cannot create %s: %s" % (db, r.stderr), file=sys.stderr)
    sys.exit(1)
os.environ["CITAS_TEST_PG_DSN"] = base_dsn + " dbname=" + db
key, pub = os.path.join(tmp, "audit-%s.pem" % run), os.path.join(tmp, "audit-%s.pub.pem" % run)
ok = (sh(CITASCTL, "migrate", "--dir", SQLDIR, "--dsn", os.environ["CITAS_TEST_PG_DSN"]).returncode == 0 and
      sh("openssl", "genpkey", "-algorithm", "ed25519", "-out", key).returncode == 0 and
      sh("openssl", "pkey", "-in", key, "-pubout", "-out", pub).returncode == 0)
env = None
try:
    if not t.check(ok, "database migrated and key made"):
        sys.exit(t.finish())
    env = Env(CITASD, CITASCTL, "audit-" + run, extra={
        "CITAS_AUDIT_SIGNING_KEY": key, "CITAS_AUDIT_PUBLIC_KEY": pub,
        "CITAS_AUDIT_CHAIN_INTERVAL_MS": "100", "CITAS_AUDIT_SIGN_INTERVAL_MS": "300"})
    for code in (OFF, OFF2):
        env.office(code, "America/Mexico_City")
        psql("INSERT INTO office_procedures (office_code, procedure_code) VALUES (:'p1', :'p2');"
             "INSERT INTO office_hours (office_code, weekday, opens, closes) SELECT :'p1', d, '09:00', '12:00' "
             "FROM generate_series(1, 7) d", code, PROC)
    (c1, _), (c2, _) = env.citizens(2, "TAC" + run)
    cs = env.staff("cs" + run, "consular_staff", OFF)
    ca = env.staff("ca" + run, "consular_admin", OFF)
    cb = env.staff("cb" + run, "consular_admin", OFF2)
    hd = env.staff("hd" + run, "helpdesk", "")
    sa = env.staff("sa" + run, "sysadmin", "")
    s1, s2 = env.sessions([c1, c2])
    s_cs, = env.sessions([cs], "consular_staff", OFF)
    s_ca, = env.sessions([ca], "consular_admin", OFF)
    s_cb, = env.sessions([cb], "consular_admin", OFF2)
    s_hd, = env.sessions([hd], "helpdesk")
    s_sa, = env.sessions([sa], "sysadmin")
    env.start()
    today = datetime.date.fromisoformat(psql("SELECT (now() AT TIME ZONE 'UTC')::date")[0][0])
    d1, d2 = str(today + datetime.timedelta(days=30)), str(today + datetime.timedelta(days=31))

    # --- the actions ---
    body = {"procedure": PROC, "first_day": d1, "last_day": d2, "slot_minutes": 60, "seats_per_slot": 2,
            "release_at": iso_utc(time.time() - 60)}
    st, _, w = env.http("POST", "/api/v1/admin/offices/%s/windows" % OFF, body, s_cs)
    t.eq(st, 201, "window opened by consular staff")
    wid = (w or {}).get("window", {}).get("id", 0) if isinstance(w, dict) else 0
    st, _, w2 = env.http("POST", "/api/v1/admin/offices/%s/windows" % OFF2, body, s_cb)
    t.eq(st, 201, "window opened in the other office")
    wid2 = (w2 or {}).get("window", {}).get("id", 0) if isinstance(w2, dict) else 0
    slots = [int(x[0]) for x in psql("SELECT id FROM slots WHERE window_id = :'p1' ORDER BY starts_at", wid)]
    t.eq(len(slots), 6, "3 slots a day for 2 days")
    slots += [0] * 6
    st, _, b = env.book(s1, slots[0], PROC)
    t.eq(st, 201, "citizen 1 books")
    code1 = (b or {}).get("code", "") if isinstance(b, dict) else ""
    st, _, b = env.book(s2, slots[1], PROC)
    t.eq(st, 201, "citizen 2 books")
    code2 = (b or {}).get("code", "") if isinstance(b, dict) else ""
    st, _, b = env.http("POST", "/api/v1/appointments/%s/reschedule" % code1, {"slot": slots[2]}, s1)
    t.eq(st, 200, "citizen 1 reschedules")
    code1b = (b or {}).get("code", "") if isinstance(b, dict) else ""
    t.eq(env.http("DELETE", "/api/v1/appointments/" + code2, sess=s2)[0], 200, "citizen 2 cancels")
    t.eq(env.http("POST", "/api/v1/admin/appointments/%s/check-in" % code1b, sess=s_cs)[0], 200, "check-in")
    t.eq(env.http("GET", "/api/v1/admin/offices/%s/agenda?date=%s" % (OFF, d1), sess=s_cs)[0], 200, "agenda")
    st, _, tk = env.http("POST", "/api/v1/tickets", {"concept": "sin_citas", "description": "Sin citas " + run,
                                                     "office": OFF}, s_hd)
    t.eq(st, 201, "ticket created")
    num = (tk or {}).get("number", "") if isinstance(tk, dict) else ""
    t.eq(env.http("PATCH", "/api/v1/tickets/" + num, {"state": "en_proceso"}, s_hd)[0], 200, "ticket state")
    t.eq(env.http("PATCH", "/api/v1/tickets/" + num, {"state": "cerrado"}, s_hd)[0], 409,
         "illegal transition (no record)")
    t.eq(env.http("POST", "/api/v1/tickets/%s/notes" % num, {"body": "Nota"}, s_hd)[0], 201, "ticket note")
    t.eq(env.http("GET", "/api/v1/tickets/" + num, sess=s_hd)[0], 200, "ticket viewed")
    t.eq(env.http("GET", "/api/v1/tickets/INC-1999-999999", sess=s_hd)[0], 404, "unknown ticket (no record)")
    t.eq(env.http("GET", "/api/v1/tickets?office=" + OFF, sess=s_hd)[0], 200, "tickets listed")
    email1 = ("tac%s1@example.com" % run).lower()
    t.eq(env.http("GET", "/api/v1/helpdesk/appointments?email=" + email1, sess=s_hd)[0], 200, "look-up")
    t.eq(env.http("POST", "/api/v1/admin/offices/%s/windows/%d/close" % (OFF, wid), sess=s_cs)[0], 200,
         "window closed")
    t.eq(env.http("POST", "/api/v1/admin/offices/%s/windows/999999999/close" % OFF, sess=s_cs)[0], 404,
         "closing an unknown window (no record)")
    t.eq(env.http("POST", "/api/v1/admin/offices/%s/days/%s/cancel" % (OFF2, d2), sess=s_cb)[0], 200,
         "day cancelled in the other office")

    # --- the chainer drains audit_pending ---
    end = time.time() + 20
    while time.time() < end and psql("SELECT count(*) FROM audit_pending")[0][0] != "0":
        time.sleep(0.1)
    t.eq(psql("SELECT count(*) FROM audit_pending"), [["0"]], "nothing left pending")
    # the UTC day when every action above was done: 'today' is the day the run began, and a run that crosses
    # midnight UTC leaves records on the next day too
    last_day = datetime.date.fromisoformat(psql("SELECT (now() AT TIME ZONE 'UTC')::date")[0][0])

    expect = [  # action, subject, actor, role, office
        ("window.create", "window:%d" % wid, cs, "consular_staff", OFF),
        ("window.create", "window:%d" % wid2, cb, "consular_admin", OFF2),
        ("booking.create", "appointment:" + code1, c1, "citizen", OFF),
        ("booking.create", "appointment:" + code2, c2, "citizen", OFF),
        ("booking.reschedule", "appointment:" + code1b, c1, "citizen", OFF),
        ("booking.cancel", "appointment:" + code2, c2, "citizen", OFF),
        ("booking.check_in", "appointment:" + code1b, cs, "consular_staff", OFF),
        ("agenda.view", "agenda:%s:%s" % (OFF, d1), cs, "consular_staff", OFF),
        ("ticket.create", "ticket:" + num, hd, "helpdesk", OFF),
        ("ticket.update", "ticket:" + num, hd, "helpdesk", OFF),
        ("ticket.note", "ticket:" + num, hd, "helpdesk", OFF),
        ("ticket.view", "ticket:" + num, hd, "helpdesk", OFF),
        ("ticket.list", "tickets", hd, "helpdesk", OFF),  # listed with ?office=
        ("appointment.lookup", "citizen:" + email1, hd, "helpdesk", None),
        ("window.close", "window:%d" % wid, cs, "consular_staff", OFF),
        ("day.cancel", "day:%s:%s" % (OFF2, d2), cb, "consular_admin", OFF2),
    ]
    rows = psql("SELECT action, subject, coalesce(actor_account::text, ''), actor_role, coalesce(detail->>'office', ''),"
                " host(client_ip), extract(epoch FROM now() - at) < 120, id FROM audit_log ORDER BY id")
    for action, subject, actor, role, office in expect:
        got = [r for r in rows if r[0] == action and r[1] == subject]
        if t.eq(len(got), 1, "one %s record for %s" % (action, subject)):
            r = got[0]
            t.eq((r[2], r[3], r[4], r[5], r[6]), (str(actor), role, office or "", "127.0.0.1", "t"),
                 "%s: actor, role, office, client IP, time" % action)
    t.eq(len([r for r in rows if r[0] == "window.close"]), 1, "no record for the unknown window")
    t.eq(len([r for r in rows if r[0] == "ticket.update"]), 1, "no record for the illegal transition")
    t.eq(len([r for r in rows if r[0] == "ticket.view"]), 1, "no record for the unknown ticket")
    det = psql("SELECT detail->>'appointment', detail->>'procedure', detail->>'from' FROM audit_log"
               " WHERE action = 'booking.reschedule'")
    t.eq(det, [[code1b, PROC, code1]], "reschedule detail: appointment, procedure, from")
    t.eq(psql("SELECT detail->>'slots' FROM audit_log WHERE action = 'window.create' AND subject = :'p1'",
              "window:%d" % wid), [["6"]], "window.create detail counts its slots")
    # the chain: every record links to the one before and hashes to its contents
    t.eq(psql("SELECT count(*) FROM audit_log l WHERE hash <> audit_row_hash(prev_hash, id, at, actor_account,"
              " actor_role, action, subject, detail, client_ip) OR prev_hash <> coalesce((SELECT hash FROM"
              " audit_log p WHERE p.id < l.id ORDER BY p.id DESC LIMIT 1), decode(repeat('00', 32), 'hex'))"),
         [["0"]], "every record chained")

    # --- the head is signed; verify-audit passes ---
    last = rows[-1][7] if rows else "0"
    end = time.time() + 10
    while time.time() < end and psql("SELECT count(*) FROM audit_heads WHERE upto_id >= :'p1'", last)[0][0] == "0":
        time.sleep(0.1)
    t.check(psql("SELECT count(*) FROM audit_heads WHERE upto_id >= :'p1'", last)[0][0] != "0", "head signed")
    rc, out = verify()
    t.check(rc == 0 and out.startswith("audit chain OK:"), "verify-audit passes: %s" % out)

    # --- browsing ---
    def browse(sess, query="", raw=False):
        return env.http("GET", "/api/v1/admin/audit" + ("?" + query if query else ""), sess=sess, raw=raw)

    t.eq(browse(None)[0], 401, "anonymous 401")
    for sess, what in ((s1, "citizen"), (s_cs, "consular_staff"), (s_hd, "helpdesk")):
        st, h, _ = browse(sess)
        t.eq(st, 403, what + " 403")
        t.check(h.get("content-type", "").startswith("application/problem+json"), what + ": problem+json")

    def all_records(sess, query="limit=500"):
        st, _, b = browse(sess, query)
        return st, (b or {}).get("records", []) if st == 200 and isinstance(b, dict) else []

    st, recs = all_records(s_sa)
    t.eq(st, 200, "sysadmin browses")
    keys = {(r.get("action"), r.get("subject")) for r in recs}
    t.check(all((a, s) in keys for a, s, _, _, _ in expect), "sysadmin sees every record")
    ids = [r["id"] for r in recs]
    t.eq(ids, sorted(ids, reverse=True), "newest first")
    one = next((r for r in recs if r["action"] == "booking.cancel"), {})
    t.eq((one.get("actor_account"), one.get("actor_email"), one.get("actor_role"), one.get("client_ip"),
          one.get("detail", {}).get("office"), one.get("detail", {}).get("appointment")),
         (c2, ("tac%s2@example.com" % run).lower(), "citizen", "127.0.0.1", OFF, code2), "a record's fields")
    t.check(str(one.get("at", "")).endswith("Z") and str(today) <= str(one.get("at", ""))[:10] <= str(last_day),
            "at is UTC: %r" % one.get("at"))
    st, _, b = browse(s_sa, "limit=1")
    head = (b or {}).get("head", {}) if isinstance(b, dict) else {}
    t.check(head.get("chained_upto", 0) >= int(last) and head.get("signed_upto") is not None
            and head.get("signed_at"), "head: %r" % head)

    st, recs = all_records(s_ca)
    t.eq(st, 200, "consular_admin browses")
    t.check(recs and all(r.get("detail", {}).get("office") == OFF for r in recs),
            "consular_admin sees only their office")
    t.check(("window.create", "window:%d" % wid) in {(r["action"], r["subject"]) for r in recs},
            "including the window of their office")
    t.eq(browse(s_ca, "office=" + OFF2)[0], 403, "consular_admin: another office's filter 403")
    t.eq(all_records(s_ca, "office=" + OFF)[0], 200, "consular_admin: their own office's filter")
    st, recs = all_records(s_cb)
    t.check(st == 200 and recs and all(r.get("detail", {}).get("office") == OFF2 for r in recs)
            and {"window.create", "day.cancel"} <= {r["action"] for r in recs}, "the other office's admin")

    # filters
    def subjects(query):
        st, recs = all_records(s_sa, query + "&limit=500")
        return st, sorted((r["action"], r["subject"]) for r in recs)

    t.eq(subjects("action=booking.cancel")[1], [("booking.cancel", "appointment:" + code2)], "action filter")
    t.eq({a for a, _ in subjects("action=booking.*")[1]},
         {"booking.create", "booking.reschedule", "booking.cancel", "booking.check_in"}, "action prefix")
    t.eq(subjects("actor=%d" % cs)[1], sorted([("window.create", "window:%d" % wid),
                                                ("booking.check_in", "appointment:" + code1b),
                                                ("agenda.view", "agenda:%s:%s" % (OFF, d1)),
                                                ("window.close", "window:%d" % wid)]), "actor filter")
    t.eq(subjects("subject=appointment:" + code1b)[1], [("booking.check_in", "appointment:" + code1b),
                                                       ("booking.reschedule", "appointment:" + code1b)],
         "subject filter")
    t.eq({a for a, _ in subjects("office=" + OFF2)[1]}, {"window.create", "day.cancel"}, "office filter")
    t.check(len(subjects("from=%s&to=%s" % (today, last_day))[1]) >= len(expect), "from/to the run's days")
    t.eq(subjects("from=%s" % (last_day + datetime.timedelta(days=2)))[1], [], "from the future: nothing")
    t.eq(subjects("to=%s" % (today - datetime.timedelta(days=1)))[1], [], "to yesterday: nothing")
    # to: noon of the next day at +01:00 (11:00Z), after every record of this run whatever the hour it runs at
    t.check(len(subjects("from=%sT00:00:00Z&to=%sT12:00:00%%2B01:00" % (today, last_day + datetime.timedelta(days=1)))[1])
            >= len(expect), "from/to as date-times with offsets")
    t.eq(subjects("from=%sT00:00:00Z&to=%sT00:00:00%%2B01:00" % (today, today))[1], [],
         "a to before from (23:00Z of the day before): nothing")
    for q, what in (("from=2026-02-30", "impossible date"), ("to=yesterday", "not a date"),
                    ("from=2026-11-23T25:00:00Z", "bad hour"), ("from=2026-11-23T10:00:00", "no offset"),
                    ("actor=abc", "actor not a number"), ("actor=0", "actor zero"), ("before=-1", "bad before"),
                    ("limit=0", "limit 0"), ("limit=501", "limit 501"), ("limit=x", "limit not a number"),
                    ("action=Booking!", "bad action"), ("office=bad%20office", "bad office"),
                    ("format=xml", "bad format"), ("subject=" + "x" * 201, "subject too long")):
        st, h, _ = browse(s_sa, q)
        t.eq(st, 400, "400 for " + what)
        t.check(h.get("content-type", "").startswith("application/problem+json"), "problem+json for " + what)

    # keyset pagination: pages of 3 cover the whole list once, in order (anchored below the newest record,
    # as records keep arriving: browsing is recorded too)
    st, full = all_records(s_sa, "limit=500&office=" + OFF)
    anchor = full[0]["id"] + 1 if full else 1
    pages, before, seen = 0, anchor, []
    while pages < 50:
        st, _, b = browse(s_sa, "limit=3&office=%s&before=%d" % (OFF, before))
        if st != 200 or not isinstance(b, dict):
            break
        seen += [r["id"] for r in b["records"]]
        pages += 1
        t.check(len(b["records"]) <= 3, "page size")
        before = b.get("next_before")
        if before is None:
            break
    t.eq(seen, [r["id"] for r in full], "pages cover the list exactly once, in order")
    t.eq(pages, (len(full) + 2) // 3, "number of pages")

    # CSV
    st, h, raw = browse(s_sa, "format=csv&limit=500&office=%s&before=%d" % (OFF, anchor), raw=True)
    t.eq(st, 200, "CSV")
    t.check(h.get("content-type", "").startswith("text/csv"), "CSV content type")
    rows_csv = list(csv.reader(io.StringIO(raw.decode())))
    t.eq(rows_csv[0] if rows_csv else None, ["id", "at", "actor_account", "actor_email", "actor_role", "action",
                                             "subject", "detail", "client_ip"], "CSV header")
    t.eq([int(r[0]) for r in rows_csv[1:]], [r["id"] for r in full], "CSV rows are the records")

    # browsing is itself recorded
    end = time.time() + 10
    while time.time() < end and psql("SELECT count(*) FROM audit_pending")[0][0] != "0":
        time.sleep(0.1)
    t.check(int(psql("SELECT count(*) FROM audit_log WHERE action = 'audit.browse' AND actor_account = :'p1'",
                     sa)[0][0]) > 10, "browsing recorded (audit.browse)")
    t.eq(psql("SELECT detail->'filters'->>'office', detail ? 'office' FROM audit_log WHERE action = 'audit.browse'"
              " AND detail->'filters'->>'format' = 'csv'"), [[OFF, "f"]], "its filters in the detail")

    # --- tampering, as a superuser behind the trigger's back, is found ---
    victim = [r for r in rows if r[0] == "booking.cancel"][0][7] if rows else "0"
    saved = psql("SELECT client_ip::text FROM audit_log WHERE id = :'p1'", victim)[0][0]
    psql("ALTER TABLE audit_log DISABLE TRIGGER USER; UPDATE audit_log SET client_ip = '203.0.113.66' WHERE id = :'p1';"
         "ALTER TABLE audit_log ENABLE TRIGGER USER", victim)
    rc, out = verify()
    t.check(rc == 1 and ("BROKEN at record %s:" % victim) in out, "tampering named: %s" % out)
    refused = sh("psql", os.environ["CITAS_TEST_PG_DSN"], "-qAtX", "-c",
                 "UPDATE audit_log SET client_ip = NULL WHERE id = %s" % victim)
    t.check(refused.returncode != 0 and "append-only" in refused.stderr, "UPDATE refused with the trigger on")
    psql("ALTER TABLE audit_log DISABLE TRIGGER USER; UPDATE audit_log SET client_ip = :'p2' WHERE id = :'p1';"
         "ALTER TABLE audit_log ENABLE TRIGGER USER", victim, saved)
    rc, out = verify()
    t.check(rc == 0, "restored chain verifies: %s" % out)
finally:
    if env is not None:
        env.close()
    sh("psql", base_dsn, "-qAtX", "-c", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
    for f in (key, pub):
        if os.path.exists(f):
            os.unlink(f)
sys.exit(t.finish())
