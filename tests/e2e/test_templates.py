"""Email templates edited without a restart, end to end: `hark template`,
the admin API (/v1/templates) and Hark Console's /templates journal
template.saved; hark-mailer applies it and the next email (a real SMTP
server, read back with Python's email package) carries the new text, with
no restart; the saved version outlives a kill -9 and a rebuild from the
journal; bad texts are refused naming the line."""
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
