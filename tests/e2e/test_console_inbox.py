"""The inbox end to end: hark-intake's INTAKE_CASES in the inbox's order
(filters, text search, offset, total, counts per facet) and Hark Console's
/cases over it (a filter form whose options carry their counts, "Showing
3-4 of 4", previous/next links that keep the filters, the empty state, the
search box echoed escaped) and the saved filters (POST with CSRF, per
account).  Real journal, gateway, intake and console; pages read with
html.parser, replies checked against proto/commands.json by the harness."""
import re
import time
import urllib.parse

import pytest

from harness import wait_for
from test_console import Browser, Page, add_user, start_console

# who, what they said, their language; reasons.conf of test_console: "late"
# and "delivery" are logistics, "expensive" billing, the rest other (billing)
LATER = [("log-en", "my parcel is late", "en"),
         ("bill-ru", "Посылка пришла мятой, упаковка порвана", "ru"),
         ("bill-zh", "我的包裹迟到了三天", "zh"),
         ("log-pl", "late delivery again", "pl"),
         ("bill-be", "too expensive for me", "be")] + \
    [("bill-pl%d" % i, "expensive, number %d" % i, "pl") for i in range(5)]


def _customer(h, cid, locale, name="Ola", email=None):
    st, body = h.post_events({"type": "customer", "data": {
        "id": cid, "email": email or cid + "@example.com", "name": name, "locale": locale}})
    assert st == 202, body


def _complain(h, cid, text):
    st, body = h.post_events({"type": "complaint", "data": {"customer_id": cid, "text": text}})
    assert st == 202, body
    return "C%d" % body["offsets"][0]


def _cases(h, **req):
    cmd, r = h.call(h.endpoint("intake.ctl"), "INTAKE_CASES", req)
    assert cmd == "INTAKE_CASES_OK", r
    return r


def _ids(r):
    return [c["id"] for c in r["cases"]]


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    """Eleven open cases: one (billing, en) breached two hours ago, then
    five in five languages and five more in Polish about prices; page_size
    5 (the least), so the inbox pages."""
    tmp = tmp_path_factory.mktemp("inbox")
    clock = tmp / "clock"
    clock.write_text("0")
    # the keywords alone tag here (no examples): the counts below follow
    # this file's small taxonomy, not the tagger's judgement
    h = start_console(tmp, clock=clock, page_size="5", session_idle="3h", session_max="4h",
                      intake={"examples": ""})
    h.clock = clock
    try:
        add_user(h, "ada", "admin")
        add_user(h, "sam", "support")
        _customer(h, "old-c", "en", name="Ola Kowalska", email="ola.kowalska@example.pl")
        h.old = _complain(h, "old-c", "too expensive, and nobody answers")
        wait_for(lambda: _cases(h).get("cases"), 30, what="the first case")
        clock.write_text("7200")  # two hours on: the first is past its 1 h target
        time.sleep(0.3)  # each thread keeps the clock file's value for 100 ms
        h.later = {}
        for cid, text, lang in LATER:
            _customer(h, cid, lang)
            h.later[cid] = _complain(h, cid, text)
        wait_for(lambda: len(_cases(h)["cases"]) == 11, 30, what="eleven cases in intake")
        yield h
    finally:
        h.stop()


def test_inbox__intake_orders_breached_first_and_pages_by_offset_with_a_total(inbox):
    whole = _cases(inbox, order="due", status="open", limit=20)
    assert whole["total"] == 11 and len(whole["cases"]) == 11
    assert whole["cases"][0]["id"] == inbox.old and whole["cases"][0]["breached"] is True
    assert not any(c["breached"] for c in whole["cases"][1:])
    dues = [c["due_at"] for c in whole["cases"][1:]]
    assert dues == sorted(dues)  # then the soonest due
    pages = [_cases(inbox, order="due", status="open", limit=4, offset=o) for o in (0, 4, 8, 12)]
    assert [p["total"] for p in pages] == [11, 11, 11, 11]
    assert sum((_ids(p) for p in pages), []) == _ids(whole) and pages[3]["cases"] == []
    # the default order is unchanged: newest first, no total
    newest = _cases(inbox, limit=20)
    assert _ids(newest)[-1] == inbox.old and "total" not in newest


def test_inbox__intake_counts_each_facet_under_the_other_filters(inbox):
    r = _cases(inbox, order="due", status="open", team="billing", lang="ru")
    assert _ids(r) == [inbox.later["bill-ru"]] and r["total"] == 1
    c = r["counts"]
    # team under status=open, lang=ru; lang under status=open, team=billing
    assert c["team"] == {"billing": 1}
    assert c["lang"] == {"en": 1, "ru": 1, "zh": 1, "be": 1, "pl": 5}
    assert c["status"] == {"open": 1} and c["assignee"] == {"": 1}
    assert c["reason"] == {"other": 1}
    everything = _cases(inbox, order="due")["counts"]
    assert everything["team"] == {"billing": 9, "logistics": 2}
    assert everything["reason"] == {"price": 7, "shipping_delay": 2, "other": 2}
    assert sum(everything["lang"].values()) == 11 and everything["lang"]["pl"] == 6
    assert _cases(inbox, order="due", lang="pl", reason="shipping_delay")["total"] == 1
    assert _cases(inbox, order="due", status="resolved")["total"] == 0


def test_inbox__intake_text_search_folds_case_in_any_script_and_finds_ids_and_contacts(inbox):
    def found(q):
        return set(_ids(_cases(inbox, order="due", q=q)))
    assert found("ПОСЫЛКА пришла") == {inbox.later["bill-ru"]}  # Cyrillic, other case
    assert found("包裹") == {inbox.later["bill-zh"]}  # two characters: a scan
    assert found("迟到了三") == {inbox.later["bill-zh"]}
    assert found("Kowalska") == {inbox.old}  # the customer's name
    assert found("ola.kowalska@example") == {inbox.old}  # and address
    assert found("log-pl") == {inbox.later["log-pl"]}  # the customer id
    assert inbox.later["log-en"] in found(inbox.later["log-en"])  # the case id
    assert found("LATE") == {inbox.later["log-en"], inbox.later["log-pl"]}
    assert found('no "such" text') == set()
    r = _cases(inbox, order="due", q="late", team="billing")
    assert r["total"] == 0 and r["counts"]["team"] == {"logistics": 2}


def _option_counts(raw, select):
    """{value: (label, count)} of one <select> of the page"""
    m = re.search(r'<select id="%s" name="%s">(.*?)</select>' % (select, select), raw, re.S)
    assert m, select
    return {v: (label, int(n)) for v, label, n in
            re.findall(r'<option value="([^"]*)"[^>]*>([^<]*) \((\d+)\)</option>', m.group(1))}


def _case_links(p):
    return [l for l in p.links if re.match(r"^/cases/C\d+$", l)]


def test_inbox__each_filter_narrows_the_page_and_every_option_says_its_count(inbox):
    b = Browser(inbox.console_port)
    assert b.login("ada")[0] == 303
    st, _, raw, _ = b.get("/cases?team=billing&lang=ru")
    assert st == 200
    p = Page(raw)
    assert _case_links(p) == ["/cases/" + inbox.later["bill-ru"]]
    assert {"q", "status", "team", "reason", "assignee", "lang"} <= p.labels
    assert _option_counts(raw, "team") == {"logistics": ("logistics", 0),
                                           "billing": ("billing", 1)}
    langs = _option_counts(raw, "lang")
    assert langs["ru"][1] == 1 and langs["zh"][1] == 1 and langs["en"][1] == 1
    assert re.search(r'<option value="ru" selected>', raw)
    assert "Showing 1–1 of 1" in p.all_text()
    expect = {"status=resolved": [], "reason=shipping_delay&lang=pl": [inbox.later["log-pl"]],
              "assignee=~&team=logistics": [inbox.later["log-en"], inbox.later["log-pl"]],
              "assignee=sam": [], "q=%E5%8C%85%E8%A3%B9": [inbox.later["bill-zh"]],
              "q=%D0%BF%D0%BE%D1%81%D1%8B%D0%BB%D0%BA%D0%B0": [inbox.later["bill-ru"]]}
    for query, ids in expect.items():
        p = b.page("/cases?" + query)
        assert _case_links(p) == ["/cases/" + i for i in ids], query
    st, _, raw, _ = b.get("/cases?status=all")
    assert _option_counts(raw, "status")["all"][1] == 11
    assert _option_counts(raw, "assignee")["~"] == ("unassigned", 11)
    for bad in ("lang=%3Cx%3E", "team=nobody", "status=lost", "page=0", "q=" + "x" * 201):
        assert b.get("/cases?" + bad)[0] == 400, bad


def test_inbox__pages_say_what_they_show_and_keep_the_filters(inbox):
    b = Browser(inbox.console_port)
    assert b.login("ada")[0] == 303
    p = b.page("/cases?team=billing")
    text = p.all_text()
    assert "Showing 1–5 of 9" in text and "Page 1 / 2" in text
    assert _case_links(p)[0] == "/cases/" + inbox.old  # breached first
    nxt = [l for l in p.links if "page=2" in l]
    assert nxt == ["/cases?status=open&team=billing&page=2"]
    p2 = b.page(nxt[0])
    assert "Showing 6–9 of 9" in p2.all_text() and len(_case_links(p2)) == 4
    assert not set(_case_links(p2)) & set(_case_links(p))
    assert "/cases?status=open&team=billing&page=1" in p2.links
    # past the end: the last page, not an empty one
    assert _case_links(b.page("/cases?team=billing&page=9")) == _case_links(p2)
    # a reader of Russian gets the line in Russian, with a space between thousands
    r = Browser(inbox.console_port, lang="ru")
    assert r.login("sam")[0] == 303
    assert "Показаны 1–5 из 9" in r.page("/cases?team=billing").all_text()


def test_inbox__search_text_is_echoed_escaped_and_the_empty_state_says_what_to_do(inbox):
    b = Browser(inbox.console_port)
    assert b.login("ada")[0] == 303
    q = '<script>alert(1)</script>" onfocus="x'
    st, _, raw, _ = b.get("/cases?q=" + urllib.parse.quote(q))
    assert st == 200
    assert "<script>alert" not in raw and 'onfocus="x' not in raw
    p = Page(raw)
    assert p.forms["/cases"]["q"] == [q]  # what was typed, as text
    assert _case_links(p) == []
    text = p.all_text()
    assert "No cases match." in text and "Try fewer filters" in text
    assert "/cases?status=all" in p.links and "/cases" in p.links


def test_inbox__a_saved_filter_is_a_link_for_its_account_only_and_can_be_deleted(inbox):
    b = Browser(inbox.console_port)
    assert b.login("ada")[0] == 303
    p = b.page("/cases?team=billing&lang=ru")
    assert p.forms["/filters"]["team"] == ["billing"] and p.forms["/filters"]["lang"] == ["ru"]
    st, hdr, _, _ = b.submit(p, "/filters", {"name": "Русские <b>счета</b>"})
    assert st == 303 and hdr["Location"] == "/cases?status=open&team=billing&lang=ru"
    st, _, raw, _ = b.get("/cases")
    assert "<b>счета" not in raw and "Русские &lt;b&gt;счета&lt;/b&gt;" in raw
    p = Page(raw)
    assert "/cases?status=open&team=billing&lang=ru" in p.links
    assert _case_links(b.page("/cases?status=open&team=billing&lang=ru")) == \
        ["/cases/" + inbox.later["bill-ru"]]
    # without the CSRF token nothing is saved
    st, _, _, _ = b.submit(p, "/filters", {"name": "forged"}, drop=("csrf",))
    assert st == 403 and "forged" not in b.get("/cases")[2]
    # another account does not see it
    s = Browser(inbox.console_port)
    assert s.login("sam")[0] == 303
    assert "/cases?status=open&team=billing&lang=ru" not in s.page("/cases").links
    # a bad filter is refused, not stored
    st, _, _, _ = b.submit(p, "/filters", {"name": "bad", "team": "nobody"})
    assert st == 400
    # delete
    st, hdr, _, _ = b.submit(p, "/filters/delete")
    assert st == 303
    p = b.page("/cases")
    assert "/cases?status=open&team=billing&lang=ru" not in p.links
    assert "/filters/delete" not in p.forms


def test_inbox__hark_cases_list_takes_lang_and_search(inbox):
    import json
    r = inbox.hark("cases", "list", "--lang", "ru", "--search", "ПОСЫЛКА", "--json")
    assert [c["id"] for c in json.loads(r.stdout)["cases"]] == [inbox.later["bill-ru"]]
    r = inbox.hark("cases", "list", "--search", "包裹")
    assert inbox.later["bill-zh"] in r.stdout and "1 case\n" in r.stdout
    assert inbox.hark("cases", "list", "--lang", "pl", "--json").stdout.count('"id"') == 6


def test_inbox__intake_counts_again_when_a_case_comes_or_a_deadline_passes(inbox):
    # (last in this file: it adds a case.) hark-intake keeps the counts of
    # recent asks while nothing changed: a new case must show at once
    before = _cases(inbox, order="due", status="open", team="logistics")
    assert before == _cases(inbox, order="due", status="open", team="logistics")
    _customer(inbox, "late-2", "pl")
    case = _complain(inbox, "late-2", "late again")
    wait_for(lambda: _cases(inbox, order="due", status="open", team="logistics")["total"] ==
             before["total"] + 1, 30, what="the new case counted")
    after = _cases(inbox, order="due", status="open", team="logistics")
    assert after["counts"]["lang"]["pl"] == before["counts"]["lang"]["pl"] + 1
    assert case in _ids(after)
    # three hours on, the logistics cases' 1 h deadlines have passed: breached
    # now, although intake.db has not changed (the breach timer may not have run)
    assert not any(c["breached"] for c in after["cases"])
    inbox.clock.write_text(str(7200 + 3 * 3600))
    time.sleep(0.3)  # each thread keeps the clock file's value for 100 ms
    now = _cases(inbox, order="due", status="open", team="logistics")
    assert now["total"] == after["total"] and len(now["cases"]) == after["total"]
    assert all(c["breached"] for c in now["cases"])
    late = _cases(inbox, order="due", status="open", team="logistics", breached=True)
    assert late["total"] == after["total"]
