"""The four jobs as one chain, every process real: a customer's NPS comment
(a real invite email, its score link, the survey page's form), a complaint
and a cancellation through the gateway, in Polish, English and Russian, are
tagged by hark-intake from their text with the shipped taxonomy
(config/reasons.conf); staff close the loop for that reason; hark-loop
mails each customer once in their language, and hark-intake marks each of
their open cases "loop closed".  The contracts between the services
(feedback.given, feedback.tagged, loop.notified) are exercised here by the
services that produce and consume them, not by a test standing in for one."""
import json
import os
import re
import time
import urllib.parse

import pytest

from harness import ROOT, shop_conf, wait_for


@pytest.fixture(params=["sqlite", "jetstream"])
def engine(request):
    """every test here against both of the journal's engines"""
    return request.param

SERVICES = ("journal", "gateway", "mailer", "survey", "intake", "loop")
REASON = "shipping_delay"
TITLE = "Two-day delivery"
HOSTILE = "Parcel came late <script>alert(1)</script> [win](javascript:alert(2)) **again**"


def to(msg):
    return msg["To"].addresses[0].addr_spec


def text(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def html(msg):
    return msg.get_body(preferencelist=("html",)).get_content()


def tagged(h):
    return [e["payload"] for e in h.fetch_all(types=["feedback.tagged"])]


def show(h, case_id):
    return json.loads(h.hark("cases", "show", case_id, "--json").stdout)


def test_chain__nps_comment_complaint_and_cancellation_tagged_then_one_loop_email_each(
        make_hark, smtp, tmp_path):
    h = make_hark(services=SERVICES, conf=dict(
        shop_conf(smtp.port),
        survey={"delay": "1s", "window_hours": "0-24", "window_days": "all"},
        intake={"reasons": os.path.join(ROOT, "config", "reasons.conf")}))
    people = {"ola": ("ola@example.com", "pl"), "anna": ("anna@example.com", "en"),
              "boris": ("boris@example.com", "ru"), "dan": ("dan@example.com", "en")}
    st, body = h.post_events([{"type": "customer", "data": {"id": cid, "email": e, "locale": loc,
                                                            "name": cid.title()}}
                              for cid, (e, loc) in people.items()])
    assert st == 202, body

    # 1. Ola buys; the NPS invite comes; she opens the 3 link and sends the
    #    form with a comment, as a browser would (GET shows, POST records)
    st, body = h.post_events({"type": "purchase", "data": {"customer_id": "ola", "order_id": "o-1"}})
    assert st == 202, body
    (invite,) = smtp.wait_messages(1)
    assert to(invite) == "ola@example.com"
    links = re.findall(r'href="http://127\.0\.0\.1:%d(/s/[A-Za-z0-9_.-]+)\?score=3"' % h.port,
                       html(invite))
    assert links, html(invite)
    st, _, page = h.request("GET", links[0] + "?score=3")
    assert st == 200
    csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
    form = urllib.parse.urlencode({"score": "3", "csrf": csrf,
                                   "comment": "Przesyłka szła trzy tygodnie"}).encode()
    st, _, _ = h.request("POST", links[0], form, {
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": "http://127.0.0.1:%d" % h.port})
    assert st == 200

    # 2. a complaint (English, with Markdown/HTML in it) and a cancellation
    #    (Russian) from the shop's backend; Dan complains, then unsubscribes
    for kind, cid, txt in (("complaint", "anna", HOSTILE),
                           ("cancellation", "boris", "Доставка опоздала на неделю, отменяю"),
                           ("complaint", "dan", "My delivery never arrived")):
        st, body = h.post_events({"type": kind, "data": {"customer_id": cid, "text": txt}})
        assert st == 202, body
    wait_for(lambda: len(tagged(h)) == 4, timeout=30, what="four pieces of feedback tagged")
    by_customer = {p["customer_id"]: p for p in tagged(h)}
    assert {c: (p["kind"], p["codes"]) for c, p in by_customer.items()} == {
        "ola": ("nps", [REASON]), "anna": ("complaint", [REASON]),
        "boris": ("cancellation", [REASON]), "dan": ("complaint", [REASON])}
    assert by_customer["ola"]["text"] == "Przesyłka szła trzy tygodnie"
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
        {"type": "mail.unsubscribed", "key": "test/unsub/dan",
         "payload": {"address": "dan@example.com", "customer_id": "dan", "via": "page"}}]})
    assert cmd == "JOURNAL_APPEND_OK", r

    # 3. staff close the loop; hark-loop needs to have seen everything first
    def loop_applied():
        st = {s["name"]: s for s in h.status()["services"]}
        return st["loop"].get("lag") == 0 and st["intake"].get("lag") == 0
    wait_for(loop_applied, what="loop and intake caught up")
    note = tmp_path / "note.md"
    note.write_text("We switched couriers: **every order now ships within two days**.\n")
    dry = json.loads(h.hark("loop", "close", "--reason", REASON, "--title", TITLE,
                            "--message-file", str(note), "--dry-run", "--json").stdout)
    assert dry["customers"] == 3 and dry["locales"] == {"en": 1, "pl": 1, "ru": 1}
    assert dry["skipped"] == {"unsubscribed": 1}
    h.hark("loop", "close", "--reason", REASON, "--title", TITLE, "--message-file", str(note))

    def loop_mails():
        return [m for m in smtp.messages() if TITLE in str(m["Subject"])]
    wait_for(lambda: len(loop_mails()) == 3, timeout=30, what="three loop emails")
    mails = {to(m): m for m in loop_mails()}
    assert sorted(mails) == ["anna@example.com", "boris@example.com", "ola@example.com"]
    assert "услышали" in str(mails["boris@example.com"]["Subject"])
    assert "Twoja opinia" in str(mails["ola@example.com"]["Subject"])
    assert "Przesyłka szła trzy tygodnie" in text(mails["ola@example.com"])
    assert "Доставка опоздала" in text(mails["boris@example.com"])
    # Anna's words are quoted as she typed them, never live
    anna_html = html(mails["anna@example.com"])
    assert "<script" not in anna_html
    assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", anna_html, re.I)
    assert "[win](javascript:alert(2))" in anna_html  # shown as the text she typed
    assert "&lt;script&gt;" in anna_html
    assert "<strong>again</strong>" not in anna_html
    assert "<strong>every order now ships within two days</strong>" in anna_html

    # 4. hark-intake hears loop.notified: the told customers' open cases are
    #    marked loop closed with a note; Dan (unsubscribed, not told) is not
    case_of = {c: p["case"] for c, p in by_customer.items()}
    for cid in ("ola", "anna", "boris"):
        wait_for(lambda: show(h, case_of[cid])["loop_closed"], what="case of %s loop closed" % cid)
        assert any(n["kind"] == "loop_closed" for n in show(h, case_of[cid])["notes"])
    assert not show(h, case_of["dan"])["loop_closed"]

    # 5. closing the same loop again tells nobody anew
    h.hark("loop", "close", "--reason", REASON, "--title", TITLE, "--message-file", str(note))
    wait_for(loop_applied, what="caught up after the second close")
    time.sleep(1)
    assert len(loop_mails()) == 3
    notified = h.fetch_all(types=["loop.notified"])
    assert sorted(e["payload"]["customer_id"] for e in notified) == ["anna", "boris", "ola"]
    h.stop()
