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
   and the keys file checkpointed and truncated.  One right after the
   seeding's last burst of new keys; then REGROW more customers and
   SETTLE_S of quiet, and five more (the first meets the WAL that traffic
   grew), each with its parts from the journal's log.  The services' side
   is not in this figure:
3. the services' part (PRIVACY_SERVICE_CUSTOMERS, 20000): after the
   journal's acknowledgement, until each service has applied the erasure.

    make bench-privacy      (release build; N from PRIVACY_CUSTOMERS, 200000;
                             PRIVACY_PARTS: throughput,erasure,services;
                             PRIVACY_LOADS: new_customers,returning_customers)

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


ERASURES = 5
SETTLE_S = 2
REGROW = 50000


def erasure_parts(h, mark):
    """where one erasure's time went on the journal's side, from its log
    (event=customer_erased and event=keys_shredded, in microseconds): the
    rest of the round trip is the round's commits, the wire and Python"""
    out = {}
    for _ in range(100):
        text = h.log()[mark:]
        for line in text.splitlines():
            f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if f.get("event") == "customer_erased":
                for k in ("lookup_us", "log_us", "delete_us"):
                    if k in f:  # binaries from before these figures log none
                        out[k[:-3] + "_ms"] = round(int(f[k]) / 1000, 2)
            elif f.get("event") == "keys_shredded":
                out["shred_ms"] = round(int(f["us"]) / 1000, 2)
        if "shred_ms" in out:
            break
        time.sleep(0.02)
    return out


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
        # one erasure right after the seeding's last round (a burst of 5,000
        # new keys, thousands of pages its checkpoint thread is still
        # copying: the TRUNCATE waits for them), then, the WAL settled,
        # several more, spread over the customers, each timed alone
        def erase(at):
            mark = len(h.log())
            t1 = time.monotonic()
            cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
                {"type": "customer.erased", "key": "bench/erase/%d" % at,
                 "payload": {"customer_id": "c%d" % ((n // 2 + at * 7919) % n), "by": "api"}}]},
                timeout=60000)
            ms = (time.monotonic() - t1) * 1000
            assert cmd == "JOURNAL_APPEND_OK", r
            return ms, erasure_parts(h, mark)
        burst_ms, burst_parts = erase(0)
        # more traffic (new customers, rounds of 5,000), then quiet for
        # SETTLE_S: the WAL it grew is what the next erasure's TRUNCATE meets
        for i in range(n, n + REGROW, step):
            evs = [{"type": "customer", "key": "seed/%d" % c,
                    "payload": {"id": "c%d" % c, "email": "c%d@example.com" % c,
                                "name": "Customer %d" % c}}
                   for c in range(i, min(n + REGROW, i + step))]
            cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": evs},
                            timeout=120000)
            assert cmd == "JOURNAL_APPEND_OK", r
        time.sleep(SETTLE_S)
        times, parts = [], []
        for at in range(1, ERASURES + 1):
            ms, p = erase(at)
            times.append(ms)
            parts.append(p)
        return {"customers": n, "seed_s": round(seeded_s, 1),
                "seed_customers_per_s": round(n / seeded_s),
                "erase_ms_right_after_seeding": round(burst_ms, 1),
                "journal_parts_ms_right_after_seeding": burst_parts,
                "regrow_customers": REGROW, "settle_s": SETTLE_S,
                "erase_ms_settled_each": [round(t, 1) for t in times],
                "erase_ms_settled_median": round(sorted(times)[len(times) // 2], 1),
                "erase_ms_settled_max": round(max(times), 1),
                "journal_parts_ms_settled_each": parts}
    finally:
        h.stop(check=False)


SERVICES = ("journal", "mailer", "survey", "intake", "loop", "inbox")
SERVICE_CUSTOMERS = int(os.environ.get("PRIVACY_SERVICE_CUSTOMERS", "20000"))


def services_part(base):
    """the services' part of an erasure: each applies customer.erased (its
    rows blanked by an indexed customer id, secure_delete on) and
    TRUNCATE-checkpoints its own WAL, after the journal acknowledged it.
    The time from the acknowledgement until each service's cursor is past
    it, read from its file every millisecond (the TRUNCATE checkpoint just
    after that commit is not in it); SERVICE_CUSTOMERS customers, each with
    a purchase, one in ten with a complaint (mailed: hark-mailer's Maildir
    holds thousands of files it scans at each erasure)"""
    import sqlite3
    d = os.path.join(base, "services")
    os.makedirs(d)
    conf = {"privacy": {"erasure_log": os.path.join(d, "e.log")},
            "survey": {"delay": "1h"},
            "intake": {"reasons": os.path.join(HERE, "..", "..", "config", "reasons.conf")},
            "mailer": {"templates": os.path.join(HERE, "..", "..", "templates")}}
    h = Hark(d, services=SERVICES, conf=conf)
    h.start()
    try:
        step = 2000
        for i in range(0, SERVICE_CUSTOMERS, step):
            evs = []
            for c in range(i, min(SERVICE_CUSTOMERS, i + step)):
                evs.append({"type": "customer", "key": "seed/%d" % c, "payload": {
                    "id": "c%d" % c, "email": "c%d@example.com" % c, "name": "Customer %d" % c}})
                evs.append({"type": "purchase", "key": "buy/%d" % c, "payload": {
                    "customer_id": "c%d" % c, "order_id": "o%d" % c}})
                if c % 10 == 0:
                    evs.append({"type": "complaint", "key": "comp/%d" % c, "payload": {
                        "customer_id": "c%d" % c, "text": "my parcel %d was late" % c}})
            cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": evs},
                            timeout=120000)
            assert cmd == "JOURNAL_APPEND_OK", r

        def cursor(name):
            try:
                with sqlite3.connect("file:%s?mode=ro" % os.path.join(h.state, name + ".db"),
                                     uri=True, timeout=1) as db:
                    return db.execute("SELECT max(offset) FROM hark_cursor").fetchone()[0] or 0
            except sqlite3.Error:
                return 0
        consumers = [s for s in SERVICES if s != "journal"]
        head = r["offsets"][-1] if "offsets" in r else None
        t_end = time.monotonic() + 600
        while head and time.monotonic() < t_end and min(cursor(s) for s in consumers) < head:
            time.sleep(0.2)
        out = []
        for at in range(3):
            cid = "c%d" % (SERVICE_CUSTOMERS // 2 + at * 10)
            t1 = time.monotonic()
            cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
                {"type": "customer.erased", "key": "bench/svc-erase/%d" % at,
                 "payload": {"customer_id": cid, "by": "api"}}]}, timeout=60000)
            acked = time.monotonic()
            assert cmd == "JOURNAL_APPEND_OK", r
            off = r["offsets"][0]
            done = {}
            while len(done) < len(consumers) and time.monotonic() - acked < 30:
                for s in consumers:
                    if s not in done and cursor(s) >= off:
                        done[s] = round((time.monotonic() - acked) * 1000, 1)
                time.sleep(0.001)
            out.append({"journal_ms": round((acked - t1) * 1000, 1),
                        "services_after_ack_ms": done,
                        "all_done_ms": round((acked - t1) * 1000 + max(done.values()), 1)
                        if len(done) == len(consumers) else None})
        return {"customers": SERVICE_CUSTOMERS, "erasures": out}
    finally:
        h.stop(check=False)


def main():
    check_binaries("privacy_bench.py", ["harkd", "hark-journal"], "make bench-privacy")
    n = int(os.environ.get("PRIVACY_CUSTOMERS", "200000"))
    seconds = int(os.environ.get("PRIVACY_SECONDS", "5"))
    parts = os.environ.get("PRIVACY_PARTS", "throughput,erasure,services").split(",")
    out = {"loadavg_before": open("/proc/loadavg").read().split()[:3]}
    with tempfile.TemporaryDirectory() as base:
        exe = compile_bench(base)
        # each event a new customer (a new data key each: the worst case), then
        # 100 returning customers (as the gateway bench sends), off and on side by side
        loads = (("new_customers", 0), ("returning_customers", 100))
        only = os.environ.get("PRIVACY_LOADS")  # new_customers,returning_customers
        loads = [x for x in loads if not only or x[0] in only.split(",")]
        for label, customers in loads if "throughput" in parts else ():
            runs = [throughput(exe, base, "no", seconds, customers),
                    throughput(exe, base, "yes", seconds, customers)]
            off, on = (r["events_per_s"] for r in runs)
            c_off, c_on = (r["journal_cpu_us_per_event"] for r in runs)
            out[label] = {
                "runs": runs,
                "encrypt_cost_pct": round(100.0 * (off - on) / off, 1) if off else None,
                "encrypt_cpu_cost_pct": round(100.0 * (c_on - c_off) / c_off, 1)
                if c_off and c_on else None}
        if "erasure" in parts:
            out["erasure"] = erasure(base, n)
        if "services" in parts:
            out["services"] = services_part(base)
    out["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
