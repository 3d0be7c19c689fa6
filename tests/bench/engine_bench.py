"""engine_bench.py - the journal's two engines side by side, one table.

For sqlite, jetstream on one node (replicas 1) and jetstream on a
three-node cluster on loopback (replicas 3): append throughput and median
latency under the same load (bench_journal: 4 threads, 16 requests in
flight each, 50 events a request, every reply checked), then how fast a
consumer catches up (JOURNAL_FETCH pages of 1000 from offset 0).

    make bench-journal ENGINE=jetstream     (release build; ENGINE_SECONDS, 5)

Prints one JSON object and a table; figures are noisy on a shared machine
(the load average is printed with them).  The three nats-servers share the
machine with the journal and the load generator: R3 here measures the
protocol's round trips, not three machines' disks.
"""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import HERE, check_binaries  # noqa: E402,F401
from harness import WIRE, Hark  # noqa: E402
from natsrv import Cluster  # noqa: E402
from privacy_bench import compile_bench  # noqa: E402
import subprocess  # noqa: E402


def one(exe, base, name, conf, seconds):
    d = os.path.join(base, name)
    os.makedirs(d)
    h = Hark(d, services=("journal",), conf=conf).start()
    try:
        r = subprocess.run([exe, "-e", h.endpoint("journal.sock"), "-t", "4", "-w", "16",
                            "-b", "50", "-d", str(seconds), "-u", "1", "-k", name,
                            "-V", WIRE],
                           capture_output=True, text=True, timeout=seconds + 180)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        t0, after, n = time.monotonic(), 0, 0
        while True:
            cmd, f = h.call(h.endpoint("journal.sock"), "JOURNAL_FETCH",
                            {"after": after, "limit": 1000}, timeout=120000)
            assert cmd == "JOURNAL_FETCH_OK", f
            if not f["events"]:
                break
            n += len(f["events"])
            after = f["next"]
        read_s = time.monotonic() - t0
        return {"engine": name, "events_per_s": res["events_per_s"],
                "p50_ms": res["latency_ms"]["p50"], "verified": res["verified"],
                "fetched": n, "fetch_events_per_s": round(n / read_s) if read_s else None,
                "first_error": res.get("first_error", "")}
    finally:
        h.stop(check=False)


def main():
    check_binaries("engine_bench.py", ["harkd", "hark-journal"], "make bench-journal ENGINE=jetstream")
    seconds = int(os.environ.get("ENGINE_SECONDS", "5"))
    out = {"loadavg_before": open("/proc/loadavg").read().split()[:3], "rows": []}
    with tempfile.TemporaryDirectory() as base:
        exe = compile_bench(base)
        out["rows"].append(one(exe, base, "sqlite", {}, seconds))
        for n, name in ((1, "jetstream-r1"), (3, "jetstream-r3")):
            c = Cluster(os.path.join(base, "nats-" + name), n).start()
            try:
                out["rows"].append(one(exe, base, name, c.journal_conf(), seconds))
            finally:
                c.stop()
    out["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    print(json.dumps(out, indent=1))
    print("%-14s %12s %8s %14s" % ("engine", "appends/s", "p50 ms", "fetch ev/s"))
    for r in out["rows"]:
        print("%-14s %12d %8s %14s" % (r["engine"], r["events_per_s"], r["p50_ms"],
                                       r["fetch_events_per_s"]))


if __name__ == "__main__":
    main()
