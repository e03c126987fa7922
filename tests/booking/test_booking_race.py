#!/usr/bin/env python3
"""Concurrency: 2,000 simultaneous booking attempts (2,000 different citizens, each on its own connection)
for 100 seats give exactly 100 bookings; every 201 corresponds to a row in PostgreSQL and every row to a
201, seats 1..100 each once, nothing left in Redis. The same person racing for two slots of one procedure
(one office: Redis pre-check; two offices: PostgreSQL's partial unique index) gets exactly one.
The captcha is switched off for booking here (captcha_actions) so that 2,000 attempts measure seats, not
the siteverify stand-in; test_booking_api covers the captcha step.
Usage: test_booking_race.py CITASD CITASCTL"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bk_env import Checks, Env, burst, psql  # noqa: E402

t = Checks("booking_race")
run = "".join(random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(4))
OFF, OFF2 = "TBR" + run[:3], "TBS" + run[:3]
env = Env(sys.argv[1], sys.argv[2], "race-" + run, extra={"CITAS_CAPTCHA_ACTIONS": "register,login"})
try:
    env.office(OFF, "America/Mexico_City")
    env.office(OFF2, "America/Chicago")
    slot = env.window(OFF, "passport_first", ["2030-05-06 10:00"], 100)[0]
    two = env.window(OFF, "visa", ["2030-05-07 10:00", "2030-05-07 10:30"], 5)
    other = env.window(OFF2, "visa", ["2030-05-08 10:00"], 5)
    people = env.citizens(2001, "TBR" + run)
    sess = env.sessions([p[0] for p in people])
    env.start()

    # --- 2,000 attempts, 100 seats ---
    reqs = [("POST", "/api/v1/appointments", {"slot": slot, "procedure": "passport_first"}, sess[i])
            for i in range(2000)]
    res = burst(env.port, reqs)
    by_status = {}
    for st, _ in res:
        by_status[st] = by_status.get(st, 0) + 1
    print("statuses: %r" % by_status, flush=True)
    won = {b["code"]: i for i, (st, b) in enumerate(res) if st == 201}
    t.eq(len(won), 100, "exactly 100 bookings")
    t.eq(by_status.get(409, 0), 1900, "every other attempt is told sold out")
    t.check(all(b.get("title") == "Sold out" for st, b in res if st == 409), "409s say sold out")
    rows = psql("SELECT a.code, a.seat, a.document_number FROM appointments a WHERE a.slot_id = :'p1' "
                "AND a.state = 'active'", slot)
    t.eq(len(rows), 100, "100 rows in PostgreSQL")
    t.eq(set(r[0] for r in rows), set(won), "every 201 is a row and every row a 201")
    t.eq(sorted(int(r[1]) for r in rows), list(range(1, 101)), "seats 1..100, each once")
    t.check(all(people[won[r[0]]][1] == r[2] for r in rows if r[0] in won), "each row belongs to its winner")
    seat_of = {r[0]: int(r[1]) for r in rows}
    t.check(all(seat_of.get(b["code"]) == int(b["seat"]) for st, b in res if st == 201),
            "the seat each winner was told is the seat in PostgreSQL")
    t.eq(env.redis("SCARD", "cal:{%s}:free:%d" % (OFF, slot)), 0, "no free seat left in Redis")
    t.eq(env.redis("ZCARD", "bk:{%s}:holds" % OFF), 0, "no hold left in Redis")

    # --- one person, two slots of one procedure, one office: 40 simultaneous attempts ---
    me = sess[2000]
    reqs = [("POST", "/api/v1/appointments", {"slot": two[i % 2], "procedure": "visa"}, me) for i in range(40)]
    res = burst(env.port, reqs)
    t.eq(sum(1 for st, _ in res if st == 201), 1, "one person, one office: exactly one booking")
    t.eq(sum(1 for st, b in res if st == 409 and b.get("title") == "Already booked"), 39, "the rest: already booked")
    t.eq(psql("SELECT count(*) FROM appointments WHERE document_number = :'p1' AND state = 'active'",
              people[2000][1]), [["1"]], "one active row for the person")
    t.eq(env.redis("SCARD", "cal:{%s}:free:%d" % (OFF, two[0])) + env.redis("SCARD", "cal:{%s}:free:%d" % (OFF, two[1])),
         9, "the losing attempts gave no seat away")

    # --- same person, two offices (Redis cannot see across offices: PostgreSQL decides) ---
    you = sess[1999]  # lost the big race: holds nothing
    def free2():
        return env.redis("SCARD", "cal:{%s}:free:%d" % (OFF, two[0])) + \
            env.redis("SCARD", "cal:{%s}:free:%d" % (OFF2, other[0]))
    before = free2()
    reqs = [("POST", "/api/v1/appointments", {"slot": s, "procedure": "visa"}, you)
            for s in [two[0], other[0]] * 10]
    res = burst(env.port, reqs)
    t.eq(sum(1 for st, _ in res if st == 201), 1, "one person, two offices: exactly one booking")
    t.check(all(st in (201, 409) for st, _ in res), "the others are 409: %r" % sorted(set(st for st, _ in res)))
    t.eq(psql("SELECT count(*) FROM appointments WHERE document_number = :'p1' AND state = 'active'",
              people[1999][1]), [["1"]], "one active row across offices")
    t.eq(free2(), before - 1, "seats of refused attempts went back")
finally:
    env.close()
sys.exit(t.finish())
