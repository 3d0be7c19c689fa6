#!/usr/bin/python3
"""soak.py - a bounded chaos run against one real Hark instance.

Drives events, survey answers, form posts and mail through a running
instance (every service, a real SMTP server) while SIGKILLing each service
in turn and harkd itself, with slow clients and connection floods from
several 127.x addresses; then lets the system settle and counts:

  events      acknowledged (202) vs stored, each key exactly once
  forms       acknowledged (200) vs stored complaints, each exactly once
  answers     acknowledged (200) vs stored survey.answered (at least once)
  chain       each purchase's NPS invite and each complaint's
              acknowledgement requested (the services downstream lost none)
  mails       requested vs delivered (Message-ID received by the SMTP
              server) vs duplicated (received twice), skipped accounted for

It fails (exit 1) on any loss, on more duplicated mails than kills, on a
service harkd did not restart, or on a sanitizer report.  Slow clients and
floods only record what happened.  Black-box only: HTTP, ZeroMQ (the
journal's JOURNAL_FETCH), SMTP, signals and `hark status`.

  HARK_BIN=build/san/bin HARK_ROOT=. /usr/bin/python3 tests/soak/soak.py \\
      [--seconds 300] [--settle 120] [--out tests/soak/results.json]

Everything is bounded: a global deadline (--max-seconds) past which a
watchdog stops every process and exits 2, timeouts on every socket and
subprocess, and every process started is stopped at the end, whatever
happens.  See tests/soak/README.md.
"""
import argparse
import collections
import email
import email.policy
import glob
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

from harness import ROOT, SANITIZER_MARKS, Hark, shop_conf  # noqa: E402
from smtp import SmtpServer  # noqa: E402

SERVICES = ("journal", "gateway", "mailer", "survey", "milestone", "intake", "loop")
# the order services are killed in; harkd last, restarted as an operator would
KILL_ORDER = ("journal", "gateway", "mailer", "survey", "intake", "loop", "milestone", "harkd")
OUTCOMES = ("mail.delivered", "mail.skipped", "mail.bounced", "mail.failed")
LEGIT_SKIPS = ("suppressed", "no_address")
COMPLAINTS = ("the parcel came late again", "wrong size, I want to return it",
              "I was charged twice for one order", "the tea tasted stale",
              "the courier never rang the bell")
RETRYABLE = (429, 500, 502, 503, 504)


def now():
    return time.monotonic()


class Log:
    """what every driver records, behind one lock"""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.notes = []

    def count(self, name, n=1):
        with self.lock:
            self.counts[name] += n

    def note(self, text):
        with self.lock:
            if len(self.notes) < 200:
                self.notes.append("%.1fs %s" % (now() - T0, text))
        print("soak: " + text, flush=True)


T0 = now()
LOG = Log()


def http_call(port, method, path, body=None, headers=None, timeout=10, src=None):
    """(status, headers, body) of one request on a fresh connection;
    raises OSError/HTTPException on a connection error or timeout"""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(src, 0) if src else None)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def retry_call(port, stop_at, method, path, body=None, headers=None, what="request"):
    """the same request until it gets an answer that is not 'try again' or
    stop_at() passes: (status, body), status None when given up"""
    delay = 0.05
    while now() < stop_at():
        try:
            st, _, data = http_call(port, method, path, body, headers)
        except (OSError, http.client.HTTPException):
            LOG.count(what + ".retry.connection")
            st, data = None, None
        if st is not None and st not in RETRYABLE:
            return st, data
        if st is not None:
            LOG.count("%s.retry.%d" % (what, st))
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    return None, None


# --- the drivers ---------------------------------------------------------------

class Drivers:
    def __init__(self, h, args, smtp):
        self.h, self.args, self.smtp = h, args, smtp
        self.stop = threading.Event()      # chaos over: start no new work
        self.drain_at = None               # past it, stop retrying what is in flight
        self.lock = threading.Lock()
        self.acked = {}                    # idem key -> (offsets, [(type, customer id)])
        self.abandoned = 0                 # batches never acknowledged
        self.rejected = []                 # unexpected 4xx answers (bugs)
        self.forms = {}                    # marker text -> customer id (200)
        self.answers = {}                  # marker comment -> invite token (200)
        self.invites = collections.deque()  # survey links read from mail
        self.mail_ids = collections.Counter()  # Message-ID -> times received
        self.mail_seen = set()
        self.form_tokens = []
        self.flood = {"rounds": 0, "opened": 0, "refused": 0, "answered": 0,
                      "closed_early": 0, "open_at_end": 0, "probe_ok": 0, "probe_other_status": 0,
                      "probe_no_answer": 0, "probe_errors": collections.Counter(),
                      "rounds_gateway_killed": 0,
                      "probe_ms": []}
        self.slow = {"opened": 0, "refused": 0, "closed_by_server": 0,
                     "closed_gateway_up": 0, "answered": 0, "open_at_end": 0, "lifetimes": []}
        self.kill_log = []                 # the killer's (when, name)
        self.flooding = threading.Event()  # a flood is on: the gateway is left alone

    def gateway_down(self, t0, t1):
        """was the gateway (or harkd, which takes it along) killed between
        t0 and t1 (and a moment before, while it came back)"""
        return any(t0 - 3 <= t <= t1 and n in ("gateway", "harkd") for t, n in self.kill_log)

    def stop_at(self):
        return self.drain_at if self.drain_at else now() + 3600

    # (a) POST /v1/events: purchases of new customers (each an NPS invite),
    # complaints (an acknowledgement and a team alert), customer updates
    def events(self, t):
        rnd = random.Random(1000 + t)
        h, per = self.h, self.args.batch
        b = 0
        pause = self.args.threads / max(self.args.rate, 0.1)
        while not self.stop.is_set():
            b += 1
            idem = "soak-t%d-b%d" % (t, b)
            evs, kinds = [], []
            for i in range(per):
                cid = "%s-%d" % (idem, i)
                cust = {"id": cid, "email": "%s@example.com" % cid, "name": "Soak %d" % i}
                if i % 5 == 4:
                    evs.append({"type": "complaint", "data": {
                        "customer": cust, "text": rnd.choice(COMPLAINTS)}})
                    kinds.append(("complaint", cid))
                elif i % 5 == 3 and b > 1:
                    old = "soak-t%d-b%d-0" % (t, b - 1)
                    evs.append({"type": "customer", "data": {"id": old, "name": "Soak %d" % b}})
                    kinds.append(("customer", old))
                else:
                    evs.append({"type": "purchase", "data": {
                        "customer": cust, "order_id": "o-" + cid, "amount": 12.5}})
                    kinds.append(("purchase", cid))
            body = json.dumps(evs).encode()
            hdr = {"Content-Type": "application/json", "Idempotency-Key": idem,
                   "Authorization": "Bearer " + h.ingest_key}
            st, data = retry_call(h.port, self.stop_at, "POST", "/v1/events", body, hdr,
                                  "events")
            if st == 202:
                offsets = json.loads(data)["offsets"]
                with self.lock:
                    self.acked[idem] = (offsets, kinds)
            elif st is None:
                with self.lock:
                    self.abandoned += 1
            else:
                self.reject("events", st, data)
            time.sleep(pause * rnd.uniform(0.5, 1.5))

    def reject(self, what, st, data):
        with self.lock:
            self.rejected.append("%s %s %s" % (what, st, (data or b"")[:200]))
        LOG.note("unexpected answer to %s: %s %s" % (what, st, (data or b"")[:200]))

    # the SMTP server's messages: Message-IDs counted, survey links queued
    def mail_watch(self):
        while not self.stop.wait(0.3):
            self.mail_scan()

    def mail_scan(self):
        for p in sorted(glob.glob(os.path.join(self.smtp.dir, "msg-*.eml"))):
            if p in self.mail_seen:
                continue
            with open(p, "rb") as f:
                m = email.message_from_bytes(f.read(), policy=email.policy.default)
            with self.lock:
                self.mail_seen.add(p)
                self.mail_ids[str(m["Message-ID"]).strip()] += 1
            if str(m["X-Hark-Category"]) == "survey":
                part = m.get_body(preferencelist=("html",))
                html = part.get_content() if part else ""
                links = re.findall(r'href="http://127\.0\.0\.1:%d/s/([A-Za-z0-9_.-]+)\?score=' %
                                   self.h.port, html)
                if links:
                    self.invites.append(links[0])

    # (b) survey answers: the invite's page (GET shows, records nothing),
    # then the form with a score and a comment, as a browser sends it
    def answers_loop(self):
        rnd = random.Random(7)
        h, n = self.h, 0
        origin = "http://127.0.0.1:%d" % h.port
        while not self.stop.is_set():
            try:
                token = self.invites.popleft()
            except IndexError:
                time.sleep(0.2)
                continue
            n += 1
            score = rnd.randint(0, 10)
            st, page = retry_call(h.port, self.stop_at, "GET", "/s/%s?score=%d" % (token, score),
                                  what="answers.page")
            if st != 200:
                if st is not None:
                    self.reject("survey page", st, page)
                continue
            m = re.search(rb'name="csrf" value="([^"]+)"', page)
            comment = "soak answer %d: %s" % (n, rnd.choice(COMPLAINTS))
            form = urllib.parse.urlencode({"score": str(score), "csrf": m.group(1).decode(),
                                           "comment": comment}).encode()
            st, data = retry_call(h.port, self.stop_at, "POST", "/s/" + token, form, {
                "Content-Type": "application/x-www-form-urlencoded", "Origin": origin},
                "answers")
            if st == 200:
                with self.lock:
                    self.answers[comment] = token
            elif st is not None:
                self.reject("survey answer", st, data)
            time.sleep(rnd.uniform(0.05, 0.3))

    # (c) the complaint form of a known customer (/feedback?customer=TOKEN):
    # a retry sends the same form (csrf and fields), which is stored once
    def forms_loop(self):
        rnd = random.Random(11)
        h, n = self.h, 0
        origin = "http://127.0.0.1:%d" % h.port
        while not self.stop.is_set() and self.form_tokens:
            cid, token = rnd.choice(self.form_tokens)
            path = "/feedback?customer=" + token
            st, page = retry_call(h.port, self.stop_at, "GET", path, what="forms.page")
            if st != 200:
                if st is not None:
                    self.reject("feedback form", st, page)
                continue
            n += 1
            m = re.search(rb'name="csrf" value="([^"]+)"', page)
            text = "soak form %d: %s" % (n, rnd.choice(COMPLAINTS))
            form = urllib.parse.urlencode({"csrf": m.group(1).decode(), "reason": "",
                                           "text": text}).encode()
            st, data = retry_call(h.port, self.stop_at, "POST", path, form, {
                "Content-Type": "application/x-www-form-urlencoded", "Origin": origin},
                "forms")
            if st == 200:
                with self.lock:
                    self.forms[text] = cid
            elif st is not None:
                self.reject("feedback post", st, data)
            time.sleep(rnd.uniform(0.2, 0.6))

    # (d) slow clients: a request head trickled one header line every few
    # seconds, from 127.0.2.x; a connection the server closes is replaced
    def slow_loop(self):
        rnd = random.Random(13)
        conns = []  # [sock, opened_at, next_line_at, lines]
        addrs = ["127.0.2.%d" % (i + 1) for i in range(self.args.addresses)]

        def open_one(addr):
            s = socket.socket()
            s.settimeout(2)
            try:
                s.bind((addr, 0))
                s.connect(("127.0.0.1", self.h.port))
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: soak\r\n")
            except OSError:
                s.close()
                self.slow["refused"] += 1
                return False
            self.slow["opened"] += 1
            conns.append([s, now(), now() + rnd.uniform(1, 3), 0, addr])
            return True

        try:
            while not self.stop.is_set():
                # refused (the gateway is down, or at its limit): try again
                # on the next round, not in a tight loop
                while len(conns) < self.args.slow * len(addrs) and not self.stop.is_set():
                    if not open_one(addrs[len(conns) % len(addrs)]):
                        self.stop.wait(1)
                        break
                for c in list(conns):
                    s = c[0]
                    r, _, _ = select.select([s], [], [], 0)
                    gone = False
                    if r:
                        try:
                            data = s.recv(4096)
                        except OSError:
                            data = b""
                        if data:
                            self.slow["answered"] += 1
                        gone = True
                    elif now() >= c[2]:
                        try:
                            s.sendall(b"X-Trickle-%d: %s\r\n" % (c[3], b"x" * 20))
                            c[3] += 1
                            c[2] = now() + rnd.uniform(2, 4)
                        except OSError:
                            gone = True
                    if gone:
                        self.slow["closed_by_server"] += 1
                        if not self.gateway_down(c[1], now()):
                            self.slow["closed_gateway_up"] += 1
                        self.slow["lifetimes"].append(round(now() - c[1], 1))
                        s.close()
                        conns.remove(c)
                self.stop.wait(0.2)
        finally:
            self.slow["open_at_end"] = len(conns)
            for c in conns:
                self.slow["lifetimes"].append(round(now() - c[1], 1))
                c[0].close()

    # (e) floods: hundreds of idle keep-alive connections from 127.0.3.x
    # (each address a few over the per-address limit), held a while, while
    # fresh requests from 127.0.0.1 probe whether the gateway still answers
    def flood_loop(self):
        while not self.stop.wait(self.args.flood_every):
            self.flood_round()

    def flood_round(self):
        f = self.flood
        f["rounds"] += 1
        socks = []
        t0 = now()
        self.flooding.set()
        try:
            for a in range(self.args.addresses):
                addr = "127.0.3.%d" % (a + 1)
                for _ in range(self.args.flood):
                    if self.stop.is_set():
                        break
                    s = socket.socket()
                    s.settimeout(2)
                    try:
                        s.bind((addr, 0))
                        s.connect(("127.0.0.1", self.h.port))
                        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: soak\r\n\r\n")
                    except OSError:
                        s.close()
                        f["refused"] += 1
                        continue
                    f["opened"] += 1
                    socks.append(s)
            for s in socks:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if data.startswith(b"HTTP/1.1 "):
                    f["answered"] += 1
            until = now() + self.args.flood_hold
            while now() < until and not self.stop.is_set():
                t = now()
                try:
                    st, _, _ = http_call(self.h.port, "GET", "/healthz", timeout=5)
                    err = str(st)
                except (OSError, http.client.HTTPException) as e:
                    st, err = None, type(e).__name__
                # 200; another answer (a 503 while the journal is down);
                # or none (refused, reset, timed out)
                if st == 200:
                    f["probe_ok"] += 1
                    f["probe_ms"].append(round((now() - t) * 1000, 1))
                else:
                    f["probe_other_status" if st else "probe_no_answer"] += 1
                    f["probe_errors"][err] += 1
                time.sleep(0.2)
            for s in socks:
                r, _, _ = select.select([s], [], [], 0)
                if r:
                    try:
                        gone = s.recv(4096) == b""
                    except OSError:
                        gone = True
                    f["closed_early" if gone else "open_at_end"] += 1
                else:
                    f["open_at_end"] += 1
        finally:
            for s in socks:
                s.close()
            if self.gateway_down(t0, now()):
                f["rounds_gateway_killed"] += 1
            self.flooding.clear()


# --- chaos ---------------------------------------------------------------------

class Killer:
    def __init__(self, h, args, stop, flooding):
        self.h, self.args, self.stop, self.flooding = h, args, stop, flooding
        self.kills = collections.Counter()
        self.restart_s = []
        self.rounds = 0                    # times every name was killed
        self.restart_max = {}              # name -> slowest restart, s
        self.log = []                      # (when, name) of each kill
        self.not_restarted = []

    def pids(self):
        """name -> pid (0: not running) as harkd says (HARKD_STATUS alone,
        not `hark status`, which asks every service and is slow under load)"""
        try:
            cmd, r = self.h.call(self.h.endpoint("harkd.ctl"), "HARKD_STATUS", {}, timeout=3000)
        except (TimeoutError, OSError):
            return {}
        if cmd != "HARKD_STATUS_OK":
            return {}
        return {s["name"]: (s["pid"] if s["running"] else 0) for s in r["services"]}

    def wait_all_up(self, timeout, old):
        """every service running again, each with a pid other than old's"""
        until = now() + timeout
        while now() < until:
            p = self.pids()
            if len(p) == len(SERVICES) and all(p[n] and p[n] != old.get(n) for n in p):
                return True
            time.sleep(0.1)
        return False

    def kill(self, name):
        t = now()
        self.log.append((t, name))
        if name == "harkd":
            # SIGKILL harkd: its children get SIGTERM (PR_SET_PDEATHSIG) and
            # stop; the operator starts harkd again, which waits for any old
            # copy still finishing before starting a new one
            old = self.pids()
            self.h.proc.kill()
            self.h.proc.wait(30)
            self.h.logf.close()
            self.h.start(wait=False)
            ok = self.wait_all_up(self.args.restart_timeout, old)
        else:
            pid = self.pids().get(name, 0)
            if not pid:
                return
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            until = now() + self.args.restart_timeout
            ok = False
            while now() < until:
                p = self.pids().get(name, 0)
                if p and p != pid:
                    ok = True
                    break
                time.sleep(0.1)
        self.kills[name] += 1
        if ok:
            self.restart_s.append(now() - t)
            self.restart_max[name] = round(max(self.restart_max.get(name, 0), now() - t), 2)
        else:
            self.not_restarted.append(name)
            LOG.note("%s not back within %ss" % (name, self.args.restart_timeout))

    def run(self):
        """kill i at start + (i + 1) * kill_every, or as soon as the restart
        after kill i - 1 is done when that took longer, until the stop"""
        start, i = now(), 0
        while True:
            due = start + (i + 1) * self.args.kill_every
            if self.stop.wait(max(0, due - now())):
                return
            name = KILL_ORDER[i % len(KILL_ORDER)]
            # the gateway (and harkd, which takes it along) waits for the
            # end of a flood, so the flood's figures say what it did alone
            while name in ("gateway", "harkd") and self.flooding.is_set() and \
                    not self.stop.is_set():
                time.sleep(0.1)
            self.kill(name)
            i += 1
            self.rounds = i // len(KILL_ORDER)


# --- the journal, read back ----------------------------------------------------

class Journal:
    """every event, fetched incrementally (offsets only grow)"""

    def __init__(self, h):
        self.h, self.events, self.after = h, [], 0

    def update(self):
        while True:
            try:
                cmd, r = self.h.call(self.h.endpoint("journal.sock"), "JOURNAL_FETCH",
                                     {"after": self.after, "limit": 1000}, timeout=5000)
            except (TimeoutError, OSError):
                return False
            if cmd != "JOURNAL_FETCH_OK":
                return False
            if not r["events"]:
                return True
            self.events.extend(r["events"])
            self.after = r["next"]


def tally(d, journal, smtp_ids, kills):
    """the figures and the failures, from what the drivers were told and
    what the journal and the SMTP server hold"""
    fig, fail = collections.OrderedDict(), []
    by_key = collections.Counter(e["key"] for e in journal.events)
    offset_of = {e["key"]: e["offset"] for e in journal.events}
    by_type = collections.defaultdict(list)
    for e in journal.events:
        by_type[e["type"]].append(e)

    # events: every acknowledged key stored once, at the offset the 202 gave
    acked = {}
    purchases, complaints = {}, []
    for idem, (offsets, kinds) in d.acked.items():
        for i, (kind, cid) in enumerate(kinds):
            key = "idem:%s:%d" % (idem, i)
            acked[key] = offsets[i]
            if kind == "purchase":
                purchases[cid] = key
            elif kind == "complaint":
                complaints.append(key)
    missing = [k for k in acked if by_key[k] == 0]
    doubled = [k for k in acked if by_key[k] > 1]
    moved = [k for k in acked if by_key[k] and offset_of[k] != acked[k]]
    fig["events_acked"] = len(acked)
    fig["events_stored"] = sum(1 for k in acked if by_key[k])
    fig["events_missing"] = len(missing)
    fig["events_doubled"] = len(doubled)
    fig["batches_abandoned"] = d.abandoned
    if missing:
        fail.append("%d acknowledged events missing, e.g. %s" % (len(missing), missing[:5]))
    if doubled:
        fail.append("%d acknowledged events stored twice, e.g. %s" % (len(doubled), doubled[:5]))
    if moved:
        fail.append("%d events stored at another offset than their 202 said" % len(moved))

    # forms: each acknowledged form one complaint (channel web)
    web = collections.Counter(e["payload"].get("text") for e in by_type["complaint"]
                              if e["payload"].get("channel") == "web")
    fig["forms_acked"] = len(d.forms)
    fig["forms_missing"] = sum(1 for t in d.forms if web[t] == 0)
    fig["forms_doubled"] = sum(1 for t in d.forms if web[t] > 1)
    if fig["forms_missing"] or fig["forms_doubled"]:
        fail.append("forms: %d missing, %d stored twice" % (fig["forms_missing"],
                                                            fig["forms_doubled"]))
    form_keys = [e["key"] for e in by_type["complaint"] if e["payload"].get("channel") == "web"]

    # answers: each acknowledged answer stored (a retry after a lost 200
    # may store it again: an answer's key is fresh, the last one counts)
    said = collections.Counter(e["payload"].get("comment") for e in by_type["survey.answered"])
    fig["answers_acked"] = len(d.answers)
    fig["answers_missing"] = sum(1 for c in d.answers if said[c] == 0)
    fig["answers_stored_twice"] = sum(1 for c in d.answers if said[c] > 1)
    if fig["answers_missing"]:
        fail.append("%d acknowledged survey answers missing" % fig["answers_missing"])

    # the chain: each purchase's invite, each complaint's acknowledgement
    requested = {e["key"]: e for e in by_type["mail.requested"]}
    invited = {e["payload"].get("customer_id") for e in requested.values()
               if e["payload"]["template"] == "nps_invite"}
    no_invite = [cid for cid in purchases if cid not in invited]
    fig["invites_expected"] = len(purchases)
    fig["invites_missing"] = len(no_invite)
    if no_invite:
        fail.append("%d purchases without their NPS invite, e.g. %s" % (len(no_invite),
                                                                       no_invite[:5]))
    all_complaints = complaints + form_keys
    no_ack = [k for k in all_complaints
              if by_key[k] and "intake/%d/ack" % offset_of[k] not in requested]
    fig["complaint_acks_expected"] = len(all_complaints)
    fig["complaint_acks_missing"] = len(no_ack)
    if no_ack:
        fail.append("%d complaints without their acknowledgement mail, e.g. %s" % (
            len(no_ack), no_ack[:5]))

    # mails: each request one outcome; each delivery received; duplicates
    outcome = collections.defaultdict(list)
    for t in OUTCOMES:
        for e in by_type[t]:
            outcome[e["payload"]["request_key"]].append((t, e["payload"]))
    pending = [k for k in requested if k not in outcome]
    twice = [k for k in requested if len(outcome.get(k, ())) > 1]
    counts = collections.Counter()
    not_received, skipped = [], collections.Counter()
    delivered_ids = set()
    for k in requested:
        for t, p in outcome.get(k, ())[:1]:
            counts[t] += 1
            if t == "mail.delivered":
                delivered_ids.add(p.get("message_id"))
                if smtp_ids[p.get("message_id")] == 0:
                    not_received.append(k)
            elif t == "mail.skipped":
                skipped[p["reason"]] += 1
    lost = counts["mail.bounced"] + counts["mail.failed"] + \
        sum(n for r, n in skipped.items() if r not in LEGIT_SKIPS)
    dups = sum(n - 1 for n in smtp_ids.values() if n > 1)
    unmatched = sum(1 for m in smtp_ids if m not in delivered_ids)
    fig["mails_requested"] = len(requested)
    fig["mails_delivered"] = counts["mail.delivered"]
    fig["mails_received"] = sum(smtp_ids.values())
    fig["mails_skipped"] = dict(skipped)
    fig["mails_bounced_or_failed"] = counts["mail.bounced"] + counts["mail.failed"]
    fig["mails_pending"] = len(pending)
    fig["mails_not_received"] = len(not_received)
    fig["mails_duplicated"] = dups
    fig["mails_received_unmatched"] = unmatched
    fig["mail_outcomes_doubled"] = len(twice)
    if pending:
        fail.append("%d requested mails never sent, e.g. %s" % (len(pending), pending[:5]))
    if not_received:
        fail.append("%d mails reported delivered but not received, e.g. %s" % (
            len(not_received), not_received[:5]))
    if lost:
        fail.append("%d mails bounced, failed or skipped for no good reason" % lost)
    if twice:
        fail.append("%d mail requests with two outcomes, e.g. %s" % (len(twice), twice[:5]))
    if dups > kills:
        fail.append("%d duplicated mails, more than the %d kills" % (dups, kills))
    fig["journal_events"] = len(journal.events)
    return fig, fail


def settled(d, h, journal):
    """(done, why not): every service up with no lag, every purchase's
    invite and every mail request's outcome in the journal, every delivered
    message at the SMTP server"""
    st = h.status().get("services", [])
    if len(st) != len(SERVICES) or not all(s.get("running") and s.get("answering") for s in st):
        return False, "services not all up"
    lagging = [s["name"] for s in st if s.get("lag")]
    if lagging:
        return False, "lag in " + ",".join(lagging)
    if not journal.update():
        return False, "journal not answering"
    d.mail_scan()
    fig, _ = tally(d, journal, d.mail_ids, 0)
    for k in ("invites_missing", "complaint_acks_missing", "mails_pending", "mails_not_received"):
        if fig[k]:
            return False, "%s=%d" % (k, fig[k])
    return True, ""


# --- the run -------------------------------------------------------------------

def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=300, help="chaos phase (default 300)")
    p.add_argument("--settle", type=float, default=120,
                   help="most seconds to wait afterwards for the system to catch up")
    p.add_argument("--max-seconds", type=float, default=0,
                   help="global deadline (default seconds + settle + 90)")
    p.add_argument("--kill-every", type=float, default=3.0, dest="kill_every")
    p.add_argument("--restart-timeout", type=float, default=30, dest="restart_timeout")
    p.add_argument("--threads", type=int, default=2, help="event posting threads")
    p.add_argument("--rate", type=float, default=4, help="event batches a second, in all")
    p.add_argument("--batch", type=int, default=10, help="events a batch")
    p.add_argument("--addresses", type=int, default=3, help="127.x addresses of slow clients "
                   "and of floods each")
    p.add_argument("--slow", type=int, default=5, help="slow connections per address")
    p.add_argument("--flood", type=int, default=136,
                   help="flood connections per address (per_ip_connections is 128)")
    p.add_argument("--flood-every", type=float, default=30, dest="flood_every")
    p.add_argument("--flood-hold", type=float, default=8, dest="flood_hold")
    p.add_argument("--out", default=os.path.join(HERE, "results.json"))
    p.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = p.parse_args(argv)
    if not a.max_seconds:
        a.max_seconds = a.seconds + a.settle + 90
    return a


def reap(h):
    """SIGKILL every service of this instance still running: the pid in
    each lock file of its state dir, when that process runs with this
    instance's config (a service orphaned by a killed harkd stops on its
    own, but may take seconds); how many"""
    n = 0
    for lock in glob.glob(os.path.join(h.state, "*.lock")):
        try:
            with open(lock) as f:
                pid = int(f.read().split()[0])
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                ours = h.config.encode() in f.read().split(b"\0")
            if ours and pid != os.getpid():
                os.kill(pid, signal.SIGKILL)
                n += 1
        except (OSError, ValueError, IndexError):
            pass
    return n


def watchdog(args, procs, instance):
    """past the global deadline: stop everything and exit 2"""
    def fire():
        print("soak: global deadline (%.0f s) passed, stopping everything" % args.max_seconds,
              flush=True)
        for p in procs():
            try:
                p.kill()
            except OSError:
                pass
        if instance():
            reap(instance())
        os._exit(2)
    t = threading.Timer(args.max_seconds, fire)
    t.daemon = True
    t.start()
    return t


def form_customers(h, n):
    """n customers with an email, and their form links (hark cases link)"""
    evs = [{"type": "customer", "data": {"id": "soak-form-%d" % i,
                                         "email": "soak-form-%d@example.com" % i}}
           for i in range(n)]
    st, _ = h.post_events(evs, idem="soak-form-customers")
    assert st == 202, st
    out = []
    for i in range(n):
        r = h.hark("cases", "link", "soak-form-%d" % i)
        m = re.search(r"/feedback\?customer=([A-Za-z0-9_.-]+)", r.stdout)
        out.append(("soak-form-%d" % i, m.group(1)))
    return out


def main(argv):
    args = parse(argv)
    tmp = tempfile.mkdtemp(prefix="hark-soak-")
    smtp = h = None
    procs = lambda: [p for p in (smtp and smtp.proc, h and h.proc) if p]  # noqa: E731
    dog = watchdog(args, procs, lambda: h)
    result = {"args": dict(vars(args), out=os.path.relpath(args.out, ROOT)), "ok": False}
    threads = []
    d = None
    try:
        smtp = SmtpServer(os.path.join(tmp, "smtp"))
        conf = dict(shop_conf(smtp.port),
                    harkd={"restart_min": "100ms", "restart_max": "1s", "grace": "10s"},
                    gateway={"journal_timeout": "2s"},
                    survey={"delay": "1s", "window_hours": "0-24", "window_days": "all",
                            "alert_to": "nps-team@example.com"},
                    intake={"reasons": os.path.join(ROOT, "config", "reasons.conf"),
                            "form_rate": "100000"})
        h = Hark(tmp, SERVICES, conf)
        h.start()
        d = Drivers(h, args, smtp)
        d.form_tokens = form_customers(h, 5)
        killer = Killer(h, args, d.stop, d.flooding)
        d.kill_log = killer.log
        t_start = now()
        LOG.note("instance up on port %d; chaos for %.0f s" % (h.port, args.seconds))
        for t in range(args.threads):
            threads.append(threading.Thread(target=d.events, args=(t,), daemon=True))
        for f in (d.answers_loop, d.forms_loop, d.slow_loop, d.flood_loop, killer.run):
            threads.append(threading.Thread(target=f, daemon=True))
        watcher = threading.Thread(target=d.mail_watch, daemon=True)
        threads.append(watcher)
        for t in threads:
            t.start()
        if args.flood_every > args.seconds:
            # a short run: one flood, a quarter in (after the gateway's kill
            # and before harkd's, in the kill order)
            time.sleep(args.seconds / 4)
            threading.Thread(target=d.flood_round, daemon=True).start()
            time.sleep(args.seconds * 3 / 4)
        else:
            while now() < t_start + args.seconds:
                time.sleep(max(0, min(30, t_start + args.seconds - now())))
                LOG.note("%.0f s: %d kills, %d batches acknowledged, %d mails received" % (
                    now() - t_start, sum(killer.kills.values()), len(d.acked),
                    sum(d.mail_ids.values())))

        # every service and harkd killed at least once, even when restarts
        # were slow (a short run on a busy machine), within 15 s more
        while killer.rounds < 1 and now() < t_start + args.seconds + 15:
            time.sleep(0.1)
        # stop: no new work; what is in flight gets until drain_at to be
        # acknowledged (the killer finishes its last restart first)
        d.drain_at = now() + max(30, args.settle / 2)
        d.stop.set()
        chaos_s = now() - t_start
        for t in threads:
            t.join(max(1, d.drain_at - now() + 5))
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            LOG.note("drivers still running: %s" % stuck)
        LOG.note("chaos over after %.0f s, %d kills; settling" % (chaos_s,
                                                                  sum(killer.kills.values())))

        journal = Journal(h)
        t_settle = now()
        # the settle ends in time for the counts and the stop (about 10 s)
        # before the global deadline
        settle_end = min(t_settle + args.settle, T0 + args.max_seconds - 12)
        why = "not tried"
        while now() < settle_end:
            ok, why = settled(d, h, journal)
            if ok:
                time.sleep(1)   # and still so a moment later
                ok, why = settled(d, h, journal)
                if ok:
                    break
            time.sleep(0.5)
        else:
            LOG.note("not settled after %.0f s: %s" % (now() - t_settle, why))
        settle_s = now() - t_settle
        journal.update()
        d.mail_scan()
        kills = sum(killer.kills.values())
        fig, fail = tally(d, journal, d.mail_ids, kills)
        if stuck:
            fail.append("drivers did not stop: %s" % stuck)
        if killer.not_restarted:
            fail.append("not restarted: %s" % killer.not_restarted)
        if d.rejected:
            fail.append("%d unexpected answers, e.g. %s" % (len(d.rejected), d.rejected[:3]))

        # stop as an operator would, and read the log for sanitizer reports
        h.stop(check=False)
        log = h.log()
        marks = [m for m in SANITIZER_MARKS if m in log]
        if marks:
            fail.append("sanitizer report in harkd.log: %s" % marks)
        if h.proc.returncode != 0:
            fail.append("harkd exit %s at the end" % h.proc.returncode)
        last = log.rsplit("svc=harkd level=info event=stopping", 1)[-1]
        unclean = [ln for ln in last.splitlines()
                   if "event=service_stopped" in ln and 'how="exit 0"' not in ln]
        if unclean:
            fail.append("unclean stop at the end: %s" % unclean[:3])

        result.update({
            "ok": not fail, "failures": fail,
            "chaos_seconds": round(chaos_s, 1), "settle_seconds": round(settle_s, 1),
            "total_seconds": round(now() - T0, 1),
            "kills": kills, "kills_by_service": dict(killer.kills),
            "restart_seconds_max": round(max(killer.restart_s or [0]), 2),
            "restart_seconds_max_by_service": killer.restart_max,
            "restart_seconds_mean": round(sum(killer.restart_s) / max(1, len(killer.restart_s)),
                                          2),
            "figures": fig,
            "retries": {k: v for k, v in sorted(LOG.counts.items())},
            "slow_clients": summary(d.slow, "lifetimes"),
            "flood": summary(d.flood, "probe_ms"),
            "notes": LOG.notes,
            "machine": {"nproc": os.cpu_count(), "loadavg": os.getloadavg(),
                        "bin": os.path.relpath(os.environ.get("HARK_BIN", ""), ROOT)},
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        report(result)
    except Exception as e:  # noqa: BLE001 - any error is a failed run, reported
        result["failures"] = result.get("failures", []) + ["soak error: %r" % e]
        print("soak: error: %r" % e, flush=True)
        import traceback
        traceback.print_exc()
    finally:
        if d:
            d.stop.set()
        if h and h.proc and h.proc.poll() is None:
            try:
                h.stop(check=False)
            except Exception:  # noqa: BLE001
                h.proc.kill()
        if h and reap(h):
            print("soak: killed services left running", flush=True)
        if smtp:
            smtp.stop()
        dog.cancel()
        if args.out:
            try:  # jetstream_soak.py's figures, kept beside these
                with open(args.out) as f:
                    js = json.load(f).get("jetstream")
            except (OSError, ValueError, AttributeError):
                js = None
            if js is not None:
                result["jetstream"] = js
            with open(args.out, "w") as f:
                json.dump(result, f, indent=1, sort_keys=False)
                f.write("\n")
        if args.keep or not result.get("ok"):
            print("soak: instance files kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if result.get("ok") else 1


def summary(d, key):
    out = {k: v for k, v in d.items() if k != key}
    vals = sorted(d[key])
    if vals:
        out[key + "_median"] = vals[len(vals) // 2]
        out[key + "_max"] = vals[-1]
    return out


def report(r):
    f = r["figures"]
    rows = [
        ("duration", "%.0f s chaos + %.0f s settle (%.0f s in all)" % (
            r["chaos_seconds"], r["settle_seconds"], r["total_seconds"])),
        ("kills", "%d (%s); restart max %.1f s" % (r["kills"], " ".join(
            "%s=%d" % kv for kv in sorted(r["kills_by_service"].items())),
            r["restart_seconds_max"])),
        ("events", "%d acknowledged, %d stored, %d missing, %d doubled" % (
            f["events_acked"], f["events_stored"], f["events_missing"], f["events_doubled"])),
        ("forms", "%d acknowledged, %d missing, %d doubled" % (
            f["forms_acked"], f["forms_missing"], f["forms_doubled"])),
        ("answers", "%d acknowledged, %d missing, %d stored twice" % (
            f["answers_acked"], f["answers_missing"], f["answers_stored_twice"])),
        ("chain", "%d/%d invites, %d/%d complaint acks" % (
            f["invites_expected"] - f["invites_missing"], f["invites_expected"],
            f["complaint_acks_expected"] - f["complaint_acks_missing"],
            f["complaint_acks_expected"])),
        ("mails", "%d requested, %d delivered, %d received, %d duplicated, skipped %s, "
                  "%d pending" % (f["mails_requested"], f["mails_delivered"],
                                  f["mails_received"], f["mails_duplicated"],
                                  f["mails_skipped"] or "none", f["mails_pending"])),
        ("slow clients", json.dumps({k: v for k, v in r["slow_clients"].items()
                                     if k != "lifetimes"})),
        ("flood", json.dumps({k: v for k, v in r["flood"].items() if k != "probe_ms"})),
        ("retries", json.dumps(r["retries"])),
    ]
    print()
    for k, v in rows:
        print("  %-13s %s" % (k, v))
    print()
    for x in r["failures"]:
        print("FAIL: " + x)
    print("soak: %s" % ("ok" if r["ok"] else "FAILED"), flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
