#!/usr/bin/env python3
"""Where the machine's CPU goes during a surge, by process (loadtest/surge/run starts and reads it).

  cpu_sample.py record OUT.tsv RELEASE_EPOCH_MS   every 0.5 s until SIGTERM: CPU time used by each kind of
                                                  process (from /proc/PID/stat, threads included) and idle
  cpu_sample.py summary OUT.tsv [WINDOW ...]      share of the machine (all cores = 100%) by kind of
                                                  process in each window FROM:TO (seconds around T)

OUT.tsv rows: t_ms (end of the interval, relative to T), kind, cpu_ms used in the interval.
Kinds: citasd, postgres, redis, surge-gen, smtp-sink, siteverify, kernel (softirq and other kernel threads),
other, idle. A process that exits between two samples loses its last interval (short-lived ones are rare).
"""
import os
import signal
import sys
import time

KINDS = {
    "citasd": "citasd",
    "postgres": "postgres",
    "redis-server": "redis",
    "surge-gen": "surge-gen",
    "smtp-sink": "smtp-sink",
    "siteverify-stub": "siteverify",
}
TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


def kind_of(comm, ppid):
    if comm in KINDS:
        return KINDS[comm]
    if ppid == 2 or comm.startswith("ksoftirqd") or comm.startswith("kworker"):
        return "kernel"
    return "other"


def read_procs():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                s = f.read()
        except OSError:
            continue
        l, r = s.find("("), s.rfind(")")
        comm, rest = s[l + 1:r], s[r + 2:].split()
        # rest[0] is field 3 (state): utime is field 14, stime 15, ppid 4
        out[int(pid)] = (kind_of(comm, int(rest[1])), int(rest[11]) + int(rest[12]))
    return out


def read_idle():
    with open("/proc/stat") as f:
        v = f.readline().split()[1:]
    return int(v[3]) + int(v[4])  # idle + iowait


def record(path, t_ms):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    prev, prev_idle = read_procs(), read_idle()
    with open(path, "w") as out:
        while not stop:
            time.sleep(0.5)
            cur, idle = read_procs(), read_idle()
            now = int(time.time() * 1000) - t_ms
            used = {}
            for pid, (kind, ticks) in cur.items():
                before = prev.get(pid)
                d = ticks - (before[1] if before is not None else 0)
                if d > 0:
                    used[kind] = used.get(kind, 0) + d
            used["idle"] = idle - prev_idle
            for kind, ticks in sorted(used.items()):
                out.write("%d\t%s\t%.0f\n" % (now, kind, ticks * TICK_MS))
            out.flush()
            prev, prev_idle = cur, idle


def summary(path, windows):
    rows = []
    with open(path) as f:
        for line in f:
            t, kind, ms = line.split("\t")
            rows.append((int(t), kind, float(ms)))
    cores = os.cpu_count() or 1
    kinds = ["citasd", "postgres", "redis", "surge-gen", "smtp-sink", "siteverify", "kernel", "other", "idle"]
    print("CPU by process, share of the machine (%d cores = 100%%), 0.5 s samples" % cores)
    print("%-12s" % "window" + "".join("%11s" % k for k in kinds))
    for w in windows:
        lo, hi = (float(x) * 1000 for x in w.split(":"))
        used = {k: 0.0 for k in kinds}
        times = set()
        for t, kind, ms in rows:
            if lo < t <= hi:
                times.add(t)
                used[kind if kind in used else "other"] += ms
        span = len(times) * 500.0 * cores
        if span == 0:
            continue
        label = "T%+g..%+gs" % (lo / 1000, hi / 1000)
        print("%-12s" % label + "".join("%10.1f%%" % (100.0 * used[k] / span) for k in kinds))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "record":
        record(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "summary":
        summary(sys.argv[2], sys.argv[3:] or ["-10:0", "0:10"])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
