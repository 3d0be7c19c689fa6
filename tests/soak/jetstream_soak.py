#!/usr/bin/python3
"""jetstream_soak.py - the journal's jetstream engine against a three-node
nats-server cluster on loopback, for minutes, under bounded load.

One hark-journal (engine jetstream, every node in [journal] nats_urls)
takes JOURNAL_APPEND requests of 5 new keys at a time from one producer,
at most --rate requests a second; a request that fails is sent again with
the same keys until it is acknowledged, as every Hark producer does.
Meanwhile, in turn:

  leader      the stream's leader (the servers' monitoring port says
              which) is SIGKILLed, and started again once acks resume
  connected   the server the journal is connected to (the one whose
              /connz has a client) is SIGKILLed, and started again
  kept down   one follower is SIGKILLed and kept down for --down-seconds
              while the load goes on, then started again: it must catch up,
              its stream state (its own /jsz: messages, last sequence)
              equal to the leader's

--kills rounds of leader then connected.  After the load stops, the counts:
acks vs stored (JOURNAL_FETCH), offsets gap-free from 1, no key stored
twice, each acknowledged key at the offset its ack gave, acks resumed
within 15 s after each kill, every node's stream state equal to the
journal's head.  Exit 0 when all hold, 1 on a failure, 2 past --max-seconds
(a watchdog stops every process first).  Figures go into --out under
"jetstream" (the rest of the file, soak.py's, is kept).

  HARK_BIN=build/san/bin HARK_ROOT=. /usr/bin/python3 tests/soak/jetstream_soak.py \\
      [--seconds 240] [--kills 3] [--out tests/soak/results.json]

Every nats-server and harkd it starts is stopped at the end, whatever
happens (the load is bounded, so is every wait).  See tests/soak/README.md.
"""
import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

from harness import ROOT, SANITIZER_MARKS, Hark, wait_for  # noqa: E402
from natsrv import Cluster  # noqa: E402

RESUME_S = 15  # acks come back within this after a server is killed


class Load:
    """One producer, bounded: at most rate requests of 5 new keys a second.
    acked: key -> offset; ok_times: monotonic time of each ack."""

    def __init__(self, h, rate):
        self.h, self.rate = h, rate
        self.acked, self.sent, self.ok_times = {}, set(), []
        self.failures, self.requests, self.errors = 0, 0, []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        n = 0
        while not self.stop.is_set():
            t0 = time.monotonic()
            keys = ["soak/%d" % (n + i) for i in range(5)]
            n += 5
            self.sent.update(keys)
            while True:
                try:
                    cmd, r = self.h.call(self.h.endpoint("journal.sock"), "JOURNAL_APPEND",
                                         {"events": [{"type": "test.x", "key": k,
                                                      "payload": {"n": n}} for k in keys]},
                                         timeout=20000)
                except TimeoutError:
                    cmd, r = "TIMEOUT", None
                self.requests += 1
                if cmd == "JOURNAL_APPEND_OK":
                    for k, o in zip(keys, r["offsets"]):
                        self.acked[k] = o
                    self.ok_times.append(time.monotonic())
                    break
                if cmd not in ("ERROR", "TIMEOUT") or (
                        r is not None and r["error"]["code"] != "store_failed"):
                    self.errors.append("%s %s" % (cmd, r))
                self.failures += 1
                if self.stop.is_set():
                    return  # sent, not acknowledged: stored or not, each key at most once
                time.sleep(0.2)
            left = 1.0 / self.rate - (time.monotonic() - t0)
            if left > 0:
                time.sleep(left)

    def resumed_after(self, t, timeout):
        """seconds from t to the first ack after it, None when none came"""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            later = [x for x in self.ok_times[-50:] if x > t]
            if later:
                return min(later) - t
            time.sleep(0.05)
        return None


def fetch_all(h):
    out, after = [], 0
    while True:
        cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_FETCH",
                        {"after": after, "limit": 1000}, timeout=20000)
        if cmd != "JOURNAL_FETCH_OK":
            raise RuntimeError("JOURNAL_FETCH: %s %s" % (cmd, r))
        out.extend(r["events"])
        if not r["events"]:
            return out
        after = r["next"]


def watchdog(seconds, stop_all):
    def fire():
        sys.stderr.write("jetstream_soak: past --max-seconds, stopping everything\n")
        stop_all()
        os._exit(2)
    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()
    return t


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=240,
                    help="the least the load runs: the kill rounds, then more until then")
    ap.add_argument("--kills", type=int, default=3, help="rounds of leader then connected")
    ap.add_argument("--down-seconds", type=float, default=20)
    ap.add_argument("--rate", type=float, default=40, help="requests of 5 events a second")
    ap.add_argument("--max-seconds", type=float, default=570)
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)

    t_start, load_start = time.monotonic(), os.getloadavg()[0]
    tmp = tempfile.mkdtemp(prefix="hark-jssoak-")
    cluster = Cluster(os.path.join(tmp, "nats"), 3)
    os.makedirs(os.path.join(tmp, "hark"))
    h = Hark(os.path.join(tmp, "hark"), ("journal",), cluster.journal_conf(ack_timeout="5s"))
    lock = threading.Lock()

    def stop_all():
        with lock:
            try:
                h.stop(check=False)
            except Exception:  # noqa: BLE001 - stopping whatever is left
                pass
            cluster.stop()
    dog = watchdog(args.max_seconds, stop_all)
    failures, kills, result = [], [], {"ok": False}
    load = None
    try:
        cluster.start()
        h.start()
        load = Load(h, args.rate)
        load.t.start()
        wait_for(lambda: len(load.acked) >= 100, 60, what="load under way")

        def kill(role, node):
            """SIGKILL node, wait for acks to resume, start it again and
            wait until the cluster is whole"""
            at = time.monotonic()
            node.kill()
            resumed = load.resumed_after(at, RESUME_S + 30)
            kills.append({"role": role, "node": node.name,
                          "resumed_s": None if resumed is None else round(resumed, 2)})
            if resumed is None or resumed > RESUME_S:
                failures.append("acks did not resume within %d s after killing the %s (%s): %s"
                                % (RESUME_S, role, node.name, resumed))
            time.sleep(2)
            node.start()
            wait_for(cluster.formed, 60, interval=0.5, what="the cluster whole again")
            wait_for(lambda: cluster.leader() is not None, 60, interval=0.5, what="a leader")

        for rnd in range(args.kills):
            leader = wait_for(cluster.leader, 60, interval=0.5, what="the stream's leader")
            kill("leader", leader)
            conn = wait_for(lambda: cluster.connected(), 60, interval=0.5,
                            what="the journal's server")
            kill("connected", conn)

        # one follower kept down while the load goes on, then it catches up
        leader = wait_for(cluster.leader, 60, interval=0.5, what="the stream's leader")
        conn = cluster.connected()
        down = next(n for n in cluster.nodes if n is not leader and n is not conn) \
            if conn is not leader else next(n for n in cluster.nodes if n is not leader)
        before = len(load.acked)
        down.kill()
        time.sleep(args.down_seconds)
        behind = len(load.acked) - before
        at = time.monotonic()
        down.start()

        def caught_up():
            lead = cluster.leader()
            mine, theirs = down.stream_state(), lead.stream_state() if lead else None
            return mine if mine and theirs and mine == theirs and mine[1] > 0 else None
        try:
            wait_for(caught_up, 60, interval=0.2, what="the restarted node caught up")
            catchup = round(time.monotonic() - at, 2)
        except AssertionError as e:
            failures.append(str(e))
            catchup = None

        # the rest of --seconds under load, then stop it
        while time.monotonic() - t_start < args.seconds:
            time.sleep(1)
        load.stop.set()
        load.t.join(60)
        if load.t.is_alive():
            failures.append("the producer still waits for an ack")
        failures.extend(load.errors[:5])

        stored = fetch_all(h)
        offsets = [e["offset"] for e in stored]
        by_key, doubled = {}, 0
        for e in stored:
            if e["key"] in by_key:
                doubled += 1
            by_key[e["key"]] = e["offset"]
        gap_free = offsets == list(range(1, len(stored) + 1))
        missing = [k for k in load.acked if k not in by_key]
        moved = [k for k, o in load.acked.items() if k in by_key and by_key[k] != o]
        strangers = [k for k in by_key if k not in load.sent]
        if not gap_free:
            failures.append("offsets are not 1..%d without a gap" % len(stored))
        for what, keys in (("acknowledged but not stored", missing),
                           ("stored at another offset than acknowledged", moved),
                           ("stored but never sent", strangers)):
            if keys:
                failures.append("%d keys %s, e.g. %s" % (len(keys), what, keys[:3]))
        if doubled:
            failures.append("%d keys stored twice" % doubled)
        head = offsets[-1] if offsets else 0
        states = {}
        for n in cluster.nodes:
            try:
                states[n.name] = wait_for(lambda: (lambda s: s if s and s[1] == head else None)(
                    n.stream_state()), 30, interval=0.2, what="%s at the head" % n.name)
            except AssertionError:
                states[n.name] = n.stream_state()
                failures.append("%s holds %s, the journal's head is %d" % (n.name, states[n.name],
                                                                          head))
        resumes = [k["resumed_s"] for k in kills if k["resumed_s"] is not None]
        result = {
            "args": dict(vars(args), out=os.path.relpath(args.out, ROOT)),
            "ok": not failures,
            "failures": failures,
            "seconds": round(time.monotonic() - t_start, 1),
            "load_avg_1m": {"start": load_start, "end": os.getloadavg()[0]},
            "kills": kills,
            "resumed_s_max": max(resumes) if resumes else None,
            "kept_down": {"node": down.name, "seconds": args.down_seconds,
                          "events_acked_meanwhile": behind, "caught_up_s": catchup},
            "figures": {
                "requests": load.requests,
                "requests_failed_and_resent": load.failures,
                "events_acked": len(load.acked),
                "events_stored": len(stored),
                "events_missing": len(missing),
                "events_doubled": doubled,
                "events_stored_unacked": len(stored) - len(load.acked),
                "offsets_gap_free": gap_free,
                "head": head,
                "stream_state_by_node": {k: {"messages": v[0], "last_seq": v[1]} if v else None
                                         for k, v in states.items()},
            },
        }
    except Exception as e:  # noqa: BLE001 - reported, then everything stopped
        failures.append("%s: %s" % (type(e).__name__, e))
        result.update(ok=False, failures=failures, kills=kills)
    finally:
        if load is not None:
            load.stop.set()
        log = ""
        with lock:
            try:
                log = h.stop(check=False)
            except Exception as e:  # noqa: BLE001
                failures.append("stopping harkd: %s" % e)
            cluster.stop()
        dog.cancel()
    if any(m in log for m in SANITIZER_MARKS):
        failures.append("a sanitizer report in harkd.log")
        result["ok"] = False
    if args.out:
        try:
            with open(args.out) as f:
                whole = json.load(f)
        except (OSError, ValueError):
            whole = {}
        whole["jetstream"] = result
        with open(args.out, "w") as f:
            json.dump(whole, f, indent=1)
            f.write("\n")
    print(json.dumps({k: result.get(k) for k in ("ok", "failures", "seconds", "resumed_s_max",
                                                  "kept_down", "figures")}, indent=1))
    if result.get("ok") and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("jetstream_soak: kept %s" % tmp)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
