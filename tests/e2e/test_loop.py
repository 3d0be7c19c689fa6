"""hark-loop end to end: real journal, gateway, mailer and loop, a real SMTP
server, every email parsed with Python's email package.

hark-intake (which tags feedback with reason codes) is not on this branch:
these tests put its feedback.tagged events into the journal directly, over
ZeroMQ (JOURNAL_APPEND to the journal's endpoint), exactly as
proto/events/feedback.tagged.json describes them.  Likewise the survey
events the NPS part of the report reads (hark-survey's mail.requested for
its invites, survey.answered) and mail.unsubscribed / mail.bounced.  A
full-chain test through hark-intake belongs after the merge."""
import datetime
import json
import os
import re
import signal
import time

import jsonschema

from harness import ROOT, shop_conf, wait_for

SERVICES = ("journal", "gateway", "mailer", "loop")
REASON = "slow_delivery"
ANNOUNCEMENT = ("We moved to a **new courier**: orders now arrive in 2 days.\n\n"
                "- tracking for every parcel\n- [see the details](https://shop.example/shipping)\n")
INJECTION = ("<script>alert(1)</script> **bold** [x](javascript:alert(1))\n"
             "# heading\n<img src=x onerror=alert(2)> took three weeks")

with open(os.path.join(ROOT, "proto", "commands.json")) as _f:
    COMMANDS = {c["name"]: c for c in json.load(_f)["commands"]}


def schema(type_):
    with open(os.path.join(ROOT, "proto", "events", type_ + ".json")) as f:
        return jsonschema.Draft202012Validator(json.load(f),
                                               format_checker=jsonschema.FormatChecker())


def loop_conf(port=None, **loop):
    return dict(shop_conf(port), loop=dict(loop))


def append(h, events):
    """events: (type, key, payload) into the journal, as their producers would"""
    for i in range(0, len(events), 5000):
        cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND",
                        {"events": [{"type": t, "key": k, "payload": p}
                                    for t, k, p in events[i:i + 5000]]}, timeout=60000)
        assert cmd == "JOURNAL_APPEND_OK", r


def customer(cid, email, locale, name=None):
    c = {"id": cid, "email": email, "locale": locale}
    if name:
        c["name"] = name
    return ("customer", "test/customer/" + cid, c)


def tagged(case, cid, kind, codes, text=None, locale=None, given_at="2026-03-05T10:00:00Z",
           via="customer", n=0):
    p = {"case": case, "customer_id": cid, "kind": kind, "codes": codes, "via": via,
         "given_at": given_at}
    if text is not None:
        p["text"] = text
    if locale:
        p["locale"] = locale
    if via == "staff":
        p["by"] = "staff:eva"
        key = "intake/retag/%s/%d" % (case, n)
    else:
        key = "intake/test/%s/tagged" % case
    schema("feedback.tagged").validate(p)
    return ("feedback.tagged", key, p)


def unsubscribed(address):
    return ("mail.unsubscribed", "test/unsub/" + address, {"address": address, "via": "page"})


def bounced(address):
    return ("mail.bounced", "test/bounce/" + address,
            {"message": 1, "request_key": "x/1", "template": "test", "category": "alert",
             "attempts": 1, "code": 550, "error": "no such user", "address": address})


def caught_up(h):
    """hark-loop applied everything, told everyone pending and flushed its outbox"""
    def ok():
        st = h.status()
        s = [x for x in st.get("services", []) if x["name"] == "loop"]
        if not s or s[0].get("lag") != 0:
            return False
        cmd, body = h.call(h.endpoint("loop.ctl"), "SERVICE_STATUS", {})
        d = body.get("detail", {})
        return d.get("pending", 0) == 0 and d.get("outbox", 0) == 0
    wait_for(ok, timeout=60, what="hark-loop caught up")


def admin(h):
    return {"Authorization": "Bearer " + h.admin_key, "Content-Type": "application/json"}


def post_loop(h, body):
    st, _, data = h.request("POST", "/v1/loops", body, admin(h))
    return st, json.loads(data)


def loop_mails(h):
    return [e for e in h.fetch_all(["mail.requested"]) if e["key"].startswith("loop/")]


def html(msg):
    return msg.get_body(preferencelist=("html",)).get_content()


def text(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def to(msg):
    return msg["To"].addresses[0].addr_spec


def test_loop__one_email_per_customer_in_their_language_quotes_escaped_unsubscribed_skipped(
        make_hark, smtp, tmp_path):
    h = make_hark(services=SERVICES, conf=loop_conf(smtp.port))
    long_ru = "Доставка шла очень долго, " * 20  # 520 characters: cut at 200 with …
    append(h, [
        customer("c-en", "anna@example.com", "en", "Anna"),
        customer("c-pl", "ola@example.pl", "pl-PL", "Ola"),
        customer("c-ru", "ivan@example.ru", "ru", "Иван"),
        customer("c-unsub", "gone@example.com", "en"),
        customer("c-bounce", "bounce@example.com", "en"),
        customer("c-other", "other@example.com", "en"),
        customer("c-retag", "retag@example.com", "en"),
        unsubscribed("GONE@example.com"),
        bounced("bounce@example.com"),
        # a complaint with injection attempts and, later, an NPS comment: one email
        tagged("k1", "c-en", "complaint", [REASON, "damaged"], INJECTION, "en"),
        tagged("k2", "c-en", "nps", [REASON], "Still slow, honestly.", "en",
               given_at="2026-04-01T08:00:00Z"),
        tagged("k3", "c-pl", "cancellation", [REASON], "Paczka szła dwa tygodnie", "pl"),
        tagged("k4", "c-ru", "nps", [REASON], long_ru, "ru"),
        tagged("k5", "c-unsub", "complaint", [REASON], "slow"),
        tagged("k6", "c-bounce", "complaint", [REASON], "slow too"),
        tagged("k7", "c-other", "complaint", ["rude_support"], "rude"),
        # keywords said slow_delivery, staff retagged: the last tagging holds the codes
        tagged("k8", "c-retag", "complaint", [REASON], "hm"),
        tagged("k8", "c-retag", "complaint", ["rude_support"], via="staff", n=1),
    ])
    caught_up(h)
    msg_file = tmp_path / "announcement.md"
    msg_file.write_text(ANNOUNCEMENT)

    # dry run (CLI and HTTP): who would hear, per locale, one rendered email; nothing sent
    r = h.hark("loop", "close", "--reason", REASON, "--title", "Faster shipping",
               "--message-file", str(msg_file), "--dry-run", "--json")
    p = json.loads(r.stdout)
    jsonschema.Draft202012Validator(COMMANDS["LOOP_PREVIEW_OK"]["request"]).validate(p)
    assert p["customers"] == 3
    assert p["locales"] == {"en": 1, "pl-PL": 1, "ru": 1}
    assert p["skipped"] == {"unsubscribed": 1, "bounced": 1}
    assert "Faster shipping" in p["sample"]["subject"]
    assert "new courier" in p["sample"]["text"]
    r = h.hark("loop", "close", "--reason", REASON, "--title", "Faster shipping",
               "--message-file", str(msg_file), "--dry-run")
    assert "would hear" in r.stdout and "Subject:" in r.stdout
    st, _, data = h.request("GET", "/v1/loops/preview?reason=%s&title=Faster+shipping"
                            "&announcement=Hello" % REASON, headers=admin(h))
    assert st == 200, data
    assert json.loads(data)["customers"] == 3
    st, body = post_loop(h, {"reason": REASON, "title": "Faster shipping",
                             "announcement": ANNOUNCEMENT, "dry_run": True})
    assert st == 200 and body["customers"] == 3 and "sample" in body
    assert h.fetch_all(["loop.closed", "loop.notified"]) == []
    assert loop_mails(h) == []

    # bad requests: 400 naming the field, nothing journaled
    for bad, field in [({"reason": "no_such_reason", "title": "t", "announcement": "a"}, "reason"),
                       ({"reason": "Bad Code", "title": "t", "announcement": "a"}, "reason"),
                       ({"reason": REASON, "announcement": "a"}, "title"),
                       ({"reason": REASON, "title": "t", "announcement": "  "}, "announcement"),
                       ({"reason": REASON, "title": "t", "announcement": "a",
                         "since": "2026-02-30"}, "since"),
                       ({"reason": REASON, "title": "t", "announcement": "a", "id": "a b"}, "id"),
                       ({"reason": REASON, "title": "t", "announcement": "a", "to": "x"}, "to"),
                       ({"reason": REASON, "title": "t", "announcement": "a",
                         "dry_run": "yes"}, "dry_run")]:
        st, body = post_loop(h, bad)
        assert st == 400, (bad, body)
        assert body["error"]["field"] == field, (bad, body)
    st, _, data = h.request("GET", "/v1/loops/preview?reason=%s&foo=1" % REASON, headers=admin(h))
    assert st == 400 and json.loads(data)["error"]["field"] == "foo"
    st, _, _ = h.request("POST", "/v1/loops", {"reason": REASON}, {"Authorization": "Bearer " +
                                                                   h.ingest_key})
    assert st == 401
    r = h.hark("loop", "close", "--reason", "nobody_said_this", "--title", "t",
               "--message-file", str(msg_file), check=False)
    assert r.returncode == 2 and "reason" in r.stderr
    assert h.fetch_all(["loop.closed"]) == []

    # the close
    st, body = post_loop(h, {"reason": REASON, "title": "Faster shipping",
                             "announcement": ANNOUNCEMENT})
    assert st == 202, body
    assert body["customers"] == 3
    loop_id = body["loop"]
    msgs = smtp.wait_messages(3)
    caught_up(h)
    msgs = smtp.messages()
    assert sorted(to(m) for m in msgs) == ["anna@example.com", "ivan@example.ru",
                                           "ola@example.pl"]
    by = {to(m): m for m in msgs}

    en = by["anna@example.com"]
    assert str(en["Subject"]) == "You said, we listened: Faster shipping"
    t, ht = text(en), html(en)
    # both pieces of feedback quoted, newest first, dated in English
    assert t.index("Still slow, honestly.") < t.index("took three weeks")
    assert "1 April 2026" in t and "5 March 2026" in t
    # the customer's words show literally and never become markup or links
    assert "<script>" not in ht and "&lt;script&gt;" in ht
    assert "<img" not in ht and "&lt;img" in ht
    assert "javascript:" not in re.findall(r'href="([^"]*)"', ht).__str__()
    assert "<strong>bold</strong>" not in ht and "**bold**" in ht
    assert "<h1>" not in ht and "# heading" in ht
    assert "[x](javascript:alert(1))" in t
    # the staff's announcement is trusted Markdown
    assert "<strong>new courier</strong>" in ht
    assert 'href="https://shop.example/shipping"' in ht
    assert "Anna" in t

    pl = by["ola@example.pl"]
    assert str(pl["Subject"]) == "Twoja opinia coś zmieniła: Faster shipping"
    assert "Paczka szła dwa tygodnie" in text(pl) and "5 marca 2026" in text(pl)

    ru = by["ivan@example.ru"]
    assert str(ru["Subject"]) == "Вы сказали — мы услышали: Faster shipping"
    rt = text(ru)
    assert "5 марта 2026 г." in rt
    quote = [l for l in rt.splitlines() if "Доставка" in l]
    assert quote and "…" in rt and rt.count("Доставка") < 20

    # the journal: one loop.closed, one mail.requested and one loop.notified per customer told
    closed = h.fetch_all(["loop.closed"])
    assert len(closed) == 1
    schema("loop.closed").validate(closed[0]["payload"])
    assert closed[0]["payload"]["by"] == "api"
    mails = loop_mails(h)
    assert sorted(e["key"] for e in mails) == sorted(
        "loop/%s/mail/%s" % (loop_id, c) for c in ("c-en", "c-pl", "c-ru"))
    for e in mails:
        schema("mail.requested").validate(e["payload"])
        assert e["payload"]["template"] == "loop_closed" and e["payload"]["category"] == "loop"
    told = h.fetch_all(["loop.notified"])
    for e in told:
        schema("loop.notified").validate(e["payload"])
    assert {e["payload"]["customer_id"]: sorted(e["payload"]["cases"]) for e in told} == {
        "c-en": ["k1", "k2"], "c-pl": ["k3"], "c-ru": ["k4"]}
    assert {e["key"] for e in told} == {"loop/%s/notified/%s" % (loop_id, c)
                                        for c in ("c-en", "c-pl", "c-ru")}

    # closing the same loop again (CLI this time) tells nobody anything new
    r = h.hark("loop", "close", "--reason", REASON, "--title", "Faster shipping",
               "--message-file", str(msg_file))
    assert "tells 0 customers" in r.stdout
    caught_up(h)
    assert len(h.fetch_all(["loop.closed"])) == 2
    assert len(loop_mails(h)) == 3 and len(h.fetch_all(["loop.notified"])) == 3

    # later feedback with the same reason opens it again: only its author hears next time
    append(h, [customer("c-new", "new@example.com", "be"),
               tagged("k9", "c-new", "complaint", [REASON], "Вельмі павольна",
                      given_at="2026-06-10T09:00:00Z"),
               tagged("k10", "c-pl", "complaint", [REASON], "Znowu wolno",
                      given_at="2026-06-11T09:00:00Z")])
    caught_up(h)
    rep = json.loads(h.hark("report", "loops", "--json").stdout)
    jsonschema.Draft202012Validator(COMMANDS["LOOP_REPORT_OK"]["request"]).validate(rep)
    row = [x for x in rep["reasons"] if x["reason"] == REASON][0]
    assert row["open"] == 2 and row["told"] == 3 and row["loops"] == 1
    st, body = post_loop(h, {"reason": REASON, "title": "Even faster shipping",
                             "announcement": "Same-day delivery in town."})
    assert st == 202 and body["customers"] == 2
    smtp.wait_messages(5)
    caught_up(h)
    later = smtp.messages()[3:]
    assert sorted(to(m) for m in later) == ["new@example.com", "ola@example.pl"]
    be = [m for m in later if to(m) == "new@example.com"][0]
    assert str(be["Subject"]).startswith("Вы сказалі")
    assert "10 чэрвеня 2026 г." in " ".join(text(be).split())  # loop_text_date's Belarusian form
    again = [m for m in later if to(m) == "ola@example.pl"][0]
    assert "Znowu wolno" in text(again) and "Paczka" not in text(again)

    # the report, over HTTP too
    st, _, data = h.request("GET", "/v1/reports/loops?reason=" + REASON, headers=admin(h))
    assert st == 200
    (row,) = json.loads(data)["reasons"]
    assert row == dict(row, reason=REASON, feedback=8, customers=6, open=0, loops=2, told=4)
    assert row["median_days"] > 30  # the feedback is from March-June 2026, told now
    h.stop()


def test_loop__report_compares_nps_of_told_and_not_told_customers(make_hark, tmp_path):
    """Scores come from hark-survey's events (its invites' mail.requested, which
    name the customer, and survey.answered), appended here directly."""
    h = make_hark(services=("journal", "gateway", "loop"), conf=loop_conf())
    ev = [customer("c1", "one@example.com", "en"), customer("c2", "two@example.com", "en"),
          customer("c3", "three@example.com", "en"), unsubscribed("three@example.com")]
    for i, cid in enumerate(("c1", "c2", "c3")):
        ev.append(("mail.requested", "survey/invite/b%d" % i,
                   {"customer_id": cid, "template": "nps_invite", "category": "survey",
                    "vars": {}}))
        ev.append(("mail.requested", "survey/invite/a%d" % i,
                   {"customer_id": cid, "template": "nps_invite", "category": "survey",
                    "vars": {}}))
    ev += [("survey.answered", "gw:b0", {"invite": "b0", "score": 3}),
           ("survey.answered", "gw:b1", {"invite": "b1", "score": 2}),
           ("survey.answered", "gw:b2", {"invite": "b2", "score": 10}),
           tagged("n1", "c1", "nps", ["price"], "too expensive"),
           tagged("n2", "c2", "nps", ["price"], "pricey"),
           tagged("n3", "c3", "nps", ["price"], "costly")]
    append(h, ev)
    caught_up(h)
    st, body = post_loop(h, {"reason": "price", "title": "Lower prices",
                             "announcement": "Everything is 10% cheaper."})
    assert st == 202 and body["customers"] == 2
    caught_up(h)
    # after being told: c1 a promoter, c2 still a detractor; c3 (not told) a detractor now
    append(h, [("survey.answered", "gw:a0", {"invite": "a0", "score": 9}),
               ("survey.answered", "gw:a1", {"invite": "a1", "score": 5}),
               ("survey.answered", "gw:a2", {"invite": "a2", "score": 4})])
    caught_up(h)
    (row,) = json.loads(h.hark("report", "loops", "--json", "--reason", "price").stdout)["reasons"]
    assert row["told"] == 2 and row["customers"] == 3
    assert row["nps"]["told"] == {"before": -100.0, "after": 0.0, "answers_before": 2,
                                  "answers_after": 2}
    assert row["nps"]["not_told"] == {"before": 100.0, "after": -100.0, "answers_before": 1,
                                      "answers_after": 1}
    r = h.hark("report", "loops")
    assert "price" in r.stdout and "-100.0 → 0.0" in r.stdout
    # a date range: the feedback was given on 5 March, the loop closed and
    # every answer came today; up to yesterday: the feedback, no loop, no
    # answer; from today: the loop and the answers, no feedback
    today = datetime.datetime.now(datetime.timezone.utc).date()
    yesterday = (today - datetime.timedelta(days=1)).isoformat()
    (before,) = loop_report(h, to=yesterday)["reasons"]
    assert (before["feedback"], before["customers"], before["loops"], before["told"]) == \
        (3, 3, 0, 0)
    assert before["nps"]["not_told"]["answers_before"] == 0
    (since,) = loop_report(h, reason="price", **{"from": today.isoformat()})["reasons"]
    assert (since["feedback"], since["loops"], since["told"]) == (0, 1, 2)
    assert since["nps"]["told"] == row["nps"]["told"]
    assert since["nps"]["not_told"]["answers_after"] == 0  # c3 raised it before the range
    h.stop()


def test_loop__a_customer_its_journaled_email_told_counts_as_told_also_after_a_rebuild(
        make_hark, tmp_path):
    """hark-loop reads its own loop emails back (mail.requested, key
    loop/LOOP/mail/CUSTOMER): what it journaled wins over deciding again, so
    a replay after an erasure (no address any more) still counts them told"""
    h = make_hark(services=("journal", "gateway", "loop"), conf=loop_conf())
    append(h, [customer("c1", "one@example.com", "en"),
               ("customer", "test/customer/c2", {"id": "c2", "locale": "pl"}),
               tagged("n1", "c1", "complaint", ["price"], "too expensive"),
               tagged("n2", "c2", "complaint", ["price"], "za drogo")])
    caught_up(h)
    st, body = post_loop(h, {"reason": "price", "title": "Lower prices",
                             "announcement": "Everything is 10% cheaper.",
                             "texts": {"pl": {"title": "Niższe ceny",
                                              "announcement": "Wszystko taniej o 10%."}}})
    assert st == 202 and body["customers"] == 1, body  # c2: no address
    caught_up(h)
    (mail,) = loop_mails(h)
    lid = mail["key"].split("/")[1]
    (row,) = loop_report(h, reason="price")["reasons"]
    assert (row["customers"], row["told"], row["told_own_text"]) == (2, 1, 0), row
    # an email to c2 journaled as an earlier hark-loop wrote it (it knew her
    # address then): she was told, in her language's text
    append(h, [("mail.requested", "loop/%s/mail/c2" % lid,
                {"customer_id": "c2", "template": "loop_closed", "category": "loop",
                 "locale": "pl", "vars": {}})])
    caught_up(h)
    (row,) = loop_report(h, reason="price")["reasons"]
    assert (row["told"], row["told_own_text"]) == (2, 1), row
    # a rebuild replays it all and tells no one again
    n = len(h.fetch_all())
    r = h.hark("rebuild", "loop", timeout=120)
    assert "rebuilt from the journal" in r.stdout, r.stdout
    caught_up(h)
    time.sleep(1)
    (again,) = loop_report(h, reason="price")["reasons"]
    assert again == row
    assert len(h.fetch_all()) == n, "a rebuild journals nothing new"
    h.stop()


def loop_report(h, **req):
    cmd, body = h.call(h.endpoint("loop.ctl"), "LOOP_REPORT", req)
    assert cmd == "LOOP_REPORT_OK", body
    return body


def test_loop__report_over_a_date_range_counts_what_happened_in_it(make_hark, tmp_path):
    """Feedback given in February and May, two loops closed today: each
    part of the report follows the range (the dashboard's loop chart sends
    its own); a range that is not one is refused."""
    h = make_hark(services=("journal", "gateway", "loop"), conf=loop_conf())
    append(h, [customer("c1", "one@example.com", "en"), customer("c2", "two@example.com", "pl"),
               ("mail.requested", "survey/invite/i1",
                {"customer_id": "c1", "template": "nps_invite", "category": "survey",
                 "vars": {}}),
               tagged("s1", "c1", "complaint", ["packaging"], "box crushed",
                      given_at="2026-02-10T10:00:00Z"),
               tagged("s2", "c2", "complaint", ["packaging"], "pudełko zgniecione",
                      given_at="2026-05-10T10:00:00Z")])
    caught_up(h)
    st, body = post_loop(h, {"reason": "packaging", "title": "Sturdier boxes",
                             "announcement": "Double walls now."})
    assert st == 202 and body["customers"] == 2
    caught_up(h)
    append(h, [("survey.answered", "gw:i1", {"invite": "i1", "score": 10})])
    caught_up(h)
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    (feb,) = loop_report(h, **{"from": "2026-02-01", "to": "2026-02-28"})["reasons"]
    assert (feb["feedback"], feb["customers"], feb["loops"], feb["told"], feb["history"]) == \
        (1, 1, 0, 0, [])
    assert feb["nps"]["told"]["answers_after"] == 0
    (spring,) = loop_report(h, **{"from": "2026-02-01", "to": "2026-05-31"})["reasons"]
    assert (spring["feedback"], spring["customers"]) == (2, 2)
    (now,) = loop_report(h, **{"from": today, "to": today})["reasons"]
    assert (now["feedback"], now["loops"], now["told"], len(now["history"])) == (0, 1, 2, 1)
    assert now["nps"]["told"] == {"before": None, "after": 100.0, "answers_before": 0,
                                  "answers_after": 1}
    (every,) = loop_report(h)["reasons"]
    assert (every["feedback"], every["loops"], every["told"]) == (2, 1, 2)
    assert loop_report(h, **{"from": "2020-01-01", "to": "2020-12-31"})["reasons"] == []
    cmd, body = h.call(h.endpoint("loop.ctl"), "LOOP_REPORT", {"from": "2026-13-45"})
    assert cmd == "ERROR" and "YYYY-MM-DD" in json.dumps(body), body
    h.stop()


def test_loop__since_tells_again_about_feedback_from_that_date_on_and_nothing_older(make_hark,
                                                                                    tmp_path):
    """No mailer: the journal's requests are what is checked."""
    h = make_hark(services=("journal", "gateway", "loop"), conf=loop_conf())
    append(h, [customer("c1", "one@example.com", "en"), customer("c2", "two@example.com", "pl"),
               tagged("s1", "c1", "complaint", ["packaging"], "box crushed",
                      given_at="2026-02-10T10:00:00Z"),
               tagged("s2", "c2", "complaint", ["packaging"], "pudełko zgniecione",
                      given_at="2026-05-10T10:00:00Z")])
    caught_up(h)
    st, body = post_loop(h, {"reason": "packaging", "title": "Sturdier boxes",
                             "announcement": "Double walls now."})
    assert st == 202 and body["customers"] == 2
    caught_up(h)
    # nothing is open any more: a new loop without since tells nobody
    st, body = post_loop(h, {"reason": "packaging", "title": "Sturdier boxes", "dry_run": True,
                             "announcement": "x", "id": "another-loop"})
    assert st == 200 and body["customers"] == 0
    # with since, feedback from that date on is answered again, older feedback is not
    st, body = post_loop(h, {"reason": "packaging", "title": "Even sturdier boxes",
                             "announcement": "Triple walls.", "since": "2026-03-01"})
    assert st == 202 and body["customers"] == 1
    caught_up(h)
    keys = [e["key"] for e in loop_mails(h)]
    assert len(keys) == 3 and keys[-1] == "loop/%s/mail/c2" % body["loop"], keys
    rep = json.loads(h.hark("report", "loops", "--json").stdout)["reasons"][0]
    assert rep["loops"] == 2 and rep["told"] == 2 and rep["open"] == 0
    h.stop()


def test_loop__503_and_nothing_journaled_while_hark_loop_is_down(make_hark):
    h = make_hark(services=("journal", "gateway"), conf={"gateway": {"loop_timeout": "300ms"}})
    st, hdrs, data = h.request("POST", "/v1/loops", {"reason": "price", "title": "t",
                                                      "announcement": "a"}, admin(h))
    assert st == 503 and hdrs.get("Retry-After") == "1", data
    assert json.loads(data)["error"]["code"] == "loop_unavailable"
    st, _, _ = h.request("GET", "/v1/reports/loops", headers=admin(h))
    assert st == 503
    assert h.fetch_all(["loop.closed"]) == []
    h.stop()


def test_loop__kill9_midway_through_10000_recipients_requests_each_exactly_once(make_hark,
                                                                             tmp_path):
    """No mailer: the journal is what is checked (one mail.requested and one
    loop.notified per customer), not SMTP."""
    n = 10000
    h = make_hark(services=("journal", "gateway", "loop"),
                  conf=dict(loop_conf(batch="100"),
                            harkd={"restart_min": "100ms", "restart_max": "200ms"}))
    ev = []
    for i in range(n):
        ev.append(customer("c%05d" % i, "u%05d@example.com" % i, ("en", "pl", "ru")[i % 3]))
        ev.append(tagged("k%05d" % i, "c%05d" % i, "complaint", ["late"], "late #%d" % i))
    append(h, ev)
    caught_up(h)
    msg_file = tmp_path / "a.md"
    msg_file.write_text("It is fixed.")
    h.hark("loop", "close", "--reason", "late", "--title", "On time now", "--message-file",
           str(msg_file))

    def midway():
        cmd, body = h.call(h.endpoint("loop.ctl"), "SERVICE_STATUS", {})
        d = body.get("detail", {})
        return 500 <= d.get("sent", 0) and d.get("pending", 0) > 0 and d
    d = wait_for(midway, timeout=120, interval=0.01, what="hark-loop half-way")
    old = h.kill("loop", signal.SIGKILL)
    wait_for(lambda: h.pid("loop") not in (0, old), what="hark-loop restarted")
    caught_up(h)
    assert d["pending"] > 0  # it was killed with work left
    mails = h.fetch_all(["mail.requested"])
    told = h.fetch_all(["loop.notified"])
    cids = sorted(e["payload"]["customer_id"] for e in mails)
    assert len(mails) == n and cids == ["c%05d" % i for i in range(n)]
    assert sorted(e["payload"]["customer_id"] for e in told) == cids
    cmd, body = h.call(h.endpoint("loop.ctl"), "SERVICE_STATUS", {})
    assert body["detail"].get("sent") == n and body["detail"].get("pending", 0) == 0
    log = h.stop()
    assert "event=loop_closed" in log


def test_loop__a_reason_of_reasons_conf_closes_to_nobody_and_says_so_an_unknown_one_is_a_400(
        make_hark, tmp_path):
    """[intake] reasons defines `too_complex`; no feedback carries it yet."""
    conf = dict(loop_conf(), intake={"reasons": os.path.join(ROOT, "config", "reasons.conf")})
    h = make_hark(services=("journal", "gateway", "loop"), conf=conf)
    append(h, [customer("c1", "one@example.com", "en"),
               tagged("d1", "c1", "complaint", ["price"], "too dear")])
    caught_up(h)
    st, body = post_loop(h, {"reason": "too_complex", "title": "Simpler checkout",
                             "announcement": "One page now.", "dry_run": True})
    assert st == 200 and body["known"] is True and body["defined"] is True, body
    assert body["customers"] == 0 and body["feedback"] == 0
    st, body = post_loop(h, {"reason": "too_complex", "title": "Simpler checkout",
                             "announcement": "One page now."})
    assert st == 202 and body["customers"] == 0 and "nobody" in body["note"], body
    msg_file = tmp_path / "a.md"
    msg_file.write_text("Fewer steps.")
    r = h.hark("loop", "close", "--reason", "missing_feature", "--title", "Wishlists",
               "--message-file", str(msg_file))
    assert r.returncode == 0 and "nobody was told" in r.stdout, r.stdout + r.stderr
    # neither defined nor carried by feedback: 400 naming reason, HTTP and CLI
    st, body = post_loop(h, {"reason": "not_in_the_taxonomy", "title": "t", "announcement": "a"})
    assert st == 400 and body["error"]["field"] == "reason", body
    r = h.hark("loop", "close", "--reason", "not_in_the_taxonomy", "--title", "t",
               "--message-file", str(msg_file), check=False)
    assert r.returncode == 2 and "reason" in r.stderr
    # a defined reason with feedback is told as before; no note then
    st, body = post_loop(h, {"reason": "price", "title": "Lower prices", "announcement": "-10%"})
    assert st == 202 and body["customers"] == 1 and "note" not in body, body
    caught_up(h)
    closed = h.fetch_all(["loop.closed"])
    assert [e["payload"]["reason"] for e in closed] == ["too_complex", "missing_feature", "price"]
    assert [e["payload"]["customer_id"] for e in h.fetch_all(["loop.notified"])] == ["c1"]
    h.stop()


def test_loop__an_id_of_a_loop_of_another_reason_is_a_400_naming_id_not_a_lost_close(make_hark,
                                                                                     tmp_path):
    """A loop belongs to one reason: a close that reuses its id under another
    reason used to be journaled (202) and then silently not applied."""
    h = make_hark(services=("journal", "gateway", "loop"), conf=loop_conf())
    append(h, [customer("c1", "one@example.com", "en"), customer("c2", "two@example.com", "en"),
               tagged("e1", "c1", "complaint", ["price"], "too dear"),
               tagged("e2", "c2", "complaint", ["late"], "too slow")])
    caught_up(h)
    st, body = post_loop(h, {"reason": "price", "title": "Lower prices", "announcement": "-10%",
                             "id": "spring-2026"})
    assert st == 202 and body["customers"] == 1, body
    caught_up(h)
    st, body = post_loop(h, {"reason": "late", "title": "Faster", "announcement": "2 days",
                             "id": "spring-2026"})
    assert st == 400 and body["error"]["field"] == "id" and "price" in body["error"]["message"]
    msg_file = tmp_path / "a.md"
    msg_file.write_text("2 days.")
    r = h.hark("loop", "close", "--reason", "late", "--title", "Faster", "--message-file",
               str(msg_file), "--id", "spring-2026", check=False)
    assert r.returncode == 2 and "id" in r.stderr, r.stderr
    assert len(h.fetch_all(["loop.closed"])) == 1
    # the same id and reason again is fine (and tells nobody twice)
    st, body = post_loop(h, {"reason": "price", "title": "Lower prices", "announcement": "-10%",
                             "id": "spring-2026"})
    assert st == 202 and body["customers"] == 0, body
    h.stop()


def test_loop__the_quoted_date_is_the_customers_own_day(make_hark):
    """20:00 in Los Angeles on 5 March is 04:00 UTC on the 6th: the email
    says the 5th (the preview and the request alike)."""
    h = make_hark(services=("journal", "gateway", "loop"), conf=loop_conf())
    la = dict(customer("la", "la@example.com", "en")[2], timezone="America/Los_Angeles")
    append(h, [("customer", "test/customer/la", la),
               tagged("t1", "la", "complaint", ["late"], "three weeks",
                      given_at="2026-03-06T04:00:00Z")])
    caught_up(h)
    st, body = post_loop(h, {"reason": "late", "title": "Faster", "announcement": "2 days",
                             "dry_run": True})
    assert st == 200 and "5 March 2026" in body["sample"]["text"], body
    st, body = post_loop(h, {"reason": "late", "title": "Faster", "announcement": "2 days"})
    assert st == 202
    caught_up(h)
    (m,) = loop_mails(h)
    assert m["payload"]["vars"]["quotes"] == [{"excerpt": "three weeks", "date": "5 March 2026"}]
    h.stop()


RU_TITLE, PL_TITLE = "Быстрая доставка", "Szybsza dostawa"
RU_MSG = "Мы сменили **курьера**: заказы приходят за два дня.\n"
PL_MSG = "Zmieniliśmy **kuriera**: paczki docierają w dwa dni.\n"


def texts_hark(make_hark, smtp):
    """customers in en, de (no template folder: the mailer's default), ru-RU
    (the "ru" text) and pl, each with feedback tagged slow_delivery"""
    h = make_hark(services=SERVICES, conf=loop_conf(smtp.port))
    append(h, [customer("c-en", "anna@example.com", "en"),
               customer("c-de", "dora@example.de", "de"),
               customer("c-ru", "ivan@example.ru", "ru-RU"),
               customer("c-pl", "ola@example.pl", "pl"),
               tagged("t1", "c-en", "complaint", [REASON], "slow"),
               tagged("t2", "c-de", "complaint", [REASON], "langsam"),
               tagged("t3", "c-ru", "complaint", [REASON], "медленно"),
               tagged("t4", "c-pl", "complaint", [REASON], "wolno")])
    caught_up(h)
    return h


def recipients(h):
    """loop.db's recipients: (loop, customer, status, locale, text_locale)"""
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(h.state, "loop.db"), uri=True)
    try:
        return sorted(db.execute("SELECT loop, customer_id, status, locale, text_locale"
                                 " FROM recipients"))
    finally:
        db.close()


def test_loop__each_locale_reads_its_own_title_and_message_the_others_the_fallback(
        make_hark, smtp, tmp_path):
    h = texts_hark(make_hark, smtp)
    (tmp_path / "en.md").write_text(ANNOUNCEMENT)
    (tmp_path / "ru.md").write_text(RU_MSG)
    (tmp_path / "pl.md").write_text(PL_MSG)
    args = ["loop", "close", "--reason", REASON, "--title", "Faster shipping",
            "--message-file", str(tmp_path / "en.md"),
            "--title", "ru=" + RU_TITLE, "--message-file", "ru=" + str(tmp_path / "ru.md"),
            "--title", "PL=" + PL_TITLE, "--message-file", "pl=" + str(tmp_path / "pl.md")]

    # the dry run says which text each locale reads and renders each locale's email
    p = json.loads(h.hark(*args, "--dry-run", "--json").stdout)
    jsonschema.Draft202012Validator(COMMANDS["LOOP_PREVIEW_OK"]["request"]).validate(p)
    assert p["locales"] == {"en": 1, "de": 1, "ru-RU": 1, "pl": 1}
    assert p["texts"] == {"en": "fallback", "de": "fallback", "ru-RU": "ru", "pl": "pl"}
    subjects = {s["for_locale"]: s["subject"] for s in p["samples"]}
    assert subjects == {"en": "You said, we listened: Faster shipping",
                        "de": "You said, we listened: Faster shipping",
                        "ru-RU": "Вы сказали — мы услышали: " + RU_TITLE,
                        "pl": "Twoja opinia coś zmieniła: " + PL_TITLE}
    ru_sample = [s for s in p["samples"] if s["for_locale"] == "ru-RU"][0]
    assert ru_sample["text_locale"] == "ru" and "курьера" in ru_sample["text"]
    assert "new courier" not in ru_sample["text"]
    out = h.hark(*args, "--dry-run").stdout
    assert "locale de: the fallback title and message" in out, out
    assert "locale ru-RU: its own title and message (ru)" in out, out
    assert out.count("--- the email to customer") == 4 and RU_TITLE in out and PL_TITLE in out
    # the same over HTTP, GET and POST
    st, _, data = h.request("GET", "/v1/loops/preview?reason=%s&title=Faster+shipping"
                            "&announcement=Hello&texts.ru.title=%%D0%%AF&texts.ru.announcement=x"
                            % REASON, headers=admin(h))
    assert st == 200, data
    assert json.loads(data)["texts"] == {"en": "fallback", "de": "fallback", "ru-RU": "ru",
                                         "pl": "fallback"}
    st, body = post_loop(h, {"reason": REASON, "title": "Faster shipping", "dry_run": True,
                             "announcement": ANNOUNCEMENT,
                             "texts": {"pl": {"title": PL_TITLE, "announcement": PL_MSG}}})
    assert st == 200 and body["texts"]["pl"] == "pl" and body["texts"]["ru-RU"] == "fallback"
    assert h.fetch_all(["loop.closed"]) == [] and loop_mails(h) == []

    # the close, from the command line
    r = h.hark(*args)
    assert "tells 4 customers" in r.stdout
    smtp.wait_messages(4)
    caught_up(h)
    by = {to(m): m for m in smtp.messages()}
    assert sorted(by) == ["anna@example.com", "dora@example.de", "ivan@example.ru",
                          "ola@example.pl"]
    ru = by["ivan@example.ru"]
    assert str(ru["Subject"]) == "Вы сказали — мы услышали: " + RU_TITLE
    assert RU_TITLE in text(ru) and "<strong>курьера</strong>" in html(ru)
    assert "Faster shipping" not in text(ru) and "courier" not in text(ru)
    pl = by["ola@example.pl"]
    assert str(pl["Subject"]) == "Twoja opinia coś zmieniła: " + PL_TITLE
    assert PL_TITLE in text(pl) and "<strong>kuriera</strong>" in html(pl)
    assert "Faster shipping" not in text(pl)
    for addr in ("anna@example.com", "dora@example.de"):
        m = by[addr]
        assert str(m["Subject"]) == "You said, we listened: Faster shipping"
        assert "<strong>new courier</strong>" in html(m)
        assert RU_TITLE not in text(m) and PL_TITLE not in text(m)

    # the event: the fallback, and the texts under normalised tags
    (closed,) = h.fetch_all(["loop.closed"])
    schema("loop.closed").validate(closed["payload"])
    assert closed["payload"]["title"] == "Faster shipping"
    assert closed["payload"]["texts"] == {"ru": {"title": RU_TITLE, "announcement": RU_MSG},
                                          "pl": {"title": PL_TITLE, "announcement": PL_MSG}}
    for e in loop_mails(h):
        schema("mail.requested").validate(e["payload"])

    # the report: which locales had their own text, and how many read one
    rep = json.loads(h.hark("report", "loops", "--json").stdout)
    jsonschema.Draft202012Validator(COMMANDS["LOOP_REPORT_OK"]["request"]).validate(rep)
    (row,) = rep["reasons"]
    assert row["text_locales"] == ["pl", "ru"] and row["told_own_text"] == 2 and row["told"] == 4
    table = h.hark("report", "loops").stdout
    assert re.search(r"%s .* pl,ru$" % REASON, table, re.M), table

    # the same close over the API, for feedback that came later
    append(h, [tagged("t5", "c-ru", "nps", [REASON], "снова медленно",
                      given_at="2026-06-01T10:00:00Z"),
               tagged("t6", "c-de", "nps", [REASON], "wieder langsam",
                      given_at="2026-06-01T10:00:00Z")])
    caught_up(h)
    st, body = post_loop(h, {"reason": REASON, "title": "Even faster",
                             "announcement": "Next day.",
                             "texts": {"ru_RU": {"title": "Ещё быстрее",
                                                 "announcement": "На следующий день."}}})
    assert st == 202 and body["customers"] == 2, body
    smtp.wait_messages(6)
    caught_up(h)
    later = {to(m): m for m in smtp.messages()[4:]}
    assert str(later["ivan@example.ru"]["Subject"]) == "Вы сказали — мы услышали: Ещё быстрее"
    assert "На следующий день." in text(later["ivan@example.ru"])
    assert str(later["dora@example.de"]["Subject"]) == "You said, we listened: Even faster"

    # replay: loop.db rebuilt from the journal decides every recipient's text the same way
    before = recipients(h)
    assert sorted(r[4] for r in before if r[1] == "c-ru") == ["ru", "ru-ru"]
    h.stop()
    for f in os.listdir(h.state):
        if f.startswith("loop.db"):
            os.remove(os.path.join(h.state, f))
    h.start()
    caught_up(h)
    assert recipients(h) == before
    assert len(loop_mails(h)) == 6 and len(smtp.messages()) == 6
    h.stop()


def test_loop__texts_that_are_not_a_locale_or_half_a_pair_or_twice_are_refused_naming_them(
        make_hark, smtp, tmp_path):
    h = texts_hark(make_hark, smtp)
    ok = {"title": "t", "announcement": "a"}
    for texts, field in [({"xx-yyyyyy": ok}, "texts.xx-yyyyyy"),
                         ({"ru.UTF-8": ok}, "texts.ru.UTF-8"),
                         ({"pl": {"title": "Szybciej"}}, "texts.pl.announcement"),
                         ({"pl": {"announcement": "Dwa dni"}}, "texts.pl.title"),
                         ({"pl": {"title": "", "announcement": "x"}}, "texts.pl.title"),
                         ({"pl": {"title": "x" * 201, "announcement": "x"}}, "texts.pl.title"),
                         ({"pl": dict(ok, body="x")}, "texts.pl.body"),
                         ({"pt-BR": ok, "pt_br": ok}, "texts.pt_br"),
                         ({"pl": "Szybciej"}, "texts.pl"),
                         (["pl"], "texts")]:
        st, body = post_loop(h, {"reason": REASON, "title": "Faster", "announcement": "2 days",
                                 "texts": texts})
        assert st == 400, (texts, body)
        assert body["error"]["field"] == field, (texts, body)
    # the fallback stays required
    st, body = post_loop(h, {"reason": REASON, "announcement": "2 days", "texts": {"pl": ok}})
    assert st == 400 and body["error"]["field"] == "title", body
    st, _, data = h.request("GET", "/v1/loops/preview?reason=%s&texts.pl.title=a"
                            "&texts.pl.title=b" % REASON, headers=admin(h))
    assert st == 400 and json.loads(data)["error"]["field"] == "texts.pl.title", data
    st, _, data = h.request("GET", "/v1/loops/preview?reason=%s&texts.pl.title=a" % REASON,
                            headers=admin(h))
    assert st == 400 and json.loads(data)["error"]["field"] == "texts.pl.announcement", data

    (tmp_path / "a.md").write_text("Two days.")
    (tmp_path / "ru.md").write_text("Два дня.")
    base = ["loop", "close", "--reason", REASON, "--title", "Faster", "--message-file",
            str(tmp_path / "a.md")]
    ru_file = "ru=" + str(tmp_path / "ru.md")
    for extra, words in [(["--title", "klingon=Qapla", "--message-file", ru_file],
                          "klingon is not a locale tag"),
                         (["--title", "ru=Быстрее"], "locale ru has a --title but no"),
                         (["--message-file", ru_file], "locale ru has a --message-file but no"),
                         (["--title", "ru=А", "--title", "RU=Б", "--message-file", ru_file],
                          "--title is given twice for locale ru"),
                         (["--title", "Again"], "--title is given twice for the fallback"),
                         (["--title", "pl=" + "x" * 201, "--message-file",
                           "pl=" + str(tmp_path / "a.md")], "texts.pl.title")]:
        r = h.hark(*(base + extra), check=False)
        assert r.returncode == 2 and words in r.stderr, (extra, r.stderr)
    r = h.hark("loop", "close", "--reason", REASON, "--title", "ru=Быстрее", "--message-file",
               ru_file, check=False)
    assert r.returncode == 2 and "--message-file is required" in r.stderr, r.stderr
    # '=' starts a fallback that has '=' in it, and a title that does not start like a
    # tag is the fallback as it was
    r = h.hark("loop", "close", "--reason", REASON, "--title", "=Speed=fast", "--message-file",
               str(tmp_path / "a.md"), "--dry-run", "--json")
    assert json.loads(r.stdout)["samples"][0]["subject"].endswith(": Speed=fast")
    r = h.hark("loop", "close", "--reason", REASON, "--title", "2x = faster", "--message-file",
               str(tmp_path / "a.md"), "--dry-run", "--json")
    assert json.loads(r.stdout)["sample"]["subject"].endswith(": 2x = faster")
    assert h.fetch_all(["loop.closed"]) == [] and loop_mails(h) == []
    h.stop()


def test_loop__a_close_journaled_before_texts_gives_everyone_its_one_text_and_replays_so(
        make_hark, smtp):
    """The journal is forever: a loop.closed without texts, as every close
    before them was written, still tells each customer in the frame of their
    language around the one title and announcement."""
    h = texts_hark(make_hark, smtp)
    old = {"loop": "old-close", "reason": REASON, "title": "Faster shipping",
           "announcement": "Two days now.", "by": "cli:eva"}
    schema("loop.closed").validate(old)
    append(h, [("loop.closed", "test/old-close", old)])
    smtp.wait_messages(4)
    caught_up(h)
    by = {to(m): m for m in smtp.messages()}
    assert str(by["ivan@example.ru"]["Subject"]) == "Вы сказали — мы услышали: Faster shipping"
    assert str(by["ola@example.pl"]["Subject"]) == "Twoja opinia coś zmieniła: Faster shipping"
    for m in by.values():
        assert "Two days now." in text(m)
    before = recipients(h)
    assert [r[4] for r in before] == [None] * 4
    (row,) = json.loads(h.hark("report", "loops", "--json").stdout)["reasons"]
    assert row["text_locales"] == [] and row["told_own_text"] == 0 and row["told"] == 4
    h.stop()
    for f in os.listdir(h.state):
        if f.startswith("loop.db"):
            os.remove(os.path.join(h.state, f))
    h.start()
    caught_up(h)
    assert recipients(h) == before
    assert len(loop_mails(h)) == 4 and len(smtp.messages()) == 4
    h.stop()
