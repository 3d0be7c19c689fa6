"""privacy_bench.py - the cost of sealing personal fields, and of one erasure.

1. Journal throughput with [privacy] encrypt on and off, in one run, the
   same load each time (bench_journal: customer events), twice: each event a
   new customer, so each needs a new data key (the worst case), then 100
   customers over and over (their keys made once, as in the gateway bench).
   Goal: on is at most 10% below off.  Beside events/s, the journal's CPU
   per event (user + system, from /proc): on a shared machine the load sets
   events/s, the CPU per event much less.
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


def cpu_s(pid):
    """the CPU seconds (user + system) pid has used: on a shared machine the
    journal's CPU per event says more than events/s, which the load sets"""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(exe, base, encrypt, seconds, customers=0):
    d = os.path.join(base, "tp-%s-%d" % (encrypt, customers))
    os.makedirs(d)
    h = Hark(d, services=("journal",), conf={"privacy": {"encrypt": encrypt}}).start()
    try:
        cpu0 = cpu_s(h.pid("journal"))
        r = subprocess.run([exe, "-e", h.endpoint("journal.sock"), "-t", "4", "-w", "16",
                            "-b", "50", "-d", str(seconds), "-u", "1", "-k", "p" + encrypt,
                            "-V", WIRE, "-c", str(customers)],
                           capture_output=True, text=True, timeout=seconds + 120)
        cpu = cpu_s(h.pid("journal")) - cpu0
        res = json.loads(r.stdout.strip().splitlines()[-1])
        acked = res.get("acked_events") or 0
        return {"encrypt": encrypt, "customers": customers or "each event a new one",
                "events_per_s": res["events_per_s"],
                "journal_cpu_us_per_event": round(cpu * 1e6 / acked, 2) if acked else None,
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
        # each event a new customer (a new data key each: the worst case), then
        # 100 returning customers (as the gateway bench sends), off and on side by side
        for label, customers in (("new_customers", 0), ("returning_customers", 100)):
            runs = [throughput(exe, base, "no", seconds, customers),
                    throughput(exe, base, "yes", seconds, customers)]
            off, on = (r["events_per_s"] for r in runs)
            c_off, c_on = (r["journal_cpu_us_per_event"] for r in runs)
            out[label] = {
                "runs": runs,
                "encrypt_cost_pct": round(100.0 * (off - on) / off, 1) if off else None,
                "encrypt_cpu_cost_pct": round(100.0 * (c_on - c_off) / c_off, 1)
                if c_off and c_on else None}
        out["erasure"] = erasure(base, n)
    out["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
