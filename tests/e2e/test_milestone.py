"""hark-milestone end to end: real journal, gateway, mailer and milestone, a
real SMTP server where the mail matters (parsed with Python's email
package), and a fake clock (HARK_CLOCK_FILE) moved through 2027 instead of
waiting for birthdays.  Every due time is compared with an independent
computation in Python's zoneinfo."""
import datetime
import json
import os
import re
import signal
import shutil
import time
import zoneinfo

import jsonschema

from harness import ROOT, wait_for

UTC = datetime.timezone.utc

with open(os.path.join(ROOT, "proto", "commands.json")) as _f:
    COMMANDS = {c["name"]: c for c in json.load(_f)["commands"]}
with open(os.path.join(ROOT, "proto", "events", "mail.requested.json")) as _f:
    MAIL_REQUESTED = json.load(_f)


def check_message(cmd, body):
    jsonschema.Draft202012Validator(COMMANDS[cmd]["request"]).validate(body)


def dt(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def first_instant(date, hhmm, zone):
    """The first instant at which the local clock in zone shows date hhmm or
    later (independent of the C code: zoneinfo, and a minute scan in gaps)."""
    z = zoneinfo.ZoneInfo(zone)
    h, m = map(int, hhmm.split(":"))
    naive = datetime.datetime(date.year, date.month, date.day, h, m)
    real = []
    for fold in (0, 1):
        u = naive.replace(tzinfo=z, fold=fold).astimezone(UTC)
        if u.astimezone(z).replace(tzinfo=None) == naive:
            real.append(u)
    if real:
        return min(real)
    u = naive.replace(tzinfo=z, fold=0).astimezone(UTC) - datetime.timedelta(hours=3)
    while u.astimezone(z).replace(tzinfo=None) < naive:
        u += datetime.timedelta(minutes=1)
    return u


class Clock:
    """HARK_CLOCK_FILE: every service's clock is the real one plus the file's
    seconds; set() makes it read `when` now."""

    def __init__(self, path, when):
        self.path = path
        self.set(when)

    def set(self, when):
        real = datetime.datetime.now(UTC)
        self.path.write_text("%.3f" % (when - real).total_seconds())
        self.set_at, self.when = time.monotonic(), when

    def now(self):
        return self.when + datetime.timedelta(seconds=time.monotonic() - self.set_at)


def start(make_hark, tmp_path, when, services, conf, sub=None):
    clock = Clock(tmp_path / ("clock-" + (sub or "x")), when)
    h = make_hark(services=services, conf=conf, start=False, sub=sub)
    h.env["HARK_CLOCK_FILE"] = str(clock.path)
    h.start()
    return h, clock


def base_conf(**milestone):
    conf = {"milestone": {"interval": "200ms"}}
    conf["milestone"].update(milestone)
    return conf


def mail_conf(port, **milestone):
    conf = base_conf(**milestone)
    conf["smtp"] = {"host": "127.0.0.1", "port": str(port), "starttls": "off", "timeout": "5s"}
    conf["mailer"] = {"templates": os.path.join(ROOT, "templates"), "from": "shop@example.com",
                      "shop_name": "Tea House"}
    return conf


def post(h, events):
    for i in range(0, len(events), 500):
        st, body = h.post_events(events[i:i + 500])
        assert st == 202, body


def customer(cid, tz=None, birthday=None, **more):
    c = {"id": cid, "email": "%s@example.com" % cid, "name": cid.capitalize(), "locale": "en"}
    if tz:
        c["timezone"] = tz
    if birthday:
        c["birthday"] = birthday
    c.update(more)
    return {"type": "customer", "data": c}


def append(h, type_, payload):
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND",
                    {"events": [{"type": type_, "key": "test/%s/%f" % (type_, time.time()),
                                 "payload": payload}]})
    assert cmd == "JOURNAL_APPEND_OK", r


def status(h):
    cmd, body = h.call(h.endpoint("milestone.ctl"), "SERVICE_STATUS", {})
    assert cmd == "SERVICE_STATUS_OK", body
    return body


def applied(h):
    """Wait until hark-milestone has applied everything in the journal."""
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_FETCH", {"after": 0, "limit": 1})
    head = r["head"]
    wait_for(lambda: status(h).get("cursor", 0) >= head, what="milestone applied the journal")


def ticked(h, clock):
    """Wait for a tick that started at or after the clock's time now."""
    when = clock.now()
    wait_for(lambda: "tick_at" in status(h)["detail"] and
             dt(status(h)["detail"]["tick_at"]) >= when, what="a tick at %s" % when)


def at(h, clock, when):
    clock.set(when)
    ticked(h, clock)


def requests(h):
    return [e for e in h.fetch_all(types=["mail.requested"])]


def whom(h, cid):
    cmd, body = h.call(h.endpoint("milestone.ctl"), "MILESTONE_CUSTOMER", {"customer_id": cid})
    check_message(cmd, body)
    return {m["kind"]: m for m in body["milestones"]}


def to(msg):
    return msg["To"].addresses[0].addr_spec


def text(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def T(s):
    return dt(s)


def test_milestone__a_year_of_birthdays_and_anniversaries_each_at_nine_local_and_once(make_hark, tmp_path, smtp):
    h, clock = start(make_hark, tmp_path, T("2026-12-31T00:00:00Z"),
                     ("journal", "gateway", "mailer", "milestone"), mail_conf(smtp.port), "a")
    zones = {"kiri": "Pacific/Kiritimati", "pago": "Pacific/Pago_Pago", "gmt12": "Etc/GMT+12",
             "supp": "UTC", "edit": "UTC", "feb": "UTC", "waw": "Europe/Warsaw",
             "nyc": "America/New_York"}
    bdays = {"kiri": "1990-01-15", "pago": "--01-15", "gmt12": "--01-15", "supp": "--01-15",
             "edit": "--01-15", "feb": "--02-29", "waw": "--03-28", "nyc": "1984-03-14"}
    post(h, [customer(c, zones[c], bdays[c]) for c in zones] + [
        {"type": "purchase", "data": {"customer": {"id": "one", "email": "one@example.com",
                                                   "name": "One", "timezone": "UTC"},
                                      "order_id": "o1", "occurred_at": "2026-01-16T12:00:00Z"}},
        {"type": "purchase", "data": {"customer": {"id": "ten", "email": "ten@example.com",
                                                   "name": "Ten"},
                                      "order_id": "o10", "occurred_at": "2017-01-16T12:00:00Z"}},
        {"type": "purchase", "data": {"customer_id": "ten", "order_id": "o11",
                                      "occurred_at": "2020-05-05T12:00:00Z"}}])
    append(h, "mail.unsubscribed", {"address": "SUPP@example.com", "via": "page"})
    append(h, "mail.bounced", {"message": 1, "request_key": "x", "template": "birthday",
                               "category": "milestone", "attempts": 1, "code": 550,
                               "error": "no such user", "address": "bounce@example.com"})
    post(h, [customer("bounce", "UTC", "--01-15"),
             customer("kiri", name="Kiri\r\nBcc: x@evil.example")])
    applied(h)

    # every due time, against zoneinfo (29 February: 28 February in 2027)
    days = {"kiri": "2027-01-15", "pago": "2027-01-15", "gmt12": "2027-01-15",
            "supp": "2027-01-15", "edit": "2027-01-15", "feb": "2027-02-28",
            "waw": "2027-03-28", "nyc": "2027-03-14"}
    for c, day in days.items():
        nxt = whom(h, c)["birthday"]["next"]
        assert nxt["year"] == 2027 and nxt["date"] == day, (c, nxt)
        want = first_instant(datetime.date.fromisoformat(day), "09:00", zones[c])
        assert dt(nxt["send_at"]) == want, (c, nxt, want)
    assert dt(whom(h, "kiri")["birthday"]["next"]["send_at"]) == T("2027-01-14T19:00:00Z")
    assert dt(whom(h, "gmt12")["birthday"]["next"]["send_at"]) == T("2027-01-15T21:00:00Z")
    # DST: 09:00 is CEST (+2) on the day Warsaw springs forward, EDT (-4) in New York
    assert dt(whom(h, "waw")["birthday"]["next"]["send_at"]) == T("2027-03-28T07:00:00Z")
    assert dt(whom(h, "nyc")["birthday"]["next"]["send_at"]) == T("2027-03-14T13:00:00Z")
    a = whom(h, "one")["anniversary"]["next"]
    assert (a["date"], a["years"]) == ("2027-01-16", 1)
    assert whom(h, "ten")["anniversary"]["next"]["years"] == 10  # from the earliest purchase

    # a minute before nine on 15 January in Kiritimati: nothing; then the first
    at(h, clock, T("2027-01-14T18:59:00Z"))
    assert requests(h) == []
    at(h, clock, T("2027-01-14T19:00:01Z"))
    (msg,) = smtp.wait_messages(1)
    assert to(msg) == "kiri@example.com"
    assert "Happy birthday, Kiri" in str(msg["Subject"])
    assert msg["Bcc"] is None and "\n" not in str(msg["Subject"])  # the name stays text
    code = re.search(r"\b(GIFT-[A-Za-z0-9_\\-]+\\?\.[A-Za-z0-9_\\-]+)", text(msg)).group(1)
    code = code.replace("\\", "")
    out = h.hark("coupon", "verify", code).stdout
    assert "valid: birthday coupon of customer kiri for 2027" in out
    bad = h.hark("coupon", "verify", code[:-2] + ("AA" if code[-2:] != "AA" else "BB"), check=False)
    assert bad.returncode == 1 and "invalid" in bad.stdout
    (req,) = requests(h)
    assert req["key"] == "milestone/birthday/kiri/2027"
    jsonschema.Draft202012Validator(MAIL_REQUESTED).validate(req["payload"])
    assert req["payload"]["category"] == "milestone" and req["payload"]["template"] == "birthday"

    # 09:00 UTC: edit's, not supp's (unsubscribed)
    at(h, clock, T("2027-01-15T09:00:01Z"))
    msgs = smtp.wait_messages(2)
    assert to(msgs[1]) == "edit@example.com"
    assert whom(h, "supp")["birthday"]["decided"] == [{"year": 2027, "status": "suppressed"}]
    assert whom(h, "bounce")["birthday"]["decided"] == [{"year": 2027, "status": "suppressed"}]
    # the birthday moves later this year after its message: nothing more this year
    post(h, [customer("edit", birthday="--01-20")])
    applied(h)
    assert whom(h, "edit")["birthday"]["next"]["date"] == "2028-01-20"

    at(h, clock, T("2027-01-15T20:00:01Z"))            # 09:00 in Pago Pago (UTC-11)
    assert to(smtp.wait_messages(3)[2]) == "pago@example.com"
    assert whom(h, "gmt12")["birthday"]["decided"] == []  # 08:00 there still
    at(h, clock, T("2027-01-15T21:00:01Z"))            # 09:00 at UTC-12
    assert to(smtp.wait_messages(4)[3]) == "gmt12@example.com"

    at(h, clock, T("2027-01-16T09:00:01Z"))            # anniversaries: 1 and 10 years
    msgs = smtp.wait_messages(6)
    ann = {to(m): text(m) for m in msgs[4:]}
    assert "for 1 year." in ann["one@example.com"]
    assert "for 10 years." in ann["ten@example.com"]
    assert "Thank you for being with us, Ten" in str([m for m in msgs if to(m) == "ten@example.com"][0]["Subject"])

    at(h, clock, T("2027-01-20T09:00:01Z"))            # edit's new day: nothing
    at(h, clock, T("2027-02-28T09:00:01Z"))            # 29 February in a common year
    assert to(smtp.wait_messages(7)[6]) == "feb@example.com"
    at(h, clock, T("2027-03-14T13:00:01Z"))
    assert to(smtp.wait_messages(8)[7]) == "nyc@example.com"
    at(h, clock, T("2027-03-28T07:00:01Z"))
    assert to(smtp.wait_messages(9)[8]) == "waw@example.com"
    assert whom(h, "feb")["birthday"]["next"]["date"] == "2028-02-29"  # a leap year: its own day

    keys = sorted(r["key"] for r in requests(h))
    assert keys == sorted(["milestone/birthday/%s/2027" % c for c in
                           ("kiri", "edit", "pago", "gmt12", "feb", "nyc", "waw")] +
                          ["milestone/anniversary/one/2027", "milestone/anniversary/ten/2027"])
    time.sleep(0.5)
    assert len(smtp.messages()) == 9                   # each once
    h.stop()


def test_milestone__catch_up_after_downtime_up_to_the_limit_and_feb29_on_march_1(make_hark, tmp_path):
    # the customers are there at 21:00 UTC on 15 January: nine o'clock was
    # 12 h ago in UTC (at the catch_up limit), 7 h ago in New York
    h, clock = start(make_hark, tmp_path, T("2027-01-15T21:00:00Z"),
                     ("journal", "gateway", "milestone"), base_conf(feb29="mar1"), "b")
    post(h, [customer("utc", "UTC", "--01-15"), customer("tokyo", "Asia/Tokyo", "--01-15"),
             customer("ny", "America/New_York", "--01-15"),
             customer("pago", "Pacific/Pago_Pago", "--01-15"),
             customer("kiri", "Pacific/Kiritimati", "--01-16"),   # 16th there already
             customer("gmt12", "Etc/GMT+12", "--01-16"),          # still 15th there
             customer("leap", None, "2000-02-29")])
    applied(h)
    at(h, clock, T("2027-01-15T21:30:01Z"))
    got = sorted(r["payload"]["customer_id"] for r in requests(h))
    assert got == ["kiri", "ny", "pago"]
    assert whom(h, "utc")["birthday"]["decided"] == [{"year": 2027, "status": "missed"}]
    assert whom(h, "tokyo")["birthday"]["decided"] == [{"year": 2027, "status": "missed"}]
    assert whom(h, "gmt12")["birthday"]["decided"] == []
    nxt = whom(h, "leap")["birthday"]["next"]
    assert nxt["date"] == "2027-03-01" and dt(nxt["send_at"]) == T("2027-03-01T09:00:00Z")
    at(h, clock, T("2027-02-28T09:00:01Z"))
    assert "leap" not in [r["payload"]["customer_id"] for r in requests(h)]
    at(h, clock, T("2027-03-01T09:00:01Z"))
    assert [r["key"] for r in requests(h)][-1] == "milestone/birthday/leap/2027"
    st = status(h)["detail"]
    assert (st["sent"], st["missed"]) == (4, 2)
    h.stop()


def test_milestone__settings_through_the_api_and_the_cli_with_dst_gaps_and_offsets(make_hark, tmp_path):
    h, clock = start(make_hark, tmp_path, T("2027-01-01T00:00:00Z"),
                     ("journal", "gateway", "milestone"), base_conf(), "c")
    auth = {"Authorization": "Bearer " + h.admin_key}
    st, _, body = h.request("GET", "/v1/milestones")
    assert st == 401
    st, _, body = h.request("GET", "/v1/milestones", headers=auth)
    assert st == 200, body
    got = json.loads(body)
    check_message("MILESTONE_SETTINGS_OK", got)
    assert [(m["kind"], m["enabled"], m["time"], m["source"]) for m in got["milestones"]] == \
        [("birthday", True, "09:00", "config"), ("anniversary", True, "09:00", "config")]
    st, _, body = h.request("PUT", "/v1/milestones/birthday", {"time": "25:00"}, auth)
    assert st == 400 and json.loads(body)["error"]["field"] == "time"
    st, _, body = h.request("PUT", "/v1/milestones/birthday", {"offset": "-45d"}, auth)
    assert st == 400 and json.loads(body)["error"]["field"] == "offset"
    st, _, body = h.request("PUT", "/v1/milestones/birthday",
                            {"anniversary_from": "signup_date"}, auth)
    assert st == 400 and json.loads(body)["error"]["field"] == "anniversary_from"
    st, _, body = h.request("PUT", "/v1/milestones/wedding", {}, auth)
    assert st == 404
    st, _, body = h.request("PUT", "/v1/milestones/birthday", {"time": "02:30"}, auth)
    assert st == 202, body
    # the CLI changes what the API set, and both are in the journal with who
    h.hark("milestone", "set", "anniversary", "--anniversary-from", "signup_date",
           "--offset", "-3d")
    r = h.hark("milestone", "set", "birthday", "--time", "9am", check=False)
    assert r.returncode == 2 and "time" in r.stderr
    out = h.hark("milestone", "list").stdout
    assert re.search(r"birthday\s+yes\s+02:30\s+0\s+birthday\s+-\s+admin", out), out
    assert re.search(r"anniversary\s+yes\s+09:00\s+-3d\s+anniversary\s+signup_date\s+admin", out), out
    saved = [e["payload"] for e in h.fetch_all(types=["milestone.saved"])]
    assert [(p["kind"], p["by"].split(":")[0]) for p in saved] == [("birthday", "api"),
                                                                   ("anniversary", "cli")]
    st, _, body = h.request("GET", "/v1/milestones/anniversary", headers=auth)
    assert st == 200 and json.loads(body)["anniversary_from"] == "signup_date"

    # 02:30 falls into the spring-forward gap in Warsaw and New York (the end
    # of the gap, 03:00, is when it goes) and is repeated in the autumn in
    # Warsaw (the first one)
    cases = {"w1": ("Europe/Warsaw", "--03-28"), "n1": ("America/New_York", "--03-14"),
             "w2": ("Europe/Warsaw", "--10-31"), "n2": ("America/New_York", "--11-07"),
             "k": ("Pacific/Kiritimati", "--06-01"), "g": ("Etc/GMT+12", "--06-01")}
    post(h, [customer(c, tz, b) for c, (tz, b) in cases.items()] +
         [customer("sig", "Europe/Warsaw", signup_date="2020-03-31")])
    applied(h)
    for c, (tz, b) in cases.items():
        nxt = whom(h, c)["birthday"]["next"]
        day = datetime.date(2027, int(b[2:4]), int(b[5:7]))
        assert dt(nxt["send_at"]) == first_instant(day, "02:30", tz), (c, nxt)
    assert dt(whom(h, "w1")["birthday"]["next"]["send_at"]) == T("2027-03-28T01:00:00Z")
    assert dt(whom(h, "n1")["birthday"]["next"]["send_at"]) == T("2027-03-14T07:00:00Z")
    assert dt(whom(h, "w2")["birthday"]["next"]["send_at"]) == T("2027-10-31T00:30:00Z")
    # three days before the 31st of March, at 09:00 in Warsaw (CEST by then)
    a = whom(h, "sig")["anniversary"]["next"]
    assert (a["date"], a["years"]) == ("2027-03-31", 7)
    assert dt(a["send_at"]) == first_instant(datetime.date(2027, 3, 28), "09:00", "Europe/Warsaw")
    at(h, clock, T("2027-03-28T01:00:01Z"))
    assert [r["key"] for r in requests(h)] == ["milestone/birthday/w1/2027"]
    at(h, clock, T("2027-03-28T07:00:01Z"))
    assert [r["key"] for r in requests(h)][-1] == "milestone/anniversary/sig/2027"
    assert requests(h)[-1]["payload"]["vars"]["years"] == 7
    # switched off: nothing, however due
    st, _, body = h.request("PUT", "/v1/milestones/birthday", {"enabled": False}, auth)
    assert st == 202
    applied(h)
    at(h, clock, T("2027-10-31T00:30:01Z"))  # w2's instant, but off
    assert len(requests(h)) == 2
    h.stop()


def test_milestone__kill9_while_sending_a_batch_sends_each_exactly_once(make_hark, tmp_path):
    n = 1500
    h, clock = start(make_hark, tmp_path, T("2027-05-01T08:00:00Z"),
                     ("journal", "gateway", "milestone"), base_conf(batch="10"), "d")
    post(h, [customer("c%04d" % i, "UTC", "--05-01") for i in range(n)])
    applied(h)
    pid = h.pid("milestone")
    clock.set(T("2027-05-01T09:00:01Z"))
    # kill as soon as the journal has the first batch's requests (the journal
    # answers while hark-milestone is busy sending the rest)
    first = {"after": 0, "limit": 1, "types": ["mail.requested"]}
    wait_for(lambda: h.call(h.endpoint("journal.sock"), "JOURNAL_FETCH", first)[1]["events"],
             interval=0.002, what="the first requests")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: h.pid("milestone") not in (0, pid), what="milestone restarted")
    wait_for(lambda: status(h)["detail"].get("sent", 0) == n, timeout=60, what="all decided")
    # the killed process never logged its tick; the restarted one decided
    # what the killed one had not committed, and nothing twice
    after = sum(int(m) for m in re.findall(r"event=tick decided=\d+ sent=(\d+)", h.log()))
    assert 0 < after < n, "the kill did not land in the middle of the sending"
    reqs = requests(h)
    assert len(reqs) == n
    assert len({r["payload"]["customer_id"] for r in reqs}) == n
    assert sorted(r["key"] for r in reqs) == sorted("milestone/birthday/c%04d/2027" % i
                                                    for i in range(n))
    detail = status(h)["detail"]
    assert detail["sent"] == n and "missed" not in detail
    h.stop()


def test_milestone__check_config_names_the_line_of_a_bad_time_zone_or_coupon(make_hark):
    h = make_hark(services=("journal", "milestone"), start=False,
                  conf={"milestone": {"time": "9:00", "default_timezone": "Mars/Olympus",
                                      "coupon": "GIFT-2027", "feb29": "feb30"}})
    r = h.hark("check-config", check=False)
    assert r.returncode == 1
    lines = open(h.config).read().splitlines()
    for key in ("time", "default_timezone", "coupon", "feb29"):
        n = next(i + 1 for i, l in enumerate(lines) if l.startswith(key + " ="))
        assert "%s:%d: [milestone] %s" % (h.config, n, key) in r.stderr, (key, r.stderr)


def test_milestone__a_template_that_does_not_exist_is_a_400_naming_template(make_hark, tmp_path):
    tdir = tmp_path / "tpl"
    shutil.copytree(os.path.join(ROOT, "templates"), tdir)
    (tdir / "en" / "birthday_vip.md").write_text(
        (tdir / "en" / "birthday.md").read_text())
    conf = dict(base_conf(), mailer={"templates": str(tdir)})
    h = make_hark(services=("journal", "gateway", "milestone"), conf=conf)
    auth = {"Authorization": "Bearer " + h.admin_key}
    st, _, body = h.request("PUT", "/v1/milestones/birthday", {"template": "birthdy"}, auth)
    assert st == 400, body
    err = json.loads(body)["error"]
    assert err["field"] == "template" and "birthdy" in err["message"], err
    r = h.hark("milestone", "set", "anniversary", "--template", "no_such_template", check=False)
    assert r.returncode == 2 and "template" in r.stderr, r.stderr
    st, _, body = h.request("PUT", "/v1/milestones/birthday", {"template": "birthday_vip"}, auth)
    assert st == 202, body
    h.hark("milestone", "set", "anniversary", "--template", "anniversary")
    saved = [e["payload"].get("template") for e in h.fetch_all(types=["milestone.saved"])]
    assert saved == ["birthday_vip", "anniversary"]
    h.stop()


def test_milestone__a_long_name_in_any_script_reaches_the_message_whole(make_hark, tmp_path):
    """customer.json allows 200 characters of name: up to 800 bytes of UTF-8."""
    h, clock = start(make_hark, tmp_path, T("2027-06-01T08:00:00Z"),
                     ("journal", "gateway", "milestone"), base_conf(), "n")
    names = {"ru": "Александра" * 15, "zh": "王小明" * 50, "mix": "Zoë😀" * 50}
    post(h, [customer(c, "UTC", "--06-01", name=n) for c, n in names.items()])
    applied(h)
    at(h, clock, T("2027-06-01T09:00:01Z"))
    got = {r["payload"]["customer_id"]: r["payload"]["vars"].get("name") for r in requests(h)}
    assert got == names
    h.stop()
