"""POST /v1/events and /healthz over real HTTP, into a real journal."""
import json
import os
import signal

from harness import wait_for

CUSTOMER = {"type": "customer", "data": {"id": "c1", "email": "anna@example.com", "name": "Anna",
                                         "locale": "pl-PL", "timezone": "Europe/Warsaw",
                                         "birthday": "--02-29", "signup_date": "2024-01-31"}}
PURCHASE = {"type": "purchase", "data": {"customer_id": "c1", "order_id": "o-1",
                                         "occurred_at": "2026-11-20T10:00:00+01:00",
                                         "amount": 49.9, "currency": "PLN",
                                         "items": [{"sku": "tea-1", "quantity": 2, "price": 24.95}]}}


def test_single_event_is_accepted_and_lands_in_the_journal(hark):
    st, body = hark.post_events(CUSTOMER)
    assert st == 202, body
    assert body["accepted"] == 1 and len(body["offsets"]) == 1
    events = hark.fetch_all()
    assert [e["offset"] for e in events] == body["offsets"]
    assert events[0]["type"] == "customer"
    assert events[0]["payload"] == CUSTOMER["data"]


def test_batch_gets_offsets_in_order_and_purchase_time_is_kept(hark):
    st, body = hark.post_events([CUSTOMER, PURCHASE])
    assert st == 202, body
    a, b = body["offsets"]
    assert b == a + 1
    ev = {e["offset"]: e for e in hark.fetch_all()}
    assert ev[b]["type"] == "purchase"
    assert ev[b]["occurred_at"] == "2026-11-20T10:00:00+01:00"


def test_invalid_event_in_batch_names_field_and_index_and_stores_nothing(hark):
    bad = {"type": "customer", "data": {"id": "c2", "email": "not-an-address"}}
    st, body = hark.post_events([CUSTOMER, bad, PURCHASE])
    assert st == 400
    assert body["error"]["index"] == 1
    assert body["error"]["field"] == "data.email"
    assert "data.email" in body["error"]["message"]
    assert hark.fetch_all() == []


def test_missing_required_field_is_named(hark):
    st, body = hark.post_events({"type": "purchase", "data": {"customer_id": "c1"}})
    assert st == 400
    assert body["error"]["field"] == "data.order_id"


def test_unknown_type_is_rejected_with_its_name(hark):
    st, body = hark.post_events({"type": "refund", "data": {}})
    assert st == 400
    assert body["error"]["code"] == "unknown_type"
    assert body["error"]["field"] == "type"
    assert '"refund"' in body["error"]["message"] and "purchase" in body["error"]["message"]


def test_bad_timezone_and_impossible_birthday_are_rejected(hark):
    st, body = hark.post_events({"type": "customer", "data": {"id": "c", "timezone": "Mars/Olympus"}})
    assert st == 400 and body["error"]["field"] == "data.timezone"
    st, body = hark.post_events({"type": "customer", "data": {"id": "c", "birthday": "2023-02-29"}})
    assert st == 400 and body["error"]["field"] == "data.birthday"


def test_unknown_field_in_envelope_or_data_is_rejected(hark):
    st, body = hark.post_events({"type": "customer", "data": {"id": "c", "emial": "x@y.z"}})
    assert st == 400 and body["error"]["field"] == "data.emial"
    st, body = hark.post_events({"type": "customer", "dat": {}, "data": {"id": "c"}})
    assert st == 400 and body["error"]["field"] == "dat"


def test_customer_text_with_nul_is_rejected(hark):
    st, body = hark.post_events({"type": "customer", "data": {"id": "c", "name": "A\u0000B"}})
    assert st == 400 and body["error"]["code"] == "invalid_json"
    assert "\\u0000" in body["error"]["message"]
    assert hark.fetch_all() == []


def test_invalid_json_is_a_400_naming_the_position(hark):
    st, body = hark.post_events(None, raw=b'{"type": "customer", ')
    assert st == 400 and body["error"]["code"] == "invalid_json"
    assert "line 1" in body["error"]["message"]


def test_wrong_or_missing_key_is_401_and_stores_nothing(hark):
    st, body = hark.post_events(CUSTOMER, key="wrong")
    assert st == 401 and body["error"]["code"] == "unauthorized"
    st, body = hark.post_events(CUSTOMER, key=False)
    assert st == 401
    st, body = hark.post_events(CUSTOMER, key=hark.admin_key)
    assert st == 401
    assert hark.fetch_all() == []


def test_wrong_content_type_is_415(hark):
    st, body = hark.post_events(CUSTOMER, content_type="text/plain")
    assert st == 415 and body["error"]["field"] == "Content-Type"


def test_more_than_1000_events_is_413(hark):
    st, body = hark.post_events([CUSTOMER] * 1001)
    assert st == 413 and body["error"]["code"] == "too_many_events"
    assert hark.fetch_all() == []


def test_oversized_body_is_413_with_or_without_content_length(make_hark):
    h = make_hark(conf={"gateway": {"max_body": "64k"}})
    big = {"type": "customer", "data": {"id": "c", "attributes": {"x": "y" * 70000}}}
    st, body = h.post_events(big)
    assert st == 413 and body["error"]["code"] == "body_too_large"
    # chunked upload: no Content-Length to refuse early on
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30)
    payload = json.dumps(big).encode()
    conn.putrequest("POST", "/v1/events")
    conn.putheader("Authorization", "Bearer " + h.ingest_key)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for i in range(0, len(payload), 8192):
        chunk = payload[i:i + 8192]
        conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    conn.send(b"0\r\n\r\n")
    r = conn.getresponse()
    assert r.status == 413
    conn.close()
    assert h.fetch_all() == []
    h.stop()


def test_same_idempotency_key_twice_stores_once(hark):
    st1, b1 = hark.post_events([CUSTOMER, PURCHASE], idem="batch-42")
    st2, b2 = hark.post_events([CUSTOMER, PURCHASE], idem="batch-42")
    assert st1 == st2 == 202
    assert b1["offsets"] == b2["offsets"]
    assert b1["duplicates"] == [False, False] and b2["duplicates"] == [True, True]
    assert len(hark.fetch_all()) == 2


def test_event_id_makes_a_retry_safe(hark):
    ev = dict(CUSTOMER, id="evt-1")
    b = [hark.post_events(ev)[1] for _ in range(3)]
    assert b[0]["offsets"] == b[1]["offsets"] == b[2]["offsets"]
    assert len(hark.fetch_all()) == 1


def test_without_key_or_id_a_repost_is_a_new_event(hark):
    hark.post_events(CUSTOMER)
    hark.post_events(CUSTOMER)
    assert len(hark.fetch_all()) == 2


def test_bad_idempotency_key_is_400(hark):
    st, body = hark.post_events(CUSTOMER, idem="has space")
    assert st == 400 and body["error"]["field"] == "Idempotency-Key"


def test_unknown_path_is_404_and_wrong_method_is_405(hark):
    st, _, body = hark.request("GET", "/nope")
    assert st == 404 and json.loads(body)["error"]["code"] == "not_found"
    st, hdrs, _ = hark.request("GET", "/v1/events")
    assert st == 405 and hdrs.get("Allow") == "POST"


def test_healthz_reports_a_dead_service_with_503(make_hark):
    h = make_hark(conf={"harkd": {"restart_min": "60s", "restart_max": "60s"}})
    st, _, body = h.request("GET", "/healthz")
    assert st == 200 and json.loads(body)["services"]["journal"]["up"] is True
    h.kill("journal")
    wait_for(lambda: h.request("GET", "/healthz")[0] == 503, what="healthz 503")
    st, _, body = h.request("GET", "/healthz")
    assert json.loads(body)["services"]["journal"]["up"] is False
    assert json.loads(body)["status"] == "degraded"
    h.stop(check=False)


def test_healthz_is_503_until_the_gateway_reaches_the_journal(make_hark):
    # a gateway without a journal: every post would be a 503, so /healthz
    # must not say 200 (it did, and a test posting right after start raced
    # the gateway's connection to the journal)
    h = make_hark(services=("gateway",), start=False).start(wait=False)

    def answered():
        try:
            return h.request("GET", "/healthz", timeout=5)
        except OSError:
            return None
    wait_for(answered, timeout=30, what="healthz answers")
    st, hdrs, body = answered()
    assert st == 503 and hdrs.get("Retry-After"), body
    gw = json.loads(body)["services"]["gateway"]
    assert gw == {"up": False, "journal_connected": False}
    st, body = h.post_events(CUSTOMER)
    assert st == 503 and body["error"]["code"] == "journal_unavailable"
    h.stop(check=False)


def test_after_a_journal_restart_healthz_200_means_a_post_is_taken(make_hark):
    h = make_hark(conf={"harkd": {"restart_min": "100ms", "restart_max": "100ms"}})
    for i in range(3):
        old = h.kill("journal")
        wait_for(lambda: h.pid("journal") not in (0, old), timeout=30, what="journal restarted")
        wait_for(lambda: h.request("GET", "/healthz")[0] == 200, timeout=30, what="healthz 200")
        st, body = h.post_events(CUSTOMER, idem="after-restart-%d" % i)
        assert st == 202, body
    h.stop(check=False)


def test_503_when_the_journal_is_down_and_nothing_is_lost_after(make_hark):
    h = make_hark(conf={"harkd": {"restart_min": "3s", "restart_max": "3s"},
                        "gateway": {"journal_timeout": "500ms"}})
    h.kill("journal")
    st, body = h.post_events(CUSTOMER, idem="retry-me")
    assert st == 503 and body["error"]["code"] == "journal_unavailable"
    wait_for(lambda: h.post_events(CUSTOMER, idem="retry-me")[0] == 202, timeout=30,
             what="journal back")
    assert len(h.fetch_all()) == 1
    h.stop(check=False)


def test_addresses_the_mailer_cannot_use_are_a_400_naming_the_field(hark):
    # each got a 202 once and then became mail.skipped for ever
    for addr in ["a;b@example.com", "a(c)@example.com", "a:b@example.com", "a\\b@example.com",
                 "a@[127.0.0.1]", "a@exa[]mple.com", "\u00e4@example.com"]:
        st, body = hark.post_events({"type": "customer", "data": {"id": "c", "email": addr}})
        assert st == 400, addr
        assert body["error"]["field"] == "data.email", addr
    st, body = hark.post_events({"type": "customer", "data": {"id": "c", "email": "o'brien+x@mail.example.ie"}})
    assert st == 202
    assert [e["payload"]["email"] for e in hark.fetch_all()] == ["o'brien+x@mail.example.ie"]
