#!/usr/bin/env python3
"""Booking penalties end to end (booking_early_penalty_s, booking_captcha_penalty_s) against real citasd,
Redis and PostgreSQL: a booking attempt before the release benches that account (429 with Retry-After reaching
past the release) while another account books normally once the window opens; a refused captcha benches the
account for the configured time, then it books; the very next attempt after either refusal, sent at once on a new
connection (so either worker), is already benched (the refusal is answered only once the penalty is stored), over
several accounts; the order probe-before-captcha: a sold-out slot answers 409
without spending the captcha; the release lottery (booking_release_lottery_ms): attempts right after a release
wait until the span is over (then are served in the order of their draws), none much longer.
Usage: test_booking_penalty.py CITASD CITASCTL"""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bk_env import Checks, Env, psql  # noqa: E402

t = Checks("booking_penalty")
run = "".join(random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(4))
OFF = "TBP" + run[:3]
EARLY_S, CAPTCHA_S, LOTTERY_MS = 4, 3, 1500
env = Env(sys.argv[1], sys.argv[2], "penalty-" + run,
          extra={"CITAS_BOOKING_EARLY_PENALTY_S": str(EARLY_S), "CITAS_BOOKING_CAPTCHA_PENALTY_S": str(CAPTCHA_S),
                 "CITAS_BOOKING_RELEASE_LOTTERY_MS": str(LOTTERY_MS)})
try:
    env.office(OFF, "Europe/Madrid")
    RELEASE_IN = 5
    soon = env.window(OFF, "visa", ["2031-02-03 09:00", "2031-02-04 09:00"], 2, release_in_s=RELEASE_IN)
    released_at = time.time() + RELEASE_IN
    opened = env.window(OFF, "passport_renewal", ["2031-03-03 09:00", "2031-03-04 09:00"], 1)
    lot = env.window(OFF, "legalisation", ["2031-05-05 09:00"], 10, release_in_s=RELEASE_IN + 1)
    EXTRA = 8  # more accounts for the at-once checks of both penalties, so that both workers answer some
    people = env.citizens(12 + 2 * EXTRA, "TBP" + run)
    s = env.sessions([p[0] for p in people])
    env.start()

    # --- early: the attempt before the release is answered "not open yet" and benches the account ---
    st, h, b = env.book(s[0], soon[0], "visa")
    t.eq(st, 409, "before the release: 409")
    t.check(isinstance(b, dict) and "opens at" in b.get("detail", ""), "says when it opens")
    st, h, b = env.book(s[0], opened[0], "passport_renewal")
    t.eq(st, 429, "the early account is benched on the booking route, any slot")
    ra = int(h.get("retry-after", h.get("Retry-After", "0")) or 0)
    left = released_at - time.time()
    t.check(left + EARLY_S - 2 <= ra <= left + EARLY_S + 2,
            "Retry-After %d s reaches past the release (%.1f s away) by the penalty (%d s)" % (ra, left, EARLY_S))
    # another account is not touched
    st, h, b = env.book(s[1], opened[0], "passport_renewal")
    t.eq(st, 201, "another account books an open slot")
    # more early accounts: each one's very next attempt (a new connection: either worker) is benched
    early = s[12:12 + EXTRA]
    got = []
    for sess in early:
        st1 = env.book(sess, soon[0], "visa")[0]
        st2 = env.book(sess, soon[0], "visa")[0]
        got.append((st1, st2))
    t.check(all(x == (409, 429) for x in got), "early, then benched at once, %d accounts: %r" % (EXTRA, got))

    # --- probe before captcha: a sold-out slot answers 409 and the captcha is not consumed ---
    st, h, b = env.book(s[2], opened[0], "passport_renewal", captcha="pass-kept-" + run)
    t.eq(st, 409, "sold out")
    t.check(isinstance(b, dict) and b.get("title") == "Sold out", "sold-out problem")
    st, h, b = env.book(s[2], opened[1], "passport_renewal", captcha="pass-kept-" + run)
    t.eq(st, 201, "the captcha response refused nothing on the sold-out slot: it still verifies once")

    # --- the release lottery: 8 attempts at the release wait until the span is over, then are served in the
    # order of their draws within a drain of an eighth of the span ---
    lot_at = float(psql("SELECT extract(epoch FROM w.release_at) FROM calendar_windows w JOIN slots s "
                        "ON s.window_id = w.id WHERE s.id = :'p1'", lot[0])[0][0])
    time.sleep(max(0.0, lot_at - time.time()) + 0.1)
    took = [None] * 8

    def one(i):
        t0 = time.time()
        st = env.book(s[4 + i], lot[0], "legalisation")[0]
        took[i] = (st, time.time() - t0)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t.check(all(x is not None and x[0] == 201 for x in took), "all 8 book in the lottery: %r" % took)
    waits = sorted(x[1] for x in took if x is not None)
    # they came 0.1 s after the release: none is served before the span is over (the first millisecond of
    # the span buys nothing), none long after its drain
    t.check(waits[0] > LOTTERY_MS / 1000.0 - 0.1 - 0.05, "everyone waited for the span's end (shortest %.2f s): %r"
            % (waits[0], took))
    t.check(waits[-1] < LOTTERY_MS / 1000.0 * 1.125 + 1.5, "nobody waited past the drain (longest %.2f s)" % waits[-1])

    # --- a refused captcha benches the account for booking_captcha_penalty_s ---
    time.sleep(max(0.0, lot_at + LOTTERY_MS / 1000.0 - time.time()) + 0.1)
    # the 403 is answered once the penalty is in Redis: the next attempt, sent at once on a new connection
    # (either worker, its own Redis connection), is benched; no pause in between
    st, h, b = env.book(s[3], soon[1], "visa", captcha="wrong-" + run)
    t.eq(st, 403, "a refused captcha: 403")
    st, h, b = env.book(s[3], soon[1], "visa")
    t.eq(st, 429, "then benched")
    ra = int(h.get("retry-after", h.get("Retry-After", "0")) or 0)
    t.check(1 <= ra <= CAPTCHA_S, "Retry-After %d within the captcha penalty" % ra)
    got = []
    for i, sess in enumerate(s[12 + EXTRA:12 + 2 * EXTRA]):
        st1 = env.book(sess, soon[1], "visa", captcha="wrong-%d-%s" % (i, run))[0]
        st2, h2, _ = env.book(sess, soon[1], "visa")
        got.append((st1, st2, h2.get("retry-after", h2.get("Retry-After"))))
    t.check(all(x[:2] == (403, 429) for x in got),
            "refused captcha, then benched at once, %d accounts: %r" % (EXTRA, got))
    time.sleep(CAPTCHA_S + 0.3)
    st, h, b = env.book(s[3], soon[1], "visa")
    t.eq(st, 201, "after the penalty it books")

    # --- the early account: still benched just after the release, free once the penalty is over ---
    if time.time() < released_at + EARLY_S - 0.5:
        st, h, b = env.book(s[0], soon[0], "visa")
        t.eq(st, 429, "the early account is still benched after the release")
    wait = released_at + EARLY_S - time.time() + 0.3
    if wait > 0:
        time.sleep(wait)
    st, h, b = env.book(s[0], soon[0], "visa")
    t.eq(st, 201, "the early account books once its penalty is over (%r)" % (b,))
finally:
    env.close()
    if t.failed:
        print(open(os.path.join(env.tmp, "citasd-%s.log" % env.tag)).read()[-3000:])
sys.exit(t.finish())
