#!/usr/bin/env python3
"""Set-up and run of loadtest/bench_booking (see that script): one office, one window of SLOTS slots x 100
seats, SLOTS*100 + SOLDOUT citizens with sessions written in auth's format (tests/booking/bk_env.py), a
private redis-server and citasd (2 workers, captcha and rate limits off: the booking path on its own).
Phase 1 books every seat (bookings/s), phase 2 sends SOLDOUT attempts of fresh citizens at the sold-out
window (sold-out answers/s). Prints the client's lines, prefixed by the phase.
Usage: bench_booking.py CITASD CITASCTL CLIENT SLOTS SOLDOUT CONNECTIONS WORKERS"""
import os
import random
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "booking"))
os.environ.setdefault("CITAS_TEST_PG_DSN", os.environ.get("CITAS_PG_DSN", ""))
from bk_env import Env, free_port  # noqa: E402

citasd, citasctl, client = sys.argv[1:4]
nslots, soldout, conns, workers = (int(x) for x in sys.argv[4:8])
run = "".join(random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5))
office = "BNC" + run
# The confirmation mails go to a local SMTP sink (loadtest/peers, built next to citasd): without one the outbox
# sender's failed sends and their rescheduling would be counted as the booking path's PostgreSQL cost.
sink_bin = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(citasd)))),
                        "loadtest", "peers", "smtp-sink")
sink_dir = tempfile.mkdtemp(prefix="bench-mail-")
sink_port = free_port()
sink = subprocess.Popen([sink_bin, "--port", str(sink_port), "--dir", sink_dir], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
env = Env(citasd, citasctl, "bench-" + run, workers=workers,
          extra={"CITAS_CAPTCHA_ACTIONS": "register,login", "CITAS_RATE_LIMITS": "",
                 "CITAS_PG_POOL_SIZE": os.environ.get("BENCH_PG_POOL", "4"),
                 "CITAS_SMTP_URL": "smtp://127.0.0.1:%d" % sink_port, "CITAS_SMTP_STARTTLS": "none"})
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
    mails = len(os.listdir(sink_dir))
    print("check mails_delivered_by_now=%d" % mails, flush=True)  # the sender may still be at work
finally:
    env.close()
    sink.terminate()
    sink.wait()
    shutil.rmtree(sink_dir, ignore_errors=True)
