"""Hark Console's dashboard end to end: a real journal, gateway, hark-survey,
hark-intake, hark-loop and console; answers appended to the journal as the
survey page does, complaints posted to the gateway; the page read over
loopback with html.parser: each chart an SVG with a title and a
description, the same numbers in its table, the filters changing them, each
chart's CSV, who may see it, and a hostile comment kept as text."""
import csv
import io
import time
import urllib.parse
from html.parser import HTMLParser

import pytest

from harness import Hark, free_port, shop_conf, wait_for
from test_console import REASONS, Browser, add_user

SERVICES = ("journal", "gateway", "survey", "intake", "loop", "console")
# (a promoter's comment: a formula alone reads as a complaint of no listed reason)
FORMULA = "=HYPERLINK(\"http://evil.example\",\"click\") lovely tea, thank you so much"
SCRIPT = "<script>alert(1)</script> late delivery, took three weeks"
CHARTS = ("nps", "shares", "campaigns", "locales", "scores", "reasons", "trend", "teams",
          "loops")


class Dash(HTMLParser):
    """The dashboard as read: per section id, its svg's attributes, title and
    desc, its table (header and rows of cell texts) and its links; the
    comments' list items and what is inside a link anywhere."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.sections, self.comments, self.link_text = {}, [], []
        self._sec = self._cell = self._in = None
        self._row, self._li, self._a = None, None, 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and "id" in a:
            self._sec = self.sections.setdefault(a["id"], {"svg": None, "title": "", "desc": "",
                                                           "head": [], "rows": [], "links": []})
        s = self._sec
        if tag == "a":
            self._a += 1
            if s is not None and "href" in a:
                s["links"].append(a["href"])
        if s is None:
            return
        if tag == "svg":
            s["svg"] = a
        elif tag in ("title", "desc") and s["svg"] is not None:
            self._in = tag
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "li":
            self._li = []

    def handle_endtag(self, tag):
        s = self._sec
        if tag == "a":
            self._a -= 1
        if tag == "section":
            self._sec = None
        elif tag in ("title", "desc"):
            self._in = None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and s is not None:
            if s["head"] or not self._row:
                s["rows"].append(self._row)
            else:
                s["head"] = self._row
            self._row = None
        elif tag == "li" and self._li is not None:
            self.comments.append("".join(self._li))
            self._li = None

    def handle_data(self, data):
        if self._in and self._sec is not None:
            self._sec[self._in] += data
        if self._cell is not None:
            self._cell.append(data)
        if self._li is not None:
            self._li.append(data)
        if self._a:
            self.link_text.append(data)

    def table(self, sec):
        """{first cell: {column title: cell}} of a section's table"""
        s = self.sections[sec]
        return {r[0]: dict(zip(s["head"], r)) for r in s["rows"]}


def buy(h, cid, locale):
    st, body = h.post_events([{"type": "customer", "data": {"id": cid, "email": cid + "@example.com",
                                                            "locale": locale}},
                              {"type": "purchase", "data": {"customer_id": cid, "order_id": "o-" + cid}}])
    assert st == 202, body
    return "p%d" % body["offsets"][1]


def append(h, events):
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": events})
    assert cmd == "JOURNAL_APPEND_OK", r


def invite_state(h, invite):
    cmd, body = h.call(h.endpoint("survey.ctl"), "SURVEY_INVITE", {"invite": invite})
    return body if cmd == "SURVEY_INVITE_OK" else None


def dashboard(h, **q):
    cmd, body = h.call(h.endpoint("survey.ctl"), "SURVEY_DASHBOARD", q)
    assert cmd == "SURVEY_DASHBOARD_OK", body
    return body


@pytest.fixture(scope="module")
def dash(tmp_path_factory):
    """four answers (en 9 with a formula-looking comment, en 3 with a
    script, pl 7, ru 10), all four invites delivered, one left open and
    delivered too; three complaints (two late deliveries, one price)"""
    tmp = tmp_path_factory.mktemp("dash")
    reasons = tmp / "reasons.conf"
    reasons.write_text(REASONS)
    port = free_port()
    conf = shop_conf()
    conf["survey"] = {"delay": "1s", "window_hours": "0-24", "window_days": "all"}
    conf["intake"] = {"reasons": str(reasons)}
    conf["console"] = {"listen": "127.0.0.1:%d" % port,
                       "public_url": "http://127.0.0.1:%d" % port, "login_rate": "1000"}
    d = tmp / "h"
    d.mkdir()
    h = Hark(d, SERVICES, conf)
    h.console_port = port
    h.start()
    add_user(h, "ada", "admin")
    add_user(h, "mia", "marketer")
    add_user(h, "sam", "support")
    invites = [buy(h, c, loc) for c, loc in (("d1", "en"), ("d2", "en"), ("d3", "pl"),
                                             ("d4", "ru"), ("d5", "en"))]
    for inv in invites:
        wait_for(lambda: (invite_state(h, inv) or {}).get("status") == "open", 60,
                 what="invite sent")
    events = [{"type": "mail.delivered", "key": "test/delivered/" + inv,
               "payload": {"request_key": "survey/invite/" + inv, "message": i + 1,
                           "template": "nps_invite", "category": "survey", "attempts": 1}}
              for i, inv in enumerate(invites)]
    for inv, score, comment in zip(invites, (9, 3, 7, 10), (FORMULA, SCRIPT, None, "Отлично")):
        p = {"invite": inv, "score": score}
        if comment:
            p["comment"] = comment
        events.append({"type": "survey.answered", "key": "test/answer/" + inv, "payload": p})
    append(h, events)
    for cid, text in (("k1", "the parcel came late, slow delivery"),
                      ("k2", "late delivery again"), ("k3", "too expensive")):
        st, body = h.post_events([{"type": "customer", "data": {"id": cid, "email": cid +
                                                                 "@example.com", "locale": "en"}},
                                  {"type": "complaint", "data": {"customer_id": cid,
                                                                 "text": text}}])
        assert st == 202, body
    wait_for(lambda: dashboard(h)["totals"]["responses"] == 4 and
             dashboard(h)["totals"]["delivered"] == 5, 60, what="answers counted")

    def cases():
        cmd, body = h.call(h.endpoint("intake.ctl"), "INTAKE_REPORT", {})
        return cmd == "INTAKE_REPORT_OK" and body["total"] == 4
    wait_for(cases, 60, what="four cases (the detractor's comment is one)")
    yield h
    h.stop()


def signed_in(h, name):
    b = Browser(h.console_port)
    assert b.login(name)[0] == 303
    return b


def page(b, query=""):
    st, _, data, _ = b.get("/dashboard" + query)
    assert st == 200, (st, data[:500])
    return data, Dash(data)


def test_dashboard__survey_dashboard_sums_aggregates_with_filters(dash):
    d = dashboard(dash, by="day")
    t = d["totals"]
    assert (t["promoters"], t["passives"], t["detractors"], t["responses"]) == (2, 1, 1, 4)
    assert t["nps"] == 25.0 and t["response_rate"] == 80.0
    assert d["scores"] == [0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1]
    assert {x["locale"]: x["nps"] for x in d["locales"]} == {"en": 0.0, "pl": 0.0, "ru": 100.0}
    assert sorted(c["comment"] for c in d["comments"]) == sorted(["Отлично", SCRIPT, FORMULA])
    at = [c["answered_at"] for c in d["comments"]]
    assert at == sorted(at, reverse=True)  # the newest first
    assert [c["score"] for c in dashboard(dash, score=3)["comments"]] == [3]
    assert dashboard(dash, locale="en")["scores"] == [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]
    assert dashboard(dash, campaign="no-such")["totals"]["responses"] == 0
    assert dashboard(dash, to="2020-01-01")["totals"]["responses"] == 0
    cmd, body = dash.call(dash.endpoint("survey.ctl"), "SURVEY_DASHBOARD", {"by": "year"},
                          valid=False)
    assert cmd == "ERROR", body


def test_dashboard__every_chart_is_an_svg_with_title_and_desc_and_its_table(dash):
    b = signed_in(dash, "mia")
    html, p = page(b, "?by=day")
    for cid in CHARTS:
        s = p.sections[cid]
        svg = s["svg"]
        assert svg is not None, cid
        assert svg.get("role") == "img" and svg["aria-labelledby"] == "%s-t %s-d" % (cid, cid)
        assert s["title"].strip() and s["desc"].strip(), cid
        assert s["head"] and s["rows"], cid
        assert any(l.startswith("/dashboard.csv?chart=%s&" % cid) for l in s["links"]), cid
    nps = p.table("nps")
    total = nps["Total"]
    assert (total["NPS"], total["Promoters"], total["Passives"], total["Detractors"],
            total["Delivered"], total["Answered"], total["Response rate %"]) == \
        ("25.0", "2", "1", "1", "5", "4", "80.0")
    scores = p.table("scores")
    assert {k: v["Answers"] for k, v in scores.items()} == {
        "0": "0", "1": "0", "2": "0", "3": "1", "4": "0", "5": "0", "6": "0", "7": "1",
        "8": "0", "9": "1", "10": "1"}
    loc = p.table("locales")
    assert (loc["en"]["NPS"], loc["ru"]["NPS"], loc["pl"]["Answered"]) == ("0.0", "100.0", "1")
    assert p.table("campaigns")["post-purchase"]["Answered"] == "4"
    reasons = p.table("reasons")
    assert (reasons["Late delivery"]["Cases"], reasons["Late delivery"]["Cumulative %"],
            reasons["Price"]["Cases"], reasons["Price"]["Cumulative %"]) == \
        ("3", "75.0", "1", "100.0")
    assert set(p.table("teams")) == {"logistics", "billing"}
    assert "Late delivery" in p.sections["trend"]["head"]
    # the charts carry their values as text, not only as shapes
    assert ">25.0<" in html or "25.0</text>" in html


def test_dashboard__filters_change_the_numbers_and_stay_in_the_links(dash):
    b = signed_in(dash, "ada")
    _, p = page(b, "?locale=en&by=day")
    total = p.table("nps")["Total"]
    assert (total["Answered"], total["NPS"]) == ("2", "0.0")
    assert set(p.table("locales")) == {"en"}
    assert all("locale=en" in l for l in p.sections["scores"]["links"])
    _, p = page(b, "?campaign=no-such")
    assert p.table("nps")["Total"]["Answered"] == "0"
    _, p = page(b, "?from=2020-01-01&to=2020-01-31")
    assert p.table("nps")["Total"]["Answered"] == "0"
    assert p.table("scores")["9"]["Answers"] == "0"
    _, p = page(b, "?score=3")
    assert len(p.comments) == 1 and "took three weeks" in p.comments[0]
    for bad in ("?from=yesterday", "?by=year", "?score=11", "?locale=%3Cx%3E"):
        assert b.get("/dashboard" + bad)[0] == 400, bad


def test_dashboard__csv_parses_with_the_numbers_and_formulas_kept_as_text(dash):
    b = signed_in(dash, "mia")
    st, hdr, data, _ = b.get("/dashboard.csv?chart=scores&by=day")
    assert st == 200 and hdr["Content-Type"].startswith("text/csv")
    assert "attachment" in hdr["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(data)))
    assert rows[0] == ["Score", "Answers", "Group"]
    assert {r[0]: r[1] for r in rows[1:]} == {str(s): str(int(s in (3, 7, 9, 10)))
                                              for s in range(11)}
    rows = list(csv.reader(io.StringIO(b.get("/dashboard.csv?chart=nps&by=day")[2])))
    assert rows[-1][:7] == ["Total", "25.0", "2", "1", "1", "5", "4"]
    rows = list(csv.reader(io.StringIO(b.get("/dashboard.csv?chart=comments")[2])))
    comments = [r[2] for r in rows[1:]]
    assert "'" + FORMULA in comments and SCRIPT in comments and "Отлично" in comments
    rows = list(csv.reader(io.StringIO(b.get("/dashboard.csv?chart=nps&locale=ru")[2])))
    assert rows[-1][:2] == ["Total", "100.0"]
    assert b.get("/dashboard.csv?chart=nosuch")[0] == 404
    assert b.get("/dashboard.csv")[0] == 400


def test_dashboard__the_loop_chart_follows_the_date_range(dash):
    """the complaints came today: the loop chart, its table and its CSV have
    their reasons in the default range and none in January 2020 (hark-loop
    is asked for the page's from and to)"""
    b = signed_in(dash, "mia")
    _, p = page(b)
    assert {"Late delivery", "Price"} <= set(p.table("loops"))
    rows = list(csv.reader(io.StringIO(b.get("/dashboard.csv?chart=loops")[2])))
    assert {"Late delivery", "Price"} <= {r[0] for r in rows[1:]}
    q = "?from=2020-01-01&to=2020-01-31"
    _, p = page(b, q)
    assert p.table("loops") == {}
    st, _, data, _ = b.get("/dashboard.csv" + q + "&chart=loops")
    assert st == 200 and len(list(csv.reader(io.StringIO(data)))) == 1  # its header only
    cmd, body = dash.call(dash.endpoint("loop.ctl"), "LOOP_REPORT",
                          {"from": "2020-01-01", "to": "2020-01-31"})
    assert cmd == "LOOP_REPORT_OK" and body["reasons"] == []


def test_dashboard__support_is_refused_and_nobody_is_sent_to_sign_in(dash):
    b = signed_in(dash, "sam")
    assert b.get("/dashboard")[0] == 403
    assert b.get("/dashboard.csv?chart=nps")[0] == 403
    st, hdr, _, _ = Browser(dash.console_port).get("/dashboard")
    assert st == 303 and hdr["Location"].startswith("/login")
    # and the navigation shows the dashboard only to those who may see it
    assert 'href="/dashboard"' not in b.get("/cases")[2]
    assert 'href="/dashboard"' in signed_in(dash, "mia").get("/cases")[2]


def test_dashboard__a_comment_with_a_script_is_escaped_text_never_a_link(dash):
    b = signed_in(dash, "mia")
    html, p = page(b)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; late delivery, took three weeks" in html
    assert any(SCRIPT in c for c in p.comments)
    assert not any("evil.example" in t or "took three weeks" in t for t in p.link_text)
    assert 'href="http://evil.example' not in html


def test_dashboard__speaks_the_readers_language(dash):
    b = Browser(dash.console_port, lang="ru")
    assert b.login("mia")[0] == 303
    html, p = page(b)
    assert 'lang="ru"' in html and "Распределение оценок" in p.sections["scores"]["title"]
    assert "Ответы" in p.sections["scores"]["head"]


@pytest.fixture(scope="module")
def drv():
    from chromium import chromium
    d = chromium()
    yield d
    d.quit()


@pytest.mark.parametrize("locale,scheme", (("en", "light"), ("ru", "dark")))
def test_dashboard__chromium_shows_the_charts_and_tables_and_axe_finds_nothing(
        dash, drv, locale, scheme):
    from selenium.webdriver.common.by import By

    from chromium import assert_accessible, screenshot
    from test_console_browser import look, sign_in
    look(drv, locale, scheme)
    sign_in(drv, "http://127.0.0.1:%d" % dash.console_port, "mia", "/dashboard?by=day")
    assert "/dashboard" in drv.current_url
    assert drv.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale
    svg = drv.find_element(By.CSS_SELECTOR, "#nps svg.chart")
    assert svg.is_displayed() and svg.size["width"] > 300 and svg.size["height"] > 100
    assert drv.find_element(By.CSS_SELECTOR, "#scores table").is_displayed()
    assert [c.text for c in drv.find_elements(By.CSS_SELECTOR, "#scores tbody th")] == \
        [str(s) for s in range(11)]
    dark = drv.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert (dark == "rgb(17, 17, 17)") == (scheme == "dark"), dark
    assert_accessible(drv, "dashboard in %s (%s)" % (locale, scheme))
    if locale == "en":
        screenshot(drv, "dashboard")
    look(drv, "en", "light")
