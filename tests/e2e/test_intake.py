"""hark-intake end to end: real journal, gateway, mailer and intake, a real
SMTP server (every mail parsed with Python's email package), the customer
forms over real HTTP, staff actions through `hark cases` and the admin API,
and a fake clock (HARK_CLOCK_FILE) for the first-response deadline."""
import http.client
import json
import os
import re
import signal
import sqlite3
import time
import urllib.parse

import jsonschema
import pytest

from harness import ROOT, shop_conf, wait_for

SERVICES = ("journal", "gateway", "mailer", "intake")

with open(os.path.join(ROOT, "proto", "commands.json")) as _f:
    COMMANDS = {c["name"]: c for c in json.load(_f)["commands"]}


def schema(name):
    with open(os.path.join(ROOT, "proto", "events", name + ".json")) as f:
        return jsonschema.Draft202012Validator(json.load(f))


# A small taxonomy: teams work around the clock in UTC, so a deadline is
# exactly first_response after the case opened (the business-hours clock
# itself is unit-tested in tests/unit/test_intake.c).
REASONS = """
[team.logistics]
email = logistics@example.com
days = all
hours = 0-24
timezone = UTC

[team.billing]
email = billing@example.com
days = all
hours = 0-24
timezone = UTC

[reason.shipping_delay]
label.en = Late delivery
label.pl = Opóźniona dostawa
team = logistics
first_response = 1h
keywords.en = late, delivery
keywords.pl = dostaw, spóźni
keywords.ru = доставк

[reason.damaged_item]
label.en = Damaged item
label.pl = Uszkodzony produkt
team = logistics
first_response = 1h
keywords.en = broken, damaged
keywords.zh = 破损

[reason.price]
label.en = Price
label.pl = Cena
team = billing
first_response = 1h
keywords.en = expensive

[reason.billing_error]
label.en = Billing error
label.pl = Błąd w rozliczeniu
team = billing
churn = involuntary
first_response = 1h
keywords.en = charged twice

[reason.other]
label.en = Other
label.pl = Inne
team = billing
first_response = 1h
"""


def intake_conf(tmp_path, smtp_port, **intake):
    path = tmp_path / "reasons.conf"
    path.write_text(REASONS)
    conf = dict(shop_conf(smtp_port), intake={"reasons": str(path)})
    conf["intake"].update(intake)
    return conf


def start(make_hark, tmp_path, smtp, clock=None, **intake):
    h = make_hark(services=SERVICES, conf=intake_conf(tmp_path, smtp.port, **intake), start=False)
    if clock is not None:
        h.env["HARK_CLOCK_FILE"] = str(clock)
    return h.start()


def customer(h, cid, email, locale="en", name="Anna"):
    st, body = h.post_events({"type": "customer", "data": {"id": cid, "email": email,
                                                           "name": name, "locale": locale}})
    assert st == 202, body


def link_(h, cid, *args, locale="en"):
    """`hark cases link` for a customer Hark knows (it refuses one it does
    not): the customer event first, then the links once the mailer has it"""
    customer(h, cid, cid + "@example.com", locale=locale)
    wait_for(lambda: h.hark("cases", "link", cid, *args, check=False).returncode == 0,
             what="hark-mailer to know " + cid)
    return h.hark("cases", "link", cid, *args).stdout


def complain(h, data, kind="complaint"):
    st, body = h.post_events({"type": kind, "data": data})
    assert st == 202, body
    return "C%d" % body["offsets"][0]


def cases(h, *args):
    return json.loads(h.hark("cases", "list", "--json", *args).stdout)["cases"]


def show(h, case_id):
    return json.loads(h.hark("cases", "show", case_id, "--json").stdout)


def tagged(h):
    return [e for e in h.fetch_all(types=["feedback.tagged"])]


def to(msg):
    return msg["To"].addresses[0].addr_spec


def text(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def admin(h, method, path, body=None):
    hdr = {"Authorization": "Bearer " + h.admin_key}
    if body is not None:
        hdr["Content-Type"] = "application/json"
    st, _, data = h.request(method, path, body, hdr)
    return st, json.loads(data) if data else None


def test_intake__explicit_code_beats_keywords_unknown_code_is_400_and_ack_alert_mailed(
        make_hark, tmp_path, smtp):
    h = start(make_hark, tmp_path, smtp)
    customer(h, "c1", "anna@example.com", locale="pl")
    # the customer's code wins over the text's keywords (delivery)
    c_explicit = complain(h, {"customer_id": "c1", "reason_code": "billing_error",
                              "text": "Dostawa spóźniona, late delivery"})
    # tagged from the text: Russian upper case, then Chinese without spaces
    c_ru = complain(h, {"customer_id": "c1", "text": "ДОСТАВКА опоздала"})
    c_zh = complain(h, {"customer_id": "c1", "text": "我收到的商品破损了"}, kind="cancellation")
    c_none = complain(h, {"customer_id": "c1", "text": "hello there"})
    # an unknown explicit code: 400 naming reason_code, nothing stored
    before = len(h.fetch_all(types=["complaint"]))
    st, body = h.post_events({"type": "complaint",
                              "data": {"customer_id": "c1", "reason_code": "no_such_reason"}})
    assert st == 400, body
    assert body["error"]["field"] == "data.reason_code"
    assert "reason_code" in body["error"]["message"] and "no_such_reason" in body["error"]["message"]
    assert len(h.fetch_all(types=["complaint"])) == before

    # NPS comments from hark-survey: a detractor's is a case like a complaint,
    # a promoter's is tagged and counted but waits for no answer
    for i, (score, comment) in enumerate(((3, "Way too EXPENSIVE!"), (9, "late once, fine otherwise"))):
        cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
            {"type": "feedback.given", "key": "survey/%d/feedback" % i,
             "payload": {"customer_id": "c1", "text": comment, "source": "nps", "score": score,
                         "locale": "pl"}}]})
        assert cmd == "JOURNAL_APPEND_OK", r
    wait_for(lambda: len(tagged(h)) == 6, what="six feedback.tagged")
    nps = {e["payload"]["text"]: e["payload"] for e in tagged(h) if e["payload"]["kind"] == "nps"}
    assert nps["Way too EXPENSIVE!"]["codes"] == ["price"]
    assert nps["late once, fine otherwise"]["codes"] == ["shipping_delay"]
    c_detractor, c_promoter = nps["Way too EXPENSIVE!"]["case"], nps["late once, fine otherwise"]["case"]
    assert show(h, c_detractor)["status"] == "open"
    assert show(h, c_promoter)["status"] == "resolved"
    by_case = {e["payload"]["case"]: e for e in tagged(h)}
    v = schema("feedback.tagged")
    for e in by_case.values():
        v.validate(e["payload"])
        assert e["key"] == "intake/%s/tagged" % e["payload"]["case"][1:]
    assert by_case[c_explicit]["payload"]["codes"] == ["billing_error"]
    assert by_case[c_explicit]["payload"]["via"] == "customer"
    assert by_case[c_ru]["payload"]["codes"] == ["shipping_delay"]
    assert by_case[c_ru]["payload"]["via"] == "model"     # the tagger, keywords as evidence
    assert "needs_review" not in by_case[c_ru]["payload"]
    assert by_case[c_zh]["payload"]["codes"] == ["damaged_item"]
    assert by_case[c_zh]["payload"]["kind"] == "cancellation"
    assert by_case[c_none]["payload"]["codes"] == ["other"]
    assert by_case[c_none]["payload"]["needs_review"] is True  # not sure: staff decide
    listed = {c["id"]: c for c in cases(h, "--status", "open") if c["kind"] != "nps"}
    assert listed[c_explicit]["team"] == "billing" and listed[c_ru]["team"] == "logistics"
    assert all(c["status"] == "open" for c in listed.values())
    jsonschema.Draft202012Validator(COMMANDS["INTAKE_CASES_OK"]["request"]).validate(
        {"cases": list(listed.values())})

    # an acknowledgement to the customer and an alert to the team, per case
    # waiting for an answer (not the promoter's)
    msgs = smtp.wait_messages(10)
    time.sleep(1)
    msgs = smtp.messages()
    assert len(msgs) == 10
    acks = [m for m in msgs if to(m) == "anna@example.com"]
    assert sorted(re.search(r"C\d+", m["Subject"]).group(0) for m in acks) == \
        sorted([c_explicit, c_ru, c_zh, c_none, c_detractor])
    ack = next(m for m in acks if c_explicit in m["Subject"])
    assert "Błąd w rozliczeniu" in text(ack)          # the reason in the customer's language
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d \(UTC\)", text(ack))  # when they hear back
    alerts = {re.search(r"C\d+", m["Subject"]).group(0): m for m in msgs if to(m) != "anna@example.com"}
    assert to(alerts[c_explicit]) == "billing@example.com"
    # the alert names what came in
    assert alerts[c_explicit]["Subject"].startswith("New complaint " + c_explicit)
    assert alerts[c_zh]["Subject"].startswith("New cancellation " + c_zh)
    assert alerts[c_detractor]["Subject"].startswith("New NPS comment " + c_detractor)
    assert to(alerts[c_ru]) == "logistics@example.com"
    assert "ДОСТАВКА опоздала" in text(alerts[c_ru])
    h.stop()


def test_intake__staff_reply_retag_resolve_and_loop_closed_are_journaled(make_hark, tmp_path, smtp):
    h = start(make_hark, tmp_path, smtp)
    customer(h, "c2", "bob@example.com", name="Bob")
    a = complain(h, {"customer_id": "c2", "text": "The parcel is late\u001b]0;owned\u0007\u001b[2J"})
    b = complain(h, {"customer_id": "c2", "text": "it was too expensive"})
    wait_for(lambda: len(cases(h)) == 2, what="two cases")
    smtp.wait_messages(4)

    # reply through the CLI: the staff's Markdown is mailed, the clock stops
    reply = tmp_path / "reply.md"
    reply.write_text("We are **sorry**: a new parcel left today.\n")
    h.hark("cases", "reply", a, "--message-file", str(reply))
    msgs = smtp.wait_messages(5)
    mail = next(m for m in msgs if m["Subject"].startswith("Re:"))
    assert to(mail) == "bob@example.com" and a in mail["Subject"]
    assert "<strong>sorry</strong>" in mail.get_body(preferencelist=("html",)).get_content()
    wait_for(lambda: show(h, a)["status"] == "waiting", what="status waiting")
    assert "first_reply_at" in show(h, a)

    # retag through the admin API: a feedback.tagged via staff, keyed by the contract
    st, body = admin(h, "POST", "/v1/cases/%s/retag" % a, {"codes": ["damaged_item", "price"]})
    assert st == 202, body
    # a client retrying a reply whose answer it lost sends the same
    # Idempotency-Key: one case.replied, one mail
    hdr = {"Authorization": "Bearer " + h.admin_key, "Content-Type": "application/json",
           "Idempotency-Key": "reply-a-2"}
    answers = [h.request("POST", "/v1/cases/%s/reply" % a, {"message": "Noted."}, hdr)
               for _ in range(2)]
    assert [st for st, _, _ in answers] == [202, 202]
    assert len({json.loads(d)["offset"] for _, _, d in answers}) == 1
    st, _, d = h.request("POST", "/v1/cases/%s/reply" % a, {"message": "Noted."},
                         dict(hdr, **{"Idempotency-Key": "\u00e9"}))
    assert st == 400 and json.loads(d)["error"]["field"] == "Idempotency-Key"
    st, body = admin(h, "POST", "/v1/cases/%s/retag" % a, {"codes": ["nope"]})
    assert st == 400 and body["error"]["field"] == "codes"
    st, body = admin(h, "POST", "/v1/cases/C999999/resolve", {})
    assert st == 404
    wait_for(lambda: any(e["key"] == "intake/retag/%s/1" % a for e in tagged(h)),
             what="the retag's feedback.tagged")
    retag = next(e for e in tagged(h) if e["key"] == "intake/retag/%s/1" % a)
    assert retag["payload"]["via"] == "staff" and retag["payload"]["by"] == "api"
    assert retag["payload"]["codes"] == ["damaged_item", "price"]
    assert show(h, a)["codes"] == ["damaged_item", "price"]

    # resolve through the CLI
    h.hark("cases", "resolve", a)
    wait_for(lambda: show(h, a)["status"] == "resolved", what="resolved")
    # doing it again is said, not silently journaled again
    before = len(h.hark("tail", "--from", "0", "--type", "case.resolved").stdout.splitlines())
    again = h.hark("cases", "resolve", a, check=False)
    assert again.returncode == 1 and "already resolved" in again.stderr, again
    st, body = admin(h, "POST", "/v1/cases/%s/resolve" % a, {})
    assert st == 409 and body["error"]["code"] == "already_resolved", body
    assert body["error"]["field"] == "case" and "nothing stored" in body["error"]["message"]
    reopen = h.hark("cases", "reopen", b, check=False)
    assert reopen.returncode == 1 and "not resolved" in reopen.stderr
    assert len(h.hark("tail", "--from", "0", "--type", "case.resolved").stdout.splitlines()) == before
    assert [c["id"] for c in cases(h, "--status", "resolved")] == [a]
    assert [c["id"] for c in cases(h, "--status", "open")] == [b]
    assert [c["id"] for c in cases(h, "--reason", "price")] == [b, a]
    assert cases(h, "--team", "logistics")[0]["id"] == a
    # a reason or team the taxonomy does not have is an error, not an empty list
    for opt, val in (("--reason", "prise"), ("--team", "logistic")):
        r = h.hark("cases", "list", opt, val, check=False)
        assert r.returncode == 2 and "unknown %s \"%s\"" % (opt[2:], val) in r.stderr, r.stderr
    # every action is a journal event with who did it
    staff = h.fetch_all(types=["case.replied", "case.retagged", "case.resolved"])
    assert [e["type"] for e in staff] == ["case.replied", "case.retagged", "case.replied",
                                          "case.resolved"]
    assert staff[0]["payload"]["by"].startswith("cli:") and staff[1]["payload"]["by"] == "api"
    for e in staff:
        schema(e["type"]).validate(e["payload"])

    # hark-loop told the customer: the still-open case b gets "loop closed", resolved a not
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
        {"type": "loop.notified", "key": "loop/L1/notified/c2",
         "payload": {"loop": "L1", "reason": "price", "customer_id": "c2", "cases": [a, b]}}]})
    assert cmd == "JOURNAL_APPEND_OK", r
    wait_for(lambda: show(h, b)["loop_closed"], what="loop closed on b")
    assert not show(h, a)["loop_closed"]
    assert any(n["kind"] == "loop_closed" and "loop closed" in n["text"] for n in show(h, b)["notes"])
    assert "loop closed" in h.hark("cases", "show", b).stdout
    # a terminal shows what the customer wrote, never runs it
    out = h.hark("cases", "show", a).stdout
    assert "The parcel is late" in out and "\x1b" not in out and "\x07" not in out

    # the reasons report, CLI and HTTP
    rep = json.loads(h.hark("report", "reasons", "--json").stdout)
    jsonschema.Draft202012Validator(COMMANDS["INTAKE_REPORT_OK"]["request"]).validate(rep)
    assert rep["total"] == 2
    assert {r["code"]: r["count"] for r in rep["reasons"]} == {"price": 2, "damaged_item": 1}
    assert rep["reasons"][0]["code"] == "price" and rep["reasons"][-1]["cumulative"] == 100.0
    team = {t["team"]: t for t in rep["teams"]}
    assert team["logistics"]["replied"] == 1 and team["logistics"]["within_target"] == 1
    st, body = admin(h, "GET", "/v1/reports/reasons?kind=complaint")
    assert st == 200 and body["total"] == 2
    st, body = admin(h, "GET", "/v1/reports/reasons?kind=nps")
    assert st == 200 and body["total"] == 0
    by_team = json.loads(h.hark("report", "reasons", "--team", "billing", "--json").stdout)
    assert by_team["total"] == 1 and [t["team"] for t in by_team["teams"]] == ["billing"]
    st, body = admin(h, "GET", "/v1/reports/reasons?from=2000-01-01&to=2000-12-31")
    assert st == 200 and body["total"] == 0
    st, body = admin(h, "GET", "/v1/reports/reasons?from=yesterday")
    assert st == 400 and body["error"]["field"] == "from"
    st, body = admin(h, "GET", "/v1/cases?status=closed")
    assert st == 400 and body["error"]["field"] == "status"
    # every bad parameter is a 400 naming it, not an empty answer
    for path, field in (("/v1/reports/reasons?from=2026-02-31", "from"),
                        ("/v1/reports/reasons?from=2026-12-01&to=2026-01-01", "to"),
                        ("/v1/reports/reasons?team=nobody", "team"),
                        ("/v1/cases?reason=no_such_reason", "reason"),
                        ("/v1/cases?team=nobody", "team"),
                        ("/v1/cases?breached=maybe", "breached")):
        st, body = admin(h, "GET", path)
        assert st == 400 and body["error"]["field"] == field, (path, st, body)
    out = h.hark("report", "reasons").stdout
    assert "price" in out and "█" in out
    st, body = admin(h, "GET", "/v1/cases/%s" % b)
    assert st == 200 and body["id"] == b and body["text"] == "it was too expensive"
    h.stop()


def test_intake__breach_alert_exactly_once_after_the_first_response_target(make_hark, tmp_path,
                                                                          smtp):
    clock = tmp_path / "clock"
    clock.write_text("0")
    h = start(make_hark, tmp_path, smtp, clock=clock)
    customer(h, "c3", "cleo@example.com")
    late = complain(h, {"customer_id": "c3", "text": "late delivery"})
    answered = complain(h, {"customer_id": "c3", "text": "it arrived broken"})
    smtp.wait_messages(4)
    reply = tmp_path / "r.md"
    reply.write_text("On it.")
    h.hark("cases", "reply", answered, "--message-file", str(reply))
    smtp.wait_messages(5)
    wait_for(lambda: "first_reply_at" in show(h, answered), what="replied")
    assert cases(h, "--breached") == []
    clock.write_text("7200")  # two hours later: past the 1h target
    wait_for(lambda: len(h.fetch_all(types=["mail.requested"])) >= 6, what="the breach alert")
    time.sleep(2.5)  # more timer rounds: still one alert
    breach = [e for e in h.fetch_all(types=["mail.requested"])
              if e["payload"]["template"] == "complaint_breach"]
    assert [e["key"] for e in breach] == ["intake/breach/%s" % late]
    assert breach[0]["payload"]["address"] == "logistics@example.com"
    # how late, in the default locale's words ("intake" in templates/en/words.json)
    assert re.fullmatch(r"\d+h \d+m|\d+ min", breach[0]["payload"]["vars"]["overdue"])
    msgs = smtp.wait_messages(6)
    overdue = [m for m in msgs if m["Subject"].startswith("Overdue")]
    assert len(overdue) == 1 and late in overdue[0]["Subject"]
    assert [c["id"] for c in cases(h, "--breached")] == [late]
    h.stop()


def form_fields(html):
    return dict(re.findall(r'name="(\w+)" value="([^"]*)"', html))


def test_intake__forms_refuse_bad_input_and_store_nothing_then_journal_a_good_post(
        make_hark, tmp_path, smtp):
    h = start(make_hark, tmp_path, smtp, form_rate="12")
    link = link_(h, "c4", "--locale", "pl").split()[1]
    path = link[link.index("/cancel"):]
    st, _, page = h.request("GET", path)
    page = page.decode()
    assert st == 200 and 'lang="pl"' in page
    assert "Opóźniona dostawa" in page and "Uszkodzony produkt" in page  # reasons in Polish
    csrf = form_fields(page)["csrf"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def post(fields, headers=None, raw=None):
        body = raw if raw is not None else urllib.parse.urlencode(fields).encode()
        st, _, data = h.request("POST", path, body, dict(form, **(headers or {})))
        return st, data.decode("utf-8", "replace")

    assert post({"reason": "price", "text": "x"})[0] == 403                    # no csrf
    assert post({"reason": "price", "csrf": csrf + "x"})[0] == 403             # forged
    assert post({"reason": "price", "csrf": csrf},
                {"Origin": "https://evil.example"})[0] == 403                   # other origin
    st, page = post({"reason": "", "text": "x" * 4001, "csrf": csrf})
    assert st == 400 and 'id="error-text"' in page and "4000" in page         # oversized
    st, page = post(None, raw=b"reason=&text=%FF%FE&csrf=" + csrf.encode())
    assert st == 400 and 'id="error-text"' in page                            # invalid UTF-8
    st, page = post({"reason": "nope", "text": "", "csrf": csrf})
    assert st == 400 and 'id="error-reason"' in page                          # unknown reason
    st, page = post({"reason": "", "text": "", "csrf": csrf})
    assert st == 400 and 'id="error-reason"' in page                          # nothing given
    assert h.fetch_all(types=["cancellation", "complaint"]) == []              # nothing stored

    st, page = post({"reason": "price", "text": "za drogo <b>", "csrf": csrf})
    assert st == 200, page
    ev = h.fetch_all(types=["cancellation"])
    assert len(ev) == 1
    assert ev[0]["payload"] == {"customer_id": "c4", "reason_code": "price",
                                "text": "za drogo <b>", "channel": "web"}
    # an anonymous complaint form asks for the address
    st, _, page = h.request("GET", "/feedback?lang=en")
    page = page.decode()
    assert st == 200 and 'name="email"' in page
    fcsrf = form_fields(page)["csrf"]
    st, _, data = h.request("POST", "/feedback", urllib.parse.urlencode(
        {"text": "broken cup", "email": "not-an-address", "csrf": fcsrf}).encode(), form)
    assert st == 400 and b'id="error-email"' in data
    st, _, data = h.request("POST", "/feedback", urllib.parse.urlencode(
        {"text": "broken cup", "email": "Dan@Example.com", "csrf": fcsrf}).encode(), form)
    assert st == 200
    comp = h.fetch_all(types=["complaint"])
    assert comp[0]["payload"]["customer"]["id"] == "web:dan@example.com"
    wait_for(lambda: len(cases(h)) == 2, what="two cases from the forms")
    # forged customer token, and the per-IP rate limit (12 a minute: 10 POSTs so far)
    st, _, _ = h.request("GET", "/cancel?customer=abc.def")
    assert st == 404
    codes = [post({"reason": "price", "csrf": csrf})[0] for _ in range(3)]
    assert codes[-1] == 429
    h.stop()


def test_intake__a_form_in_the_language_asked_for_keeps_it_through_the_post(
        make_hark, tmp_path, smtp):
    h = start(make_hark, tmp_path, smtp)
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "en"}
    st, _, page = h.request("GET", "/feedback?lang=pl", None, {"Accept-Language": "en"})
    page = page.decode()
    assert st == 200 and '<html lang="pl"' in page
    action = re.search(r'<form method="post" action="([^"]*)"', page).group(1)
    assert action == "feedback?lang=pl", action
    csrf = form_fields(page)["csrf"]
    st, _, data = h.request("POST", "/" + action, urllib.parse.urlencode(
        {"csrf": csrf, "email": "ola@example.com"}).encode(), form)
    assert st == 400 and "Wybierz powód lub opisz, co się stało." in data.decode()
    st, _, data = h.request("POST", "/" + action, urllib.parse.urlencode(
        {"text": "Paczka szła prawie miesiąc", "email": "ola@example.com", "csrf": csrf}).encode(),
        form)
    assert st == 200 and "Otrzymaliśmy Twoją wiadomość" in data.decode()
    ev = h.fetch_all(types=["complaint"])
    assert ev[0]["payload"]["customer"]["locale"] == "pl"
    (ack,) = [m for m in smtp.wait_messages(2) if to(m) == "ola@example.com"]
    assert ack["Subject"].startswith("Otrzymaliśmy Twoje zgłoszenie nr C"), ack["Subject"]
    h.stop()


def test_intake__kill_9_during_a_burst_opens_each_case_once_and_requests_each_mail_once(
        make_hark, tmp_path, smtp):
    h = start(make_hark, tmp_path, smtp)
    n = 40
    st, _ = h.post_events([{"type": "customer", "data": {"id": "k%d" % i,
                                                         "email": "k%d@example.com" % i}}
                           for i in range(n)])
    assert st == 202
    kills = 0
    for burst in range(4):
        st, _ = h.post_events([{"type": "complaint",
                                "data": {"customer_id": "k%d" % i, "text": "late delivery %d" % i}}
                               for i in range(burst * 10, burst * 10 + 10)])
        assert st == 202
        if h.pid("intake"):
            h.kill("intake", signal.SIGKILL)
            kills += 1
        time.sleep(0.4)
    assert kills >= 2

    def listed():  # hark-intake may still be training after the last kill: not yet
        r = h.hark("cases", "list", "--json", check=False)
        return json.loads(r.stdout)["cases"] if r.returncode == 0 else []
    wait_for(lambda: len(listed()) == n, timeout=60, what="every case")
    ids = [c["id"] for c in cases(h)]
    assert len(set(ids)) == n
    wait_for(lambda: len(h.fetch_all(types=["mail.requested"])) >= 2 * n, timeout=60,
             what="ack and alert per case")
    time.sleep(1.5)
    reqs = h.fetch_all(types=["mail.requested"])
    keys = [e["key"] for e in reqs]
    assert len(keys) == len(set(keys)) == 2 * n
    assert len(tagged(h)) == n
    msgs = smtp.wait_messages(2 * n, timeout=60)
    assert sorted(to(m) for m in msgs if to(m) != "logistics@example.com") == \
        sorted("k%d@example.com" % i for i in range(n))
    h.stop()


def test_intake__check_config_names_file_and_line_of_reasons_errors(make_hark, tmp_path):
    bad = tmp_path / "bad_reasons.conf"
    bad.write_text("[team.a]\nhours = 18-9\n[reason.other]\nteam = a\n"
                   "[reason.price]\nteam = ghosts\n[reason.price]\nteam = a\n")
    h = make_hark(services=("journal", "gateway", "intake"),
                  conf={"intake": {"reasons": str(bad)}}, start=False)
    r = h.hark("check-config", check=False)
    assert r.returncode == 1
    assert "%s:2: [team.a] hours:" % bad in r.stderr
    assert '%s:6: [reason.price] team: unknown team "ghosts"' % bad in r.stderr
    assert "%s:7: [reason.price]: duplicate reason code" % bad in r.stderr
    assert "3 errors" in r.stderr


def test_intake__a_form_posted_twice_opens_one_case_a_changed_one_another(make_hark, tmp_path,
                                                                            smtp):
    # a browser re-POSTs a form on refresh or after a lost answer: the same
    # form (same csrf token) with the same fields is one complaint, not two
    h = start(make_hark, tmp_path, smtp)
    link = link_(h, "c5", "--locale", "en").split()[1]
    path = link[link.index("/cancel"):]
    st, _, page = h.request("GET", path)
    assert st == 200
    csrf = form_fields(page.decode())["csrf"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = urllib.parse.urlencode({"reason": "price", "text": "too dear", "csrf": csrf}).encode()
    for _ in range(3):
        st, _, data = h.request("POST", path, body, form)
        assert st == 200, data
    assert len(h.fetch_all(types=["cancellation"])) == 1
    # what the customer changed and sent again is news: nothing accepted is lost
    body = urllib.parse.urlencode({"reason": "price", "text": "far too dear", "csrf": csrf}).encode()
    st, _, _ = h.request("POST", path, body, form)
    assert st == 200
    ev = h.fetch_all(types=["cancellation"])
    assert [e["payload"]["text"] for e in ev] == ["too dear", "far too dear"]
    wait_for(lambda: len(cases(h)) == 2, what="two cases")
    h.stop()


@pytest.mark.parametrize("fetch_max", [None, "100"])
def test_intake__a_reply_still_in_the_journal_backlog_is_not_a_breach(make_hark, tmp_path, smtp,
                                                                      fetch_max):
    # the staff replied before the deadline, but hark-intake (stopped here,
    # busy with a burst in real life) applies it only after the deadline:
    # the breach timer must not alert before it has caught up with the journal.
    # fetch_max "100": the journal hands out less than the consumer's batch
    # (500), so a short fetch is not yet the end of the journal
    clock = tmp_path / "clock"
    clock.write_text("0")
    conf = intake_conf(tmp_path, smtp.port)
    if fetch_max:
        conf["journal"] = {"fetch_max": fetch_max}
    h = make_hark(services=SERVICES, conf=conf, start=False)
    h.env["HARK_CLOCK_FILE"] = str(clock)
    h.start()
    customer(h, "c6", "fay@example.com")
    case = complain(h, {"customer_id": "c6", "text": "late delivery"})
    wait_for(lambda: len(cases(h)) == 1, what="the case")
    h.kill("intake", signal.SIGSTOP)
    try:
        for chunk in range(3):  # more than one consumer batch ahead of the reply
            cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
                {"type": "customer", "key": "test/bulk/%d/%d" % (chunk, i),
                 "payload": {"id": "b%d-%d" % (chunk, i)}} for i in range(400)]})
            assert cmd == "JOURNAL_APPEND_OK", r
        cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
            {"type": "case.replied", "key": "test/reply",
             "payload": {"case": case, "message": "On it.", "by": "cli:staff"}}]})
        assert cmd == "JOURNAL_APPEND_OK", r
        clock.write_text("7200")  # past the 1h target; the reply was recorded at 0
    finally:
        h.kill("intake", signal.SIGCONT)
    wait_for(lambda: "first_reply_at" in show(h, case), timeout=60, what="the reply applied")
    assert [e for e in h.fetch_all(types=["mail.requested"])
            if e["payload"]["template"] == "complaint_breach"] == []
    assert not show(h, case)["breached"]
    assert cases(h, "--breached") == []
    h.stop()


def test_intake__a_changed_nps_answer_updates_its_case_instead_of_opening_another(
        make_hark, tmp_path, smtp):
    # the survey page lets a customer change an answer; hark-survey then emits
    # another feedback.given for the same invite: still one case, one ack
    h = start(make_hark, tmp_path, smtp)
    customer(h, "c7", "gus@example.com")

    def given(n, invite, score, comment):
        cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
            {"type": "feedback.given", "key": "survey/%d/feedback" % n,
             "payload": {"customer_id": "c7", "text": comment, "source": "nps", "score": score,
                         "invite": invite}}]})
        assert cmd == "JOURNAL_APPEND_OK", r
        return r["offsets"][0]

    given(1, "inv7", 3, "too expensive")
    given(2, "inv7", 2, "too expensive and the delivery was late")
    given(3, "inv7", 2, "too expensive and the delivery was late")   # the same, re-POSTed
    b_id = "C%d" % given(4, "inv8", 9, "fine, a bit pricey")          # a promoter: no mails
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [  # staff's codes
        {"type": "case.retagged", "key": "test/retag",
         "payload": {"case": b_id, "codes": ["price"], "by": "cli:staff"}}]})
    assert cmd == "JOURNAL_APPEND_OK", r
    given(5, "inv8", 4, "it arrived broken after all")                # now waits for an answer
    wait_for(lambda: len(h.fetch_all(types=["mail.requested"])) >= 4, what="ack and alert x2")
    wait_for(lambda: len(tagged(h)) == 4, what="four feedback.tagged")
    nps = cases(h)
    assert len(nps) == 2, nps
    by_text = {show(h, c["id"])["text"]: show(h, c["id"]) for c in nps}
    a = by_text["too expensive and the delivery was late"]
    # both reasons, best first (the tagger's order, not the taxonomy's)
    assert sorted(a["codes"]) == ["price", "shipping_delay"]
    assert a["score"] == 2 and a["status"] == "open"
    b = by_text["it arrived broken after all"]
    assert b["id"] == b_id and b["status"] == "open" and "due_at" in b
    assert b["codes"] == ["price"] and b["team"] == "billing"      # what staff set stays
    last = {}
    for e in tagged(h):
        schema("feedback.tagged").validate(e["payload"])
        last[e["payload"]["case"]] = e["payload"]["codes"]
    assert last == {a["id"]: a["codes"], b_id: ["price"]}
    mails = h.fetch_all(types=["mail.requested"])
    assert sorted((m["payload"]["template"], m["payload"]["vars"]["case_number"]) for m in mails) == \
        sorted([("complaint_ack", a["id"]), ("complaint_alert", a["id"]),
                ("complaint_ack", b_id), ("complaint_alert", b_id)])
    alert = next(m for m in mails if m["payload"]["template"] == "complaint_alert"
                 and m["payload"]["vars"]["case_number"] == b_id)
    assert alert["payload"]["address"] == "billing@example.com"
    h.stop()


def fill(word, **v):
    """A words.json word filled in as mustache.c fills it: sections of a
    true value kept, of a false one dropped, then the variables."""
    word = re.sub(r"\{\{#(\w+)\}\}(.*?)\{\{/\1\}\}", lambda m: m.group(2) if v[m.group(1)] else "",
                  word)
    return re.sub(r"\{\{(\w+)\}\}", lambda m: str(v[m.group(1)]), word)


@pytest.mark.parametrize("locale", ["en", "ru"])
def test_intake__case_notes_are_the_intake_words_of_the_default_locale(make_hark, tmp_path, smtp,
                                                                       locale):
    # the staff's language is unknown: a case's history is written in
    # [mailer] default_locale, from the "intake" words of its words.json
    clock = tmp_path / "clock"
    clock.write_text("0")
    conf = intake_conf(tmp_path, smtp.port)
    conf["mailer"]["default_locale"] = locale
    h = make_hark(services=SERVICES, conf=conf, start=False)
    h.env["HARK_CLOCK_FILE"] = str(clock)
    h.start()
    with open(os.path.join(ROOT, "templates", locale, "words.json"), encoding="utf-8") as f:
        words = json.load(f)["intake"]
    customer(h, "c1", "ann@example.com")
    a = complain(h, {"customer_id": "c1", "reason_code": "price", "text": "too expensive"})
    late = complain(h, {"customer_id": "c1", "text": "late delivery"})
    h.hark("cases", "retag", a, "--reason", "damaged_item", "price")
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
        {"type": "loop.notified", "key": "loop/L1/notified/c1",
         "payload": {"loop": "L1", "reason": "price", "customer_id": "c1", "cases": [a]}},
        {"type": "feedback.given", "key": "survey/1/feedback",  # a promoter, not praise
         "payload": {"customer_id": "c1", "text": "fine, a bit pricey", "source": "nps",
                     "score": 9, "invite": "inv1"}},
        {"type": "feedback.given", "key": "survey/2/feedback",
         "payload": {"customer_id": "c1", "text": "the delivery was late", "source": "nps",
                     "score": 3, "invite": "inv1"}}]})
    assert cmd == "JOURNAL_APPEND_OK", r
    nps = "C%d" % r["offsets"][1]
    wait_for(lambda: show(h, a)["loop_closed"], what="loop closed")
    h.hark("cases", "resolve", a)
    wait_for(lambda: show(h, a)["status"] == "resolved", what="resolved")
    wait_for(lambda: any(n["kind"] == "answer" for n in show(h, nps)["notes"]), what="answer")
    clock.write_text("7200")  # past the 1h target: the late case breaches
    wait_for(lambda: any(n["kind"] == "breach" for n in show(h, late)["notes"]), what="breach")

    key_a = next(e["key"] for e in h.fetch_all(types=["complaint"]))
    notes = {n["kind"]: n["text"] for n in show(h, a)["notes"]}
    got = [notes["opened"], notes["retag"], notes["loop_closed"], notes["resolved"],
           next(n["text"] for n in show(h, late)["notes"] if n["kind"] == "breach"),
           next(n["text"] for n in show(h, nps)["notes"] if n["kind"] == "answer")]
    want = [fill(words["note_opened"], kind="complaint", key=key_a, codes="price", via="customer",
                 team="billing"),
            fill(words["note_retagged"], codes="damaged_item price", team="logistics"),
            fill(words["note_loop_closed"], reason="price", loop="L1"),
            words["note_resolved"], words["note_breach"],
            fill(words["note_answer"], key="survey/2/feedback", codes="shipping_delay",
                 waiting=True)]
    assert got == want
    if locale == "en":  # the English words write what the C did before them
        assert got == [
            "opened from complaint %s, reasons price (via customer), team billing" % key_a,
            "retagged: damaged_item price (team logistics)",
            "loop closed: the customer was told that price was acted on (loop L1)",
            "resolved", "first-response target missed; team alerted",
            "the customer changed the answer (survey/2/feedback), reasons shipping_delay;"
            " now waiting for a reply"]
    else:
        assert all(re.search("[а-я]", t) and "{{" not in t for t in got), got
        assert "цикл закрыт" in h.hark("cases", "show", a).stdout
    h.stop()


def _post_from(h, addr, path, body=b"text=x", headers=None):
    """POST from a given loopback address: (status, headers, body)"""
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30,
                                      source_address=(addr, 0))
    try:
        conn.request("POST", path, body=body, headers=dict(
            {"Content-Type": "application/x-www-form-urlencoded"}, **(headers or {})))
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def test_intake__form_rate_limit_is_exact_per_address(make_hark, tmp_path, smtp):
    # 127.0.8.1 and 127.0.2.115 shared one slot of a hashed table and reset
    # each other's count: interleaved, 60 POSTs and no 429
    h = start(make_hark, tmp_path, smtp, form_rate="5")
    a, b = "127.0.8.1", "127.0.2.115"
    codes = {a: [], b: []}
    for _ in range(7):
        for addr in (a, b):
            st, hdrs, _ = _post_from(h, addr, "/feedback")
            codes[addr].append((st, hdrs.get("Retry-After")))
    for addr in (a, b):
        assert [c for c, _ in codes[addr]] == [403] * 5 + [429] * 2, (addr, codes[addr])
        retry = codes[addr][-1][1]
        assert retry is not None and 1 <= int(retry) <= 60, retry
    # a third address is not held back by the other two
    assert _post_from(h, "127.0.3.3", "/feedback")[0] == 403
    h.stop()


def test_intake__behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
        make_hark, tmp_path, smtp):
    # the proxy is 127.0.5.1; everyone reaches the gateway through it
    conf = intake_conf(tmp_path, smtp.port, form_rate="3")
    conf.setdefault("gateway", {})["trusted_proxies"] = "127.0.5.1 ::1"
    h = make_hark(services=SERVICES, conf=conf)
    proxy = "127.0.5.1"

    def post(xff):
        return _post_from(h, proxy, "/feedback", headers={"X-Forwarded-For": xff})[0]

    a = [post("198.51.100.7") for _ in range(5)]
    b = [post("203.0.113.9, 127.0.5.1") for _ in range(3)]      # a trusted hop is skipped
    assert a == [403] * 3 + [429] * 2, a
    assert b == [403] * 3, b
    # a client cannot pick its address: only the right end counts
    assert post("203.0.113.77, 198.51.100.7") == 429
    # a malformed entry: the proxy itself is counted
    assert [post("not-an-address") for _ in range(4)] == [403] * 3 + [429]
    # from an address that is not a proxy, X-Forwarded-For is ignored
    other = [_post_from(h, "127.0.6.1", "/feedback",
                        headers={"X-Forwarded-For": "192.0.2.%d" % i})[0] for i in range(4)]
    assert other == [403] * 3 + [429], other
    h.stop()


def test_intake__a_trusted_proxy_that_is_not_an_address_is_a_config_error_naming_the_line(
        make_hark, tmp_path, smtp):
    conf = intake_conf(tmp_path, smtp.port)
    conf.setdefault("gateway", {})["trusted_proxies"] = "127.0.5.1 proxy.example"
    h = make_hark(services=SERVICES, conf=conf, start=False)
    bad = '[gateway] trusted_proxies: "proxy.example" is not an IPv4 or IPv6 address'
    # the config table checks it: Hark does not start, and check-config says why
    h.start(wait=False)
    wait_for(lambda: bad in h.log(), 20, what="the config error")
    line = [l for l in h.log().splitlines() if bad in l][0]
    assert re.search(re.escape(h.config) + r":\d+: ", line), line
    assert h.proc.wait(20) == 2
    h.stop(check=False)
    r = h.hark("check-config", check=False)
    assert r.returncode != 0 and bad in r.stdout + r.stderr


def test_intake__long_addresses_get_distinct_web_ids(make_hark, tmp_path, smtp):
    # ids were cut at 120 characters: two long addresses sharing a start
    # became one customer
    h = start(make_hark, tmp_path, smtp)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    long_host = "a" * 60 + "." + "b" * 60 + "." + "c" * 20
    addrs = ["Pat@%s.one.example" % long_host, "pat@%s.two.example" % long_host,
             "kim@short.example"]
    for addr in addrs:
        st, _, page = h.request("GET", "/feedback?lang=en")
        fcsrf = form_fields(page.decode())["csrf"]
        st, _, data = h.request("POST", "/feedback", urllib.parse.urlencode(
            {"text": "broken cup", "email": addr, "csrf": fcsrf}).encode(), form)
        assert st == 200, (addr, data)
    ids = [e["payload"]["customer"]["id"] for e in h.fetch_all(types=["complaint"])]
    assert len(ids) == 3 and len(set(ids)) == 3, ids
    assert ids[2] == "web:kim@short.example"              # short ones stay whole
    for cid, addr in zip(ids[:2], addrs[:2]):
        assert len(cid) == 128 and cid.startswith("web:" + addr.lower()[:83] + "~")
    h.stop()


def test_intake__cases_link_is_for_a_known_customer_in_their_own_language(
        make_hark, tmp_path, smtp):
    h = start(make_hark, tmp_path, smtp)
    r = h.hark("cases", "link", "nobody-1", check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert 'Hark knows no customer "nobody-1"' in r.stderr
    out = link_(h, "c-zh", locale="zh-CN")  # no --locale: theirs
    st, _, page = h.request("GET", out.split()[0][out.index("/feedback"):])
    assert st == 200 and '<html lang="zh' in page.decode(), page[:300]
    out = link_(h, "c-zh2", "--locale", "pl", locale="zh")  # told: as told
    st, _, page = h.request("GET", out.split()[1][out.split()[1].index("/cancel"):])
    assert st == 200 and '<html lang="pl"' in page.decode()
    h.stop()


def test_intake__one_customer_link_posted_from_many_addresses_has_one_limit(
        make_hark, tmp_path, smtp):
    # the limit is per address and, for a customer's own link, per customer:
    # a link passed around a botnet is held back as one address would be
    h = start(make_hark, tmp_path, smtp, form_rate="4")
    link = link_(h, "c9", "--locale", "en").split()[0]
    path = link[link.index("/feedback"):]
    codes = [_post_from(h, "127.0.10.%d" % (i + 1), path)[0] for i in range(6)]
    assert codes == [403] * 4 + [429] * 2, codes
    # another customer's link, and the anonymous form, are not held back
    other = link_(h, "c10").split()[0]
    assert _post_from(h, "127.0.10.1", other[other.index("/feedback"):])[0] == 403
    assert _post_from(h, "127.0.10.9", "/feedback")[0] == 403
    h.stop()


def test_intake__one_person_one_customer_a_form_from_a_known_address_and_one_loop_email(
        make_hark, tmp_path, smtp):
    """A /feedback post from Anna@Example.com is the shop's customer c-en
    (anna@example.com), not a new web: one; two shop ids with one address
    get one loop email; the dry run counts the address once."""
    conf = intake_conf(tmp_path, smtp.port)
    h = make_hark(services=SERVICES + ("loop",), conf=conf)
    customer(h, "c-en", "anna@example.com", locale="en", name="Anna")
    customer(h, "c-twin", "ANNA@example.com", locale="en", name="Anna (old account)")
    customer(h, "c-pl", "ola@example.pl", locale="pl", name="Ola")
    wait_for(lambda: h.hark("cases", "link", "c-twin", check=False).returncode == 0,
             what="the customers known")
    st, _, page = h.request("GET", "/feedback?lang=en")
    csrf = form_fields(page.decode())["csrf"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    st, _, _ = h.request("POST", "/feedback", urllib.parse.urlencode(
        {"text": "My parcel is late, still waiting", "email": " Anna@Example.com",
         "csrf": csrf}).encode(), form)
    assert st == 200
    complain(h, {"customer_id": "c-twin", "text": "Delivery is late again"})
    complain(h, {"customer_id": "c-pl", "text": "Dostawa spóźniona"})
    wait_for(lambda: len(cases(h)) == 3, what="three cases")
    by_cust = sorted(c["customer_id"] for c in cases(h))
    assert by_cust == ["c-en", "c-pl", "c-twin"], by_cust  # no web:anna@example.com
    reason = next(c["codes"][0] for c in cases(h) if c["customer_id"] == "c-en")
    wait_for(lambda: h.hark("loop", "close", "--reason", reason, "--title", "Faster",
                            "--message-file", "/dev/null", "--dry-run", "--json",
                            check=False).returncode in (0, 2), what="hark-loop answering")
    msg = tmp_path / "m.md"
    msg.write_text("We changed couriers.")
    def preview():
        r = h.hark("loop", "close", "--reason", reason, "--title", "Faster", "--message-file",
                   str(msg), "--dry-run", "--json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else {}
    wait_for(lambda: preview().get("customers") == 2, what="the loop's view of three cases")
    p = preview()
    assert p["skipped"] == {"same_address": 1}, p
    h.hark("loop", "close", "--reason", reason, "--title", "Faster", "--message-file", str(msg))
    wait_for(lambda: len([m for m in smtp.messages() if "Faster" in m["Subject"]]) == 2,
             what="two loop emails")
    time.sleep(1)
    told = sorted(to(m).lower() for m in smtp.messages() if "Faster" in m["Subject"])
    assert told == ["anna@example.com", "ola@example.pl"], told
    h.stop()


def test_intake__the_tagger_reads_praise_opens_nothing_best_reason_routes_retags_are_learned(
        make_hark, tmp_path, smtp):
    h = start(make_hark, tmp_path, smtp)
    customer(h, "c9", "vera@example.com", locale="ru")
    # a promoter's praise and a complaint's: no case, no reason, no loop
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
        {"type": "feedback.given", "key": "survey/9/feedback",
         "payload": {"customer_id": "c9", "text": "Lovely tea, fast delivery", "source": "nps",
                     "score": 10, "invite": "inv9"}},
        {"type": "feedback.given", "key": "survey/10/feedback",
         "payload": {"customer_id": "c9", "text": "Отличный чай, быстрая доставка",
                     "source": "nps", "score": 9}}]})
    assert cmd == "JOURNAL_APPEND_OK", r
    complain(h, {"customer_id": "c9", "text": "Great service, thank you!"})
    # what the keywords missed: no keyword of this taxonomy in either text
    twice = complain(h, {"customer_id": "c9", "text": "You took the money from my card twice"})
    # mostly delivery and damage (and a word on money): logistics, not billing
    mixed = complain(h, {"customer_id": "c9", "text": "The parcel came three weeks late and the "
                                                     "teapot inside was smashed, what a waste "
                                                     "of money"})
    unsure = complain(h, {"customer_id": "c9", "text": "hello, about my order"})
    # a complaint the model leans to read as praise (about half sure) is not
    # dropped: it opens as other, for staff to read
    bell = complain(h, {"customer_id": "c9", "text": "the courier never rang the bell"})
    wait_for(lambda: len(tagged(h)) == 4, what="four feedback.tagged")
    time.sleep(1)  # the praise was applied before these: still nothing for it
    by_case = {e["payload"]["case"]: e["payload"] for e in tagged(h)}
    assert sorted(by_case) == sorted([twice, mixed, unsure, bell])
    assert len(cases(h)) == 4
    assert by_case[bell]["codes"] == ["other"] and by_case[bell]["needs_review"] is True
    assert by_case[twice]["codes"][0] == "billing_error" and by_case[twice]["via"] == "model"
    assert by_case[mixed]["codes"][0] in ("shipping_delay", "damaged_item")
    assert {"shipping_delay", "damaged_item"} & set(by_case[mixed]["codes"][1:]) or \
        len(by_case[mixed]["codes"]) == 1
    assert show(h, mixed)["team"] == "logistics"
    # not sure: other, marked for staff, in the event and in INTAKE_CASES
    assert by_case[unsure]["codes"] == ["other"] and by_case[unsure]["needs_review"] is True
    assert show(h, unsure)["needs_review"] is True and show(h, mixed)["needs_review"] is False
    for p in by_case.values():
        schema("feedback.tagged").validate(p)
    # staff give it a reason: the mark goes, and the next start learns it
    h.hark("cases", "retag", unsure, "--reason", "price")
    wait_for(lambda: not show(h, unsure)["needs_review"], what="retag applied")
    assert show(h, unsure)["codes"] == ["price"]
    h.stop()
    db = sqlite3.connect(os.path.join(h.state, "intake.db"))
    assert db.execute("SELECT code, text FROM examples WHERE case_id = ?",
                      (unsure,)).fetchall() == [("price", "hello, about my order")]
    db.close()
    h.start()
    again = complain(h, {"customer_id": "c9", "text": "hello, about my order"})
    wait_for(lambda: any(e["payload"]["case"] == again for e in tagged(h)), what="tagged")
    assert show(h, again)["codes"][0] == "price" and not show(h, again)["needs_review"]
    h.stop()


def test_intake__its_own_journaled_tagging_wins_over_tagging_again_and_opens_a_praise_case(
        make_hark, tmp_path, smtp):
    """what hark-intake journaled (feedback.tagged, keys intake/...) is read
    back: a replay after an erasure tags "[erased]" texts, and the journaled
    codes must win (hark-backup(7)); another producer's tagging changes nothing"""
    h = start(make_hark, tmp_path, smtp)
    customer(h, "c9", "vera@example.com", locale="ru")
    praise = complain(h, {"customer_id": "c9", "text": "Great service, thank you!"})
    mixed = complain(h, {"customer_id": "c9", "text": "The parcel came three weeks late and the "
                                                     "teapot inside was smashed"})
    wait_for(lambda: len(tagged(h)) == 1, what="one feedback.tagged")
    first = show(h, mixed)["codes"]
    assert first[0] in ("shipping_delay", "damaged_item")
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())

    def tag(key, case, codes, via):
        p = {"case": case, "customer_id": "c9", "kind": "complaint", "codes": codes,
             "via": via, "given_at": now, "text": "[erased]"}
        schema("feedback.tagged").validate(p)
        return {"type": "feedback.tagged", "key": key, "payload": p}
    # a tagging of the praise (as an intake that read it otherwise journaled
    # it): the case is opened from it, with no mail; a test's tagging of the
    # other case is not intake's decision and changes nothing
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
        tag("test/tagged/1", mixed, ["price"], "model"),
        tag("intake/%s/tagged" % praise[1:], praise, ["billing_error", "price"], "model")]})
    assert cmd == "JOURNAL_APPEND_OK", r
    wait_for(lambda: any(c["id"] == praise for c in cases(h)), what="the case opened")
    got = show(h, praise)
    assert got["codes"] == ["billing_error", "price"] and got["team"] == "billing", got
    assert show(h, mixed)["codes"] == first
    # a journaled retag of the other case: its codes and team follow
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
        tag("intake/retag/%s/1" % mixed, mixed, ["price"], "staff")]})
    assert cmd == "JOURNAL_APPEND_OK", r
    wait_for(lambda: show(h, mixed)["codes"] == ["price"], what="the journaled codes")
    assert show(h, mixed)["team"] == "billing"
    time.sleep(1)
    assert not [e for e in h.fetch_all(types=["mail.requested"])
                if e["key"].startswith("intake/%s/" % praise[1:])], "no mail for it"
    assert len(tagged(h)) == 4, "nothing journaled again"
    h.stop()


def test_intake__check_config_names_file_and_line_of_example_errors(make_hark, tmp_path):
    ex = tmp_path / "examples.tsv"
    ex.write_text("# mine\nen\tprice\ttoo dear\nen\tshiping_delay\tlate again\n"
                  "12\tprice\tcostly\npl\tpraise\tsuper\n", encoding="utf-8")
    reasons = tmp_path / "reasons.conf"
    reasons.write_text(REASONS)
    h = make_hark(services=("journal", "gateway", "intake"),
                  conf={"intake": {"reasons": str(reasons), "examples": str(ex)}}, start=False)
    r = h.hark("check-config", check=False)
    assert r.returncode == 1
    assert '%s:3: unknown reason "shiping_delay"' % ex in r.stderr
    assert '%s:4: bad locale "12"' % ex in r.stderr
    assert "2 errors" in r.stderr
    # the shipped examples name reasons this small taxonomy lacks: skipped, no error
    h2 = make_hark(services=("journal", "gateway", "intake"),
                   conf={"intake": {"reasons": str(reasons)}}, start=False)
    assert h2.hark("check-config", check=False).returncode == 0


# The tagger's accuracy on the held-out set (tests/heldout/README.md): texts
# in en ru pl zh be, written by people who never saw the examples or the
# keywords.  Never train or tune on it (hark-intake(8), TAGGING).
# complaints.tsv (695 texts, first writer) was 93.7% right when the lead last
# measured it; the second, third and fourth writers' sets were measured once
# each and then became training examples (config/reason_examples.tsv), and
# so did the fifth's (89.2%) and the sixth's (89.9%).  The seventh and
# eighth writers' sets (720 texts each) were measured once, with the model
# they test: 94.7% and 94.3%.  The floor sits a little below, so a
# regression fails and noise does not.
HELDOUT_MIN = {"complaints.tsv": 91, "complaints7.tsv": 92, "complaints8.tsv": 92}


@pytest.mark.parametrize("heldout", sorted(HELDOUT_MIN))
def test_intake__tagger_is_right_on_the_independent_held_out_complaints(heldout):
    import subprocess
    from harness import BIN
    floor = HELDOUT_MIN[heldout]
    cmd = [os.path.join(BIN, "hark-intake"), "-c", os.path.join(ROOT, "config", "hark.conf"),
           "--evaluate", os.path.join(ROOT, "tests", "heldout", heldout)]
    # only the totals are kept, so a failure shows no held-out text
    def run(floor):
        r = subprocess.run(cmd + ["--min", str(floor)], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
        return r.returncode, [l for l in r.stdout.splitlines() if not l.startswith("miss ")]
    rc, totals = run(floor)
    assert rc == 0, totals
    assert [l.split()[1] for l in totals if l.startswith("locale ")] == ["en", "ru", "pl", "zh",
                                                                         "be"], totals
    total = [l for l in totals if l.startswith("total ")]
    assert len(total) == 1 and float(total[0].split()[2].rstrip("%")) >= floor, totals
    assert run(100)[0] == 1  # --min is a floor that can fail
