#!/usr/bin/env python3
"""Hark intake benchmark: cases tagged per second for a
mixed-language burst of complaints against a 200-keyword taxonomy.

    make bench-intake               # builds bin/ (release) and runs this
    HARK_BIN=bin HARK_ROOT=. /usr/bin/python3 tests/bench/intake_bench.py [--texts N]

A fresh instance (journal + intake) gets a generated taxonomy: 40 reasons,
each with one keyword in each of en, pl, ru, be and zh (200 keywords; Latin,
Cyrillic and Han scripts, some keywords phrases of two words), in 4 teams.
Then --texts complaints (default 100,000), each 60-200 characters of filler
words in one of the five languages with 0-2 keywords of random reasons in
random case, are appended straight to the journal over ZeroMQ
(JOURNAL_APPEND, 1,000 a request, pipelined).  The figure is texts / (first
append -> hark-intake's SERVICE_STATUS counts every case): every text is
normalized, tagged, opened as a case in intake.db and its feedback.tagged,
complaint_ack and complaint_alert are emitted, as in production.  The check:
intake.db holds one case per text, and the texts with no keyword (known
from the generator) are exactly the cases filed under `other`.

Everything runs on loopback/ipc, the run stops by itself after
--max-seconds, and the temp dir is removed.  Writes
tests/bench/intake_results.json and prints a table.
"""
import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BIN, HERE, Deadline, arm_deadline, check_binaries, fmt, log,  # noqa: E402
                      clean_up, machine_info, stop_hark, write_results)
from harness import WIRE, Hark  # noqa: E402

import zmq  # noqa: E402

LATIN_EN = "abcdefghiklmnoprstuvwy"
LATIN_PL = "abcdeghijklmnoprstuwyząćęłńóśźż"
CYR_RU = "абвгдежзиклмнопрстуфхцчшыэюя"
CYR_BE = "абвгдежзійклмнопрстуўфхцчшыьэюя"
# keywords and filler take Han characters from separate halves: in a text
# without spaces a random run of filler would otherwise spell a keyword
HAN_KW = "的一是不了人我在有他这中大来上国个到说们"
HAN = "为子和你地出道也时年得就那要下以生会自之着去"


def word(rng, alphabet, lo=3, hi=9):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


LANGS = {"en": LATIN_EN, "pl": LATIN_PL, "ru": CYR_RU, "be": CYR_BE, "zh": HAN}


def taxonomy(rng, n_reasons=40):
    """(reasons.conf text, {lang: [(keyword, code)]})"""
    lines, kws = [], {lang: [] for lang in LANGS}
    for t in range(4):
        lines += ["[team.t%d]" % t, "email = team%d@example.com" % t, "days = mon-fri",
                  "hours = 9-17", "timezone = Europe/Warsaw", ""]
    seen = set()
    for i in range(n_reasons):
        code = "reason_%02d" % i
        lines += ["[reason.%s]" % code, "label.en = Reason %d" % i, "team = t%d" % (i % 4),
                  "first_response = 8h"]
        for lang, alpha in LANGS.items():
            while True:
                if lang == "zh":
                    kw = word(rng, HAN_KW, 2, 3)
                elif i % 5 == 0:  # a phrase
                    kw = word(rng, alpha, 4, 7) + " " + word(rng, alpha, 3, 6)
                else:
                    kw = word(rng, alpha, 5, 9)
                if kw not in seen:
                    break
            seen.add(kw)
            kws[lang].append((kw, code))
            lines.append("keywords.%s = %s" % (lang, kw))
        lines.append("")
    lines += ["[reason.other]", "label.en = Other", "team = t0", ""]
    return "\n".join(lines), kws


def text(rng, lang, kws):
    """(a complaint text, whether it holds a keyword)"""
    alpha = LANGS[lang]
    n_kw = rng.choice((0, 1, 1, 2))
    parts = []
    target = rng.randint(60, 200)
    picks = [rng.choice(kws[lang])[0] for _ in range(n_kw)]
    while sum(len(p) + 1 for p in parts) < target:
        parts.append(word(rng, alpha, 1, 3) if lang == "zh" else word(rng, alpha, 2, 8))
        if picks and rng.random() < 0.15:
            kw = picks.pop()
            parts.append(kw.upper() if rng.random() < 0.3 else kw.capitalize() if rng.random() < 0.3 else kw)
    for kw in picks:
        parts.append(kw)
    sep = "" if lang == "zh" else " "
    return sep.join(parts) + ("。" if lang == "zh" else "."), n_kw > 0


class Appender:
    """JOURNAL_APPEND over one DEALER, up to `window` requests in flight"""

    def __init__(self, h, window=8, timeout_ms=60000):
        self.s = h.zctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect(h.endpoint("journal.sock"))
        self.window, self.timeout_ms, self.rid, self.inflight = window, timeout_ms, 0, 0

    def _recv(self):
        if not self.s.poll(self.timeout_ms):
            raise TimeoutError("JOURNAL_APPEND: no reply")
        hdr, body = self.s.recv_multipart()
        if hdr.decode().split(" ")[1] != "JOURNAL_APPEND_OK":
            raise RuntimeError("JOURNAL_APPEND: %s" % body[:200])
        self.inflight -= 1

    def send(self, events):
        while self.inflight >= self.window:
            self._recv()
        self.rid += 1
        self.inflight += 1
        self.s.send_multipart([("%s JOURNAL_APPEND %d" % (WIRE, self.rid)).encode(),
                               json.dumps({"events": events}).encode()])

    def drain(self):
        while self.inflight:
            self._recv()
        self.s.close()


def status(h):
    cmd, r = h.call(h.endpoint("intake.ctl"), "SERVICE_STATUS", {}, timeout=30000)
    if cmd != "SERVICE_STATUS_OK":
        raise RuntimeError("SERVICE_STATUS: %s" % r)
    return r


def bench(base, args, live):
    rng = random.Random(args.seed)
    conf_text, kws = taxonomy(rng)
    d = os.path.join(base, "intake")
    os.makedirs(d)
    reasons = os.path.join(d, "reasons.conf")
    with open(reasons, "w") as f:
        f.write(conf_text)
    n_keywords = sum(len(v) for v in kws.values())
    log("   taxonomy: 40 reasons, %d keywords in %d languages" % (n_keywords, len(kws)))
    texts, no_kw = [], 0
    langs = list(LANGS)
    for i in range(args.texts):
        t, has = text(rng, langs[i % len(langs)], kws)
        texts.append(t)
        no_kw += not has
    # the keywords alone (no examples fit a generated taxonomy): this bench
    # measures the case pipeline; tagger_bench.py measures the tagger
    h = Hark(d, ("journal", "intake"), {"intake": {"reasons": reasons, "examples": ""}})
    live.append(h)
    h.start()
    app = Appender(h)
    t0 = time.monotonic()
    for at in range(0, len(texts), 1000):
        app.send([{"type": "complaint", "key": "bench:c%d" % i,
                   "payload": {"customer_id": "cust%d" % (i % 5000), "text": texts[i]}}
                  for i in range(at, min(at + 1000, len(texts)))])
    app.drain()
    appended = time.monotonic() - t0
    deadline = time.monotonic() + args.step_timeout
    while True:
        if status(h).get("detail", {}).get("cases", 0) >= args.texts:
            break
        if time.monotonic() > deadline:
            raise TimeoutError("intake did not catch up")
        time.sleep(0.05)
    seconds = time.monotonic() - t0
    db = sqlite3.connect(os.path.join(h.state, "intake.db"))
    cases = db.execute("SELECT count(*) FROM cases").fetchone()[0]
    other = db.execute("SELECT count(*) FROM cases WHERE codes = 'other'").fetchone()[0]
    multi = db.execute("SELECT count(*) FROM cases WHERE codes LIKE '% %'").fetchone()[0]
    db.close()
    stop_hark(h, "intake bench")
    live.remove(h)
    return {"texts": args.texts, "keywords": n_keywords, "seconds": round(seconds, 2),
            "appended_s": round(appended, 2), "cases_per_s": round(args.texts / seconds),
            "cases": cases, "other": other, "expected_other": no_kw, "several_codes": multi,
            "verified": cases == args.texts and other == no_kw}


def render(out):
    m = out["machine"]
    r = out.get("tagging", {})
    lines = ["", "Hark intake benchmark  %s  %s CPUs (%s)  kernel %s" % (
        m["date"], m["nproc"], m.get("cpu_model"), m["kernel"]), ""]
    if r:
        lines.append("Cases tagged from a mixed-language burst (en pl ru be zh), %s keywords:" % r["keywords"])
        lines.append("   texts    seconds   cases/s  journal took  other (expected)  several codes  check")
        lines.append("   %7s %9s %9s %12ss %8s (%s) %14s  %s" % (
            fmt(r["texts"]), fmt(r["seconds"], 2), fmt(r["cases_per_s"]), fmt(r["appended_s"], 2),
            fmt(r["other"]), fmt(r["expected_other"]), fmt(r["several_codes"]),
            "ok" if r["verified"] else "FAILED"))
    for e in out.get("errors", []):
        lines.append("error: " + e)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--step-timeout", type=int, default=900)
    ap.add_argument("--max-seconds", type=int, default=1200)
    ap.add_argument("--out", default=os.path.join(HERE, "intake_results.json"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    check_binaries("intake_bench.py", ("harkd", "hark", "hark-journal", "hark-intake"),
                   "make bench-intake")
    arm_deadline(args.max_seconds)
    base = tempfile.mkdtemp(prefix="hark-intake-bench-")
    live, rc, t0 = [], 0, time.monotonic()
    out = {"machine": machine_info(base, "state_fs", {"wire": WIRE}), "bin": BIN,
           "settings": {"texts": args.texts, "seed": args.seed}, "errors": []}
    try:
        log("cases tagged per second: a burst of %s texts" % fmt(args.texts))
        out["tagging"] = bench(base, args, live)
    except (Deadline, KeyboardInterrupt, Exception) as e:  # noqa: BLE001 - report, then clean up
        out["errors"].append(str(e) or type(e).__name__)
        rc = 1
    finally:
        clean_up(base, args.keep, live)
    write_results(args.out, out, render, t0)
    if not out.get("tagging", {}).get("verified"):
        log("intake_bench.py: check FAILED")
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
