"""A language is a folder: a copy of templates/ gets a German folder made from
the English one at run time, the config points at the copy, and the same
binaries serve the survey page, the complaint and cancellation forms, the
unsubscribe page and a customer's mail in German - no C changed, no list of
languages anywhere but the folders."""
import json
import os
import re
import shutil
import urllib.parse

import pytest

from harness import ROOT, wait_for
from smtp import SmtpServer
from test_survey_pages import link_token, sign

SHOP = "Teestube <Nord> & Co"

# the German words: every one of these replaces its English original
GERMAN = {
    "survey": {"title": "Ihre Meinung",
               "question": "Wie wahrscheinlich ist es, dass Sie {{shop}} einem Freund empfehlen?",
               "send": "Absenden", "thanks": "Danke!",
               "saved_html": "Ihre Antwort ist gespeichert: <b>{{score}}</b> von 10.",
               "bad_score": "Bitte wählen Sie eine Bewertung von 0 bis 10."},
    "form": {"feedback_title": "Was ist schiefgelaufen?", "cancel_title": "Warum kündigen Sie?",
             "reason": "Grund", "choose": "Bitte wählen…", "send": "Senden",
             "thanks": "Vielen Dank!", "saved": "Wir haben Ihre Nachricht erhalten."},
    "unsubscribe": {"title": "Abmelden",
                    "ask_html": "Keine Umfragen mehr an <b>{{address}}</b> senden?",
                    "button": "Abmelden"},
    "date": {"months": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
                        "September", "Oktober", "November", "Dezember"],
             "format": "{{day}}. {{month}} {{year}}"},
}

REASONS = """
[team.logistics]
email = logistics@example.com
days = all
hours = 0-24
timezone = UTC

[reason.shipping_delay]
label.en = Late delivery
label.de = Lieferverzögerung
team = logistics
first_response = 1h
keywords.en = late
keywords.de = verspätet

[reason.other]
label.en = Other
label.de = Sonstiges
team = logistics
first_response = 1h
"""


def make_templates(tmp_path):
    """ROOT/templates copied, plus de/ made from en/ with the words above and
    a German acknowledgement mail"""
    tdir = tmp_path / "templates"
    shutil.copytree(os.path.join(ROOT, "templates"), tdir)
    assert not (tdir / "de").exists()  # the shipped tree has no German
    shutil.copytree(tdir / "en", tdir / "de")
    words = json.loads((tdir / "de" / "words.json").read_text())
    for part, ws in GERMAN.items():
        words[part].update(ws)
    (tdir / "de" / "words.json").write_text(json.dumps(words, ensure_ascii=False, indent=2))
    ack = (tdir / "de" / "complaint_ack.md").read_text()
    ack = ack.replace("subject: We've received your request (case {{case_number}})",
                      "subject: Wir haben Ihre Anfrage erhalten (Fall {{case_number}})")
    ack = ack.replace("- Topic: {{reason_label}}", "- Thema: {{reason_label}}")
    (tdir / "de" / "complaint_ack.md").write_text(ack)
    return tdir


@pytest.fixture
def smtp(tmp_path):
    s = SmtpServer(tmp_path / "smtp")
    yield s
    s.stop()


def test_a_locale_folder_added_at_run_time_is_served_with_no_c_change(make_hark, tmp_path, smtp):
    tdir = make_templates(tmp_path)
    reasons = tmp_path / "reasons.conf"
    reasons.write_text(REASONS)
    h = make_hark(services=("journal", "gateway", "mailer", "intake"), conf={
        "smtp": {"host": "127.0.0.1", "port": str(smtp.port), "starttls": "off",
                 "timeout": "5s"},
        "mailer": {"templates": str(tdir), "from": "shop@example.com", "shop_name": SHOP},
        "intake": {"reasons": str(reasons)}})
    with open(os.path.join(h.state, "keys", "token.key")) as f:
        key = f.read().strip()

    # the survey page, for a link whose locale is de-DE: German, shop escaped
    tok = link_token(key, "inv-de", locale="de-DE")
    st, _, page = h.request("GET", "/s/" + tok + "?score=8")
    text = page.decode()
    assert st == 200 and '<html lang="de">' in text
    assert ("Wie wahrscheinlich ist es, dass Sie Teestube &lt;Nord&gt; &amp; Co einem Freund"
            " empfehlen?") in text
    assert "Absenden" in text and "<title>Ihre Meinung</title>" in text
    assert "Not at all likely" in text  # a word German lacks is English's
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    csrf = sign(key, "survey-form", b"inv-de")
    st, _, page = h.request("POST", "/s/" + tok, urllib.parse.urlencode(
        {"score": "11", "csrf": csrf}).encode(), form)
    assert st == 400 and "Bitte wählen Sie eine Bewertung von 0 bis 10." in page.decode()
    st, _, page = h.request("POST", "/s/" + tok, urllib.parse.urlencode(
        {"score": "9", "csrf": csrf}).encode(), form)
    assert st == 200 and "Ihre Antwort ist gespeichert: <b>9</b> von 10." in page.decode()
    (ev,) = h.fetch_all(types=["survey.answered"])
    assert ev["payload"] == {"invite": "inv-de", "score": 9, "locale": "de-DE"}

    # the cancellation form from a customer's link, with the reasons' German labels
    st, body = h.post_events({"type": "customer", "data": {"id": "c1", "email": "c1@example.com"}})
    assert st == 202, body
    wait_for(lambda: h.hark("cases", "link", "c1", check=False).returncode == 0,
             what="hark-mailer to know c1")
    link = h.hark("cases", "link", "c1", "--locale", "de").stdout.split()[1]
    st, _, page = h.request("GET", link[link.index("/cancel"):])
    text = page.decode()
    assert st == 200 and 'lang="de"' in text and "Warum kündigen Sie?" in text
    assert ">Lieferverzögerung</option>" in text and ">Sonstiges</option>" in text
    assert "Bitte wählen…" in text and "Late delivery" not in text
    # the anonymous complaint form: the browser's language, then ?lang=
    st, _, page = h.request("GET", "/feedback", headers={"Accept-Language": "fr, de;q=0.8"})
    text = page.decode()
    assert st == 200 and 'lang="de"' in text and "Was ist schiefgelaufen?" in text
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', text))
    st, _, page = h.request("POST", "/feedback", urllib.parse.urlencode(
        {"reason": "shipping_delay", "email": "Kai@Example.com", "csrf": fields["csrf"]}).encode(),
        dict(form, **{"Accept-Language": "fr, de;q=0.8"}))
    assert st == 200 and "Wir haben Ihre Nachricht erhalten." in page.decode()
    (comp,) = h.fetch_all(types=["complaint"])
    assert comp["payload"]["customer"] == {"id": "web:kai@example.com", "email": "Kai@Example.com",
                                           "locale": "de"}
    st, _, page = h.request("GET", "/feedback?lang=en", headers={"Accept-Language": "de"})
    assert st == 200 and "Tell us what went wrong" in page.decode()

    # the unsubscribe page
    ut = sign(key, "unsubscribe", b"kai@example.com\nde-AT\nc9")
    st, _, page = h.request("GET", "/u/" + ut)
    text = page.decode()
    assert st == 200 and 'lang="de"' in text
    assert "Keine Umfragen mehr an <b>kai@example.com</b> senden?" in text

    # a mail: a German customer's complaint is acknowledged from de/, the
    # reason found by its German keyword and shown with its German label
    st, body = h.post_events({"type": "customer", "data": {"id": "c2", "email": "lena@example.com",
                                                           "locale": "de-CH"}})
    assert st == 202, body
    st, body = h.post_events({"type": "complaint", "data": {"customer_id": "c2",
                                                            "text": "Paket VERSPÄTET"}})
    assert st == 202, body

    def ack():
        return [m for m in smtp.messages() if m["To"].addresses[0].addr_spec == "lena@example.com"]
    (mail,) = wait_for(ack, what="the acknowledgement")
    assert str(mail["Subject"]) == "Wir haben Ihre Anfrage erhalten (Fall C%d)" % body["offsets"][0]
    assert "Thema: Lieferverzögerung" in mail.get_body(preferencelist=("plain",)).get_content()
    h.stop()


def test_a_broken_words_file_stops_the_gateway_naming_file_and_line(make_hark, tmp_path):
    tdir = tmp_path / "templates"
    shutil.copytree(os.path.join(ROOT, "templates"), tdir)
    shutil.copytree(tdir / "en", tdir / "uk")
    (tdir / "uk" / "words.json").write_text('{"survey": {"title": "Ваша думка",}}')
    h = make_hark(conf={"mailer": {"templates": str(tdir)}}, start=False)
    h.start(wait=False)
    wait_for(lambda: "event=bad_words" in h.log(), what="the gateway's complaint")
    line = next(l for l in h.log().splitlines() if "event=bad_words" in l)
    assert "uk/words.json:1:" in line
    h.stop(check=False)
    r = h.hark("check-config", check=False)  # says so before a start, too
    assert r.returncode == 1 and "uk/words.json:1:" in r.stderr
