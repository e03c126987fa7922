#!/usr/bin/env python3
"""Set-up and run of loadtest/bench_booking (see that script): one office, one window of SLOTS slots x 100
seats, SLOTS*100 + SOLDOUT citizens with sessions written in auth's format (tests/booking/bk_env.py), a
private redis-server and citasd (2 workers, captcha and rate limits off: the booking path on its own).
Phase 1 books every seat (bookings/s), phase 2 sends SOLDOUT attempts of fresh citizens at the sold-out
window (sold-out answers/s). Prints the client's lines, prefixed by the phase.
Usage: bench_booking.py CITASD CITASCTL CLIENT SLOTS SOLDOUT CONNECTIONS WORKERS"""
import os
import random
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "booking"))
os.environ.setdefault("CITAS_TEST_PG_DSN", os.environ.get("CITAS_PG_DSN", ""))
from bk_env import Env  # noqa: E402

citasd, citasctl, client = sys.argv[1:4]
nslots, soldout, conns, workers = (int(x) for x in sys.argv[4:8])
run = "".join(random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5))
office = "BNC" + run
env = Env(citasd, citasctl, "bench-" + run, workers=workers,
          extra={"CITAS_CAPTCHA_ACTIONS": "register,login", "CITAS_RATE_LIMITS": "", "CITAS_PG_POOL_SIZE": os.environ.get("BENCH_PG_POOL", "4")})
try:
    env.office(office, "America/Los_Angeles")
    local = ["2031-01-%02d %02d:%02d" % (6 + i // 96, 8 + (i % 96) // 12, (i % 12) * 5) for i in range(nslots)]
    slots = env.window(office, "passport_renewal", local, 100)
    seats = nslots * 100
    people = env.citizens(seats + soldout, "BNC" + run)
    sess = env.sessions([p[0] for p in people])
    path = os.path.join(env.tmp, "sessions-%s.txt" % run)
    with open(path, "w") as f:
        for tok, csrf in sess:
            f.write("%s %s\n" % (tok, csrf))
    env.start()
    for phase, first, count in (("bookings", 0, seats), ("sold_out", seats, soldout)):
        r = subprocess.run([client, str(env.port), path, str(first), str(count), str(conns), "passport_renewal"] +
                           [str(s) for s in slots], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            print("%s %s" % (phase, line), flush=True)
        if r.returncode != 0:
            print("%s error: %s" % (phase, r.stderr.strip()), flush=True)
    rows = subprocess.run(["psql", os.environ["CITAS_TEST_PG_DSN"], "-Atc",
                           "SELECT count(*) FROM appointments WHERE office_code = '%s' AND state = 'active'" % office],
                          capture_output=True, text=True).stdout.strip()
    print("check active_rows=%s seats=%d" % (rows, seats), flush=True)
    os.unlink(path)
finally:
    env.close()
