"""The weekly NPS digest ([survey] digest_to): mailed once a week, on
digest_day at digest_hour in default_timezone, with the week's NPS, the
change from the week before and the comments, through the real mailer to
a real SMTP server, parsed with Python's email package.  Weeks pass with
the fake clock (HARK_CLOCK_FILE)."""
import datetime
import re
import signal
import time
import zoneinfo

from harness import wait_for
import test_survey as ts
from test_relationship import Clock

DIGEST = "digest@example.com"
WAW = zoneinfo.ZoneInfo("Europe/Warsaw")


def first_monday_9_after(t):
    d = t.astimezone(WAW).replace(hour=9, minute=0, second=0, microsecond=0)
    d += datetime.timedelta(days=(7 - d.weekday()) % 7)
    while d <= t:
        d += datetime.timedelta(days=7)
    return d


def digests(smtp):
    return [m for m in smtp.messages() if ts.to(m) == DIGEST]


def test_digest__weekly_nps_change_and_escaped_comments_once_a_week_across_restarts(
        make_hark, smtp, tmp_path):
    real = datetime.datetime.now(datetime.timezone.utc)
    m1 = first_monday_9_after(real + datetime.timedelta(days=7))
    clock = Clock(tmp_path / "clock")
    clock.at(m1 - datetime.timedelta(days=6) + datetime.timedelta(hours=1))  # Tuesday, week A
    h = make_hark(services=ts.SERVICES, start=False, conf=ts.survey_conf(
        smtp.port, delay="1s", digest_to=DIGEST, digest_day="mon", digest_hour="9",
        default_timezone="Europe/Warsaw"))
    h.env["HARK_CLOCK_FILE"] = str(clock.path)
    h.start()
    # week A: 10, 9 and 3 (NPS 33.3), with comments a customer typed
    offs = [ts.buy(h, "a%d" % i, "a%d@example.com" % i, "oa%d" % i,
                   name=("Eve [x](https://evil.example)" if i == 2 else "Ann"))
            for i in range(3)]
    smtp.wait_messages(3)
    hostile = "Box *crushed* <b>x</b> [click](https://evil.example)\r\nBcc: x@evil.example"
    ts.answer(h, "p%d" % offs[0], 10, "Great tea")
    ts.answer(h, "p%d" % offs[1], 9)
    ts.answer(h, "p%d" % offs[2], 3, hostile)
    wait_for(lambda: ts.totals(h)["responses"] == 3, what="week A's answers")
    time.sleep(1.5)
    assert digests(smtp) == []                               # not before Monday 09:00

    clock.at(m1 + datetime.timedelta(seconds=3))
    wait_for(lambda: len(digests(smtp)) == 1, what="the first digest")
    (d1,) = digests(smtp)
    assert str(d1["Subject"]) == "NPS this week: 33.3"      # no change: no answers before
    body = " ".join(ts.text(d1).split())     # the text part wraps long lines
    assert "Responses: 3" in body and "Promoters (9–10): 2" in body and "Detractors (0–6): 1" in body
    week_a = (m1 - datetime.timedelta(days=7)).strftime("%Y-%m-%d %H:%M")
    assert "Week: %s – %s (Europe/Warsaw)" % (week_a, m1.strftime("%Y-%m-%d %H:%M")) in body
    assert "Great tea" in body and "Box *crushed* <b>x</b> [click](https://evil.example)" in body
    assert "change from last week" not in body
    html = d1.get_body(preferencelist=("html",)).get_content()
    assert "<b>x</b>" not in html and "https://evil.example" not in re.findall(r'href="([^"]*)"', html)
    # the comment's line break stays a line break in the body (a customer's
    # lines are kept), never a header: not in the message's, not in a part's
    raw = [r for r in smtp.raw() if DIGEST.encode() in r][0]
    assert d1["Bcc"] is None and b"\nBcc:" not in raw.split(b"\r\n\r\n", 1)[0]
    assert all(p["Bcc"] is None for p in d1.walk())
    assert re.search(r"\[click\]\(https://evil\.example\)\s*\n\s*Bcc: x@evil\.example", ts.text(d1))

    # a crash right after: the week is not mailed again
    old = h.pid("survey")
    h.kill("survey", signal.SIGKILL)
    wait_for(lambda: h.pid("survey") not in (None, old), what="hark-survey restarted")
    wait_for(lambda: (h.service("survey") or {}).get("cursor"), what="hark-survey back")

    # week B: 10 and 10 (NPS 100, +66.7)
    clock.at(m1 + datetime.timedelta(days=1))
    offs = [ts.buy(h, "b%d" % i, "b%d@example.com" % i, "ob%d" % i) for i in range(2)]
    wait_for(lambda: len(smtp.messages()) >= 3 + 1 + 1 + 2, what="week B's invites")
    for off in offs:
        ts.answer(h, "p%d" % off, 10)
    wait_for(lambda: ts.totals(h)["responses"] == 5, what="week B's answers")
    assert len(digests(smtp)) == 1

    clock.at(m1 + datetime.timedelta(days=7, seconds=3))
    wait_for(lambda: len(digests(smtp)) == 2, what="the second digest")
    d2 = digests(smtp)[1]
    assert str(d2["Subject"]) == "NPS this week: 100.0 (+66.7)"
    body = " ".join(ts.text(d2).split())
    assert "change from last week: +66.7" in body and "No comments this week." in body
    time.sleep(1.5)
    assert len(digests(smtp)) == 2
    keys = [e["key"] for e in h.fetch_all(types=["mail.requested"])
            if e["key"].startswith("survey/digest/")]
    iso = [(m1 - datetime.timedelta(days=7 * k)).isocalendar() for k in (1, 0)]
    assert keys == ["survey/digest/%d-W%02d" % (y, w) for y, w, _ in iso]
    h.stop()
