"""proto/ is the contract: the schemas are valid, what the processes send
matches them, and the gateway's C validator agrees with Python's jsonschema."""
import datetime
import glob
import json
import os
import re
import zoneinfo

import jsonschema
import pytest
import zmq

from harness import ROOT, wait_for

PROTO = os.path.join(ROOT, "proto")


def load(path):
    with open(path) as f:
        return json.load(f)


EVENT_SCHEMAS = {os.path.basename(p)[:-5]: load(p) for p in glob.glob(os.path.join(PROTO, "events", "*.json"))}
COMMANDS = {c["name"]: c for c in load(os.path.join(PROTO, "commands.json"))["commands"]}

# Hark's own formats, checked here independently of the C code.
fc = jsonschema.FormatChecker()


@fc.checks("date")
def _date(s):
    try:
        return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", s)) and datetime.date.fromisoformat(s) is not None
    except ValueError:
        return False


@fc.checks("date-time")
def _dt(s):
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", s):
        return False
    try:
        datetime.datetime.fromisoformat(s.upper().replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


@fc.checks("birthday")
def _birthday(s):
    if s.startswith("--"):
        return _date("2000" + s[1:])
    return _date(s)


@fc.checks("timezone")
def _tz(s):
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", s) or ".." in s or s.startswith("/") or s == "localtime":
        return False
    try:
        zoneinfo.ZoneInfo(s)
        return True
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False


@fc.checks("email")
def _email(s):
    return bool(re.fullmatch(r"[^@\s<>,]+@[^@\s<>,]+\.[^@\s<>,]+", s)) and len(s) <= 254


@fc.checks("locale")
def _locale(s):
    return bool(re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|\d{3}))?", s))


@fc.checks("currency")
def _currency(s):
    return bool(re.fullmatch(r"[A-Z]{3}", s))


@fc.checks("duration")
def _duration(s):
    return bool(re.fullmatch(r"[1-9]\d{0,9}[smhdw]", s))


def validator(schema):
    return jsonschema.Draft202012Validator(schema, format_checker=fc)


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


def check_message(cmd, body):
    validator(COMMANDS[cmd]["request"]).validate(body)


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
        check_message(cmd, body) if cmd != "JOURNAL_FETCH" or isinstance(body["after"], int) else None
        reply, rbody = h.call(ep, cmd, body)
        check_message(reply, rbody)
        seen[reply] = rbody
    assert set(seen) == {"JOURNAL_APPEND_OK", "JOURNAL_FETCH_OK", "ERROR", "SERVICE_STATUS_OK",
                         "HARKD_STATUS_OK"}
    assert sub.poll(5000)
    hdr, body = sub.recv_multipart()
    check_message(hdr.decode().split()[1], json.loads(body))
    sub.close()
    h.stop()


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
