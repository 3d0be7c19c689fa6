#!/usr/bin/env python3
"""Hark backup benchmark: `hark backup` of a 1,000,000-event journal and
`hark rebuild all` from it, timed.

    make bench-backup               # builds bin/ (release) and runs this
    HARK_BIN=bin HARK_ROOT=. /usr/bin/python3 tests/bench/backup_bench.py [--events N]

A fresh instance (journal, survey, milestone, intake, loop: the services
`hark rebuild all` rebuilds) gets --events events written straight into its
journal.db before it starts (the journal's own schema, one transaction:
appending a million events through the journal on a loaded 2-core machine
took 513 s, which measures the journal, not the backup): per five events two
`customer`, two `purchase` (each a survey invite planned a week later, so
nothing is mailed during the run) and one `feedback.tagged` (hark-loop
counts it per reason).  Hark starts and every service applies them from
offset 0 (the first apply: a replay of the whole journal, timed).  Then:

1. `hark backup DIR`: wall time, size, MB/s;
2. `hark backup --verify DIR`: wall time (every byte read and hashed);
3. `hark rebuild all`: wall time, and each service's as the command prints
   it (stop, file aside, start, replay up to the head);
4. the NPS and loop reports and the journal's head before and after the
   rebuild, which must be equal (`verified`).

The machine is shared and noisy: the load before and after is recorded, and
the figures are for comparison on a quiet machine.  Writes
tests/bench/backup_results.json and prints a table.
"""
import argparse
import datetime
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BIN, HERE, Deadline, arm_deadline, check_binaries, clean_up, fmt, log,  # noqa: E402
                      machine_info, wait_until, write_results)
from harness import WIRE, Hark  # noqa: E402

SERVICES = ("journal", "survey", "milestone", "intake", "loop")
LOCALES = ("en", "pl", "ru")


def call(h, name, cmd, body, timeout_ms=120000):
    c, r = h.call(h.endpoint(name), cmd, body, timeout=timeout_ms)
    if not c.endswith("_OK"):
        raise RuntimeError("%s: %s %s" % (cmd, c, r))
    return r


def head(h):
    return call(h, "journal.ctl", "SERVICE_STATUS", {}).get("head", 0)


def applied(h):
    """every consumer's cursor at the journal's head"""
    hd = head(h)
    return all(call(h, s + ".ctl", "SERVICE_STATUS", {}).get("cursor") == hd
               for s in SERVICES if s != "journal")


def hark(h, *args, timeout=3600):
    t = time.monotonic()
    r = subprocess.run([os.path.join(BIN, "hark"), "-c", h.config] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("hark %s: %s %s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout, time.monotonic() - t


def reports(h):
    """the NPS and loop reports (asked again while a busy service does not
    answer in the CLI's 3 s)"""
    out = []
    for a in (("nps",), ("loops",)):
        for attempt in range(20):
            try:
                out.append(json.loads(hark(h, "report", *a, "--json")[0]))
                break
            except RuntimeError:
                if attempt == 19:
                    raise
                time.sleep(1)
    return out


def event(i):
    k, c = i % 5, "c%07d" % (i // 5)
    if k < 2:
        return "customer", "bench/c/%d" % i, {"id": c + str(k), "email": "customer%d@example.com" % i,
                                               "locale": LOCALES[i % 3]}
    if k < 4:
        return "purchase", "bench/p/%d" % i, {"customer_id": c + str(k - 2), "order_id": "o%d" % i}
    return "feedback.tagged", "bench/f/%d" % i, {
        "case": "k%07d" % i, "customer_id": c + "0", "kind": "complaint", "codes": ["late"],
        "via": "keywords", "text": "Parcel %d came late." % i, "locale": LOCALES[i % 3],
        "given_at": "2026-10-01T10:00:00Z"}


def seed(state, n):
    """n events into state/journal.db as hark-journal would store them
    (journal_store.c's schema and user_version, compact payloads)"""
    t = time.monotonic()
    os.makedirs(state, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    db = sqlite3.connect(os.path.join(state, "journal.db"))
    db.executescript(
        "CREATE TABLE events(offset INTEGER PRIMARY KEY, type TEXT NOT NULL, key TEXT NOT NULL,"
        " occurred_at TEXT NOT NULL, recorded_at TEXT NOT NULL, payload TEXT NOT NULL);"
        "CREATE UNIQUE INDEX events_key ON events(key);"
        "CREATE INDEX events_type ON events(type, offset);"
        "PRAGMA user_version = 1;")
    db.executemany("INSERT INTO events(type, key, occurred_at, recorded_at, payload)"
                   " VALUES(?, ?, ?, ?, ?)",
                   ((ty, k, now, now, json.dumps(p, separators=(",", ":")))
                    for ty, k, p in map(event, range(n))))
    db.commit()
    db.close()
    return time.monotonic() - t


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


def bench(base, args, live):
    os.makedirs(os.path.join(base, "h"))
    h = Hark(os.path.join(base, "h"), SERVICES)
    seed_s = seed(h.state, args.events)
    log("   %s events written into journal.db in %.1f s" % (fmt(args.events), seed_s))
    t = time.monotonic()
    h.start(wait=False)
    live.append(h)
    wait_until(lambda: h.status().get("services") and all(
        s.get("answering") for s in h.status()["services"]), 120, "services answering", 0.5)
    wait_until(lambda: applied(h), args.step_timeout, "every service to apply them", 0.5)
    apply_s = time.monotonic() - t
    log("   applied by every service (from offset 0) in %.1f s" % apply_s)
    hd, before = head(h), reports(h)

    out_dir = os.path.join(base, "backup")
    _, backup_s = hark(h, "backup", out_dir)
    size = dir_bytes(out_dir)
    log("   backup: %.1f s, %s MB" % (backup_s, fmt(size / 1e6, 1)))
    _, verify_s = hark(h, "backup", "--verify", out_dir)
    log("   verify: %.1f s" % verify_s)
    with open(os.path.join(out_dir, "manifest.json")) as f:
        m = json.load(f)

    text, rebuild_s = hark(h, "rebuild", "all")
    per = {s: float(x) for s, x in re.findall(r"^(\w+): rebuilt .* in ([0-9.]+) s", text, re.M)}
    log("   rebuild all: %.1f s %s" % (rebuild_s, per))
    after, hd_after = reports(h), head(h)
    return {"events": args.events, "journal_head": hd, "seed_s": round(seed_s, 1),
            "seed_events_per_s": round(args.events / seed_s), "first_apply_s": round(apply_s, 1),
            "backup_s": round(backup_s, 2), "backup_bytes": size,
            "backup_mb_per_s": round(size / 1e6 / backup_s, 1),
            "files": {f["name"]: f["size"] for f in m["files"]},
            "verify_s": round(verify_s, 2), "rebuild_all_s": round(rebuild_s, 1),
            "rebuild_s": per, "manifest_head": m["journal_head"],
            "verified": before == after and hd == hd_after and m["journal_head"] == hd}


def render(out):
    b = out.get("bench")
    lines = ["", "hark backup and rebuild: %s events (load before %s, after %s)" % (
        fmt(out["settings"]["events"]), out["machine"].get("loadavg_before"),
        out.get("loadavg_after"))]
    if b:
        lines += ["  %-44s %12s" % ("what", "figure"),
                  "  %-44s %12s" % ("seed: events written per second", fmt(b["seed_events_per_s"])),
                  "  %-44s %12s" % ("start + first apply (replay from 0)", "%.1f s" % b["first_apply_s"]),
                  "  %-44s %12s" % ("hark backup (every file, online)", "%.1f s" % b["backup_s"]),
                  "  %-44s %12s" % ("  its size", "%s MB" % fmt(b["backup_bytes"] / 1e6, 1)),
                  "  %-44s %12s" % ("  rate", "%.1f MB/s" % b["backup_mb_per_s"]),
                  "  %-44s %12s" % ("hark backup --verify", "%.1f s" % b["verify_s"]),
                  "  %-44s %12s" % ("hark rebuild all", "%.1f s" % b["rebuild_all_s"])]
        for s, v in sorted(b["rebuild_s"].items()):
            lines.append("  %-44s %12s" % ("  " + s, "%.1f s" % v))
        lines.append("  %-44s %12s" % ("reports and head equal after rebuild",
                                       "yes" if b["verified"] else "NO"))
    for e in out["errors"]:
        lines.append("  error: " + e)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--step-timeout", type=int, default=1800)
    ap.add_argument("--max-seconds", type=int, default=3000)
    ap.add_argument("--out", default=os.path.join(HERE, "backup_results.json"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    check_binaries("backup_bench.py", ("harkd", "hark") + tuple("hark-" + s for s in SERVICES),
                   "make bench-backup")
    arm_deadline(args.max_seconds)
    base = tempfile.mkdtemp(prefix="hark-backup-bench-")
    live = []
    t0 = time.monotonic()
    out = {"machine": machine_info(base, "state_fs", {"wire": WIRE}), "bin": BIN,
           "settings": {"events": args.events}, "errors": []}
    rc = 0
    try:
        log("backup and rebuild of %s events" % fmt(args.events))
        out["bench"] = bench(base, args, live)
    except (Deadline, KeyboardInterrupt) as e:
        out["errors"].append("stopped early: %s" % (e or "interrupted"))
        rc = 1
    except Exception as e:  # noqa: BLE001 - reported in the results
        out["errors"].append(str(e))
        rc = 1
    finally:
        with open("/proc/loadavg") as f:
            out["loadavg_after"] = " ".join(f.read().split()[:3])
        clean_up(base, args.keep, live)
    write_results(args.out, out, render, t0)
    if "bench" in out and not out["bench"]["verified"]:
        log("backup_bench.py: check FAILED")
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
