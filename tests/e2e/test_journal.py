"""The journal over its own ZeroMQ sockets: append, fetch, hints, strictness."""
import json
import time

import zmq

from harness import WIRE

V = WIRE.encode()


def ev(key, type_="test.x", **payload):
    return {"type": type_, "key": key, "payload": payload}


def test_append_replies_offsets_and_marks_duplicates(hark):
    cmd, r = hark.call(hark.endpoint("journal.sock"), "JOURNAL_APPEND",
                       {"events": [ev("k1", n=1), ev("k1", n=2), ev("k2")]})
    assert cmd == "JOURNAL_APPEND_OK"
    assert r["offsets"][0] == r["offsets"][1] and r["offsets"][2] == r["offsets"][0] + 1
    assert r["duplicates"] == [False, True, False]
    stored = hark.fetch_all()
    assert [e["payload"] for e in stored] == [{"n": 1}, {}]


def test_fetch_filters_types_and_moves_next_past_the_rest(hark):
    hark.call(hark.endpoint("journal.sock"), "JOURNAL_APPEND",
              {"events": [ev("a", "test.a"), ev("b", "test.b"), ev("c", "test.a"), ev("d", "test.b")]})
    cmd, r = hark.call(hark.endpoint("journal.sock"), "JOURNAL_FETCH",
                       {"after": 0, "types": ["test.b"]})
    assert [e["key"] for e in r["events"]] == ["b", "d"]
    assert r["next"] == r["head"] == 4
    cmd, r = hark.call(hark.endpoint("journal.sock"), "JOURNAL_FETCH", {"after": 1, "limit": 2})
    assert [e["offset"] for e in r["events"]] == [2, 3]
    assert r["next"] == 3


def test_malformed_requests_get_errors_and_the_journal_keeps_serving(hark):
    s = hark.zctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(hark.endpoint("journal.sock"))
    s.send_multipart([V + b" JOURNAL_APPEND 5", b"not json"])
    hdr, body = s.recv_multipart()
    assert hdr == V + b" ERROR 5" and json.loads(body)["error"]["code"] == "bad_request"
    s.send_multipart([V + b" JOURNAL_APPEND 6", json.dumps({"events": [{"type": "x"}]}).encode()])
    hdr, body = s.recv_multipart()
    assert hdr == V + b" ERROR 6" and "event 0" in json.loads(body)["error"]["message"]
    s.send_multipart([V + b" NO_SUCH 7", b"{}"])
    assert s.recv_multipart()[0] == V + b" ERROR 7"
    # wrong version and extra frames are dropped, not answered or guessed at
    s.send_multipart([b"hark/9 JOURNAL_FETCH 8", b'{"after":0}'])
    s.send_multipart([V + b" JOURNAL_FETCH 9", b'{"after":0}', b"extra"])
    s.send_multipart([V + b" JOURNAL_FETCH 10", b'{"after":0}'])
    hdr, body = s.recv_multipart()
    assert hdr == V + b" JOURNAL_FETCH_OK 10"
    s.close()
    assert "event=bad_message" in hark.log()


def test_each_commit_is_announced_on_the_pub_socket(hark):
    sub = hark.zctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, V + b" JOURNAL_HEAD")
    sub.connect(hark.endpoint("journal.pub"))
    time.sleep(0.3)  # a late joiner misses messages: that is why it is only a hint
    hark.call(hark.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [ev("p1"), ev("p2")]})
    assert sub.poll(5000)
    hdr, body = sub.recv_multipart()
    assert hdr.startswith(V + b" JOURNAL_HEAD ")
    assert json.loads(body) == {"head": 2}
    sub.close()


def test_events_survive_a_journal_restart(hark):
    hark.call(hark.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [ev("r1"), ev("r2")]})
    old = hark.kill("journal")
    from harness import wait_for
    wait_for(lambda: hark.pid("journal") not in (0, old), what="journal restarted")
    wait_for(lambda: hark.service("journal").get("answering"), what="journal answering")
    assert [e["key"] for e in hark.fetch_all()] == ["r1", "r2"]
    cmd, r = hark.call(hark.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [ev("r3")]})
    assert r["offsets"] == [3]
