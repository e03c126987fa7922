#!/usr/bin/env python3
"""Sold-out answers take their next dates from the worker's availability cache when it is fresh: no Redis
work for them (the script's candidate cache is never built), one slot per day, only slots with a free seat,
never the slot that sold out; once the cached answer is older than a second, the script suggests again.
One worker, so that the availability answer and the booking meet in the same cache.
Usage: test_booking_next.py CITASD CITASCTL"""
import datetime
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bk_env import Checks, Env, psql  # noqa: E402

t = Checks("booking_next")
run = "".join(random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(4))
OFF = "TBN" + run[:3]
PROC = "visa"
env = Env(sys.argv[1], sys.argv[2], "next-" + run, workers=1)


def day(n, hhmm):
    return (datetime.datetime.utcnow().date() + datetime.timedelta(days=n)).isoformat() + " " + hhmm


try:
    env.office(OFF, "UTC")
    psql("INSERT INTO office_procedures (office_code, procedure_code) VALUES (:'p1', :'p2') ON CONFLICT DO NOTHING",
         OFF, PROC)
    a = env.window(OFF, PROC, [day(3, "09:00")], 1)[0]  # sold out below
    b1, b2 = env.window(OFF, PROC, [day(4, "09:00"), day(4, "10:00")], 1)  # b1 sold out below
    c = env.window(OFF, PROC, [day(5, "09:00")], 2)[0]
    people = env.citizens(6, "TBN" + run)
    s = env.sessions([p[0] for p in people])
    env.start()
    nextkey = "bk:{%s}:nextdates:%s" % (OFF, PROC)

    t.eq(env.book(s[0], a, PROC)[0], 201, "slot a booked (its only seat)")
    t.eq(env.book(s[1], b1, PROC)[0], 201, "slot b1 booked (its only seat)")
    st, h, avail = env.http("GET", "/api/v1/offices/%s/availability?procedure=%s" % (OFF, PROC))
    t.eq(st, 200, "availability answered (and cached by the one worker)")
    env.redis("DEL", nextkey)
    seen = set()
    for i in range(6):  # the day of b1/b2 has one slot with a seat: always b2; the draws vary nothing else
        st, h, body = env.book(s[2], a, PROC)
        nxt = body.get("next", []) if isinstance(body, dict) else []
        t.eq(st, 409, "sold out")
        t.eq([n.get("slot") for n in nxt], [b2, c], "next dates from the cache: one slot a day with a seat")
        seen.update(n.get("slot") for n in nxt)
    t.check(a not in seen and b1 not in seen, "never the sold-out slots")
    t.check(all(n.get("local", "").startswith(day(4, "")[:10]) or n.get("local", "").startswith(day(5, "")[:10])
                for n in nxt), "with their local times: %r" % nxt)
    t.eq(env.redis("EXISTS", nextkey), 0, "the script built no candidate cache: Redis did not suggest")
    # a slot a 409 named is sold out for the cached answer from then on: once b2 is taken, a 409 on it
    # leaves day 4 out of the next suggestions, though the cached answer still shows b2's seat
    time.sleep(0.3)  # a new answer (b2 with its seat), then b2 sold within its 250 ms
    t.eq(env.http("GET", "/api/v1/offices/%s/availability?procedure=%s" % (OFF, PROC))[0], 200, "availability again")
    t.eq(env.book(s[4], b2, PROC)[0], 201, "slot b2 booked (its only seat)")
    t.eq(env.book(s[5], b2, PROC)[0], 409, "b2 sold out")
    st, h, body = env.book(s[2], a, PROC)
    t.eq((st, [n.get("slot") for n in body.get("next", [])] if isinstance(body, dict) else None), (409, [c]),
         "the cached answer learned that b2 sold out: only day 5 is suggested")
    t.eq(env.redis("EXISTS", nextkey), 0, "still no Redis suggestion")
    # the cached answer is kept 250 ms; after a second it is not used for suggestions any more
    time.sleep(1.3)
    st, h, body = env.book(s[3], a, PROC)
    nxt = body.get("next", []) if isinstance(body, dict) else []
    t.eq((st, [n.get("slot") for n in nxt]), (409, [c]), "stale cache: the script suggests, from Redis")
    t.eq(env.redis("EXISTS", nextkey), 1, "stale cache: the script's candidates were built")
finally:
    env.close()
sys.exit(t.finish())
