"""Hark Console's /users page, one-time links (/welcome/TOKEN and `hark user
add|reset --link`), and the case page's reply preview and drafts, end to end:
a real journal, gateway, mailer, intake and console, a browser played by
http.client over loopback, every page read with html.parser."""
import html
import re
import time

import pytest

from harness import wait_for
from smtp import SmtpServer
from test_console import (PASSWORD, Browser, Page, add_user, case_page, complain, db_bytes,
                          hark_user, start_console)

LINK = re.compile(r"(http://127\.0\.0\.1:\d+)(/welcome/([0-9a-f]{64}))")


@pytest.fixture(scope="module")
def smtp_mod(tmp_path_factory):
    s = SmtpServer(tmp_path_factory.mktemp("smtp"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def con(tmp_path_factory, smtp_mod):
    """one console on a test clock, with an account of each role"""
    d = tmp_path_factory.mktemp("console-users")
    clock = d / "clock"
    clock.write_text("0")
    h = start_console(d, smtp_mod.port, clock=clock)
    h.clock = clock
    add_user(h, "ada", "admin")
    add_user(h, "sam", "support", locale="pl")
    add_user(h, "mia", "marketer")
    yield h
    h.stop()


def signed_in(h, name, lang=None):
    b = Browser(h.console_port, lang=lang)
    st, hdr, data, _ = b.login(name)
    assert st == 303, data[:300]
    return b


def the_link(page_html):
    """the one-time link a page shows: its whole URL and its path"""
    p = Page(page_html)
    (value,) = [a["value"] for t, a in p.tags if t == "input" and a.get("id") == "link-url"]
    m = LINK.fullmatch(value)
    assert m, value
    return value, m.group(2)


def typed(b, case):
    """the reply box's text on the case page (html.parser's Page keeps no
    textarea text), and the page"""
    st, _, data, _ = b.get("/cases/" + case)
    assert st == 200, data[:300]
    m = re.search(r'<textarea id="message"[^>]*>(.*?)</textarea>', data, re.S)
    return html.unescape(m.group(1)), Page(data)


def preview(b, page, case, message):
    """the reply form posted by its Preview button (formaction)"""
    fields = {k: list(v) for k, v in page.forms["/cases/%s/reply" % case].items()}
    fields["message"] = [message]
    return b.request("POST", "/cases/%s/preview" % case, fields)


def choose_password(b, path, password, again=None):
    p = b.page(path)
    return b.submit(p, path, extra={"password": password,
                                    "again": password if again is None else again})


# --- /users ----------------------------------------------------------------
def test_users__only_an_admin_sees_the_accounts_with_state_and_last_sign_in(con):
    ada = signed_in(con, "ada")
    p = ada.page("/users")
    text = p.all_text()
    for name in ("ada", "sam", "mia"):
        assert name in text
    assert "/users" in ada.page("/cases").links  # the admin's menu has it
    # sam has signed in never; ada just now: the table says so
    row = dict(re.findall(r'<tr id="user-([^"]+)">(.*?)</tr>', ada.get("/users")[2], re.S))
    last = {n: re.search(r'class="last">(.*?)<', r).group(1) for n, r in row.items()}
    assert last["ada"].endswith(" UTC") and last["sam"] == "—"
    assert "enabled" in row["sam"]
    # every control has a label
    for t, a in p.tags:
        if t in ("select", "textarea") or (t == "input" and a.get("type") not in ("hidden",)):
            if "hidden" not in a:
                assert a.get("id") in p.labels, a
    for who in ("sam", "mia"):
        b = signed_in(con, who)
        st, _, data, _ = b.get("/users")
        assert st == 403 and ("Not allowed" in data or "Niedozwolone" in data), who
        assert "/users" not in b.page("/cases").links
    st, hdr, _, _ = Browser(con.console_port).get("/users")
    assert st == 303 and hdr["Location"] == "/login?next=%2Fusers"


def test_users__add_gives_a_one_time_link_that_sets_the_password_and_signs_in(con):
    ada = signed_in(con, "ada")
    p = ada.page("/users")
    st, _, data, _ = ada.submit(p, "/users", extra={"name": "nina", "role": "support",
                                                    "locale": "pl"})
    assert st == 200, data[:500]
    url, path = the_link(data)
    assert url.startswith(con.console_origin + "/welcome/")
    assert "24" in Page(data).all_text()  # it says how long the link works
    # the token is kept only hashed
    assert path.rsplit("/", 1)[1].encode() not in db_bytes(con)
    # the new person opens it: the page in the language the admin chose
    nina = Browser(con.console_port)
    st, _, data, _ = nina.get(path)
    form = Page(data)
    assert st == 200 and form.lang == "pl" and {"password", "again"} <= form.labels
    assert "10" in form.all_text()  # the minimum length is stated
    st, _, data, _ = choose_password(nina, path, "long enough 1", "long enough 2")
    assert st == 400 and Page(data).lang == "pl" and "nie są takie same" in data
    st, _, data, _ = choose_password(nina, path, "short")
    assert st == 400 and "za krótkie" in data
    # nobody could sign in with any password before
    assert Browser(con.console_port).login("nina", "!")[0] == 200
    st, hdr, _, _ = choose_password(nina, path, "nina's own password")
    assert st == 303 and hdr["Location"] == "/"
    st, _, data, _ = nina.get("/cases")
    assert st == 200 and "nina" in Page(data).all_text()
    # used: a clear page, never twice
    st, _, data, _ = nina.request("POST", path, {"password": "x" * 12, "again": "x" * 12,
                                                 "csrf": form.forms[path]["csrf"][0]})
    assert st == 410
    st, _, data, _ = Browser(con.console_port, lang="ru").get(path)
    # the page a person reads: in the account's language, no JSON
    assert st == 410 and Page(data).lang == "pl" and "użyty" in data
    assert "{" not in Page(data).all_text() and "<form" not in data
    st, _, data, _ = Browser(con.console_port, lang="ru").get("/welcome/" + "0" * 64)
    assert st == 404 and Page(data).lang == "ru" and "не работает" in data
    assert Browser(con.console_port).get("/welcome/nothex")[0] == 404
    assert Browser(con.console_port).login("nina", "nina's own password")[0] == 303
    # the audit says who did what
    text = ada.page("/users").all_text()
    assert "user:ada" in text and "user:nina" in text and "chose a password" in text
    # a name taken, a bad name, a bad role: beside the field, and nothing added
    p = ada.page("/users")
    for extra, word in (({"name": "nina"}, "already"), ({"name": "no spaces"}, "1 to 64"),
                        ({"name": "zed", "role": "boss"}, "Choose admin"),
                        ({"name": "zed", "locale": "xx"}, "languages in the list")):
        st, _, data, _ = ada.submit(p, "/users", extra=dict({"role": "support"}, **extra))
        assert st == 400 and word in data, extra
        assert 'aria-invalid="true"' in data
    assert "zed" not in hark_user(con, "list").stdout


def test_users__disable_ends_sessions_enable_and_change_role_and_language(con):
    add_user(con, "ray", "support")
    ray = signed_in(con, "ray")
    assert ray.get("/loops/new")[0] == 200
    ada = signed_in(con, "ada")
    p = ada.page("/users")
    st, hdr, _, _ = ada.submit(p, "/users/ray/disable")
    assert st == 303 and hdr["Location"] == "/users?done=disable"
    st, hdr, _, _ = ray.get("/cases")
    assert st == 303 and hdr["Location"].startswith("/login")
    assert Browser(con.console_port).login("ray")[0] == 200
    assert "disabled" in ada.page("/users?done=disable").all_text()
    p = ada.page("/users")
    assert ada.submit(p, "/users/ray/enable")[0] == 303
    ray = signed_in(con, "ray")
    st, hdr, _, _ = ada.submit(ada.page("/users"), "/users/ray/change",
                               extra={"role": "marketer", "locale": "ru"})
    assert st == 303 and hdr["Location"] == "/users?done=change"
    # the change holds at once for the signed-in session
    assert ray.get("/loops/new")[0] == 403
    p = ray.page("/cases")
    assert p.lang == "ru"
    # an admin cannot disable themselves or drop their own admin role
    p = ada.page("/users")
    assert "/users/ada/disable" not in p.forms
    st, _, data, _ = ada.request("POST", "/users/ada/disable",
                                 {"csrf": p.forms["/users"]["csrf"][0]})
    assert st == 400 and "cannot disable your own" in data
    st, _, data, _ = ada.submit(p, "/users/ada/change", extra={"role": "support"})
    assert st == 400 and "cannot disable your own" in data
    assert ada.get("/users")[0] == 200
    st, _, _, _ = ada.request("POST", "/users/ghost/disable",
                              {"csrf": p.forms["/users"]["csrf"][0]})
    assert st == 404
    text = ada.page("/users").all_text()
    assert "role or language changed" in text and "marketer ru" in text


def test_users__reset_ends_sessions_and_kills_the_old_link_and_password(con):
    add_user(con, "gus", "support")
    gus = signed_in(con, "gus")
    ada = signed_in(con, "ada")
    st, _, data, _ = ada.submit(ada.page("/users"), "/users/gus/reset")
    assert st == 200
    _, first = the_link(data)
    st, hdr, _, _ = gus.get("/cases")
    assert st == 303  # its sessions ended
    assert Browser(con.console_port).login("gus")[0] == 200  # the old password is gone
    st, _, data, _ = ada.submit(ada.page("/users"), "/users/gus/reset")
    _, second = the_link(data)
    assert Browser(con.console_port).get(first)[0] == 404  # replaced
    assert Browser(con.console_port).get(second)[0] == 200
    assert ada.submit(ada.page("/users"), "/users/gus/disable")[0] == 303
    assert Browser(con.console_port).get(second)[0] == 404  # disabling kills it too


def test_users__cli_link_expires_after_24_hours(con):
    r = hark_user(con, "add", "kim", "--role", "support", "--locale", "ru", "--link")
    assert r.returncode == 0, r.stderr
    m = LINK.search(r.stdout)
    assert m and m.group(1) == con.console_origin and "works once" in r.stdout, r.stdout
    path = m.group(2)
    r = hark_user(con, "add", "kim2", "--role", "support", "--link")
    m2 = LINK.search(r.stdout)
    r = hark_user(con, "reset", "kim2", "--link")
    assert r.returncode == 0 and "no password until the link is used" in r.stdout
    m3 = LINK.search(r.stdout)
    assert m3 and m3.group(2) != m2.group(2)
    assert Browser(con.console_port).get(m2.group(2))[0] == 404
    b = Browser(con.console_port)
    assert b.get(path)[0] == 200
    try:
        con.clock.write_text(str(23 * 3600))
        time.sleep(0.3)  # each thread keeps the clock file's value for 100 ms
        assert b.get(path)[0] == 200
        con.clock.write_text(str(24 * 3600 + 60))
        time.sleep(0.3)
        st, _, data, _ = b.get(path)
        assert st == 410 and Page(data).lang == "ru" and "истекла" in data
        st, _, data, _ = b.request("POST", path, {"password": "x" * 12, "again": "x" * 12})
        assert st == 410
    finally:
        con.clock.write_text("0")
        time.sleep(0.3)
    assert "kim" in hark_user(con, "list").stdout
    text = signed_in(con, "ada").page("/users").all_text()
    assert "cli:" in text


def test_users__the_new_forms_refuse_missing_csrf_and_a_foreign_origin(con):
    ada = signed_in(con, "ada")
    p = ada.page("/users")
    for action, extra in (("/users", {"name": "csrfx", "role": "support"}),
                          ("/users/mia/disable", {}), ("/users/mia/reset", {}),
                          ("/users/mia/change", {"role": "admin"})):
        assert ada.submit(p, action, extra=extra, drop=("csrf",))[0] == 403, action
        assert ada.submit(p, action, extra=dict(extra, csrf="0" * 64))[0] == 403, action
        assert ada.submit(p, action, extra=extra,
                          headers={"Origin": "http://evil.example"})[0] == 403, action
    assert "csrfx" not in hark_user(con, "list").stdout
    assert signed_in(con, "mia").get("/cases")[0] == 200  # mia untouched
    # the welcome form: its cookie and the origin
    r = hark_user(con, "add", "wes", "--role", "support", "--link")
    path = LINK.search(r.stdout).group(2)
    b = Browser(con.console_port)
    wp = b.page(path)
    b.cookies.clear()
    assert b.submit(wp, path, extra={"password": "x" * 12, "again": "x" * 12})[0] == 403
    b = Browser(con.console_port)
    wp = b.page(path)
    assert b.submit(wp, path, extra={"password": "x" * 12, "again": "x" * 12},
                    headers={"Origin": "http://evil.example"})[0] == 403
    assert b.get(path)[0] == 200  # still unused


def test_users__welcome_posts_are_throttled_like_sign_ins(tmp_path):
    h = start_console(tmp_path, login_rate="3")
    try:
        r = hark_user(h, "add", "tess", "--role", "support", "--link")
        path = LINK.search(r.stdout).group(2)
        codes = [Browser(h.console_port).request("POST", path, {"password": "a"})[0]
                 for _ in range(4)]
        assert codes[:3] == [403, 403, 403] and codes[3] == 429, codes
    finally:
        h.stop()


# --- the reply's preview and drafts -----------------------------------------
def test_preview__shows_the_email_in_the_customers_language_and_escapes_staff_html(con, smtp_mod):
    case = complain(con, "prev-c", "where is my parcel", locale="pl")
    sam = signed_in(con, "sam")
    p = case_page(sam, case)
    reply = "/cases/%s/reply" % case
    assert "/console.js" in [a.get("src") for t, a in p.tags if t == "script"]
    message = "Dzień dobry, **already shipped**.\n\n<script>alert('x')</script> [a](javascript:x)"
    buttons = [a for t, a in p.tags if t == "button" and a.get("formaction")]
    assert buttons == [{"type": "submit", "formaction": "/cases/%s/preview" % case,
                        "formnovalidate": None, "class": "secondary"}]
    st, hdr, data, _ = preview(sam, p, case, message)
    assert st == 200, data[:500]
    pv = Page(data)
    # no live script but the console's own file, no javascript: link
    assert [a for t, a in pv.tags if t == "script"] == [{"src": "/console.js", "defer": None}]
    assert "javascript:" not in " ".join(pv.links)
    assert "<script>alert" not in data
    subject = re.search(r'class="preview-subject">(.*?)<', data).group(1)
    assert subject == "Odpowiedź na Twoje zgłoszenie nr %s" % case
    assert re.search(r'class="preview-locale">pl<', data)
    text = re.search(r'<pre class="mail preview-text">(.*?)</pre>', data, re.S).group(1)
    assert "already shipped" in text and "**" not in text  # Markdown rendered
    src = re.search(r'<pre class="mail preview-html">(.*?)</pre>', data, re.S).group(1)
    assert "&lt;strong&gt;already shipped&lt;/strong&gt;" in src  # the HTML, as text
    assert "&lt;script&gt;" not in src  # cmark's safe mode dropped it
    assert "javascript:" not in src and "javascript:" not in text
    # what was typed stays in the form
    m = re.search(r'<textarea id="message"[^>]*>(.*?)</textarea>', data, re.S)
    assert html.unescape(m.group(1)) == message
    # a reader (marketer) may not preview
    mia = signed_in(con, "mia")
    assert mia.request("POST", "/cases/%s/preview" % case,
                       {"csrf": mia.page("/cases").forms["/logout"]["csrf"][0],
                        "message": "x"})[0] == 403


def test_drafts__a_preview_is_kept_per_user_across_reloads_and_cleared_by_sending(con, smtp_mod):
    case = complain(con, "draft-c", "the box was empty", locale="en",
                    email="draft-c@example.com")
    sam = signed_in(con, "sam")
    p = case_page(sam, case)
    reply = "/cases/%s/reply" % case
    assert typed(sam, case)[0] == ""
    st, _, _, _ = preview(sam, p, case, "We are sending a <b>new</b> one.")
    assert st == 200
    # a reload, and a new sign-in, find the draft (escaped, as typed)
    again = signed_in(con, "sam")
    text, p = typed(again, case)
    assert text == "We are sending a <b>new</b> one."
    assert "Szkic zapisany" in p.all_text()  # sam reads Polish
    # it is sam's: ada does not see it
    assert typed(signed_in(con, "ada"), case)[0] == ""
    # the live preview posts the same endpoint as one types: a newer draft
    st, _, _, _ = preview(again, p, case, "We are sending a new one today.")
    assert st == 200
    text, p = typed(again, case)
    assert text == "We are sending a new one today."
    st, hdr, _, _ = again.submit(p, reply, extra={"message": text})
    assert st == 303 and hdr["Location"] == "/cases/%s?done=reply" % case
    text, p = typed(again, case)
    assert text == "" and "Szkic" not in p.all_text()
    replies = wait_for(lambda: [e for e in con.fetch_all(["case.replied"])
                                if e["payload"]["case"] == case] or None, 10, what="the reply")
    assert [e["payload"]["message"] for e in replies] == ["We are sending a new one today."]
    # an empty preview deletes the draft too
    preview(again, p, case, "half a thought")
    assert typed(again, case)[0] == "half a thought"
    preview(again, p, case, "")
    assert typed(again, case)[0] == ""


def test_console_js__is_served_under_the_csp_and_fetches_only_the_console(con):
    b = Browser(con.console_port)
    st, hdr, data, _ = b.get("/console.js")
    assert st == 200 and hdr["Content-Type"].startswith("text/javascript")
    assert "fetch(" in data and "://" not in data
    csp = signed_in(con, "ada").get("/cases")[1]["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "connect-src 'self'" in csp and "frame-src" not in csp


def test_preview__chromium_shows_the_live_preview_as_one_types_and_keeps_the_draft(con):
    """Debian's Chromium, headless: /console.js runs under the console's
    CSP, previews as one types, and what was typed survives a reload."""
    from selenium.webdriver.common.by import By

    from chromium import chromium
    case = complain(con, "live-c", "nothing arrived", locale="pl")
    case_page(signed_in(con, "ada"), case)
    drv = chromium("en")
    try:
        drv.get(con.console_origin + "/login?next=/cases/" + case)
        drv.find_element(By.ID, "username").send_keys("ada")
        drv.find_element(By.ID, "password").send_keys(PASSWORD)
        drv.find_element(By.CSS_SELECTOR, "form.login button").click()
        wait_for(lambda: drv.current_url.endswith("/cases/" + case), 20, what="the case")
        assert drv.find_elements(By.CSS_SELECTOR, "#preview .preview-subject") == []
        drv.find_element(By.ID, "message").send_keys(
            "It is **on its way** <img src=x onerror=alert(1)>")
        subject = wait_for(lambda: drv.find_elements(By.CSS_SELECTOR,
                                                     "#preview .preview-subject"),
                           20, what="the live preview")
        assert subject[0].text == "Odpowiedź na Twoje zgłoszenie nr %s" % case
        text = drv.find_element(By.CSS_SELECTOR, "#preview .preview-text").text
        assert "on its way" in text and "**" not in text
        # staff text became no element of the page
        assert drv.find_elements(By.CSS_SELECTOR, "#preview img, #preview strong") == []
        # the live preview saved the draft: a reload shows it
        drv.get(con.console_origin + "/cases/" + case)
        box = drv.find_element(By.ID, "message")
        assert box.get_attribute("value") == "It is **on its way** <img src=x onerror=alert(1)>"
        logs = [m["message"] for m in drv.get_log("browser")]
        assert not [m for m in logs if "Content Security" in m or "alert" in m], logs
    finally:
        drv.quit()
