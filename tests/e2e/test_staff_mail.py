"""What support staff get by mail, end to end through the real mailer and a
real SMTP server (every mail parsed with Python's email package): the links
of team alerts, breach alerts, detractor alerts and the NPS digest open
Hark Console's pages (CONSOLE/cases/ID, /cases?customer=ID, /cases), and a
reply to a customer no mail can reach is refused - by `hark cases reply`
and the admin API before anything is journaled, and by hark-intake (kept
as a note, the first-response clock running on) when one slips through."""
import datetime
import html as htmlmod
import json
import re
import time
import urllib.parse

import jsonschema

from harness import wait_for
import test_intake as ti
import test_survey as ts
import test_survey_digest as td
from test_relationship import Clock

# Hark Console's default address: [console] public_url's default, and what
# the staff links use when neither staff_url nor that setting says otherwise
CONSOLE = "http://127.0.0.1:8081"


def links(msg):
    """The href targets of a mail's HTML part, unescaped."""
    body = msg.get_body(preferencelist=("html",)).get_content()
    return [htmlmod.unescape(h) for h in re.findall(r'href="([^"]*)"', body)]


def staff_link(msg, base):
    """The one link of a staff mail into the console at base."""
    found = [u for u in links(msg) if u.startswith(base + "/")]
    assert len(found) == 1, links(msg)
    return found[0]


def test_staff_mail__team_and_breach_alerts_open_the_case_in_the_console(make_hark, tmp_path,
                                                                        smtp):
    clock = tmp_path / "clock"
    clock.write_text("0")
    h = ti.start(make_hark, tmp_path, smtp, clock=clock)
    ti.customer(h, "c1", "anna@example.com")
    case = ti.complain(h, {"customer_id": "c1", "text": "late delivery"})
    msgs = smtp.wait_messages(2)
    (alert,) = [m for m in msgs if ti.to(m) == "logistics@example.com"]
    assert case in alert["Subject"]
    # the console's case page, not the admin API's /v1/cases/ID (a 401 to a browser)
    assert staff_link(alert, CONSOLE) == CONSOLE + "/cases/" + case
    assert "/v1/" not in " ".join(links(alert))
    ev = [e for e in h.fetch_all(types=["mail.requested"])
          if e["payload"]["template"] == "complaint_alert"]
    assert ev[0]["payload"]["vars"]["staff_url"] == CONSOLE + "/cases/" + case

    clock.write_text("7200")  # past the 1h target, unanswered: the breach alert
    msgs = smtp.wait_messages(3)
    (overdue,) = [m for m in msgs if m["Subject"].startswith("Overdue")]
    assert ti.to(overdue) == "logistics@example.com" and case in overdue["Subject"]
    assert staff_link(overdue, CONSOLE) == CONSOLE + "/cases/" + case
    h.stop()


def test_staff_mail__a_detractor_alert_opens_the_customers_cases_in_the_console(make_hark, smtp):
    # the case hark-intake opens from the comment is not known yet when the
    # alert is written: the link is the customer's cases, their id encoded
    h = make_hark(services=ts.SERVICES, conf=ts.survey_conf(smtp.port))
    cid = "c 1/&x=#?é"
    off = ts.buy(h, cid, "sad@example.com", "o-1", name="Bob")
    smtp.wait_messages(1)
    ts.answer(h, "p%d" % off, 2, comment="Broken box")
    msgs = smtp.wait_messages(2)
    (alert,) = [m for m in msgs if ts.to(m) == ts.STAFF]
    url = staff_link(alert, CONSOLE)
    assert url == CONSOLE + "/cases?customer=" + urllib.parse.quote(cid, safe="")
    assert url == CONSOLE + "/cases?customer=c%201%2F%26x%3D%23%3F%C3%A9"
    parsed = urllib.parse.urlsplit(url)
    assert parsed.path == "/cases" and parsed.fragment == ""
    assert urllib.parse.parse_qs(parsed.query) == {"customer": [cid]}
    h.stop()


def test_staff_mail__the_digest_links_the_console_inbox_under_staff_url(make_hark, smtp,
                                                                       tmp_path):
    real = datetime.datetime.now(datetime.timezone.utc)
    m1 = td.first_monday_9_after(real + datetime.timedelta(days=7))
    clock = Clock(tmp_path / "clock")
    clock.at(m1 + datetime.timedelta(seconds=3))
    h = make_hark(services=ts.SERVICES, start=False, conf=ts.survey_conf(
        smtp.port, digest_to=td.DIGEST, digest_day="mon", digest_hour="9",
        default_timezone="Europe/Warsaw", staff_url="https://console.example/hark/"))
    h.env["HARK_CLOCK_FILE"] = str(clock.path)
    h.start()
    wait_for(lambda: len(td.digests(smtp)) == 1, what="the digest")
    (d,) = td.digests(smtp)
    assert staff_link(d, "https://console.example/hark") == "https://console.example/hark/cases"
    h.stop()


def admin_reply(h, case, message="We are on it."):
    st, body = ti.admin(h, "POST", "/v1/cases/%s/reply" % case, {"message": message})
    return st, body


def replied(h):
    return h.fetch_all(types=["case.replied"])


def test_staff_mail__a_reply_no_mail_can_reach_is_refused_and_the_clock_runs_on(
        make_hark, tmp_path, smtp):
    clock = tmp_path / "clock"
    clock.write_text("0")
    h = ti.start(make_hark, tmp_path, smtp, clock=clock,
                 staff_url="https://console.example/")
    # a customer Hark knows no address of
    st, body = h.post_events({"type": "customer", "data": {"id": "c-none", "name": "Nemo"}})
    assert st == 202, body
    mute = ti.complain(h, {"customer_id": "c-none", "text": "late delivery"})
    # an NPS comment without a customer (the gateway wants one on complaints)
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
        {"type": "feedback.given", "key": "test/anonymous/feedback",
         "payload": {"text": "it arrived broken", "source": "nps", "score": 2}}]})
    assert cmd == "JOURNAL_APPEND_OK", r
    anonymous = "C%d" % r["offsets"][0]
    wait_for(lambda: len(ti.cases(h)) == 2, what="two cases")
    c = ti.show(h, mute)
    assert c["unreachable"] == "no_email" and ti.show(h, anonymous)["unreachable"] == "no_customer"
    jsonschema.Draft202012Validator(ti.COMMANDS["INTAKE_CASES_OK"]["request"]).validate(
        {"cases": [c]})
    # the team's alert links the case under the configured console address
    msgs = smtp.wait_messages(2)
    (alert,) = [m for m in msgs if mute in m["Subject"]]
    assert staff_link(alert, "https://console.example") == "https://console.example/cases/" + mute

    # the CLI refuses, clearly, and journals nothing
    reply = tmp_path / "reply.md"
    reply.write_text("Sorry!")
    r = h.hark("cases", "reply", mute, "--message-file", str(reply), check=False)
    assert r.returncode == 1 and "no usable email" in r.stderr and "nothing stored" in r.stderr
    assert "refused" in h.hark("cases", "show", mute).stdout
    # the admin API: 409 no_usable_email, nothing journaled
    st, body = admin_reply(h, mute)
    assert st == 409 and body["error"]["code"] == "no_usable_email", body
    assert body["error"]["field"] == "case" and "no email" in body["error"]["message"]
    st, body = admin_reply(h, anonymous)
    assert st == 409 and body["error"]["code"] == "no_usable_email", body
    assert "no customer" in body["error"]["message"]
    assert replied(h) == []
    # other actions are not replies: still fine
    st, body = ti.admin(h, "POST", "/v1/cases/%s/resolve" % anonymous, {})
    assert st == 202, body

    # a case.replied that got past the check (journaled directly here):
    # kept as a note, no mail, not a first response
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
        {"type": "case.replied", "key": "test/reply/mute",
         "payload": {"case": mute, "message": "Sorry, late.", "by": "cli:staff"}}]})
    assert cmd == "JOURNAL_APPEND_OK", r
    wait_for(lambda: any(n["kind"] == "note" for n in ti.show(h, mute)["notes"]),
             what="the note")
    c = ti.show(h, mute)
    assert "first_reply_at" not in c and c["status"] == "open"
    assert [n["text"] for n in c["notes"] if n["kind"] == "note"] == \
        ["reply not sent: no usable email"]
    assert any(n["kind"] == "reply" and n["text"] == "Sorry, late." for n in c["notes"])
    assert [e for e in h.fetch_all(types=["mail.requested"])
            if e["payload"]["template"] == "complaint_reply"] == []
    # the clock ran on: past the deadline it is a breach, with its alert
    clock.write_text("7200")
    wait_for(lambda: any(e["payload"]["template"] == "complaint_breach"
                         for e in h.fetch_all(types=["mail.requested"])), what="the breach")
    assert [c["id"] for c in ti.cases(h, "--breached")] == [mute]

    # the customer's address arrives: the reply goes out and counts
    ti.customer(h, "c-none", "nemo@example.com", name="Nemo")
    wait_for(lambda: "unreachable" not in ti.show(h, mute), what="reachable")
    st, body = admin_reply(h, mute, "Found you: a new parcel is on its way.")
    assert st == 202, body
    wait_for(lambda: any(ti.to(m) == "nemo@example.com" and m["Subject"].startswith("Re:")
                         for m in smtp.messages()), what="the reply mailed")
    wait_for(lambda: "first_reply_at" in ti.show(h, mute), what="replied")
    h.stop()


def test_staff_mail__a_reply_to_an_address_that_bounced_is_refused(make_hark, tmp_path, smtp):
    h = ti.start(make_hark, tmp_path, smtp)
    ti.customer(h, "c-b", "Gone@Example.com")
    case = ti.complain(h, {"customer_id": "c-b", "text": "late delivery"})
    wait_for(lambda: len(ti.cases(h)) == 1, what="the case")
    assert "unreachable" not in ti.show(h, case)
    # the mailer's report of a hard bounce (addresses compare in lower case)
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
        {"type": "mail.bounced", "key": "test/bounce/1",
         "payload": {"message": 1, "request_key": "intake/1/ack", "customer_id": "c-b",
                     "address": "gone@example.com", "template": "complaint_ack",
                     "category": "complaint", "attempts": 1, "code": 550,
                     "error": "550 no such user"}}]})
    assert cmd == "JOURNAL_APPEND_OK", r
    wait_for(lambda: ti.show(h, case).get("unreachable") == "bounced", what="bounced")
    st, body = admin_reply(h, case)
    assert st == 409 and body["error"]["code"] == "no_usable_email", body
    assert "bounced" in body["error"]["message"]
    reply = tmp_path / "reply.md"
    reply.write_text("Sorry!")
    r = h.hark("cases", "reply", case, "--message-file", str(reply), check=False)
    assert r.returncode == 1 and "bounced" in r.stderr, r.stderr
    time.sleep(0.5)
    assert replied(h) == []
    # a new address is usable again
    ti.customer(h, "c-b", "new@example.com")
    wait_for(lambda: "unreachable" not in ti.show(h, case), what="a new address")
    h.hark("cases", "reply", case, "--message-file", str(reply))
    assert len(replied(h)) == 1
    h.stop()
