#!/usr/bin/env python3
"""Hark Console benchmark: the inbox and a case page over 100,000 cases.

    make bench-console              # builds bin/ (release) and runs this
    HARK_BIN=bin HARK_ROOT=. /usr/bin/python3 tests/bench/console_bench.py [--cases N]

A fresh instance (journal, gateway, mailer, intake, console) with a taxonomy
of 4 teams and 8 reasons (keywords in en, ru, pl, zh, be) gets --cases
customers (a name and a language, no address: the mailer records each
acknowledgement as having no address instead of mailing it) and one
complaint each, posted through the gateway 100 events a request.  Their
reasons' first-response targets are 1 hour to 30 days; once hark-intake has
applied them the services' clock (HARK_CLOCK_FILE) moves two days on, so
about two thirds are breached (and alerted by hark-intake's breach timer,
which writes a note on each) and the rest are not.  One case gets 200
internal notes (case.noted, journaled); when every service is at the
journal's head a support account is made with `hark user add` (password on
stdin) and signs in over HTTP.

Then, over one keep-alive connection, --requests GETs each of:

  inbox         /cases                         the first page (open cases)
  filtered      /cases?team=..&lang=ru         team and language
  search        /cases?q=посылка               text (Cyrillic, 3+ characters)
  deep          /cases?page=N                  the page at offset 50,000
  case          /cases/ID                      the case with 200 notes

and their p50/p99.  The same filters are also asked of hark-intake
directly (INTAKE_CASES over ZeroMQ), so the console's own share can be told
from intake's.  Each answer is checked (200, the rows the page must show).
Targets: inbox and filtered p99 < 100 ms, case page p99 < 50 ms.  Writes
tests/bench/console_results.json and prints a table; the run stops by
itself after --max-seconds and removes its temp dir.
"""
import argparse
import http.client
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BIN, HERE, Deadline, arm_deadline, check_binaries, clean_up, fmt,  # noqa: E402
                      log, machine_info, wait_until, write_results)
from harness import WIRE, Hark, free_port, shop_conf  # noqa: E402

import zmq  # noqa: E402

TARGET_INBOX_P99_MS = 100
TARGET_CASE_P99_MS = 50
PASSWORD = "bench horse battery staple"
LANGS = ("en", "ru", "pl", "zh", "be")
# reason -> (team, target, {lang: keyword}); "other" takes what matches none
REASONS = [
    ("late", "logistics", "1h", {"en": "late", "ru": "опоздала", "pl": "spóźniona",
                                 "zh": "迟到", "be": "спазнілася"}),
    ("damaged", "logistics", "8h", {"en": "damaged", "ru": "мятой", "pl": "uszkodzona",
                                    "zh": "破损", "be": "пашкоджаная"}),
    ("price", "billing", "3d", {"en": "expensive", "ru": "дорого", "pl": "drogo",
                                "zh": "太贵", "be": "дорага"}),
    ("refund", "billing", "1h", {"en": "refund", "ru": "возврат", "pl": "zwrot",
                                 "zh": "退款", "be": "вяртанне"}),
    ("app", "support", "30d", {"en": "crashes", "ru": "вылетает", "pl": "zawiesza",
                               "zh": "闪退", "be": "вылятае"}),
    ("login", "support", "8h", {"en": "password", "ru": "пароль", "pl": "hasło",
                                "zh": "密码", "be": "пароль"}),
    ("rude", "quality", "3d", {"en": "rude", "ru": "грубый", "pl": "niegrzeczny",
                               "zh": "粗鲁", "be": "грубы"}),
]
FILLER = {"en": "my parcel order again today the box please help week".split(),
          "ru": "моя посылка заказ снова сегодня коробка помогите неделя".split(),
          "pl": "moja paczka zamówienie znowu dzisiaj pudełko pomocy tydzień".split(),
          "zh": list("我的包裹订单今天又盒子请帮忙一周"),
          "be": "мая пасылка заказ зноў сёння каробка дапамажыце тыдзень".split()}


def reasons_conf():
    lines = []
    for team in ("logistics", "billing", "support", "quality"):
        lines += ["[team.%s]" % team, "days = all", "hours = 0-24", "timezone = UTC", ""]
    for code, team, target, kw in REASONS:
        lines += ["[reason.%s]" % code, "label.en = %s" % code.title(), "team = %s" % team,
                  "first_response = %s" % target]
        lines += ["keywords.%s = %s" % (lang, w) for lang, w in kw.items()]
        lines.append("")
    lines += ["[reason.other]", "label.en = Other", "team = quality", "first_response = 8h", ""]
    return "\n".join(lines)


def complaint_text(rng, lang):
    words = [rng.choice(FILLER[lang]) for _ in range(rng.randint(4, 12))]
    if rng.random() < 0.85:
        words.insert(rng.randint(0, len(words)), rng.choice(REASONS)[3][lang])
    return ("" if lang == "zh" else " ").join(words)


def post_all(h, events, per_request, threads):
    """events through POST /v1/events, per_request a request, threads at once"""
    chunks = [events[i:i + per_request] for i in range(0, len(events), per_request)]
    errors = []

    def worker(k):
        conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=60)
        hdr = {"Content-Type": "application/json", "Authorization": "Bearer " + h.ingest_key}
        for c in chunks[k::threads]:
            conn.request("POST", "/v1/events", body=json.dumps(c).encode(), headers=hdr)
            r = conn.getresponse()
            body = r.read()
            if r.status != 202:
                errors.append("%d %s" % (r.status, body[:200]))
                return
        conn.close()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError("posting events: " + errors[0])


def call(h, name, cmd, body, timeout_ms=60000):
    c, r = h.call(h.endpoint(name), cmd, body, timeout=timeout_ms)
    if not c.endswith("_OK"):
        raise RuntimeError("%s: %s %s" % (cmd, c, r))
    return r


def applied(h, service):
    head = call(h, "journal.ctl", "SERVICE_STATUS", {}).get("head", 0)
    return head > 0 and call(h, service + ".ctl", "SERVICE_STATUS", {}).get("cursor") == head


class Raw:
    """INTAKE_CASES over one DEALER, as the console asks (the harness's
    call() also checks every message against proto/, which would be timed)"""

    def __init__(self, h):
        self.s = h.zctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect(h.endpoint("intake.ctl"))
        self.rid = 0

    def call(self, body):
        self.rid += 1
        self.s.send_multipart([("%s INTAKE_CASES %d" % (WIRE, self.rid)).encode(),
                               json.dumps(body).encode()])
        if not self.s.poll(60000):
            raise TimeoutError("INTAKE_CASES: no reply")
        hdr, data = self.s.recv_multipart()
        if hdr.decode().split(" ")[1] != "INTAKE_CASES_OK":
            raise RuntimeError("INTAKE_CASES: %s" % data[:200])
        return json.loads(data)

    def close(self):
        self.s.close()


class Session:
    """one signed-in browser on one keep-alive connection"""

    def __init__(self, port):
        self.port, self.cookies, self.conn = port, {}, None

    def request(self, method, path, body=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = {"Cookie": "; ".join("%s=%s" % kv for kv in self.cookies.items())}
        if body is not None:
            h["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read().decode("utf-8", "replace")
        for c in r.msg.get_all("Set-Cookie") or []:
            name, _, rest = c.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return r.status, r, data

    def login(self, name):
        st, _, page = self.request("GET", "/login")
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
        fields.update(username=name, password=PASSWORD)
        st, r, _ = self.request("POST", "/login", urllib.parse.urlencode(fields))
        if st != 303:
            raise RuntimeError("sign-in: %d" % st)


def percentiles(ms):
    ms = sorted(ms)
    return {"n": len(ms), "p50_ms": round(ms[len(ms) // 2], 2),
            "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
            "max_ms": round(ms[-1], 2)}


def measure(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return percentiles(times)


def bench(base, args, live):
    n = args.cases
    rng = random.Random(7)
    os.makedirs(os.path.join(base, "h"))
    reasons = os.path.join(base, "reasons.conf")
    with open(reasons, "w") as f:
        f.write(reasons_conf())
    port = free_port()
    conf = shop_conf()
    # the keywords alone tag (no examples): every generated complaint is a
    # case, none is taken for praise; the tagger has its own bench
    conf["intake"] = {"reasons": reasons, "examples": ""}
    conf["console"] = {"listen": "127.0.0.1:%d" % port, "public_url": "http://127.0.0.1:%d" % port,
                       "login_rate": "1000"}
    h = Hark(os.path.join(base, "h"), ("journal", "gateway", "mailer", "intake", "console"), conf)
    clock = os.path.join(base, "clock")
    with open(clock, "w") as f:
        f.write("0")
    h.env["HARK_CLOCK_FILE"] = clock
    h.start()
    live.append(h)

    # --- load -----------------------------------------------------------------
    t = time.monotonic()
    customers, complaints = [], []
    for i in range(n):
        cid = "c%07d" % i
        lang = LANGS[i % len(LANGS)]
        customers.append({"type": "customer", "id": "bench-c-%d" % i,
                          "data": {"id": cid, "name": "Customer %d" % i, "locale": lang}})
        complaints.append({"type": "complaint", "id": "bench-k-%d" % i,
                           "data": {"customer_id": cid, "text": complaint_text(rng, lang)}})
    post_all(h, customers, 100, args.threads)
    post_all(h, complaints, 100, args.threads)
    posted_s = time.monotonic() - t
    log("   %s customers and complaints posted in %.1f s" % (fmt(n), posted_s))
    wait_until(lambda: applied(h, "intake"), args.step_timeout, "hark-intake to apply them", 0.2)
    intake_s = time.monotonic() - t
    log("   hark-intake applied them %.1f s after the first post" % intake_s)
    status = call(h, "intake.ctl", "SERVICE_STATUS", {}).get("detail", {})
    if status.get("cases") != n:
        raise RuntimeError("intake holds %s cases, not %d" % (status.get("cases"), n))

    # one case with 200 notes (journaled as the console and `hark cases note` do)
    first = call(h, "intake.ctl", "INTAKE_CASES", {"limit": 1})["cases"][0]["id"]
    notes = [{"type": "case.noted", "key": "bench/note/%d" % i, "payload": {
        "case": first, "by": "user:bench", "text": "Note %d: called the courier, no answer yet." % i}}
        for i in range(200)]
    call(h, "journal.sock", "JOURNAL_APPEND", {"events": notes})
    wait_until(lambda: len(call(h, "intake.ctl", "INTAKE_CASES", {"id": first})["cases"][0]
                           .get("notes", [])) >= 200, args.step_timeout, "200 notes", 0.2)
    # two days on: the cases with a target of 1 or 8 hours are breached, those
    # of 3 or 30 days not; hark-intake's breach timer alerts (and notes) each
    with open(clock, "w") as f:
        f.write(str(2 * 86400))
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(h.state, "intake.db"), uri=True)

    def alerted():
        return db.execute("SELECT count(*) FROM cases WHERE first_reply_at IS NULL AND"
                          " breach_alerted = 0 AND status <> 'resolved' AND due_at <= ?",
                          (int((time.time() + 2 * 86400) * 1000) - 60000,)).fetchone()[0] == 0
    wait_until(alerted, args.step_timeout, "hark-intake to alert the breached cases", 0.5)
    db.close()
    wait_until(lambda: applied(h, "intake") and applied(h, "mailer"), args.step_timeout,
               "hark-intake and hark-mailer at the head", 0.5)
    settle_s = time.monotonic() - t
    log("   breaches alerted, every service at the journal's head %.1f s after the first post"
        % settle_s)

    r = subprocess.run([os.path.join(BIN, "hark"), "-c", h.config, "user", "add", "bench",
                        "--role", "support"], input=PASSWORD + "\n", capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("hark user add: %s %s" % (r.stdout, r.stderr))
    s = Session(port)
    s.login("bench")

    # --- what each page must show ---------------------------------------------
    size = 50
    whole = call(h, "intake.ctl", "INTAKE_CASES", {"order": "due", "status": "open", "limit": 1})
    filt = call(h, "intake.ctl", "INTAKE_CASES", {"order": "due", "status": "open", "limit": 1,
                                                    "team": "billing", "lang": "ru"})
    query = "посылка"
    found = call(h, "intake.ctl", "INTAKE_CASES", {"order": "due", "status": "open", "limit": 1,
                                                     "q": query})
    deep_page = min(50000, whole["total"] // 2) // size + 1  # offset 50,000 (of 100,000)
    breached = call(h, "intake.ctl", "INTAKE_CASES",
                    {"order": "due", "status": "open", "breached": True, "limit": 1})["total"]
    pages = {
        "inbox": ("/cases", min(size, whole["total"])),
        "filtered": ("/cases?team=billing&lang=ru", min(size, filt["total"])),
        "search": ("/cases?q=" + urllib.parse.quote(query), min(size, found["total"])),
        "deep": ("/cases?page=%d" % deep_page, min(size, whole["total"] - (deep_page - 1) * size)),
        "case": ("/cases/" + first, None),
    }

    def get(path, rows):
        st, _, data = s.request("GET", path)
        if st != 200:
            raise RuntimeError("GET %s: %d" % (path, st))
        if rows is not None:
            got = len(re.findall(r'<th scope="row"><a href="/cases/C\d+">', data))
            if got != rows:
                raise RuntimeError("GET %s: %d rows, not %d" % (path, got, rows))
        elif data.count("called the courier") < 200:
            raise RuntimeError("GET %s: the 200 notes are not all on the page" % path)

    load_before = os.getloadavg()
    results = {}
    for name, (path, rows) in pages.items():
        get(path, rows)  # warm: the statement cache, the page cache
        results[name] = measure(lambda: get(path, rows), args.requests)
        results[name]["path"] = path
        log("   %-9s p50 %7.2f ms  p99 %7.2f ms  %s" % (
            name, results[name]["p50_ms"], results[name]["p99_ms"], path))

    # the same asked of hark-intake directly: its share of each page
    asks = {"inbox": {"order": "due", "status": "open", "limit": size},
            "filtered": {"order": "due", "status": "open", "limit": size, "team": "billing",
                         "lang": "ru"},
            "search": {"order": "due", "status": "open", "limit": size, "q": query},
            "deep": {"order": "due", "status": "open", "limit": size,
                     "offset": (deep_page - 1) * size},
            "case": {"id": first}}
    intake, raw = {}, Raw(h)
    for name, req in asks.items():
        intake[name] = measure(lambda: raw.call(req), args.requests)
        log("   intake %-9s p50 %7.2f ms  p99 %7.2f ms" % (name, intake[name]["p50_ms"],
                                                          intake[name]["p99_ms"]))
    raw.close()
    load_after = os.getloadavg()
    return {"loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after],
            "cases": n, "posted_s": round(posted_s, 1), "intake_applied_s": round(intake_s, 1),
            "setup_s": round(settle_s, 1), "open_cases": whole["total"], "breached": breached,
            "filtered_cases": filt["total"], "search_matches": found["total"],
            "deep_page": deep_page, "page_size": size, "requests": args.requests,
            "console": results, "intake": intake,
            "targets": {"inbox_p99_ms": TARGET_INBOX_P99_MS, "case_p99_ms": TARGET_CASE_P99_MS},
            "met": {"inbox": results["inbox"]["p99_ms"] < TARGET_INBOX_P99_MS,
                    "filtered": results["filtered"]["p99_ms"] < TARGET_INBOX_P99_MS,
                    "case": results["case"]["p99_ms"] < TARGET_CASE_P99_MS}}


def render(out):
    b = out.get("bench")
    lines = ["", "Hark Console over %s cases" % fmt(out["settings"]["cases"])]
    if b:
        lines.append("  %-10s %-34s %10s %10s %12s %12s" % ("page", "path", "p50 ms", "p99 ms",
                                                         "intake p50", "intake p99"))
        for name in ("inbox", "filtered", "search", "deep", "case"):
            c, i = b["console"][name], b["intake"][name]
            lines.append("  %-10s %-34s %10.2f %10.2f %12.2f %12.2f" % (
                name, c["path"][:34], c["p50_ms"], c["p99_ms"], i["p50_ms"], i["p99_ms"]))
        lines.append("  open cases %s (breached %s), filtered %s, search matches %s; load %.0f s"
                     % (fmt(b["open_cases"]), fmt(b["breached"]), fmt(b["filtered_cases"]),
                        fmt(b["search_matches"]), b["setup_s"]))
        lines.append("  load average (1, 5, 15 min) before the timing %s, after %s" % (
            b["loadavg_before"], b["loadavg_after"]))
        lines.append("  targets: inbox p99 < %d ms %s, filtered %s, case p99 < %d ms %s" % (
            TARGET_INBOX_P99_MS, "met" if b["met"]["inbox"] else "MISSED",
            "met" if b["met"]["filtered"] else "MISSED", TARGET_CASE_P99_MS,
            "met" if b["met"]["case"] else "MISSED"))
    for e in out["errors"]:
        lines.append("  error: " + e)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=300, help="GETs of each page")
    ap.add_argument("--threads", type=int, default=4, help="clients posting the events")
    ap.add_argument("--step-timeout", type=int, default=900)
    ap.add_argument("--max-seconds", type=int, default=1800)
    ap.add_argument("--out", default=os.path.join(HERE, "console_results.json"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    check_binaries("console_bench.py", ("harkd", "hark", "hark-journal", "hark-gateway",
                                        "hark-mailer", "hark-intake", "hark-console"),
                   "make bench-console")
    arm_deadline(args.max_seconds)
    base = tempfile.mkdtemp(prefix="hark-console-bench-")
    live = []
    t0 = time.monotonic()
    out = {"machine": machine_info(base, "state_fs", {"wire": WIRE}), "bin": BIN,
           "settings": {"cases": args.cases, "requests": args.requests}, "errors": []}
    rc = 0
    try:
        log("the console over %s cases" % fmt(args.cases))
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
    if "bench" in out and not all(out["bench"]["met"].values()):
        log("console_bench.py: a target was MISSED")
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
