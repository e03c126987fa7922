#!/usr/bin/env python3
"""The staff and sysadmin admin API end to end, against real citasd (2 workers), PostgreSQL, Redis and an SMTP
sink: office settings (read, procedures, hours, holidays), offices and staff accounts (sysadmin), the staff
cancellation of an appointment (citizen mailed in their language, seat back in availability, booking_events
and audit records), and for every role (anonymous, citizen, helpdesk, consular_staff, consular_admin of an
office and of every office, sysadmin) what it may do and what it is refused: staff of office A on office B's
windows, agenda, settings and appointments, help desk cancelling or checking in, citizens anywhere, no session,
bad input. Reference caches are given a one-hour TTL, so the public office routes showing a change at once
proves the invalidation. A staff account made through the API logs in through the real flow (Argon2id
password, code from the SMTP sink); disabling it ends that live session.

Usage: test_admin_api.py CITASD CITASCTL SMTP_SINK (sessions of the fixed accounts are written in auth's
format, see tests/booking/bk_env.py)."""
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "booking"))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from bk_env import Checks, Env, psql  # noqa: E402
from citas_test import Mailbox, free_port, wait_port  # noqa: E402

t = Checks("admin_api")
run = "".join(random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5))
OFF_A, OFF_B, OFF_NEW = "TAA" + run, "TAB" + run, "TAN" + run
PROC = "passport_renewal"
DAY = "2031-03-03"


def header(h, name):
    for k, v in h.items():
        if k.lower() == name:
            return v
    return None


def is_problem(st, h, b, status):
    return (st == status and (header(h, "content-type") or "").startswith("application/problem+json")
            and isinstance(b, dict) and b.get("status") == status and bool(b.get("detail")))


def eventually(sql, *params, want=None, timeout=8.0):
    """psql rows, polled until they equal want (audit records reach audit_log a moment after their commit)."""
    end = time.time() + timeout
    rows = psql(sql, *params)
    while rows != want and time.time() < end:
        time.sleep(0.1)
        rows = psql(sql, *params)
    return rows


def text_of(msg):
    return msg.get_body(preferencelist=("plain",)).get_content() if msg is not None else ""


tmp = tempfile.mkdtemp(prefix="admin.", dir=os.environ.get("CITAS_TEST_TMPDIR", "/tmp"))
maildir = os.path.join(tmp, "mail")
os.mkdir(maildir)
smtp_port = free_port()
sink = subprocess.Popen([sys.argv[3], "--port", str(smtp_port), "--dir", maildir], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
mail = Mailbox(maildir)
env = Env(sys.argv[1], sys.argv[2], "adm-" + run, extra={
    "CITAS_SMTP_URL": "smtp://127.0.0.1:%d" % smtp_port, "CITAS_SMTP_STARTTLS": "none", "CITAS_MAIL_POLL_MS": "50",
    "CITAS_AUTH_HASH_THREADS": "1", "CITAS_AUTH_PWHASH_OPSLIMIT": "1", "CITAS_AUTH_PWHASH_MEMLIMIT_KIB": "8192",
    "CITAS_CALENDAR_REFERENCE_TTL_S": "3600", "CITAS_WEB_REFERENCE_TTL_S": "3600"})
try:
    t.check(wait_port(smtp_port), "smtp sink listens")
    for code, tz in ((OFF_A, "America/Mexico_City"), (OFF_B, "Europe/Madrid")):
        env.office(code, tz)
        psql("INSERT INTO office_procedures VALUES (:'p1', :'p2')", code, PROC)
        psql("INSERT INTO office_hours VALUES (:'p1', 1, '09:00', '14:00')", code)
    slot_a, = env.window(OFF_A, PROC, [DAY + " 09:00"], 2)
    slot_b, = env.window(OFF_B, PROC, [DAY + " 10:00"], 2)
    (cit1, _), (cit2, _), (cit3, _) = env.citizens(3, "ADC" + run)
    psql("UPDATE accounts SET lang = 'en' WHERE id = :'p1'", cit2)
    cit_email = {cit1: ("adc%s1@example.com" % run).lower(), cit2: ("adc%s2@example.com" % run).lower()}
    cs_a = env.staff("csa" + run, "consular_staff", OFF_A)
    ca_a = env.staff("caa" + run, "consular_admin", OFF_A)
    ca_all = env.staff("cax" + run, "consular_admin", "")
    cs_b = env.staff("csb" + run, "consular_staff", OFF_B)
    hd = env.staff("hd" + run, "helpdesk", "")
    sa = env.staff("sa" + run, "sysadmin", "")
    s_cs_a, = env.sessions([cs_a], "consular_staff", OFF_A)
    s_ca_a, = env.sessions([ca_a], "consular_admin", OFF_A)
    s_ca_all, = env.sessions([ca_all], "consular_admin", "")
    s_cs_b, = env.sessions([cs_b], "consular_staff", OFF_B)
    s_hd, = env.sessions([hd], "helpdesk")
    s_sa, = env.sessions([sa], "sysadmin")
    s_c1, s_c2, s_c3 = env.sessions([cit1, cit2, cit3], "citizen")
    env.start()

    st, _, b = env.book(s_c1, slot_a, PROC)
    t.eq(st, 201, "citizen 1 books at office A")
    code_a1 = (b or {}).get("code", "")
    st, _, b = env.book(s_c2, slot_a, PROC)
    t.eq(st, 201, "citizen 2 (English) books at office A")
    code_a2 = (b or {}).get("code", "")
    st, _, b = env.book(s_c3, slot_b, PROC)
    t.eq(st, 201, "citizen 3 books at office B")
    code_b = (b or {}).get("code", "")

    settings_a = "/api/v1/admin/offices/%s/settings" % OFF_A
    routes = [  # every admin route with a harmless, well-formed body
        ("GET", settings_a, None),
        ("PUT", "/api/v1/admin/offices/%s/procedures" % OFF_A, {"procedures": [PROC]}),
        ("PUT", "/api/v1/admin/offices/%s/hours" % OFF_A, {"hours": []}),
        ("POST", "/api/v1/admin/offices/%s/holidays" % OFF_A, {"day": "2031-01-01", "name": "x"}),
        ("DELETE", "/api/v1/admin/offices/%s/holidays/2031-01-01" % OFF_A, None),
        ("GET", "/api/v1/admin/offices", None),
        ("POST", "/api/v1/admin/offices", {"code": "ZZZ"}),
        ("PATCH", "/api/v1/admin/offices/" + OFF_A, {"city": "x"}),
        ("GET", "/api/v1/admin/staff", None),
        ("POST", "/api/v1/admin/staff", {"email": "x@example.com"}),
        ("PATCH", "/api/v1/admin/staff/%d" % cs_a, {"disabled": True}),
        ("DELETE", "/api/v1/admin/appointments/" + code_a1, None),
        ("GET", "/api/v1/admin/offices/%s/windows" % OFF_A, None),
        ("GET", "/api/v1/admin/offices/%s/agenda?date=%s" % (OFF_A, DAY), None),
        ("POST", "/api/v1/admin/appointments/%s/check-in" % code_a1, None),
    ]

    # --- anonymous: 401 everywhere; citizen: 403 everywhere ---
    for method, path, body in routes:
        st, h, b = env.http(method, path, body)
        t.check(is_problem(st, h, b, 401), "anonymous %s %s: 401 problem (got %d)" % (method, path, st))
        st, h, b = env.http(method, path, body, s_c1)
        t.check(is_problem(st, h, b, 403), "citizen %s %s: 403 problem (got %d)" % (method, path, st))
    # --- help desk: refused everywhere here, cancelling and checking in included ---
    for method, path, body in routes:
        st, h, b = env.http(method, path, body, s_hd)
        t.check(is_problem(st, h, b, 403), "helpdesk %s %s: 403 (got %d)" % (method, path, st))
    st, _, _ = env.http("DELETE", "/api/v1/admin/appointments/" + code_a1, None, (s_sa[0], "0" * 64))
    t.eq(st, 403, "a write with a wrong CSRF token is refused")

    # --- consular staff of A: reads A, writes nothing of the settings, refused on B ---
    st, _, doc = env.http("GET", settings_a, sess=s_cs_a)
    t.eq(st, 200, "staff of A reads A's settings")
    doc = doc or {}
    office = doc.get("office", {})
    t.eq((office.get("code"), office.get("time_zone"), office.get("country")),
         (OFF_A, "America/Mexico_City", "US"), "settings: office")
    t.check(all(k in office for k in ("kind", "name_es", "name_en", "city", "address", "phone")),
            "settings: office fields")
    procs = {p["code"]: p for p in doc.get("procedures", [])}
    all_procs = [r[0] for r in psql("SELECT code FROM procedures ORDER BY code")]
    t.eq(sorted(procs), all_procs, "settings: every procedure listed")
    t.eq([c for c in all_procs if procs.get(c, {}).get("offered")], [PROC], "settings: offered flags")
    t.check(all(isinstance(p.get("duration_min"), int) and p.get("name_es") for p in procs.values()),
            "settings: procedure names and durations")
    t.eq(doc.get("hours"), [{"weekday": 1, "opens": "09:00", "closes": "14:00"}], "settings: hours")
    t.eq(doc.get("holidays"), [], "settings: holidays")
    for method, path, body in routes[1:5]:
        st, h, b = env.http(method, path, body, s_cs_a)
        t.check(is_problem(st, h, b, 403), "staff of A may not %s %s (got %d)" % (method, path, st))
    for method, path in (("GET", "/api/v1/admin/offices/%s/settings" % OFF_B),
                         ("GET", "/api/v1/admin/offices/%s/windows" % OFF_B),
                         ("GET", "/api/v1/admin/offices/%s/agenda?date=%s" % (OFF_B, DAY)),
                         ("DELETE", "/api/v1/admin/appointments/" + code_b),
                         ("POST", "/api/v1/admin/appointments/%s/check-in" % code_b),
                         ("POST", "/api/v1/admin/appointments/%s/no-show" % code_b),
                         ("POST", "/api/v1/admin/offices/%s/days/%s/cancel" % (OFF_B, DAY))):
        st, h, b = env.http(method, path, None, s_cs_a)
        t.check(is_problem(st, h, b, 403), "staff of A on B: %s %s is 403 (got %d)" % (method, path, st))
    st, h, b = env.http("PUT", "/api/v1/admin/offices/%s/hours" % OFF_B, {"hours": []}, s_ca_a)
    t.check(is_problem(st, h, b, 403), "admin of A may not change B's hours")
    st, _, b = env.http("GET", "/api/v1/admin/offices/%s/windows" % OFF_B, sess=s_sa)
    t.eq(st, 200, "sysadmin lists B's windows")
    st, _, b = env.http("GET", "/api/v1/admin/offices/%s/windows" % OFF_A, sess=s_cs_a)
    win = ((b or {}).get("windows") or [{}])[0]
    t.eq((st, win.get("seats"), win.get("booked")), (200, 2, 2), "window list: seats offered and booked")
    st, h, b = env.http("GET", "/api/v1/admin/offices/%s/agenda?date=%s&format=csv" % (OFF_A, DAY), sess=s_cs_a,
                        raw=True)
    t.check(st == 200 and (header(h, "content-type") or "").startswith("text/csv")
            and code_a1.encode() in b and code_a2.encode() in b, "agenda CSV lists both appointments")

    # --- staff cancel ---
    def avail(office):
        st, _, b = env.http("GET", "/api/v1/offices/%s/availability?procedure=%s&from=%s&to=%s"
                            % (office, PROC, DAY, DAY))
        return (b or {}).get("free") if st == 200 else None

    t.eq(avail(OFF_A), 0, "office A is full before the cancel")
    st, h, b = env.http("DELETE", "/api/v1/admin/appointments/" + code_a1, {"reason": 5}, s_cs_a)
    t.check(is_problem(st, h, b, 400), "reason must be a string")
    st, h, b = env.http("DELETE", "/api/v1/admin/appointments/" + code_a1, {"reason": "a\u0007b"}, s_cs_a)
    t.check(is_problem(st, h, b, 422), "reason with a control character: 422")
    st, h, b = env.http("DELETE", "/api/v1/admin/appointments/" + code_a1, {"why": "x"}, s_cs_a)
    t.check(is_problem(st, h, b, 400), "unknown body field: 400")
    t.eq(env.http("DELETE", "/api/v1/admin/appointments/ABCDEFGH23", None, s_cs_a)[0], 404, "unknown code: 404")
    t.eq(env.http("DELETE", "/api/v1/admin/appointments/nonsense", None, s_cs_a)[0], 404, "malformed code: 404")
    st, _, b = env.http("DELETE", "/api/v1/admin/appointments/" + code_a1, {"reason": "Cierre por mantenimiento"},
                        s_cs_a)
    t.eq((st, b), (200, {"code": code_a1, "state": "cancelled"}), "staff of A cancels an appointment of A")
    st, h, b = env.http("DELETE", "/api/v1/admin/appointments/" + code_a1, None, s_cs_a)
    t.check(is_problem(st, h, b, 409), "cancelling it again: 409")
    st, _, b = env.http("DELETE", "/api/v1/admin/appointments/" + code_a2, None, s_ca_all)
    t.eq(st, 200, "an admin of every office cancels at A (no reason)")
    st, _, b = env.http("DELETE", "/api/v1/admin/appointments/" + code_b, None, s_sa)
    t.eq(st, 200, "sysadmin cancels at B")
    t.eq(psql("SELECT state, cancel_reason FROM appointments WHERE code = :'p1'", code_a1), [["cancelled", "staff"]],
         "the appointment row is cancelled by staff")
    t.eq(psql("SELECT e.account_id, e.detail->>'note' FROM booking_events e JOIN appointments a ON "
              "a.id = e.appointment_id WHERE a.code = :'p1' AND e.action = 'cancelled'", code_a1),
         [[str(cs_a), "Cierre por mantenimiento"]], "booking_events row names the staff account")
    want = [[str(cs_a), "consular_staff", OFF_A, "appointment:" + code_a1]]
    t.eq(eventually("SELECT actor_account, actor_role, detail->>'office', subject FROM audit_log "
                    "WHERE action = 'appointment.staff_cancel' AND subject = 'appointment:' || :'p1'", code_a1,
                    want=want), want, "audit record of the staff cancel")
    m1 = mail.wait(cit_email[cit1], "booking_cancelled", 1)
    t.check(m1 is not None and "Cita cancelada" in str(m1.get("Subject")) and code_a1 in str(m1.get("Subject")),
            "citizen 1 is mailed in Spanish")
    t.check("Cierre por mantenimiento" in text_of(m1), "the mail gives the staff's reason")
    m2 = mail.wait(cit_email[cit2], "booking_cancelled", 1)
    t.check(m2 is not None and "Appointment cancelled" in str(m2.get("Subject")), "citizen 2 is mailed in English")
    end, free = time.time() + 5, None
    while time.time() < end and free != 2:
        free = avail(OFF_A)
        time.sleep(0.1)
    t.eq(free, 2, "both seats of office A are back in availability")
    st, _, b = env.book(s_c1, slot_a, PROC)
    t.eq(st, 201, "citizen 1 can book the freed seat again")
    code_a3 = (b or {}).get("code", "")
    st, _, b = env.http("POST", "/api/v1/admin/appointments/%s/check-in" % code_a3, None, s_cs_a)
    t.eq((st, (b or {}).get("state")), (200, "checked_in"), "staff of A checks the citizen in")
    st, h, b = env.http("DELETE", "/api/v1/admin/appointments/" + code_a3, None, s_cs_a)
    t.check(is_problem(st, h, b, 409) and "checked_in" in b.get("detail", ""),
            "a checked-in appointment cannot be cancelled: 409")

    # --- consular admin of A: settings writes ---
    def put(path, body, sess=s_ca_a):
        st, h, b = env.http("PUT", "/api/v1/admin/offices/%s/%s" % (OFF_A, path), body, sess)
        return st, h, b if isinstance(b, dict) else {}

    other = [c for c in all_procs if c != PROC][:2]
    st, _, b = put("procedures", {"procedures": [PROC] + other})
    t.eq(st, 200, "admin of A sets the procedures offered")
    t.eq(sorted(p["code"] for p in b.get("procedures", []) if p.get("offered")), sorted([PROC] + other),
         "the answer is the settings document with the new set")
    for i in range(4):  # both workers, cache TTL one hour: the change shows at once
        st, _, b = env.http("GET", "/api/v1/offices/%s/procedures" % OFF_A)
        t.eq(sorted(p["code"] for p in (b or {}).get("procedures", [])), sorted([PROC] + other),
             "public procedures of A show the change at once (%d)" % i)
    st, h, b = put("procedures", {"procedures": other})
    t.check(is_problem(st, h, b, 409), "dropping a procedure with an open window: 409")
    for body, want, what in (({"procedures": [PROC, "no_such_thing"]}, 422, "unknown procedure"),
                             ({"procedures": [PROC, PROC]}, 422, "duplicate procedure"),
                             ({"procedures": ["Bad Code"]}, 422, "malformed procedure"),
                             ({"procedures": PROC}, 400, "not a list"), ({}, 400, "missing list"),
                             ({"procedures": [PROC], "x": 1}, 400, "unknown field")):
        st, h, b = put("procedures", body)
        t.check(is_problem(st, h, b, want), "procedures, %s: %d (got %d)" % (what, want, st))
    hours = [{"weekday": 3, "opens": "10:00", "closes": "13:00"}, {"weekday": 1, "opens": "16:00", "closes": "18:30"},
             {"weekday": 1, "opens": "09:00", "closes": "14:00"}]
    st, _, b = put("hours", {"hours": hours})
    t.eq(st, 200, "admin of A sets the hours")
    want_hours = sorted(hours, key=lambda x: (x["weekday"], x["opens"]))
    t.eq(b.get("hours"), want_hours, "the settings document has the hours, sorted")
    for i in range(4):
        st, _, b = env.http("GET", "/api/v1/offices/" + OFF_A)
        t.eq((b or {}).get("hours"), want_hours, "public office A shows the new hours at once (%d)" % i)
    for hs, what in (([{"weekday": 0, "opens": "09:00", "closes": "10:00"}], "weekday 0"),
                     ([{"weekday": 8, "opens": "09:00", "closes": "10:00"}], "weekday 8"),
                     ([{"weekday": 1.5, "opens": "09:00", "closes": "10:00"}], "weekday 1.5"),
                     ([{"weekday": 1e300, "opens": "09:00", "closes": "10:00"}], "weekday 1e300"),
                     ([{"weekday": "1", "opens": "09:00", "closes": "10:00"}], "weekday as text"),
                     ([{"weekday": 1, "opens": "9:00", "closes": "10:00"}], "opens 9:00"),
                     ([{"weekday": 1, "opens": "09:00", "closes": "24:00"}], "closes 24:00"),
                     ([{"weekday": 1, "opens": "10:00", "closes": "10:00"}], "opens = closes"),
                     ([{"weekday": 1, "opens": "11:00", "closes": "10:00"}], "opens after closes"),
                     ([{"weekday": 2, "opens": "09:00", "closes": "12:00"},
                       {"weekday": 2, "opens": "11:30", "closes": "13:00"}], "overlap"),
                     ([{"weekday": 1, "opens": "09:00", "closes": "10:00", "x": 1}], "extra member")):
        st, h, b = put("hours", {"hours": hs})
        t.check(is_problem(st, h, b, 422) and "hours" in b.get("detail", ""), "hours, %s: 422 (got %d)" % (what, st))
    st, h, b = put("hours", {"hours": {}})
    t.check(is_problem(st, h, b, 400), "hours not a list: 400")
    st, _, b = env.http("GET", settings_a, sess=s_cs_a)
    t.eq((b or {}).get("hours"), want_hours, "bad input changed nothing")

    hol = "/api/v1/admin/offices/%s/holidays" % OFF_A
    st, h, b = env.http("POST", hol, {"day": "2031-12-25", "name": "Navidad"}, s_ca_a)
    t.eq((st, b), (201, {"office": OFF_A, "day": "2031-12-25", "name": "Navidad"}), "admin of A adds a holiday")
    t.eq(header(h, "location"), hol + "/2031-12-25", "Location of the holiday")
    st, h, b = env.http("POST", hol, {"day": "2031-12-25", "name": "Otra"}, s_ca_a)
    t.check(is_problem(st, h, b, 409), "the same day twice: 409")
    for body, want, what in (({"day": "2031-02-30", "name": "x"}, 422, "impossible date"),
                             ({"day": "2031-12-26", "name": ""}, 422, "empty name"),
                             ({"day": "2031-12-26", "name": "   "}, 422, "blank name"),
                             ({"day": "2031-12-26", "name": "x" * 201}, 422, "long name"),
                             ({"day": "2031-12-26"}, 422, "no name"),
                             ({"day": "2031-12-26", "name": "x", "y": 1}, 400, "unknown field")):
        st, h, b = env.http("POST", hol, body, s_ca_a)
        t.check(is_problem(st, h, b, want), "holiday, %s: %d (got %d)" % (what, want, st))
    st, h, b = env.http("POST", hol, b"{not json", s_ca_a)
    t.check(is_problem(st, h, b, 400), "malformed JSON: 400")
    st, _, b = env.http("GET", settings_a, sess=s_sa)
    t.eq((st, (b or {}).get("holidays")), (200, [{"day": "2031-12-25", "name": "Navidad"}]),
         "sysadmin reads the holiday in the settings")
    t.eq(env.http("DELETE", hol + "/2031-12-25", None, s_ca_a)[0], 204, "admin of A removes the holiday")
    st, h, b = env.http("DELETE", hol + "/2031-12-25", None, s_ca_a)
    t.check(is_problem(st, h, b, 404), "removing it again: 404")
    st, h, b = env.http("DELETE", hol + "/2031-13-01", None, s_ca_a)
    t.check(is_problem(st, h, b, 400), "removing a malformed day: 400")
    st, _, b = env.http("PUT", "/api/v1/admin/offices/%s/hours" % OFF_B,
                        {"hours": [{"weekday": 5, "opens": "08:00", "closes": "12:00"}]}, s_ca_all)
    t.eq((st, (b or {}).get("hours")), (200, [{"weekday": 5, "opens": "08:00", "closes": "12:00"}]),
         "an admin of every office changes B's hours")
    st, _, b = env.http("POST", "/api/v1/admin/offices/%s/holidays" % OFF_B, {"day": "2031-05-01", "name": "Día del "
                        "Trabajo"}, s_sa)
    t.eq(st, 201, "sysadmin adds a holiday to B")
    st, _, b = env.http("GET", "/api/v1/admin/offices/%s/settings" % OFF_B, sess=s_cs_b)
    t.eq((st, (b or {}).get("holidays")), (200, [{"day": "2031-05-01", "name": "Día del Trabajo"}]),
         "staff of B reads it")
    st, h, b = env.http("GET", "/api/v1/admin/offices/NOPE%s/settings" % run, sess=s_sa)
    t.check(is_problem(st, h, b, 404), "settings of an unknown office: 404")
    st, h, b = env.http("PUT", "/api/v1/admin/offices/NOPE%s/hours" % run, {"hours": []}, s_sa)
    t.check(is_problem(st, h, b, 404), "hours of an unknown office: 404")
    want = [[str(ca_a), "consular_admin", OFF_A]]
    t.eq(eventually("SELECT actor_account, actor_role, detail->>'office' FROM audit_log WHERE action = "
                    "'office.settings.hours' AND detail->>'office' = :'p1' ORDER BY id", OFF_A, want=want),
         want, "one audit record for A's hours (the refused ones left none)")
    t.eq(eventually("SELECT count(*) FROM audit_log WHERE action IN ('office.holiday.add', 'office.holiday.remove') "
                    "AND detail->>'office' = :'p1'", OFF_A, want=[["2"]]), [["2"]], "audit records for the holiday")
    t.eq(eventually("SELECT count(*) FROM audit_log WHERE action = 'office.settings.procedures' "
                    "AND detail->>'office' = :'p1'", OFF_A, want=[["1"]]), [["1"]], "audit record for the procedures")

    # --- sysadmin: offices ---
    st, _, b = env.http("GET", "/api/v1/admin/offices", sess=s_sa)
    codes = [o.get("code") for o in (b or {}).get("offices", [])]
    t.check(st == 200 and OFF_A in codes and OFF_B in codes and len(codes) >= 146, "sysadmin lists every office")
    new = {"code": OFF_NEW, "kind": "consulate", "name_es": "Consulado de México en Pruebas",
           "name_en": "Consulate of Mexico in Tests", "city": "Pruebas", "country": "CA",
           "country_name_es": "Canadá", "country_name_en": "Canada", "time_zone": "America/Toronto",
           "address": "1 Test Street, Pruebas"}
    bad = [(dict(new, time_zone="Mars/Olympus_Mons"), 422, "unknown time zone"),
           (dict(new, time_zone="america toronto"), 422, "malformed time zone"),
           (dict(new, country="XX"), 422, "unassigned country"), (dict(new, country="ca"), 422, "lower-case country"),
           (dict(new, code="ab1"), 422, "code shape"), (dict(new, kind="palace"), 422, "kind"),
           ({k: v for k, v in new.items() if k != "name_es"}, 422, "missing name_es"),
           (dict(new, name_en="ab"), 422, "short name"), (dict(new, phone="555"), 422, "phone shape"),
           (dict(new, active=False), 400, "active on create"), (dict(new, extra=1), 400, "unknown field"),
           (dict(new, city=7), 422, "city not text")]
    for body, want, what in bad:
        st, h, b = env.http("POST", "/api/v1/admin/offices", body, s_sa)
        t.check(is_problem(st, h, b, want), "office create, %s: %d (got %d %s)" % (what, want, st, b))
    st, h, b = env.http("POST", "/api/v1/admin/offices", {"code": OFF_NEW}, s_ca_all)
    t.check(is_problem(st, h, b, 403), "a consular admin may not create offices")
    st, h, b = env.http("POST", "/api/v1/admin/offices", dict(new, phone="+1 416 555 0100"), s_sa)
    t.eq((st, (b or {}).get("code"), (b or {}).get("phone"), (b or {}).get("active")),
         (201, OFF_NEW, "+1 416 555 0100", True), "sysadmin creates an office")
    st, h, b = env.http("POST", "/api/v1/admin/offices", new, s_sa)
    t.check(is_problem(st, h, b, 409), "the same code again: 409")
    for i in range(4):
        st, _, b = env.http("GET", "/api/v1/offices/" + OFF_NEW)
        t.eq((st, (b or {}).get("city")), (200, "Pruebas"), "the new office is public at once (%d)" % i)
    st, _, b = env.http("PATCH", "/api/v1/admin/offices/" + OFF_NEW,
                        {"city": "Nueva Prueba", "phone": None, "time_zone": "America/Vancouver", "country": "ZW"},
                        s_sa)
    t.eq((st, (b or {}).get("city"), (b or {}).get("phone"), (b or {}).get("time_zone"), (b or {}).get("country")),
         (200, "Nueva Prueba", None, "America/Vancouver", "ZW"), "sysadmin patches an office (last ISO code)")
    st, h, b = env.http("PATCH", "/api/v1/admin/offices/" + OFF_A, {"time_zone": "America/Chicago"}, s_sa)
    t.check(is_problem(st, h, b, 409), "time zone of an office with an open window: 409")
    for body, want, what in (({}, 422, "nothing"), ({"code": "ABC"}, 400, "code is read-only"),
                             ({"time_zone": "Nowhere/Land"}, 422, "unknown zone"), ({"active": "no"}, 422, "active")):
        st, h, b = env.http("PATCH", "/api/v1/admin/offices/" + OFF_NEW, body, s_sa)
        t.check(is_problem(st, h, b, want), "office patch, %s: %d (got %d)" % (what, want, st))
    st, h, b = env.http("PATCH", "/api/v1/admin/offices/NOPE" + run, {"city": "x"}, s_sa)
    t.check(is_problem(st, h, b, 404), "patching an unknown office: 404")
    st, _, b = env.http("PATCH", "/api/v1/admin/offices/" + OFF_NEW, {"active": False}, s_sa)
    t.eq((st, (b or {}).get("active")), (200, False), "sysadmin deactivates the office")
    for i in range(4):
        t.eq(env.http("GET", "/api/v1/offices/" + OFF_NEW)[0], 404, "a deactivated office is gone at once (%d)" % i)
    want = [["office.create", OFF_NEW, "sysadmin"], ["office.update", OFF_NEW, "sysadmin"],
            ["office.update", OFF_NEW, "sysadmin"]]
    t.eq(eventually("SELECT action, detail->>'office', actor_role FROM audit_log WHERE subject = 'office:' || :'p1' "
                    "ORDER BY id", OFF_NEW, want=want), want, "audit records of the office's create and updates")

    # --- sysadmin: staff accounts ---
    st, _, b = env.http("GET", "/api/v1/admin/staff?office=" + OFF_A, sess=s_sa)
    got = {x["id"]: x for x in (b or {}).get("staff", [])}
    t.eq(sorted(got), sorted([cs_a, ca_a]), "staff of office A")
    t.check(all(set(x) == {"id", "email", "name", "role", "office", "disabled", "created_at"} for x in got.values()),
            "staff item fields")
    st, _, b = env.http("GET", "/api/v1/admin/staff?role=sysadmin", sess=s_sa)
    t.check(st == 200 and sa in [x["id"] for x in b.get("staff", [])]
            and all(x["role"] == "sysadmin" for x in b.get("staff", [])), "role filter")
    t.eq(env.http("GET", "/api/v1/admin/staff?role=citizen", sess=s_sa)[0], 400, "citizens are not staff: 400")
    new_email = ("nst%s@staff.example.com" % run).lower()
    pw = "una clave larga 123"
    staff_body = {"email": new_email.upper(), "name": "Nueva Persona", "role": "consular_staff", "office": OFF_A,
                  "password": pw}
    for body, want, what in ((dict(staff_body, office=None), 400, "consular_staff without office"),
                             (dict(staff_body, role="helpdesk"), 400, "helpdesk with an office"),
                             (dict(staff_body, role="citizen"), 400, "role citizen"),
                             (dict(staff_body, password="short"), 400, "short password"),
                             (dict(staff_body, email="not-an-email"), 400, "bad email"),
                             (dict(staff_body, office="NOPE" + run), 422, "unknown office"),
                             (dict(staff_body, extra=1), 400, "unknown field")):
        st, h, b = env.http("POST", "/api/v1/admin/staff", body, s_sa)
        t.check(is_problem(st, h, b, want), "staff create, %s: %d (got %d %s)" % (what, want, st, b))
    st, h, b = env.http("POST", "/api/v1/admin/staff", staff_body, s_sa)
    t.eq((st, (b or {}).get("email"), (b or {}).get("role"), (b or {}).get("office"), (b or {}).get("disabled")),
         (201, new_email, "consular_staff", OFF_A, False), "sysadmin creates a staff account")
    new_id = (b or {}).get("id", 0)
    t.eq(header(h, "location"), "/api/v1/admin/staff/%s" % new_id, "Location of the account")
    st, h, b = env.http("POST", "/api/v1/admin/staff", dict(staff_body, role="helpdesk", office=None), s_sa)
    t.check(is_problem(st, h, b, 409), "the same email again: 409")
    t.check(psql("SELECT password_hash LIKE '$argon2id$%%' FROM accounts WHERE id = :'p1'", new_id) == [["t"]],
            "the password is stored as an Argon2id hash")

    def login(addr, password, nth):
        st, h, b = env.http("POST", "/api/v1/sessions", {"email": addr, "password": password,
                                                          "captcha": "pass-" + secrets.token_hex(8)})
        if st != 200:
            return st, None
        code = mail.wait_code(addr, "login_code", nth, timeout=20.0)
        st, h, b = env.http("POST", "/api/v1/sessions/code", {"login_id": b["login_id"], "code": code or ""})
        cookie = re.match(r"citas_session=([0-9a-f]{64})", header(h, "set-cookie") or "")
        return st, (cookie.group(1), b.get("csrf_token")) if st == 200 and cookie else None

    st, s_new = login(new_email, pw, 1)
    t.eq(st, 200, "the new account logs in (password hashed by the pool, code by mail)")
    st, _, b = env.http("GET", settings_a, sess=s_new)
    t.eq(st, 200, "its live session reads A's settings")
    st, _, b = env.http("GET", "/api/v1/admin/offices/%s/settings" % OFF_B, sess=s_new)
    t.eq(st, 403, "and not B's")
    st, _, b = env.http("PATCH", "/api/v1/admin/staff/%s" % new_id, {"disabled": True}, s_sa)
    t.eq((st, (b or {}).get("disabled")), (200, True), "sysadmin disables the account")
    st, h, b = env.http("GET", settings_a, sess=s_new)
    t.check(is_problem(st, h, b, 401), "the disabled account's live session is refused (got %d)" % st)
    t.eq(login(new_email, pw, 2)[0], 401, "a disabled account cannot log in")
    new_pw = "otra clave distinta 456"
    st, _, b = env.http("PATCH", "/api/v1/admin/staff/%s" % new_id, {"disabled": False, "password": new_pw,
                                                                      "office": OFF_B}, s_sa)
    t.eq((st, (b or {}).get("disabled"), (b or {}).get("office")), (200, False, OFF_B),
         "sysadmin enables it again, moves it to B and sets a password")
    t.eq(login(new_email, pw, 2)[0], 401, "the old password no longer works")
    st, s_new = login(new_email, new_pw, 2)
    t.eq(st, 200, "the new password works")
    t.eq(env.http("GET", "/api/v1/admin/offices/%s/settings" % OFF_B, sess=s_new)[0], 200,
         "after the move it reads B's settings")
    st, _, b = env.http("PATCH", "/api/v1/admin/staff/%s" % new_id, {"role": "helpdesk"}, s_sa)
    t.eq((st, (b or {}).get("role"), (b or {}).get("office")), (200, "helpdesk", None),
         "a move to helpdesk drops the office")
    st, h, b = env.http("GET", "/api/v1/tickets", sess=s_new)
    t.check(is_problem(st, h, b, 401), "a role change ends the live session (got %d)" % st)
    for path, body, want, what in (("%d" % sa, {"disabled": True}, 409, "own account disabled"),
                                   ("%d" % sa, {"role": "helpdesk"}, 409, "own role changed"),
                                   ("%d" % cit1, {"disabled": True}, 404, "a citizen's account"),
                                   ("abc", {"disabled": True}, 404, "malformed id"),
                                   ("%d" % cs_a, {}, 422, "nothing to change"),
                                   ("%d" % cs_a, {"disabled": "yes"}, 400, "disabled not a boolean"),
                                   ("%d" % cs_a, {"role": "consular_staff", "office": None}, 400, "staff no office"),
                                   ("%d" % ca_all, {"role": "consular_staff"}, 422, "staff and still no office"),
                                   ("%d" % cs_a, {"email": "x@example.com"}, 400, "email is read-only")):
        st, h, b = env.http("PATCH", "/api/v1/admin/staff/" + path, body, s_sa)
        t.check(is_problem(st, h, b, want), "staff patch, %s: %d (got %d %s)" % (what, want, st, b))
    want = [["staff.create", str(sa), OFF_A], ["staff.update", str(sa), OFF_A], ["staff.update", str(sa), OFF_B],
            ["staff.update", str(sa), "-"]]
    t.eq(eventually("SELECT action, actor_account, coalesce(detail->>'office', '-') FROM audit_log "
                    "WHERE action LIKE 'staff.%%' AND (subject = 'account:' || :'p1' OR subject = 'account:' || :'p2') "
                    "ORDER BY id", new_email, new_id, want=want), want, "audit records of the staff account")
    env.stop()  # a sanitizer build exits non-zero on a leak or an error report
    t.eq(env.proc.returncode, 0, "citasd stops cleanly")
finally:
    env.close()
    sink.terminate()
    sink.wait()
    if t.failed == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("citasd log: %s/citasd-adm-%s.log, mail: %s" % (env.tmp, run, maildir))
sys.exit(t.finish())
