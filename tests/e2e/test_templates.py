"""Email templates edited without a restart, end to end: `hark template`,
the admin API (/v1/templates) and Hark Console's /templates journal
template.saved; hark-mailer applies it and the next email (a real SMTP
server, read back with Python's email package) carries the new text, with
no restart; the saved version outlives a kill -9 and a rebuild from the
journal; bad texts are refused naming the line."""
import html
import json
import os
import re
import signal

import pytest

from harness import wait_for
from test_mailer import SERVICES, body_text, mail_conf, request

NEW = """---
subject: Fresh words for {{name}}
preheader: saved, not restarted
---
Hello **{{name}}**, this text was saved a moment ago.
"""

UNCLOSED = """---
subject: Hi
---
Line four.

{{#items}}
never closed
"""


@pytest.fixture
def h(make_hark, smtp):
    inst = make_hark(services=SERVICES, conf=mail_conf(smtp.port))
    yield inst
    inst.stop()


def templates(h, **req):
    cmd, r = h.call(h.endpoint("mailer.ctl"), "MAILER_TEMPLATES", req)
    assert cmd == "MAILER_TEMPLATES_OK", r
    return r


def applied(h, offset):
    wait_for(lambda: ((h.service("mailer") or {}).get("cursor") or 0) >= offset,
             what="hark-mailer to apply template.saved")


def send(h, smtp, n, to="anna@example.com", locale="en", name="Anna"):
    request(h, "test", "alert", {"name": name}, address=to, locale=locale)
    return smtp.wait_messages(n)[n - 1]


def saved_offset(out):
    m = re.search(r"journal offset (\d+)", out)
    assert m, out
    return int(m.group(1))


def test_templates__cli_set_is_what_the_next_email_carries_without_a_restart(h, smtp, tmp_path):
    pid = h.pid("mailer")
    first = send(h, smtp, 1)
    assert first["Subject"].startswith("Test message")
    src = tmp_path / "test.md"
    src.write_text(NEW)
    off = saved_offset(h.hark("template", "set", "test", "--locale", "en", "--file", str(src)).stdout)
    applied(h, off)
    msg = send(h, smtp, 2)
    assert msg["Subject"] == "Fresh words for Anna"
    assert "this text was saved a moment ago" in body_text(msg, "plain")
    assert "<strong>Anna</strong>" in body_text(msg, "html")
    assert h.pid("mailer") == pid, "the mailer was restarted"
    # another locale still sends its own file
    pl = send(h, smtp, 3, to="ola@example.pl", locale="pl")
    assert "Fresh words" not in pl["Subject"]
    # the list, the history and the text say the same
    row = [t for t in templates(h)["templates"] if t["name"] == "test" and t["locale"] == "en"][0]
    assert row["version"] == 1 and row["by"].startswith("cli:") and row["default"] is False
    assert h.hark("template", "show", "test", "--locale", "en").stdout == NEW
    hist = json.loads(h.hark("template", "history", "test", "--locale", "en", "--json").stdout)
    assert [v["version"] for v in hist] == [1] and hist[0]["offset"] == off
    out = h.hark("template", "list").stdout
    assert re.search(r"^test\s+en\s+1\s", out, re.M), out


def test_templates__restore_adds_a_version_and_default_goes_back_to_the_file(h, smtp, tmp_path):
    src = tmp_path / "t.md"
    src.write_text(NEW)
    h.hark("template", "set", "test", "--file", str(src))
    src.write_text(NEW.replace("Fresh words", "Second words"))
    h.hark("template", "set", "test", "--file", str(src))
    off = saved_offset(h.hark("template", "restore", "test", "--version", "1").stdout)
    applied(h, off)
    assert send(h, smtp, 1)["Subject"] == "Fresh words for Anna"
    hist = templates(h, name="test", locale="en")["history"]
    assert [v["version"] for v in hist] == [3, 2, 1]
    assert hist[0]["restored_from"] == 1
    assert h.hark("template", "show", "test", "--version", "2").stdout.startswith(
        "---\nsubject: Second words")
    off = saved_offset(h.hark("template", "restore", "test", "--default").stdout)
    applied(h, off)
    assert send(h, smtp, 2)["Subject"].startswith("Test message")
    one = templates(h, name="test", locale="en")
    assert one["templates"][0]["version"] == 4 and one["templates"][0]["default"] is True
    assert one["source"].startswith("---\nsubject: Test message")  # the file's text


def test_templates__bad_text_is_refused_with_its_line_before_the_journal(h, tmp_path):
    src = tmp_path / "bad.md"
    for text, want in ((UNCLOSED, r"line 6: unclosed section 'items'"),
                       ("---\nsubject:\n---\nbody\n", r"line 2: the subject is empty"),
                       ("no front matter\n", r"front-matter"),
                       ("---\nsubject: {{#x}}\n---\nbody\n", r"line 2: unclosed section")):
        src.write_text(text)
        r = h.hark("template", "set", "test", "--file", str(src), check=False)
        assert r.returncode == 2 and re.search(want, r.stderr), (text, r.stderr)
    r = h.hark("template", "set", "nosuch", "--file", str(src), check=False)
    assert r.returncode == 2 and "nosuch is not a template" in r.stderr
    src.write_text(NEW)
    r = h.hark("template", "set", "test", "--locale", "xx", "--file", str(src), check=False)
    assert r.returncode == 2 and "locale" in r.stderr
    assert h.fetch_all(types=["template.saved"]) == []


def test_templates__saved_version_outlives_kill_9_and_a_rebuild_from_the_journal(h, smtp, tmp_path):
    src = tmp_path / "t.md"
    src.write_text(NEW)
    off = saved_offset(h.hark("template", "set", "test", "--file", str(src)).stdout)
    applied(h, off)
    pid = h.kill("mailer", signal.SIGKILL)
    wait_for(lambda: h.pid("mailer") not in (0, pid), what="hark-mailer restarted")
    assert send(h, smtp, 1)["Subject"] == "Fresh words for Anna"
    # and without mailer.db at all, a replay of the journal rebuilds the history
    h.stop()
    for f in os.listdir(h.state):
        if f.startswith("mailer.db"):
            os.remove(os.path.join(h.state, f))
    h.start()
    applied(h, off)
    assert templates(h, name="test", locale="en")["templates"][0]["version"] == 1
    msgs = len(smtp.messages())
    assert send(h, smtp, msgs + 1, to="after@example.com")["Subject"] == "Fresh words for Anna"


def admin(h, method, path, body=None, key=None, actor=None):
    hdrs = {"Authorization": "Bearer " + (key or h.admin_key)}
    if actor:
        hdrs["X-Hark-Actor"] = actor
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    st, _, data = h.request(method, path, body, hdrs)
    return st, json.loads(data) if data else None


def test_templates__api_put_is_what_the_next_email_carries_and_get_shows_the_history(h, smtp):
    st, body = admin(h, "GET", "/v1/templates")
    assert st == 200
    rows = {(t["name"], t["locale"]): t for t in body["templates"]}
    assert rows[("test", "ru")]["version"] == 0 and rows[("test", "ru")]["file"] is True
    assert ("_footer", "en") not in rows and not any(loc == "console" for _, loc in rows)
    pid = h.pid("mailer")
    st, body = admin(h, "PUT", "/v1/templates/ru/test", {"source": NEW.replace("Fresh", "Свежие")},
                     actor="olga")
    assert st == 202, body
    assert body["locale"] == "ru" and body["name"] == "test" and body["offset"] > 0
    applied(h, body["offset"])
    msg = send(h, smtp, 1, to="oleg@example.ru", locale="ru", name="Олег")
    assert msg["Subject"] == "Свежие words for Олег"
    assert h.pid("mailer") == pid
    st, one = admin(h, "GET", "/v1/templates/ru/test")
    assert st == 200 and one["version"] == 1 and one["by"] == "api:olga"
    assert one["source"].startswith("---\nsubject: Свежие") and one["history"][0]["version"] == 1
    st, file_ = admin(h, "GET", "/v1/templates/ru/test?version=0")
    assert st == 200 and "Свежие" not in file_["source"] and file_["shown"] == 0
    (ev,) = h.fetch_all(types=["template.saved"])
    assert ev["payload"]["by"] == "api:olga" and ev["payload"]["locale"] == "ru"
    # back to the file, through the API
    st, body = admin(h, "PUT", "/v1/templates/ru/test", {"default": True, "restored_from": 1})
    assert st == 202, body
    applied(h, body["offset"])
    assert "Свежие" not in send(h, smtp, 2, to="oleg@example.ru", locale="ru")["Subject"]


def test_templates__api_refuses_bad_text_naming_the_field_and_line(h):
    cases = [
        ({"source": UNCLOSED}, "source", 6),
        ({"source": "---\nsubject:   \n---\nbody\n"}, "source", 2),
        ({"source": ""}, "source", None),
        ({}, "source", None),
        ({"source": NEW, "by": "me"}, "by", None),
        ({"source": "x" * 70000}, "source", None),
    ]
    for body, field, line in cases:
        st, r = admin(h, "PUT", "/v1/templates/en/test", body)
        assert st == 400, (body, r)
        assert r["error"]["field"] == field, r
        assert r["error"].get("line") == line, r
    st, r = admin(h, "PUT", "/v1/templates/en/nosuch", {"source": NEW})
    assert st == 400 and r["error"]["field"] == "name"
    st, r = admin(h, "PUT", "/v1/templates/xx/test", {"source": NEW})
    assert st == 400 and r["error"]["field"] == "locale"
    st, r = admin(h, "PUT", "/v1/templates/console/test", {"source": NEW})
    assert st == 400 and r["error"]["field"] == "locale"
    st, r = admin(h, "GET", "/v1/templates/en/nosuch")
    assert st == 404
    st, r = admin(h, "GET", "/v1/templates/en")
    assert st == 404
    st, r = admin(h, "GET", "/v1/templates", key="wrong")
    assert st == 401
    st, r = admin(h, "PUT", "/v1/templates/en/test", {"source": NEW}, key=h.ingest_key)
    assert st == 401
    st, _, _ = h.request("DELETE", "/v1/templates/en/test")
    assert st == 405
    assert h.fetch_all(types=["template.saved"]) == []


# --- Hark Console's /templates ----------------------------------------------
import test_console as tc  # noqa: E402  (its browser, pages and instance)


@pytest.fixture
def con(tmp_path, smtp):
    inst = tc.start_console(tmp_path, smtp.port)
    tc.add_user(inst, "mia", "marketer")
    tc.add_user(inst, "sam", "support")
    yield inst
    inst.stop()


def signed_in(con, name):
    b = tc.Browser(con.console_port)
    assert b.login(name)[0] == 303
    return b, b.page("/templates").forms["/logout"]["csrf"][0]


def textarea(data):
    """the editor's text, as a browser would show it"""
    m = re.search(r'<textarea id="source"[^>]*>(.*?)</textarea>', data, re.S)
    return html.unescape(m.group(1)) if m else None


def editor_error(data):
    """the text beside the textarea: (line, message)"""
    line = re.search(r'<span id="source-error-line">(\d+)</span>', data)
    msg = re.search(r'<span id="source-error-text">([^<]*)</span>', data)
    return (int(line.group(1)) if line else None), (msg.group(1) if msg else None)


def test_templates__console_saves_a_version_the_next_email_carries(con, smtp):
    b, csrf = signed_in(con, "mia")
    page = b.page("/templates")
    assert "/templates/en/test" in page.links and "/templates/ru/nps_invite" in page.links
    st, hdr, data, _ = b.get("/templates/en/test")
    assert st == 200
    assert "script-src 'self'" in hdr["Content-Security-Policy"]
    assert "default-src 'none'" in hdr["Content-Security-Policy"]
    p = tc.Page(data)
    assert "source" in p.labels and textarea(data).startswith("---\nsubject: Test message")
    assert "Test message" in p.all_text()  # the preview of the current text
    st, hdr, js, _ = b.get("/templates.js")
    assert st == 200 and hdr["Content-Type"].startswith("text/javascript") and "fetch(" in js
    # save: 303 back to the editor, journaled by the user, mailed from the next email on
    st, hdr, data, _ = b.request("POST", "/templates/en/test",
                                 {"csrf": csrf, "do": "save", "source": NEW})
    assert (st, hdr["Location"]) == (303, "/templates/en/test?done=saved"), data[:300]
    (ev,) = con.fetch_all(types=["template.saved"])
    assert ev["payload"]["by"] == "user:mia" and ev["payload"]["source"] == NEW
    wait_for(lambda: ((con.service("mailer") or {}).get("cursor") or 0) >= ev["offset"],
             what="hark-mailer to apply template.saved")
    request(con, "test", "alert", {"name": "Anna"}, address="anna@example.com", locale="en")
    (msg,) = smtp.wait_messages(1)
    assert msg["Subject"] == "Fresh words for Anna"
    page = b.page("/templates/en/test?done=saved")
    assert "Fresh words for" in page.all_text()  # the preview, on the sample data
    rows = b.page("/templates").all_text()
    assert "mia" in rows
    # restore the file through the history's button: a new version
    st, hdr, _, _ = b.request("POST", "/templates/en/test", {"csrf": csrf, "do": "default"})
    assert (st, hdr["Location"]) == (303, "/templates/en/test?done=restored")
    evs = con.fetch_all(types=["template.saved"])
    assert len(evs) == 2 and evs[1]["payload"]["default"] is True
    wait_for(lambda: "restores" not in b.get("/templates/en/test")[2] and
             ">2 (" in b.get("/templates/en/test")[2], what="version 2 in the history")
    st, hdr, _, _ = b.request("POST", "/templates/en/test",
                              {"csrf": csrf, "do": "restore", "version": "1"})
    assert st == 303
    evs = con.fetch_all(types=["template.saved"])
    assert evs[2]["payload"]["restored_from"] == 1 and evs[2]["payload"]["source"] == NEW


def test_templates__console_refuses_a_bad_text_beside_the_field_with_its_line(con):
    b, csrf = signed_in(con, "mia")
    st, _, data, _ = b.request("POST", "/templates/en/test",
                               {"csrf": csrf, "do": "save", "source": UNCLOSED})
    assert st == 400
    line, msg = editor_error(data)
    assert line == 6 and "unclosed section" in msg
    assert textarea(data) == UNCLOSED  # kept, not lost
    st, _, data, _ = b.request("POST", "/templates/en/test", {
        "csrf": csrf, "do": "save", "source": "---\nsubject:\n---\nbody\n"})
    assert st == 400 and editor_error(data)[0] == 2
    # the live preview's answer says the same, as JSON
    st, hdr, data, _ = b.request("POST", "/templates/en/test", {
        "csrf": csrf, "do": "preview", "format": "json", "source": UNCLOSED})
    assert st == 200 and hdr["Content-Type"].startswith("application/json")
    r = json.loads(data)
    assert r["error_line"] == 6 and not r.get("preview")
    assert con.fetch_all(types=["template.saved"]) == []


def test_templates__console_preview_escapes_markup_and_csrf_and_roles_hold(con):
    b, csrf = signed_in(con, "mia")
    hostile = ("---\nsubject: <script>alert(1)</script> {{name}}\n---\n"
               "<script>alert(2)</script>\n\n<img src=x onerror=alert(3)>\n")
    st, _, data, _ = b.request("POST", "/templates/en/test",
                               {"csrf": csrf, "do": "preview", "source": hostile})
    assert st == 200
    assert "<script>alert" not in data and "<img src=x" not in data
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in data  # the subject, shown as text
    r = json.loads(b.request("POST", "/templates/en/test", {
        "csrf": csrf, "do": "preview", "format": "json", "source": hostile})[2])
    assert r["preview"]["subject"].startswith("<script>alert(1)</script>")  # text, for textContent
    assert "<script>alert(2)" not in r["preview"]["html"]  # cmark's safe mode dropped it
    # CSRF: no token, a wrong one, another site's Origin
    for fields, headers in (({"do": "save", "source": NEW}, None),
                            ({"csrf": "0" * 64, "do": "save", "source": NEW}, None),
                            ({"csrf": csrf, "do": "save", "source": NEW},
                             {"Origin": "https://evil.example"})):
        st, _, _, _ = b.request("POST", "/templates/en/test", fields, headers=headers)
        assert st == 403
    # support: not for them
    s, scsrf = tc.Browser(con.console_port), None
    assert s.login("sam")[0] == 303
    assert s.get("/templates")[0] == 403
    st, _, _, _ = s.request("POST", "/templates/en/test", {"do": "save", "source": NEW})
    assert st == 403
    assert con.fetch_all(types=["template.saved"]) == []


def test_templates__chromium_live_preview_follows_typing_under_the_csp(con):
    """Debian's Chromium, headless: templates.js runs under the editor's
    CSP, fetches the preview as one types, and writes it as text."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--lang=en"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        drv.get(con.console_origin + "/templates/en/test")
        drv.find_element(By.ID, "username").send_keys("mia")
        drv.find_element(By.ID, "password").send_keys(tc.PASSWORD)
        drv.find_element(By.CSS_SELECTOR, "form.login button").click()
        wait_for(lambda: drv.current_url.endswith("/templates/en/test"), 20, what="the editor")
        assert drv.find_element(By.ID, "pv-subject").text.startswith("Test message")
        src = drv.find_element(By.ID, "source")
        src.clear()
        src.send_keys("---\nsubject: Typed <b>live</b>\n---\nHello <script>alert(1)</script>\n")
        wait_for(lambda: drv.find_element(By.ID, "pv-subject").text == "Typed <b>live</b>",
                 20, what="the live preview of the subject")
        assert drv.find_elements(By.CSS_SELECTOR, "#pv-subject b") == []  # text, not markup
        assert "Hello" in drv.find_element(By.ID, "pv-text").text
        # an error shows beside the field, with its line, as one types
        src.send_keys("{{#open}}\n")
        wait_for(lambda: "line 5" in drv.find_element(By.ID, "source-error").text, 20,
                 what="the error with its line")
        assert drv.find_element(By.ID, "source").get_attribute("aria-invalid") == "true"
        csp = [m["message"] for m in drv.get_log("browser") if "Content Security" in m["message"]]
        assert csp == []
    finally:
        drv.quit()
    assert con.fetch_all(types=["template.saved"]) == []  # a preview saves nothing
