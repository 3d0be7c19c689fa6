"""The journal's group commit (hark-journal(8), Group commit): a round
commits while the last one's fsync runs, and each reply waits for the
fdatasync that covers its round."""
import json
import threading

import zmq

from harness import WIRE


def ev(key, **payload):
    return {"type": "test.g", "key": key, "payload": payload}


def test_group_commit_is_on_at_full_and_off_at_normal(make_hark):
    full = make_hark(services=("journal",))
    normal = make_hark(services=("journal",), conf={"journal": {"synchronous": "normal"}})
    assert "group_commit=on" in full.log()
    assert "group_commit=off" in normal.log()
    for h in (full, normal):
        cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [ev("a"), ev("b")]})
        assert cmd == "JOURNAL_APPEND_OK" and r["offsets"] == [1, 2]
        assert [e["key"] for e in h.fetch_all()] == ["a", "b"]


def test_many_clients_in_flight_each_answered_once_and_every_answer_is_fetchable(make_hark):
    """8 clients with 25 appends each in flight at once: rounds overlap, yet
    every client gets one answer a request, with its own offsets, and a
    fetch sent after an answer already returns those offsets (the head
    moves before, never after, the answers of a round go)"""
    h = make_hark(services=("journal",))
    endpoint = h.endpoint("journal.sock")
    clients, per_client = 8, 25
    answers = {}
    errors = []
    lock = threading.Lock()

    def client(c):
        try:
            s = h.zctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(endpoint)
            for i in range(per_client):  # all sent before any answer is read
                body = {"events": [ev("c%d-%d" % (c, i), c=c, i=i), ev("shared-%d" % i)]}
                s.send_multipart([("%s JOURNAL_APPEND %d" % (WIRE, i + 1)).encode(),
                                  json.dumps(body).encode()])
            got = {}
            while len(got) < per_client:
                assert s.poll(20000), "client %d: %d answers of %d" % (c, len(got), per_client)
                hdr, body = s.recv_multipart()
                _, cmd, reqid = hdr.decode().split(" ")
                assert cmd == "JOURNAL_APPEND_OK", body
                assert int(reqid) not in got, "two answers to one request"
                got[int(reqid)] = json.loads(body)
                # fetched right after its answer: its own event is there
                own = got[int(reqid)]["offsets"][0]
                _, f = h.call(endpoint, "JOURNAL_FETCH", {"after": own - 1, "limit": 1})
                assert [e["offset"] for e in f["events"]] == [own]
                assert f["head"] >= max(got[int(reqid)]["offsets"])
            s.close()
            with lock:
                answers[c] = got
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = {e["key"]: e["offset"] for e in h.fetch_all()}
    assert len(stored) == clients * per_client + per_client
    for c, got in answers.items():
        for i in range(per_client):
            r = got[i + 1]
            assert r["offsets"][0] == stored["c%d-%d" % (c, i)]
            assert r["offsets"][1] == stored["shared-%d" % i]
    # each shared key stored once: exactly one of its appends was not a duplicate
    for i in range(per_client):
        firsts = [got[i + 1]["duplicates"][1] for got in answers.values()]
        assert firsts.count(False) == 1
