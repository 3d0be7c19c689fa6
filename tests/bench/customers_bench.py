#!/usr/bin/env python3
"""Finding a customer among 1,000,000: Hark Console's /customers?q= and
hark-survey's SURVEY_CUSTOMERS behind it.

    make bench-customers            # builds bin/ (release) and runs this
    HARK_BIN=bin HARK_ROOT=. /usr/bin/python3 tests/bench/customers_bench.py [--customers N]

Seeding is fast and direct: hark-survey is started once (its migrations make
survey.db), stopped, and --customers profiles are written into its customers
table in one transaction, as its apply of `customer` events writes them (id,
email, name, locale, time zone, and a last purchase time), names in five
scripts (Latin, Cyrillic, Polish, Chinese, Belarusian) from a few thousand
surnames and first names.  The triggers note every row in
customer_search_todo, and the bench moves them into the FTS5 index the way
survey_customers_index does, in one go (a running hark-survey does it 5,000
at a time on its timer).  Then journal, survey and console start and a
marketer signs in.

Over one keep-alive connection, --requests GETs of /customers?q= each for:

  id        an exact id                   c0123456
  prefix    the start of an id            c01234
  email     an exact address              name.123456@example.com
  name      a surname, 3+ characters      Петрова (thousands match; page 1)
  short     two Chinese characters        王芳 (the start of a name)
  part      a part of an address          456@exa

each with a different customer (random), and the same asked of hark-survey
directly (SURVEY_CUSTOMERS over ZeroMQ).  Each answer is checked: the
customer sought is on the page (id, email), or it is a full page of 20.
Target: every kind's console p99 < 100 ms.  Writes
tests/bench/customers_results.json; the run stops by itself after
--max-seconds and removes its temp dir.
"""
import argparse
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BIN, HERE, Deadline, arm_deadline, check_binaries, clean_up, fmt,  # noqa: E402
                      log, machine_info, write_results)
from console_bench import Session, percentiles  # noqa: E402
from harness import WIRE, Hark, free_port, shop_conf  # noqa: E402

import zmq  # noqa: E402

TARGET_P99_MS = 100
PASSWORD = "bench horse battery staple"
SYLL = {
    "en": ("ash", "bel", "cor", "dun", "ell", "fer", "gar", "hol", "ing", "kem", "lor", "mar",
           "nor", "pen", "rad", "sel", "tam", "wil"),
    "ru": ("ива", "пет", "смир", "кузн", "соко", "лебе", "коз", "нов", "мор", "вол", "зай",
           "пав", "сем", "гол", "вин", "бог", "фед", "мих"),
    "pl": ("now", "kow", "wiś", "wój", "kam", "lew", "zie", "szy", "woź", "dąb", "koz", "jan",
           "maz", "kwi", "kra", "pio", "grab", "paw"),
    "be": ("бах", "шу", "лу", "сак", "мак", "дуб", "жук", "кра", "ляв", "цім", "бар", "гар",
           "клі", "сві", "аст", "ваў", "гал", "шэв"),
}
FIRST = {"en": ("Anna", "Ben", "Clara", "David", "Emma", "Frank", "Grace", "Henry"),
         "ru": ("Ольга", "Иван", "Мария", "Сергей", "Анна", "Дмитрий", "Елена", "Павел"),
         "pl": ("Ola", "Piotr", "Kasia", "Tomasz", "Zofia", "Jan", "Ewa", "Marek"),
         "be": ("Алеся", "Янка", "Вольга", "Міхась", "Ганна", "Алесь", "Святлана", "Рыгор")}
ZH_FAMILY = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
ZH_GIVEN = "芳娜伟敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
LANGS = ("en", "ru", "pl", "zh", "be")
ZONES = ("Europe/London", "Europe/Moscow", "Europe/Warsaw", "Asia/Shanghai", "Europe/Minsk")


def person(rng, i):
    """customer i: (id, email, name, locale, time zone)"""
    lang = LANGS[i % len(LANGS)]
    if lang == "zh":
        name = rng.choice(ZH_FAMILY) + "".join(rng.choice(ZH_GIVEN) for _ in range(rng.randint(1, 2)))
        local = "zh.%d" % i
    else:
        s = SYLL[lang]
        surname = "".join(rng.choice(s) for _ in range(rng.randint(2, 3))).capitalize()
        surname += {"ru": "ова", "be": "ка", "pl": "ska", "en": "son"}[lang]
        name = "%s %s" % (rng.choice(FIRST[lang]), surname)
        local = "%s.%d" % (rng.choice(FIRST["en"]).lower(), i)
    return ("c%07d" % i, "%s@example.com" % local, name, lang, ZONES[LANGS.index(lang)])


def seed(db_path, n, rng):
    """n profiles into survey.db, indexed; the rows (for choosing queries)"""
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    now = int(time.time() * 1000)
    people = [person(rng, i) for i in range(n)]
    with db:
        db.executemany("INSERT INTO customers(id, email, name, locale, timezone, last_purchase_at)"
                       " VALUES(?, ?, ?, ?, ?, ?)",
                       ((p[0], p[1], p[2], p[3], p[4], now - rng.randint(0, 400) * 86400000)
                        for p in people))
    with db:  # survey_customers_index's statements, in one go
        db.execute("INSERT INTO customer_search(rowid, words) SELECT c.rowid,"
                   " c.id || ' ' || coalesce(c.email, '') || ' ' || coalesce(c.name, '')"
                   " FROM customer_search_todo t JOIN customers c ON c.rowid = t.rid")
        db.execute("DELETE FROM customer_search_todo")
    db.execute("INSERT INTO customer_search(customer_search) VALUES('optimize')")
    db.commit()
    db.close()
    return people


class Raw:
    """SURVEY_CUSTOMERS over one DEALER, as the console asks"""

    def __init__(self, h):
        self.s = h.zctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect(h.endpoint("survey.ctl"))
        self.rid = 0

    def call(self, body):
        self.rid += 1
        self.s.send_multipart([("%s SURVEY_CUSTOMERS %d" % (WIRE, self.rid)).encode(),
                               json.dumps(body).encode()])
        if not self.s.poll(60000):
            raise TimeoutError("SURVEY_CUSTOMERS: no reply")
        hdr, data = self.s.recv_multipart()
        if hdr.decode().split(" ")[1] != "SURVEY_CUSTOMERS_OK":
            raise RuntimeError("SURVEY_CUSTOMERS: %s" % data[:200])
        return json.loads(data)

    def close(self):
        self.s.close()


def queries(people, rng, kind, n):
    """n (q, expected id or None: a full page) of a kind"""
    out = []
    while len(out) < n:
        p = people[rng.randrange(len(people))]
        if kind == "id":
            out.append((p[0], p[0]))
        elif kind == "prefix":
            out.append((p[0][:6], None))
        elif kind == "email":
            out.append((p[1], p[0]))
        elif kind == "name" and p[3] in ("ru", "be", "pl", "en"):
            out.append((p[2].split(" ")[1][:7], None))
        elif kind == "short" and p[3] == "zh":
            out.append((p[2][:2], None))
        elif kind == "part":
            out.append((p[1].split("@")[0][-3:] + "@exa", None))
    return out


def bench(base, args, live):
    n = args.customers
    rng = random.Random(11)
    os.makedirs(os.path.join(base, "h"))
    port = free_port()
    conf = shop_conf()
    conf["console"] = {"listen": "127.0.0.1:%d" % port, "public_url": "http://127.0.0.1:%d" % port,
                       "login_rate": "1000"}
    h = Hark(os.path.join(base, "h"), ("journal", "survey", "console"), conf)
    h.start()
    live.append(h)
    h.stop()  # survey.db made by hark-survey's own migrations
    live.remove(h)
    t = time.monotonic()
    people = seed(os.path.join(h.state, "survey.db"), n, rng)
    seed_s = time.monotonic() - t
    log("   %s customers written and indexed in %.1f s" % (fmt(n), seed_s))
    h.start()
    live.append(h)
    r = subprocess.run([os.path.join(BIN, "hark"), "-c", h.config, "user", "add", "bench",
                        "--role", "marketer"], input=PASSWORD + "\n", capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("hark user add: %s %s" % (r.stdout, r.stderr))
    s = Session(port)
    s.login("bench")

    def get(q, want):
        st, _, data = s.request("GET", "/customers?q=" + urllib.parse.quote(q))
        if st != 200:
            raise RuntimeError("GET /customers?q=%s: %d" % (q, st))
        ids = re.findall(r'<a href="/customers/([^"]+)">', data)
        if want is not None and want not in ids:
            raise RuntimeError("q=%s: %s not found (%s)" % (q, want, ids[:3]))
        if want is None and not ids:
            raise RuntimeError("q=%s: nothing found" % q)
        return len(ids)

    load_before = os.getloadavg()
    results, survey, sizes = {}, {}, {}
    raw = Raw(h)
    for kind in ("id", "prefix", "email", "name", "short", "part"):
        qs = queries(people, rng, kind, args.requests)
        get(*qs[0])  # warm
        # each query through the console and of hark-survey directly, the
        # first of the two in turn: whichever goes first reads the index
        # pages from disk, so timing all of one and then all of the other
        # (as this bench first did) charged the console for every cold page
        times, counts, direct = [], [], []
        for i, (q, want) in enumerate(qs):
            for how in ((0, 1) if i % 2 else (1, 0)):
                t = time.perf_counter()
                if how:
                    counts.append(get(q, want))
                else:
                    raw.call({"q": q, "limit": 20})
                (times if how else direct).append((time.perf_counter() - t) * 1000)
        results[kind] = percentiles(times)
        results[kind]["example"] = qs[0][0]
        sizes[kind] = round(sum(counts) / len(counts), 1)
        survey[kind] = percentiles(direct)
        log("   %-7s console p50 %7.2f ms p99 %7.2f ms | survey p50 %7.2f p99 %7.2f  (%s; %.1f rows)"
            % (kind, results[kind]["p50_ms"], results[kind]["p99_ms"], survey[kind]["p50_ms"],
               survey[kind]["p99_ms"], qs[0][0], sizes[kind]))
    raw.close()
    load_after = os.getloadavg()
    return {"customers": n, "seed_s": round(seed_s, 1), "requests": args.requests,
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after],
            "console": results, "survey": survey, "rows_per_page": sizes,
            "target_p99_ms": TARGET_P99_MS,
            "met": {k: v["p99_ms"] < TARGET_P99_MS for k, v in results.items()}}


def render(out):
    b = out.get("bench")
    lines = ["", "Finding a customer among %s" % fmt(out["settings"]["customers"])]
    if b:
        lines.append("  %-7s %-26s %9s %9s %11s %11s %6s" % ("kind", "e.g. q", "p50 ms", "p99 ms",
                                                          "survey p50", "survey p99", "rows"))
        for k, c in b["console"].items():
            sv = b["survey"][k]
            lines.append("  %-7s %-26s %9.2f %9.2f %11.2f %11.2f %6.1f" % (
                k, c["example"][:26], c["p50_ms"], c["p99_ms"], sv["p50_ms"], sv["p99_ms"],
                b["rows_per_page"][k]))
        lines.append("  seeded and indexed in %.0f s; load average before %s, after %s" % (
            b["seed_s"], b["loadavg_before"], b["loadavg_after"]))
        lines.append("  target: p99 < %d ms: %s" % (TARGET_P99_MS, ", ".join(
            "%s %s" % (k, "met" if v else "MISSED") for k, v in b["met"].items())))
    for e in out["errors"]:
        lines.append("  error: " + e)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=300, help="searches of each kind")
    ap.add_argument("--max-seconds", type=int, default=1800)
    ap.add_argument("--out", default=os.path.join(HERE, "customers_results.json"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    check_binaries("customers_bench.py", ("harkd", "hark", "hark-journal", "hark-survey",
                                          "hark-console"), "make bench-customers")
    arm_deadline(args.max_seconds)
    base = tempfile.mkdtemp(prefix="hark-customers-bench-")
    live = []
    t0 = time.monotonic()
    out = {"machine": machine_info(base, "state_fs", {"wire": WIRE}), "bin": BIN,
           "settings": {"customers": args.customers, "requests": args.requests}, "errors": []}
    rc = 0
    try:
        log("finding a customer among %s" % fmt(args.customers))
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
        log("customers_bench.py: a target was MISSED")
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
