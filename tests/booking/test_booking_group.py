#!/usr/bin/env python3
"""Group commit (create_group.c) against real citasd, Redis and PostgreSQL, with one worker and
booking_group_ms = 1000 so that simultaneous bookings share one transaction deterministically:
- 12 citizens booking at once: all 201, in one group transaction (/metrics), each with its row, its booking
  event, its audit record and its confirmation mail, each told the seat PostgreSQL holds;
- a group PostgreSQL refuses (one person booking two offices at once: the partial unique index fails the whole
  transaction): its bookings run one by one, the others are booked, the person gets exactly one booking and a
  409, and the refused seat goes back to Redis;
- booking_group_max = 1 (a second citasd): every booking alone, no group transaction;
- the booking route's rate limit: a refused attempt on a slot with seats gets its 429 and takes nothing, the
  next one is refused from the worker's memory (/metrics), and a captcha response its probe claimed is given
  back (the same response books once the bucket refills).
Usage: test_booking_group.py CITASD CITASCTL"""
import hashlib
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bk_env import Checks, Env, burst, psql  # noqa: E402

t = Checks("booking_group")
run = "".join(random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(4))
OFF, OFF2 = "TBG" + run[:3], "TBH" + run[:3]


def metrics(env):
    st, h, m = env.http("GET", "/metrics", raw=True)
    out = {}
    for line in m.decode().splitlines():
        if line.startswith("citas_booking_group_"):
            out[line.split()[0][len("citas_booking_group_"):]] = int(line.split()[-1])
    return out


def counter(env, name):
    st, h, m = env.http("GET", "/metrics", raw=True)
    for line in m.decode().splitlines():
        if line.startswith(name + " "):
            return int(line.split()[-1])
    return -1


def waiting(env):
    st, h, m = env.http("GET", "/metrics", raw=True)
    for line in m.decode().splitlines():
        if line.startswith("citas_requests_waiting "):
            return int(line.split()[-1])
    return -1


def book_all(env, pairs):
    reqs = [("POST", "/api/v1/appointments", {"slot": slot, "procedure": proc}, s) for s, slot, proc in pairs]
    return burst(env.port, reqs)


# the captcha is off for booking (as in test_booking_race): the group's timing should not hang on the stand-in
env = Env(sys.argv[1], sys.argv[2], "group-" + run, workers=1,
          extra={"CITAS_BOOKING_GROUP_MS": "1000", "CITAS_CAPTCHA_ACTIONS": "register,login"})
try:
    env.office(OFF, "America/Bogota")
    env.office(OFF2, "America/Lima")
    slot = env.window(OFF, "passport_first", ["2030-07-01 10:00"], 20)[0]
    a_visa = env.window(OFF, "visa", ["2030-07-02 10:00"], 5)[0]
    b_visa = env.window(OFF2, "visa", ["2030-07-03 10:00"], 5)[0]
    c_slot = env.window(OFF, "consular_id", ["2030-07-04 10:00"], 3)[0]
    people = env.citizens(20, "TBG" + run)
    sess = env.sessions([p[0] for p in people])
    env.start()
    m0 = metrics(env)

    # --- 12 at once: one group (its second of waiting shows in /metrics as requests waiting on a backend) ---
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("res", book_all(env, [(sess[i], slot, "passport_first")
                                                                              for i in range(12)])))
    th.start()
    most = 0
    while th.is_alive():
        most = max(most, waiting(env))
        time.sleep(0.05)
    th.join()
    res = out.get("res", [])
    t.eq(sorted(st for st, _ in res), [201] * 12, "12 simultaneous bookings: all 201")
    t.check(most >= 12, "citas_requests_waiting counted the 12 while their group waited: %d" % most)
    deadline = time.time() + 3
    while waiting(env) != 0 and time.time() < deadline:  # each confirm lands just after its 201
        time.sleep(0.05)
    t.eq(waiting(env), 0, "and none once they are answered and confirmed")
    m1 = metrics(env)
    t.eq(m1.get("commits_total", 0) - m0.get("commits_total", 0), 1, "one group transaction: %r" % m1)
    t.eq(m1.get("bookings_total", 0) - m0.get("bookings_total", 0), 12, "with the 12 bookings in it")
    codes = {b["code"]: int(b["seat"]) for st, b in res if st == 201}
    rows = psql("SELECT a.code, a.seat, a.document_number, a.account_id, "
                "(SELECT count(*) FROM booking_events e WHERE e.appointment_id = a.id AND e.action = 'booked' "
                " AND e.account_id = a.account_id AND e.detail->>'seat' = a.seat::text), "
                "(SELECT count(*) FROM mail_outbox m, accounts c WHERE c.id = a.account_id AND m.to_addr = c.email "
                " AND m.kind = 'booking_confirmed' AND m.params->>'code' = a.code AND m.body_text IS NULL "
                " AND m.params->>'when' <> '' AND m.params->>'office' <> '' "
                " AND m.attachment_name = 'cita-' || a.code || '.ics' "
                " AND convert_from(m.attachment_data, 'UTF8') LIKE 'BEGIN:VCALENDAR%' || a.code || '%') "
                "FROM appointments a WHERE a.slot_id = :'p1' AND a.state = 'active'", slot)
    t.eq(len(rows), 12, "12 rows")
    t.eq({r[0]: int(r[1]) for r in rows}, codes, "each 201's code and seat is its row's")
    t.eq(sorted(int(r[1]) for r in rows), sorted(set(int(r[1]) for r in rows)), "no seat twice")
    doc_of = {p[0]: p[1] for p in people}
    t.check(all(doc_of.get(int(r[3])) == r[2] for r in rows), "each row carries its account's document")
    t.check(all(r[4] == "1" for r in rows), "each booking has its 'booked' event: %r" % [r[4] for r in rows])
    t.check(all(r[5] == "1" for r in rows), "each booking has its confirmation mail, with its parameters and its .ics: %r" % [r[5] for r in rows])
    audit = psql("SELECT count(*) FROM (SELECT subject FROM audit_pending UNION ALL SELECT subject FROM audit_log) x "
                 "WHERE subject = ANY (string_to_array(:'p1', ','))",
                 ",".join("appointment:" + c for c in codes))
    t.eq(audit, [["12"]], "each booking has its audit record")
    t.eq(env.redis("SCARD", "cal:{%s}:free:%d" % (OFF, slot)), 8, "8 seats left in Redis")
    t.eq(env.redis("ZCARD", "bk:{%s}:holds" % OFF), 0, "no hold left: every booking confirmed")

    # --- a refused group: one person at two offices at once, with four others ---
    me = sess[12]
    pairs = [(me, a_visa, "visa"), (me, b_visa, "visa")] + [(sess[13 + i], a_visa, "visa") for i in range(4)]
    free_before = env.redis("SCARD", "cal:{%s}:free:%d" % (OFF, a_visa)) + \
        env.redis("SCARD", "cal:{%s}:free:%d" % (OFF2, b_visa))
    res = book_all(env, pairs)
    mine = sorted(st for st, _ in res[:2])
    t.eq(mine, [201, 409], "the person at two offices: one booking, one 409 (%r)" % [b for _, b in res[:2]])
    t.check(any(st == 409 and b.get("title") == "Already booked" for st, b in res[:2]), "the 409 says already booked")
    t.eq([st for st, _ in res[2:]], [201] * 4, "the others in the refused group are booked")
    m2 = metrics(env)
    t.check(m2.get("retried_total", 0) - m1.get("retried_total", 0) >= 1,
            "the group was refused and its bookings ran one by one: %r" % m2)
    t.eq(psql("SELECT count(*) FROM appointments WHERE document_number = :'p1' AND state = 'active'",
              people[12][1]), [["1"]], "one active row for the person")
    t.eq(psql("SELECT count(*) FROM appointments WHERE slot_id IN (:'p1', :'p2') AND state = 'active'",
              a_visa, b_visa), [["5"]], "5 rows: the person's and the four others'")
    free_after = env.redis("SCARD", "cal:{%s}:free:%d" % (OFF, a_visa)) + \
        env.redis("SCARD", "cal:{%s}:free:%d" % (OFF2, b_visa))
    t.eq(free_after, free_before - 5, "the refused booking's seat went back to Redis")
    env.stop()

    # --- booking_group_max = 1: no group ---
    env.env["CITAS_BOOKING_GROUP_MAX"] = "1"
    env.start()
    g0 = metrics(env)
    res = book_all(env, [(sess[17 + i], slot, "passport_first") for i in range(3)])
    t.eq([st for st, _ in res], [201] * 3, "group_max 1: booked")
    g1 = metrics(env)
    t.eq(g1.get("commits_total", 0) - g0.get("commits_total", 0), 0, "group_max 1: no group transaction")
    env.stop()

    # --- the rate limit: its refusal comes before any seat is looked at ---
    env.env["CITAS_RATE_LIMITS"] = "booking:account=2/60"
    env.start()
    p = sess[16]  # holds a visa booking: two attempts at it are refused (409), and use up the bucket
    t.eq([env.http("POST", "/api/v1/appointments", {"slot": a_visa, "procedure": "visa"}, p)[0] for _ in range(2)],
         [409, 409], "two refused attempts")
    # (the office given, so the slot's office needs no look-up)
    st, h, b = env.http("POST", "/api/v1/appointments", {"slot": c_slot, "procedure": "consular_id", "office": OFF}, p)
    t.eq(st, 429, "the third attempt in the minute: 429 although its slot has seats (%r)" % b)
    t.check(int(h.get("Retry-After", h.get("retry-after", "0"))) >= 1, "with Retry-After")
    t.eq(env.redis("SCARD", "cal:{%s}:free:%d" % (OFF, c_slot)), 3, "the seat the probe saw was not taken")
    t.eq(psql("SELECT count(*) FROM appointments WHERE slot_id = :'p1'", c_slot), [["0"]], "no row")
    # the next attempt is refused from the worker's memory of that refusal: no Redis, no probe
    r0 = counter(env, "citas_guard_rate_remembered_total")
    st, h, b = env.http("POST", "/api/v1/appointments", {"slot": c_slot, "procedure": "consular_id", "office": OFF}, p)
    t.eq(st, 429, "a fourth attempt: 429 again (%r)" % b)
    t.check(int(h.get("Retry-After", h.get("retry-after", "0"))) >= 1, "with Retry-After")
    t.eq(counter(env, "citas_guard_rate_remembered_total") - r0, 1, "answered from the memory of the refusal")
    t.eq(env.redis("SCARD", "cal:{%s}:free:%d" % (OFF, c_slot)), 3, "still no seat taken")

    # --- RATE leaves with the probe: a captcha response the probe claimed goes back when RATE refuses ---
    env.stop()
    env.env["CITAS_RATE_LIMITS"] = "booking:account=1/2"
    env.env["CITAS_CAPTCHA_ACTIONS"] = "register,login,booking"
    env.start()
    q = env.sessions([env.citizens(1, "TBQ" + run)[0][0]])[0]
    tok = "pass-again-" + run
    st = env.http("POST", "/api/v1/appointments", {"slot": c_slot, "procedure": "visa", "office": OFF,
                                                    "captcha": "pass-other-" + run}, q)[0]
    t.eq(st, 422, "an attempt the probe refuses uses the bucket")
    st, h, b = env.http("POST", "/api/v1/appointments", {"slot": c_slot, "procedure": "consular_id", "office": OFF,
                                                          "captcha": tok}, q)
    t.eq(st, 429, "then RATE refuses, although the probe found a seat (%r)" % b)
    claim = "bk:{%s}:captcha:%s" % (OFF, hashlib.sha256(tok.encode()).hexdigest())
    t.eq(env.redis("EXISTS", claim), 0, "the claim the probe made is given back")
    time.sleep(2.2)
    st, h, b = env.http("POST", "/api/v1/appointments", {"slot": c_slot, "procedure": "consular_id", "office": OFF,
                                                          "captcha": tok}, q)
    t.eq(st, 201, "the same captcha response books once the bucket has a token (%r)" % b)
    t.eq(env.redis("EXISTS", claim), 1, "and is claimed for good")
finally:
    env.close()
sys.exit(t.finish())
