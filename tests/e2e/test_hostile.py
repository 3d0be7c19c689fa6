"""The gateway under hostile clients: answers that say whether to retry,
exact per-address limits, strict forms and headers."""
import json
import socket
import threading

import zmq

from harness import wait_for


def _nested(depth):
    """an attributes value nesting objects depth levels deep"""
    v = {}
    for _ in range(depth - 1):
        v = {"a": v}
    return v


def _customer(attributes):
    return {"type": "customer", "data": {"id": "deep", "email": "deep@example.com",
                                         "attributes": attributes}}


def test_too_deep_data_is_a_400_naming_the_field_not_a_503(hark):
    # 2,044 levels passed the gateway once and the journal refused them:
    # the client got 503 journal_unavailable and retried for ever
    deep = '{"a":' * 2043 + '{}' + '}' * 2043  # too deep for Python's json
    raw = json.dumps(_customer("X")).replace('"X"', deep).encode()
    st, body = hark.post_events(None, raw=raw)
    assert st == 400, body
    assert body["error"]["code"] == "too_deep"
    assert body["error"]["field"].startswith("data.attributes.a.a")
    assert "32 levels" in body["error"]["message"]
    assert hark.fetch_all() == []


def test_the_depth_limit_is_one_number_and_what_it_allows_is_stored(hark):
    # data is level 1, attributes level 2: 30 more still fit in 32
    st, body = hark.post_events(_customer(_nested(31)))
    assert st == 202, body
    st, body = hark.post_events(_customer(_nested(32)))
    assert st == 400 and body["error"]["code"] == "too_deep", body
    events = hark.fetch_all()
    assert len(events) == 1 and events[0]["payload"]["attributes"] == _nested(31)


def test_too_deep_admin_body_is_a_400(hark):
    st, _, body = hark.request("PUT", "/v1/campaigns/deep", _nested(40),
                               {"Authorization": "Bearer " + hark.admin_key,
                                "Content-Type": "application/json"})
    assert st == 400, body
    assert json.loads(body)["error"]["code"] == "too_deep"


def test_every_503_says_when_to_retry(make_hark):
    h = make_hark(conf={"harkd": {"restart_min": "60s", "restart_max": "60s"},
                        "gateway": {"journal_timeout": "500ms"}})
    h.kill("journal")
    wait_for(lambda: h.request("GET", "/healthz")[0] == 503, what="healthz 503")
    st, hdrs, _ = h.request("GET", "/healthz")
    assert st == 503 and hdrs.get("Retry-After", "").isdigit()
    st, hdrs, body = h.request("POST", "/v1/events", _customer({}),
                               {"Authorization": "Bearer " + h.ingest_key,
                                "Content-Type": "application/json"})
    assert st == 503 and json.loads(body)["error"]["code"] == "journal_unavailable"
    assert hdrs.get("Retry-After", "").isdigit()
    h.stop(check=False)



def _raw(h, data):
    """send raw bytes, read until the server closes: (status, headers text, body)"""
    s = socket.create_connection(("127.0.0.1", h.port), timeout=10)
    try:
        s.sendall(data)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode("latin-1"), body


def test_duplicate_or_conflicting_content_length_is_a_400_and_stores_nothing(hark):
    body = json.dumps(_customer({})).encode()
    for lengths in ((len(body), 2), (2, len(body)), (len(body), len(body))):
        req = (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Authorization: Bearer " + hark.ingest_key.encode() + b"\r\n" +
               b"".join(b"Content-Length: %d\r\n" % n for n in lengths) + b"\r\n" + body)
        st, head, data = _raw(hark, req)
        assert st == 400, (lengths, head)
        err = json.loads(data)["error"]
        assert err["field"] == "Content-Length", err
        assert "connection: close" in head.lower()
    assert hark.fetch_all() == []
    # one Content-Length is fine
    st, _ = hark.post_events(_customer({}))
    assert st == 202


def test_a_refusal_by_the_journal_is_a_500_and_only_what_a_retry_fixes_is_a_503(make_hark,
                                                                                tmp_path):
    # a stand-in journal that refuses every append, first as malformed
    # (permanent), then as "could not store now" (store_failed: retry)
    ep = "ipc://%s/fake-journal" % tmp_path
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(ep)
    codes = ["bad_request", "store_failed"]

    def serve():
        for code in codes:
            ident, hdr, _ = router.recv_multipart()
            wire, _, reqid = hdr.decode().split(" ")
            router.send_multipart([ident, ("%s ERROR %s" % (wire, reqid)).encode(), json.dumps(
                {"error": {"code": code, "message": "refused on purpose"}}).encode()])

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    h = make_hark(services=("gateway",), conf={"journal": {"endpoint": ep}})
    try:
        hdrs_body = [h.request("POST", "/v1/events", _customer({}),
                               {"Authorization": "Bearer " + h.ingest_key,
                                "Content-Type": "application/json"}) for _ in codes]
        (st1, hd1, b1), (st2, hd2, b2) = hdrs_body
        assert st1 == 500 and json.loads(b1)["error"]["code"] == "journal_refused", b1
        assert "Retry-After" not in hd1
        assert st2 == 503 and json.loads(b2)["error"]["code"] == "journal_unavailable", b2
        assert hd2.get("Retry-After", "").isdigit()
    finally:
        t.join(5)
        router.close()
        h.stop(check=False)
