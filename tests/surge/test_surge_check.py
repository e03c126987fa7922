#!/usr/bin/env python3
"""surge-check against real servers: a few real bookings through citasd (the suite's PostgreSQL, a private
Redis), their answer log written here in surge-gen's format, then the checker on that log: clean, and with
each kind of lie it must catch (a 201 without its row, a row without its 201, a code given to the wrong
user, a 5xx without fault modes, a lost seat and a booked seat offered again in Redis, a seat outside the
slot, a captcha-refused user holding a seat). A row whose user saw a timeout is accepted.
Usage: test_surge_check.py CITASD CITASCTL SURGE_CHECK"""
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "booking"))
from bk_env import Checks, Env, psql  # noqa: E402

citasd, citasctl, surge_check = sys.argv[1:4]
if not os.path.exists(surge_check):
    print("surge_check: %s is not built (-Dloadtest=false?): skipped" % surge_check)
    sys.exit(77)
t = Checks("surge_check")
run = "".join(random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(4))
OFF, PROC = "SCK" + run[:3], "passport_renewal"
env = Env(citasd, citasctl, "surgecheck-" + run, hold_ttl_ms=1500, extra={"CITAS_CAPTCHA_ACTIONS": "login"})
tmp = env.tmp
try:
    env.office(OFF, "America/Los_Angeles")
    slots = env.window(OFF, PROC, ["2031-02-03 09:00", "2031-02-03 09:30"], 3)
    window = int(psql("SELECT window_id FROM slots WHERE id = :'p1'", slots[0])[0][0])
    release_ms = int(psql("SELECT (extract(epoch FROM release_at) * 1000)::bigint FROM calendar_windows "
                          "WHERE id = :'p1'", window)[0][0])
    people = env.citizens(9, "SCK" + run)
    emails = [r[0] for r in psql("SELECT email FROM accounts WHERE id = ANY (string_to_array(:'p1', ',')::bigint[]) "
                                 "ORDER BY id", ",".join(str(p[0]) for p in people))]
    sess = env.sessions([p[0] for p in people])
    env.start()

    # 8 users book (6 seats): each answer becomes a log line as surge-gen writes them
    lines = []
    for u in range(8):
        slot = slots[u % 2]
        t0 = time.time()
        st, _, b = env.book(sess[u], slot, PROC)
        lat = int((time.time() - t0) * 1e6)
        ms = int(time.time() * 1000) - release_ms
        code = b.get("code", "-") if st == 201 and isinstance(b, dict) else "-"
        if st == 409:  # both slots full: this user's second try would go elsewhere; one line is enough
            pass
        lines.append([ms, u, 0, "book", st, lat, slot, code, "ok" if st == 201 else "sold_out"])
        lines.append([ms, u, 0, "availability", 200, 900, "-", "-", "ok"])
    lines.append([-5000, 8, 1, "availability", 200, 500, "-", "-", "ok"])
    won = [l for l in lines if l[3] == "book" and l[4] == 201]
    t.eq(len(won), 6, "6 of 8 attempts booked")
    time.sleep(0.2)

    acc_path = os.path.join(tmp, "surge-accounts-%s.tsv" % run)
    with open(acc_path, "w") as f:
        for (aid, doc), email in zip(people, emails):
            f.write("%s\tpw\t%s\n" % (email, doc))

    def check(log_lines, *extra):
        path = os.path.join(tmp, "surge-log-%s.tsv" % run)
        with open(path, "w") as f:
            for l in log_lines:
                f.write("\t".join(str(x) for x in l) + "\n")
        r = subprocess.run([surge_check, "--log", path, "--accounts", acc_path, "--pg", os.environ["CITAS_TEST_PG_DSN"],
                            "--redis", "127.0.0.1:%d" % env.rport, "--office", OFF, "--procedure", PROC,
                            "--release-epoch-ms", str(release_ms), "--window", str(window), "--hold-wait-ms", "4000"]
                           + list(extra), capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    def expect(what, rc_out, want_rc, text=None):
        rc, out = rc_out
        ok = t.eq(rc, want_rc, "%s: exit status" % what)
        if text is not None:
            ok = t.check(text in out, "%s: output names %r" % (what, text)) and ok
        if not ok:
            print(out, flush=True)

    expect("clean log", check(lines), 0, "0 violation(s)")

    first = lines.index(won[0])
    dropped = lines[:first] + lines[first + 1:]
    expect("a row without its 201", check(dropped), 1, "has no 201 and no timeout")
    timeout = dropped + [[won[0][0], won[0][1], 0, "book", 0, 10000000, won[0][6], "-", "timeout"]]
    expect("a row whose user saw a timeout", check(timeout), 0, "0 violation(s)")

    fake = [list(l) for l in lines]
    fake[first][7] = "ZZZZZZZZZZ"
    expect("a 201 without its row", check(fake), 1, "PostgreSQL has no such appointment")

    swapped = [list(l) for l in lines]
    swapped[first][1] = 8
    expect("a code answered to another user", check(swapped), 1, "the row belongs to user")

    five = lines + [[100, 7, 0, "availability", 503, 1000, "-", "-", "unavailable"]]
    expect("a 5xx without fault modes", check(five), 1, "5xx in a run without fault modes")
    expect("a 5xx with fault modes", check(five, "--faults", "kill-server-at=1"), 0, "0 violation(s)")

    capt = lines + [[won[1][0] - 1, won[1][1], 0, "book", 403, 1000, won[1][6], "-", "captcha"]]
    expect("a captcha-refused user with a seat", check(capt), 1, "had a captcha refused yet holds")

    t.eq(check(lines[:3] + [["x"]])[0], 1, "a malformed log line is a violation")

    # Redis: a lost seat, then a booked seat offered again
    booked = {int(r[0]): int(r[1]) for r in psql("SELECT slot_id, max(seat) FROM appointments WHERE office_code = :'p1' "
                                                  "AND state = 'active' GROUP BY 1", OFF)}
    full = slots[0]
    env.redis("SADD", "cal:{%s}:free:%d" % (OFF, full), str(booked[full]))
    expect("a booked seat free in Redis", check(lines), 1, "is booked in PostgreSQL but free in Redis")
    env.redis("SREM", "cal:{%s}:free:%d" % (OFF, full), str(booked[full]))
    env.redis("HSET", "cal:{%s}:slot:%d" % (OFF, full), "capacity", "4")
    expect("a capacity that differs", check(lines), 1, "Redis capacity 4, PostgreSQL 3")
    env.redis("HSET", "cal:{%s}:slot:%d" % (OFF, full), "capacity", "3")
    expect("Redis restored", check(lines), 0, "0 violation(s)")

    # an appointment on a seat the slot does not have (PostgreSQL allows seat > 0)
    psql("INSERT INTO appointments (code, slot_id, seat, office_code, procedure_code, account_id, document_type, "
         "document_number) VALUES ('SCK' || :'p4' || '234', :'p1', 9, :'p2', :'p3', :'p5', 'consular_id', :'p6')",
         full, OFF, PROC, run[:4], people[8][0], people[8][1])
    expect("a seat outside the slot", check(lines), 1, "outside 1..3")
finally:
    env.close()
sys.exit(t.finish())
