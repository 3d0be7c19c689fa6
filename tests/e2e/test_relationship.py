"""Relationship (scheduled) campaigns end to end: a campaign saved through
the admin API or `hark campaign set` runs at its start (and every period
after), invites the segment's customers spread over a period, through the
real mailer to a real SMTP server.  Time moves with the fake clock
(HARK_CLOCK_FILE), so days pass in a second."""
import datetime
import json
import os
import signal
import time

import pytest

from harness import wait_for
import test_survey as ts
from test_campaigns import admin, campaign, put

UTC = datetime.timezone.utc


class Clock:
    """The services' clock: real time plus the offset in the file."""

    def __init__(self, path):
        self.path = path
        self.offset = 0.0
        path.write_text("0")

    def now(self):
        return datetime.datetime.now(UTC) + datetime.timedelta(seconds=self.offset)

    def at(self, when):
        self.offset = (when - datetime.datetime.now(UTC)).total_seconds()
        self.path.write_text("%.3f" % self.offset)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def rid(camp, run, cid):
    """A relationship invite's id: r + FNV-1a 64 of campaign, run, customer (NULs between)."""
    h = 14695981039346656037
    for part in (camp, str(run), cid):
        for b in part.encode() + b"\0":
            h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "r%016x" % h


def start_with_clock(make_hark, smtp, tmp_path, **survey):
    clock = Clock(tmp_path / "clock")
    h = make_hark(services=ts.SERVICES, conf=ts.survey_conf(smtp.port, **survey), start=False)
    h.env["HARK_CLOCK_FILE"] = str(clock.path)
    h.start()
    return h, clock


def customers(h, rows, now):
    """rows: (id, email or None, locale, attributes, days since the last purchase or None)"""
    events = []
    for cid, email, locale, attrs, days in rows:
        c = {"id": cid, "locale": locale, "attributes": attrs}
        if email:
            c["email"] = email
        events.append({"type": "customer", "data": c})
        if days is not None:
            events.append({"type": "purchase", "data": {
                "customer_id": cid, "order_id": "o-" + cid,
                "occurred_at": iso(now - datetime.timedelta(days=days))}})
    st, body = h.post_events(events)
    assert st == 202, body
    wait_for(lambda: ((h.service("survey") or {}).get("cursor") or 0) >= body["offsets"][-1],
             what="hark-survey to apply the customers")


def invite(h, iid):
    return h.call(h.endpoint("survey.ctl"), "SURVEY_INVITE", {"invite": iid})


def runs_of(h, cid):
    return campaign(h, cid).get("runs")


def test_relationship__the_segment_picks_locale_attributes_and_recent_buyers_spread_over_the_period(
        make_hark, smtp, tmp_path):
    h, clock = start_with_clock(make_hark, smtp, tmp_path)
    put(h, "post-purchase", delay="2s", enabled=False)     # purchases ask nothing here
    now = clock.now()
    customers(h, [("a", "a@example.com", "en", {"tier": "gold"}, 1),
                  ("b", "b@example.com", "pl", {"tier": "gold"}, 1),        # locale
                  ("c", "c@example.com", "en-GB", {"tier": "gold", "n": 3}, 2),
                  ("d", "d@example.com", "en", {"tier": "silver"}, 1),      # attribute
                  ("e", "e@example.com", "en", {"tier": "gold"}, None),     # never bought
                  ("f", "f@example.com", "en", {"tier": "gold"}, 100),      # too long ago
                  ("g", None, "en", {"tier": "gold"}, 1),                   # no address
                  ("h", "A@Example.com", "en", {"tier": "gold"}, 1)], now)  # a's address
    start = (now + datetime.timedelta(hours=1)).replace(second=0, microsecond=0)
    put(h, "quarterly", kind="relationship", start=iso(start), spread="3d",
        segment={"locales": ["en"], "attributes": {"tier": "gold"}, "purchased_within": "90d"})
    q = campaign(h, "quarterly")
    assert q["kind"] == "relationship" and q["runs"] == 0 and parse(q["next_run"]) == start
    assert "delay" not in q and "sample_rate" not in q
    time.sleep(1.5)
    assert smtp.messages() == [] and runs_of(h, "quarterly") == 0   # not before its time

    clock.at(start + datetime.timedelta(seconds=2))
    (msg,) = smtp.wait_messages(1)
    assert ts.to(msg) == "a@example.com"
    assert "order" not in ts.text(msg)                    # a relationship invite has no order
    links = ts.score_links(h, msg)
    assert ts.token_payload(links[0])[0] == rid("quarterly", 1, "a")
    st, _, page = h.request("GET", "/s/%s?score=9" % links[9])   # the survey page knows it
    assert st == 200 and b"<form" in page
    wait_for(lambda: runs_of(h, "quarterly") == 1, what="the run")
    q = campaign(h, "quarterly")
    assert q["last_run"]["selected"] == 2 and q["last_run"]["scheduled"] == 2
    assert parse(q["last_run"]["at"]) == start and q["next_run"] is None   # once: no every
    # the second of two is due half way through the three days
    cmd, body = invite(h, rid("quarterly", 1, "c"))
    assert cmd == "SURVEY_INVITE_OK" and body["status"] == "scheduled", body
    assert parse(body["due_at"]) == start + datetime.timedelta(days=1.5)
    for other in "bdefgh":  # h shares a's address: one invite per address
        assert invite(h, rid("quarterly", 1, other))[0] == "ERROR"
    clock.at(start + datetime.timedelta(days=1.4))
    time.sleep(1.5)
    assert len(smtp.messages()) == 1
    clock.at(start + datetime.timedelta(days=1.5, seconds=2))
    msgs = smtp.wait_messages(2)
    assert ts.to(msgs[1]) == "c@example.com"
    # answers and reports are the post-purchase ones
    ts.answer(h, rid("quarterly", 1, "a"), 10)
    wait_for(lambda: ts.report(h, "--campaign", "quarterly")["totals"]["responses"] == 1,
             what="the answer in the report")
    t = ts.report(h, "--campaign", "quarterly")["totals"]
    assert (t["sent"], t["promoters"], t["nps"]) == (2, 1, 100.0)
    time.sleep(1.5)
    assert len(smtp.messages()) == 2
    h.stop()


def test_relationship__repeats_after_every_and_the_throttle_holds_across_campaigns(
        make_hark, smtp, tmp_path):
    h, clock = start_with_clock(make_hark, smtp, tmp_path, throttle="3d")
    now = clock.now()
    customers(h, [("a", "a@example.com", "en", {}, None), ("b", "b@example.com", "en", {}, 0)],
              now)
    (pp,) = smtp.wait_messages(1)                          # b's post-purchase invite
    assert ts.to(pp) == "b@example.com"
    start = (now + datetime.timedelta(hours=1)).replace(second=0, microsecond=0)
    put(h, "weekly", kind="relationship", start=iso(start), every="1w")
    clock.at(start + datetime.timedelta(seconds=2))
    msgs = smtp.wait_messages(2)
    assert ts.to(msgs[1]) == "a@example.com"               # b: invited an hour ago
    wait_for(lambda: runs_of(h, "weekly") == 1, what="the first run")
    w = campaign(h, "weekly")
    assert (w["last_run"]["scheduled"], w["last_run"]["throttled"]) == (1, 1)
    assert parse(w["next_run"]) == start + datetime.timedelta(weeks=1)
    assert ts.report(h, "--campaign", "weekly")["totals"]["throttled"] == 1
    listed = h.hark("campaign", "list").stdout
    assert "every 1w" in listed and "1 runs so far" in listed

    clock.at(start + datetime.timedelta(weeks=1, seconds=2))
    msgs = smtp.wait_messages(4)
    assert sorted(ts.to(m) for m in msgs[2:]) == ["a@example.com", "b@example.com"]
    wait_for(lambda: runs_of(h, "weekly") == 2, what="the second run")
    w = campaign(h, "weekly")
    assert parse(w["next_run"]) == start + datetime.timedelta(weeks=2)
    assert w["counts"] == {"sent": 3, "throttled": 1}
    time.sleep(1.5)
    assert len(smtp.messages()) == 4
    h.stop()


def test_relationship__kill_9_around_a_run_invites_each_customer_once(make_hark, smtp):
    h = make_hark(services=ts.SERVICES, conf=ts.survey_conf(smtp.port))
    put(h, "post-purchase", delay="2s", enabled=False)
    n = 40
    customers(h, [("k%02d" % i, "k%02d@example.com" % i, "en", {}, None) for i in range(n)],
              datetime.datetime.now(UTC))
    put(h, "all", kind="relationship",
        start=iso(datetime.datetime.now(UTC) + datetime.timedelta(seconds=3)))
    assert h.kill_for("survey", 6, 0.5) >= 3
    smtp.wait_messages(n, timeout=60)
    time.sleep(2)
    assert sorted(ts.to(m) for m in smtp.messages()) == ["k%02d@example.com" % i for i in range(n)]
    keys = [e["key"] for e in h.fetch_all(types=["mail.requested"])]
    assert len(keys) == len(set(keys)) == n
    assert runs_of(h, "all") == 1
    h.stop()


def test_relationship__bad_fields_get_a_400_naming_them_and_the_cli_sets_a_segment(h):
    t = "2030-01-06T09:00:00Z"
    rel = {"kind": "relationship", "start": t}
    bad = [({"kind": "relationship"}, "start"),
           (dict(rel, start="tomorrow"), "start"),
           (dict(rel, every="2x"), "every"),
           (dict(rel, every="0w"), "every"),
           (dict(rel, spread="3 days"), "spread"),
           (dict(rel, segment={"purchased_within": "soon"}), "segment.purchased_within"),
           (dict(rel, segment={"colour": "red"}), "segment"),
           (dict(rel, segment={"locales": ["english!"]}), "segment.locales[0]"),
           (dict(rel, delay="2s"), "delay"),
           (dict(rel, products=["TEA-1"]), "products"),
           ({"delay": "2s", "every": "2w"}, "every"),
           ({"delay": "2s", "start": t}, "start")]
    for body, field in bad:
        st, r = admin(h, "PUT", "/v1/campaigns/x", body)
        assert st == 400 and r["error"]["field"].startswith(field), (body, r)
    assert ts_saved(h) == []
    r = h.hark("campaign", "set", "nl", "kind=relationship", "start=" + t, "every=3mo",
               "spread=2d", "segment.locales=en,pl", "segment.attributes.tier=gold",
               "segment.purchased_within=90d")
    assert "saved" in r.stdout
    shown = json.loads(h.hark("campaign", "show", "nl").stdout)
    assert (shown["kind"], shown["start"], shown["every"], shown["spread"]) == \
        ("relationship", t, "3mo", "2d")
    assert shown["segment"] == {"locales": ["en", "pl"], "attributes": {"tier": "gold"},
                                "purchased_within": "90d"}
    assert parse(shown["next_run"]) == parse(t) and shown["runs"] == 0
    bad = h.hark("campaign", "set", "nl", "delay=2s", check=False)
    assert bad.returncode == 2 and "delay" in bad.stderr
    bad = h.hark("campaign", "set", "nl", "every=fortnightly", check=False)
    assert bad.returncode == 2 and "every" in bad.stderr
    h.hark("campaign", "set", "nl", "every=", "segment.attributes.tier=")
    shown = json.loads(h.hark("campaign", "show", "nl").stdout)
    assert "every" not in shown and shown["segment"] == {"locales": ["en", "pl"],
                                                         "purchased_within": "90d"}


def ts_saved(h):
    out = h.hark("tail", "--from", "0", "--type", "campaign.saved").stdout
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def h(make_hark, smtp):
    inst = make_hark(services=ts.SERVICES, conf=ts.survey_conf(smtp.port))
    yield inst
    inst.stop()


def test_relationship__a_run_waits_for_the_journal_backlog_so_no_customer_is_missed(
        make_hark, smtp, tmp_path):
    """hark-survey was paused (or down) while customers arrived and the run's
    time passed: the run selects from every customer journaled before it,
    not only from the first batch the consumer happened to apply."""
    h, clock = start_with_clock(make_hark, smtp, tmp_path)
    put(h, "post-purchase", delay="2s", enabled=False)
    now = clock.now()
    start = (now + datetime.timedelta(hours=1)).replace(second=0, microsecond=0)
    put(h, "late", kind="relationship", start=iso(start), spread="30d")  # nothing mailed yet
    wait_for(lambda: campaign(h, "late").get("runs") == 0, what="the campaign")
    pid = h.kill("survey", signal.SIGSTOP)
    try:
        n = 1200                                       # more than one consumer batch (500)
        for k in range(0, n, 400):
            st, body = h.post_events([{"type": "customer", "data": {
                "id": "c%04d" % i, "email": "c%04d@example.com" % i, "locale": "en"}}
                for i in range(k, k + 400)])
            assert st == 202, body
        clock.at(start + datetime.timedelta(seconds=2))
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: runs_of(h, "late") == 1, what="the run", timeout=60)
    assert campaign(h, "late")["last_run"]["selected"] == n
    h.stop()
