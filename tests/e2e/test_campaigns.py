"""Survey campaigns end to end: the admin API (PUT/GET /v1/campaigns) and
`hark campaign`, journaled as campaign.saved, applied by hark-survey, with
the real mailer and an aiosmtpd server."""
import json
import os
import signal
import time

import jsonschema
import pytest

from harness import ROOT, wait_for
import test_survey as ts

SERVICES = ts.SERVICES


@pytest.fixture
def h(make_hark, smtp):
    inst = make_hark(services=SERVICES, conf=ts.survey_conf(smtp.port))
    yield inst
    inst.stop()


def admin(h, method, path, body=None, key=None):
    hdrs = {"Authorization": "Bearer " + (key or h.admin_key)}
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    st, _, data = h.request(method, path, body, hdrs)
    return st, json.loads(data) if data else None


def put(h, cid, **campaign):
    st, body = admin(h, "PUT", "/v1/campaigns/" + cid, campaign)
    assert st == 202, body
    assert body["id"] == cid and body["offset"] > 0
    # 202 means journaled; reads go to hark-survey, which applies it a moment later
    wait_for(lambda: ((h.service("survey") or {}).get("cursor") or 0) >= body["offset"],
             what="hark-survey to apply campaign.saved")
    return body


def campaign(h, cid):
    st, body = admin(h, "GET", "/v1/campaigns/" + cid)
    assert st == 200, body
    return body


def buy(h, cid, email, order, skus):
    st, body = h.post_events([
        {"type": "customer", "data": {"id": cid, "email": email, "locale": "en"}},
        {"type": "purchase", "data": {"customer_id": cid, "order_id": order,
                                      "items": [{"sku": s, "quantity": 1} for s in skus]}}])
    assert st == 202, body


def saved_events(h):
    out = h.hark("tail", "--from", "0", "--type", "campaign.saved").stdout
    return [json.loads(line) for line in out.splitlines()]


def test_campaigns__products_choose_the_purchases_and_tail_shows_the_audit_trail(h, smtp):
    assert campaign(h, "post-purchase")["source"] == "config"
    # the shipped campaign follows [survey] until a change arrives; then the event wins
    put(h, "post-purchase", delay="2s", enabled=False)
    pp = campaign(h, "post-purchase")
    assert pp["source"] == "admin" and pp["enabled"] is False and pp["by"] == "api"
    put(h, "tea", delay="2s", products=["TEA-1"])
    buy(h, "c1", "tea@example.com", "o-tea", ["TEA-1", "MUG-2"])
    buy(h, "c2", "mug@example.com", "o-mug", ["MUG-2"])
    (msg,) = smtp.wait_messages(1)
    assert ts.to(msg) == "tea@example.com"
    time.sleep(3)
    assert [ts.to(m) for m in smtp.messages()] == ["tea@example.com"]
    tea = campaign(h, "tea")
    assert tea["products"] == ["TEA-1"] and tea["sample_rate"] == 1 and tea["kind"] == "post_purchase"
    wait_for(lambda: campaign(h, "tea")["counts"].get("sent") == 1, what="tea's invite counted")
    st, body = admin(h, "GET", "/v1/campaigns")
    assert st == 200 and [c["id"] for c in body["campaigns"]] == ["post-purchase", "tea"]
    for c in body["campaigns"]:
        ts.check_message("SURVEY_CAMPAIGNS_OK", {"campaigns": [c]})
    assert admin(h, "GET", "/v1/campaigns/nope")[0] == 404
    trail = saved_events(h)
    assert [(e["payload"]["id"], e["payload"]["by"]) for e in trail] == [
        ("post-purchase", "api"), ("tea", "api")]


def test_campaigns__the_first_matching_campaign_in_id_order_asks_once(h, smtp):
    put(h, "post-purchase", delay="2s", enabled=False)
    put(h, "b-everything", delay="2s")
    put(h, "a-tea", delay="2s", products=["tea-1"])  # SKUs match ignoring case
    buy(h, "t1", "t1@example.com", "o-t1", ["TEA-1"])
    buy(h, "m1", "m1@example.com", "o-m1", ["MUG-2"])
    msgs = smtp.wait_messages(2)
    time.sleep(2)
    assert sorted(ts.to(m) for m in smtp.messages()) == ["m1@example.com", "t1@example.com"]
    wait_for(lambda: campaign(h, "a-tea")["counts"] == {"sent": 1}
             and campaign(h, "b-everything")["counts"] == {"sent": 1}, what="one invite each")
    assert len(msgs) == 2


def test_campaigns__priority_orders_them_and_one_that_can_never_invite_is_told(h, smtp):
    put(h, "post-purchase", delay="2s")  # every purchase, priority 100 (the default)
    st, body = admin(h, "PUT", "/v1/campaigns/tea-lovers", {"delay": "2s", "products": ["tea-1"]})
    assert st == 202, body
    (w,) = body["warnings"]
    assert w["code"] == "never_invites" and w["because"] == "post-purchase"
    assert w["field"] == "priority" and "smaller priority" in w["message"]
    wait_for(lambda: campaign(h, "tea-lovers").get("never_invites") == {"because": "post-purchase"},
             what="the list to say tea-lovers never invites")
    assert campaign(h, "post-purchase")["priority"] == 100
    assert "never_invites" not in campaign(h, "post-purchase")
    listing = h.hark("campaign", "list").stdout
    assert "never invites anyone: post-purchase" in listing
    # a warning on the command line too, and the way out
    r = h.hark("campaign", "set", "tea-lovers", "delay=3s")
    assert "can never invite anyone" in r.stderr and "priority=99" in r.stderr
    r = h.hark("campaign", "set", "tea-lovers", "priority=10")
    assert "never" not in r.stderr, r.stderr
    wait_for(lambda: campaign(h, "tea-lovers").get("priority") == 10, what="priority applied")
    assert "never_invites" not in campaign(h, "tea-lovers")
    buy(h, "t1", "t1@example.com", "o-t1", ["TEA-1"])
    buy(h, "m1", "m1@example.com", "o-m1", ["MUG-2"])
    smtp.wait_messages(2)
    wait_for(lambda: campaign(h, "tea-lovers")["counts"] == {"sent": 1}
             and campaign(h, "post-purchase")["counts"] == {"sent": 1},
             what="tea to tea-lovers, the mug to post-purchase")
    # a product list inside an earlier one's is shadowed too; a bad priority is a 400
    st, body = admin(h, "PUT", "/v1/campaigns/green-tea",
                     {"delay": "2s", "products": ["TEA-1"], "priority": 50})
    assert st == 202 and body["warnings"][0]["because"] == "tea-lovers"
    for bad in (0, 1001, "1", 2.5):
        st, r = admin(h, "PUT", "/v1/campaigns/x", {"delay": "2s", "priority": bad})
        assert st == 400 and r["error"]["field"] == "priority", (bad, r)
    assert h.hark("campaign", "set", "x", "priority=0", check=False).returncode == 2


def test_campaigns__sample_rate_0_and_disabled_campaigns_send_nothing(h, smtp):
    put(h, "post-purchase", delay="2s", sample_rate=0)
    for i in range(5):
        buy(h, "s%d" % i, "s%d@example.com" % i, "o-s%d" % i, ["TEA-1"])
    wait_for(lambda: campaign(h, "post-purchase")["counts"].get("sampled_out") == 5,
             what="five purchases sampled out, counted")
    put(h, "post-purchase", delay="2s", enabled=False)
    buy(h, "d1", "d1@example.com", "o-d1", ["TEA-1"])
    time.sleep(4)
    assert smtp.messages() == []
    assert campaign(h, "post-purchase")["counts"] == {"sampled_out": 5}


def test_campaigns__only_the_admin_key_and_a_400_names_the_field(h):
    for key in (h.ingest_key, "wrong"):
        st, body = admin(h, "PUT", "/v1/campaigns/x", {"delay": "2s"}, key=key)
        assert st == 401 and body["error"]["field"] == "Authorization"
        assert admin(h, "GET", "/v1/campaigns", key=key)[0] == 401
    bad = [({"delay": "soon"}, "delay"),
           ({"delay": "2s", "kind": "relationship"}, "start"),
           ({"delay": "2s", "kind": "weekly"}, "kind"),
           ({"delay": "2s", "sample_rate": 1.5}, "sample_rate"),
           ({"delay": "2s", "sample_rate": "half"}, "sample_rate"),
           ({"delay": "2s", "reminder": "3x"}, "reminder"),
           ({"delay": "2s", "window_hours": "20-9"}, "window_hours"),
           ({"delay": "2s", "window_days": "mon-xyz"}, "window_days"),
           ({"delay": "2s", "id": "other"}, "id")]
    for body, field in bad:
        st, r = admin(h, "PUT", "/v1/campaigns/x", body)
        assert st == 400 and r["error"]["field"] == field, (body, r)
    st, r = admin(h, "PUT", "/v1/campaigns/x", {"delay": "2s", "kind": "relationship"})
    assert "start is required" in r["error"]["message"]
    st, r = admin(h, "PUT", "/v1/campaigns/Bad_Id", {"delay": "2s"})
    assert st == 400 and r["error"]["field"] == "id"
    st, hdrs, _ = h.request("DELETE", "/v1/campaigns/x", None,
                            {"Authorization": "Bearer " + h.admin_key})
    assert st == 405 and hdrs["Allow"] == "GET, PUT"
    assert saved_events(h) == []


def test_campaigns__cli_set_changes_one_setting_and_campaigns_survive_a_restart(h, smtp):
    put(h, "tea", delay="2h", products=["TEA-1", "TEA-2"], sample_rate=0.25)
    r = h.hark("campaign", "set", "tea", "delay=90s", "enabled=false")
    assert "saved by cli:" in r.stdout
    tea = campaign(h, "tea")
    assert tea["delay"] == "90s" and tea["enabled"] is False
    assert tea["products"] == ["TEA-1", "TEA-2"] and tea["sample_rate"] == 0.25
    assert tea["by"].startswith("cli:")
    shown = json.loads(h.hark("campaign", "show", "tea").stdout)
    assert shown["delay"] == "90s"
    assert "tea" in h.hark("campaign", "list").stdout
    bad = h.hark("campaign", "set", "tea", "delay=soon", check=False)
    assert bad.returncode == 2 and "delay" in bad.stderr
    trail = saved_events(h)
    assert [e["payload"]["by"][:4] for e in trail] == ["api", "cli:"]
    assert trail[1]["payload"]["delay"] == "90s" and trail[0]["payload"]["delay"] == "2h"
    pid = h.kill("survey", signal.SIGKILL)
    wait_for(lambda: h.pid("survey") not in (0, pid), what="hark-survey restarted")
    wait_for(lambda: h.hark("campaign", "show", "tea", check=False).returncode == 0,
             what="hark-survey answering")
    assert campaign(h, "tea") == tea
    # and without survey.db at all, a replay of the journal rebuilds them
    h.stop()
    for f in os.listdir(h.state):
        if f.startswith("survey.db"):
            os.remove(os.path.join(h.state, f))
    h.start()
    wait_for(lambda: h.hark("campaign", "show", "tea", check=False).returncode == 0,
             what="tea replayed")
    assert campaign(h, "tea") == tea
    assert campaign(h, "post-purchase")["source"] == "config"


def test_campaigns__gateway_and_jsonschema_agree_and_every_change_stored_matches(h):
    with open(os.path.join(ROOT, "proto", "events", "campaign.saved.json")) as f:
        schema = jsonschema.Draft202012Validator(json.load(f))
    bodies = [{"delay": "0"}, {"delay": "500ms", "window_hours": "0-24", "window_days": "all"},
              {"delay": "7d", "products": [], "sample_rate": 0, "reminder": "3d", "expiry": "30d"},
              {"delay": "1w", "enabled": False, "kind": "post_purchase", "sample_rate": 0.001},
              {}, {"delay": ""}, {"delay": "7 d"}, {"delay": "2s", "products": [""]},
              {"delay": "2s", "products": "TEA-1"}, {"delay": "2s", "sample_rate": -0.1},
              {"delay": "2s", "enabled": "yes"}, {"delay": "2s", "colour": "red"},
              {"delay": "2s", "window_hours": "nine"}, {"delay": "2s", "expiry": None}]
    disagreements = []
    for i, body in enumerate(bodies):
        full = dict({"kind": "post_purchase", "enabled": True}, **body, id="c%d" % i, by="api")
        st, r = admin(h, "PUT", "/v1/campaigns/c%d" % i, body)
        if (st == 202) != schema.is_valid(full) or st not in (202, 400):
            disagreements.append((body, st, r))
    assert disagreements == []
    trail = saved_events(h)
    assert len(trail) == 4
    for e in trail:
        schema.validate(e["payload"])


def test_campaigns__x_hark_actor_names_who_changed_it_and_a_bad_one_is_a_400(h):
    """The admin key is shared: a team's tool says who acts in X-Hark-Actor,
    and the journal's audit trail keeps it (by "api:<name>"; "api" without)."""
    hdrs = {"Authorization": "Bearer " + h.admin_key, "Content-Type": "application/json"}
    st, _, data = h.request("PUT", "/v1/campaigns/vip", {"delay": "1d"},
                            dict(hdrs, **{"X-Hark-Actor": "eva@shop.example"}))
    assert st == 202, data
    for bad in ("", "eva smith", "x" * 65, "eva\u00e9".encode().decode("latin-1")):
        st, _, data = h.request("PUT", "/v1/campaigns/vip2", {"delay": "1d"},
                                dict(hdrs, **{"X-Hark-Actor": bad}))
        assert st == 400, (bad, data)
        assert json.loads(data)["error"]["field"] == "X-Hark-Actor"
    st, _, data = h.request("PUT", "/v1/campaigns/vip3", {"delay": "1d"}, hdrs)
    assert st == 202, data
    by = {e["payload"]["id"]: e["payload"]["by"] for e in saved_events(h)}
    assert by == {"vip": "api:eva@shop.example", "vip3": "api"}
