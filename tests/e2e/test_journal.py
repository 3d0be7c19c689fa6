"""The journal over its own ZeroMQ sockets: append, fetch, hints, strictness."""
import json
import time

import pytest
import zmq

from harness import WIRE


@pytest.fixture(params=["sqlite", "jetstream"])
def engine(request):
    """every test here against both of the journal's engines"""
    return request.param


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
    s.send_multipart([b"hark/1 JOURNAL_FETCH 8", b'{"after":0}'])
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


def test_batches_are_taken_or_refused_each_on_its_own(hark):
    """One message, three batches, the middle one bad: the others are stored,
    the bad one is told what a request of its own would have been told, and
    nothing of it is stored."""
    j = hark.endpoint("journal.sock")
    bad = [ev("b1"), {"type": "test.x", "key": "b2"}, ev("b3")]  # event 1 has no payload
    cmd, alone = hark.call(j, "JOURNAL_APPEND", {"events": bad}, valid=False)
    assert cmd == "ERROR"
    cmd, r = hark.call(j, "JOURNAL_APPEND", {"batches": [
        {"events": [ev("a1", n=1), ev("a2")]}, {"events": bad}, {"events": [ev("c1")]}]},
        valid=False)
    assert cmd == "JOURNAL_APPEND_OK", r
    first, middle, last = r["results"]
    assert first == {"offsets": [1, 2], "duplicates": [False, False]}
    assert middle["error"]["code"] == alone["error"]["code"] == "bad_request"
    assert middle["error"]["message"] == alone["error"]["message"]
    assert middle["error"]["message"].startswith("event 1: ") and middle["error"]["index"] == 1
    assert last == {"offsets": [3], "duplicates": [False]}
    stored = hark.fetch_all()
    assert [(e["offset"], e["key"]) for e in stored] == [(1, "a1"), (2, "a2"), (3, "c1")]
    assert stored[0]["payload"] == {"n": 1}


def test_a_batch_the_fast_reader_leaves_to_jansson_keeps_its_place(hark):
    """A batch whose key has an escape (not taken by the one-pass reader) is
    stored in its order among the others: offsets follow the batches."""
    j = hark.endpoint("journal.sock")
    cmd, r = hark.call(j, "JOURNAL_APPEND", {"batches": [
        {"events": [ev("x1")]}, {"events": [ev("x\u00e92"), ev("x\n3")]}, {"events": [ev("x4")]}]})
    assert cmd == "JOURNAL_APPEND_OK", r
    assert [b["offsets"] for b in r["results"]] == [[1], [2, 3], [4]]
    assert [e["key"] for e in hark.fetch_all()] == ["x1", "x\u00e92", "x\n3", "x4"]


def test_keys_are_deduplicated_across_batches_as_across_requests(hark):
    j = hark.endpoint("journal.sock")
    hark.call(j, "JOURNAL_APPEND", {"events": [ev("old", n=0)]})
    cmd, r = hark.call(j, "JOURNAL_APPEND", {"batches": [
        {"events": [ev("k", n=1), ev("u1")]},
        {"events": [ev("old", n=9), ev("k", n=2)]},
        {"events": [ev("k", n=3)]}]})
    assert cmd == "JOURNAL_APPEND_OK", r
    one, two, three = r["results"]
    assert one == {"offsets": [2, 3], "duplicates": [False, False]}
    assert two == {"offsets": [1, 2], "duplicates": [True, True]}
    assert three == {"offsets": [2], "duplicates": [True]}
    assert [(e["key"], e["payload"]) for e in hark.fetch_all()] == [
        ("old", {"n": 0}), ("k", {"n": 1}), ("u1", {})]
    # the same as two requests in one round would be told: the second is the duplicate
    cmd, r = hark.call(j, "JOURNAL_APPEND", {"events": [ev("k", n=4)]})
    assert r == {"offsets": [2], "duplicates": [True]}


def test_a_bad_batches_envelope_is_refused_as_a_whole(hark):
    j = hark.endpoint("journal.sock")
    one = {"events": [ev("e1")]}
    for body in ({"batches": []}, {"batches": one}, {"batches": [one, 5]},
                 {"batches": [one], "events": one["events"]}, {"batches": [one], "x": 1}):
        cmd, r = hark.call(j, "JOURNAL_APPEND", body, valid=False)
        assert cmd == "ERROR", body
        assert r["error"]["code"] == "bad_request" and '"batches"' in r["error"]["message"], r
    # a batch with a key of its own is judged like a body with one
    cmd, r = hark.call(j, "JOURNAL_APPEND", {"batches": [one, {"events": [ev("e2")], "x": 1}]},
                       valid=False)
    assert cmd == "JOURNAL_APPEND_OK"
    assert r["results"][0] == {"offsets": [1], "duplicates": [False]}
    assert r["results"][1]["error"]["code"] == "bad_request" and "index" not in r["results"][1]["error"]
    assert [e["key"] for e in hark.fetch_all()] == ["e1"]
    # more batches than one message may carry
    many = {"batches": [{"events": [ev("m%d" % i)]} for i in range(4097)]}
    cmd, r = hark.call(j, "JOURNAL_APPEND", many, valid=False)
    assert cmd == "ERROR" and '"batches"' in r["error"]["message"] and "4096" in r["error"]["message"]
    # every batch refused: answered all the same, nothing stored, the journal serves on
    cmd, r = hark.call(j, "JOURNAL_APPEND", {"batches": [{"events": []}, {"events": [{"key": "z"}]}]},
                       valid=False)
    assert cmd == "JOURNAL_APPEND_OK"
    assert [b["error"]["code"] for b in r["results"]] == ["bad_request", "bad_request"]
    assert r["results"][1]["error"]["index"] == 0
    cmd, r = hark.call(j, "JOURNAL_APPEND", {"events": [ev("e3")]})
    assert r["offsets"] == [2]
    assert [e["key"] for e in hark.fetch_all()] == ["e1", "e3"]


def test_batches_over_max_batch_are_refused_whole_but_one_batch_is_not(make_hark):
    h = make_hark(services=("journal",), conf={"journal": {"max_batch": "3"}})
    j = h.endpoint("journal.sock")
    cmd, r = h.call(j, "JOURNAL_APPEND", {"batches": [
        {"events": [ev("m1"), ev("m2")]}, {"events": [ev("m3"), ev("m4")]}]})
    assert cmd == "ERROR" and r["error"]["code"] == "bad_request"
    assert '"batches"' in r["error"]["message"] and "max_batch" in r["error"]["message"]
    assert h.fetch_all() == []
    cmd, r = h.call(j, "JOURNAL_APPEND", {"batches": [{"events": [ev("m%d" % i) for i in range(5)]}]})
    assert cmd == "JOURNAL_APPEND_OK" and r["results"][0]["offsets"] == [1, 2, 3, 4, 5]
    cmd, r = h.call(j, "JOURNAL_APPEND", {"batches": [{"events": [ev("n1")]}, {"events": [ev("n2")]}]})
    assert cmd == "JOURNAL_APPEND_OK" and [b["offsets"] for b in r["results"]] == [[6], [7]]
