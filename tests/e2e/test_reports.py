"""GET /v1/reports/nps (JSON and CSV) and the survey page asking hark-survey
for the invite's state, over real HTTP against a real journal, gateway and
hark-survey.  Answers are appended to the journal as the survey page does,
or posted through the page itself."""
import csv
import datetime
import html
import io
import json
import os
import re
import subprocess
import time
import urllib.parse

import pytest

from harness import BIN, Hark, wait_for
from test_survey_pages import checked, csrf_of, link_token, sign

SERVICES = ("journal", "gateway", "survey")
HOSTILE = "=cmd|' /C calc'!A0 \"quoted\", then\r\na new line: Всё плохо <b>&amp;</b>"


@pytest.fixture(scope="module")
def h(tmp_path_factory):
    """journal + gateway + survey; invites go out a second after a purchase
    (no mailer: an invite is open once its mail.requested is journaled)"""
    inst = Hark(tmp_path_factory.mktemp("reports"), services=SERVICES,
                conf={"survey": {"delay": "1s", "window_hours": "0-24", "window_days": "all"}})
    inst.start()
    with open(os.path.join(inst.state, "keys", "token.key")) as f:
        inst.token_key = f.read().strip()
    inst.invites = setup_answers(inst)
    yield inst
    inst.stop()


def invite_state(h, invite):
    cmd, body = h.call(h.endpoint("survey.ctl"), "SURVEY_INVITE", {"invite": invite})
    return body if cmd == "SURVEY_INVITE_OK" else None


def buy(h, cid, locale):
    st, body = h.post_events([{"type": "customer", "data": {"id": cid, "email": cid + "@example.com",
                                                            "locale": locale}},
                              {"type": "purchase", "data": {"customer_id": cid, "order_id": "o-" + cid}}])
    assert st == 202, body
    return "p%d" % body["offsets"][1]


def append(h, type_, payload):
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND",
                    {"events": [{"type": type_, "key": "test/%s/%f" % (type_, time.time()),
                                 "payload": payload}]})
    assert cmd == "JOURNAL_APPEND_OK", r


def cli_report(h, *args):
    return json.loads(h.hark("report", "nps", "--json", *args).stdout)


def setup_answers(h):
    """four invites: three answered (en 9 with the hostile comment, pl 3, ru
    10), one (en) left open"""
    invites = [buy(h, c, loc) for c, loc in (("r1", "en"), ("r2", "pl"), ("r3", "ru"), ("r4", "en"))]
    for inv in invites:
        wait_for(lambda: (invite_state(h, inv) or {}).get("status") == "open", what="invite sent")
    for inv, score, comment in zip(invites, (9, 3, 10), (HOSTILE, None, "Отлично")):
        p = {"invite": inv, "score": score}
        if comment:
            p["comment"] = comment
        append(h, "survey.answered", p)
    wait_for(lambda: cli_report(h)["totals"]["responses"] == 3, what="three responses")
    return invites


def api(h, path, key="admin"):
    hdrs = {}
    if key:
        hdrs["Authorization"] = "Bearer " + {"admin": h.admin_key, "ingest": h.ingest_key}.get(key, key)
    return h.request("GET", path, headers=hdrs)


def api_json(h, path, key="admin"):
    st, hdrs, data = api(h, path, key)
    return st, hdrs, json.loads(data)


def test_reports__json_equals_hark_report_nps_json_with_each_filter(h):
    st, hdrs, body = api_json(h, "/v1/reports/nps")
    assert st == 200 and hdrs["Content-Type"] == "application/json"
    assert body == cli_report(h)
    t = body["totals"]
    assert (t["sent"], t["responses"], t["promoters"], t["detractors"], t["nps"]) == (4, 3, 2, 1, 33.3)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    for query, args in ((("by", "locale"),), ("--by", "locale")), \
                       ((("by", "week"), ("from", today.isoformat())), ("--by", "week", "--from", today.isoformat())), \
                       ((("from", tomorrow),), ("--from", tomorrow)), \
                       ((("to", today.isoformat()), ("by", "month")), ("--to", today.isoformat(), "--by", "month")), \
                       ((("campaign", "post-purchase"), ("by", "campaign")), ("--campaign", "post-purchase", "--by", "campaign")), \
                       ((("campaign", "nope"),), ("--campaign", "nope")), \
                       ((("format", "json"),), ()):
        st, _, body = api_json(h, "/v1/reports/nps?" + urllib.parse.urlencode(query))
        assert st == 200, (query, body)
        assert body == cli_report(h, *args), query
    _, _, body = api_json(h, "/v1/reports/nps?by=locale")
    assert {s["period"]: s["responses"] for s in body["series"]} == {"en": 1, "pl": 1, "ru": 1}
    _, _, body = api_json(h, "/v1/reports/nps?from=" + tomorrow)
    assert body["totals"]["responses"] == 0
    _, _, body = api_json(h, "/v1/reports/nps?campaign=nope")
    assert body["totals"]["sent"] == 0


def test_reports__401_without_the_admin_key_and_the_ingest_key_does_not_do(h):
    for key in (None, "ingest", "wrong-key", h.admin_key + "x", h.admin_key[:-1]):
        for path in ("/v1/reports/nps", "/v1/reports/nps.csv"):
            st, hdrs, body = api_json(h, path, key)
            assert st == 401, (key, path)
            assert body["error"]["code"] == "unauthorized" and "WWW-Authenticate" in hdrs
    st, _, body = h.request("GET", "/v1/reports/nps", headers={"Authorization": h.admin_key})
    assert st == 401                                     # no "Bearer "
    st, _, _ = h.request("POST", "/v1/reports/nps",
                         headers={"Authorization": "Bearer " + h.admin_key})
    assert st == 405


@pytest.mark.parametrize("query,field", [
    ("from=2026-13-01", "from"), ("from=2026-02-30", "from"), ("from=yesterday", "from"),
    ("to=2026-1-01", "to"), ("from=2026-11-02&to=2026-11-01", "to"), ("by=year", "by"),
    ("by=", "by"), ("campaign=", "campaign"), ("campaign=" + "x" * 65, "campaign"),
    ("format=xml", "format"), ("bogus=1", "bogus"), ("from=2026-11-01&from=2026-11-02", "from"),
    ("limit=5", "limit"),
])
def test_reports__400_names_the_bad_parameter(h, query, field):
    st, _, body = api_json(h, "/v1/reports/nps?" + query)
    assert st == 400, body
    assert body["error"]["field"] == field and body["error"]["code"] in ("invalid_parameter", "unknown_parameter")
    assert body["error"]["message"]


def test_reports__csv_equals_hark_report_nps_csv_and_keeps_hostile_cells_as_text(h):
    st, hdrs, data = api(h, "/v1/reports/nps.csv")
    assert st == 200, data
    assert hdrs["Content-Type"].startswith("text/csv")
    assert "attachment" in hdrs["Content-Disposition"]
    cli = subprocess.run([os.path.join(BIN, "hark"), "-c", h.config, "report", "nps", "--csv"],
                         capture_output=True, check=True, timeout=30).stdout
    assert data == cli                                   # one CSV writer, the same bytes
    rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    assert [r["invite"] for r in rows] == h.invites[:3]
    assert [r["score"] for r in rows] == ["9", "3", "10"]
    assert rows[0]["comment"] == "'" + HOSTILE              # never a formula, bytes kept
    assert rows[1]["comment"] == "" and rows[2]["comment"] == "Отлично"
    assert rows[1]["locale"] == "pl" and rows[0]["email"] == "r1@example.com"
    st, _, data2 = api(h, "/v1/reports/nps?format=csv")
    assert st == 200 and data2 == data
    tomorrow = (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)).isoformat()
    st, _, data3 = api(h, "/v1/reports/nps.csv?from=" + tomorrow)
    assert st == 200
    assert data3.decode().splitlines() == ["invite,campaign,customer_id,email,locale,order_id,score,comment,answered_at"]
    st, _, body = api_json(h, "/v1/reports/nps.csv?by=week")
    assert st == 400 and body["error"]["field"] == "by"
    st, _, body = api_json(h, "/v1/reports/nps.csv?format=json")
    assert st == 400 and body["error"]["field"] == "format"


def test_reports__page_shows_the_last_answer_escaped_and_the_links_score_wins(h):
    inv = h.invites[0]
    tok = link_token(h.token_key, inv, locale="en")
    st, _, page = h.request("GET", "/s/" + tok)
    assert st == 200 and checked(page) == [b"9"]
    text = page.decode()
    # the comment back in the box, escaped: the <b> is text, not markup
    (box,) = re.findall(r"<textarea[^>]*>(.*?)</textarea>", text, re.S)
    assert html.unescape(box) == HOSTILE and "<" not in box and '"' not in box
    assert "<b>&amp;</b>" not in text
    st, _, page = h.request("GET", "/s/" + tok + "?score=4")
    assert st == 200 and checked(page) == [b"4"]
    # an open invite: nothing chosen, an empty box
    tok4 = link_token(h.token_key, h.invites[3], locale="en")
    st, _, page = h.request("GET", "/s/" + tok4)
    assert st == 200 and checked(page) == [] and re.search(rb"<textarea[^>]*></textarea>", page)
    # answered through the page: the next GET shows it
    st, _, page = h.request("POST", "/s/" + tok4,
                            urllib.parse.urlencode({"score": "6", "comment": "Tea <i>cold</i>",
                                                    "csrf": csrf_of(page)}).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 200
    wait_for(lambda: (invite_state(h, h.invites[3]) or {}).get("status") == "answered", what="answered")
    st, _, page = h.request("GET", "/s/" + tok4)
    assert st == 200 and checked(page) == [b"6"]
    assert b"Tea &lt;i&gt;cold&lt;/i&gt;" in page and b"<i>cold" not in page


def test_reports__unknown_invite_with_a_genuine_token_is_404_and_writes_nothing(h):
    before = len(h.fetch_all())
    tok = link_token(h.token_key, "p999999", locale="pl")
    for method in ("GET", "HEAD"):
        st, _, _ = h.request(method, "/s/" + tok + "?score=10")
        assert st == 404
    st, _, page = h.request("POST", "/s/" + tok,
                            urllib.parse.urlencode({"score": "10", "csrf": sign(h.token_key, "survey-form", b"p999999")}).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 404 and b"<form" not in page
    assert len(h.fetch_all()) == before


def test_reports__survey_down_is_503_and_the_page_still_shows_the_form(tmp_path):
    """No hark-survey: nobody listens on [survey] control"""
    h = Hark(tmp_path, services=("journal", "gateway"),
             conf={"gateway": {"survey_timeout": "300ms"}}).start()
    try:
        with open(os.path.join(h.state, "keys", "token.key")) as f:
            key = f.read().strip()
        for path in ("/v1/reports/nps", "/v1/reports/nps.csv", "/v1/reports/nps?campaign=x&format=csv"):
            t0 = time.monotonic()
            st, hdrs, body = api_json(h, path)
            assert st == 503, (path, body)
            assert body["error"]["code"] == "survey_unavailable" and hdrs.get("Retry-After")
            assert time.monotonic() - t0 < 3
        # still checked before anyone is asked
        st, _, body = api_json(h, "/v1/reports/nps?by=year")
        assert st == 400 and body["error"]["field"] == "by"
        st, _, _ = api_json(h, "/v1/reports/nps", "ingest")
        assert st == 401
        tok = link_token(key, "p42", locale="ru")
        t0 = time.monotonic()
        st, _, page = h.request("GET", "/s/" + tok + "?score=8")
        assert st == 200 and checked(page) == [b"8"] and b"<form" in page
        assert time.monotonic() - t0 < 2
        # and an answer still goes to the journal
        st, _, page = h.request("POST", "/s/" + tok,
                                urllib.parse.urlencode({"score": "8", "csrf": csrf_of(page)}).encode(),
                                {"Content-Type": "application/x-www-form-urlencoded"})
        assert st == 200
        assert [e["payload"]["invite"] for e in h.fetch_all(types=["survey.answered"])] == ["p42"]
    finally:
        h.stop()


def test_reports__page_is_410_when_hark_survey_says_expired(tmp_path):
    """The token may promise longer than hark-survey keeps the invite open
    (it signed it; the expiry is its word): the page goes by hark-survey."""
    h = Hark(tmp_path, services=SERVICES,
             conf={"survey": {"delay": "1s", "window_hours": "0-24", "window_days": "all",
                              "expiry": "2s"}})
    h.start()
    try:
        with open(os.path.join(h.state, "keys", "token.key")) as f:
            key = f.read().strip()
        inv = buy(h, "x1", "ru")
        tok = link_token(key, inv, locale="ru")         # 30 days, longer than the invite
        wait_for(lambda: (invite_state(h, inv) or {}).get("status") == "expired", what="expired")
        for method in ("GET", "HEAD"):
            st, _, page = h.request(method, "/s/" + tok + "?score=9")
            assert st == 410
        st, _, page = h.request("GET", "/s/" + tok)
        assert "опрос уже закрыт" in page.decode()
    finally:
        h.stop()
