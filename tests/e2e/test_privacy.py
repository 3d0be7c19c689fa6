"""Personal fields sealed in the journal, erasure by crypto-shredding, the
erasure log, retention (hark-journal(8) PRIVACY)."""
import glob
import os
import shutil

from harness import wait_for

EMAIL = b"erin.erasable@example.org"
NAME = b"Erin Erasable"


def raw_files(state):
    """Every file under the state dir: (path, bytes)."""
    out = []
    for p in glob.glob(os.path.join(state, "**"), recursive=True):
        if os.path.isfile(p) and not p.endswith((".sock", ".pub", ".ctl")):
            try:
                with open(p, "rb") as f:
                    out.append((p, f.read()))
            except OSError:
                pass
    return out


def copy_state(src, dst):
    """the state dir's files, not its sockets: a backup taken while stopped"""
    shutil.copytree(src, dst, ignore=lambda d, names: [
        n for n in names if n.endswith((".sock", ".pub", ".ctl"))])


def files_holding(state, needles):
    return sorted({p for p, data in raw_files(state) for n in needles if n in data})


def append(hark, events):
    cmd, r = hark.call(hark.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": events})
    assert cmd == "JOURNAL_APPEND_OK", r
    return r


def test_personal_fields_are_sealed_on_disk_and_open_for_readers(hark):
    append(hark, [{"type": "customer", "key": "c1", "payload": {
        "id": "c1", "email": EMAIL.decode(), "name": NAME.decode(), "locale": "en"}}])
    hark.stop()
    assert files_holding(hark.state, [EMAIL, NAME]) == []
    hark.start()
    [e] = hark.fetch_all()
    assert e["payload"] == {"id": "c1", "email": EMAIL.decode(), "name": NAME.decode(),
                            "locale": "en"}
    assert "erased" not in e


def test_erasure_reads_erased_and_a_later_customer_event_is_a_new_person(hark):
    append(hark, [
        {"type": "customer", "key": "c1", "payload": {"id": "c1", "email": EMAIL.decode(),
                                                     "name": NAME.decode(),
                                                     "attributes": {"tier": "gold"}}},
        {"type": "complaint", "key": "k1", "payload": {"customer_id": "c1",
                                                      "text": "the parcel was wet"}},
        {"type": "customer", "key": "c2", "payload": {"id": "c2", "email": "other@example.org"}},
    ])
    append(hark, [{"type": "customer.erased", "key": "erase-c1",
                   "payload": {"customer_id": "c1", "by": "api"}}])
    append(hark, [{"type": "customer", "key": "c1-again",
                   "payload": {"id": "c1", "email": "new@example.org"}}])
    ev = {e["key"]: e for e in hark.fetch_all()}
    assert ev["c1"]["erased"] is True
    assert ev["c1"]["payload"] == {"id": "c1", "email": "[erased]", "name": "[erased]"}
    assert ev["k1"]["erased"] is True
    assert ev["k1"]["payload"] == {"customer_id": "c1", "text": "[erased]"}
    assert ev["c2"]["payload"]["email"] == "other@example.org" and "erased" not in ev["c2"]
    assert ev["c1-again"]["payload"]["email"] == "new@example.org"
    assert "erased" not in ev["c1-again"]
    log = open(os.path.join(hark.state, "erasure.log")).read()
    assert '"customer_id":"c1"' in log and '"key":"erase-c1"' in log


# --- the whole chain -------------------------------------------------------

import json
import re
import shutil
import urllib.parse

from harness import ROOT, shop_conf

CHAIN = ("journal", "gateway", "mailer", "survey", "intake", "loop")
OLAF = ("olaf", "olaf.erasmusson@example.org", "Olaf Erasmusson")
COMMENT = "Zamówienie przyszło zgniecione, Olafie przykro mi"
COMPLAINT = "The blender from order 7731 arrived smashed in pieces"
REPLY = "So sorry about the blender, a replacement ships today."
NEEDLES = [OLAF[1].encode(), OLAF[2].encode(), COMMENT.encode(), COMPLAINT.encode()]


def to(msg):
    return msg["To"].addresses[0].addr_spec


def all_caught_up(h):
    def ok():
        st = h.status().get("services", [])
        return st and all(s.get("lag", 0) == 0 for s in st)
    wait_for(ok, timeout=60, what="every service caught up")


def chain(make_hark, smtp, tmp_path, erasure_log):
    """Olaf answers an NPS invite with a comment, complains, gets a staff
    reply and a loop email; Anna complains too (a second person, kept)."""
    h = make_hark(services=CHAIN, conf=dict(
        shop_conf(smtp.port),
        survey={"delay": "1s", "window_hours": "0-24", "window_days": "all"},
        intake={"reasons": os.path.join(ROOT, "config", "reasons.conf")},
        privacy={"erasure_log": str(erasure_log)}))
    st, body = h.post_events([
        {"type": "customer", "data": {"id": OLAF[0], "email": OLAF[1], "name": OLAF[2],
                                      "locale": "pl"}},
        {"type": "customer", "data": {"id": "anna", "email": "anna@example.com",
                                      "name": "Anna", "locale": "en"}}])
    assert st == 202, body
    st, body = h.post_events({"type": "purchase", "data": {"customer_id": OLAF[0],
                                                           "order_id": "o-7731"}})
    assert st == 202, body
    (invite,) = smtp.wait_messages(1)
    assert to(invite) == OLAF[1]
    html = invite.get_body(preferencelist=("html",)).get_content()
    link = re.findall(r'href="http://127\.0\.0\.1:%d(/s/[A-Za-z0-9_.-]+)\?score=2"' % h.port,
                      html)[0]
    st, _, page = h.request("GET", link + "?score=2")
    assert st == 200
    csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
    form = urllib.parse.urlencode({"score": "2", "csrf": csrf, "comment": COMMENT}).encode()
    st, _, _ = h.request("POST", link, form, {
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": "http://127.0.0.1:%d" % h.port})
    assert st == 200
    for cid, txt in ((OLAF[0], COMPLAINT), ("anna", "My parcel arrived smashed and late")):
        st, body = h.post_events({"type": "complaint", "data": {"customer_id": cid,
                                                                "text": txt}})
        assert st == 202, body
    wait_for(lambda: len(h.fetch_all(["feedback.tagged"])) == 3, timeout=30,
             what="three pieces of feedback tagged")
    tagged = [e["payload"] for e in h.fetch_all(["feedback.tagged"])]
    case = [p["case"] for p in tagged if p["customer_id"] == OLAF[0] and p["kind"] == "complaint"][0]
    admin = {"Authorization": "Bearer " + h.admin_key, "Content-Type": "application/json"}
    st, _, data = h.request("POST", "/v1/cases/%s/reply" % case, {"message": REPLY}, admin)
    assert st == 202, data
    smtp.wait_messages(2)
    all_caught_up(h)
    reason = [p for p in tagged if p["customer_id"] == OLAF[0] and p["kind"] == "complaint"][0]["codes"][0]
    note = tmp_path / "note.md"
    note.write_text("We changed how we pack blenders.\n")
    h.hark("loop", "close", "--reason", reason, "--title", "Better packing",
           "--message-file", str(note))
    wait_for(lambda: any("Better packing" in str(m["Subject"]) and to(m) == OLAF[1]
                         for m in smtp.messages()), timeout=30, what="Olaf's loop email")
    all_caught_up(h)
    return h, link, admin


def reports(h):
    nps = json.loads(h.hark("report", "nps", "--json").stdout)
    reasons = json.loads(h.hark("report", "reasons", "--json").stdout)
    return nps, reasons


def counts(nps, reasons):
    """what must not change: every count, not the texts"""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in ("comment", "text", "quotes",
                                                                   "examples", "generated_at")}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    return strip(nps), strip(reasons)


def test_erasure__no_file_holds_them_reports_keep_counts_links_gone_new_person_fresh(
        make_hark, smtp, tmp_path):
    h, link, admin = chain(make_hark, smtp, tmp_path, tmp_path / "erasure.log")
    assert files_holding(h.state, NEEDLES) != []  # the services did copy them
    before = counts(*reports(h))
    sent_before = len(smtp.messages())
    # their unsubscribe link (the invite's) and form links show their page now
    unsub = str(smtp.messages()[0]["List-Unsubscribe"]).strip()[1:-1]
    unsub = unsub[unsub.index("/u/"):]
    st, _, page = h.request("GET", unsub)
    assert st == 200 and OLAF[1].encode() in page
    forms = [u[u.index("/", len("http://")):] for u in
             h.hark("cases", "link", OLAF[0]).stdout.split()]
    assert [h.request("GET", u)[0] for u in forms] == [200, 200]

    st, _, data = h.request("DELETE", "/v1/customers/" + OLAF[0], None,
                            dict(admin, **{"X-Hark-Actor": "dpo"}))
    assert st == 202, data
    [erased] = h.fetch_all(["customer.erased"])
    assert erased["payload"] == {"customer_id": OLAF[0], "by": "api:dpo"}
    all_caught_up(h)

    # no file under the state dir holds their address, name, comment or complaint
    wait_for(lambda: files_holding(h.state, NEEDLES) == [], timeout=30,
             what="no file holds Olaf (%s)" % files_holding(h.state, NEEDLES))
    assert os.path.getsize(os.path.join(h.state, "journal-keys.db-wal")) == 0
    # the reports keep their counts
    assert counts(*reports(h)) == before
    # the journal reads their fields as erased; Anna's are whole
    for e in h.fetch_all(["customer", "complaint", "survey.answered", "case.replied"]):
        who = e["payload"].get("id", e["payload"].get("customer_id"))
        assert e.get("erased") is (None if who == "anna" else True), e
    assert [e["payload"]["comment"] for e in h.fetch_all(["survey.answered"])] == ["[erased]"]
    # their survey link answers 410, in their language
    st, _, page = h.request("GET", link + "?score=9")
    assert st == 410 and b'lang="pl"' in page
    gone = json.load(open(os.path.join(ROOT, "templates", "pl", "words.json")))["erased"]
    assert gone["title"].encode() in page
    # so do their unsubscribe and form links, GET and POST, showing nothing
    # of them and journaling nothing
    origin = {"Origin": "http://127.0.0.1:%d" % h.port,
              "Content-Type": "application/x-www-form-urlencoded"}
    for method, url, body in [("GET", unsub, None), ("HEAD", unsub, None),
                              ("POST", unsub, b"List-Unsubscribe=One-Click"),
                              ("GET", forms[0], None), ("GET", forms[1], None),
                              ("POST", forms[0], b"reason=&text=still+there%3F&csrf=x")]:
        st, _, page = h.request(method, url, body, origin if body else None)
        assert st == 410, (method, url, st)
        if method != "HEAD":
            assert b'lang="pl"' in page and gone["title"].encode() in page, page
            assert OLAF[1].encode() not in page
    assert h.fetch_all(["mail.unsubscribed"]) == []
    # the API: their export is a JSON 410
    st, _, data = h.request("GET", "/v1/customers/%s/export" % OLAF[0], None, admin)
    assert st == 410 and json.loads(data)["error"]["code"] == "customer_erased", data
    st, _, data = h.request("GET", "/v1/customers/anna/export", None, admin)
    assert st != 410, data  # Anna was not erased (503 here: no hark-milestone)
    # the CLI erases too (no one here: harmless); nothing more was mailed to Olaf
    r = h.hark("customer", "erase", "nobody-at-all")
    assert "customer.erased journaled" in r.stdout
    all_caught_up(h)
    assert len(smtp.messages()) == sent_before

    # a later customer event with the same id is a new person
    st, body = h.post_events({"type": "customer", "data": {"id": OLAF[0],
                                                           "email": "new.olaf@example.org"}})
    assert st == 202, body
    last = h.fetch_all(["customer"])[-1]
    assert last["payload"]["email"] == "new.olaf@example.org" and "erased" not in last
    # ... whose form links work again
    assert h.request("GET", forms[0])[0] == 200
    h.stop()
    assert files_holding(h.state, NEEDLES) == []


def test_erasure_log__a_restored_older_copy_forgets_them_again(make_hark, tmp_path):
    log = tmp_path / "outside" / "erasure.log"
    log.parent.mkdir()
    h = make_hark(services=("journal", "gateway", "intake"), conf=dict(
        intake={"reasons": os.path.join(ROOT, "config", "reasons.conf")},
        privacy={"erasure_log": str(log)}))
    st, body = h.post_events([
        {"type": "customer", "data": {"id": OLAF[0], "email": OLAF[1], "name": OLAF[2]}},
        {"type": "complaint", "data": {"customer_id": OLAF[0], "text": COMPLAINT}}])
    assert st == 202, body
    wait_for(lambda: h.fetch_all(["feedback.tagged"]), what="the complaint tagged")
    all_caught_up(h)
    h.stop()
    assert files_holding(h.state, NEEDLES)  # intake's copy
    old = tmp_path / "var.old"
    copy_state(h.state, old)

    h.start()
    h.hark("customer", "erase", OLAF[0])
    all_caught_up(h)
    h.stop()
    assert files_holding(h.state, NEEDLES) == []
    assert '"customer_id":"olaf"' in log.read_text()

    # the backup comes back; the log (kept elsewhere) stays
    shutil.rmtree(h.state)
    copy_state(old, h.state)
    h.start()
    all_caught_up(h)
    wait_for(lambda: files_holding(h.state, NEEDLES) == [], timeout=30,
             what="no file holds Olaf after the restore (%s)" % files_holding(h.state, NEEDLES))
    assert [e["payload"]["customer_id"] for e in h.fetch_all(["customer.erased"])] == [OLAF[0]]
    for e in h.fetch_all(["customer", "complaint"]):
        assert e.get("erased") is True, e
    assert "event=erasure_reapplied" in h.log()
    h.stop()
    assert files_holding(h.state, NEEDLES) == []


def test_retention__old_free_text_unreadable_then_contact_counts_kept(make_hark, tmp_path):
    clock = tmp_path / "clock"
    clock.write_text("0")
    h = make_hark(services=("journal", "gateway", "intake"), start=False, conf=dict(
        intake={"reasons": os.path.join(ROOT, "config", "reasons.conf")},
        privacy={"free_text_days": "1", "contact_days": "3", "sweep": "1s",
                 "erasure_log": str(tmp_path / "erasure.log")}))
    h.env["HARK_CLOCK_FILE"] = str(clock)
    h.start()
    st, body = h.post_events([
        {"type": "customer", "data": {"id": OLAF[0], "email": OLAF[1], "name": OLAF[2]}},
        {"type": "complaint", "data": {"customer_id": OLAF[0], "text": COMPLAINT}}])
    assert st == 202, body
    wait_for(lambda: h.fetch_all(["feedback.tagged"]), what="the complaint tagged")
    all_caught_up(h)
    before = json.loads(h.hark("report", "reasons", "--json").stdout)
    assert h.fetch_all(["privacy.retention"]) == []

    clock.write_text(str(2 * 86400))  # two days idle: free text goes, contact stays
    wait_for(lambda: h.fetch_all(["privacy.retention"]), timeout=30, what="free text retention")
    [r] = h.fetch_all(["privacy.retention"])
    assert r["payload"]["class"] == "free_text" and r["payload"]["customers"] == [OLAF[0]]
    [c] = h.fetch_all(["complaint"])
    assert c["erased"] is True and c["payload"]["text"] == "[erased]"
    [cust] = h.fetch_all(["customer"])
    assert cust["payload"]["email"] == OLAF[1] and "erased" not in cust
    all_caught_up(h)
    wait_for(lambda: files_holding(h.state, [COMPLAINT.encode()]) == [], timeout=30,
             what="no file holds the complaint")
    assert files_holding(h.state, [OLAF[1].encode()])  # intake still has the contact
    after = json.loads(h.hark("report", "reasons", "--json").stdout)
    assert counts({}, after) == counts({}, before)

    clock.write_text(str(4 * 86400))  # four: the contact goes too
    wait_for(lambda: len(h.fetch_all(["privacy.retention"])) == 2, timeout=30,
             what="contact retention")
    [cust] = h.fetch_all(["customer"])
    assert cust["erased"] is True and cust["payload"]["email"] == "[erased]"
    all_caught_up(h)
    wait_for(lambda: files_holding(h.state, NEEDLES) == [], timeout=30,
             what="no file holds Olaf's contact")
    h.stop()


# --- the Maildir hark-inbox reads and the staff's drafts -------------------

PIA = ("pia", "pia.przezroczysta@example.org", "Pia Przezroczysta")
PIA_REPLY = "Kartonik był rozerwany, a czajnik pęknięty na pół"
PIA_DRAFT = "Droga Pio Przezroczysta, wysyłamy nowy czajnik"


def reply_to(mail, frm, name, text, n):
    """the customer's answer to one of our mails, as her mail program sends it"""
    return ("From: %s <%s>\nTo: %s\nSubject: Re: %s\nMessage-ID: <answer.%d@client.test>\n"
            "In-Reply-To: %s\nReferences: %s\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            "%s\n\n> %s\n" % (name, frm, mail["Reply-To"] or mail["From"], mail["Subject"], n,
                              mail["Message-ID"], mail["Message-ID"], text, REPLY)
            ).replace("\n", "\r\n").encode()


def test_erasure__their_mail_in_the_inbox_maildir_and_drafts_on_their_case_go_too(
        make_hark, smtp, tmp_path):
    from harness import free_port
    from test_console import Browser, add_user, case_page
    from test_console_users import preview, typed
    port = free_port()
    h = make_hark(services=("journal", "gateway", "mailer", "intake", "inbox", "console"),
                  conf=dict(shop_conf(smtp.port, reply_domain="reply.shop.example"),
                            intake={"reasons": os.path.join(ROOT, "config", "reasons.conf")},
                            inbox={"poll": "100ms"},
                            console={"listen": "127.0.0.1:%d" % port,
                                     "public_url": "http://127.0.0.1:%d" % port,
                                     "login_rate": "1000"}))
    h.console_port = port
    admin = {"Authorization": "Bearer " + h.admin_key, "Content-Type": "application/json"}
    cases = {}
    for cid, addr, name, text in (PIA + ("Mój czajnik przyszedł pęknięty",),
                                  ("anna", "anna@example.com", "Anna", "My kettle is broken")):
        st, body = h.post_events([
            {"type": "customer", "data": {"id": cid, "email": addr, "name": name,
                                          "locale": "pl"}},
            {"type": "complaint", "data": {"customer_id": cid, "text": text}}])
        assert st == 202, body
        cases[cid] = "C%d" % body["offsets"][1]
        wait_for(lambda: h.hark("cases", "show", cases[cid], "--json",
                                check=False).returncode == 0, what="case " + cases[cid])
        st, _, data = h.request("POST", "/v1/cases/%s/reply" % cases[cid], {"message": REPLY},
                                admin)
        assert st == 202, data
    mails = wait_for(lambda: [m for m in smtp.messages() if REPLY in str(m)] if len(
        [m for m in smtp.messages() if REPLY in str(m)]) == 2 else None, timeout=30,
                     what="the two replies mailed")
    # each customer answers; hark-inbox reads the answers into cur/
    maildir = os.path.join(h.state, "inbox")
    for n, m in enumerate(mails):
        who = PIA if to(m) == PIA[1] else ("anna", "anna@example.com", "Anna")
        raw = reply_to(m, who[1], who[2], PIA_REPLY if who == PIA else "Thanks, Anna here", n)
        with open(os.path.join(maildir, "tmp", "m%d" % n), "wb") as f:
            f.write(raw)
        os.rename(os.path.join(maildir, "tmp", "m%d" % n), os.path.join(maildir, "new", "m%d" % n))
    wait_for(lambda: len(os.listdir(os.path.join(maildir, "cur"))) == 2, timeout=30,
             what="both answers read")
    wait_for(lambda: len(h.fetch_all(["case.customer_replied"])) == 2, timeout=30,
             what="both answers on their cases")
    # a member of staff drafts a reply on each case
    add_user(h, "sam", "support")
    b = Browser(port)
    assert b.login("sam")[0] == 303
    for cid, text in (("pia", PIA_DRAFT), ("anna", "Dear Anna, a new kettle")):
        st, _, _, _ = preview(b, case_page(b, cases[cid]), cases[cid], text)
        assert st == 200
    all_caught_up(h)
    needles = [PIA[1].encode(), PIA[2].encode(), PIA_REPLY.encode(), PIA_DRAFT.encode()]
    held = files_holding(h.state, needles)
    assert any("/inbox/cur/" in p for p in held), held
    assert any(p.endswith(("console.db", "console.db-wal")) for p in held), held
    inbox_db = os.path.join(h.state, "inbox.db")

    def outcomes():
        import sqlite3
        with sqlite3.connect("file:%s?mode=ro" % inbox_db, uri=True) as db:
            return sorted(r[0] for r in db.execute("SELECT outcome FROM messages"))
    before = outcomes()
    assert before == ["reply", "reply"]

    st, _, data = h.request("DELETE", "/v1/customers/pia", None, admin)
    assert st == 202, data
    all_caught_up(h)
    wait_for(lambda: files_holding(h.state, needles) == [], timeout=30,
             what="no file holds Pia (%s)" % files_holding(h.state, needles))
    # Anna's answer and draft stay; the inbox keeps its counts
    assert len(os.listdir(os.path.join(maildir, "cur"))) == 1
    assert files_holding(h.state, [b"Thanks, Anna here"]) != []
    assert typed(b, cases["anna"])[0] == "Dear Anna, a new kettle"
    assert typed(b, cases["pia"])[0] == ""
    assert outcomes() == before
    h.stop()
    assert files_holding(h.state, needles) == []


def test_erasure__their_mail_in_the_mailers_own_maildir_goes_too(make_hark, tmp_path):
    """[mailer] maildir delivery (no SMTP host): the files of the mail sent
    to them, and of staff mail quoting them (about), are removed; another
    customer's stays"""
    h = make_hark(services=("journal", "mailer"), conf=dict(
        shop_conf(), privacy={"erasure_log": str(tmp_path / "erasure.log")}))
    append(h, [
        {"type": "customer", "key": "c-olaf", "payload": {"id": OLAF[0], "email": OLAF[1],
                                                          "name": OLAF[2]}},
        {"type": "customer", "key": "c-anna", "payload": {"id": "anna",
                                                          "email": "anna@example.com"}},
        {"type": "mail.requested", "key": "m-olaf", "payload": {
            "customer_id": OLAF[0], "template": "test", "category": "survey"}},
        {"type": "mail.requested", "key": "m-about-olaf", "payload": {
            "address": "staff@example.com", "about": OLAF[0], "template": "complaint_alert",
            "category": "alert", "vars": {"case_number": "C-1", "customer_name": OLAF[2],
                                          "customer_email": OLAF[1], "text": COMPLAINT,
                                          "staff_url": "http://127.0.0.1/c/1"}}},
        {"type": "mail.requested", "key": "m-anna", "payload": {
            "customer_id": "anna", "template": "test", "category": "survey"}},
    ])
    new = os.path.join(h.state, "maildir", "new")
    wait_for(lambda: len(os.listdir(new)) == 3, timeout=60, what="three mails in the Maildir")
    # Maildir readers move what they have read to cur/: found there too
    first = sorted(os.listdir(new))[0]
    os.makedirs(os.path.join(h.state, "maildir", "cur"), exist_ok=True)
    os.rename(os.path.join(new, first), os.path.join(h.state, "maildir", "cur", first + ":2,S"))
    maildir = os.path.join(h.state, "maildir")
    olaf_files = [p for p, data in raw_files(maildir) if OLAF[1].encode() in data]
    assert len(olaf_files) == 2, olaf_files  # theirs and the staff alert quoting them
    append(h, [{"type": "customer.erased", "key": "erase-olaf",
                "payload": {"customer_id": OLAF[0], "by": "api"}}])
    needles = [OLAF[1].encode(), OLAF[2].encode(), COMPLAINT.encode()]
    wait_for(lambda: files_holding(h.state, needles) == [], timeout=30,
             what="no file holds Olaf (%s)" % files_holding(h.state, needles))
    left = raw_files(maildir)
    assert len(left) == 1 and b"anna@example.com" in left[0][1], [p for p, _ in left]
    h.stop()
    assert files_holding(h.state, needles) == []


def test_unsealed__a_customer_made_again_after_erasure_is_a_new_person(make_hark, tmp_path):
    """[privacy] encrypt = no: no keys to shred or to make again, so the
    journal tells a new person by a later event carrying their record; the
    old events stay in clear in journal.db (hark-journal(8) PRIVACY)"""
    h = make_hark(services=("journal",), conf={"privacy": {
        "encrypt": "no", "erasure_log": str(tmp_path / "erasure.log")}})

    def erased():
        cmd, r = h.call(h.endpoint("journal.ctl"), "JOURNAL_ERASED", {"customer_id": "c1"})
        assert cmd == "JOURNAL_ERASED_OK", r
        return r["erased"]
    append(h, [{"type": "customer", "key": "c1", "payload": {"id": "c1", "email": EMAIL.decode()}},
               {"type": "customer", "key": "c2", "payload": {"id": "c2",
                                                             "email": "other@example.org"}}])
    assert erased() is False
    append(h, [{"type": "customer.erased", "key": "erase-c1",
                "payload": {"customer_id": "c1", "by": "api"}}])
    assert erased() is True
    # another customer's event, or one naming c1 without their record, changes nothing
    append(h, [{"type": "customer", "key": "c2-again", "payload": {"id": "c2"}},
               {"type": "complaint", "key": "k1", "payload": {"customer_id": "c1",
                                                             "text": "still wet"}}])
    assert erased() is True
    append(h, [{"type": "customer", "key": "c1-again",
                "payload": {"id": "c1", "email": "new@example.org"}}])
    assert erased() is False
    ev = {e["key"]: e for e in h.fetch_all(["customer"])}
    assert ev["c1-again"]["payload"]["email"] == "new@example.org"
    assert "erased" not in ev["c1-again"]
    # what encrypt = no cannot erase: the old event, stored in clear
    assert ev["c1"]["payload"]["email"] == EMAIL.decode()
    h.stop()


# --- the names of the sealed fields, stored once each ------------------------

def varint(b, off):
    v = shift = 0
    while True:
        v |= (b[off] & 0x7f) << shift
        shift += 7
        off += 1
        if not b[off - 1] & 0x80:
            return v, off


def whole_form(b, runs):
    """a compact sealed blob (journal_crypt.c) in the form earlier journals wrote"""
    assert b[0] == 3
    run, off = varint(b, 1)
    out = b""
    while off < len(b):
        head = b[off:off + 9]  # class, key id
        count, off = varint(b, off + 9)
        n, off = varint(b, off)
        out += head + (n + 24).to_bytes(4, "big") + runs[run] + count.to_bytes(8, "little")
        out += b[off:off + n]
        off += n
    return out


def test_sealed_names_and_nonce_prefixes_are_stored_once_and_old_rows_still_read(hark):
    """a row holds its list's ref (sealed_lists) and its run (seal_runs); a
    row as earlier journals wrote it (the names as text, whole nonces) reads
    the same, also once its key is gone"""
    import sqlite3
    customers = [{"type": "customer", "key": "n%d" % i, "payload": {
        "id": "n%d" % i, "email": "n%d@example.org" % i, "name": "N %d" % i,
        "attributes": {"tier": "gold"}}} for i in range(3)]
    append(hark, customers + [{"type": "complaint", "key": "nk", "payload": {
        "customer_id": "n0", "text": "the lid was cracked"}}])
    before = {e["key"]: e for e in hark.fetch_all()}
    hark.stop()
    path = os.path.join(hark.state, "journal.db")
    with sqlite3.connect(path) as db:
        lists = dict(db.execute("SELECT id, names FROM sealed_lists"))
        rows = db.execute("SELECT key, typeof(sealed_names), sealed_names FROM events"
                          " WHERE sealed IS NOT NULL").fetchall()
        assert sorted(lists.values()) == ["email,name,-attributes", "text"]
        assert {t for _, t, _ in rows} == {"blob"}
        assert len({v for _, _, v in rows}) == 2  # three customers, one list
        # the compact layout: the nonce's prefix stored once, in seal_runs
        assert db.execute("SELECT count(*) FROM seal_runs").fetchone()[0] == 1
        assert {bytes(b)[:2] for (b,) in db.execute(
            "SELECT sealed FROM events WHERE sealed IS NOT NULL")} == {b"\x03\x01"}
        # n1 and the complaint as the journal wrote rows before: the names as
        # text, each segment with its 4-byte length and whole nonce
        runs = dict(db.execute("SELECT id, prefix FROM seal_runs"))
        for key in ("n1", "nk"):
            (blob,) = db.execute("SELECT sealed FROM events WHERE key = ?", (key,)).fetchone()
            db.execute("UPDATE events SET sealed = ?, sealed_names = (SELECT names FROM"
                       " sealed_lists WHERE ref = sealed_names) WHERE key = ?",
                       (whole_form(bytes(blob), runs), key))
    hark.start()
    assert {e["key"]: e for e in hark.fetch_all()} == before
    append(hark, [{"type": "customer.erased", "key": "erase-n0",
                   "payload": {"customer_id": "n0", "by": "api"}}])
    append(hark, [{"type": "customer", "key": "n9", "payload": {
        "id": "n9", "email": "n9@example.org", "name": "N 9", "attributes": {"a": 1}}}])
    ev = {e["key"]: e for e in hark.fetch_all()}
    assert ev["n0"]["erased"] is True  # a ref: "[erased]" where the list says
    assert ev["n0"]["payload"] == {"id": "n0", "email": "[erased]", "name": "[erased]"}
    assert ev["nk"]["payload"] == {"customer_id": "n0", "text": "[erased]"}  # text
    assert ev["n1"] == before["n1"] and ev["n9"]["payload"]["attributes"] == {"a": 1}
    hark.stop()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM sealed_lists").fetchone()[0] == 2
        assert db.execute("SELECT count(*) FROM seal_runs").fetchone()[0] == 2  # a new run
