"""hark-mailer end to end: real journal, real gateway, real SMTP server,
and every message read back with Python's email package."""
import json
import os
import re
import signal
import time
import urllib.parse

import pytest

from harness import ROOT, shop_conf, wait_for

SERVICES = ("journal", "gateway", "mailer")


def mail_conf(port, **extra):
    conf = shop_conf(port, from_name="Чайная Лавка", shop_name="Чайная Лавка", give_up="3s")
    for sec, kv in extra.items():
        conf.setdefault(sec, {}).update(kv)
    return conf


@pytest.fixture
def mailer(make_hark, smtp):
    h = make_hark(services=SERVICES, conf=mail_conf(smtp.port))
    yield h
    h.stop()


def outcomes(h, types=("mail.delivered", "mail.bounced", "mail.failed", "mail.skipped")):
    return h.fetch_all(types=list(types))


def wait_outcome(h, n=1, timeout=30, **match):
    def found():
        evs = [e for e in outcomes(h) if all(e["payload"].get(k) == v for k, v in match.items())]
        return evs if len(evs) >= n else None
    return wait_for(found, timeout, what="mail outcome %s" % match)


def customer(h, cid, email_, name="Anna", locale="en", **more):
    data = {"id": cid, "email": email_, "name": name, "locale": locale}
    data.update(more)
    st, body = h.post_events({"type": "customer", "data": data})
    assert st == 202, body


def request(h, template, category, vars_=None, **to):
    """Ask for mail the way services do: a mail.requested event."""
    payload = {"template": template, "category": category, "vars": vars_ or {}}
    payload.update(to)
    key = "test/%s/%f" % (template, time.time())
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND",
                    {"events": [{"type": "mail.requested", "key": key, "payload": payload}]})
    assert cmd == "JOURNAL_APPEND_OK", r
    return key


def body_text(msg, subtype):
    part = msg.get_body(preferencelist=(subtype,))
    return part.get_content()


def test_hark_mail_send_delivers_a_multipart_utf8_message(mailer, smtp):
    r = mailer.hark("mail", "send", "--template", "test", "--to", "ola@example.pl", "--locale", "pl",
                    "--wait", timeout=90)
    assert "mail.delivered" in r.stdout
    (msg,) = smtp.wait_messages(1)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["To"].addresses[0].addr_spec == "ola@example.pl"
    assert msg["From"].addresses[0].addr_spec == "shop@example.com"
    assert "Чайная" in str(msg["From"])
    assert msg["Message-ID"] and msg["Date"] and msg["Subject"]
    for p in msg.iter_parts():
        assert p["Content-Transfer-Encoding"] == "quoted-printable"
        assert p.get_content_charset() == "utf-8"
    for line in smtp.raw()[0].split(b"\r\n"):
        assert len(line) <= 998
    # a test send is not marketing: no unsubscribe header
    assert msg["List-Unsubscribe"] is None


def test_customer_mail_is_in_their_language_with_one_click_unsubscribe(mailer, smtp):
    customer(mailer, "c1", "ivan@example.ru", name="Иван", locale="ru-RU")
    request(mailer, "birthday", "milestone", customer_id="c1")
    (msg,) = smtp.wait_messages(1)
    text = body_text(msg, "plain")
    assert "Иван" in text
    assert re.search("[а-яё]{4,}", str(msg["Subject"]).lower()), msg["Subject"]
    unsub = str(msg["List-Unsubscribe"]).strip()
    assert unsub.startswith("<http://127.0.0.1:%d/u/" % mailer.port) and unsub.endswith(">")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsub[1:-1] in body_text(msg, "html")   # and a visible link


def test_customer_text_cannot_inject_headers_links_or_html(mailer, smtp):
    evil = "Bob\r\nBcc: x@evil.example [x](https://evil.example) <img src=x onerror=alert(1)>"
    customer(mailer, "c2", "bob@example.com", name=evil)
    request(mailer, "birthday", "milestone", customer_id="c2")
    (msg,) = smtp.wait_messages(1)
    raw = smtp.raw()[0]
    assert b"\nBcc:" not in raw and b"\r\nBcc:" not in raw
    assert msg["Bcc"] is None
    html = body_text(msg, "html")
    assert "https://evil.example" not in re.findall(r'href="([^"]*)"', html)
    assert "<img" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    assert "[x](https://evil.example)" in body_text(msg, "plain")


def test_unsubscribe_get_records_nothing_post_suppresses_and_complaints_still_go(mailer, smtp):
    customer(mailer, "c3", "pat@example.com")
    request(mailer, "birthday", "milestone", customer_id="c3")
    (msg,) = smtp.wait_messages(1)
    url = str(msg["List-Unsubscribe"]).strip()[1:-1]
    path = urllib.parse.urlparse(url).path
    st, hdrs, page = mailer.request("GET", path)
    assert st == 200 and b"pat@example.com" in page and b"<form" in page
    st, _, _ = mailer.request("HEAD", path)
    assert st == 200
    assert mailer.fetch_all(types=["mail.unsubscribed"]) == []
    # one-click, as a mail client does it: no cookie, form body, answer 200 without redirect
    st, hdrs, page = mailer.request("POST", path, b"List-Unsubscribe=One-Click",
                                    {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 200 and "Location" not in hdrs and "Set-Cookie" not in hdrs
    (ev,) = mailer.fetch_all(types=["mail.unsubscribed"])
    assert ev["payload"] == {"address": "pat@example.com", "customer_id": "c3", "via": "one-click"}
    # a second click changes nothing
    assert mailer.request("POST", path, b"List-Unsubscribe=One-Click")[0] == 200
    assert len(mailer.fetch_all(types=["mail.unsubscribed"])) == 1
    time.sleep(1.5)  # the mailer applies the suppression from the journal
    k1 = request(mailer, "birthday", "milestone", customer_id="c3")
    k2 = request(mailer, "complaint_ack", "complaint", customer_id="c3",
                 vars_={"case_number": "C-1", "respond_by": "tomorrow", "reason_label": "Delivery"})
    (skipped,) = wait_outcome(mailer, request_key=k1)
    assert skipped["type"] == "mail.skipped" and skipped["payload"]["reason"] == "suppressed"
    (ok,) = wait_outcome(mailer, request_key=k2)
    assert ok["type"] == "mail.delivered"
    assert len(smtp.messages()) == 2


def test_unsubscribe_post_from_another_site_is_refused_and_one_click_still_works(mailer, smtp):
    # a foreign page's form posting to /u/TOKEN unsubscribed the customer
    customer(mailer, "c5", "lee@example.com")
    request(mailer, "birthday", "milestone", customer_id="c5")
    (msg,) = smtp.wait_messages(1)
    path = urllib.parse.urlparse(str(msg["List-Unsubscribe"]).strip()[1:-1]).path
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for origin in ("https://evil.example", "null", "http://127.0.0.1:%d.evil.example" % mailer.port):
        st, _, page = mailer.request("POST", path, b"List-Unsubscribe=One-Click",
                                     dict(form, Origin=origin))
        assert st == 403, origin
        assert b"lee@example.com" in page and b"<form" in page  # asks again, on our page
    assert mailer.fetch_all(types=["mail.unsubscribed"]) == []
    # our own page's button (our Origin) and a mail client's POST (none) go through
    st, _, _ = mailer.request("POST", path, b"", dict(form, Origin="http://127.0.0.1:%d" % mailer.port))
    assert st == 200
    (ev,) = mailer.fetch_all(types=["mail.unsubscribed"])
    assert ev["payload"]["via"] == "page"
    assert mailer.request("POST", path, b"List-Unsubscribe=One-Click", form)[0] == 200

def test_forged_or_broken_unsubscribe_token_is_404_and_writes_nothing(mailer, smtp):
    customer(mailer, "c4", "kim@example.com")
    request(mailer, "birthday", "milestone", customer_id="c4")
    (msg,) = smtp.wait_messages(1)
    path = urllib.parse.urlparse(str(msg["List-Unsubscribe"]).strip()[1:-1]).path
    payload, mac = path[3:].split(".")
    forged = "/u/%s.%s" % (payload, ("A" if mac[0] != "A" else "B") + mac[1:])
    for p in (forged, "/u/", "/u/nonsense", path[:-3]):
        st, _, page = mailer.request("POST", p, b"List-Unsubscribe=One-Click")
        assert st == 404, p
    assert mailer.fetch_all(types=["mail.unsubscribed"]) == []


def test_temporary_failure_is_retried_then_fails_and_staff_can_retry(mailer, smtp):
    key = request(mailer, "test", "alert", address="rcpt451-x@example.com")
    (ev,) = wait_outcome(mailer, request_key=key)
    assert ev["type"] == "mail.failed"
    assert ev["payload"]["attempts"] >= 3
    q = json.loads(mailer.hark("mail", "queue", "--status", "failed", "--json").stdout)
    (row,) = q["messages"]
    assert row["id"] == ev["payload"]["message"] and row["status"] == "failed"
    assert "451" in row["last_error"]
    assert smtp.messages() == []
    out = mailer.hark("mail", "retry", str(row["id"])).stdout
    assert "requested" in out
    (req,) = mailer.fetch_all(types=["mail.retry_requested"])
    assert req["payload"]["message"] == row["id"] and "@" in req["payload"]["actor"]
    wait_for(lambda: json.loads(mailer.hark("mail", "queue", "--json").stdout)["counts"].get("failed") == 1
             and len(outcomes(mailer)) >= 2, what="second failure after retry")


def test_permanent_failure_bounces_and_suppresses_the_address(mailer, smtp):
    key = request(mailer, "test", "alert", address="rcpt550-y@example.com")
    (ev,) = wait_outcome(mailer, request_key=key)
    assert ev["type"] == "mail.bounced" and ev["payload"]["code"] == 550
    assert ev["payload"]["attempts"] == 1
    key2 = request(mailer, "birthday", "milestone", address="rcpt550-y@example.com",
                   vars_={"name": "Y"})
    (ev2,) = wait_outcome(mailer, request_key=key2)
    assert ev2["type"] == "mail.skipped" and ev2["payload"]["reason"] == "suppressed"


def test_outcome_events_match_their_schemas(mailer, smtp):
    from test_proto import EVENT_SCHEMAS, validator
    request(mailer, "test", "alert", address="a@example.com")
    request(mailer, "test", "alert", address="rcpt550-b@example.com")
    request(mailer, "test", "alert", vars_={}, customer_id="nobody")
    wait_for(lambda: len(outcomes(mailer)) >= 3, what="three outcomes")
    for e in mailer.fetch_all():
        validator(EVENT_SCHEMAS[e["type"]]).validate(e["payload"])
    assert {e["type"] for e in outcomes(mailer)} == {"mail.delivered", "mail.bounced", "mail.skipped"}


def test_without_smtp_host_messages_go_to_a_maildir(make_hark):
    h = make_hark(services=SERVICES, conf={"mailer": {"templates": os.path.join(ROOT, "templates")}})
    r = h.hark("mail", "send", "--template", "test", "--to", "me@example.com", "--wait", timeout=90)
    assert "mail.delivered" in r.stdout
    new = os.path.join(h.state, "maildir", "new")
    (name,) = os.listdir(new)
    import email, email.policy
    with open(os.path.join(new, name), "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=email.policy.default)
    assert msg["To"].addresses[0].addr_spec == "me@example.com"
    h.stop()


def test_preview_prints_subject_text_and_html_without_sending(mailer, smtp, tmp_path):
    v = tmp_path / "vars.json"
    v.write_text(json.dumps({"name": "Ola *bold*"}))
    r = mailer.hark("mail", "preview", "--template", "birthday", "--locale", "pl", "--vars", str(v))
    assert r.stdout.startswith("Subject: ")
    assert "--- text ---" in r.stdout and "--- html ---" in r.stdout
    assert "Ola *bold*" in r.stdout and "<strong>bold" not in r.stdout
    assert "Locale: pl" in r.stdout
    r = mailer.hark("mail", "preview", "--template", "nosuch", check=False)
    assert r.returncode != 0 and "nosuch" in r.stderr
    assert smtp.messages() == []


def test_preview_without_vars_shows_the_sample_and_missing_vars_are_named(mailer, tmp_path):
    import html.parser
    r = mailer.hark("mail", "preview", "--template", "nps_invite", "--locale", "ru")
    assert "no --vars: the sample variables of" in r.stderr and "warning" not in r.stderr
    text, html_part = r.stdout.split("--- html ---")
    links = []

    class Links(html.parser.HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "a":
                links.append(dict(attrs).get("href"))
    Links().feed(html_part)
    scores = [u for u in links if u and "/s/SAMPLE?score=" in u]
    assert len(scores) == 11, links  # every score is a link, 0 to 10
    assert "Locale: ru" in r.stdout
    v = tmp_path / "vars.json"
    v.write_text(json.dumps({"name": "Bo"}))
    r = mailer.hark("mail", "preview", "--template", "nps_invite", "--vars", str(v))
    assert "warning: nps_invite uses order_number, scores, which --vars does not give" in r.stderr
    assert "/s/SAMPLE" not in r.stdout


def test_kill9_mailer_while_sending_loses_nothing_and_repeats_at_most_one_per_kill(make_hark, smtp):
    h = make_hark(services=SERVICES, conf=mail_conf(smtp.port, mailer={"connections": "1",
                                                                       "per_connection": "20"}))
    total = 2000
    keys = []
    for b in range(0, total, 500):
        events = [{"type": "mail.requested", "key": "crash/%d" % i,
                   "payload": {"template": "test", "category": "alert",
                               "address": "u%d@example.com" % i, "vars": {"n": i}}}
                  for i in range(b, b + 500)]
        keys += [e["key"] for e in events]
        cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": events})
        assert cmd == "JOURNAL_APPEND_OK"
    kills = 0
    for _ in range(5):
        wait_for(lambda: smtp.count() > kills * 150 + 50, timeout=60, what="sending under way")
        old = h.kill("mailer")
        kills += 1
        wait_for(lambda: h.pid("mailer") not in (0, old), what="mailer back")
    assert smtp.count() < total, "the kills came too late to test anything"

    def all_delivered():
        d = {e["payload"]["request_key"] for e in h.fetch_all(types=["mail.delivered"])}
        return d if len(d) == total else None
    # each look fetches up to 2,000 events: twice a second, not 20 times,
    # leaves the machine to the mailer it waits for
    delivered = wait_for(all_delivered, timeout=240, interval=0.5, what="every message delivered")
    assert delivered == set(keys)
    ids = [m["Message-ID"] for m in smtp.messages()]
    assert len(set(ids)) == total, "a message never reached the server"
    duplicates = len(ids) - total
    assert duplicates <= kills, "%d duplicates after %d kills" % (duplicates, kills)
    h.stop()


class SmtpSink:
    """Postfix's smtp-sink on a fixed loopback port; -d keeps each message."""

    def __init__(self, port, *opts):
        import subprocess
        import tempfile
        # smtp-sink writes as nobody, who cannot enter pytest's 0700 dirs
        self.dir = tempfile.mkdtemp(prefix="hark-sink-", dir="/tmp")
        os.chmod(self.dir, 0o777)
        cmd = ["/usr/sbin/smtp-sink", "-d", os.path.join(self.dir, "%Y%m%d%H%M%S.")]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]
        cmd += list(opts) + ["127.0.0.1:%d" % port, "64"]
        self.proc = subprocess.Popen(cmd)
        import socket

        def listening():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(listening, what="smtp-sink listening")

    def stop(self):
        import shutil
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def count(self):
        return len(os.listdir(self.dir))


def test_smtp_sink_dropping_at_end_of_data_is_retried_then_delivered(make_hark, tmp_path):
    from harness import free_port
    port = free_port()
    sink = SmtpSink(port, "-q", ".")   # hang up at end of data
    h = make_hark(services=SERVICES, conf=mail_conf(port, mailer={"give_up": "1h"}))
    try:
        key = request(h, "test", "alert", address="someone@example.com")
        wait_for(lambda: "event=retry message=1" in h.log(), what="a retry after the hang-up")
        q = json.loads(h.hark("mail", "queue", "--json").stdout)
        assert q["messages"][0]["status"] in ("retry", "sending")
        assert outcomes(h) == []
        sink.stop()
        sink = SmtpSink(port)
        (ev,) = wait_outcome(h, request_key=key)
        assert ev["type"] == "mail.delivered" and ev["payload"]["attempts"] >= 2
        wait_for(lambda: sink.count() >= 1, what="the message stored by smtp-sink")
    finally:
        sink.stop()
        h.stop()


def test_smtp_sink_hard_reject_bounces(make_hark, tmp_path):
    from harness import free_port
    port = free_port()
    sink = SmtpSink(port, "-f", "RCPT")
    h = make_hark(services=SERVICES, conf=mail_conf(port))
    try:
        key = request(h, "test", "alert", address="gone@example.com")
        (ev,) = wait_outcome(h, request_key=key)
        assert ev["type"] == "mail.bounced" and 500 <= ev["payload"]["code"] < 600
    finally:
        sink.stop()
        h.stop()
