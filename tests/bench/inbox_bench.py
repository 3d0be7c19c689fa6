#!/usr/bin/env python3
"""Hark inbox benchmark: mail read per minute from the Maildir.

    make bench-inbox                # builds bin/ (release) and runs this
    HARK_BIN=bin HARK_ROOT=. /usr/bin/python3 tests/bench/inbox_bench.py [--messages N]

A fresh instance (journal + inbox) and --messages messages (default 20,000)
written into the Maildir's new/ as a delivery agent does (tmp/, then
rename): a mix of replies to cases by reply+TOKEN (40%; text/plain with an
attribution and a quote, one in five HTML-only, in en ru pl zh be), RFC 3464
bounces (25%), text bounces (10%), auto-replies (15%) and unmatched mail
(10%), each 1-6 KB.  The figure is messages / (hark-inbox's first read ->
new/ empty): each was parsed with GMime, recorded in inbox.db with its event
in one transaction (SQLite's default durability: a commit per message) and
renamed into cur/, and the outbox appended to the journal.  The check:
inbox.db holds one row per message with the outcome it was made for, and
the journal holds one event per reply and bounce.

Everything runs on loopback/ipc, the run stops by itself after
--max-seconds, and the temp dir is removed.  Writes
tests/bench/inbox_results.json and prints a table.
"""
import argparse
import hashlib
import hmac
import os
import random
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BIN, HERE, Deadline, arm_deadline, check_binaries, clean_up, fmt,  # noqa: E402
                      log, machine_info, write_results)
from harness import WIRE, Hark  # noqa: E402

KEY = "bench-token-key-0123456789abcdef"
QUOTES = {"en": "On Mon, 7 Dec 2026 at 10:00, Shop <hark@shop.example> wrote:",
          "ru": "7 дек. 2026 г., в 10:00, Shop <hark@shop.example> написал(а):",
          "pl": "W dniu 7.12.2026 o 10:00 Shop <hark@shop.example> napisał(a):",
          "zh": "Shop <hark@shop.example> 于2026年12月7日 写道：",
          "be": "7 сне 2026 г. у 10:00 Shop <hark@shop.example> напісаў(ла):"}
WORDS = {"en": "parcel late still waiting please help order tea",
         "ru": "посылка опять задерживается помогите пожалуйста заказ",
         "pl": "paczka nadal nie dotarła proszę pomóc zamówienie",
         "zh": "包裹 还 没 到 请 帮助 订单",
         "be": "пасылка дагэтуль не прыйшла дапамажыце заказ"}


def token(kind, ident, n):
    body = "%s.%s.%d" % (kind, ident, n)
    return body + "." + hmac.new(KEY.encode(), b"reply\0" + body.encode(),
                                 hashlib.sha256).digest()[:8].hex()


def filler(rng, lang, lines):
    w = WORDS[lang].split()
    return "\n".join(" ".join(rng.choice(w) for _ in range(rng.randint(6, 14)))
                     for _ in range(lines))


def message(rng, i):
    """(outcome it must get, RFC 5322 text)"""
    r = rng.random()
    lang = rng.choice(list(QUOTES))
    mid = "<hark.%s@shop.example>" % token("m", str(i), i)
    if r < 0.40:
        to = "reply+%s@reply.shop.example" % token("c", "C%d" % (i % 500 + 1), i)
        body = filler(rng, lang, rng.randint(2, 8))
        quote = "\n".join("> " + l for l in filler(rng, lang, rng.randint(10, 60)).split("\n"))
        if i % 5 == 0:
            return "reply", ("From: c%d@customers.test\nTo: %s\nSubject: Re: case\nMIME-Version: 1.0\n"
                             "Content-Type: text/html; charset=UTF-8\n\n<html><body><p>%s</p>"
                             "<blockquote>%s</blockquote></body></html>\n"
                             % (i, to, body.replace("\n", "<br>"), quote))
        return "reply", ("From: c%d@customers.test\nTo: %s\nSubject: Re: case\nMIME-Version: 1.0\n"
                         "Content-Type: text/plain; charset=UTF-8\n\n%s\n\n%s\n%s\n"
                         % (i, to, body, QUOTES[lang], quote))
    if r < 0.65:
        return "dsn", ("From: MAILER-DAEMON@mx.test\nTo: hark@shop.example\n"
                       "Subject: Undelivered Mail Returned to Sender\nAuto-Submitted: auto-replied\n"
                       "MIME-Version: 1.0\nContent-Type: multipart/report; "
                       "report-type=delivery-status; boundary=\"b%d\"\n\n--b%d\n"
                       "Content-Type: text/plain\n\n%s\n--b%d\n"
                       "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.test\n\n"
                       "Final-Recipient: rfc822; u%d@mx.test\nAction: failed\nStatus: 5.1.1\n"
                       "Diagnostic-Code: smtp; 550 5.1.1 no such user\n\n--b%d\n"
                       "Content-Type: text/rfc822-headers\n\nFrom: hark@shop.example\n"
                       "Message-ID: %s\nSubject: x\n\n--b%d--\n"
                       % (i, i, filler(rng, "en", 8), i, i, i, mid, i))
    if r < 0.75:
        return "dsn", ("From: MAILER-DAEMON@qmail.test\nTo: hark@shop.example\n"
                       "Subject: failure notice\n\nHi. This is the qmail-send program.\n\n"
                       "<u%d@qmail.test>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
                       "--- Below this line is a copy of the message.\n\nMessage-ID: %s\n\n%s\n"
                       % (i, mid, filler(rng, "en", 20)))
    if r < 0.90:
        return "auto", ("From: c%d@customers.test\nTo: reply+%s@reply.shop.example\n"
                        "Auto-Submitted: auto-replied\nSubject: Out of Office\n\n%s\n"
                        % (i, token("c", "C1", i), filler(rng, lang, 4)))
    return "unmatched", ("From: c%d@customers.test\nTo: hark@shop.example\nSubject: a question\n\n"
                         "%s\n" % (i, filler(rng, lang, rng.randint(3, 20))))


def bench(base, args, live):
    os.makedirs(os.path.join(base, "h"))
    h = Hark(os.path.join(base, "h"), services=("journal", "inbox"),
             conf={"hark": {"token_key": KEY}, "inbox": {"poll": "50ms"}})
    md = os.path.join(h.state, "inbox")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    rng = random.Random(args.seed)
    want, size = {}, 0
    log("writing %s messages into new/" % fmt(args.messages))
    for i in range(args.messages):
        outcome, text = message(rng, i)
        raw = text.replace("\n", "\r\n").encode()
        size += len(raw)
        name = "1700000000.M%06dP1.bench" % i
        want[name] = outcome
        with open(os.path.join(md, "tmp", name), "wb") as f:
            f.write(raw)
        os.rename(os.path.join(md, "tmp", name), os.path.join(md, "new", name))
    live.append(h)
    t0 = time.monotonic()
    h.start()
    new = os.path.join(md, "new")
    while os.listdir(new):
        if time.monotonic() - t0 > args.step_timeout:
            raise RuntimeError("new/ not empty after %d s" % args.step_timeout)
        time.sleep(0.05)
    wall = time.monotonic() - t0
    db = sqlite3.connect(os.path.join(h.state, "inbox.db"))
    got = dict(db.execute("SELECT file, outcome FROM messages"))
    db.close()
    wrong = [n for n in want if got.get(n) != want[n]]
    # the outbox is flushed each tick: wait for the journal to hold them all
    expect = sum(1 for o in want.values() if o in ("reply", "dsn"))
    deadline = time.monotonic() + 60
    while True:
        journaled = len(h.fetch_all(types=["case.customer_replied", "mail.dsn_received"]))
        if journaled >= expect or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    h.stop(check=False)
    live.remove(h)
    counts = {}
    for o in want.values():
        counts[o] = counts.get(o, 0) + 1
    return {"messages": args.messages, "bytes": size, "mix": counts, "seconds": round(wall, 2),
            "per_minute": round(args.messages / wall * 60),
            "journaled": journaled,
            "verified": not wrong and len(got) == len(want) and journaled == expect,
            "wrong": wrong[:5]}


def render(out):
    r = out.get("reading") or {}
    if not r:
        return "no result: %s" % out.get("errors")
    return ("hark-inbox: %s messages (%s MB; %s) read in %.1f s (from the service's start): "
            "%s a minute; verified: %s"
            % (fmt(r["messages"]), fmt(r["bytes"] / 1e6, 1),
               ", ".join("%s %s" % (k, fmt(v)) for k, v in sorted(r["mix"].items())),
               r["seconds"], fmt(r["per_minute"]), r["verified"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--step-timeout", type=int, default=600)
    ap.add_argument("--max-seconds", type=int, default=900)
    ap.add_argument("--out", default=os.path.join(HERE, "inbox_results.json"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    check_binaries("inbox_bench.py", ("harkd", "hark-journal", "hark-inbox"), "make bench-inbox")
    arm_deadline(args.max_seconds)
    base = tempfile.mkdtemp(prefix="hark-inbox-bench-")
    live, rc, t0 = [], 0, time.monotonic()
    out = {"machine": machine_info(base, "state_fs", {"wire": WIRE}), "bin": BIN,
           "settings": {"messages": args.messages, "seed": args.seed}, "errors": []}
    try:
        log("mail read per minute: %s messages in the Maildir" % fmt(args.messages))
        out["reading"] = bench(base, args, live)
    except (Deadline, KeyboardInterrupt, Exception) as e:  # noqa: BLE001 - report, then clean up
        out["errors"].append(str(e) or type(e).__name__)
        rc = 1
    finally:
        clean_up(base, args.keep, live)
    write_results(args.out, out, render, t0)
    if not out.get("reading", {}).get("verified"):
        log("inbox_bench.py: check FAILED")
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
