#!/usr/bin/env python3
"""Hark loop benchmark: time from `hark loop close` to every
request journaled, for 100,000 customers.

    make bench-loop                 # builds bin/ (release) and runs this
    HARK_BIN=bin HARK_ROOT=. /usr/bin/python3 tests/bench/loop_bench.py [--customers N]

A fresh instance (journal + loop; no mailer: the figure is hark-loop's and
the journal's, not SMTP's) gets --customers `customer` events and one
`feedback.tagged` each (reason `late`, three locales), appended straight to
the journal over ZeroMQ (JOURNAL_APPEND, 5,000 a request), and waits until
hark-loop has applied them.  Then:

1. dry run: `hark loop close --dry-run` (who would hear, per locale, one
   rendered email): its wall time;
2. close: the clock starts when `hark loop close` is started (it asks
   hark-loop for the reason first, then journals loop.closed) and stops when
   hark-loop's status shows no recipient pending and an empty outbox, i.e.
   every mail.requested and loop.notified is in the journal; the journal is
   then read back to check that there is exactly one mail.requested per
   customer;
3. report: `LOOP_REPORT` over the result, round-trip time.

CPU of hark-loop and hark-journal over step 2 is reported too.  Every step
has a timeout, the run stops by itself after --max-seconds, and the temp dir
is removed.  Writes tests/bench/loop_results.json and prints a table.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BIN, HERE, CpuMeter, Deadline, arm_deadline, check_binaries, fmt, log,  # noqa: E402
                      clean_up, machine_info, wait_until, write_results)
from harness import WIRE, Hark  # noqa: E402

LOCALES = ("en", "pl", "ru")


def call(h, name, cmd, body, timeout_ms=60000):
    c, r = h.call(h.endpoint(name), cmd, body, timeout=timeout_ms)
    if not c.endswith("_OK"):
        raise RuntimeError("%s: %s %s" % (cmd, c, r))
    return r


def loop_detail(h):
    return call(h, "loop.ctl", "SERVICE_STATUS", {}).get("detail", {})


def applied(h):
    """hark-loop's cursor at the journal's head"""
    head = call(h, "journal.ctl", "SERVICE_STATUS", {}).get("head", 0)
    return head > 0 and call(h, "loop.ctl", "SERVICE_STATUS", {}).get("cursor") == head


def bench(base, args, live):
    n = args.customers
    os.makedirs(os.path.join(base, "h"))
    h = Hark(os.path.join(base, "h"), ("journal", "loop"), {"loop": {"batch": str(args.batch)}})
    h.start()
    live.append(h)
    t = time.monotonic()
    for b in range(0, n, 2500):
        ev = []
        for i in range(b, min(n, b + 2500)):
            cid = "c%07d" % i
            ev.append({"type": "customer", "key": "bench/c/%d" % i, "payload": {
                "id": cid, "email": "customer%d@example.com" % i, "name": "Customer %d" % i,
                "locale": LOCALES[i % 3]}})
            ev.append({"type": "feedback.tagged", "key": "bench/f/%d" % i, "payload": {
                "case": "k%07d" % i, "customer_id": cid, "kind": "complaint", "codes": ["late"],
                "via": "keywords", "text": "My parcel %d came two weeks late, again." % i,
                "locale": LOCALES[i % 3], "given_at": "2026-10-01T10:00:00Z"}})
        call(h, "journal.sock", "JOURNAL_APPEND", {"events": ev})
    wait_until(lambda: applied(h), args.step_timeout, "hark-loop to apply the feedback", 0.02)
    setup_s = time.monotonic() - t
    log("   %s customers and their feedback applied in %.1f s" % (fmt(n), setup_s))
    msg = os.path.join(base, "announcement.md")
    with open(msg, "w") as f:
        f.write("Parcels now go with a **faster courier**: two days at most.\n")
    cmd = [os.path.join(BIN, "hark"), "-c", h.config, "loop", "close", "--reason", "late",
           "--title", "On time again", "--message-file", msg]

    t = time.monotonic()
    r = subprocess.run(cmd + ["--dry-run", "--json"], capture_output=True, text=True,
                       timeout=args.step_timeout)
    dry_s = time.monotonic() - t
    if r.returncode != 0:
        raise RuntimeError("dry run: %s %s" % (r.stdout, r.stderr))
    preview = json.loads(r.stdout)
    log("   dry run: %s would hear, %.2f s" % (fmt(preview["customers"]), dry_s))

    pids = {s["name"]: s["pid"] for s in h.status()["services"]}
    cpu = CpuMeter(procs={"loop": pids.get("loop"), "journal": pids.get("journal")},
                   style="threads").start()
    t = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.step_timeout)
    if r.returncode != 0:
        raise RuntimeError("close: %s %s" % (r.stdout, r.stderr))
    cli_s = time.monotonic() - t
    wait_until(lambda: (lambda d: d.get("sent", 0) == n and not d.get("pending") and
                        not d.get("outbox"))(loop_detail(h)),
               args.step_timeout, "every request journaled", 0.02)
    close_s = time.monotonic() - t
    usage = cpu.stop()
    log("   close -> all requests journaled: %.2f s (%s customers/s)" % (close_s, fmt(n / close_s)))

    # read the journal back: one mail.requested per customer
    seen, after = set(), 0
    count = 0
    while True:
        f = call(h, "journal.sock", "JOURNAL_FETCH",
                 {"after": after, "limit": 5000, "types": ["mail.requested"]})
        if not f["events"]:
            break
        for e in f["events"]:
            count += 1
            seen.add(e["payload"]["customer_id"])
        after = f["next"]
    verified = count == n and len(seen) == n

    times = []
    for _ in range(args.report_calls):
        t = time.monotonic()
        call(h, "loop.ctl", "LOOP_REPORT", {})
        times.append((time.monotonic() - t) * 1000)
    times.sort()
    return {"customers": n, "batch": args.batch, "setup_s": round(setup_s, 1),
            "dry_run_s": round(dry_s, 3), "cli_s": round(cli_s, 3),
            "close_to_journaled_s": round(close_s, 3),
            "customers_per_s": round(n / close_s),
            "mail_requested": count, "distinct_customers": len(seen), "verified": verified,
            "report_ms_p50": round(times[len(times) // 2], 1), "report_ms_max": round(times[-1], 1),
            "cpu": usage}


def render(out):
    b = out.get("bench")
    lines = ["", "hark-loop: close a loop for %s customers" % fmt(out["settings"]["customers"])]
    if b:
        lines += [
            "  %-44s %10s" % ("what", "figure"),
            "  %-44s %10s" % ("dry run (hark loop close --dry-run)", "%.2f s" % b["dry_run_s"]),
            "  %-44s %10s" % ("hark loop close (CLI returns)", "%.2f s" % b["cli_s"]),
            "  %-44s %10s" % ("close -> all requests journaled", "%.2f s" % b["close_to_journaled_s"]),
            "  %-44s %10s" % ("customers told per second", fmt(b["customers_per_s"])),
            "  %-44s %10s" % ("hark-loop CPU over the close", "%.0f %%" % b["cpu"].get("loop_cpu_pct", 0)),
            "  %-44s %10s" % ("hark-journal CPU over the close", "%.0f %%" % b["cpu"].get("journal_cpu_pct", 0)),
            "  %-44s %10s" % ("LOOP_REPORT p50 / max", "%.1f / %.1f ms" % (b["report_ms_p50"], b["report_ms_max"])),
            "  %-44s %10s" % ("one mail.requested per customer", "yes" if b["verified"] else "NO"),
        ]
    for e in out["errors"]:
        lines.append("  error: " + e)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500, help="[loop] batch")
    ap.add_argument("--report-calls", type=int, default=20)
    ap.add_argument("--step-timeout", type=int, default=600)
    ap.add_argument("--max-seconds", type=int, default=1200)
    ap.add_argument("--out", default=os.path.join(HERE, "loop_results.json"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    check_binaries("loop_bench.py", ("harkd", "hark", "hark-journal", "hark-loop"), "make bench-loop")
    arm_deadline(args.max_seconds)
    base = tempfile.mkdtemp(prefix="hark-loop-bench-")
    live = []
    t0 = time.monotonic()
    out = {"machine": machine_info(base, "state_fs", {"wire": WIRE}), "bin": BIN,
           "settings": {"customers": args.customers, "batch": args.batch}, "errors": []}
    rc = 0
    try:
        log("closing a loop for %s customers" % fmt(args.customers))
        out["bench"] = bench(base, args, live)
    except (Deadline, KeyboardInterrupt) as e:
        out["errors"].append("stopped early: %s" % (e or "interrupted"))
        rc = 1
    except Exception as e:  # noqa: BLE001 - reported in the results
        out["errors"].append(str(e))
        rc = 1
    finally:
        clean_up(base, args.keep, live)
    write_results(args.out, out, render, t0)
    if "bench" in out and not out["bench"]["verified"]:
        log("loop_bench.py: check FAILED")
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
