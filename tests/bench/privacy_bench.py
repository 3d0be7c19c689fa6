"""privacy_bench.py - the cost of sealing personal fields, and of one erasure.

1. Journal throughput with [privacy] encrypt on and off, in one run, the
   same load each time (bench_journal: customer events, each a new customer,
   so each needs a new data key - the worst case).  Goal: on is at most 10%
   below off.
2. One erasure with many customers in the journal: N customers seeded
   (each with its own keys), then the time from appending customer.erased
   to JOURNAL_APPEND_OK: the keys found, logged (fsync), deleted, committed,
   and the keys file checkpointed and truncated.  The services' side (each
   blanking rows by an indexed customer id) is not in this figure.

    make bench-privacy      (release build; N from PRIVACY_CUSTOMERS, 200000)

Prints one JSON object; figures are noisy on a shared machine (the load is
printed with them).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import HERE, check_binaries  # noqa: E402
from harness import WIRE, Hark  # noqa: E402


def compile_bench(build):
    r = subprocess.run(["pkg-config", "--cflags", "--libs", "libzmq", "jansson"],
                       capture_output=True, text=True, check=True)
    exe = os.path.join(build, "bench_journal")
    subprocess.run(["cc", "-O2", "-std=c11", "-o", exe, os.path.join(HERE, "bench_journal.c")]
                   + r.stdout.split() + ["-lpthread"], check=True)
    return exe


def throughput(exe, base, encrypt, seconds):
    d = os.path.join(base, "tp-" + encrypt)
    os.makedirs(d)
    h = Hark(d, services=("journal",), conf={"privacy": {"encrypt": encrypt}}).start()
    try:
        r = subprocess.run([exe, "-e", h.endpoint("journal.sock"), "-t", "4", "-w", "16",
                            "-b", "50", "-d", str(seconds), "-u", "1", "-k", "p" + encrypt,
                            "-V", WIRE],
                           capture_output=True, text=True, timeout=seconds + 120)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        return {"encrypt": encrypt, "events_per_s": res["events_per_s"],
                "verified": res["verified"], "p50_ms": res["latency_ms"]["p50"],
                "first_error": res.get("first_error", "")}
    finally:
        h.stop(check=False)


def erasure(base, n):
    d = os.path.join(base, "erase")
    os.makedirs(d)
    h = Hark(d, services=("journal",), conf={"privacy": {"erasure_log": os.path.join(d, "e.log")}})
    h.start()
    try:
        t0 = time.monotonic()
        step = 5000
        for i in range(0, n, step):
            evs = [{"type": "customer", "key": "seed/%d" % c,
                    "payload": {"id": "c%d" % c, "email": "c%d@example.com" % c,
                                "name": "Customer %d" % c}}
                   for c in range(i, min(n, i + step))]
            cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": evs},
                            timeout=120000)
            assert cmd == "JOURNAL_APPEND_OK", r
        seeded_s = time.monotonic() - t0
        t1 = time.monotonic()
        cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
            {"type": "customer.erased", "key": "bench/erase",
             "payload": {"customer_id": "c%d" % (n // 2), "by": "api"}}]}, timeout=60000)
        erase_ms = (time.monotonic() - t1) * 1000
        assert cmd == "JOURNAL_APPEND_OK", r
        return {"customers": n, "seed_s": round(seeded_s, 1),
                "seed_customers_per_s": round(n / seeded_s),
                "erase_ms": round(erase_ms, 1)}
    finally:
        h.stop(check=False)


def main():
    check_binaries("privacy_bench.py", ["harkd", "hark-journal"], "make bench-privacy")
    n = int(os.environ.get("PRIVACY_CUSTOMERS", "200000"))
    seconds = int(os.environ.get("PRIVACY_SECONDS", "5"))
    out = {"loadavg_before": open("/proc/loadavg").read().split()[:3]}
    with tempfile.TemporaryDirectory() as base:
        exe = compile_bench(base)
        out["journal"] = [throughput(exe, base, "no", seconds),
                          throughput(exe, base, "yes", seconds)]
        off, on = (r["events_per_s"] for r in out["journal"])
        out["encrypt_cost_pct"] = round(100.0 * (off - on) / off, 1) if off else None
        out["erasure"] = erasure(base, n)
    out["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
