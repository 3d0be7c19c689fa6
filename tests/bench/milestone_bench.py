#!/usr/bin/env python3
"""Hark milestone benchmark: with 1,000,000 customers stored, the
time to find and request one day's birthday and anniversary messages, and
the memory hark-milestone uses.

    make bench-milestone            # builds bin/ (release) and runs this
    HARK_BIN=bin HARK_ROOT=. /usr/bin/python3 tests/bench/milestone_bench.py [--customers N]

1. load: hark-milestone creates milestone.db (its own migrations), is
   stopped, and the customers go straight into its `customers` table with
   Python's sqlite3 (what `customer` and `purchase` events would leave
   there: contact, the birthday's month*100+day, for 60% a first purchase
   between 2015 and 2025), in 18 zones from UTC+14 to UTC-12.  Loading
   through the journal would measure the consumer, not the service.
2. catch-up: the instance (journal + milestone, release build, real
   journal with synchronous = full) starts with the clock (HARK_CLOCK_FILE)
   at 00:00 UTC on the day: everything whose local 09:00 fell in the 12
   hours before is requested at once, as after a night of downtime.
3. one day: the clock is stepped through the next 24 hours in 15-minute
   steps, each step waiting for hark-milestone's tick at that time, so it
   finds and requests every message as it falls due, zone by zone.
   Figures: messages requested, hark-milestone's busy time (time spent in
   its ticks: the index lookups, the send-instant computations, the
   transactions with the outbox, the appends to the journal; counted by the
   service itself, `busy_ms` in SERVICE_STATUS), the slowest tick, the
   cost of a tick with nothing due, and its memory (VmRSS and VmHWM).

Every figure is the real find-and-request path: the requests are in the
journal at the end (checked).  Writes tests/bench/milestone_results.json.
"""
import argparse
import datetime
import json
import os
import random
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from harness import BIN, Hark  # noqa: E402

ZONES = ["Pacific/Kiritimati", "Pacific/Auckland", "Australia/Sydney", "Asia/Tokyo",
         "Asia/Shanghai", "Asia/Kolkata", "Asia/Dubai", "Europe/Moscow", "Europe/Warsaw",
         "Europe/Berlin", "Europe/London", "UTC", "Africa/Lagos", "America/Sao_Paulo",
         "America/New_York", "America/Chicago", "America/Los_Angeles", "Etc/GMT+12"]
UTC = datetime.timezone.utc
DAY = datetime.datetime(2027, 6, 15, tzinfo=UTC)


def log(msg):
    print(msg, flush=True)


def status(h):
    cmd, r = h.call(h.endpoint("milestone.ctl"), "SERVICE_STATUS", {}, timeout=60000)
    assert cmd == "SERVICE_STATUS_OK", r
    return r


def mem(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                out[k] = round(int(v.split()[0]) / 1024, 1)
    return out


def set_clock(path, when):
    path_real = datetime.datetime.now(UTC)
    with open(path, "w") as f:
        f.write("%.3f" % (when - path_real).total_seconds())
    return time.monotonic(), when


def wait_tick(h, set_at, when, timeout=300):
    deadline = time.monotonic() + timeout
    target = when + datetime.timedelta(seconds=time.monotonic() - set_at)
    while time.monotonic() < deadline:
        d = status(h)["detail"]
        if "tick_at" in d and datetime.datetime.fromisoformat(d["tick_at"].replace("Z", "+00:00")) >= target:
            return d
        time.sleep(0.02)
    raise TimeoutError("no tick at %s" % when)


def load(db_path, n, seed=5):
    rnd = random.Random(seed)
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA journal_mode = WAL")
    t0 = time.monotonic()
    leap = datetime.date(2000, 1, 1)

    def rows():
        for i in range(n):
            b = leap + datetime.timedelta(days=rnd.randrange(366))
            tz = ZONES[i % len(ZONES)]
            p_year = p_md = None
            if rnd.random() < 0.6:
                p = datetime.date(2015, 1, 1) + datetime.timedelta(days=rnd.randrange(11 * 365))
                p_year, p_md = p.year, p.month * 100 + p.day
            yield ("c%07d" % i, "c%07d@example.com" % i, "Customer %d" % i, "en", tz,
                   b.month * 100 + b.day, p_year, p_md)
    con.executemany("INSERT INTO customers(id, email, name, locale, timezone, b_md, p_year, p_md)"
                    " VALUES(?, ?, ?, ?, ?, ?, ?, ?)", rows())
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--step-minutes", type=int, default=15)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "milestone_results.json"))
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="hark-bench-milestone-")
    clock = os.path.join(base, "clock")
    set_clock(clock, DAY - datetime.timedelta(days=30))
    os.makedirs(os.path.join(base, "h"))
    h = Hark(os.path.join(base, "h"), services=("journal", "milestone"),
             conf={"milestone": {"interval": "100ms"}})
    h.env["HARK_CLOCK_FILE"] = clock
    res = {"customers": args.customers, "zones": ZONES, "simulated_day": DAY.date().isoformat(),
           "binaries": BIN, "date": datetime.datetime.now(UTC).isoformat(timespec="seconds"),
           "nproc": os.cpu_count()}
    try:
        h.start()
        h.stop()
        log("loading %d customers into milestone.db" % args.customers)
        res["load_s"] = round(load(os.path.join(h.state, "milestone.db"), args.customers), 1)
        res["db_mb"] = round(os.path.getsize(os.path.join(h.state, "milestone.db")) / 2**20, 1)
        log("  %.1f s, %.1f MB" % (res["load_s"], res["db_mb"]))

        # 2. start at 00:00 UTC: the 12 h before are caught up at once
        set_at, when = set_clock(clock, DAY)
        t0 = time.monotonic()
        h.start()
        d = wait_tick(h, set_at, when)
        pid = h.pid("milestone")
        res["catch_up"] = {"messages": d.get("sent", 0) + d.get("missed", 0),
                           "sent": d.get("sent", 0), "missed": d.get("missed", 0),
                           "busy_ms": d["busy_ms"], "wall_s_from_start": round(time.monotonic() - t0, 2)}
        log("catch-up at start: %s" % res["catch_up"])
        # idle ticks: the clock still, nothing due
        d0 = status(h)["detail"]
        time.sleep(2)
        d1 = status(h)["detail"]
        res["idle_tick_ms"] = round((d1["busy_ms"] - d0["busy_ms"]) / max(1, d1["ticks"] - d0["ticks"]), 2)
        log("idle tick: %.2f ms" % res["idle_tick_ms"])

        # 3. one day in steps
        before = status(h)["detail"]
        steps, slowest = [], 0
        t = DAY
        while t < DAY + datetime.timedelta(days=1):
            t += datetime.timedelta(minutes=args.step_minutes)
            s0 = status(h)["detail"]
            set_at, when = set_clock(clock, t)
            d = wait_tick(h, set_at, when)
            sent = d.get("sent", 0) - s0.get("sent", 0)
            busy = d["busy_ms"] - s0["busy_ms"]
            steps.append({"at": t.isoformat(), "sent": sent, "busy_ms": busy})
            slowest = max(slowest, busy)
        after = status(h)["detail"]
        m = mem(pid)
        sent = after.get("sent", 0) - before.get("sent", 0)
        res["day"] = {"messages": sent, "busy_ms": after["busy_ms"] - before["busy_ms"],
                      "ticks": after["ticks"] - before["ticks"],
                      "slowest_step_ms": slowest,
                      "busiest_step": max(steps, key=lambda s: s["sent"]),
                      "steps": steps}
        res["memory_mb"] = m
        # the requests are really in the journal
        cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_FETCH", {"after": 0, "limit": 1})
        res["journal_head"] = r["head"]
        total_sent = after.get("sent", 0)
        assert r["head"] == total_sent, (r["head"], total_sent)  # one request each, nothing else
        res["busy_ms_per_message"] = round(res["day"]["busy_ms"] / max(1, sent), 3)
        log("one day: %d messages requested, hark-milestone busy %.1f s in all (%.3f ms a message),"
            " slowest 15-minute step %d ms; memory %s"
            % (sent, res["day"]["busy_ms"] / 1000, res["busy_ms_per_message"], slowest, m))
    finally:
        if h.proc and h.proc.poll() is None:
            h.stop(check=False)
        os.system("rm -rf '%s'" % base)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
    log("written %s" % args.out)


if __name__ == "__main__":
    main()
