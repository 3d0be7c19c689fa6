"""The journal's jetstream engine against real nats-servers on loopback: a
three-node cluster losing its leader, the server the journal is connected
to, or its quorum, and keys that stay unique after the duplicate window.
Every nats-server is started and stopped here (natsrv.py)."""
import json
import threading
import time

import pytest

from harness import Hark, wait_for
from natsrv import Cluster

RESUME_S = 15  # acks come back within this after a server is killed


def ev(key, **payload):
    return {"type": "test.x", "key": key, "payload": payload}


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "nats", 3).start()
    yield c
    c.stop()


class journal(Hark):
    """an instance under tmp_path/hark whose harkd is stopped even when its
    start fails"""

    def __init__(self, tmp_path, conf, services=("journal",)):
        (tmp_path / "hark").mkdir()
        super().__init__(tmp_path / "hark", services, conf)

    def start(self, wait=True):
        try:
            return super().start(wait)
        except BaseException:
            self.stop(check=False)
            raise


class Load:
    """One producer, one request of 5 new keys at a time; a request that
    fails is sent again with the same keys until it is acknowledged, as
    every Hark producer does.  acked: key -> (offset, duplicate)."""

    def __init__(self, h):
        self.h, self.acked, self.sent = h, {}, set()
        self.ok_times, self.failures = [], 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        n = 0
        while not self.stop.is_set():
            keys = ["load/%d" % (n + i) for i in range(5)]
            n += 5
            self.sent.update(keys)
            while True:
                try:
                    cmd, r = self.h.call(self.h.endpoint("journal.sock"), "JOURNAL_APPEND",
                                         {"events": [ev(k, i=n) for k in keys]}, timeout=20000)
                except TimeoutError:
                    cmd, r = "TIMEOUT", None
                if cmd == "JOURNAL_APPEND_OK":
                    for k, o, d in zip(keys, r["offsets"], r["duplicates"]):
                        self.acked[k] = (o, d)
                    self.ok_times.append(time.monotonic())
                    break
                assert cmd in ("ERROR", "TIMEOUT"), (cmd, r)
                if r is not None:
                    assert r["error"]["code"] == "store_failed", r
                self.failures += 1
                time.sleep(0.2)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join(60)
        assert not self.t.is_alive(), "the producer is still waiting for an ack"


def check_journal(h, load):
    """no acknowledged event lost or doubled, offsets gap-free"""
    stored = h.fetch_all()
    offsets = [e["offset"] for e in stored]
    assert offsets == list(range(1, len(stored) + 1)), "a gap or a repeat in the offsets"
    by_key = {}
    for e in stored:
        assert e["key"] not in by_key, "stored twice: " + e["key"]
        by_key[e["key"]] = e["offset"]
    assert set(by_key) <= load.sent
    for k, (o, _) in load.acked.items():
        assert by_key.get(k) == o, "acknowledged %s at %d, stored at %s" % (k, o, by_key.get(k))
    return stored


def resumed_within(load, killed_at):
    wait_for(lambda: any(t > killed_at for t in load.ok_times), RESUME_S + 5,
             what="an ack after the kill")
    return min(t for t in load.ok_times if t > killed_at) - killed_at


def test_killing_the_leader_under_load_loses_and_doubles_nothing(cluster, tmp_path):
    h = journal(tmp_path, cluster.journal_conf(ack_timeout="5s")).start()
    try:
        with Load(h) as load:
            wait_for(lambda: len(load.acked) >= 50, 30, what="load under way")
            leader = cluster.leader()
            assert leader is not None
            killed_at = time.monotonic()
            leader.kill()
            assert resumed_within(load, killed_at) <= RESUME_S
            n = len(load.acked)
            wait_for(lambda: len(load.acked) >= n + 50, 30, what="load after the kill")
        assert cluster.leader() not in (None, leader)
        stored = check_journal(h, load)
        assert len(stored) >= len(load.acked) > 100
    finally:
        h.stop()


def test_killing_the_server_the_journal_is_connected_to_resends_without_doubling(
        cluster, tmp_path):
    # the journal is given n0 only: it connects there and learns the others
    conf = cluster.journal_conf(ack_timeout="5s")
    conf["journal"]["nats_urls"] = cluster.nodes[0].url
    h = journal(tmp_path, conf).start()
    try:
        with Load(h) as load:
            wait_for(lambda: len(load.acked) >= 50, 30, what="load under way")
            killed_at = time.monotonic()
            cluster.nodes[0].kill()
            assert resumed_within(load, killed_at) <= RESUME_S
            n = len(load.acked)
            wait_for(lambda: len(load.acked) >= n + 50, 30, what="load after the kill")
        check_journal(h, load)
        # what a failed attempt had stored came back on its retry as a
        # duplicate with its offset, and was counted once above
        retried = [k for k, (_, d) in load.acked.items() if d]
        assert len(retried) <= load.failures * 5
        assert "event=jetstream_open" in h.log()
    finally:
        h.stop()


def test_a_node_kept_down_catches_up_when_started_again(cluster, tmp_path):
    h = journal(tmp_path, cluster.journal_conf(ack_timeout="5s")).start()
    try:
        j = h.endpoint("journal.sock")
        cmd, r = h.call(j, "JOURNAL_APPEND", {"events": [ev("a%d" % i) for i in range(20)]})
        assert cmd == "JOURNAL_APPEND_OK", r
        leader, conn = cluster.leader(), cluster.connected()
        assert leader is not None and conn is not None
        down = next(n for n in cluster.nodes if n not in (leader, conn))
        wait_for(lambda: down.stream_state() == (20, 20), 10, interval=0.1, what="a replica")
        down.kill()
        for b in range(4):  # the two others are a quorum: every append acknowledged
            cmd, r = h.call(j, "JOURNAL_APPEND",
                            {"events": [ev("b%d.%d" % (b, i)) for i in range(10)]}, timeout=20000)
            assert cmd == "JOURNAL_APPEND_OK", r
        assert leader.stream_state() == (60, 60)
        down.start()
        # it catches up from the others: its own replica holds the journal's head
        wait_for(lambda: down.stream_state() == (60, 60), 10, interval=0.1,
                 what="the restarted node caught up")
        assert [e["offset"] for e in h.fetch_all()] == list(range(1, 61))
    finally:
        h.stop()


def test_two_of_three_down_appends_fail_whole_and_a_retry_completes(cluster, tmp_path):
    h = journal(tmp_path, cluster.journal_conf(ack_timeout="2s"),
                services=("journal", "gateway")).start()
    try:
        j = h.endpoint("journal.sock")
        cmd, r = h.call(j, "JOURNAL_APPEND", {"events": [ev("before")]})
        assert r["offsets"] == [1]
        leader = cluster.leader()
        others = [n for n in cluster.nodes if n is not leader]
        down = [leader, others[0]]
        for n in down:
            n.kill()
        keys = ["q%d" % i for i in range(5)]
        cmd, r = h.call(j, "JOURNAL_APPEND", {"events": [ev(k) for k in keys]}, timeout=20000)
        assert cmd == "ERROR" and r["error"]["code"] == "store_failed"
        st, body = h.post_events({"type": "customer", "data": {"id": "c1", "email": "c1@example.com"}})
        assert st == 503, body
        for n in down:
            n.start()
        # the retry with the same keys completes the request: each key once
        def retried():
            cmd, r = h.call(j, "JOURNAL_APPEND", {"events": [ev(k) for k in keys]}, timeout=20000)
            return r if cmd == "JOURNAL_APPEND_OK" else None
        r = wait_for(retried, 40, interval=0.5, what="appends after the quorum is back") or retried()
        # (a publish libnats buffered while it reconnected may have landed
        # before the retry, in another order: each key once is the promise)
        stored = h.fetch_all(types=["test.x"])
        assert stored[0]["key"] == "before" and sorted(e["key"] for e in stored[1:]) == keys
        at = {e["key"]: e["offset"] for e in stored}
        assert r["offsets"] == [at[k] for k in keys]
    finally:
        h.stop()


def test_keys_stay_unique_after_the_duplicate_window(tmp_path):
    c = Cluster(tmp_path / "nats", 1).start()
    try:
        h = journal(tmp_path, c.journal_conf(dup_window="2s", ack_timeout="1s")).start()
        try:
            j = h.endpoint("journal.sock")
            keys = ["replay/%d" % i for i in range(20)]
            cmd, first = h.call(j, "JOURNAL_APPEND", {"events": [ev(k, n=1) for k in keys]})
            assert first["duplicates"] == [False] * 20
            time.sleep(3)  # Nats-Msg-Id forgets them now; the key's subject does not
            # a consumer replayed from 0 emits the same keys again
            cmd, again = h.call(j, "JOURNAL_APPEND", {"events": [ev(k, n=2) for k in keys]})
            assert again == {"offsets": first["offsets"], "duplicates": [True] * 20}
            stored = h.fetch_all()
            assert len(stored) == 20 and all(e["payload"] == {"n": 1} for e in stored)
        finally:
            h.stop()
    finally:
        c.stop()


def test_a_single_node_stream_is_refused_unless_allowed(tmp_path):
    c = Cluster(tmp_path / "nats", 1).start()
    try:
        conf = c.journal_conf()
        del conf["journal"]["allow_single_node"]
        h = journal(tmp_path, conf).start(wait=False)
        try:
            wait_for(lambda: "allow_single_node" in h.log(), 20, what="the refusal logged")
            assert "event=jetstream_stream_created" not in h.log()
        finally:
            h.stop(check=False)
    finally:
        c.stop()


def test_export_and_import_move_a_sqlite_journal_into_a_stream_with_the_same_offsets(tmp_path):
    h = journal(tmp_path, None, ("journal", "gateway")).start()
    st, body = h.post_events([{"type": "customer", "data": {"id": "c%d" % i, "name": "N%d" % i,
                                                            "email": "c%d@example.com" % i}}
                              for i in range(20)])
    assert st == 202, body
    h.post_events({"type": "customer", "data": {"id": "c0", "name": "N0",
                                                "email": "c0@example.com"}}, idem="again")
    before = h.fetch_all()
    h.stop()
    out = str(tmp_path / "journal.jsonl")
    assert "exported %d events" % len(before) in h.hark("journal", "export", out).stdout
    c = Cluster(tmp_path / "nats", 1).start()
    try:
        with open(h.config, "a") as f:
            f.write("[journal]\n" + "".join("%s = %s\n" % kv
                                            for kv in c.journal_conf()["journal"].items()))
        r = h.hark("journal", "import", out)
        assert "imported %d events" % len(before) in r.stdout and "(%d new)" % len(before) in r.stdout
        # again: nothing new, every event checked
        assert "(0 new)" in h.hark("journal", "import", out).stdout
        # a file that does not match what the stream holds is refused
        lines = open(out).read().splitlines()
        bad = json.loads(lines[2])
        bad["payload"] = '{"id":"someone else"}'
        lines[2] = json.dumps(bad)
        with open(out, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = h.hark("journal", "import", out, check=False)
        assert r.returncode != 0 and "offset 3" in r.stderr
        h.start()
        try:
            after = h.fetch_all()
            assert after == before  # offsets, keys, times, sealed fields opened as before
            # the keys came along: an old key is a duplicate at its old offset
            cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND",
                            {"events": [{"type": "test.x", "key": before[1]["key"], "payload": {}},
                                        ev("new")]})
            assert r == {"offsets": [2, len(before) + 1], "duplicates": [True, False]}
        finally:
            h.stop()
    finally:
        c.stop()


def test_a_publish_whose_ack_never_comes_is_resent_and_stored_once(tmp_path):
    # the server frozen (SIGSTOP) with the round's publishes in its socket:
    # no ack for longer than the resend interval (1 s), so each publish is
    # sent again, the same message; thawed, the server reads both copies,
    # stores the first, and its duplicate window answers the second with
    # the same sequence
    import signal
    c = Cluster(tmp_path / "nats", 1).start()
    node = c.nodes[0]
    try:
        h = journal(tmp_path, c.journal_conf(ack_timeout="8s")).start()
        try:
            j = h.endpoint("journal.sock")
            cmd, r = h.call(j, "JOURNAL_APPEND", {"events": [ev("first")]})
            assert r["offsets"] == [1]
            keys = ["frozen/%d" % i for i in range(3)]
            answer = {}

            def append():
                answer["r"] = h.call(j, "JOURNAL_APPEND", {"events": [ev(k) for k in keys]},
                                     timeout=20000)

            node.proc.send_signal(signal.SIGSTOP)
            try:
                t = threading.Thread(target=append, daemon=True)
                t.start()
                time.sleep(2.5)
                assert "r" not in answer, "acknowledged while the server was frozen"
            finally:
                node.proc.send_signal(signal.SIGCONT)
            t.join(15)
            cmd, r = answer["r"]
            assert cmd == "JOURNAL_APPEND_OK", r
            assert r == {"offsets": [2, 3, 4], "duplicates": [False] * 3}
            assert "event=jetstream_resent" in h.log()
            stored = h.fetch_all()
            assert [e["key"] for e in stored] == ["first"] + keys
        finally:
            h.stop()
    finally:
        c.stop()
