#!/usr/bin/env python3
"""Hark import benchmark: 100,000 customers from a CSV file, end to end.

    make bench-import               # builds bin/ (release) and runs this
    HARK_BIN=bin HARK_ROOT=. /usr/bin/python3 tests/bench/import_bench.py [--customers N]

A fresh instance runs every service that keeps a copy of the customers
(milestone, survey, loop, mailer, intake) besides the journal and the
gateway.  The CSV (id, email, name in Latin, Cyrillic and Chinese script,
locale, timezone, birthday, signup date) is written first; the clock starts
when `hark import customers FILE` starts and stops when every one of those
services has applied the journal up to its head (`hark status`: lag 0), so
the figure is rows read, checked, journaled AND applied everywhere.  The
import's own time (to its summary) is reported apart.  Then the same file
is imported again: it must report "0 new, N already imported".  The target
is under 30 s.  Writes tests/bench/import_results.json and prints a table.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BIN, HERE, Deadline, proc_stat, arm_deadline, check_binaries, clean_up, fmt, log,  # noqa: E402
                      machine_info, wait_until, write_results)
from harness import WIRE, Hark  # noqa: E402

COPIES = ("milestone", "survey", "loop", "mailer", "intake")
NAMES = ("Anna Smith", "Иван Петров", "李小龙", "Ola Nowak", "Аляксандра")
LOCALES = ("en", "ru", "zh", "pl", "be")
ZONES = ("Europe/Warsaw", "Europe/Moscow", "Asia/Shanghai", "America/New_York", "UTC")


def write_csv(path, n):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("Customer ID,E-mail,Full name,Language,Time zone,Birthday,Signup date\r\n")
        for i in range(n):
            k = i % 5
            f.write('c%07d,c%07d@example.com,"%s, %d",%s,%s,19%02d-%02d-%02d,2024-%02d-%02d\r\n'
                    % (i, i, NAMES[k], i, LOCALES[k], ZONES[k], 50 + i % 50, 1 + i % 12,
                       1 + i % 28, 1 + i % 12, 1 + i % 28))


def lags(h):
    st = h.status()
    return {s["name"]: s.get("lag") for s in st.get("services", []) if s["name"] in COPIES}


def cpu_s(h):
    """CPU seconds (user + system) each service has used so far"""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for s in h.status().get("services", []):
        try:
            f = proc_stat(s["pid"])
            out[s["name"]] = (int(f[11]) + int(f[12])) / tick
        except (OSError, KeyError, IndexError):
            pass
    return out


def bench(base, args, live):
    conf = {"mailer": {"templates": os.path.join(os.environ["HARK_ROOT"], "templates"),
                       "from": "shop@example.com"}}
    os.makedirs(os.path.join(base, "h"))
    h = Hark(os.path.join(base, "h"), ("journal", "gateway") + COPIES, conf)
    live.append(h)
    h.start()
    path = os.path.join(base, "customers.csv")
    write_csv(path, args.customers)
    size = os.path.getsize(path)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    log("%s rows, %s bytes; load average %s" % (fmt(args.customers), fmt(size), load))
    cpu0 = cpu_s(h)
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(BIN, "hark"), "-c", h.config, "import", "customers", path],
                       capture_output=True, text=True, timeout=args.step_timeout)
    cli_cpu = None
    try:
        ru = __import__("resource").getrusage(__import__("resource").RUSAGE_CHILDREN)
        cli_cpu = round(ru.ru_utime + ru.ru_stime, 1)  # hark import (and hark status) so far
    except OSError:
        pass
    t_import = time.monotonic() - t0
    if r.returncode != 0 or "%d new" % args.customers not in r.stdout:
        raise RuntimeError("import failed: %s %s" % (r.stdout, r.stderr[-500:]))
    caught = {}  # when each copy had applied everything, from the start

    def all_applied():
        for name, lag in lags(h).items():
            if lag == 0 and name not in caught:
                caught[name] = round(time.monotonic() - t0, 1)
        return len(caught) == len(COPIES)
    wait_until(all_applied, args.step_timeout, "every copy applied", interval=0.2)
    t_all = time.monotonic() - t0
    cpu1 = cpu_s(h)
    cpu = {k: round(cpu1[k] - cpu0.get(k, 0), 1) for k in cpu1}
    t1 = time.monotonic()
    r2 = subprocess.run([os.path.join(BIN, "hark"), "-c", h.config, "import", "customers", path],
                        capture_output=True, text=True, timeout=args.step_timeout)
    t_again = time.monotonic() - t1
    again_ok = "0 new, %d already imported" % args.customers in r2.stdout
    # every copy has them: milestone's export counts them
    e = subprocess.run([os.path.join(BIN, "hark"), "-c", h.config, "export", "customers"],
                       capture_output=True, text=True, timeout=args.step_timeout)
    exported = max(0, len(e.stdout.splitlines()) - 1)
    with open("/proc/loadavg") as f:
        load_after = " ".join(f.read().split()[:3])
    return {"rows": args.customers, "bytes": size, "import_s": round(t_import, 2),
            "end_to_end_s": round(t_all, 2), "caught_up_s": caught,
            "cpu_s": cpu, "cpu_s_total": round(sum(cpu.values()), 1), "cli_cpu_s": cli_cpu, "rows_per_s": round(args.customers / t_all),
            "again_s": round(t_again, 2), "again_nothing_twice": again_ok,
            "exported": exported, "load_before": load, "load_after": load_after,
            "verified": again_ok and exported == args.customers and t_all < 30}


def render(out):
    b = out.get("bench")
    lines = ["", "import benchmark (%s)" % out["machine"].get("date")]
    if not b:
        return "\n".join(lines + ["no figures: %s" % out["errors"]])
    lines += ["rows                      %s (%s bytes of CSV)" % (fmt(b["rows"]), fmt(b["bytes"])),
              "hark import (journaled)   %.1f s" % b["import_s"],
              "end to end (applied by %s)  %.1f s   %s rows/s   target < 30 s: %s"
              % (", ".join(COPIES), b["end_to_end_s"], fmt(b["rows_per_s"]),
                 "met" if b["end_to_end_s"] < 30 else "NOT met"),
              "each copy caught up at    %s" % ", ".join("%s %.1f s" % kv for kv in
                                                       sorted(b["caught_up_s"].items(),
                                                              key=lambda kv: kv[1])),
              "CPU seconds used          %s; all services %.1f, hark import %s" % (
                  ", ".join("%s %.1f" % kv for kv in sorted(b["cpu_s"].items(), key=lambda kv: -kv[1])),
                  b["cpu_s_total"], b["cli_cpu_s"]),
              "the same file again       %.1f s, nothing twice: %s" % (b["again_s"],
                                                                     b["again_nothing_twice"]),
              "exported afterwards       %s" % fmt(b["exported"]),
              "load average              %s before, %s after" % (b["load_before"], b["load_after"])]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--step-timeout", type=int, default=600)
    ap.add_argument("--max-seconds", type=int, default=1200)
    ap.add_argument("--out", default=os.path.join(HERE, "import_results.json"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    check_binaries("import_bench.py", ("harkd", "hark", "hark-journal", "hark-milestone"),
                   "make bench-import")
    arm_deadline(args.max_seconds)
    base = tempfile.mkdtemp(prefix="hark-import-bench-")
    live = []
    t0 = time.monotonic()
    out = {"machine": machine_info(base, "state_fs", {"wire": WIRE}), "bin": BIN,
           "settings": {"customers": args.customers}, "errors": []}
    rc = 0
    try:
        log("importing %s customers" % fmt(args.customers))
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
        log("import_bench.py: check FAILED")
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
