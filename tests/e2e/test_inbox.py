"""hark-inbox end to end: mail coming back.  A real Postfix delivers into the
Maildir (a customer's reply sent to the reply+TOKEN address of a real
acknowledgement, and a bounce Postfix makes itself for a local user that
does not exist); the rest is RFC 5322 files written into the Maildir as a
delivery agent does (tmp/ then new/): replies in en ru pl zh be, HTML-only
and text-only, top- and bottom-posted, the DSN shapes other MTAs send,
auto-replies, unmatched, oversized and malformed mail, and kill -9 between
parse and commit."""
import base64
import email
import email.policy
import glob
import hashlib
import hmac
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

import pytest

from harness import ROOT, free_port, shop_conf, wait_for

KEY = "inbox-test-token-key-0123456789abcdef"
FROM = "hark@shop.example"
REPLY_DOMAIN = "reply.shop.example"

REASONS = """
[team.care]
email = care@team.test
days = all
hours = 0-24
timezone = UTC

[reason.shipping_delay]
label.en = Late delivery
team = care
first_response = 1h
keywords.en = late

[reason.other]
label.en = Other
team = care
first_response = 1h
"""


def token(kind, ident, n):
    """reply_token.h, written again from its description"""
    body = "%s.%s.%d" % (kind, ident, n)
    mac = hmac.new(KEY.encode(), b"reply\0" + body.encode(), hashlib.sha256).digest()[:8]
    return body + "." + mac.hex()


def conf(tmp_path, services_conf=None, **inbox):
    path = tmp_path / "reasons.conf"
    path.write_text(REASONS)
    c = shop_conf(None, **{"from": FROM, "reply_domain": REPLY_DOMAIN})
    c["hark"] = {"token_key": KEY}
    c["intake"] = {"reasons": str(path)}
    c["inbox"] = dict({"poll": "100ms"}, **inbox)
    for sec, kv in (services_conf or {}).items():
        c.setdefault(sec, {}).update(kv)
    return c


def maildir(h):
    return getattr(h, "maildir", None) or os.path.join(h.state, "inbox")


def deliver(h, name, raw):
    """as a delivery agent does: write into tmp/, rename into new/"""
    if isinstance(raw, str):
        raw = raw.replace("\n", "\r\n").encode()
    tmp = os.path.join(maildir(h), "tmp", name)
    with open(tmp, "wb") as f:
        f.write(raw)
    os.rename(tmp, os.path.join(maildir(h), "new", name))


def read_out(h, name, bad=False):
    """the message has left new/ for cur/ (or .bad/cur/), marked seen"""
    where = os.path.join(maildir(h), ".bad/cur" if bad else "cur", name + ":2,S")
    wait_for(lambda: os.path.exists(where), what="%s in %s" % (name, where))
    assert not os.path.exists(os.path.join(maildir(h), "new", name))


def events(h, typ):
    return [e for e in h.fetch_all(types=[typ])]


def show(h, case_id):
    return json.loads(h.hark("cases", "show", case_id, "--json").stdout)


def unmatched(h):
    return json.loads(h.hark("inbox", "unmatched", "--json").stdout)


def open_case(h, cid, addr, text="my parcel is late"):
    st, body = h.post_events({"type": "customer", "data": {"id": cid, "email": addr,
                                                           "name": "Anna", "locale": "en"}})
    assert st == 202, body
    st, body = h.post_events({"type": "complaint", "data": {"customer_id": cid, "text": text}})
    assert st == 202, body
    case = "C%d" % body["offsets"][0]
    wait_for(lambda: h.hark("cases", "show", case, "--json", check=False).returncode == 0,
             what="case " + case)
    return case


def customer_notes(h, case):
    return [n["text"] for n in show(h, case)["notes"] if n["kind"] == "customer"]


# --- a private Postfix that delivers into Maildirs ---------------------------

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.local.test
mydomain = local.test
myorigin = $mydomain
mydestination = local.test
mynetworks = 127.0.0.0/8
local_recipient_maps =
alias_maps =
alias_database =
virtual_mailbox_domains = shop.example, reply.shop.example, customers.test, team.test
virtual_mailbox_base = /
virtual_mailbox_maps = regexp:{d}/etc/mailboxes
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
smtpd_peername_lookup = no
append_dot_mydomain = no
biff = no
smtputf8_enable = no
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
bounce_queue_lifetime = 0
"""

MASTER_CF = """\
127.0.0.1:{port} inet n   -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """smtpd on a free loopback port; mail to shop.example and its reply
    domain goes to hark-inbox's Maildir, to customers.test to a Maildir
    the test reads, to local.test to local(8), which knows no user"""

    def __init__(self, base, inbox_maildir, customers_maildir, team_maildir):
        self.dir = str(base)
        self.etc = os.path.join(self.dir, "etc")
        self.port = free_port()
        self.pid = None
        import pwd
        pw = pwd.getpwnam("postfix")
        for sub in ("etc", "queue", "data"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        os.chmod(self.dir, 0o755)
        shutil.chown(os.path.join(self.dir, "data"), "postfix", "postfix")
        for d in (inbox_maildir, customers_maildir, team_maildir):
            for sub in ("", "new", "cur", "tmp"):
                os.makedirs(os.path.join(d, sub), exist_ok=True)
                os.chown(os.path.join(d, sub), pw.pw_uid, pw.pw_gid)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(d=self.dir, uid=pw.pw_uid, gid=pw.pw_gid))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port))
        with open(os.path.join(self.etc, "mailboxes"), "w") as f:
            f.write("/@(reply\\.)?shop\\.example$/ %s/\n" % inbox_maildir)
            f.write("/@customers\\.test$/ %s/\n" % customers_maildir)
            f.write("/@team\\.test$/ %s/\n" % team_maildir)

    def start(self):
        r = subprocess.run(["postfix", "-c", self.etc, "start"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, (r.stdout, r.stderr, self.maillog()[-2000:])
        wait_for(lambda: self._answers(), what="postfix smtpd")
        with open(os.path.join(self.dir, "data", "master.lock")) as f:
            self.pid = int(f.read().split()[0])

    def _answers(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 1).close()
            return True
        except OSError:
            return False

    def stop(self):
        subprocess.run(["postfix", "-c", self.etc, "stop"], capture_output=True, timeout=60)
        deadline = time.monotonic() + 20
        while self.pid and time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except OSError:
                return
            time.sleep(0.2)
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)  # the master by its pid
            except OSError:
                pass

    def maillog(self):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def parsed(path):
    with open(path, "rb") as f:
        return email.message_from_bytes(f.read(), policy=email.policy.default)


def test_inbox__postfix_delivers_a_threaded_reply_and_its_own_bounce(make_hark, tmp_path):
    # Postfix's users must reach the Maildirs: outside pytest's 0700 tmp_path
    base = tempfile.mkdtemp(prefix="hark-inbox-")
    os.chmod(base, 0o755)
    h = make_hark(services=("journal", "gateway", "mailer", "intake", "inbox"),
                  conf=conf(tmp_path, maildir=os.path.join(base, "inbox")), start=False)
    h.maildir = os.path.join(base, "inbox")
    customers = os.path.join(base, "customers")
    pf = Postfix(os.path.join(base, "postfix"), maildir(h), customers, os.path.join(base, "team"))
    try:
        pf.start()
        with open(h.config, "a") as f:
            f.write("[smtp]\nhost = 127.0.0.1\nport = %d\nstarttls = off\ntimeout = 5s\n" % pf.port)
        h.start()
        case = open_case(h, "anna", "anna@customers.test")

        # the acknowledgement, delivered by Postfix: a Message-ID naming the
        # case, signed, and the reply address carrying the same token
        wait_for(lambda: glob.glob(os.path.join(customers, "new", "*")), what="the ack")
        ack = parsed(glob.glob(os.path.join(customers, "new", "*"))[0])
        mid = ack["Message-ID"]
        assert mid.startswith("<hark.c.%s." % case) and mid.endswith("@shop.example>"), mid
        tok = mid[len("<hark."):mid.index("@")]
        kind, ident, n, mac = tok.split(".")
        assert token(kind, ident, int(n)) == tok
        assert ack["Reply-To"] == "reply+%s@%s" % (tok, REPLY_DOMAIN)
        assert ack["In-Reply-To"] is None

        # a staff reply follows the acknowledgement in the customer's thread
        reply_md = tmp_path / "r.md"
        reply_md.write_text("A new parcel left today.\n")
        h.hark("cases", "reply", case, "--message-file", str(reply_md))
        wait_for(lambda: len(glob.glob(os.path.join(customers, "new", "*"))) == 2,
                 what="the staff reply")
        staff = [parsed(p) for p in glob.glob(os.path.join(customers, "new", "*"))]
        staff = next(m for m in staff if m["Message-ID"] != mid)
        assert staff["In-Reply-To"] == mid and staff["References"] == mid
        assert staff["Reply-To"].startswith("reply+c.%s." % case)
        wait_for(lambda: show(h, case)["status"] == "waiting", what="waiting")

        # the customer answers through Postfix: the new text lands on the case
        answer = email.message.EmailMessage()
        answer["From"] = "Anna <anna@customers.test>"
        answer["To"] = staff["Reply-To"]
        answer["Subject"] = "Re: " + staff["Subject"]
        answer["In-Reply-To"] = staff["Message-ID"]
        answer["References"] = "%s %s" % (mid, staff["Message-ID"])
        answer.set_content("It has not arrived yet.\n\nOn Mon, 7 Dec 2026 at 10:00, Tea House "
                           "<hark@shop.example> wrote:\n> A new parcel left today.\n")
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=10) as s:
            s.send_message(answer, from_addr="anna@customers.test",
                           to_addrs=[answer["To"]])
        wait_for(lambda: customer_notes(h, case) == ["It has not arrived yet."],
                 timeout=30, what="the customer's reply on the case")
        c = show(h, case)
        assert c["status"] == "open"
        note = next(n for n in c["notes"] if n["kind"] == "customer")
        assert note["by"] == "customer:anna@customers.test"
        alerts = [e for e in events(h, "mail.requested")
                  if e["key"].endswith("/customer_reply")]
        assert len(alerts) == 1 and alerts[0]["payload"]["address"] == "care@team.test"
        assert alerts[0]["payload"]["vars"]["text"] == "It has not arrived yet."
        assert alerts[0]["payload"]["template"] == "complaint_customer_reply"
        # the team's mail, as Postfix delivered it
        wait_for(lambda: glob.glob(os.path.join(base, "team", "new", "*")), what="team mails")
        subjects = [str(parsed(p)["Subject"]) for p in glob.glob(os.path.join(base, "team", "new", "*"))]
        assert "Case %s: the customer replied" % case in subjects, subjects
        # a colleague's answer to a staff alert is not the customer's: no token
        assert all(parsed(p)["Reply-To"] is None
                   for p in glob.glob(os.path.join(base, "team", "new", "*")))

        # a customer whose address does not exist: Postfix accepts, local(8)
        # finds no such user, and Postfix's own DSN comes back to [mailer] from
        ghost = open_case(h, "ghost", "ghost@local.test")
        wait_for(lambda: events(h, "mail.dsn_received"), timeout=60,
                 what="Postfix's DSN read:\n" + pf.maillog()[-1500:])
        dsn = events(h, "mail.dsn_received")[0]["payload"]
        assert dsn["status"].startswith("5."), dsn
        assert dsn["recipient"] == "ghost@local.test"
        assert dsn["message_id"].startswith("<hark.c.%s." % ghost)
        wait_for(lambda: events(h, "mail.bounced"), what="mail.bounced")
        b = events(h, "mail.bounced")[0]["payload"]
        assert b["address"] == "ghost@local.test" and b["message_id"] == dsn["message_id"]
        assert 500 <= b["code"] <= 599 and b["template"] == "complaint_ack"
        contact = json.loads(h.hark("mail", "queue", "--status", "bounced", "--json").stdout)
        assert [m["to"] for m in contact["messages"]] == ["ghost@local.test"]
        # both came through Postfix and left new/ for cur/
        assert len(glob.glob(os.path.join(maildir(h), "cur", "*:2,S"))) == 2
        assert not os.listdir(os.path.join(maildir(h), "new"))
        h.stop()
    finally:
        pf.stop()
        shutil.rmtree(base, ignore_errors=True)


# --- files written into the Maildir -------------------------------------------

FILE_SERVICES = ("journal", "gateway", "intake", "inbox")


def reply_mail(case, n, frm, subject, body_headers, body, to=None, extra=""):
    to = to or "reply+%s@%s" % (token("c", case, n), REPLY_DOMAIN)
    return ("From: %s\nTo: %s\nSubject: %s\nMessage-ID: <%s.%d@client.test>\n%s"
            "MIME-Version: 1.0\n%s\n%s" % (frm, to, subject, case, n, extra, body_headers, body))


def b64(text, charset):
    return base64.encodebytes(text.encode(charset)).decode()


def test_inbox__replies_in_five_languages_lose_their_quotes_and_reopen_the_case(
        make_hark, tmp_path):
    h = make_hark(services=FILE_SERVICES, conf=conf(tmp_path))
    case = open_case(h, "anna", "anna@customers.test")
    h.hark("cases", "resolve", case)
    wait_for(lambda: show(h, case)["status"] == "resolved", what="resolved")
    ack_n = int(case[1:])  # any n: the token is what the mailer would sign

    # (name, the message, the text the case must get)
    mails = [
        # en, text/plain, top-posted above Gmail's attribution and quote
        ("en", reply_mail(case, ack_n, "Anna <anna@customers.test>", "Re: your request",
                          "Content-Type: text/plain; charset=UTF-8\n",
                          "Still nothing, please check.\n\nOn Mon, 7 Dec 2026 at 10:00, Tea "
                          "House <hark@shop.example> wrote:\n> We've received your request\n"
                          "> (case %s)\n" % case),
         "Still nothing, please check."),
        # ru, koi8-r in base64, an RFC 2047 subject, "написал(а):" wrapped quote
        ("ru", reply_mail(case, ack_n, "=?UTF-8?B?0JDQvdC90LA=?= <anna@customers.test>",
                          "=?KOI8-R?B?%s?=" % base64.b64encode("Re: ваш запрос".encode("koi8-r")).decode(),
                          "Content-Type: text/plain; charset=koi8-r\n"
                          "Content-Transfer-Encoding: base64\n",
                          b64("Посылка так и не пришла.\n\n7 дек. 2026 г., в 10:00, Tea House "
                              "<hark@shop.example> написал(а):\n> Мы получили ваш запрос\n",
                              "koi8-r")),
         "Посылка так и не пришла."),
        # pl, quoted-printable, bottom-posted between quoted lines
        ("pl", reply_mail(case, ack_n, "anna@customers.test", "Re: =?UTF-8?Q?zg=C5=82oszenie?=",
                          "Content-Type: text/plain; charset=UTF-8\n"
                          "Content-Transfer-Encoding: quoted-printable\n",
                          "W dniu 7.12.2026 o 10:00 Tea House <hark@shop.example> napisa=C5=82(a):\n"
                          "> Otrzymali=C5=9Bmy zg=C5=82oszenie\n\nPaczka nadal nie dotar=C5=82a.\n\n"
                          "> Odpowiemy wkr=C3=B3tce\n\nAnna\n"),
         "Paczka nadal nie dotarła.\n\nAnna"),
        # zh, GB18030, HTML only, the quote in a blockquote
        ("zh", reply_mail(case, ack_n, "anna@customers.test", "Re: case",
                          "Content-Type: text/html; charset=gb18030\n"
                          "Content-Transfer-Encoding: base64\n",
                          b64("<html><body><div>包裹还没到。</div><div><br></div>"
                              "<div class=\"gmail_quote\">Tea House 于2026年12月7日 写道：<blockquote>"
                              "我们已收到</blockquote></div></body></html>", "gb18030")),
         "包裹还没到。"),
        # be, multipart/alternative: text/plain preferred; Outlook block
        ("be", reply_mail(case, ack_n, "anna@customers.test", "RE: case",
                          "Content-Type: multipart/alternative; boundary=\"alt\"\n",
                          "--alt\nContent-Type: text/plain; charset=UTF-8\n\n"
                          "Пасылка дагэтуль не прыйшла.\n\nАд: Tea House <hark@shop.example>\n"
                          "Адпраўлена: 7 снежня 2026\nКаму: anna@customers.test\nТэма: case\n\n"
                          "Мы атрымалі\n--alt\nContent-Type: text/html; charset=UTF-8\n\n"
                          "<p>HTML копія</p>\n--alt--\n"),
         "Пасылка дагэтуль не прыйшла."),
    ]
    for name, raw, _ in mails:
        deliver(h, "1700000000.%s.test" % name, raw)
    for name, _, _ in mails:
        read_out(h, "1700000000.%s.test" % name)
    want = [text for _, _, text in mails]
    wait_for(lambda: sorted(customer_notes(h, case)) == sorted(want),
             what="five replies on the case, got %r" % customer_notes(h, case))
    c = show(h, case)
    assert c["status"] == "open"  # the first reply reopened the resolved case
    assert [n["kind"] for n in c["notes"]].count("reopened") == 1
    replied = events(h, "case.customer_replied")
    assert len(replied) == 5 and {e["payload"]["case"] for e in replied} == {case}
    assert {e["key"] for e in replied} == {"inbox/1700000000.%s.test" % n for n, _, _ in mails}
    ru = next(e for e in replied if e["key"].endswith(".ru.test"))["payload"]
    assert ru["subject"] == "Re: ваш запрос" and ru["from"] == "anna@customers.test"
    h.stop()


# hand-made bounces in the shapes other MTAs send, each for a mail of ours
def dsn_samples():
    mid = "<hark.%s@shop.example>"
    return [
        ("exim", "5.1.1", "From: Mail Delivery System <Mailer-Daemon@exim.test>\n"
         "To: hark@shop.example\nSubject: Mail delivery failed: returning message to sender\n"
         "Auto-Submitted: auto-replied\n\n"
         "This message was created automatically by mail delivery software.\n\n"
         "A message that you sent could not be delivered to one or more of its\n"
         "recipients. This is a permanent error. The following address(es) failed:\n\n"
         "  gone@exim.test\n    host mx.exim.test [192.0.2.1]\n"
         "    SMTP error from remote mail server after RCPT TO:<gone@exim.test>:\n"
         "    550 5.1.1 <gone@exim.test>: Recipient address rejected\n\n"
         "------ This is a copy of the message, including all the headers. ------\n\n"
         "Message-ID: " + mid % token("m", "11", 11) + "\nSubject: Hello\n"),
        ("qmail", "5.1.1", "From: MAILER-DAEMON@qmail.test\nTo: hark@shop.example\n"
         "Subject: failure notice\n\n"
         "Hi. This is the qmail-send program at qmail.test.\n"
         "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
         "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
         "<nobody@qmail.test>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
         "--- Below this line is a copy of the message.\n\n"
         "Message-ID: " + mid % token("m", "12", 12) + "\n"),
        ("gmail", "5.1.1", "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
         "To: hark@shop.example\nSubject: Delivery Status Notification (Failure)\n"
         "MIME-Version: 1.0\n"
         "Content-Type: multipart/report; report-type=delivery-status; boundary=\"g\"\n\n"
         "--g\nContent-Type: text/plain; charset=UTF-8\n\n"
         "Address not found\nYour message wasn't delivered to nope@gmail.test\n--g\n"
         "Content-Type: message/delivery-status\n\nReporting-MTA: dns; googlemail.com\n\n"
         "Final-Recipient: rfc822; nope@gmail.test\nAction: failed\nStatus: 5.1.1\n"
         "Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does "
         "not exist.\n\n--g\nContent-Type: message/rfc822\n\nFrom: hark@shop.example\n"
         "Message-ID: " + mid % token("s", "p7", 13) + "\nSubject: NPS\n\nHow likely\n--g--\n"),
        ("delayed", "4.4.1", "From: MAILER-DAEMON@slow.test\nTo: hark@shop.example\n"
         "Subject: Warning: message delayed\n\n"
         "This is a warning: your message has not been delivered yet; I will retry.\n"
         "  slow@slow.test\n    451 4.4.1 try again later\n\n"
         "Message-ID: " + mid % token("c", "C5", 14) + "\n"),
    ]


def test_inbox__bounces_auto_replies_unmatched_and_bad_mail(make_hark, tmp_path):
    h = make_hark(services=("journal", "gateway", "inbox"),
                  conf=conf(tmp_path, max_size="4K"))
    for name, _, raw in dsn_samples():
        deliver(h, "1700000001.%s.test" % name, raw)
    # auto-replies: recorded, nothing emitted
    autos = {
        "autosub": "From: a@customers.test\nTo: reply+%s@%s\nAuto-Submitted: auto-replied\n"
                   "Subject: Re: case\n\nI am away\n" % (token("c", "C5", 5), REPLY_DOMAIN),
        "ooo": "From: b@customers.test\nTo: reply+%s@%s\nSubject: Out of Office: case\n\n"
               "Back Monday\n" % (token("c", "C5", 5), REPLY_DOMAIN),
        "precedence": "From: c@customers.test\nTo: hark@shop.example\nPrecedence: bulk\n"
                      "Subject: newsletter\n\nNews\n",
        "xauto": "From: d@customers.test\nTo: hark@shop.example\nX-Autoreply: yes\n"
                 "Subject: =?UTF-8?B?0JDQstGC0L7QvtGC0LLQtdGC?=\n\nНет на месте\n",
    }
    for name, raw in autos.items():
        deliver(h, "1700000002.%s.test" % name, raw)
    # unmatched: no token of ours; a forged one; a reply to a plain mail
    deliver(h, "1700000003.plain.test",
            "From: Jan <jan@customers.test>\nTo: hark@shop.example\nSubject: a question\n\n"
            "Do you ship to Gdańsk?\n")
    deliver(h, "1700000003.forged.test",
            "From: eve@customers.test\nTo: reply+c.C5.5.0000000000000000@%s\nSubject: Re: x\n\n"
            "let me in\n" % REPLY_DOMAIN)
    # bad: larger than max_size, not a message, NUL bytes
    deliver(h, "1700000004.big.test",
            "From: big@customers.test\nSubject: big\n\n" + "x" * 5000 + "\n")
    deliver(h, "1700000004.junk.test", b"\x00\x01\x02 not mail at all \xff\xfe")
    deliver(h, "1700000004.nofrom.test", "just a line of text without headers\n")

    for name, _, _ in dsn_samples():
        read_out(h, "1700000001.%s.test" % name)
    for name in autos:
        read_out(h, "1700000002.%s.test" % name)
    read_out(h, "1700000003.plain.test")
    read_out(h, "1700000003.forged.test")
    for name in ("big", "junk", "nofrom"):
        read_out(h, "1700000004.%s.test" % name, bad=True)

    # a message is moved to cur/ once its events are committed in inbox.db;
    # they reach the journal from the outbox a moment later
    wait_for(lambda: len(events(h, "mail.dsn_received")) == 4, what="four mail.dsn_received")
    got = {e["key"]: e["payload"] for e in events(h, "mail.dsn_received")}
    assert len(got) == 4, got
    for name, status, _ in dsn_samples():
        p = got["inbox/1700000001.%s.test" % name]
        assert p["status"] == status, (name, p)
        assert p["message_id"].startswith("<hark.") and p["message_id"].endswith("@shop.example>")
    assert got["inbox/1700000001.gmail.test"]["recipient"] == "nope@gmail.test"
    assert "550" in got["inbox/1700000001.exim.test"]["diagnostic"]
    # nothing from auto-replies, unmatched or bad mail
    assert events(h, "case.customer_replied") == [] and events(h, "survey.commented") == []

    u = unmatched(h)
    assert u["counts"] == {"dsn": 4, "auto": 4, "unmatched": 2, "bad": 3}, u["counts"]
    by_file = {m["file"]: m for m in u["messages"]}
    assert set(by_file) == {"1700000003.plain.test", "1700000003.forged.test",
                            "1700000004.big.test", "1700000004.junk.test",
                            "1700000004.nofrom.test"}
    assert by_file["1700000003.plain.test"]["from"] == "jan@customers.test"
    assert by_file["1700000003.plain.test"]["text"].strip() == "Do you ship to Gdańsk?"
    assert "max_size" in by_file["1700000004.big.test"]["reason"]
    assert by_file["1700000004.junk.test"]["outcome"] == "bad"
    # the CLI's words for people
    out = h.hark("inbox", "unmatched").stdout
    assert "Do you ship to Gdańsk?" in out and "max_size" in out
    h.stop()


@pytest.mark.parametrize("when", ["parse", "commit"])
def test_inbox__kill9_between_parse_and_commit_handles_a_reply_once(make_hark, tmp_path, when):
    h = make_hark(services=FILE_SERVICES, conf=conf(tmp_path), start=False)
    hook = tmp_path / "crash"
    hook.write_text(when)
    h.env["HARK_INBOX_CRASH_FILE"] = str(hook)
    h.start()
    case = open_case(h, "anna", "anna@customers.test")
    inbox_pid = h.pid("inbox")
    deliver(h, "1700000005.crash.test",
            reply_mail(case, 1, "anna@customers.test", "Re: case",
                       "Content-Type: text/plain; charset=UTF-8\n", "Once, please.\n"))
    read_out(h, "1700000005.crash.test")
    assert not hook.exists(), "the hook did not fire"
    wait_for(lambda: h.pid("inbox") not in (None, inbox_pid), what="hark-inbox restarted")
    wait_for(lambda: customer_notes(h, case) == ["Once, please."], what="the reply on the case")
    time.sleep(1.5)  # a second handling would have come by now (poll 100ms)
    assert customer_notes(h, case) == ["Once, please."]
    assert len(events(h, "case.customer_replied")) == 1
    assert unmatched(h)["counts"] == {"reply": 1}
    log = h.log()
    assert "event=crash_hook when=%s" % when in log
    if when == "commit":
        assert "event=moved_after_restart file=1700000005.crash.test" in log
    h.stop(check=False)  # the SIGKILL is in harkd's log


def test_inbox__an_emailed_answer_to_a_survey_invite_becomes_its_comment(make_hark, tmp_path,
                                                                          smtp):
    from harness import shop_conf as _shop
    c = conf(tmp_path)
    c.update({k: v for k, v in _shop(smtp.port).items() if k == "smtp"})
    c["survey"] = {"delay": "1s", "window_hours": "0-24", "window_days": "all"}
    h = make_hark(services=("journal", "gateway", "mailer", "survey", "inbox"), conf=c)
    st, body = h.post_events([{"type": "customer", "data": {"id": "c1", "email": "anna@customers.test",
                                                           "name": "Anna", "locale": "pl"}},
                              {"type": "purchase", "data": {"customer_id": "c1", "order_id": "o-1"}}])
    assert st == 202, body
    invite = "p%d" % body["offsets"][1]
    (msg,) = smtp.wait_messages(1)
    assert msg["Message-ID"].startswith("<hark.s.%s." % invite)
    reply_to = msg["Reply-To"]
    assert reply_to.startswith("reply+s.%s." % invite) and reply_to.endswith("@" + REPLY_DOMAIN)
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
        {"type": "survey.answered", "key": "test/answer", "payload": {"invite": invite, "score": 9}}]})
    assert cmd == "JOURNAL_APPEND_OK", r

    def invite_state():
        cmd, r = h.call(h.endpoint("survey.ctl"), "SURVEY_INVITE", {"invite": invite})
        assert cmd == "SURVEY_INVITE_OK", r
        return r
    wait_for(lambda: invite_state().get("score") == 9, what="the score")
    deliver(h, "1700000006.nps.test",
            "From: anna@customers.test\nTo: %s\nSubject: Re: %s\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=UTF-8\n\nHerbata była świetna!\n\n"
            "W dniu 7.12.2026 o 10:00 Tea House <hark@shop.example> napisał(a):\n> Jak bardzo\n"
            % (reply_to, "ankieta"))
    read_out(h, "1700000006.nps.test")
    wait_for(lambda: invite_state().get("comment") == "Herbata była świetna!",
             what="the comment, got %r" % invite_state())
    fb = [e["payload"] for e in events(h, "feedback.given")]
    assert fb == [{"text": "Herbata była świetna!", "source": "nps", "customer_id": "c1",
                   "invite": invite, "locale": "pl", "score": 9}]
    h.stop()


def test_inbox__rebuilt_from_the_maildir_and_the_journal_reads_as_before_and_journals_nothing(
        make_hark, tmp_path):
    """`hark rebuild inbox`: inbox.db is made again from what cur/ and
    .bad/cur/ hold (and the journal), with no event journaled twice"""
    import sqlite3
    h = make_hark(services=("journal", "gateway", "inbox"), conf=conf(tmp_path, max_size="4K"))
    samples = dsn_samples()[:2]
    for name, _, raw in samples:
        deliver(h, "1700000001.%s.test" % name, raw)
    deliver(h, "1700000002.ooo.test",
            "From: b@customers.test\nTo: reply+%s@%s\nSubject: Out of Office: case\n\n"
            "Back Monday\n" % (token("c", "C5", 5), REPLY_DOMAIN))
    deliver(h, "1700000003.plain.test",
            "From: Jan <jan@customers.test>\nTo: hark@shop.example\nSubject: a question\n\n"
            "Do you ship to Gdańsk?\n")
    deliver(h, "1700000004.big.test",
            "From: big@customers.test\nSubject: big\n\n" + "x" * 5000 + "\n")
    for name, _, _ in samples:
        read_out(h, "1700000001.%s.test" % name)
    read_out(h, "1700000002.ooo.test")
    read_out(h, "1700000003.plain.test")
    read_out(h, "1700000004.big.test", bad=True)
    wait_for(lambda: len(events(h, "mail.dsn_received")) == 2, what="two mail.dsn_received")

    def rows():
        with sqlite3.connect("file:%s?mode=ro" % os.path.join(h.state, "inbox.db"),
                             uri=True) as db:
            return sorted(db.execute("SELECT file, size, outcome, reason, from_addr, subject,"
                                     " message_id, ref, text, mail FROM messages"))

    def listed():
        u = unmatched(h)
        for m in u["messages"]:
            m.pop("received_at", None)
        return u
    before, shown, h0 = rows(), listed(), events(h, "mail.dsn_received")
    assert len(before) == 5 and shown["counts"] == {"dsn": 2, "auto": 1, "unmatched": 1,
                                                    "bad": 1}, shown
    files = sorted(os.listdir(os.path.join(maildir(h), "cur")))

    r = h.hark("rebuild", "inbox", timeout=180)
    assert "rebuilt from the journal" in r.stdout, r.stdout
    assert os.path.exists(os.path.join(h.state, "inbox.db.before-rebuild"))
    wait_for(lambda: rows() == before, timeout=30, what="inbox.db as before")
    assert listed() == shown
    assert sorted(os.listdir(os.path.join(maildir(h), "cur"))) == files
    time.sleep(0.5)  # the outbox would have gone to the journal by now
    assert events(h, "mail.dsn_received") == h0, "the rebuild journaled nothing again"
    # and it reads what comes next
    name, _, raw = dsn_samples()[2]
    deliver(h, "1700000005.%s.test" % name, raw)
    read_out(h, "1700000005.%s.test" % name)
    wait_for(lambda: len(events(h, "mail.dsn_received")) == 3, what="the next one read")
    h.stop()
