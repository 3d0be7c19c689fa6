"""The NPS survey pages (GET/HEAD/POST /s/TOKEN) over real HTTP against a
real journal and gateway.  Tokens are made here exactly as token.c and
survey_link.c make them, under the key the gateway generated."""
import base64
import hashlib
import hmac
import html
import json
import os
import re
import threading
import time
import urllib.parse

import jsonschema
import pytest

from harness import ROOT, Hark, wait_for

SHOP = "Чайная <Лавка> & Co"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(key, purpose, payload):
    mac = hmac.new(key.encode(), purpose.encode() + b"\0" + payload, hashlib.sha256).digest()[:16]
    return b64(payload) + "." + b64(mac)


def link_token(key, invite, expires=None, locale=""):
    if expires is None:
        expires = int(time.time()) + 30 * 86400
    return sign(key, "survey", ("%s\n%d\n%s" % (invite, expires, locale)).encode())


def flip(s, i):
    return s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]


@pytest.fixture(scope="module")
def h(tmp_path_factory):
    """One journal + gateway for the module; each test uses its own invites
    and compares the journal before and after."""
    inst = Hark(tmp_path_factory.mktemp("survey"), conf={"mailer": {"shop_name": SHOP}})
    inst.start()
    with open(os.path.join(inst.state, "keys", "token.key")) as f:
        inst.token_key = f.read().strip()
    yield inst
    inst.stop()


with open(os.path.join(ROOT, "proto", "events", "survey.answered.json")) as _f:
    ANSWERED = json.load(_f)


def answers(h):
    """survey.answered events, as `hark tail` prints them; each checked
    against the contract"""
    out = h.hark("tail", "--from", "0", "--type", "survey.answered").stdout
    evs = [json.loads(line) for line in out.splitlines()]
    for e in evs:
        jsonschema.validate(e["payload"], ANSWERED)
    return evs


def get(h, tok, query="", method="GET"):
    return h.request(method, "/s/" + tok + query)


def post(h, tok, fields=None, raw=None, origin=None):
    hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
    if origin:
        hdrs["Origin"] = origin
    body = raw if raw is not None else urllib.parse.urlencode(fields or {}).encode()
    return h.request("POST", "/s/" + tok, body, hdrs)


def csrf_of(page):
    m = re.search(rb'name="csrf" value="([^"]+)"', page)
    assert m, page
    return m.group(1).decode()


def checked(page):
    return re.findall(rb'value="(\d+)"[^>]*\bchecked', page)


def test_get_shows_the_form_with_the_score_chosen_and_records_nothing(h):
    before = len(h.fetch_all())
    tok = link_token(h.token_key, "inv-get-1", locale="ru")
    st, hdrs, page = get(h, tok, "?score=7")
    assert st == 200
    assert hdrs["Content-Type"].startswith("text/html")
    assert hdrs["Cache-Control"] == "no-store"
    assert hdrs["Referrer-Policy"] in ("no-referrer", "same-origin")
    assert "default-src 'none'" in hdrs["Content-Security-Policy"]
    assert "form-action 'self'" in hdrs["Content-Security-Policy"]
    assert hdrs["X-Content-Type-Options"] == "nosniff"
    text = page.decode()
    assert '<html lang="ru">' in text
    assert "Насколько вероятно, что вы порекомендуете" in text and "Отправить" in text
    assert html.escape(SHOP, quote=True) in text and SHOP not in text  # the shop name, escaped
    assert len(re.findall(r'type="radio" name="score" value="(\d+)"', text)) == 11
    assert checked(page) == [b"7"]
    assert re.search(r'<textarea[^>]*name="comment"[^>]*maxlength="4000"', text)
    assert csrf_of(page) == sign(h.token_key, "survey-form", b"inv-get-1")
    form = re.search(r'<form method="post" action="([^"]*)"', text).group(1)
    assert urllib.parse.urljoin("/s/" + tok, html.unescape(form)) == "/s/" + tok
    # one script, the one-click post, allowed by its hash and nothing else
    assert len(re.findall(r"<script>", text)) == 1 and "<script src" not in text
    assert "'unsafe-inline'" not in hdrs["Content-Security-Policy"].split("script-src")[1]
    # the language falls back to English; no or a bad score selects nothing
    for q in ("", "?score=", "?score=11", "?score=x", "?score=-1", "?score=07x", "?score=09"):
        st, _, page = get(h, link_token(h.token_key, "inv-get-2", locale="xx-YY"), q)
        assert st == 200 and checked(page) == [], q
        assert b"How likely are you to recommend" in page and b'<html lang="en">' in page
    for locale, words in (("pl-PL", "Jak bardzo prawdopodobne"), ("zh", "推荐"),
                          ("be", "Наколькі верагодна")):
        st, _, page = get(h, link_token(h.token_key, "inv-get-3", locale=locale), "?score=10")
        assert st == 200 and words in page.decode() and checked(page) == [b"10"], locale
    assert len(h.fetch_all()) == before
    assert answers(h) == [] or all(not a["payload"]["invite"].startswith("inv-get") for a in answers(h))


def test_scanner_opening_all_eleven_links_records_nothing(h):
    before = len(h.fetch_all())
    tok = link_token(h.token_key, "inv-scan", locale="pl")
    results = []

    def hit(method, n):
        results.append(get(h, tok, "?score=%d" % n, method)[0])
    threads = [threading.Thread(target=hit, args=(m, n)) for n in range(11) for m in ("GET", "HEAD")]
    # all 22 at once, as a scanner does; how fast they finish is the benchmarks'
    # business, not this test's (no timing is asserted)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 22
    st, hdrs, body = get(h, tok, "?score=3", "HEAD")
    assert st == 200 and body == b"" and hdrs["Content-Type"].startswith("text/html")
    st, hdrs, _ = h.request("PUT", "/s/" + tok, b"score=3")
    assert st == 405 and hdrs["Allow"] == "GET, HEAD, POST"
    time.sleep(0.3)
    assert len(h.fetch_all()) == before
    assert not [a for a in answers(h) if a["payload"]["invite"] == "inv-scan"]


def test_post_records_one_answer_with_the_exact_comment_and_shows_it_escaped(h):
    tok = link_token(h.token_key, "inv-post-1", locale="ru")
    _, _, page = get(h, tok, "?score=9")
    comment = "<script>alert(1)</script> Всё отлично, спасибо! 🍵👍\nвторая строка «ok» & \"q\""
    st, hdrs, page = post(h, tok, {"score": "3", "comment": "  " + comment + "\r\n ",
                                   "csrf": csrf_of(page)},
                          origin="http://127.0.0.1:%d" % h.port)
    assert st == 200, page
    assert "Location" not in hdrs and "Set-Cookie" not in hdrs
    assert hdrs["Cache-Control"] == "no-store" and "Referrer-Policy" in hdrs
    (ev,) = [a for a in answers(h) if a["payload"]["invite"] == "inv-post-1"]
    assert ev["type"] == "survey.answered"
    # CR dropped from the browser's CRLF, whitespace trimmed, nothing else touched
    assert ev["payload"] == {"invite": "inv-post-1", "score": 3,
                             "comment": comment, "locale": "ru"}
    text = page.decode()
    assert "<script>" not in text and "<script" not in text
    assert html.escape(comment, quote=True) in text  # in the quote and in the box again
    assert "Спасибо!" in text and "<b>3</b>" in text
    assert checked(page) == [b"3"]      # the form again, to change the answer
    # changing the answer is a new event (the last counts); no comment, no field
    st, _, _ = post(h, tok, {"score": "10", "comment": " \r\n", "csrf": csrf_of(page)})
    assert st == 200
    evs = [a for a in answers(h) if a["payload"]["invite"] == "inv-post-1"]
    assert len(evs) == 2 and evs[1]["payload"] == {"invite": "inv-post-1", "score": 10,
                                                   "locale": "ru"}
    # a token without a locale: English page, no locale in the event
    tok2 = link_token(h.token_key, "inv-post-2")
    st, _, page = post(h, tok2, {"score": "0", "csrf": sign(h.token_key, "survey-form", b"inv-post-2")})
    assert st == 200 and b"Thank you!" in page
    (ev,) = [a for a in answers(h) if a["payload"]["invite"] == "inv-post-2"]
    assert ev["payload"] == {"invite": "inv-post-2", "score": 0}
    # a signed locale that is no language tag is left out of the event, not the answer
    tok3 = link_token(h.token_key, "inv-post-3", locale="abcdefgh-1")
    st, _, page = post(h, tok3, {"score": "4", "csrf": sign(h.token_key, "survey-form", b"inv-post-3")})
    assert st == 200 and b"Thank you!" in page
    (ev,) = [a for a in answers(h) if a["payload"]["invite"] == "inv-post-3"]
    assert ev["payload"] == {"invite": "inv-post-3", "score": 4}


def test_post_refused_without_the_right_csrf_or_from_another_site_writes_nothing(h):
    before = len(h.fetch_all())
    tok = link_token(h.token_key, "inv-csrf", locale="pl")
    good = sign(h.token_key, "survey-form", b"inv-csrf")
    for fields in ({"score": "5"},
                   {"score": "5", "csrf": ""},
                   {"score": "5", "csrf": sign(h.token_key, "survey-form", b"inv-other")},
                   {"score": "5", "csrf": sign(h.token_key, "survey", b"inv-csrf")},
                   {"score": "5", "csrf": flip(good, len(good) - 3)}):
        st, _, page = post(h, tok, fields)
        assert st == 403, fields
        assert "Nie udało się przyjąć formularza" in page.decode()
    for origin in ("https://evil.example", "null", "http://127.0.0.1:%d.evil.example" % h.port,
                   "http://127.0.0.1:%d/s/" % h.port, "https://127.0.0.1:%d" % h.port):
        st, _, _ = post(h, tok, {"score": "5", "csrf": good}, origin=origin)
        assert st == 403, origin
    for score in ("11", "x", "", "-1", "3.0", " 3", "09", "00", "010"):  # 09 was taken as 9
        st, _, page = post(h, tok, {"score": score, "comment": "keep <me>", "csrf": good})
        assert st == 400, score
        text = page.decode()
        assert 'data-field="score"' in text and "Wybierz ocenę od 0 do 10." in text
        assert "keep &lt;me&gt;</textarea>" in text  # what was typed stays
    st, _, page = post(h, tok, {"csrf": good})
    assert st == 400 and b'data-field="score"' in page
    assert len(h.fetch_all()) == before
    # the same form with everything right goes through
    st, _, _ = post(h, tok, {"score": "5", "csrf": good}, origin="http://127.0.0.1:%d" % h.port)
    assert st == 200 and len(h.fetch_all()) == before + 1


def test_forged_and_expired_tokens_are_404_and_410_and_write_nothing(h):
    before = len(h.fetch_all())
    tok = link_token(h.token_key, "inv-forged", locale="be")
    payload, mac = tok.split(".")
    expired = link_token(h.token_key, "inv-expired", expires=int(time.time()) - 10, locale="be")
    other_key = sign("not-the-key", "survey", b"inv-forged\n9999999999\nbe")
    unsub = sign(h.token_key, "unsubscribe", b"inv-forged\n9999999999\nbe")  # other purpose
    for bad in ("%s.%s" % (payload, flip(mac, 0)), "%s.%s" % (flip(payload, 2), mac),
                other_key, unsub, "nonsense", "", tok[:-2]):
        for method in ("GET", "HEAD"):
            st, hdrs, _ = get(h, bad, "?score=5", method)
            assert st == 404, (bad, method)
        st, hdrs, page = post(h, bad, {"score": "5", "csrf": sign(h.token_key, "survey-form",
                                                                   b"inv-forged")})
        assert st == 404 and hdrs["Content-Type"].startswith("text/html"), bad
        assert b"This link is not valid" in page
    for method in ("GET", "HEAD"):
        assert get(h, expired, "?score=5", method)[0] == 410
    st, _, page = post(h, expired, {"score": "5",
                                    "csrf": sign(h.token_key, "survey-form", b"inv-expired")})
    assert st == 410 and "Гэта апытанне ўжо закрыта" in page.decode()
    assert len(h.fetch_all()) == before


def test_long_comment_is_capped_controls_dropped_and_invalid_utf8_is_400(h):
    tok = link_token(h.token_key, "inv-long", locale="zh")
    csrf = sign(h.token_key, "survey-form", b"inv-long")
    st, _, _ = post(h, tok, {"score": "8", "comment": "ж" * 3990 + "🍵" * 6010, "csrf": csrf})
    assert st == 200
    (ev,) = [a for a in answers(h) if a["payload"]["invite"] == "inv-long"]
    assert ev["payload"]["comment"] == "ж" * 3990 + "🍵" * 10
    before = len(h.fetch_all())
    raw = ("score=8&csrf=%s&comment=caf%%C3%%A9%%FF" % csrf).encode()
    st, _, page = post(h, tok, raw=raw)
    assert st == 400 and b'data-field="comment"' in page
    for raw in (b"score=8&csrf=" + csrf.encode() + b"&comment=%F", b"score=%G8&csrf=" + csrf.encode()):
        assert post(h, tok, raw=raw)[0] == 400, raw
    assert len(h.fetch_all()) == before
    st, _, _ = post(h, tok, {"score": "1", "comment": "a\x00b\x07c\td\x7fe\u0085f\r\ng",
                             "csrf": csrf})
    assert st == 200
    evs = [a for a in answers(h) if a["payload"]["invite"] == "inv-long"]
    assert evs[-1]["payload"]["comment"] == "abc\tdef\ng"


def test_journal_down_is_a_503_page_and_the_retry_records_once(tmp_path):
    inst = Hark(tmp_path, conf={"harkd": {"restart_min": "3s", "restart_max": "3s"},
                                "gateway": {"journal_timeout": "500ms"}}).start()
    try:
        with open(os.path.join(inst.state, "keys", "token.key")) as f:
            key = f.read().strip()
        tok = link_token(key, "inv-down", locale="pl")
        fields = {"score": "6", "csrf": sign(key, "survey-form", b"inv-down")}
        inst.kill("journal")
        st, hdrs, page = post(inst, tok, fields)
        assert st == 503 and hdrs.get("Retry-After") and "Spróbuj ponownie" in page.decode()
        wait_for(lambda: post(inst, tok, fields)[0] == 200, timeout=30, what="journal back")
        (ev,) = inst.fetch_all(types=["survey.answered"])
        assert ev["payload"] == {"invite": "inv-down", "score": 6, "locale": "pl"}
    finally:
        inst.stop(check=False)


def test_one_click_a_browser_records_the_clicked_score_and_a_scanner_does_not(h):
    """The score link's page posts its score itself once a browser shows it
    (a script the CSP allows by hash); a scanner's GET or HEAD records
    nothing.  Then the comment, and a later click replaces the score."""
    from selenium.webdriver.common.by import By

    from chromium import chromium

    def mine():
        return [e["payload"] for e in answers(h) if e["payload"]["invite"] == "inv-click-1"]

    tok = link_token(h.token_key, "inv-click-1", locale="pl")
    for method in ("GET", "HEAD", "GET"):
        assert get(h, tok, "?score=9", method)[0] == 200
    st, hdrs, page = get(h, tok, "?score=9")
    (script,) = re.findall(rb"<script>(.*?)</script>", page, re.S)
    digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
    csp = hdrs["Content-Security-Policy"]
    assert "script-src 'sha256-%s'" % digest in csp and "connect-src 'self'" in csp
    assert b'<p id="recorded" role="status" hidden>' in page
    assert get(h, tok)[2].count(b"<script") == 0  # no score clicked: nothing to post
    time.sleep(0.5)
    assert mine() == []  # scanners: nothing

    drv = chromium("pl")
    try:
        drv.get("http://127.0.0.1:%d/s/%s?score=9" % (h.port, tok))
        wait_for(lambda: drv.find_element(By.ID, "recorded").is_displayed(), 20,
                 what="the saved line")
        assert "9" in drv.find_element(By.ID, "recorded").text
        wait_for(lambda: len(mine()) == 1, what="one answer")
        assert mine() == [{"invite": "inv-click-1", "score": 9, "locale": "pl"}]
        # the comment box is still there: tell more, send
        drv.find_element(By.ID, "comment").send_keys("Szybka dostawa, dziękuję")
        drv.find_element(By.CSS_SELECTOR, "form#answer button[type=submit]").click()
        wait_for(lambda: len(mine()) == 2, what="the answer with its comment")
        assert mine()[-1] == {"invite": "inv-click-1", "score": 9, "locale": "pl",
                              "comment": "Szybka dostawa, dziękuję"}
        # a later click on another score replaces it
        drv.get("http://127.0.0.1:%d/s/%s?score=4" % (h.port, tok))
        wait_for(lambda: len(mine()) == 3, what="the changed score")
        assert mine()[-1]["score"] == 4
        logs = [m["message"] for m in drv.get_log("browser")
                if "Content Security" in m["message"] or "Refused" in m["message"]]
        assert logs == []
    finally:
        drv.quit()
