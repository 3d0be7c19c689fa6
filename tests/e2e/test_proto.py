"""proto/ is the contract: the schemas are valid, what the processes send
matches them, and the gateway's C validator agrees with Python's jsonschema."""
import glob
import os

import jsonschema
import pytest
import zmq

from contract import COMMANDS, EVENT_SCHEMAS, PROTO, WIRE, check_frames, check_message, load, validator
from harness import ROOT, wait_for


@pytest.mark.parametrize("name", sorted(EVENT_SCHEMAS))
def test_event_schema_is_a_valid_json_schema(name):
    jsonschema.Draft202012Validator.check_schema(EVENT_SCHEMAS[name])
    assert "x-hark" in EVENT_SCHEMAS[name], "say who produces %s and whether it is ingested" % name


def test_command_schemas_are_valid_and_every_command_is_used_in_code():
    sources = ""
    for p in glob.glob(os.path.join(ROOT, "services", "**", "*.c"), recursive=True):
        with open(p) as f:
            sources += f.read()
    for name, c in COMMANDS.items():
        jsonschema.Draft202012Validator.check_schema(c["request"])
        assert "CMD_" + name in sources, name + " is specified but no code uses it"
    jsonschema.Draft202012Validator.check_schema(load(os.path.join(PROTO, "envelope.json")))


def test_every_reply_on_the_wire_matches_its_schema(make_hark):
    h = make_hark(services=("journal", "gateway", "counter"))
    h.post_events({"type": "customer", "data": {"id": "c1"}})
    sub = h.zctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(h.endpoint("journal.pub"))
    import time
    time.sleep(0.3)
    j = h.endpoint("journal.sock")
    seen = {}
    for cmd, body, ep in [
        ("JOURNAL_APPEND", {"events": [{"type": "test.x", "key": "k", "payload": {"a": 1}}]}, j),
        ("JOURNAL_FETCH", {"after": 0, "limit": 10}, j),
        ("JOURNAL_FETCH", {"after": "x"}, j),
        ("SERVICE_STATUS", {}, h.endpoint("journal.ctl")),
        ("SERVICE_STATUS", {}, h.endpoint("gateway.ctl")),
        ("SERVICE_STATUS", {}, h.endpoint("counter.ctl")),
        ("HARKD_STATUS", {}, h.endpoint("harkd.ctl")),
    ]:
        valid = cmd != "JOURNAL_FETCH" or isinstance(body["after"], int)
        reply, rbody = h.call(ep, cmd, body, valid=valid)  # the harness checks both
        seen[reply] = rbody
    assert set(seen) == {"JOURNAL_APPEND_OK", "JOURNAL_FETCH_OK", "ERROR", "SERVICE_STATUS_OK",
                         "HARKD_STATUS_OK"}
    assert sub.poll(5000)
    cmd, body = check_frames(sub.recv_multipart(), expect={"JOURNAL_HEAD"})
    assert body["head"] >= 1
    sub.close()
    h.stop()


def test_the_harness_refuses_messages_that_break_the_contract(hark):
    """Every call() checks its request and its reply: a test cannot send
    or accept what proto/commands.json forbids without failing."""
    j = hark.endpoint("journal.sock")
    with pytest.raises(AssertionError, match="request breaks"):
        hark.call(j, "JOURNAL_FETCH", {"after": 0, "colour": "red"})
    with pytest.raises(AssertionError, match="not in proto"):
        hark.call(j, "JOURNAL_FROB", {})
    with pytest.raises(AssertionError, match="meant to be invalid is valid"):
        hark.call(j, "JOURNAL_FETCH", {"after": 0}, valid=False)
    hdr = ("%s JOURNAL_FETCH_OK 7" % WIRE).encode()
    with pytest.raises(AssertionError, match="reply breaks"):
        check_frames([hdr, b'{"events": [], "next": 0}'], 7)
    with pytest.raises(AssertionError, match="request id"):
        check_frames([hdr, b'{"events": [], "next": 0, "head": 0}'], 8)
    with pytest.raises(AssertionError, match="frames"):
        check_frames([hdr, b"{}", b"extra"])
    with pytest.raises(AssertionError, match="bad header"):
        check_frames([b"hark/0 JOURNAL_FETCH_OK 7", b'{"events": [], "next": 0, "head": 0}'])
    with pytest.raises(AssertionError, match="expected one of"):
        check_frames([hdr, b'{"events": [], "next": 0, "head": 0}'], 7, {"ERROR"})
    cmd, body = check_frames([hdr, b'{"events": [], "next": 0, "head": 0}'], 7, {"JOURNAL_FETCH_OK"})
    assert (cmd, body["head"]) == ("JOURNAL_FETCH_OK", 0)
    cmd, body = hark.call(j, "JOURNAL_FETCH", {"after": "x"}, valid=False)
    assert cmd == "ERROR" and body["error"]["code"] == "bad_request"


GOOD = {
    "customer": [{"id": "c1"},
                 {"id": "c2", "email": "ola@example.pl", "name": "Ола", "locale": "be",
                  "timezone": "America/Argentina/Buenos_Aires", "birthday": "1990-02-28",
                  "signup_date": "2020-02-29", "attributes": {"tier": "gold"}},
                 {"id": "c3", "birthday": "--02-29", "locale": "zh-Hans-CN", "timezone": "UTC"}],
    "purchase": [{"customer_id": "c1", "order_id": "o1"},
                 {"customer": {"id": "c9", "email": "x@y.example"}, "order_id": "o2",
                  "amount": 0, "currency": "EUR", "occurred_at": "2026-01-01T00:00:00.5-03:30",
                  "items": [{"sku": "a", "quantity": 1, "price": 1.5, "name": "Чай"}]}],
    "complaint": [{"customer_id": "c1", "text": "Посылка пришла мятой"},
                  {"customer_id": "c1", "reason_code": "shipping_delay", "channel": "email"}],
    "cancellation": [{"customer": {"id": "c1"}, "reason_code": "price", "order_id": "o1"}],
}
BAD = {
    "customer": [{}, {"id": ""}, {"id": "c", "email": "no-at"}, {"id": "c", "email": "a@b"},
                 {"id": "c", "locale": "english"}, {"id": "c", "timezone": "../../etc/passwd"},
                 {"id": "c", "timezone": "Europe/Nowhere"}, {"id": "c", "birthday": "--13-01"},
                 {"id": "c", "birthday": "2023-02-29"}, {"id": "c", "signup_date": "2024-1-1"},
                 {"id": "c", "name": "x" * 201}, {"id": 5}, {"id": "c", "extra": 1},
                 {"id": "c", "attributes": {"k%d" % i: i for i in range(51)}}],
    "purchase": [{"order_id": "o"}, {"customer_id": "c", "customer": {"id": "c"}, "order_id": "o"},
                 {"customer_id": "c", "order_id": "o", "amount": -1},
                 {"customer_id": "c", "order_id": "o", "currency": "eur"},
                 {"customer_id": "c", "order_id": "o", "occurred_at": "yesterday"},
                 {"customer_id": "c", "order_id": "o", "items": [{"quantity": 1}]},
                 {"customer_id": "c", "order_id": "o", "items": [{"sku": "a", "quantity": 0}]}],
    "complaint": [{"customer_id": "c"}, {"customer_id": "c", "reason_code": "Bad-Code"},
                  {"customer_id": "c", "text": "x" * 10001}],
    "cancellation": [{"reason_code": "price"}],
}


def test_gateway_and_python_jsonschema_agree_on_every_example(hark):
    disagreements = []
    for verdict, corpus in ((True, GOOD), (False, BAD)):
        for type_, examples in corpus.items():
            v = validator(EVENT_SCHEMAS[type_])
            for data in examples:
                py_ok = v.is_valid(data)
                assert py_ok == verdict, "example is mislabelled: %s %s" % (type_, data)
                st, body = hark.post_events({"type": type_, "data": data})
                if (st == 202) != py_ok:
                    disagreements.append((type_, data, st, body))
    assert disagreements == []


def test_stored_events_match_their_schemas(hark):
    for type_, examples in GOOD.items():
        st, _ = hark.post_events([{"type": type_, "data": d} for d in examples])
        assert st == 202
    events = hark.fetch_all()
    assert len(events) == sum(len(x) for x in GOOD.values())
    for e in events:
        validator(EVENT_SCHEMAS[e["type"]]).validate(e["payload"])
        check_message("JOURNAL_FETCH_OK", {"events": [e], "next": 1, "head": 1})
