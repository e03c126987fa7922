#!/usr/bin/env python3
"""Booking API end to end against real citasd, Redis and PostgreSQL: booking, time zones (DST), sold out
with next dates, refusals (bad/past/closed/unreleased slots, captcha, other people's codes), one active
appointment per person and procedure, listing, .ics, cancel (seat back at once), reschedule, staff agenda
(JSON and CSV), check-in and no-show, booking_events and the confirmation mail in the outbox.
Usage: test_booking_api.py CITASD CITASCTL"""
import hashlib
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bk_env import Checks, Env, Siteverify, psql  # noqa: E402

t = Checks("booking_api")
run = "".join(random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(4))
LA, MAD = "TBA" + run[:3], "TBM" + run[:3]
env = Env(sys.argv[1], sys.argv[2], "api-" + run)
try:
    env.office(LA, "America/Los_Angeles")
    env.office(MAD, "Europe/Madrid")
    # LA: spring forward on 2030-03-10 (02:00 -> 03:00): 01:30 is -08:00, 03:00 is -07:00
    la = env.window(LA, "passport_renewal", ["2030-03-10 01:30", "2030-03-10 03:00", "2030-03-11 09:00"], 2)
    mad = env.window(MAD, "visa", ["2030-06-03 09:00", "2030-06-04 09:00"], 1)
    past = env.window(LA, "consular_id", ["2020-01-06 09:00"], 3)
    closed = env.window(LA, "legalisation", ["2030-04-01 09:00"], 3, state="closed")
    later = env.window(MAD, "power_of_attorney", ["2030-07-01 09:00"], 3, release_in_s=3600)
    # a slot a few seconds from now (office-local wall time, to the second), in an office whose zone keeps no
    # daylight saving time: in Los Angeles the wall time of now is ambiguous from 01:00 to 02:00 on the first
    # Sunday of November, and PostgreSQL reads an ambiguous time as the later (standard time) one, so the slot
    # would start an hour later than meant and be bookable when the test expects it to have started
    PHX = "TBP" + run[:3]
    env.office(PHX, "America/Phoenix")
    soon_local = psql("SELECT to_char((now() + interval '4 seconds') AT TIME ZONE 'America/Phoenix', "
                      "'YYYY-MM-DD HH24:MI:SS')")[0][0]
    soon = env.window(PHX, "birth_registration", [soon_local], 3)
    soon_at = time.time() + 4
    people = env.citizens(6, "TBK" + run)
    ids = [p[0] for p in people]
    s = env.sessions(ids)
    shared = env.window(MAD, "legalisation", ["2030-06-10 09:00"], 2)
    pair = env.citizens(2, "TBD" + run)
    sp = env.sessions([p[0] for p in pair])
    passw = env.window(MAD, "legalisation", ["2030-06-11 09:00"], 3)
    trio = env.citizens(3, "TCP" + run)
    sc = env.sessions([p[0] for p in trio])
    env.start()

    # --- a booking, with the office's offset in its start ---
    st, h, b = env.book(s[0], la[0], "passport_renewal")
    t.eq(st, 201, "book LA 01:30")
    code = b.get("code", "") if isinstance(b, dict) else ""
    t.check(len(code) == 10 and code.isalnum(), "code shape %r" % code)
    t.eq(b.get("start"), "2030-03-10T01:30:00-08:00", "start before the DST change")
    t.eq(b.get("start_utc"), "2030-03-10T09:30:00Z", "start in UTC")
    t.eq(b.get("local"), "2030-03-10T01:30", "office-local time")
    t.eq(b.get("office", {}).get("time_zone"), "America/Los_Angeles", "office time zone")
    t.eq(h.get("location"), "/api/v1/appointments/" + code, "Location header")
    row = psql("SELECT slot_id, seat, state, document_number, account_id FROM appointments WHERE code = :'p1'", code)
    t.eq(row and row[0][:3], [str(la[0]), str(b.get("seat")), "active"], "the row in PostgreSQL")
    ev = psql("SELECT action FROM booking_events e JOIN appointments a ON a.id = e.appointment_id "
              "WHERE a.code = :'p1'", code)
    t.eq(ev, [["booked"]], "booking_events row")
    mail = psql("SELECT kind, attachment_name, attachment_type, "
                "replace(replace(convert_from(attachment_data, 'UTF8'), E'\\r', ''), E'\\n', '|') "
                "FROM mail_outbox WHERE to_addr = :'p1' ORDER BY id DESC LIMIT 1", ("tbk%s1@example.com" % run).lower())
    t.check(len(mail) == 1 and mail[0][0] == "booking_confirmed", "confirmation mail queued: %r" % mail[:1])
    if mail:
        ics = mail[0][3]
        for want in ("BEGIN:VCALENDAR", "BEGIN:VEVENT", "UID:%s@citas" % code, "DTSTART:20300310T093000Z",
                     "DTEND:", "SUMMARY:", "LOCATION:", "END:VCALENDAR"):
            t.check(want in ics, "ics has %s" % want)
        t.check(mail[0][2].startswith("text/calendar"), "ics content type")

    st, h, b = env.book(s[1], la[1], "passport_renewal")
    t.eq(st, 201, "book LA 03:00")
    t.eq(b.get("start") if isinstance(b, dict) else None, "2030-03-10T03:00:00-07:00", "start after the DST change")
    st, h, b = env.book(s[2], mad[0], "visa")
    t.eq(b.get("start") if isinstance(b, dict) else None, "2030-06-03T09:00:00+02:00", "Madrid summer offset")

    # --- one active appointment per person and procedure ---
    st, h, b = env.book(s[0], la[2], "passport_renewal")
    t.eq(st, 409, "second appointment of the same procedure")
    # the same person with the office given explicitly, other office: PostgreSQL's index refuses it
    env.window(MAD, "passport_renewal", ["2030-06-05 09:00"], 1)

    # --- sold out, with next dates ---
    st, h, b = env.book(s[3], mad[0], "visa")
    t.eq(st, 409, "sold out")
    t.eq(b.get("title") if isinstance(b, dict) else None, "Sold out", "sold-out title")
    nxt = b.get("next", []) if isinstance(b, dict) else []
    t.check(any(n.get("slot") == mad[1] and n.get("start") == "2030-06-04T09:00:00+02:00" for n in nxt),
            "next dates name the next slot with seats: %r" % nxt)

    # a loser is answered from Redis alone: its account was never looked up (no PostgreSQL on that path)
    st, h, b = env.book(s[4], mad[0], "visa")
    t.eq(st, 409, "sold out for a fresh citizen")
    # the second loser's suggestions come from the cached candidates (reserve.lua's fixed-width records)
    nxt = b.get("next", []) if isinstance(b, dict) else []
    t.check(any(n.get("slot") == mad[1] and n.get("start") == "2030-06-04T09:00:00+02:00" and
                n.get("local") == "2030-06-04T09:00" and n.get("date") == "2030-06-04" for n in nxt) and
            all(n.get("slot") != mad[0] for n in nxt), "cached next dates: the slot with seats, not the sold one: %r" % nxt)
    t.check(env.redis("EXISTS", "bk:{%s}:nextdates:visa" % MAD) == 1, "the candidates are cached")
    # cached candidates whose days have run out are built again (100 ms after they were), not served for the
    # rest of their second: a cache listing only the sold-out day still leads the loser to the day with a seat
    start, loc = env.redis("HMGET", "cal:{%s}:slot:%d" % (MAD, mad[0]), "start", "local")
    sec, usec = env.redis("TIME")
    rec = "%d %s %s" % (mad[0], start, loc)
    env.redis("SET", "bk:{%s}:nextdates:visa" % MAD, "%d 1\n%s" % (int(sec) * 1000 + int(usec) // 1000 - 150,
                                                                     rec + " " * (64 - len(rec))), "PX", 1000)
    st, h, b = env.book(s[5], mad[0], "visa")
    nxt = b.get("next", []) if isinstance(b, dict) else []
    t.check(st == 409 and any(n.get("slot") == mad[1] for n in nxt),
            "a cache of sold-out days is built again: the next dates name the slot with seats: %r" % nxt)
    t.eq(env.redis("EXISTS", "bk:acct:%d" % ids[4]), 0, "sold out: the account was not even looked up")

    # --- refusals ---
    t.eq(env.book(s[3], 999999999, "visa")[0], 404, "unknown slot id")
    t.eq(env.book(s[3], "12x", "visa")[0], 400, "malformed slot id")
    t.eq(env.book(s[3], -5, "visa")[0], 400, "negative slot id")
    t.eq(env.book(s[3], mad[1], "VISA!")[0], 400, "malformed procedure")
    t.eq(env.book(s[3], mad[1], "passport_first")[0], 422, "procedure of another slot")
    t.check(env.book(s[3], past[0], "consular_id")[0] in (404, 409), "slot of an ended window")
    time.sleep(max(0.0, soon_at - time.time()) + 0.5)
    st, h, b = env.book(s[3], soon[0], "birth_registration")
    t.eq(st, 409, "slot whose time has passed")
    t.check(isinstance(b, dict) and "already come" in b.get("detail", ""), "says the slot has started")
    t.eq(env.book(s[3], closed[0], "legalisation")[0], 409, "closed window")
    # PostgreSQL refuses it too, whatever Redis says (trigger appointments_slot_open)
    try:
        psql("INSERT INTO appointments (code, slot_id, seat, office_code, procedure_code, account_id, document_type, "
             "document_number) VALUES (:'p1', :'p2', 1, :'p3', 'legalisation', :'p4', 'consular_id', 'X1234567')",
             "C" + run + "CLXSD", closed[0], LA, ids[3])
        t.check(False, "PostgreSQL refuses an appointment in a closed window")
    except RuntimeError as e:
        t.check("appointments_slot_open" in str(e) or "not open for booking" in str(e),
                "PostgreSQL refuses an appointment in a closed window: %s" % e)
    # the same in a group's INSERT (the check runs once per statement): one closed slot refuses the whole group
    try:
        psql("INSERT INTO appointments (code, slot_id, seat, office_code, procedure_code, account_id, document_type, "
             "document_number) VALUES (:'p1', :'p2', 99, :'p3', 'passport_renewal', :'p4', 'consular_id', 'X7654321'), "
             "(:'p5', :'p6', 99, :'p3', 'legalisation', :'p7', 'consular_id', 'X7654322')",
             "G" + run + "GRPAA", la[2], LA, ids[4], "G" + run + "GRPBB", closed[0], ids[5])
        t.check(False, "PostgreSQL refuses a group with an appointment in a closed window")
    except RuntimeError as e:
        t.check("appointments_slot_open" in str(e) or "not open for booking" in str(e),
                "PostgreSQL refuses a group with an appointment in a closed window: %s" % e)
    t.eq(psql("SELECT count(*) FROM appointments WHERE code IN (:'p1', :'p2')", "G" + run + "GRPAA",
              "G" + run + "GRPBB"), [["0"]], "nothing of the refused group is left")
    st, h, b = env.book(s[3], later[0], "power_of_attorney")
    t.eq(st, 409, "window not released yet")
    t.check(isinstance(b, dict) and "opens at" in b.get("detail", ""), "says when it opens")
    t.eq(env.book(s[3], mad[1], "visa", captcha="nope")[0], 403, "captcha refused")
    st = env.http("POST", "/api/v1/appointments", {"slot": mad[1], "procedure": "visa"}, s[3])[0]
    t.eq(st, 400, "captcha missing")
    st = env.http("POST", "/api/v1/appointments", {"slot": mad[1], "procedure": "visa", "captcha": "pass-x" + run,
                                                    "extra": 1}, s[3])[0]
    t.eq(st, 400, "unknown field")
    st = env.http("POST", "/api/v1/appointments", {"slot": mad[1], "procedure": "visa", "captcha": "pass-y" + run},
                  (s[3][0], "0" * 64))[0]
    t.eq(st, 403, "wrong CSRF token")
    t.eq(env.http("POST", "/api/v1/appointments", {"slot": mad[1], "procedure": "visa"})[0], 401, "no session")
    free = env.redis("SCARD", "cal:{%s}:free:%d" % (MAD, mad[1]))
    t.eq(free, 1, "refused attempts took no seat")

    # --- my appointments; other people's codes are 404 ---
    st, h, b = env.http("GET", "/api/v1/appointments", sess=s[0])
    t.eq(st, 200, "list")
    t.eq([a["code"] for a in b.get("appointments", [])] if isinstance(b, dict) else None, [code], "list shows mine")
    st, h, b = env.http("GET", "/api/v1/appointments/" + code, sess=s[0])
    t.eq((st, b.get("code") if isinstance(b, dict) else None), (200, code), "get mine")
    t.eq(b.get("start") if isinstance(b, dict) else None, "2030-03-10T01:30:00-08:00", "get: start with offset")
    st, h, b = env.http("GET", "/api/v1/appointments/" + code, sess=s[1])
    t.eq(st, 404, "someone else's code")
    t.check(code not in str(b) and "1:30" not in str(b), "404 tells nothing about it")
    t.eq(env.http("DELETE", "/api/v1/appointments/" + code, sess=s[1])[0], 404, "cannot cancel someone else's")
    t.eq(env.http("GET", "/api/v1/appointments/ZZZZZZZZZZ", sess=s[0])[0], 404, "unknown code")
    t.eq(env.http("GET", "/api/v1/appointments/bad", sess=s[0])[0], 404, "malformed code")
    st, h, body = env.http("GET", "/api/v1/appointments/%s.ics" % code, sess=s[0], raw=True)
    t.eq(st, 200, ".ics")
    t.check(h.get("content-type", "").startswith("text/calendar") and b"DTSTART:20300310T093000Z" in body,
            ".ics content")
    t.eq(env.http("GET", "/api/v1/appointments/%s.ics" % code, sess=s[1])[0], 404, "someone else's .ics")

    # --- reschedule: new seat first, then the old one goes back ---
    before = env.redis("SCARD", "cal:{%s}:free:%d" % (LA, la[0]))
    st, h, b = env.http("POST", "/api/v1/appointments/%s/reschedule" % code, {"slot": la[2]}, s[0])
    t.eq(st, 200, "reschedule")
    new = b.get("code") if isinstance(b, dict) else None
    t.check(new and new != code, "reschedule gives a new code")
    t.eq(psql("SELECT state, cancel_reason FROM appointments WHERE code = :'p1'", code), [["cancelled", "rescheduled"]],
         "old appointment cancelled")
    t.eq(psql("SELECT state, slot_id FROM appointments WHERE code = :'p1'", new or "-"), [["active", str(la[2])]],
         "new appointment active")
    t.eq(env.redis("SCARD", "cal:{%s}:free:%d" % (LA, la[0])), before + 1, "old seat back in Redis")
    t.eq(env.http("POST", "/api/v1/appointments/%s/reschedule" % code, {"slot": la[1]}, s[0])[0], 404,
         "a cancelled appointment cannot be rescheduled")

    # --- cancel: the seat is free again at once, and the person may book again ---
    before = env.redis("SCARD", "cal:{%s}:free:%d" % (LA, la[2]))
    st, h, b = env.http("DELETE", "/api/v1/appointments/" + new, sess=s[0])
    t.eq((st, b.get("state") if isinstance(b, dict) else None), (200, "cancelled"), "cancel")
    t.eq(env.redis("SCARD", "cal:{%s}:free:%d" % (LA, la[2])), before + 1, "seat back at once")
    t.eq(env.http("DELETE", "/api/v1/appointments/" + new, sess=s[0])[0], 404, "cancel twice")
    t.eq(env.book(s[0], la[2], "passport_renewal")[0], 201, "book again after cancelling")

    # --- staff: agenda, check-in, no-show ---
    staff = env.staff("tbk-%s-la" % run, "consular_staff", LA)
    other = env.staff("tbk-%s-mad" % run, "consular_staff", MAD)
    ss, so = env.sessions([staff], "consular_staff", LA)[0], env.sessions([other], "consular_staff", MAD)[0]
    st, h, b = env.http("GET", "/api/v1/admin/offices/%s/agenda?date=2030-03-10" % LA, sess=ss)
    t.eq(st, 200, "agenda")
    ag = b.get("appointments", []) if isinstance(b, dict) else []
    t.eq([a["time"] for a in ag], ["03:00"], "agenda of the day (the rescheduled 01:30 is gone)")
    t.check(ag and ag[0]["start"] == "2030-03-10T03:00:00-07:00", "agenda start with offset")
    st, h, body = env.http("GET", "/api/v1/admin/offices/%s/agenda?date=2030-03-10&format=csv" % LA, sess=ss,
                           raw=True)
    t.check(st == 200 and h.get("content-type", "").startswith("text/csv") and body.count(b"\r\n") == 2,
            "agenda CSV: %r" % body[:200])
    st, h, body = env.http("GET", "/api/v1/admin/offices/%s/agenda?date=2030-03-10" % LA, sess=ss,
                           headers={"Accept": "text/csv"}, raw=True)
    t.check(st == 200 and body.startswith(b'"time"'), "agenda CSV by Accept")
    t.eq(env.http("GET", "/api/v1/admin/offices/%s/agenda?date=2030-03-10" % LA, sess=so)[0], 403,
         "staff of another office")
    t.eq(env.http("GET", "/api/v1/admin/offices/%s/agenda?date=2030-03-10" % LA, sess=s[1])[0], 403, "a citizen")
    t.eq(env.http("GET", "/api/v1/admin/offices/%s/agenda?date=10-03-2030" % LA, sess=ss)[0], 400, "bad date")
    c1 = ag[0]["code"] if ag else "-"
    t.eq(env.http("POST", "/api/v1/admin/appointments/%s/check-in" % c1, sess=so)[0], 403, "check-in elsewhere")
    st, h, b = env.http("POST", "/api/v1/admin/appointments/%s/check-in" % c1, sess=ss)
    t.eq((st, b.get("state") if isinstance(b, dict) else None), (200, "checked_in"), "check-in")
    t.eq(env.http("POST", "/api/v1/admin/appointments/%s/check-in" % c1, sess=ss)[0], 409, "check-in twice")
    t.eq(env.http("POST", "/api/v1/admin/appointments/%s/no-show" % c1, sess=ss)[0], 409, "no-show after check-in")
    # the checked-in citizen's Redis person key still names that appointment: booking again heals it
    t.eq(env.redis("GET", "bk:{%s}:person:%s:passport_renewal" % (LA, __import__("hashlib").sha256(
        ("consular_id:" + people[1][1]).encode()).hexdigest())), c1, "person key names the checked-in booking")
    t.eq(env.book(s[1], la[2], "passport_renewal")[0], 201, "checked in: the same procedure may be booked again")
    c2 = psql("SELECT code FROM appointments WHERE slot_id = :'p1' AND state = 'active'", la[2])
    t.eq(env.http("POST", "/api/v1/admin/appointments/%s/no-show" % c2[0][0], sess=ss)[0], 409,
         "no-show before the time") if c2 else t.check(False, "active appointment at la[2]")
    # a past appointment (inserted directly: its slot could not be booked through the API)
    psql("INSERT INTO appointments (code, slot_id, seat, office_code, procedure_code, account_id, document_type, "
         "document_number) VALUES (:'p1', :'p2', 1, :'p3', 'consular_id', :'p4', 'consular_id', :'p5')",
         "P" + run + "ABCDE", past[0], LA, ids[5], people[5][1])
    st, h, b = env.http("POST", "/api/v1/admin/appointments/P%sABCDE/no-show" % run, sess=ss)
    t.eq((st, b.get("state") if isinstance(b, dict) else None), (200, "no_show"), "no-show")
    t.eq(psql("SELECT count(*) FROM booking_events e JOIN appointments a ON a.id = e.appointment_id "
              "WHERE a.office_code = :'p1' AND e.action IN ('checked_in', 'no_show')", LA), [["2"]],
         "staff actions recorded")
    # /metrics counts the booking path's outcomes
    st, h, m = env.http("GET", "/metrics", raw=True)
    counts = {}
    for line in m.decode().splitlines():
        if line.startswith("citas_bookings_total{outcome="):
            counts[line.split('"')[1]] = int(line.split()[-1])
    t.check(counts.get("booked", 0) >= 1 and counts.get("sold_out", 0) >= 1 and counts.get("refused", 0) >= 1,
            "metrics count bookings, sold-out and refused answers: %r" % counts)
    # ... and where the booking path's time went: every 201 passed each step once (a reschedule skips only
    # the captcha's wait, not its mark), histograms cumulative, sums positive
    stage = {}
    for line in m.decode().splitlines():
        if line.startswith("citas_booking_stage_seconds_"):
            name, value = line.rsplit(" ", 1)
            stage[name] = float(value)
    for st_name in ("session", "probe", "captcha", "reserve", "persist", "confirm"):
        cnt = stage.get('citas_booking_stage_seconds_count{stage="%s"}' % st_name, 0)
        inf = stage.get('citas_booking_stage_seconds_bucket{stage="%s",le="+Inf"}' % st_name, -1)
        low = stage.get('citas_booking_stage_seconds_bucket{stage="%s",le="0.0005"}' % st_name, -1)
        total = stage.get('citas_booking_stage_seconds_sum{stage="%s"}' % st_name, 0)
        t.check(cnt >= counts.get("booked", 0) + counts.get("rescheduled", 0) and inf == cnt and 0 <= low <= cnt
                and total > 0, "stage %s timed for every booking: count %s, sum %s" % (st_name, cnt, total))
    t.eq(stage.get('citas_booking_stage_seconds_count{stage="lottery"}'), 0.0, "no lottery wait (lottery off)")

    # --- one captcha response, two citizens: the probe that finds a seat claims the response in the office's
    # keys, so the second use is refused before any seat is taken or siteverify asked ---
    tok = "pass-shared-" + run
    st, h, b = env.book(sp[0], shared[0], "legalisation", captcha=tok)
    t.eq(st, 201, "first use of a captcha response books")
    code1 = b.get("code", "") if isinstance(b, dict) else ""
    claim = "bk:{%s}:captcha:%s" % (MAD, hashlib.sha256(tok.encode()).hexdigest())
    ttl = env.redis("TTL", claim)
    t.check(isinstance(ttl, int) and 0 < ttl <= 150, "the claim is in the office's keys, with the reuse TTL: %r" % ttl)
    st, h, b = env.book(sp[1], shared[0], "legalisation", captcha=tok)
    t.eq((st, b.get("title") if isinstance(b, dict) else None), (403, "Captcha already used"), "second use refused")
    t.eq(env.redis("SCARD", "cal:{%s}:free:%d" % (MAD, shared[0])), 1, "the refused attempt took no seat")
    t.eq(env.book(sp[1], shared[0], "legalisation")[0], 201, "a fresh response books")
    # the 201 goes at the commit, the confirm script beside it: it lands (hold gone, person key names the code)
    pkey = "bk:{%s}:person:%s:legalisation" % (MAD, hashlib.sha256(("consular_id:" + pair[0][1]).encode()).hexdigest())
    deadline = time.time() + 3
    while time.time() < deadline and env.redis("GET", pkey) != code1:
        time.sleep(0.05)
    t.eq(env.redis("GET", pkey), code1, "the confirm landed: the person key names the appointment")
    t.eq(env.redis("ZCARD", "bk:{%s}:holds" % MAD), 0, "no hold left in the office")

    # --- the captcha checked before the booking (POST /api/v1/captcha): a pass in the office's keys that the
    # account's next attempt takes instead of asking siteverify ---
    def pre(sess, tok, office=MAD):
        return env.http("POST", "/api/v1/captcha", {"office": office, "captcha": tok}, sess)

    def title(b):
        return b.get("title") if isinstance(b, dict) else None

    def claim_of(tok):
        return "bk:{%s}:captcha:%s" % (MAD, hashlib.sha256(tok.encode()).hexdigest())

    t.eq(env.http("POST", "/api/v1/captcha", {"office": MAD, "captcha": "pass-a"})[0], 401, "pass: no session")
    t.eq(env.http("POST", "/api/v1/captcha", {"captcha": "pass-a" + run}, sc[0])[0], 400, "pass: office missing")
    t.eq(env.http("POST", "/api/v1/captcha", {"office": MAD}, sc[0])[0], 400, "pass: captcha missing")
    t.eq(env.http("POST", "/api/v1/captcha", {"office": MAD, "captcha": 5}, sc[0])[0], 400, "pass: captcha a number")
    t.eq(env.http("POST", "/api/v1/captcha", {"office": "m a d", "captcha": "pass-a"}, sc[0])[0], 400,
         "pass: malformed office")
    t.eq(env.http("POST", "/api/v1/captcha", {"office": MAD, "captcha": "pass-a", "x": 1}, sc[0])[0], 400,
         "pass: unknown field")
    t.eq(env.http("POST", "/api/v1/captcha", {"office": MAD, "captcha": "pass-a"}, (sc[0][0], "0" * 64))[0], 403,
         "pass: wrong CSRF token")
    st, h, b = pre(sc[0], "nope-" + run)
    t.eq((st, title(b)), (403, "Captcha rejected"), "pass: a response siteverify refuses")
    st, h, b = env.book(sc[0], passw[0], "legalisation", captcha="nope-" + run)
    t.eq((st, title(b)), (403, "Captcha rejected"), "pass: a booking with that response hears it was rejected")
    t.eq(Siteverify.seen.count("nope-" + run), 1, "pass: siteverify was not asked again about it")
    tok1 = "pass-pre1-" + run
    st, h, b = pre(sc[0], tok1)
    t.eq((st, b.get("verified") if isinstance(b, dict) else None, b.get("expires_in") if isinstance(b, dict) else None),
         (200, True, 120), "pass: verified, for booking_captcha_pass_s")
    t.eq(env.redis("GET", claim_of(tok1)), "v:%d" % trio[0][0], "pass: kept in the office's keys for the account")
    ttl = env.redis("TTL", claim_of(tok1))
    t.check(isinstance(ttl, int) and 0 < ttl <= 120, "pass: lives booking_captcha_pass_s: %r" % ttl)
    t.eq(pre(sc[0], tok1)[0], 200, "pass: asking again for the same account is still verified")
    st, h, b = pre(sc[1], tok1)
    t.eq((st, title(b)), (403, "Captcha already used"), "pass: another account cannot have it")
    asked = Siteverify.seen.count(tok1)
    t.eq(asked, 1, "pass: siteverify asked once for the response")
    # another account's attempt with it: refused before any seat is taken, the pass left for its owner
    st, h, b = env.book(sc[1], passw[0], "legalisation", captcha=tok1)
    t.eq((st, title(b)), (403, "Captcha already used"), "pass: another account's booking with it is refused")
    t.eq(env.redis("GET", claim_of(tok1)), "v:%d" % trio[0][0], "pass: still there after that refusal")
    st, h, b = env.book(sc[0], passw[0], "legalisation", captcha=tok1)
    t.eq(st, 201, "pass: the owner books with it")
    t.eq(Siteverify.seen.count(tok1), asked, "pass: the booking did not ask siteverify again")
    t.check(env.redis("GET", claim_of(tok1)) not in (None, "v:%d" % trio[0][0]), "pass: taken by the booking")
    st, h, b = env.book(sc[1], passw[0], "legalisation", captcha=tok1)
    t.eq((st, title(b)), (403, "Captcha already used"), "pass: one booking per verification")
    # a sold-out answer leaves the pass for the suggested date
    tok2 = "pass-pre2-" + run
    t.eq(pre(sc[2], tok2)[0], 200, "pass: a second one")
    t.eq(env.book(sc[2], shared[0], "legalisation", captcha=tok2)[0], 409, "pass: the slot is sold out")
    t.eq(env.redis("GET", claim_of(tok2)), "v:%d" % trio[2][0], "pass: a sold-out answer leaves it")
    t.eq(env.book(sc[2], passw[0], "legalisation", captcha=tok2)[0], 201, "pass: then books")
    t.eq(Siteverify.seen.count(tok2), 1, "pass: siteverify asked once, before the booking")
    # an attempt without a pass still verifies its response at booking time
    tok3 = "pass-late-" + run
    t.eq(env.book(sc[1], passw[0], "legalisation", captcha=tok3)[0], 201, "no pass: books as before")
    t.eq(Siteverify.seen.count(tok3), 1, "no pass: siteverify asked at booking time")
    st, h, m = env.http("GET", "/metrics", raw=True)
    passes = [ln for ln in m.decode().splitlines() if ln.startswith("citas_booking_captcha_passes_total ")]
    t.check(passes and float(passes[0].split()[1]) >= 2, "pass: /metrics counts the passes used: %r" % passes)

    # --- confirm.lua on its own: a cancel answered before the confirm ran keeps the seat it freed; the seat of
    # a hold that had expired (and may have been reclaimed) leaves the free set ---
    src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "booking",
                            "confirm.lua")).read()
    X = "TBZ" + run
    keys = ["bk:{%s}:hold:77:1" % X, "bk:{%s}:holds" % X, "bk:{%s}:person:d:p" % X, "cal:{%s}:free:77" % X]
    env.redis("SET", keys[0], keys[2])
    env.redis("ZADD", keys[1], "1", "77:1")
    env.redis("SADD", keys[3], "1")  # the cancel gave the seat back before the confirm ran
    env.redis("EVAL", src, "4", *keys, "77:1", "CODE" + run, "1", "")
    t.eq((env.redis("SISMEMBER", keys[3], "1"), env.redis("EXISTS", keys[0]), env.redis("ZCARD", keys[1])),
         (1, 0, 0), "confirm after a cancel: the seat stays free, the hold goes")
    env.redis("ZADD", keys[1], "1", "77:1")  # a hold that expired: its seat was reclaimed into the free set
    env.redis("EVAL", src, "4", *keys, "77:1", "CODE" + run, "1", "")
    t.eq((env.redis("SISMEMBER", keys[3], "1"), env.redis("GET", keys[2])), (0, "CODE" + run),
         "confirm of an expired hold: the seat leaves the free set, the person key names the code")
finally:
    env.close()
sys.exit(t.finish())
