#!/usr/bin/env python3
"""Hark survey benchmark: invites scheduled per second from a burst
of purchases, and the time of the NPS report over a million responses.

    make bench-survey               # builds bin/ (release) and runs this
    HARK_BIN=bin HARK_ROOT=. /usr/bin/python3 tests/bench/survey_bench.py [--quick]

1. scheduling: a fresh instance (journal + survey, [survey] delay = 30d so
   nothing falls due and the figure is scheduling only) takes a burst of
   --purchases `purchase` events appended straight to the journal over
   ZeroMQ (JOURNAL_APPEND, 1,000 a request, pipelined); the figure is
   purchases / (first append -> hark-survey's cursor at the journal's head),
   with the CPU of hark-survey and hark-journal over that span.
2. report: a fresh instance (journal + survey, no mailer: delay 0s, window
   0-24, throttle 0, expiry 365d) gets --responses purchases, sends every
   invite (mail.requested into the journal, nobody delivers them), then one
   survey.answered per invite, appended over ZeroMQ with the test clock
   (HARK_CLOCK_FILE) stepped 2 days at a time so the answers spread over
   ~52 weeks as real ones would (the aggregates are per UTC day).  Every
   response goes through hark-survey's own code.  Then SURVEY_REPORT round
   trips on its control socket, for several filters: p50/p99/max ms against
   the 50 ms goal.

Everything runs on loopback/ipc, every step has a timeout, the run stops by
itself after --max-seconds, and the temp dir is removed.  Writes
tests/bench/survey_results.json and prints a table.
"""
import argparse
import datetime
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BIN, HERE, CpuMeter, Deadline, arm_deadline, check_binaries, fmt, log,  # noqa: E402
                      clean_up, machine_info, machine_line, stop_hark, wait_until, write_results)
from harness import WIRE, Hark  # noqa: E402

import zmq  # noqa: E402

GOAL_REPORT_MS = 50.0
LOCALES = [("en-US", "America/New_York"), ("en-GB", "Europe/London"), ("pl-PL", "Europe/Warsaw"),
           ("de-DE", "Europe/Berlin"), ("ja-JP", "Asia/Tokyo"), ("pt-BR", "America/Sao_Paulo"),
           ("en-AU", "Australia/Sydney"), ("en-US", "America/Los_Angeles")]
DAY_S = 86_400


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def purchase(i, tag):
    loc, tz = LOCALES[i % len(LOCALES)]
    return {"type": "purchase", "key": "bench:%s:p%d" % (tag, i), "payload": {
        "customer": {"id": "c%s%d" % (tag, i), "email": "customer%d.%s@example.com" % (i, tag),
                     "name": "Customer %d" % i, "locale": loc, "timezone": tz},
        "order_id": "o%s%d" % (tag, i), "amount": 49.9, "currency": "EUR",
        "items": [{"sku": "sku-%d" % (i % 97), "name": "Item", "quantity": 1, "price": 49.9}]}}


class Appender:
    """JOURNAL_APPEND over one DEALER, up to `window` requests in flight"""

    def __init__(self, h, window=8, timeout_ms=30000):
        self.s = h.zctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect(h.endpoint("journal.sock"))
        self.window, self.timeout_ms = window, timeout_ms
        self.rid = 0
        self.inflight = {}
        self.offsets = {}

    def _recv(self):
        if not self.s.poll(self.timeout_ms):
            raise TimeoutError("JOURNAL_APPEND: no reply in %d ms" % self.timeout_ms)
        hdr, body = self.s.recv_multipart()
        _, cmd, rid = hdr.decode().split(" ")
        r = json.loads(body)
        if cmd != "JOURNAL_APPEND_OK":
            raise RuntimeError("JOURNAL_APPEND: %s %s" % (cmd, r))
        self.offsets[self.inflight.pop(int(rid))] = r["offsets"]

    def send(self, tag, events):
        while len(self.inflight) >= self.window:
            self._recv()
        self.rid += 1
        self.inflight[self.rid] = tag
        self.s.send_multipart([("%s JOURNAL_APPEND %d" % (WIRE, self.rid)).encode(),
                               json.dumps({"events": events}).encode()])

    def drain(self):
        while self.inflight:
            self._recv()

    def close(self):
        self.s.close()


class Control:
    """one DEALER to a control socket, one request at a time"""

    def __init__(self, h, name):
        self.s = h.zctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect(h.endpoint(name))
        self.rid = 0

    def call(self, cmd, body, timeout_ms=10000):
        self.rid += 1
        self.s.send_multipart([("%s %s %d" % (WIRE, cmd, self.rid)).encode(), json.dumps(body).encode()])
        while True:
            if not self.s.poll(timeout_ms):
                raise TimeoutError(cmd)
            hdr, b = self.s.recv_multipart()
            parts = hdr.decode().split(" ")
            if int(parts[2]) == self.rid:
                return parts[1], json.loads(b)

    def close(self):
        self.s.close()


def journal_head(h):
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_FETCH", {"after": 0, "limit": 1}, timeout=10000)
    if cmd != "JOURNAL_FETCH_OK":
        raise RuntimeError("JOURNAL_FETCH: %s %s" % (cmd, r))
    return r["head"]


def survey_status(ctl):
    cmd, r = ctl.call("SERVICE_STATUS", {}, 30000)
    if cmd != "SERVICE_STATUS_OK":
        raise RuntimeError("SERVICE_STATUS: %s %s" % (cmd, r))
    return r


def report(ctl, body, timeout_ms=30000):
    cmd, r = ctl.call("SURVEY_REPORT", body, timeout_ms)
    if cmd != "SURVEY_REPORT_OK":
        raise RuntimeError("SURVEY_REPORT %s: %s %s" % (body, cmd, r))
    return r


def finish(h, live, what, *sockets):
    """close the sockets, stop instance h (no longer live); harkd's exit code"""
    for sock in sockets:
        sock.close()
    live.remove(h)
    return stop_hark(h, what)


def start(base, name, conf, env=None):
    d = os.path.join(base, name)
    os.makedirs(d)
    h = Hark(d, services=("journal", "survey"), conf=conf)
    h.env.update(env or {})
    h.start()
    return h


# --- 1. scheduling -------------------------------------------------------------------
def bench_schedule(base, args, live):
    n = args.purchases
    h = start(base, "schedule", {"survey": {"delay": "30d"}})
    live.append(h)
    res = {"purchases": n, "delay": "30d", "throttle": "90d (default)", "window_hours": "9-20 (default)",
           "locales_timezones": ["%s %s" % lt for lt in LOCALES]}
    ctl = Control(h, "survey.ctl")
    ap = Appender(h)
    try:
        log("  encoding %s purchases" % fmt(n))
        batches = [json.dumps({"events": [purchase(i, "s") for i in range(a, min(n, a + 1000))]})
                   for a in range(0, n, 1000)]
        head0 = journal_head(h)
        cpu = CpuMeter({"survey": h.pid("survey"), "journal": h.pid("journal")}).start()
        t0 = time.monotonic()
        for k, b in enumerate(batches):
            # pre-encoded: the client's JSON work stays out of the window
            while len(ap.inflight) >= ap.window:
                ap._recv()
            ap.rid += 1
            ap.inflight[ap.rid] = k
            ap.s.send_multipart([("%s JOURNAL_APPEND %d" % (WIRE, ap.rid)).encode(), b.encode()])
        ap.drain()
        t_appended = time.monotonic()
        head = journal_head(h)
        res["appended_s"] = round(t_appended - t0, 3)
        res["journal_events_per_s"] = round(n / (t_appended - t0))
        last = [0]

        def caught_up():
            last[0] = survey_status(ctl).get("cursor", 0)
            return last[0] >= head
        wait_until(caught_up, args.step_timeout, "hark-survey's cursor to reach %d" % head, 0.02)
        t1 = time.monotonic()
        res["cpu"] = cpu.stop()
        st = survey_status(ctl)
        res["invites"] = st.get("detail", {})
        res["head"] = head - head0
        res["seconds"] = round(t1 - t0, 3)
        res["invites_per_s"] = round(n / (t1 - t0))
        res["survey_cpu_us_per_purchase"] = round(res["cpu"]["survey_cpu_pct"] / 100 * (t1 - t0) / n * 1e6, 1)
        res["journal_cpu_us_per_purchase"] = round(res["cpu"]["journal_cpu_pct"] / 100 * (t1 - t0) / n * 1e6, 1)
        res["verified"] = sum(res["invites"].values()) == n and res["invites"].get("scheduled") == n
        log("  %s invites scheduled in %.2f s: %s/s (journal took them in %.2f s)" % (
            fmt(n), t1 - t0, fmt(res["invites_per_s"]), res["appended_s"]))
    finally:
        res["harkd_exit"] = finish(h, live, "schedule instance", ap, ctl)
    return res


# --- 2. the NPS report ---------------------------------------------------------------
def score_for(i):
    # about 55 % promoters, 25 % passives, 20 % detractors
    r = (i * 7919) % 100
    return 9 + (r % 2) if r < 55 else 7 + (r % 2) if r < 80 else r % 7


def bench_report(base, args, live):
    n = args.responses
    clock = os.path.join(base, "clock")
    with open(clock, "w") as f:
        f.write("0\n")
    h = start(base, "report", {"survey": {"delay": "0s", "window_hours": "0-24", "throttle": "0",
                                          "expiry": "365d", "reminder": "0"}},
              {"HARK_CLOCK_FILE": clock})
    live.append(h)
    res = {"responses": n, "days_spread": args.days, "phases": {}}
    ctl = Control(h, "survey.ctl")
    ap = Appender(h)
    try:
        # a) purchases -> invites scheduled and (delay 0) sent
        cpu = CpuMeter({"survey": h.pid("survey"), "journal": h.pid("journal")}).start()
        t0 = time.monotonic()
        for a in range(0, n, 1000):
            ap.send(a, [purchase(i, "r") for i in range(a, min(n, a + 1000))])
        ap.drain()
        invite_ids = []
        for a in sorted(ap.offsets):
            invite_ids.extend("p%d" % o for o in ap.offsets[a])
        ap.offsets.clear()
        t_app = time.monotonic()

        def sent():
            return report(ctl, {"by": "campaign"})["totals"]["sent"] >= n
        wait_until(sent, args.step_timeout, "%d invites sent" % n, 0.5)
        t1 = time.monotonic()
        c = cpu.stop()
        res["phases"]["purchases_to_sent"] = {"seconds": round(t1 - t0, 1), "append_s": round(t_app - t0, 1),
                                              "per_s": round(n / (t1 - t0)),
                                              "survey_cpu_pct": c["survey_cpu_pct"],
                                              "journal_cpu_pct": c["journal_cpu_pct"]}
        log("  %s purchases scheduled and sent in %.1f s (%s/s)" % (fmt(n), t1 - t0, fmt(n / (t1 - t0))))
        # b) answers, spread over args.days days of the test clock
        cpu = CpuMeter({"survey": h.pid("survey"), "journal": h.pid("journal")}).start()
        t0 = time.monotonic()
        steps = max(1, args.days // 2)
        per = -(-n // steps)
        expect = {"promoters": 0, "passives": 0, "detractors": 0, "comments": 0}
        i = 0
        for step in range(steps):
            with open(clock + ".tmp", "w") as f:
                f.write("%d\n" % (step * 2 * DAY_S))  # seconds (clock.c)
            os.replace(clock + ".tmp", clock)
            time.sleep(0.15)  # clock.c caches the offset for 100 ms
            end = min(n, i + per)
            while i < end:
                evs = []
                for j in range(i, min(end, i + 1000)):
                    sc = score_for(j)
                    p = {"invite": invite_ids[j], "score": sc}
                    expect["promoters" if sc >= 9 else "passives" if sc >= 7 else "detractors"] += 1
                    if j % 20 == 0:
                        p["comment"] = "Bench comment %d: delivery was %s." % (j, "fine" if sc > 6 else "late")
                        expect["comments"] += 1
                    evs.append({"type": "survey.answered", "key": "bench:answer:%d" % j, "payload": p})
                ap.send(j, evs)
                i = min(end, i + 1000)
            ap.drain()  # every answer of this step recorded before the clock moves
        t_app = time.monotonic()
        head = journal_head(h)

        def answered():
            return survey_status(ctl).get("cursor", 0) >= head
        wait_until(answered, args.step_timeout, "hark-survey to apply %d answers" % n, 0.5)
        t1 = time.monotonic()
        c = cpu.stop()
        res["phases"]["answers_applied"] = {"seconds": round(t1 - t0, 1), "append_s": round(t_app - t0, 1),
                                            "clock_steps": steps, "per_s": round(n / (t1 - t0)),
                                            "survey_cpu_pct": c["survey_cpu_pct"],
                                            "journal_cpu_pct": c["journal_cpu_pct"]}
        log("  %s answers appended and applied in %.1f s (%s/s)" % (fmt(n), t1 - t0, fmt(n / (t1 - t0))))
        # check: the report agrees with what was sent
        tot = report(ctl, {})["totals"]
        res["totals"] = tot
        want_nps = round(100.0 * (expect["promoters"] - expect["detractors"]) / n, 1)
        res["expected"] = dict(expect, responses=n, nps=want_nps)
        res["verified"] = (tot["responses"] == n and tot["sent"] == n and tot["comments"] == expect["comments"]
                           and all(tot[k] == expect[k] for k in ("promoters", "passives", "detractors"))
                           and abs((tot["nps"] or 0) - want_nps) < 0.05)
        db = os.path.join(h.state, "survey.db")
        res["survey_db_mb"] = round(sum(os.path.getsize(db + s) for s in ("", "-wal")
                                        if os.path.exists(db + s)) / 1e6, 1)
        res["journal_db_mb"] = round(sum(os.path.getsize(os.path.join(h.state, "journal.db" + s))
                                         for s in ("", "-wal")
                                         if os.path.exists(os.path.join(h.state, "journal.db" + s))) / 1e6, 1)
        # c) the report, round trips over the control socket
        first = (datetime.datetime.now(datetime.timezone.utc)).date()
        mid_from = (first + datetime.timedelta(days=90)).isoformat()
        mid_to = (first + datetime.timedelta(days=180)).isoformat()
        filters = [("all time, by day (default)", {}),
                   ("all time, totals by campaign", {"by": "campaign"}),
                   ("campaign post-purchase, by day", {"campaign": "post-purchase"}),
                   ("by week", {"by": "week"}),
                   ("by month", {"by": "month"}),
                   ("by locale", {"by": "locale"}),
                   ("campaign + from/to (90 days), by week",
                    {"campaign": "post-purchase", "from": mid_from, "to": mid_to, "by": "week"})]
        res["report"] = []
        for what, body in filters:
            r = report(ctl, body)  # warm-up, and the row count
            ms = []
            for _ in range(args.report_calls):
                t = time.perf_counter()
                report(ctl, body, 5000)
                ms.append(1000 * (time.perf_counter() - t))
            ms.sort()
            row = {"what": what, "request": body, "calls": len(ms), "series_rows": len(r["series"]),
                   "responses": r["totals"]["responses"], "p50_ms": round(ms[len(ms) // 2], 3),
                   "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 3), "max_ms": round(ms[-1], 3)}
            row["verdict"] = "PASS" if row["max_ms"] < GOAL_REPORT_MS else "MISS"
            res["report"].append(row)
            log("  SURVEY_REPORT %-40s p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms  %s" % (
                what, row["p50_ms"], row["p99_ms"], row["max_ms"], row["verdict"]))
        # the command line, process start included (what a person waits for)
        ms = []
        for _ in range(5):
            t = time.perf_counter()
            h.hark("report", "nps", "--by", "week", timeout=30)
            ms.append(1000 * (time.perf_counter() - t))
        res["cli_report_by_week_ms"] = {"median": round(sorted(ms)[2], 1), "max": round(max(ms), 1)}
        res["stats_days"] = len(report(ctl, {"by": "day"})["series"])  # rows in stats: days x locales
    finally:
        res["harkd_exit"] = finish(h, live, "report instance", ap, ctl)
    return res


def render(out):
    m = out["machine"]
    lines = []
    p = lines.append
    p("")
    p(machine_line("Hark survey benchmark", m, "state dir on %s" % m["state_fs"]["type"]))
    s = out.get("schedule")
    if s:
        c = s.get("cpu", {})
        p("")
        p("1. Invites scheduled from a burst of purchases (JOURNAL_APPEND 1,000/request, delay 30d: scheduling only)")
        p("   purchases  seconds   invites/s  journal took  survey CPU  journal CPU  survey us/inv  journal us/inv"
          "  others  check")
        p("   %9s %8s %11s %11ss %10s%% %11s%% %14s %15s %6s%%  %s" % (
            fmt(s["purchases"]), fmt(s.get("seconds"), 2), fmt(s.get("invites_per_s")), fmt(s.get("appended_s"), 2),
            fmt(c.get("survey_cpu_pct"), 0), fmt(c.get("journal_cpu_pct"), 0),
            fmt(s.get("survey_cpu_us_per_purchase"), 1), fmt(s.get("journal_cpu_us_per_purchase"), 1),
            fmt(c.get("others_cpu_pct"), 0), "ok" if s.get("verified") else "FAILED"))
    r = out.get("report")
    if r:
        p("")
        p("2. NPS report over %s responses (all through hark-survey: purchase -> invite sent -> survey.answered," % fmt(
            r["responses"]))
        p("   answers spread over %d days by the test clock: %s days x %d locales of aggregates; survey.db %s MB)" % (
            r["days_spread"], fmt(r.get("stats_days")), len({lt[0] for lt in LOCALES}), fmt(r.get("survey_db_mb"), 1)))
        for k, ph in r.get("phases", {}).items():
            p("   setup %-18s %8s s  %8s/s  survey CPU %s%%  journal CPU %s%%" % (
                k, fmt(ph["seconds"], 1), fmt(ph["per_s"]), fmt(ph["survey_cpu_pct"], 0), fmt(ph["journal_cpu_pct"], 0)))
        t = r.get("totals")
        if t:
            p("   totals: responses %s  promoters %s  passives %s  detractors %s  NPS %s  (%s)" % (
                fmt(t["responses"]), fmt(t["promoters"]), fmt(t["passives"]), fmt(t["detractors"]), t["nps"],
                "matches what was sent" if r.get("verified") else "DOES NOT MATCH what was sent"))
        p("   SURVEY_REPORT over the control socket          rows   calls   p50 ms   p99 ms   max ms  goal < %d ms"
          % GOAL_REPORT_MS)
        for row in r.get("report", []):
            p("   %-44s %5d %7d %8.2f %8.2f %8.2f  %s" % (row["what"], row["series_rows"], row["calls"],
                                                        row["p50_ms"], row["p99_ms"], row["max_ms"], row["verdict"]))
        if r.get("cli_report_by_week_ms"):
            p("   `hark report nps --by week` (process start included): median %s ms, max %s ms" % (
                r["cli_report_by_week_ms"]["median"], r["cli_report_by_week_ms"]["max"]))
        p("   GET /v1/reports/nps: not measured here (this instance runs no gateway; it asks the same SURVEY_REPORT)")
    for e in out.get("errors", []):
        p("   error: %s" % e)
    p("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--purchases", type=int, default=100_000, help="the burst of part 1")
    ap.add_argument("--responses", type=int, default=1_000_000, help="responses behind the report (part 2)")
    ap.add_argument("--days", type=int, default=364, help="days the answers are spread over (test clock)")
    ap.add_argument("--report-calls", type=int, default=200, help="SURVEY_REPORT calls per filter")
    ap.add_argument("--only", default="schedule,report", help="subset of schedule,report")
    ap.add_argument("--quick", action="store_true", help="20,000 purchases and 50,000 responses")
    ap.add_argument("--step-timeout", type=int, default=900, help="longest wait for one step (s)")
    ap.add_argument("--max-seconds", type=int, default=1800, help="stop the whole run after this")
    ap.add_argument("--out", default=os.path.join(HERE, "survey_results.json"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    if args.quick:
        args.purchases, args.responses = 20_000, 50_000
    only = set(args.only.split(","))
    check_binaries("survey_bench.py", ("harkd", "hark", "hark-journal", "hark-survey"), "make bench-survey")
    arm_deadline(args.max_seconds)
    base = tempfile.mkdtemp(prefix="hark-survey-bench-")
    live = []
    t0 = time.monotonic()
    out = {"machine": machine_info(base, "state_fs", {"wire": WIRE}), "bin": BIN,
           "settings": {"purchases": args.purchases, "responses": args.responses, "days": args.days,
                        "report_calls": args.report_calls}, "errors": []}
    rc = 0
    try:
        parts = (("schedule", "1. scheduling: a burst of %s purchases" % fmt(args.purchases), bench_schedule),
                 ("report", "2. the NPS report over %s responses" % fmt(args.responses), bench_report))
        for part, title, run in parts:
            if part not in only:
                continue
            log(title)
            try:
                out[part] = run(base, args, live)
            except Exception as e:  # noqa: BLE001 - a failed part must not hide the other
                out["errors"].append("%s: %s" % (part, e))
                rc = 1
    except (Deadline, KeyboardInterrupt) as e:
        out["errors"].append("stopped early: %s" % (e or "interrupted"))
        rc = 1
    finally:
        clean_up(base, args.keep, live)
    out["goals"] = [{"what": "NPS report (SURVEY_REPORT) max over %s" % r["what"], "value_ms": r["max_ms"],
                     "goal_ms": GOAL_REPORT_MS, "verdict": r["verdict"]}
                    for r in out.get("report", {}).get("report", [])]
    write_results(args.out, out, render, t0)
    for k in ("schedule", "report"):
        if k in out and not out[k].get("verified"):
            log("survey_bench.py: %s: check FAILED" % k)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
