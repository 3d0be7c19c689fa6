"""hark-survey end to end: real journal, gateway, mailer and survey, a real
SMTP server, every invite parsed with Python's email package, and the
report read through `hark report nps --json`."""
import base64
import csv
import datetime
import io
import json
import os
import re
import time
import zoneinfo

import jsonschema
import pytest

from harness import ROOT, shop_conf, wait_for

SERVICES = ("journal", "gateway", "mailer", "survey")
STAFF = "staff@example.com"

with open(os.path.join(ROOT, "proto", "commands.json")) as _f:
    COMMANDS = {c["name"]: c for c in json.load(_f)["commands"]}


def check_message(cmd, body):
    jsonschema.Draft202012Validator(COMMANDS[cmd]["request"]).validate(body)


def survey_conf(port, **survey):
    conf = dict(shop_conf(port),
                survey={"delay": "2s", "window_hours": "0-24", "window_days": "all",
                        "alert_to": STAFF})
    conf["survey"].update(survey)
    return conf


@pytest.fixture
def survey(make_hark, smtp):
    h = make_hark(services=SERVICES, conf=survey_conf(smtp.port))
    yield h
    h.stop()


def buy(h, cid, email, order, locale="en", timezone=None, name="Anna"):
    cust = {"id": cid, "email": email, "name": name, "locale": locale}
    if timezone:
        cust["timezone"] = timezone
    st, body = h.post_events([{"type": "customer", "data": cust},
                              {"type": "purchase", "data": {"customer_id": cid, "order_id": order}}])
    assert st == 202, body
    return body["offsets"][1]


def append(h, type_, payload, key=None):
    key = key or "test/%s/%f" % (type_, time.time())
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND",
                    {"events": [{"type": type_, "key": key, "payload": payload}]})
    assert cmd == "JOURNAL_APPEND_OK", r


def answer(h, invite, score, comment=None):
    p = {"invite": invite, "score": score}
    if comment:
        p["comment"] = comment
    append(h, "survey.answered", p)


def report(h, *args):
    return json.loads(h.hark("report", "nps", "--json", *args).stdout)


def totals(h):
    return report(h)["totals"]


def to(msg):
    return msg["To"].addresses[0].addr_spec


def text(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def score_links(h, msg):
    """The eleven score links of an invite: {score: url}, all with one token."""
    html = msg.get_body(preferencelist=("html",)).get_content()
    base = "http://127.0.0.1:%d/s/" % h.port
    found = {}
    for url in re.findall(r'href="([^"]+)"', html):
        url = url.replace("&amp;", "&")
        if url.startswith(base):
            m = re.fullmatch(re.escape(base) + r"([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\?score=(\d+)", url)
            assert m, url
            found[int(m.group(2))] = m.group(1)
    assert sorted(found) == list(range(11)), found
    assert len(set(found.values())) == 1
    return found


def token_payload(token):
    """token = base64url(payload) "." base64url(mac); payload is
    invite \\n expires (unix s) \\n locale"""
    payload, mac = token.split(".")
    assert len(unb64(mac)) == 16
    invite, expires, locale = unb64(payload).decode().split("\n")
    return invite, int(expires), locale


def invites_of(smtp, address):
    return [m for m in smtp.messages() if to(m) == address]


def test_survey__purchase_brings_an_invite_after_the_delay_and_the_answer_shows_in_the_report(survey, smtp):
    t0 = time.monotonic()
    off = buy(survey, "c1", "Anna@Example.com", "o-1")
    (msg,) = smtp.wait_messages(1)
    assert time.monotonic() - t0 >= 1.9, "sent before the 2 s delay"
    assert to(msg) == "Anna@Example.com"
    assert "recommend" in str(msg["Subject"])
    assert "o-1" in text(msg)
    assert msg["List-Unsubscribe"]
    links = score_links(survey, msg)
    invite, expires, locale = token_payload(links[0])
    assert invite == "p%d" % off and locale == "en"
    assert abs(expires - (time.time() + 30 * 86400)) < 120
    # the mail request is keyed on the invite, and the mailer echoes it
    (req,) = survey.fetch_all(types=["mail.requested"])
    assert req["key"] == "survey/invite/" + invite
    assert req["payload"]["template"] == "nps_invite" and req["payload"]["category"] == "survey"
    wait_for(lambda: totals(survey)["delivered"] == 1, what="delivered counted")

    cmd, body = survey.call(survey.endpoint("survey.ctl"), "SURVEY_INVITE", {"invite": invite})
    assert cmd == "SURVEY_INVITE_OK", body
    check_message(cmd, body)
    assert body["status"] == "open" and body["campaign"] == "post-purchase"

    answer(survey, "nope", 10)          # unknown: ignored
    answer(survey, invite, 10)
    t = wait_for(lambda: (lambda t: t if t["responses"] == 1 else None)(totals(survey)),
                 what="the response")
    assert t["sent"] == 1 and t["promoters"] == 1 and t["nps"] == 100.0
    assert t["response_rate"] == 100.0 and t["comment_rate"] == 0.0
    r = report(survey, "--by", "week")
    check_message("SURVEY_REPORT_OK", r)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    monday = today - datetime.timedelta(days=today.weekday())
    assert [s["period"] for s in r["series"]] == [monday.isoformat()]   # a week is its Monday
    cmd, body = survey.call(survey.endpoint("survey.ctl"), "SURVEY_INVITE", {"invite": invite})
    check_message(cmd, body)
    assert body["status"] == "answered" and body["score"] == 10

    # the last answer counts: 10 -> 8 moves a promoter to the passives
    answer(survey, invite, 8)
    wait_for(lambda: totals(survey)["passives"] == 1, what="the changed score")
    t = totals(survey)
    assert (t["responses"], t["promoters"], t["passives"], t["nps"]) == (1, 0, 1, 0.0)
    out = survey.hark("report", "nps").stdout
    assert "NPS 0.0" in out and "responses 1" in out
    cmd, body = survey.call(survey.endpoint("survey.ctl"), "SURVEY_INVITE", {"invite": "nope"})
    assert cmd == "ERROR" and body["error"]["code"] == "not_found"
    cmd, body = survey.call(survey.endpoint("survey.ctl"), "SURVEY_REPORT", {"by": "year"},
                             valid=False)
    assert cmd == "ERROR"


def test_survey__answers_after_expiry_and_old_purchases_change_nothing(make_hark, smtp):
    h = make_hark(services=SERVICES, conf=survey_conf(smtp.port, delay="1s", expiry="3s"))
    off = buy(h, "c1", "late@example.com", "o-1")
    smtp.wait_messages(1)
    invite = "p%d" % off
    links = score_links(h, smtp.messages()[0])
    assert token_payload(links[5])[1] <= time.time() + 4
    wait_for(lambda: h.call(h.endpoint("survey.ctl"), "SURVEY_INVITE",
                            {"invite": invite})[1]["status"] == "expired", what="expiry")
    answer(h, invite, 10)
    # a purchase from long ago: its invite would have expired already
    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=10))
    st, body = h.post_events({"type": "purchase", "data": {
        "customer_id": "c1", "order_id": "o-old", "occurred_at": old.strftime("%Y-%m-%dT%H:%M:%SZ")}})
    assert st == 202
    off_old = body["offsets"][0]
    buy(h, "c2", "next@example.com", "o-2")     # applied after both: a marker
    wait_for(lambda: len(smtp.messages()) == 2, what="the marker's invite")
    cmd, r = h.call(h.endpoint("survey.ctl"), "SURVEY_INVITE", {"invite": "p%d" % off_old})
    check_message(cmd, r)
    assert r["status"] == "stale"
    t = totals(h)
    assert (t["sent"], t["responses"], t["throttled"]) == (2, 0, 0)
    h.stop()


def test_survey__second_purchase_within_throttle_sends_nothing(survey, smtp):
    buy(survey, "c1", "ola@example.pl", "o-1", locale="pl")
    smtp.wait_messages(1)
    buy(survey, "c1", "ola@example.pl", "o-2", locale="pl")
    buy(survey, "c2", "OLA@example.pl", "o-3")          # the same address, another customer
    wait_for(lambda: totals(survey)["throttled"] == 2, what="two throttled")
    # the same order again is not a new invite, nor counted
    st, _ = survey.post_events({"type": "purchase", "data": {"customer_id": "c1", "order_id": "o-1"}})
    assert st == 202
    buy(survey, "c9", "other@example.com", "o-9")         # shows the pipeline moved on
    wait_for(lambda: len(smtp.messages()) >= 2, what="the other invite")
    time.sleep(1)
    assert len(invites_of(smtp, "ola@example.pl")) == 1
    t = totals(survey)
    assert (t["sent"], t["throttled"]) == (2, 2)
    assert report(survey, "--by", "locale")["series"][1]["period"] == "pl"


def test_survey__unsubscribed_or_bounced_customer_gets_nothing(survey, smtp):
    append(survey, "mail.unsubscribed", {"address": "Gone@example.com", "via": "one-click"})
    append(survey, "mail.bounced", {"message": 1, "request_key": "x", "template": "test",
                                    "category": "survey", "attempts": 1, "code": 550,
                                    "error": "no such user", "address": "nobody@example.com"})
    buy(survey, "c1", "gone@example.com", "o-1")
    buy(survey, "c2", "nobody@example.com", "o-2")
    buy(survey, "c3", "here@example.com", "o-3")
    (msg,) = smtp.wait_messages(1)
    assert to(msg) == "here@example.com"
    wait_for(lambda: totals(survey)["suppressed"] == 2, what="two suppressed")
    time.sleep(1)
    assert len(smtp.messages()) == 1
    assert [e["payload"].get("customer_id") for e in survey.fetch_all(types=["mail.requested"])] == ["c3"]


def test_survey__send_window_is_kept_in_each_customers_time_zone(make_hark, smtp, tmp_path):
    waw, ny = zoneinfo.ZoneInfo("Europe/Warsaw"), zoneinfo.ZoneInfo("America/New_York")
    # every service's clock starts at the next 10:00 in Warsaw (HARK_CLOCK_FILE
    # adds an offset), and invites go out 10:00-12:00 local time
    real = datetime.datetime.now(datetime.timezone.utc)
    target = real.astimezone(waw).replace(hour=10, minute=0, second=0, microsecond=0)
    if target <= real:
        target += datetime.timedelta(days=1)
        target = target.replace(hour=10)          # the same wall time across a DST change
    offset = (target - real).total_seconds()
    clock = tmp_path / "clock"
    clock.write_text("%.3f" % offset)
    h = make_hark(services=SERVICES, conf=survey_conf(smtp.port, window_hours="10-12"), start=False)
    h.env["HARK_CLOCK_FILE"] = str(clock)
    h.start()
    buy(h, "w", "warsaw@example.com", "o-w", locale="pl", timezone="Europe/Warsaw")
    off_ny = buy(h, "n", "newyork@example.com", "o-n", timezone="America/New_York")
    (msg,) = smtp.wait_messages(1)
    assert to(msg) == "warsaw@example.com"
    # it is 04:00 or 05:00 in New York: that invite waits for 10:00 there
    cmd, body = h.call(h.endpoint("survey.ctl"), "SURVEY_INVITE", {"invite": "p%d" % off_ny})
    check_message(cmd, body)
    assert body["status"] == "scheduled"
    due = datetime.datetime.fromisoformat(body["due_at"].replace("Z", "+00:00"))
    assert due.astimezone(ny).replace(tzinfo=None) == \
        target.astimezone(ny).replace(hour=10, tzinfo=None)
    time.sleep(2.5)
    assert len(smtp.messages()) == 1
    # move the clock to just past the opening in New York
    clock.write_text("%.3f" % ((due - real).total_seconds() + 2))
    msgs = smtp.wait_messages(2)
    assert to(msgs[1]) == "newyork@example.com"
    h.stop()


def test_survey__reminder_is_sent_once_and_not_after_an_answer(make_hark, smtp):
    h = make_hark(services=SERVICES, conf=survey_conf(smtp.port, delay="1s", reminder="3s"))
    buy(h, "a", "quiet@example.com", "o-a")
    off_b = buy(h, "b", "quick@example.com", "o-b")
    smtp.wait_messages(2)
    answer(h, "p%d" % off_b, 9)
    wait_for(lambda: len(invites_of(smtp, "quiet@example.com")) == 2, what="the reminder")
    time.sleep(4)
    quiet = invites_of(smtp, "quiet@example.com")
    assert len(quiet) == 2
    assert "Got 10 seconds" in str(quiet[1]["Subject"])
    assert score_links(h, quiet[1]) == score_links(h, quiet[0])   # the same links
    assert len(invites_of(smtp, "quick@example.com")) == 1
    keys = sorted(e["key"] for e in h.fetch_all(types=["mail.requested"]))
    assert [k for k in keys if k.startswith("survey/reminder/")] == ["survey/reminder/p%d" % (off_b - 2)]
    h.stop()


def test_survey__detractor_alerts_staff_once_and_a_comment_becomes_feedback(survey, smtp):
    off = buy(survey, "c1", "sad@example.com", "o-77", name="Bob\r\nBcc: x@evil.example")
    smtp.wait_messages(1)
    invite = "p%d" % off
    answer(survey, invite, 3, comment="The box was *crushed* [x](https://evil.example)")
    msgs = smtp.wait_messages(2)
    alert = msgs[1]
    assert to(alert) == STAFF
    body = text(alert)
    assert "Bob" in body and "3" in str(alert["Subject"]) and "o-77" in body
    # the name reaches the subject, but never as a header of its own
    raw = smtp.raw()[1]
    assert b"\nBcc:" not in raw and alert["Bcc"] is None and "Bob" in str(alert["Subject"])
    assert "The box was *crushed* [x](https://evil.example)" in body
    html = alert.get_body(preferencelist=("html",)).get_content()
    assert "https://evil.example" not in re.findall(r'href="([^"]*)"', html)
    answer(survey, invite, 2)           # still a detractor: no second alert
    wait_for(lambda: totals(survey)["detractors"] == 1 and
             any(e["payload"]["score"] == 2 for e in survey.fetch_all(types=["survey.answered"])),
             what="the second answer")
    time.sleep(1.5)
    assert len(smtp.messages()) == 2
    tail = survey.hark("tail", "--from", "0", "--type", "feedback.given").stdout
    (fb,) = [json.loads(line) for line in tail.splitlines() if line.strip()]
    p = fb["payload"] if "payload" in fb else fb
    assert p["source"] == "nps" and p["score"] == 3 and p["invite"] == invite
    assert p["customer_id"] == "c1" and p["text"].startswith("The box was")
    t = totals(survey)
    assert (t["responses"], t["detractors"], t["comments"], t["nps"]) == (1, 1, 1, -100.0)


def test_survey__csv_exports_every_response_with_hostile_comments_kept_as_text(survey, smtp):
    offs = [buy(survey, "c%d" % i, "c%d@example.com" % i, "o-%d" % i, locale=loc)
            for i, loc in enumerate(("en", "pl", "ru"))]
    smtp.wait_messages(3)
    comments = ['Slow, but "fine"\nreally', "=HYPERLINK(\"https://evil.example\")", None]
    for off, score, comment in zip(offs, (9, 4, 7), comments):
        answer(survey, "p%d" % off, score, comment)
    wait_for(lambda: totals(survey)["responses"] == 3, what="three responses")
    cmd, body = survey.call(survey.endpoint("survey.ctl"), "SURVEY_RESPONSES", {"limit": 2})
    check_message(cmd, body)
    assert len(body["responses"]) == 2
    out = survey.hark("report", "nps", "--csv").stdout
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [r["invite"] for r in rows] == ["p%d" % o for o in offs]
    assert [r["score"] for r in rows] == ["9", "4", "7"]
    assert rows[0]["comment"] == comments[0] and rows[0]["email"] == "c0@example.com"
    assert rows[1]["comment"] == "'" + comments[1]          # never a formula
    assert rows[2]["comment"] == "" and rows[2]["locale"] == "ru"
    assert all(r["campaign"] == "post-purchase" and r["answered_at"].endswith("Z") for r in rows)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    later = (today + datetime.timedelta(days=1)).isoformat()
    out = survey.hark("report", "nps", "--csv", "--from", later).stdout
    assert out.splitlines() == ["invite,campaign,customer_id,email,locale,order_id,score,comment,answered_at"]


def test_survey__kill_9_while_invites_are_pending_sends_each_exactly_once(make_hark, smtp):
    h = make_hark(services=SERVICES, conf=survey_conf(smtp.port, delay="3s"))
    n = 30
    st, _ = h.post_events([e for i in range(n) for e in (
        {"type": "customer", "data": {"id": "k%d" % i, "email": "k%d@example.com" % i}},
        {"type": "purchase", "data": {"customer_id": "k%d" % i, "order_id": "ok%d" % i}})])
    assert st == 202
    assert h.kill_for("survey", 8, 0.7) >= 3
    msgs = smtp.wait_messages(n, timeout=60)
    time.sleep(3)
    msgs = smtp.messages()
    assert sorted(to(m) for m in msgs) == sorted("k%d@example.com" % i for i in range(n))
    keys = [e["key"] for e in h.fetch_all(types=["mail.requested"])]
    assert len(keys) == len(set(keys)) == n
    wait_for(lambda: totals(h)["sent"] == n, what="every invite counted once")
    h.stop()


def test_survey__check_config_names_file_and_line_of_a_bad_window_or_zone(make_hark):
    h = make_hark(services=SERVICES, conf={"survey": {"window_hours": "20-9", "window_days": "mon-xyz",
                                                      "default_timezone": "Mars/Olympus"}},
                  start=False)
    r = h.hark("check-config", check=False)
    assert r.returncode == 1
    lines = open(h.config).read().splitlines()
    for key in ("window_hours", "window_days", "default_timezone"):
        n = next(i for i, line in enumerate(lines, 1) if line.startswith(key + " ="))
        assert "%s:%d: [survey] %s: " % (h.config, n, key) in r.stderr, r.stderr
    assert "3 errors" in r.stderr


def test_survey__forged_ids_stay_values_in_one_log_line_of_their_own(survey):
    # a customer id and an order id written to forge a journal error line
    # and to add keys to the survey's own line
    forged_cid = "m1\nts=2026-12-07T00:00:00.000Z svc=journal level=error event=FORGED_LINE"
    forged_order = "o1 level=error event=FORGED_KEY"
    buy(survey, forged_cid, "m1@example.com", forged_order)
    wait_for(lambda: "event=invite_" in survey.log(), 20, what="the invite logged")
    log = survey.log()
    for line in log.splitlines():
        assert not line.startswith("ts=2026-12-07T00:00:00.000Z"), line
        assert "svc=journal level=error event=FORGED_LINE" not in line.split('"')[0], line
    line = [l for l in log.splitlines() if "event=invite_" in l][0]
    assert 'order="o1 level=error event=FORGED_KEY"' in line
    assert line.count(" level=") == 2 and line.index(" level=info ") < line.index("order=")
