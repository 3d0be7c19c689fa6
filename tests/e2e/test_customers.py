"""Customers in Hark Console, `hark customers` and GET /v1/customers/ID/export,
every owner real (survey, milestone, intake, loop, mailer) and a real SMTP
server: finding a customer by name, address or id (Cyrillic and Chinese too),
a customer's timeline after a real chain (purchase, invite, answer with a
comment, complaint, staff reply, loop email, bounce, unsubscribe), suppressing
and unsuppressing from the page (which mailing obeys), an owner that does not
answer named on the page, the export holding each item and nothing of anyone
else, customer text escaped, and support refused."""
import json
import os
import re
import signal
import urllib.parse

import pytest

from harness import ROOT, Hark, free_port, shop_conf, wait_for
from smtp import SmtpServer
from test_console import PASSWORD, Browser, Page, add_user  # noqa: F401

SERVICES = ("journal", "gateway", "mailer", "survey", "milestone", "intake", "loop", "console")
OLGA = ("c-olga", "olga.petrova@example.ru", "Ольга Петрова", "ru")
LI = ("c-li", "rcpt550-li@example.cn", "李娜", "zh")  # the test server refuses her address
TOM = ("c-tom", "tom@example.com", 'Tom <b>Reed</b> "&"', "en")
OLEG = ("c-oleg", "oleg@example.ru", "Олег Петров", "ru")  # a near namesake of Olga's
COMMENT = "Посылка шла три недели"
COMPLAINT = "Посылка опять опоздала, трек не обновляется"
HOSTILE = "<script>alert(1)</script> the lid came off"
TITLE = "Two-day delivery"


def html(msg):
    return msg.get_body(preferencelist=("html",)).get_content()


def to(msg):
    return msg["To"].addresses[0].addr_spec


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    s = SmtpServer(tmp_path_factory.mktemp("smtp"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory, smtp):
    """every owner, the console, and the chain of Olga's life with the shop"""
    tmp = tmp_path_factory.mktemp("customers")
    port = free_port()
    conf = shop_conf(smtp.port)
    conf["survey"] = {"delay": "1s", "window_hours": "0-24", "window_days": "all",
                      "throttle": "0s"}
    conf["intake"] = {"reasons": os.path.join(ROOT, "config", "reasons.conf"), "timeout": "2s"}
    conf["console"] = {"listen": "127.0.0.1:%d" % port,
                       "public_url": "http://127.0.0.1:%d" % port, "login_rate": "1000"}
    h = Hark(tmp, SERVICES, conf)
    h.console_port = port
    h.start()
    add_user(h, "ada", "admin")
    add_user(h, "ivan", "admin", locale="ru")
    add_user(h, "sam", "support")
    add_user(h, "mia", "marketer")
    st, body = h.post_events([{"type": "customer", "data": {"id": c, "email": e, "name": n,
                                                            "locale": loc}}
                              for c, e, n, loc in (OLGA, LI, TOM, OLEG)])
    assert st == 202, body

    # Olga buys; the invite comes; she answers 3 with a comment on the page
    st, body = h.post_events({"type": "purchase", "data": {
        "customer_id": OLGA[0], "order_id": "o-olga-1", "amount": 24.5, "currency": "EUR"}})
    assert st == 202, body
    invite = wait_for(lambda: next((m for m in smtp.messages() if to(m) == OLGA[1]), None), 30,
                      what="Olga's invite")
    link = re.findall(r'href="http://127\.0\.0\.1:%d(/s/[A-Za-z0-9_.-]+)\?score=3"' % h.port,
                      html(invite))[0]
    st, _, page = h.request("GET", link + "?score=3")
    assert st == 200
    csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
    st, _, _ = h.request("POST", link, urllib.parse.urlencode(
        {"score": "3", "csrf": csrf, "comment": COMMENT}).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "http://127.0.0.1:%d" % h.port})
    assert st == 200
    # she complains; staff reply; the loop for late deliveries is closed
    st, body = h.post_events({"type": "complaint", "data": {
        "customer_id": OLGA[0], "reason_code": "shipping_delay", "text": COMPLAINT}})
    assert st == 202, body
    h.olga_case = "C%d" % body["offsets"][0]
    wait_for(lambda: h.hark("cases", "show", h.olga_case, "--json", check=False).returncode == 0,
             30, what="Olga's case")
    reply = tmp / "reply.md"
    reply.write_text("Sorry, Olga: a new parcel is on its way.\n")
    h.hark("cases", "reply", h.olga_case, "--message-file", str(reply))
    # Tom complains with markup in his words; Li buys (her invite bounces)
    st, body = h.post_events([
        {"type": "complaint", "data": {"customer_id": TOM[0], "text": HOSTILE,
                                       "reason_code": "product_quality"}},
        {"type": "purchase", "data": {"customer_id": LI[0], "order_id": "o-li-1"}}])
    assert st == 202, body

    def caught_up():
        st = {s["name"]: s for s in h.status()["services"]}
        return all(st[s].get("lag") == 0 for s in ("loop", "intake"))
    wait_for(caught_up, 30, what="loop and intake caught up")
    note = tmp / "note.md"
    note.write_text("Every order now ships within **two days**.\n")
    h.hark("loop", "close", "--reason", "shipping_delay", "--title", TITLE, "--message-file",
           str(note))
    wait_for(lambda: any(e["payload"].get("customer_id") == OLGA[0]
                         for e in h.fetch_all(types=["loop.notified"])), 30,
             what="Olga told of the loop")
    wait_for(lambda: any(e["payload"].get("address") == LI[1]
                         for e in h.fetch_all(types=["mail.bounced"])), 30, what="Li's bounce")
    yield h
    h.stop()


def signed_in(h, name, lang=None):
    b = Browser(h.console_port, lang=lang)
    st = b.login(name)[0]
    assert st == 303, st
    return b


def rows(p):
    """the links to customers on a results page, in order"""
    return [urllib.parse.unquote(l[len("/customers/"):]) for l in p.links
            if l.startswith("/customers/")]


def customer_page(b, cid, until=lambda p: True, what="the customer's page"):
    def ready():
        st, _, data, _ = b.get("/customers/" + urllib.parse.quote(cid, safe=""))
        p = Page(data) if st == 200 else None
        return p if p and until(p) else None
    return wait_for(ready, 30, what=what)


# --- finding a customer -----------------------------------------------------
@pytest.mark.parametrize("q,first", [
    ("Ольга", OLGA[0]),              # Cyrillic, a part of the name
    ("ольга петрова", OLGA[0]),      # folded the Unicode way
    ("ПЕТРОВ", OLGA[0]),             # both Petrovs; Olga came first
    ("李娜", LI[0]),                  # two Chinese characters: the start of her name
    ("olga.petrova@example.ru", OLGA[0]),   # an exact address
    ("OLGA.PETROVA@EXAMPLE.RU", OLGA[0]),   # addresses in any case
    ("c-li", LI[0]),                 # an exact id
    ("example.cn", LI[0]),           # a part of an address
])
def test_customers__search_by_name_email_or_id_finds_the_right_one(site, q, first):
    b = signed_in(site, "mia")
    p = b.page("/customers?q=" + urllib.parse.quote(q))
    found = rows(p)
    assert found and found[0] == first, (q, found)
    assert "q" in p.labels  # the search box has its label


def test_customers__search_pages_and_says_when_nothing_matches(site):
    b = signed_in(site, "mia")
    p = b.page("/customers?q=" + urllib.parse.quote("Петров"))
    assert rows(p) == [OLGA[0], OLEG[0]]
    cmd, body = site.call(site.endpoint("survey.ctl"), "SURVEY_CUSTOMERS",
                          {"q": "example", "limit": 2})
    assert cmd == "SURVEY_CUSTOMERS_OK" and len(body["customers"]) == 2 and body["more"]
    cmd, rest = site.call(site.endpoint("survey.ctl"), "SURVEY_CUSTOMERS",
                          {"q": "example", "limit": 2, "offset": 2})
    ids = [c["id"] for c in body["customers"] + rest["customers"]]
    assert sorted(ids) == sorted([OLGA[0], LI[0], TOM[0], OLEG[0]]) and not rest["more"]
    # the result shows name, email, locale and last activity
    olga = next(c for c in body["customers"] + rest["customers"] if c["id"] == OLGA[0])
    assert olga["name"] == OLGA[2] and olga["email"] == OLGA[1] and olga["locale"] == "ru"
    assert olga["last_activity"].startswith("20")
    p = b.page("/customers?q=nobody-by-this-name")
    assert rows(p) == [] and "No customer matches" in p.all_text()
    out = site.hark("customers", "find", "李娜").stdout
    assert out.startswith(LI[0] + "\t李娜\t" + LI[1])


# --- a customer's page ------------------------------------------------------
KINDS = {  # the words of each kind of item on the page (English)
    "purchase": "Purchase", "invite": "Survey invite", "answer": "Survey answer",
    "case": "Case opened", "case_note": "Case history", "loop_email": "Loop email",
    "mail": "Email",
}


def test_customers__the_timeline_shows_each_kind_after_a_real_chain_newest_first(site):
    b = signed_in(site, "ada")
    p = customer_page(b, OLGA[0], lambda p: "Loop email" in p.all_text(),
                      what="Olga's timeline with the loop email")
    text = p.all_text()
    for word in KINDS.values():
        assert word in text, word
    assert COMMENT in text and COMPLAINT in text and "o-olga-1" in text
    assert "/cases/" + site.olga_case in p.links
    assert OLGA[2] in text and OLGA[1] in text
    # newest first: the loop email after the purchase in time, above it on the page
    assert text.index("Loop email") < text.index("Purchase")
    # Li's page: her invite bounced and her address is suppressed
    p = customer_page(b, LI[0], lambda p: "Bounce" in p.all_text(), what="Li's bounce")
    assert "Address blocked after a bounce" in p.all_text()
    assert "suppressed: their address bounced" in p.all_text()
    # the command line shows the same timeline
    out = site.hark("customers", "show", OLGA[0]).stdout
    for kind in KINDS:
        assert re.search(r"^\S+  %s " % kind, out, re.M), (kind, out)
    assert COMMENT in out


def test_customers__suppress_then_unsuppress_from_the_page_affects_mailing(site, smtp):
    b = signed_in(site, "mia")  # a marketer may
    p = customer_page(b, OLGA[0])
    action = "/customers/%s/suppress" % OLGA[0]
    assert action in p.forms and "reaches them" in p.all_text()
    st, hdr, _, _ = b.submit(p, action)
    assert st == 303 and hdr["Location"] == "/customers/" + OLGA[0]
    p = customer_page(b, OLGA[0], lambda p: "/customers/%s/unsuppress" % OLGA[0] in p.forms,
                      what="the suppression applied")
    assert "suppressed: they unsubscribed" in p.all_text() and "Unsubscribed" in p.all_text()
    (ev,) = [e for e in site.fetch_all(types=["mail.unsubscribed"])
             if e["payload"].get("customer_id") == OLGA[0]]
    assert ev["payload"] == {"address": OLGA[1], "customer_id": OLGA[0], "via": "staff",
                             "by": "user:mia"}
    send = ("mail", "send", "--template", "test", "--customer", OLGA[0], "--category", "survey",
            "--wait")
    r = site.hark(*send, check=False, timeout=90)
    assert r.returncode == 1 and "mail.skipped" in r.stdout and "suppressed" in r.stdout
    # every copy of the suppressions holds it: hark-survey asks her nothing now
    st, body = site.post_events({"type": "purchase", "data": {"customer_id": OLGA[0],
                                                              "order_id": "o-olga-2"}})
    assert st == 202
    wait_for(lambda: any(i["kind"] == "invite" and i.get("order_id") == "o-olga-2" for i in
                         site.call(site.endpoint("survey.ctl"), "SURVEY_CUSTOMER",
                                   {"customer_id": OLGA[0]})[1]["items"]), 30,
             what="the second purchase's invite")
    (inv,) = [i for i in site.call(site.endpoint("survey.ctl"), "SURVEY_CUSTOMER",
                                   {"customer_id": OLGA[0]})[1]["items"]
              if i["kind"] == "invite" and i.get("order_id") == "o-olga-2"]
    assert inv["status"] == "suppressed"
    # and back on
    st, hdr, _, _ = b.submit(p, "/customers/%s/unsuppress" % OLGA[0])
    assert st == 303
    customer_page(b, OLGA[0], lambda p: "/customers/%s/suppress" % OLGA[0] in p.forms,
                  what="the suppression lifted")
    (ev,) = site.fetch_all(types=["customer.unsuppressed"])
    assert ev["payload"] == {"address": OLGA[1], "customer_id": OLGA[0], "by": "user:mia"}
    r = site.hark(*send, check=False, timeout=90)
    assert r.returncode == 0 and "mail.delivered" in r.stdout, r.stdout + r.stderr


def test_customers__customer_text_is_escaped(site):
    b = signed_in(site, "ada")
    p = customer_page(b, TOM[0], lambda p: "Case opened" in p.all_text())
    st, _, data, _ = b.get("/customers/" + TOM[0])
    assert "<script>" not in data and "<b>Reed</b>" not in data
    assert "&lt;script&gt;" in data and "&lt;b&gt;Reed&lt;/b&gt;" in data
    assert HOSTILE in p.all_text() and TOM[2] in p.all_text()
    b2 = signed_in(site, "ada")
    p = b2.page("/customers?q=" + urllib.parse.quote("Tom <b>"))
    assert rows(p) == [TOM[0]]


def test_customers__an_owner_that_does_not_answer_is_named_and_the_rest_shows(site):
    b = signed_in(site, "ada")
    pid = site.kill("loop", signal.SIGSTOP)
    try:
        st, _, data, _ = b.get("/customers/" + OLGA[0])
    finally:
        os.kill(pid, signal.SIGCONT)
    p = Page(data)
    assert st == 200
    assert "did not answer in time: hark-loop" in p.all_text()
    assert "Purchase" in p.all_text() and COMPLAINT in p.all_text()
    assert "Loop email" not in p.all_text()


def test_customers__support_is_refused_and_nobody_is_sent_to_sign_in(site):
    b = signed_in(site, "sam")
    for path in ("/customers", "/customers?q=olga", "/customers/" + OLGA[0]):
        assert b.get(path)[0] == 403, path
    csrf = b.page("/cases").forms["/logout"]["csrf"][0]
    assert b.request("POST", "/customers/%s/suppress" % OLGA[0], {"csrf": csrf})[0] == 403
    st, hdr, _, _ = Browser(site.console_port).get("/customers")
    assert st == 303 and hdr["Location"].startswith("/login")
    nav = signed_in(site, "sam").page("/cases").links
    assert "/customers" not in nav
    assert "/customers" in signed_in(site, "mia").page("/cases").links
    assert signed_in(site, "ada").get("/customers/no-such-customer")[0] == 404


def test_customers__the_page_speaks_the_readers_language(site):
    b = signed_in(site, "ivan")
    p = b.page("/customers?q=" + urllib.parse.quote("Ольга"))
    assert p.lang == "ru" and "Найти" in p.all_text()
    p = customer_page(b, OLGA[0])
    assert "История" in p.all_text() and "Покупка" in p.all_text()


# --- export -----------------------------------------------------------------
def test_customers__export_holds_each_item_and_nothing_of_another_customer(site):
    customer_page(signed_in(site, "ada"), OLGA[0], lambda p: "Loop email" in p.all_text())
    st, hdr, data = site.request("GET", "/v1/customers/%s/export" % OLGA[0],
                                 headers={"Authorization": "Bearer " + site.admin_key,
                                          "X-Hark-Actor": "dpo"})
    assert st == 200, data
    doc = json.loads(data)
    assert doc["customer_id"] == OLGA[0] and doc["profile"]["name"] == OLGA[2]
    kinds = {i["kind"] for i in doc["items"]}
    assert {"purchase", "invite", "answer", "case", "case_note", "loop_email", "mail"} <= kinds
    assert sorted(doc["owners"]) == sorted(["survey", "milestone", "intake", "loop", "mailer"])
    ats = [i["at"] for i in doc["items"]]
    assert ats == sorted(ats, reverse=True)
    text = data.decode()
    assert COMMENT in text and COMPLAINT in text
    for other in (LI, TOM, OLEG):
        for field in other:
            if field not in ("ru", "en", "zh"):
                assert field not in text, field
    (ev,) = [e for e in site.fetch_all(types=["customer.exported"])
             if e["payload"]["by"] == "api:dpo"]
    assert ev["payload"]["customer_id"] == OLGA[0]
    # the admin key only, and an unknown customer is 404
    assert site.request("GET", "/v1/customers/%s/export" % OLGA[0],
                        headers={"Authorization": "Bearer " + site.ingest_key})[0] == 401
    assert site.request("GET", "/v1/customers/nobody/export",
                        headers={"Authorization": "Bearer " + site.admin_key})[0] == 404
    # the command line gives the same document, journaled by cli:USER
    cli = json.loads(site.hark("customers", "export", OLGA[0]).stdout)
    assert kinds <= {i["kind"] for i in cli["items"]}
    assert any(e["payload"]["by"].startswith("cli:")
               for e in site.fetch_all(types=["customer.exported"]))


# --- in a real browser --------------------------------------------------------
@pytest.fixture(scope="module")
def drv():
    from chromium import chromium
    d = chromium()
    yield d
    d.quit()


@pytest.mark.parametrize("locale,scheme,who", [("en", "light", "ada"), ("ru", "dark", "ivan")])
def test_customers__the_pages_render_in_chromium_and_pass_axe(site, drv, locale, scheme, who):
    from selenium.webdriver.common.by import By
    from chromium import assert_accessible, screenshot, set_language
    set_language(drv, locale)
    drv.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
        {"name": "prefers-color-scheme", "value": scheme}]})
    origin = "http://127.0.0.1:%d" % site.console_port
    drv.delete_all_cookies()
    drv.get(origin + "/customers")
    drv.find_element(By.ID, "username").send_keys(who)
    drv.find_element(By.ID, "password").send_keys(PASSWORD)
    drv.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait_for(lambda: "/login" not in drv.current_url, 20, what="signed in")
    assert drv.current_url.endswith("/customers")
    assert drv.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale
    assert_accessible(drv, "customers in " + locale)
    # a search typed into the box, a result clicked
    box = drv.find_element(By.ID, "q")
    box.send_keys("Петров")
    drv.find_element(By.CSS_SELECTOR, "form.search button").click()
    wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, "table.customers a"), 20,
             what="the results")
    assert_accessible(drv, "search results in " + locale)
    screenshot(drv, "customers-" + locale)
    drv.find_element(By.CSS_SELECTOR, "table.customers a").click()
    wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, "table.timeline"), 20,
             what="Olga's timeline")
    assert OLGA[2] in drv.find_element(By.TAG_NAME, "h1").text
    assert_accessible(drv, "customer in " + locale)
    screenshot(drv, "customer-" + locale)


def test_customers__the_command_line_suppresses_and_unsuppresses_too(site):
    out = site.hark("customers", "suppress", TOM[0]).stdout
    assert out.startswith("suppressed c-tom (tom@example.com) by cli:")
    send = ("mail", "send", "--template", "test", "--customer", TOM[0], "--category", "loop",
            "--wait")
    wait_for(lambda: "mail.skipped" in site.hark(*send, check=False, timeout=90).stdout, 60,
             what="Tom's loop mail skipped")
    (ev,) = [e for e in site.fetch_all(types=["mail.unsubscribed"])
             if e["payload"].get("customer_id") == TOM[0]]
    assert ev["payload"]["via"] == "staff" and ev["payload"]["by"].startswith("cli:")
    assert site.hark("customers", "unsuppress", TOM[0]).returncode == 0
    wait_for(lambda: site.hark(*send, check=False, timeout=90).returncode == 0, 60,
             what="Tom's loop mail delivered")
    r = site.hark("customers", "suppress", "nobody-known", check=False)
    assert r.returncode == 1 and "no address" in r.stderr
