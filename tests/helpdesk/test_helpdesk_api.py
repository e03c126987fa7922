#!/usr/bin/env python3
"""Help-desk tickets API end to end against real citasd, Redis and PostgreSQL: numbering (INC-YYYY-NNNNNN,
sequential), validation, list filters and CSV, detail with notes history, legal and illegal state
transitions (409), reassignment, stats, the read-only appointment look-up (recorded in helpdesk_lookups),
and refusals: no session 401, citizen or consular staff 403, missing CSRF 403, help desk cannot cancel a
booking. Usage: test_helpdesk_api.py CITASD CITASCTL (sessions are written in auth's format, see bk_env)."""
import os
import random
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "booking"))
from bk_env import Checks, Env, psql  # noqa: E402

t = Checks("helpdesk_api")
run = "".join(random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5))
OFF = "THD" + run
env = Env(sys.argv[1], sys.argv[2], "hd-" + run)
try:
    env.office(OFF, "America/Mexico_City")
    slots = env.window(OFF, "passport_renewal", ["2031-02-03 09:00"], 2)
    (cit_id, _), = env.citizens(1, "HDC" + run)
    cit_email = ("hdc%s1@example.com" % run).lower()
    hd1 = env.staff("hd1" + run, "helpdesk", "")
    hd2 = env.staff("hd2" + run, "helpdesk", "")
    sysadm = env.staff("sa" + run, "sysadmin", "")
    cstaff = env.staff("cs" + run, "consular_staff", OFF)
    s_hd1, s_hd2 = env.sessions([hd1, hd2], "helpdesk")
    s_sa, = env.sessions([sysadm], "sysadmin")
    s_cs, = env.sessions([cstaff], "consular_staff", OFF)
    s_cit, = env.sessions([cit_id], "citizen")
    env.start()

    # --- create: numbers sequential within the year ---
    marker = "marca-" + run
    made = []
    for concept, extra in (("sin_codigo", {"email": cit_email.upper()}), ("sin_citas", {"office": OFF}),
                           ("error_portal", {"appointment_code": "ABCDEFGH23"})):
        body = {"concept": concept, "description": "Descripción %s «%s»" % (marker, concept)}
        body.update(extra)
        st, h, b = env.http("POST", "/api/v1/tickets", body, s_hd1)
        t.eq(st, 201, "create %s" % concept)
        made.append(b if isinstance(b, dict) else {})
    nums = [m.get("number", "") for m in made]
    t.check(all(len(n) == 15 and n.startswith("INC-") and n[8] == "-" for n in nums), "number shape %r" % nums)
    # the year (and below the day) of each ticket is the UTC one of its own opened_at: a "now" read after them
    # would be the next year's (day's) for tickets opened just before midnight UTC
    opened = [m.get("opened_at", "") for m in made]
    t.check(all(n[4:8] == o[:4] for n, o in zip(nums, opened)), "numbers carry the year: %r %r" % (nums, opened))
    seq = [int(n[9:]) for n in nums if len(n) == 15]
    # consecutive within a year; a ticket opened after midnight of 31 December starts the new year's count
    t.check(len(seq) == 3 and all(b == a + 1 or (y != z and b >= 1) for a, b, y, z in
                                  zip(seq, seq[1:], [n[4:8] for n in nums], [n[4:8] for n in nums[1:]])),
            "numbers are consecutive: %r" % nums)
    t.eq(made[0].get("state"), "abierto", "a new ticket is abierto")
    t.eq(made[0].get("email"), cit_email, "email stored lower-cased")
    t.eq(made[1].get("office"), OFF, "office stored")
    t.eq(made[0].get("created_by"), hd1, "created_by is the session's account")
    t.check(made[0].get("opened_at", "").endswith("Z") and made[0].get("closed_at") is None, "dates")
    st, h, b = env.http("POST", "/api/v1/tickets", {"concept": "otro", "description": "x"}, s_sa)
    t.eq(st, 201, "sysadmin may create tickets")
    t.eq(h.get("location"), "/api/v1/tickets/" + (b or {}).get("number", "?"), "Location header")
    n1, n2, n3 = nums

    # --- validation ---
    bad = [({"concept": "nada", "description": "x"}, 422, "unknown concept"),
           ({"concept": "otro"}, 422, "no description"),
           ({"concept": "otro", "description": "   "}, 422, "blank description"),
           ({"concept": "otro", "description": "x" * 4001}, 422, "description too long"),
           ({"concept": "otro", "description": 5}, 400, "description not a string"),
           ({"concept": "otro", "description": "x", "email": "no-at-sign"}, 422, "bad email"),
           ({"concept": "otro", "description": "x", "appointment_code": "abc"}, 422, "bad code"),
           ({"concept": "otro", "description": "x", "office": "bad office!"}, 422, "bad office code"),
           ({"concept": "otro", "description": "x", "office": "NOPE" + run}, 422, "unknown office")]
    for body, want, what in bad:
        st, h, b = env.http("POST", "/api/v1/tickets", body, s_hd1)
        t.eq(st, want, what)
        t.check(h.get("content-type", "").startswith("application/problem+json"), "problem+json: " + what)
    st, _, _ = env.http("POST", "/api/v1/tickets", b'{"concept":"otro","description":"\xff"}', s_hd1)
    t.eq(st, 400, "invalid UTF-8 refused")

    # --- list with filters ---
    def listing(query):
        st, _, b = env.http("GET", "/api/v1/tickets?" + urllib.parse.urlencode(query), sess=s_hd1)
        return st, [x["number"] for x in (b or {}).get("tickets", [])] if st == 200 else b

    st, got = listing({"q": marker})
    t.eq((st, sorted(got)), (200, sorted(nums)), "q finds the three tickets")
    t.eq(listing({"q": marker.upper(), "concept": "sin_citas"})[1], [n2], "concept filter (q case-insensitive)")
    t.eq(listing({"office": OFF})[1], [n2], "office filter")
    t.eq(listing({"q": cit_email})[1], [n1], "q matches the citizen email")
    t.eq(listing({"q": marker, "status": "cerrado"})[1], [], "status filter")
    day1, day2 = min(o[:10] for o in opened), max(o[:10] for o in opened)  # one day unless midnight fell between
    t.eq(sorted(listing({"q": marker, "from": day1, "to": day2})[1]), sorted(nums), "date range of the opening day")
    t.eq(listing({"q": marker, "from": "2099-01-01"})[1], [], "date range in the future")
    for q, what in (({"status": "nuevo"}, "bad status"), ({"from": "2026-02-30"}, "bad date"),
                    ({"q": "x" * 201}, "q too long"), ({"format": "xml"}, "bad format")):
        st, _ = listing(q)
        t.eq(st, 400, what)

    # --- notes and detail ---
    st, _, b = env.http("POST", "/api/v1/tickets/%s/notes" % n1, {"body": "Llamé al ciudadano"}, s_hd2)
    t.eq(st, 201, "add a note")
    t.eq((b or {}).get("author"), hd2, "note author")
    t.eq(env.http("POST", "/api/v1/tickets/%s/notes" % n1, {"body": ""}, s_hd2)[0], 422, "empty note")
    t.eq(env.http("POST", "/api/v1/tickets/INC-1999-999999/notes", {"body": "x"}, s_hd2)[0], 404,
         "note on an unknown ticket")
    st, _, b = env.http("GET", "/api/v1/tickets/" + n1, sess=s_hd1)
    t.eq(st, 200, "detail")
    t.eq((b or {}).get("ticket", {}).get("number"), n1, "detail number")
    t.eq([(x["author"], x["kind"], x["body"]) for x in (b or {}).get("notes", [])],
         [(hd2, "note", "Llamé al ciudadano")], "detail notes")
    t.eq(env.http("GET", "/api/v1/tickets/INC-1999-999999", sess=s_hd1)[0], 404, "unknown ticket")
    t.eq(env.http("GET", "/api/v1/tickets/nonsense", sess=s_hd1)[0], 404, "malformed number")

    # --- transitions ---
    def patch(num, body, sess=s_hd1):
        st, _, b = env.http("PATCH", "/api/v1/tickets/" + num, body, sess)
        return st, b if isinstance(b, dict) else {}

    t.eq(patch(n1, {"state": "resuelto"})[0], 409, "abierto -> resuelto is illegal")
    t.eq(patch(n1, {"state": "abierto"})[0], 409, "abierto -> abierto is illegal")
    t.eq(patch(n1, {"state": "bogus"})[0], 422, "unknown state")
    t.eq(patch(n1, {})[0], 422, "nothing to change")
    for frm, to in (("abierto", "en_proceso"), ("en_proceso", "abierto"), ("abierto", "en_proceso"),
                    ("en_proceso", "resuelto"), ("resuelto", "en_proceso"), ("en_proceso", "resuelto")):
        st, b = patch(n1, {"state": to})
        t.eq((st, b.get("state")), (200, to), "%s -> %s" % (frm, to))
    t.check(b.get("closed_at") is None, "not closed yet")
    st, b = patch(n1, {"state": "cerrado"})
    t.eq((st, b.get("state")), (200, "cerrado"), "resuelto -> cerrado")
    t.check(isinstance(b.get("closed_at"), str) and b["closed_at"].endswith("Z"), "closed_at set")
    for to in ("abierto", "en_proceso", "resuelto", "cerrado"):
        t.eq(patch(n1, {"state": to})[0], 409, "cerrado -> %s is illegal" % to)
    t.eq(patch(n3, {"state": "cerrado"})[0], 200, "abierto -> cerrado")
    t.eq(patch("INC-1999-999999", {"state": "cerrado"})[0], 404, "patch unknown ticket")

    # --- reassignment ---
    st, b = patch(n2, {"assignee": hd2})
    t.eq((st, b.get("assignee")), (200, hd2), "assign to another help-desk account")
    st, b = patch(n2, {"assignee": sysadm, "state": "en_proceso"})
    t.eq((st, b.get("assignee"), b.get("state")), (200, sysadm, "en_proceso"), "assign and change state")
    t.eq(patch(n2, {"assignee": cit_id})[0], 422, "a citizen cannot be the assignee")
    t.eq(patch(n2, {"assignee": "7"})[0], 422, "assignee must be a number")
    t.eq(patch(n2, {"assignee": 1.5})[0], 422, "assignee must be an integer")
    st, b = patch(n2, {"assignee": None})
    t.eq((st, b.get("assignee", "missing")), (200, None), "unassign")
    notes = env.http("GET", "/api/v1/tickets/" + n2, sess=s_hd1)[2].get("notes", [])
    t.eq([x["kind"] for x in notes], ["change"] * 3, "changes recorded in the history")
    t.check(any("en_proceso" in x["body"] for x in notes), "state change in history: %r" % notes)
    t.eq(notes[0]["author"], hd1, "change author")
    hist = env.http("GET", "/api/v1/tickets/" + n1, sess=s_hd1)[2].get("notes", [])
    t.eq(len(hist), 1 + 7, "note plus seven state changes in the history")

    # --- CSV ---
    st, h, raw = env.http("GET", "/api/v1/tickets?format=csv&q=" + marker, sess=s_hd1, raw=True)
    t.eq(st, 200, "CSV")
    t.check(h.get("content-type", "").startswith("text/csv"), "CSV content type")
    lines = raw.decode().split("\r\n")
    t.eq(lines[0].split(",")[:3], ['"number"', '"state"', '"concept"'], "CSV header")
    t.eq(len([x for x in lines[1:] if x]), 3, "CSV rows")
    t.check(any(n1 in x and "cerrado" in x for x in lines), "CSV carries the state")

    # --- stats ---
    st, _, b = env.http("GET", "/api/v1/tickets/stats?from=%s&to=%s" % (day1, day2), sess=s_hd1)
    t.eq(st, 200, "stats")
    mine = psql("SELECT concept, count(*) FROM tickets WHERE (opened_at AT TIME ZONE 'UTC')::date "
                "BETWEEN :'p1'::date AND :'p2'::date GROUP BY 1", day1, day2)
    t.eq((b or {}).get("by_concept"), {c: int(n) for c, n in mine}, "stats by concept match the table")
    t.check((b or {}).get("by_state", {}).get("cerrado", 0) >= 2, "stats by state")
    t.check(all(day1 <= d["date"] <= day2 for d in (b or {}).get("per_day", [])) and b.get("per_day"), "per day")
    st, _, b = env.http("GET", "/api/v1/tickets/stats", sess=s_sa)
    t.eq(st, 200, "stats with the default range")
    t.eq(env.http("GET", "/api/v1/tickets/stats?from=2026-05-02&to=2026-05-01", sess=s_hd1)[0], 400,
         "stats: from after to")

    # --- the citizen's appointments, read-only and recorded ---
    st, _, bk = env.book(s_cit, slots[0], "passport_renewal")
    t.eq(st, 201, "citizen books")
    code = (bk or {}).get("code", "")
    st, h, b = env.http("GET", "/api/v1/helpdesk/appointments?email=" + urllib.parse.quote(cit_email.upper()),
                        sess=s_hd1)
    t.eq(st, 200, "look-up")
    t.eq([(a["code"], a["state"], a["office"]) for a in (b or {}).get("appointments", [])],
         [(code, "active", OFF)], "look-up finds the appointment")
    rows = psql("SELECT account_id, host(client_ip) FROM helpdesk_lookups WHERE subject_email = :'p1'", cit_email)
    t.eq(rows, [[str(hd1), "127.0.0.1"]], "look-up recorded (who, from where)")
    # recorded in the same transaction (audit_pending), then chained by citasd's chainer (~250 ms)
    a = psql("SELECT (SELECT count(*) FROM audit_pending WHERE action = 'appointment.lookup' AND subject = :'p1')"
             " + (SELECT count(*) FROM audit_log WHERE action = 'appointment.lookup' AND subject = :'p1')",
             "citizen:" + cit_email)
    t.eq(a, [["1"]], "look-up in the audit log")
    t.eq(env.http("GET", "/api/v1/helpdesk/appointments?email=nope", sess=s_hd1)[0], 400, "look-up bad email")
    t.eq(env.http("GET", "/api/v1/helpdesk/appointments?email=" + cit_email, sess=s_cit)[0], 403,
         "citizen cannot use the look-up")

    # --- refusals ---
    for sess, want, what in ((None, 401, "no session"), (s_cit, 403, "citizen"), (s_cs, 403, "consular staff")):
        t.eq(env.http("GET", "/api/v1/tickets", sess=sess)[0], want, "list: " + what)
        t.eq(env.http("POST", "/api/v1/tickets", {"concept": "otro", "description": "x"}, sess)[0], want,
             "create: " + what)
        t.eq(env.http("GET", "/api/v1/tickets/" + n2, sess=sess)[0], want, "detail: " + what)
        t.eq(env.http("PATCH", "/api/v1/tickets/" + n2, {"state": "resuelto"}, sess)[0], want, "patch: " + what)
        t.eq(env.http("GET", "/api/v1/tickets/stats", sess=sess)[0], want, "stats: " + what)
    nocsrf = {"Cookie": "citas_session=" + s_hd1[0]}
    t.eq(env.http("POST", "/api/v1/tickets", {"concept": "otro", "description": "x"}, headers=nocsrf)[0], 403,
         "create without CSRF")
    t.eq(env.http("PATCH", "/api/v1/tickets/" + n2, {"state": "resuelto"},
                  headers=dict(nocsrf, **{"X-CSRF-Token": "0" * 64}))[0], 403, "patch with a wrong CSRF token")
    t.eq(psql("SELECT state FROM tickets WHERE number = :'p1'", n2), [["en_proceso"]], "refused patches changed nothing")
    st = env.http("DELETE", "/api/v1/appointments/" + code, sess=s_hd1)[0]
    t.check(st in (403, 404), "help desk cannot cancel a booking (%d)" % st)
    t.eq(psql("SELECT state FROM appointments WHERE code = :'p1'", code), [["active"]], "booking still active")
    t.eq(psql("SELECT count(*) FROM tickets WHERE description = 'x' AND created_by = ANY(:'p1'::bigint[])",
              "{%d,%d}" % (cit_id, cstaff)), [["0"]], "no ticket created by refused sessions")
finally:
    env.close()
sys.exit(t.finish())
