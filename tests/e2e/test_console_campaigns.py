"""Hark Console's /campaigns and /milestones end to end: a real journal,
gateway, mailer, survey, milestone and console; pages read with html.parser
(test_console's small browser), changes read back from the journal and from
the owning services, invites received by the test SMTP server."""
import datetime
import json
import os
import re
import time
from html.parser import HTMLParser

import pytest

from harness import ROOT, Hark, free_port, wait_for
from smtp import SmtpServer
import test_console as tc
import test_survey as ts

SERVICES = ("journal", "gateway", "mailer", "survey", "milestone", "console")


def start(tmp_path, smtp_port):
    """test_console's instance with hark-survey (as test_survey runs it:
    short delays, any hour) and hark-milestone"""
    reasons = tmp_path / "reasons.conf"
    reasons.write_text(tc.REASONS)
    port = free_port()
    conf = ts.survey_conf(smtp_port)
    conf["intake"] = {"reasons": str(reasons)}
    conf["console"] = {"listen": "127.0.0.1:%d" % port,
                       "public_url": "http://127.0.0.1:%d" % port, "login_rate": "1000"}
    d = tmp_path / ("h-%d" % port)
    d.mkdir()
    h = Hark(d, SERVICES, conf)
    h.console_port = port
    h.console_origin = "http://127.0.0.1:%d" % port
    return h.start()


def s_users(inst):
    tc.add_user(inst, "mia", "marketer")
    tc.add_user(inst, "sam", "support")
    tc.add_user(inst, "ada", "admin")
    return inst


@pytest.fixture
def con(tmp_path, smtp):
    inst = s_users(start(tmp_path, smtp.port))
    yield inst
    inst.stop()


@pytest.fixture(scope="module")
def refusing(tmp_path_factory):
    """One instance for the tests that are only refused (each asserts that
    nothing was saved, so none sees another's change): six instances of six
    services started and stopped for them were a third of this file's time."""
    d = tmp_path_factory.mktemp("refusing")
    s = SmtpServer(d / "smtp")
    inst = s_users(start(d, s.port))
    yield inst
    inst.stop()
    s.stop()


def signed_in(con, name, lang=None):
    b = tc.Browser(con.console_port, lang=lang)
    assert b.login(name)[0] == 303
    return b, b.page("/campaigns").forms["/logout"]["csrf"][0]


def campaigns(con, id_=None):
    cmd, r = con.call(con.endpoint("survey.ctl"), "SURVEY_CAMPAIGNS",
                      {"id": id_, "history": True} if id_ else {})
    assert cmd == "SURVEY_CAMPAIGNS_OK", r
    return {c["id"]: c for c in r["campaigns"]}


def saved(con):
    return [e["payload"] for e in con.fetch_all(types=["campaign.saved"])]


def errors_of(data):
    """the fields whose error is shown beside them"""
    return set(re.findall(r'<span class="err" id="f-([a-z_]+)-error">', data))


def value_of(page, action, name):
    return page.forms[action][name][0]


def form(csrf, **fields):
    base = {"csrf": csrf, "do": "save", "kind": "post_purchase", "enabled": "1"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def test_console_campaigns__errors_beside_each_field_keep_what_was_typed_then_save_by_user(con):
    b, csrf = signed_in(con, "mia")
    assert "/campaigns/new" in b.page("/campaigns").links
    bad = form(csrf, id="Tea Lovers", delay="soon", priority="first", sample_rate="2",
               window_hours="20-9", products="TEA-1, MUG-2")
    st, _, data, _ = b.request("POST", "/campaigns/new", bad)
    assert st == 400, data[:300]
    assert errors_of(data) == {"id", "delay", "priority", "sample_rate", "window_hours"}
    p = tc.Page(data)
    assert value_of(p, "/campaigns/new", "delay") == "soon"
    assert value_of(p, "/campaigns/new", "products") == "TEA-1, MUG-2"
    assert value_of(p, "/campaigns/new", "id") == "Tea Lovers"
    assert 'aria-invalid="true"' in data and "form-error" in p.ids
    # a relationship campaign without its first run, and a bad period
    st, _, data, _ = b.request("POST", "/campaigns/new", form(
        csrf, id="monthly", kind="relationship", every="fortnightly", segment_within="0d"))
    assert st == 400 and errors_of(data) == {"start", "every", "segment_within"}, errors_of(data)
    assert saved(con) == []
    # right: 303 to its page, journaled by the account, applied by hark-survey
    st, hdr, _, _ = b.request("POST", "/campaigns/new", form(
        csrf, id="tea-lovers", delay="2s", products="TEA-1, MUG-2", priority="5"))
    assert (st, hdr["Location"]) == (303, "/campaigns/tea-lovers?done=saved")
    (ev,) = saved(con)
    assert ev["by"] == "user:mia" and ev["products"] == ["TEA-1", "MUG-2"] and ev["priority"] == 5
    c = campaigns(con, "tea-lovers")["tea-lovers"]
    assert c["delay"] == "2s" and c["history"][0]["by"] == "user:mia"
    # the same name again is not a second campaign
    st, _, data, _ = b.request("POST", "/campaigns/new", form(csrf, id="tea-lovers", delay="1d"))
    assert st == 400 and errors_of(data) == {"id"}
    # edit: the form shows what was saved; the history says who changed what
    page = b.page("/campaigns/tea-lovers")
    assert value_of(page, "/campaigns/tea-lovers", "products") == "TEA-1, MUG-2"
    st, hdr, _, _ = b.submit(page, "/campaigns/tea-lovers",
                              {"delay": "3d", "do": "save", "kind": "post_purchase"})
    assert st == 303
    b2, csrf2 = signed_in(con, "ada")
    b2.request("POST", "/campaigns/tea-lovers", {"csrf": csrf2, "do": "disable", "back": "edit"})
    page = b.page("/campaigns/tea-lovers")
    hist = page.all_text()[page.all_text().index("History of changes"):]
    assert "user:ada" in hist and "user:mia" in hist and "created" in hist
    assert re.search(r"delay: \"2s\" → \"3d\"", hist) and re.search(r"enabled: true → false", hist)
    assert [e["by"] for e in saved(con)] == ["user:mia", "user:mia", "user:ada"]


class Fields(HTMLParser):
    """The campaign form as a screen reader meets it: each control's
    attributes by id, each element's text by id, and the alert's list
    (href, text) of the fields to correct."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.controls, self.text, self.listed = {}, {}, []
        self._open, self._li = [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("input", "select", "textarea") and "id" in a:
            self.controls[a["id"]] = a
        if "id" in a and tag in ("span", "p"):
            self._open.append([a["id"], tag, []])
        if tag == "li" and self.text.get("form-error") is not None:
            self._li = [None, []]
        if tag == "a" and self._li is not None:
            self._li[0] = a.get("href")

    def handle_endtag(self, tag):
        if self._open and self._open[-1][1] == tag:
            i, _, t = self._open.pop()
            self.text[i] = "".join(t).strip()
        if tag == "li" and self._li is not None:
            self.listed.append((self._li[0], "".join(self._li[1]).strip()))
            self._li = None

    def handle_data(self, data):
        for o in self._open:
            o[2].append(data)
        if self._li is not None:
            self._li[1].append(data)


def words(lang):
    with open(os.path.join(ROOT, "templates", lang, "words.json"), encoding="utf-8") as f:
        return json.load(f)["console"]


@pytest.mark.parametrize("lang", ["en", "ru", "pl", "zh", "be"])
def test_console_campaigns__each_field_says_its_own_error_beside_it_in_the_readers_language(
        refusing, lang):
    con = refusing
    b, csrf = signed_in(con, "mia", lang=lang)
    w = words(lang)
    st, _, data, _ = b.request("POST", "/campaigns/new", form(
        csrf, id="Tea Lovers", delay="soon", priority="first", sample_rate="2",
        window_hours="20-9", window_days="someday", expiry="forever"))
    assert st == 400, data[:300]
    p = Fields(data)
    bad = ["id", "delay", "priority", "sample_rate", "window_hours", "window_days", "expiry"]
    for name in bad:
        c = p.controls["f-" + name]
        assert c.get("aria-invalid") == "true", (name, c)
        assert c["aria-describedby"].split() == ["f-%s-hint" % name, "f-%s-error" % name], c
        assert p.text["f-%s-error" % name] == w["camp_e_" + name], (lang, name)
        assert p.text["f-%s-hint" % name] == w["camp_h_" + name]
    # each field its own words, none the old sentence for all
    assert len({p.text["f-%s-error" % n] for n in bad}) == len(bad)
    assert w["camp_invalid"] not in data
    for name in ("products", "reminder", "every"):  # right, or left out: nothing said
        assert "aria-invalid" not in p.controls["f-" + name], name
        assert "f-%s-error" % name not in p.text
    # the alert lists them in the page's order, each a link to its field
    assert p.text["form-error"] == w["camp_errors"]
    assert [h for h, _ in p.listed] == ["#f-" + n for n in
                                        ("id", "delay", "priority", "sample_rate",
                                         "window_hours", "window_days", "expiry")]
    assert p.listed[1][1] == "%s: %s" % (w["camp_f_delay"], w["camp_e_delay"])
    # a relationship campaign: its first run is needed, a segment line needs a name
    st, _, data, _ = b.request("POST", "/campaigns/new", form(
        csrf, id="monthly", kind="relationship", every="2w", segment_attributes="=gold"))
    p = Fields(data)
    assert st == 400 and {n for n in ("start", "segment_attributes")
                          if p.controls["f-" + n].get("aria-invalid") == "true"} == \
        {"start", "segment_attributes"}
    assert p.text["f-start-error"] == w["camp_e_start"]
    assert p.text["f-segment_attributes-error"] == w["camp_e_segment_attributes"]
    # a name taken says so, beside the name and in the list
    st, _, data, _ = b.request("POST", "/campaigns/new", form(csrf, id="post-purchase",
                                                              delay="1d"))
    p = Fields(data)
    assert st == 400 and p.text["f-id-error"] == w["camp_id_taken"]
    assert p.listed == [("#f-id", "%s: %s" % (w["camp_f_id"], w["camp_id_taken"]))]
    assert saved(con) == []


def test_console_campaigns__the_order_on_the_page_decides_which_campaign_invites(con, smtp):
    b, csrf = signed_in(con, "mia")
    # the shipped post-purchase campaign off, two that take every purchase
    st, _, _, _ = b.request("POST", "/campaigns/post-purchase", {"csrf": csrf, "do": "disable"})
    assert st == 303
    for cid in ("alpha", "beta"):
        st, _, _, _ = b.request("POST", "/campaigns/new", form(csrf, id=cid, delay="1s"))
        assert st == 303
    rows = [r for r in re.findall(r'<tr id="campaign-([a-z0-9-]+)"', b.get("/campaigns")[2])]
    assert rows[:2] == ["alpha", "beta"]  # same priority: id order
    assert "never" in b.page("/campaigns/beta").ids  # alpha takes every purchase first
    ts.buy(con, "c1", "one@example.com", "o-1")
    wait_for(lambda: campaigns(con)["alpha"]["counts"].get("sent") == 1, 30, what="alpha invites")
    # beta moved up: both renumbered, journaled by mia, and beta takes the next purchase
    st, hdr, _, _ = b.request("POST", "/campaigns/beta", {"csrf": csrf, "do": "up"})
    assert (st, hdr["Location"]) == (303, "/campaigns?done=moved")
    c = campaigns(con)
    assert (c["beta"]["priority"], c["alpha"]["priority"]) == (1, 2)
    assert {e["by"] for e in saved(con)} == {"user:mia"}
    data = b.get("/campaigns")[2]
    assert re.findall(r'<tr id="campaign-([a-z0-9-]+)"', data)[:2] == ["beta", "alpha"]
    ts.buy(con, "c2", "two@example.com", "o-2")
    wait_for(lambda: campaigns(con)["beta"]["counts"].get("sent") == 1, 30, what="beta invites")
    assert campaigns(con)["alpha"]["counts"] == {"sent": 1}
    assert sorted(ts.to(m) for m in smtp.wait_messages(2)) == ["one@example.com",
                                                               "two@example.com"]
    # the list shows the counts and the status
    p = tc.Page(b.get("/campaigns")[2])
    assert "disabled" in p.all_text() and "enabled" in p.all_text()
    # a number works too: alpha priority 1 puts it first again
    page = b.page("/campaigns/alpha")
    st, _, data, _ = b.submit(page, "/campaigns/alpha", {"priority": "1", "do": "save",
                                                             "kind": "post_purchase"})
    assert st == 303, data[:2000]
    data = b.get("/campaigns")[2]
    assert re.findall(r'<tr id="campaign-([a-z0-9-]+)"', data)[:2] == ["alpha", "beta"]


def test_console_campaigns__segment_preview_counts_the_customers_a_run_would_invite(con):
    events = []
    for i in range(7):
        events.append({"type": "customer", "data": {
            "id": "en-%d" % i, "email": "en%d@example.com" % i, "locale": "en",
            "attributes": {"tier": "gold" if i < 3 else "silver"}}})
    for i in range(4):
        events.append({"type": "customer", "data": {
            "id": "pl-%d" % i, "email": "pl%d@example.com" % i, "locale": "pl"}})
    st, body = con.post_events(events)
    assert st == 202, body
    wait_for(lambda: (con.service("survey") or {}).get("cursor", 0) >= body["offsets"][-1],
             what="the customers in hark-survey")
    b, csrf = signed_in(con, "mia")

    def count(**fields):
        st, _, data, _ = b.request("POST", "/campaigns/new", form(
            csrf, id="quarterly", kind="relationship", start="2030-01-01T09:00:00Z",
            every="3mo", do="preview", **fields))
        assert st == 200, data[:400]
        m = re.search(r'<p id="segment-size"[^>]*>[^<]*<strong>([^<]+)</strong>', data)
        assert m, data
        return m.group(1)

    assert count() == "11"
    assert count(segment_locales="pl") == "4"
    assert count(segment_locales="en, pl", segment_attributes="tier=gold") == "3"
    assert count(segment_within="30d") == "0"  # nobody bought anything
    assert saved(con) == []  # a preview saves nothing
    # saved, the campaign's page says the same of its own segment
    st, _, _, _ = b.request("POST", "/campaigns/new", form(
        csrf, id="quarterly", kind="relationship", start="2030-01-01T09:00:00Z", every="3mo",
        segment_locales="en"))
    assert st == 303
    data = b.get("/campaigns/quarterly")[2]
    assert re.search(r"<strong>7</strong>", data)
    assert re.search(r"2030-01-01 09:00 UTC", b.get("/campaigns")[2])  # its next run


def test_console_campaigns__support_is_refused_and_csrf_holds(refusing):
    con = refusing
    s = tc.Browser(con.console_port)
    assert s.login("sam")[0] == 303
    for path in ("/campaigns", "/campaigns/new", "/campaigns/post-purchase", "/milestones"):
        assert s.get(path)[0] == 403, path
    for path in ("/campaigns/new", "/campaigns/post-purchase", "/milestones/birthday"):
        assert s.request("POST", path, {"do": "save"})[0] == 403, path
    b, csrf = signed_in(con, "mia")
    assert "/campaigns" in b.page("/templates").links
    st, _, _, _ = b.request("POST", "/campaigns/post-purchase", {"csrf": "0" * 64,
                                                                  "do": "disable"})
    assert st == 403
    assert b.get("/campaigns/No_Such")[0] == 404 and b.get("/campaigns/nosuch")[0] == 404
    assert saved(con) == []


def milestone_settings(con):
    cmd, r = con.call(con.endpoint("milestone.ctl"), "MILESTONE_SETTINGS", {})
    assert cmd == "MILESTONE_SETTINGS_OK", r
    return {m["kind"]: m for m in r["milestones"]}


def test_console_milestones__settings_with_errors_beside_fields_then_saved_by_user(con):
    b, csrf = signed_in(con, "mia", lang="ru")
    page = b.page("/milestones")
    assert page.lang == "ru" and "/milestones/birthday" in page.forms
    assert "anniversary_from" in page.forms["/milestones/anniversary"]
    assert "anniversary_from" not in page.forms["/milestones/birthday"]
    st, _, data, _ = b.request("POST", "/milestones/birthday", {
        "csrf": csrf, "do": "save", "enabled": "1", "time": "25:00", "offset": "+45d",
        "template": "nosuch"})
    assert st == 400
    errs = set(re.findall(r'id="birthday-([a-z_]+)-error"', data))
    assert errs == {"time", "offset", "template"}, errs
    p = tc.Page(data)
    assert value_of(p, "/milestones/birthday", "time") == "25:00"
    assert "Неверно" in p.all_text()  # in the reader's language
    assert con.fetch_all(types=["milestone.saved"]) == []
    st, hdr, _, _ = b.request("POST", "/milestones/birthday", {
        "csrf": csrf, "do": "save", "enabled": "1", "time": "10:30", "offset": "-1d"})
    assert (st, hdr["Location"]) == (303, "/milestones?done=saved")
    (ev,) = con.fetch_all(types=["milestone.saved"])
    assert ev["payload"] == {"kind": "birthday", "enabled": True, "time": "10:30",
                             "offset": "-1d", "by": "user:mia"}
    m = milestone_settings(con)["birthday"]
    assert (m["time"], m["offset"], m["by"]) == ("10:30", "-1d", "user:mia")
    page = b.page("/milestones?done=saved")
    assert value_of(page, "/milestones/birthday", "time") == "10:30"


def test_console_milestones__the_next_seven_days_by_zone(con):
    now = datetime.datetime.now(datetime.timezone.utc)
    soon = now + datetime.timedelta(days=3)
    later = now + datetime.timedelta(days=20)
    events = [
        {"type": "customer", "data": {"id": "w1", "email": "w1@example.com", "name": "Wanda",
                                      "timezone": "Europe/Warsaw",
                                      "birthday": soon.strftime("--%m-%d")}},
        {"type": "customer", "data": {"id": "t1", "email": "t1@example.com", "name": "Taro",
                                      "timezone": "Asia/Tokyo", "birthday": soon.strftime("--%m-%d")}},
        {"type": "customer", "data": {"id": "x1", "email": "x1@example.com", "name": "Xavier",
                                      "timezone": "Europe/Warsaw",
                                      "birthday": later.strftime("--%m-%d")}},
    ]
    st, body = con.post_events(events)
    assert st == 202, body
    wait_for(lambda: (con.service("milestone") or {}).get("cursor", 0) >= body["offsets"][-1],
             what="the customers in hark-milestone")
    cmd, r = con.call(con.endpoint("milestone.ctl"), "MILESTONE_SCHEDULE", {})
    assert cmd == "MILESTONE_SCHEDULE_OK", r
    rows = {(s["timezone"], s["kind"]): s for s in r["schedule"]}
    assert set(rows) == {("Europe/Warsaw", "birthday"), ("Asia/Tokyo", "birthday")}
    assert rows[("Europe/Warsaw", "birthday")]["names"] == ["Wanda"]
    assert rows[("Asia/Tokyo", "birthday")]["send_at"] < rows[("Europe/Warsaw", "birthday")]["send_at"]
    b, _ = signed_in(con, "mia")
    text = b.page("/milestones").all_text()
    assert "Europe/Warsaw" in text and "Wanda" in text and "Taro" in text
    assert "Xavier" not in text


# --- Chromium: axe-core and a campaign edited by clicks ----------------------
def test_console_campaigns__chromium_pages_pass_axe_and_a_browser_edit_takes_effect(con, smtp):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from chromium import assert_accessible, chromium, screenshot, set_language

    tc.add_user(con, "ivan", "marketer", locale="ru")
    drv = chromium()
    try:
        def sign_in(name, path):
            drv.delete_all_cookies()
            drv.get(con.console_origin + path)
            drv.find_element(By.ID, "username").send_keys(name)
            drv.find_element(By.ID, "password").send_keys(tc.PASSWORD)
            drv.find_element(By.CSS_SELECTOR, "form.login button").click()
            wait_for(lambda: "/login" not in drv.current_url, 20, what="signed in as " + name)

        for who, lang in (("mia", "en"), ("ivan", "ru")):
            set_language(drv, lang)
            sign_in(who, "/campaigns")
            assert drv.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
            assert_accessible(drv, "/campaigns in " + lang)
            screenshot(drv, "campaigns-" + lang)
            drv.get(con.console_origin + "/campaigns/new")
            drv.find_element(By.ID, "f-id").send_keys("Bad Id")
            drv.find_element(By.ID, "f-delay").send_keys("soon")
            drv.find_element(By.ID, "f-sample_rate").send_keys("7")
            drv.find_element(By.CSS_SELECTOR, "button[value=save]").click()
            wait_for(lambda: drv.find_elements(By.ID, "form-error"), 20, what="the errors")
            assert drv.find_element(By.ID, "f-delay").get_attribute("aria-invalid") == "true"
            assert drv.find_element(By.ID, "f-delay").get_attribute("value") == "soon"
            assert_accessible(drv, "a campaign with errors in " + lang)
            screenshot(drv, "campaign-errors-" + lang)
            drv.get(con.console_origin + "/milestones")
            assert_accessible(drv, "/milestones in " + lang)
            screenshot(drv, "milestones-" + lang)
        set_language(drv, "en")
        # a campaign made and then edited by clicks: journaled by the
        # account, and the next purchase gets the edited campaign's invite
        sign_in("mia", "/campaigns")
        drv.get(con.console_origin + "/campaigns/post-purchase")
        drv.find_element(By.CSS_SELECTOR, "button[value=disable]").click()
        wait_for(lambda: "done=disabled" in drv.current_url, 20, what="disabled")
        drv.get(con.console_origin + "/campaigns/new")
        drv.find_element(By.ID, "f-id").send_keys("teapots")
        Select(drv.find_element(By.ID, "f-kind")).select_by_value("post_purchase")
        drv.find_element(By.ID, "f-delay").send_keys("1h")
        drv.find_element(By.ID, "f-products").send_keys("POT-1")
        drv.find_element(By.CSS_SELECTOR, "button[value=save]").click()
        wait_for(lambda: "/campaigns/teapots?done=saved" in drv.current_url, 20, what="saved")
        delay = drv.find_element(By.ID, "f-delay")
        delay.clear()
        delay.send_keys("1s")
        drv.find_element(By.CSS_SELECTOR, "button[value=save]").click()
        wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, "#history tbody tr")
                 and len(drv.find_elements(By.CSS_SELECTOR, "#history tbody tr")) == 2, 20,
                 what="two versions in the history")
        screenshot(drv, "campaign-history")
        last = saved(con)[-1]
        assert last["id"] == "teapots" and last["delay"] == "1s" and last["by"] == "user:mia"
        st, body = con.post_events([
            {"type": "customer", "data": {"id": "p1", "email": "pot@example.com", "locale": "en"}},
            {"type": "purchase", "data": {"customer_id": "p1", "order_id": "o-pot",
                                          "items": [{"sku": "POT-1", "quantity": 1}]}}])
        assert st == 202, body
        (msg,) = smtp.wait_messages(1, timeout=30)
        assert ts.to(msg) == "pot@example.com"  # within the edited 1s, not the first 1h
        assert campaigns(con)["teapots"]["counts"] == {"sent": 1}
    finally:
        drv.quit()


# --- "Send me a test" ----------------------------------------------------------
def test_console_testsend__campaign_milestone_and_template_reach_the_account_only_and_count_nothing(
        con, smtp):
    b, csrf = signed_in(con, "mia")
    # no address yet: the page says how to add one, and nothing is requested
    st, _, data, _ = b.request("POST", "/campaigns/post-purchase",
                               {"csrf": csrf, "do": "test", "locale": "en"})
    assert st == 200 and "hark user set" in tc.Page(data).all_text()
    assert con.fetch_all(types=["mail.requested"]) == []
    # the address: the shared rule refuses a bad one, on the CLI and on /users
    assert tc.hark_user(con, "set", "mia", "--email", "not-an-address").returncode == 2
    bad = tc.hark_user(con, "add", "tom", "--role", "marketer", "--email", "tom@", "--link")
    assert bad.returncode == 2 and "--email" in bad.stderr
    a, acsrf = signed_in(con, "ada")
    st, _, data, _ = a.request("POST", "/users/mia/change", {
        "csrf": acsrf, "role": "marketer", "locale": "", "email": "mia@@staff"})
    assert st == 400 and "name@example.com" in tc.Page(data).all_text()
    st, _, _, _ = a.request("POST", "/users/mia/change", {
        "csrf": acsrf, "role": "marketer", "locale": "", "email": "mia@staff.example"})
    assert st == 303
    assert "mia@staff.example" in a.page("/users").all_text()  # shown on the account
    ok = tc.hark_user(con, "add", "lea", "--role", "marketer", "--email", "lea@staff.example",
                      "--link")
    assert ok.returncode == 0, ok.stderr
    users = {u["name"]: u for u in json.loads(tc.hark_user(con, "list", "--json").stdout)["users"]}
    assert users["mia"]["email"] == "mia@staff.example"
    assert users["lea"]["email"] == "lea@staff.example" and "email" not in users["sam"]
    before = campaigns(con)["post-purchase"]["counts"], milestone_settings(con)
    # a campaign's invite, in Russian
    st, _, data, _ = b.request("POST", "/campaigns/post-purchase",
                               {"csrf": csrf, "do": "test", "locale": "ru"})
    assert st == 200 and "mia@staff.example" in tc.Page(data).all_text()
    (m1,) = smtp.wait_messages(1)
    assert ts.to(m1) == "mia@staff.example" and m1["Subject"].startswith("[тест] ")
    assert m1["List-Unsubscribe"] is None and m1["X-Hark-Category"] == "test"
    # a birthday mail, in English
    st, _, _, _ = b.request("POST", "/milestones/birthday",
                            {"csrf": csrf, "do": "test", "locale": "en"})
    assert st == 200
    m2 = smtp.wait_messages(2)[1]
    assert ts.to(m2) == "mia@staff.example" and m2["Subject"].startswith("[test] ")
    # the template being edited: its saved version
    new = "---\nsubject: Saved words for {{name}}\n---\nHello.\n"
    st, _, _, _ = b.request("POST", "/templates/en/test", {"csrf": csrf, "do": "save",
                                                           "source": new})
    assert st == 303
    (ev,) = con.fetch_all(types=["template.saved"])
    wait_for(lambda: ((con.service("mailer") or {}).get("cursor") or 0) >= ev["offset"],
             what="hark-mailer to apply template.saved")
    st, _, data, _ = b.request("POST", "/templates/en/test", {
        "csrf": csrf, "do": "test", "source": "---\nsubject: Unsaved\n---\nx\n"})
    assert st == 200 and "test-note" in tc.Page(data).ids
    m3 = smtp.wait_messages(3)[2]
    assert m3["Subject"].startswith("[test] Saved words for"), m3["Subject"]
    # to the account only, and nothing counted as a campaign's or milestone's send
    tests = con.fetch_all(types=["mail.requested"])
    assert len(tests) == 3
    for e in tests:
        p = e["payload"]
        assert p["category"] == "test" and p["address"] == "mia@staff.example"
        assert "customer_id" not in p and e["key"].startswith("console/test/")
    time.sleep(1)
    assert [ts.to(m) for m in smtp.messages()] == ["mia@staff.example"] * 3
    assert campaigns(con)["post-purchase"]["counts"] == before[0]
    after = milestone_settings(con)
    assert [after[k]["counts"] for k in after] == [before[1][k]["counts"] for k in before[1]]
