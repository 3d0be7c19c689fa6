"""Hark Console end to end: a real journal, gateway, mailer, intake and
console, a real SMTP server, accounts made with `hark user` (password on
stdin), and a browser played by http.client over loopback, reading every page
with html.parser: signing in, throttles, cookies, CSRF, every route for every
role, the inbox, a case's page and its forms, and what they journal."""
import http.client
import json
import os
import re
import subprocess
import time
import urllib.parse
from html.parser import HTMLParser

import pytest

from harness import BIN, Hark, free_port, shop_conf, wait_for
from smtp import SmtpServer

SERVICES = ("journal", "gateway", "mailer", "intake", "console")
PASSWORD = "correct horse battery staple"

REASONS = """
[team.logistics]
email = logistics@example.com
days = all
hours = 0-24
timezone = UTC

[team.billing]
email = billing@example.com
days = all
hours = 0-24
timezone = UTC

[reason.shipping_delay]
label.en = Late delivery
label.pl = Opóźniona dostawa
team = logistics
first_response = 1h
keywords.en = late, delivery

[reason.price]
label.en = Price
label.pl = Cena
team = billing
first_response = 1h
keywords.en = expensive

[reason.other]
label.en = Other
team = billing
first_response = 1h
"""


# --- a small browser ---------------------------------------------------------
class Page(HTMLParser):
    """What a test reads of a page: its forms (action -> {name: [values]}),
    links, start tags, lang, and its text."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.forms, self.links, self.tags, self.text, self.lang = {}, [], [], [], None
        self.labels, self.ids, self._form = set(), set(), None
        self._in = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "form":
            self._form = a.get("action")
            self.forms.setdefault(self._form, {})
        elif tag in ("input", "textarea", "select") and self._form is not None and "name" in a:
            if tag == "input" and a.get("type") == "checkbox" and "checked" not in a:
                self.forms[self._form].setdefault(a["name"], [])
            else:
                self.forms[self._form].setdefault(a["name"], []).append(a.get("value", ""))
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "label" and "for" in a:
            self.labels.add(a["for"])
        self._in.append(tag)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None

    def handle_data(self, data):
        self.text.append(data)

    def all_text(self):
        return "".join(self.text)


class Browser:
    """One browser: its cookies, sent back as a browser would."""

    def __init__(self, port, lang=None):
        self.port, self.cookies, self.lang = port, {}, lang

    def request(self, method, path, fields=None, headers=None, raw=None):
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if self.lang:
            h.setdefault("Accept-Language", self.lang)
        body = raw
        if fields is not None:
            body = urllib.parse.urlencode(fields, doseq=True)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read().decode("utf-8", "replace")
            set_cookies = r.msg.get_all("Set-Cookie") or []
            for c in set_cookies:
                name, _, rest = c.partition("=")
                value = rest.split(";", 1)[0]
                if "Max-Age=0" in c:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value
            return r.status, r.msg, data, set_cookies
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def page(self, path):
        st, hdr, data, _ = self.get(path)
        assert st == 200, (path, st, data[:500])
        return Page(data)

    def login(self, name, password=PASSWORD, next_=None):
        p = self.page("/login")
        fields = {k: v[0] for k, v in p.forms["/login"].items() if v}
        fields.update(username=name, password=password)
        if next_:
            fields["next"] = next_
        return self.request("POST", "/login", fields)

    def submit(self, page, action, extra=None, drop=(), headers=None):
        """POST the form of page whose action is `action`, as a browser would,
        with fields changed by extra and fields in drop left out"""
        fields = {k: list(v) for k, v in page.forms[action].items() if k not in drop}
        for k, v in (extra or {}).items():
            fields[k] = v if isinstance(v, list) else [v]
        return self.request("POST", action, fields, headers=headers)


def add_user(h, name, role, password=PASSWORD, locale=None, check=True):
    args = [os.path.join(BIN, "hark"), "-c", h.config, "user", "add", name, "--role", role]
    if locale:
        args += ["--locale", locale]
    r = subprocess.run(args, input=password + "\n", capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def hark_user(h, *args, stdin=None):
    return subprocess.run([os.path.join(BIN, "hark"), "-c", h.config, "user"] + list(args),
                          input=stdin, capture_output=True, text=True, timeout=60)


def db_bytes(h):
    """console.db as stored: the file and its write-ahead log"""
    out = b""
    for name in ("console.db", "console.db-wal"):
        p = os.path.join(h.state, name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                out += f.read()
    return out


def start_console(tmp_path, smtp_port=None, clock=None, intake=None, services=SERVICES,
                  **console):
    reasons = tmp_path / "reasons.conf"
    reasons.write_text(REASONS)
    port = free_port()
    conf = shop_conf(smtp_port)
    conf["intake"] = dict({"reasons": str(reasons)}, **(intake or {}))
    conf["console"] = {"listen": "127.0.0.1:%d" % port,
                       "public_url": "http://127.0.0.1:%d" % port, "login_rate": "1000"}
    conf["console"].update(console)
    d = tmp_path / ("h-%d" % port)
    d.mkdir()
    h = Hark(d, services, conf)
    h.console_port = port
    h.console_origin = "http://127.0.0.1:%d" % port
    if clock is not None:
        h.env["HARK_CLOCK_FILE"] = str(clock)
    return h.start()


def complain(h, cid, text, email=None, locale="en"):
    st, body = h.post_events({"type": "customer", "data": {"id": cid, "email": email or
                                                           cid + "@example.com", "name": "Ola",
                                                           "locale": locale}})
    assert st == 202, body
    st, body = h.post_events({"type": "complaint", "data": {"customer_id": cid, "text": text}})
    assert st == 202, body
    return "C%d" % body["offsets"][0]


def case_page(b, case):
    """the case's page once hark-intake has it"""
    def ready():
        st, _, data, _ = b.get("/cases/" + case)
        return Page(data) if st == 200 else None
    return wait_for(ready, 30, what="case %s on the console" % case)


@pytest.fixture(scope="module")
def smtp_mod(tmp_path_factory):
    s = SmtpServer(tmp_path_factory.mktemp("smtp"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def con(tmp_path_factory, smtp_mod):
    """One instance for the tests that do not need settings of their own,
    with an account of each role."""
    h = start_console(tmp_path_factory.mktemp("console"), smtp_mod.port)
    add_user(h, "ada", "admin")
    add_user(h, "sam", "support", locale="pl")
    add_user(h, "mia", "marketer")
    yield h
    h.stop()


# --- the process and its accounts ------------------------------------------
def test_console__first_start_says_how_to_create_the_first_admin(con):
    line = next(l for l in con.log().splitlines() if "event=no_accounts" in l)
    assert "hark user add NAME --role admin" in line


def test_console__user_commands_keep_accounts_and_never_show_a_hash(con):
    r = hark_user(con, "list", "--json")
    assert r.returncode == 0, r.stderr
    users = {u["name"]: u for u in json.loads(r.stdout)["users"]}
    assert users["sam"]["role"] == "support" and users["sam"]["locale"] == "pl"
    assert "argon2" not in r.stdout and "hash" not in r.stdout
    # the contract of the control socket, checked by the harness
    cmd, body = con.call(con.endpoint("console.ctl"), "CONSOLE_USER_LIST")
    assert cmd == "CONSOLE_USER_LIST_OK" and {"ada", "sam", "mia"} <= {u["name"] for u in body["users"]}
    dup = add_user(con, "ada", "admin", check=False)
    assert dup.returncode == 2 and "already" in dup.stderr
    short = add_user(con, "tim", "support", password="short", check=False)
    assert short.returncode == 2 and "at least 10" in short.stderr
    bad = add_user(con, "tim", "boss", check=False)
    assert bad.returncode == 2
    # the password is never on the command line, and console.db holds a hash
    db = db_bytes(con)
    assert PASSWORD.encode() not in db and b"$argon2id$" in db


def test_console__disable_ends_sessions_and_reset_sets_a_new_password(con):
    add_user(con, "dora", "support")
    b = Browser(con.console_port)
    st, hdr, _, _ = b.login("dora")
    assert st == 303
    assert b.get("/cases")[0] == 200
    r = hark_user(con, "disable", "dora")
    assert r.returncode == 0 and "1 session ended" in r.stdout, r.stdout + r.stderr
    st, hdr, _, _ = b.get("/cases")
    assert st == 303 and hdr["Location"].startswith("/login")
    assert b.login("dora")[0] == 200  # disabled: refused like a wrong password
    r = hark_user(con, "reset", "dora", stdin="a brand new password\n")
    assert r.returncode == 0, r.stderr
    assert b.login("dora")[0] == 200  # the old password no longer works
    assert b.login("dora", "a brand new password")[0] == 303
    assert hark_user(con, "disable", "nobody").returncode == 2


# --- signing in -------------------------------------------------------------
def test_console__sign_in_sets_a_strict_session_cookie_and_bad_password_does_not(con):
    b = Browser(con.console_port)
    st, hdr, data, cookies = b.login("ada", "wrong password!")
    assert st == 200 and "Wrong name or password." in Page(data).all_text()
    assert not any(c.startswith("hark_console=") for c in cookies)
    st, hdr, data, cookies = b.login("nobody-at-all", "wrong password!")
    assert st == 200 and "Wrong name or password." in Page(data).all_text()
    st, hdr, data, cookies = b.login("ada", next_="/cases?status=all")
    assert st == 303 and hdr["Location"] == "/cases?status=all"
    (c,) = [c for c in cookies if c.startswith("hark_console=")]
    flags = [f.strip() for f in c.split(";")]
    assert "HttpOnly" in flags and "SameSite=Strict" in flags and "Path=/" in flags
    assert "Secure" not in flags  # public_url is http here
    assert len(flags[0].split("=", 1)[1]) == 64
    # the cookie's value is not what console.db keeps
    db = db_bytes(con)
    assert b"$argon2id$" in db and flags[0].split("=", 1)[1].encode() not in db
    st, hdr, data, _ = b.get("/cases")
    assert st == 200 and "ada" in Page(data).all_text()
    for name, value in (("Cache-Control", "no-store"), ("X-Frame-Options", "DENY"),
                        ("X-Content-Type-Options", "nosniff")):
        assert hdr[name] == value
    csp = hdr["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    # one script, the console's own file (the reply's live preview): no inline script
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "Strict-Transport-Security" not in hdr
    # an unsafe next is ignored
    b2 = Browser(con.console_port)
    for bad in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        st, hdr, _, _ = b2.login("ada", next_=bad)
        assert st == 303 and hdr["Location"] == "/", bad
        b2.cookies.clear()


def test_console__sign_out_ends_the_session(con):
    b = Browser(con.console_port)
    assert b.login("ada")[0] == 303
    p = b.page("/cases")
    kept = dict(b.cookies)
    st, hdr, _, _ = b.submit(p, "/logout")
    assert st == 303 and hdr["Location"] == "/login"
    b.cookies = kept  # a copy of the old cookie signs nobody in
    st, hdr, _, _ = b.get("/cases")
    assert st == 303 and hdr["Location"].startswith("/login")


def test_console__unauthenticated_page_redirects_to_login_with_next_and_back(con):
    b = Browser(con.console_port)
    st, hdr, _, _ = b.get("/cases/C1")
    assert st == 303 and hdr["Location"] == "/login?next=%2Fcases%2FC1"
    p = b.page(hdr["Location"])
    assert p.forms["/login"]["next"] == ["/cases/C1"]
    # the inbox's filters survive the detour through /login
    st, hdr, _, _ = b.get("/cases?status=all&team=logistics")
    assert hdr["Location"] == "/login?next=%2Fcases%3Fstatus%3Dall%26team%3Dlogistics"
    p = b.page(hdr["Location"])
    assert p.forms["/login"]["next"] == ["/cases?status=all&team=logistics"]
    st, hdr, _, _ = b.login("ada", next_=p.forms["/login"]["next"][0])
    assert st == 303 and hdr["Location"] == "/cases?status=all&team=logistics"
    assert {"username", "password"} <= p.labels  # every control has a label


def test_console__csrf_missing_or_wrong_and_foreign_origin_are_refused(con):
    b = Browser(con.console_port)
    assert b.login("ada")[0] == 303
    p = b.page("/cases")
    assert b.submit(p, "/logout", drop=("csrf",))[0] == 403
    assert b.submit(p, "/logout", extra={"csrf": "0" * 64})[0] == 403
    assert b.submit(p, "/logout", headers={"Origin": "http://evil.example"})[0] == 403
    assert b.get("/cases")[0] == 200  # none of them signed out
    # the sign-in form without its cookie, or from another site
    b2 = Browser(con.console_port)
    lp = b2.page("/login")
    b2.cookies.clear()
    assert b2.submit(lp, "/login", extra={"username": "ada", "password": PASSWORD})[0] == 403
    b3 = Browser(con.console_port)
    lp = b3.page("/login")
    st, _, _, _ = b3.submit(lp, "/login", extra={"username": "ada", "password": PASSWORD},
                            headers={"Origin": "http://evil.example"})
    assert st == 403
    st, _, _, _ = b3.submit(lp, "/login", extra={"username": "ada", "password": PASSWORD},
                            headers={"Origin": con.console_origin})
    assert st == 303


def test_console__failed_sign_ins_lock_the_account_not_others(con):
    add_user(con, "lou", "support")
    b = Browser(con.console_port)
    for _ in range(5):  # [console] login_failures, the default
        assert b.login("lou", "not the password")[0] == 200
    st, hdr, data, _ = b.login("lou")  # even the right password, for now
    assert st == 429 and int(hdr["Retry-After"]) > 800
    assert "Too many" in Page(data).all_text()
    assert b.login("ada")[0] == 303  # another account is not locked
    assert "event=login_locked user=lou" in con.log()


def test_console__sign_ins_per_address_are_throttled_and_https_cookie_is_secure(tmp_path):
    h = start_console(tmp_path, login_rate="3", public_url="https://console.example")
    try:
        add_user(h, "ada", "admin")
        b = Browser(h.console_port)
        st, hdr, _, cookies = b.login("ada")
        assert st == 303
        (c,) = [c for c in cookies if c.startswith("__Host-hark_console=")]
        assert "; Secure" in c and "SameSite=Strict" in c
        st, hdr, _, _ = b.get("/cases")
        assert st == 200 and hdr["Strict-Transport-Security"] == "max-age=31536000"
        # a POST from the origin public_url names is accepted, the http one not
        p = b.page("/cases")
        assert b.submit(p, "/logout", headers={"Origin": h.console_origin})[0] == 403
        codes = [Browser(h.console_port).login("ada", "wrong password!")[0] for _ in range(3)]
        assert codes == [200, 200, 429], codes
        st, hdr, _, _ = Browser(h.console_port).login("ada")
        assert st == 429 and 1 <= int(hdr["Retry-After"]) <= 60
    finally:
        h.stop()


# --- every route, every role ------------------------------------------------
ROUTES = [  # method, path, then what each of: nobody, admin, support, marketer gets
    ("GET", "/", ("/login", "/cases", "/cases", "/cases")),
    ("GET", "/cases", ("/login?next=%2Fcases", 200, 200, 200)),
    ("GET", "/cases/{case}", ("/login?next=%2Fcases%2F{case}", 200, 200, 200)),
    ("POST", "/cases/{case}/retag", ("/login", "/cases/{case}?done=retag",
                                     "/cases/{case}?done=retag", 403)),
    ("POST", "/cases/{case}/nothing", ("/login", 404, 404, 403)),
    ("POST", "/cases/{case}/note", ("/login", 400, 400, 403)),  # no text
    ("POST", "/cases/{case}/assign", ("/login", "/cases/{case}?done=assign",
                                      "/cases/{case}?done=assign", 403)),
    ("GET", "/cases/NOPE404", ("/login?next=%2Fcases%2FNOPE404", 404, 404, 404)),
    ("GET", "/loops/new", ("/login?next=%2Floops%2Fnew", 200, 200, 403)),
    ("POST", "/loops/new", ("/login", 400, 400, 403)),  # (no reason: 400)
    ("POST", "/loops/some-loop", (405, 405, 405, 405)),
    ("GET", "/templates", ("/login?next=%2Ftemplates", 200, 403, 200)),
    ("GET", "/templates/en/test", ("/login?next=%2Ftemplates%2Fen%2Ftest", 200, 403, 200)),
    ("GET", "/templates/en/nosuch", ("/login?next=%2Ftemplates%2Fen%2Fnosuch", 404, 403, 404)),
    ("POST", "/templates/en/test", ("/login", 400, 403, 400)),  # (no do: 400)
    ("GET", "/dashboard", ("/login?next=%2Fdashboard", 503, 403, 503)),  # no hark-survey here
    ("GET", "/login", (200, "/", "/", "/")),
    ("GET", "/console.css", (200, 200, 200, 200)),
    ("DELETE", "/cases", (405, 405, 405, 405)),
    ("POST", "/cases/{case}/preview", ("/login", 200, 200, 403)),  # no message: no preview
    ("GET", "/users", ("/login?next=%2Fusers", 200, 403, 403)),
    ("POST", "/users", ("/login", 400, 403, 403)),  # no name
    ("POST", "/users/nobody-here/enable", ("/login", 404, 403, 403)),
    ("POST", "/users/mia/nothing", ("/login", 404, 403, 403)),
    ("GET", "/users/mia", (405, 405, 405, 405)),
    ("GET", "/welcome/" + "0" * 64, (404, 404, 404, 404)),
    ("POST", "/welcome/" + "0" * 64, (404, 404, 404, 404)),
    ("GET", "/console.js", (200, 200, 200, 200)),
    ("GET", "/customers", ("/login?next=%2Fcustomers", 200, 403, 200)),
    ("POST", "/customers/route-c/nothing", ("/login", 404, 403, 404)),
]


def test_console__every_route_for_every_role_and_for_nobody(con):
    case = complain(con, "route-c", "late delivery")
    sessions = {None: Browser(con.console_port)}
    for name in ("ada", "sam", "mia"):
        sessions[name] = Browser(con.console_port)
        assert sessions[name].login(name)[0] == 303
    case_page(sessions["ada"], case)
    csrf = {n: b.page("/cases").forms["/logout"]["csrf"][0] for n, b in sessions.items() if n}
    for method, path, want in ROUTES:
        path = path.format(case=case)
        for who, expect in zip((None, "ada", "sam", "mia"), want):
            b = sessions[who]
            fields = None
            if method == "POST":
                fields = {"csrf": csrf.get(who, ""), "nonce": "%064x" % len(path),
                          "code": "other"}
            st, hdr, data, _ = b.request(method, path, fields)
            if isinstance(expect, str):
                expect = expect.format(case=case)
                assert (st, hdr.get("Location")) == (303, expect), (method, path, who, st, data[:300])
            else:
                assert st == expect, (method, path, who, st, data[:300])
            if st == 403:  # the page says which role the reader has, in their words
                title, role = {"ada": ("Not allowed", "admin"), "sam": ("Niedozwolone", "obsługa"),
                               "mia": ("Not allowed", "marketer")}[who]
                assert title in Page(data).all_text() and role in data
    # a marketer reads a case without the forms; support sees them
    assert set(case_page(sessions["mia"], case).forms) == {"/logout"}
    assert "/cases/%s/reply" % case in case_page(sessions["sam"], case).forms


# --- pages ------------------------------------------------------------------
def test_console__inbox_shows_a_new_complaint_with_its_clock_in_words(con):
    b = Browser(con.console_port)
    assert b.login("ada")[0] == 303
    case = complain(con, "inbox-c", "my parcel is late again")

    def row():
        p = Page(b.get("/cases?status=open&team=logistics")[2])
        return p if "/cases/" + case in p.links else None
    p = wait_for(row, 30, what="the complaint in the inbox")
    text = p.all_text()
    assert "Late delivery" in text and "logistics" in text and "inbox-c" in text
    assert re.search(r"due in \d+ min", text)
    assert p.lang == "en" and {"status", "team", "reason"} <= p.labels
    # filters are checked: an unknown team is a 400 page, not an empty list
    assert b.get("/cases?team=nobody")[0] == 400
    # another team's filter leaves it out
    assert "/cases/" + case not in Page(b.get("/cases?team=billing")[2]).links


def test_console__a_case_the_tagger_was_unsure_of_says_it_needs_a_reason_until_retagged(con):
    b = Browser(con.console_port)
    assert b.login("ada")[0] == 303
    unsure = complain(con, "unsure-c", "hello, about my order")
    sure = complain(con, "unsure-c", "my parcel is late again")

    def rows():
        p = Page(b.get("/cases?status=open")[2])
        return p if {"/cases/" + unsure, "/cases/" + sure} <= set(p.links) else None
    wait_for(rows, 30, what="both cases in the inbox")
    _, _, raw, _ = b.get("/cases?status=open")
    row = {c: r for r in re.findall(r"<tr class=\"case.*?</tr>", raw, re.S)
           for c in (unsure, sure) if "/cases/%s\"" % c in r}
    assert "needs a reason" in row[unsure] and "needs a reason" not in row[sure]
    p = case_page(b, unsure)
    assert "needs a reason" in p.all_text()
    assert b.submit(p, "/cases/%s/retag" % unsure, extra={"code": ["price"]})[0] == 303
    wait_for(lambda: "needs a reason" not in case_page(b, unsure).all_text(), 30,
             what="the mark gone after the retag")


def test_console__inbox_lists_breached_first_and_pages(tmp_path):
    clock = tmp_path / "clock"
    clock.write_text("0")
    h = start_console(tmp_path, clock=clock, page_size="5", session_idle="3h", session_max="4h")
    try:
        add_user(h, "ada", "admin")
        b = Browser(h.console_port)
        assert b.login("ada")[0] == 303
        old = complain(h, "old-c", "too expensive")
        case_page(b, old)
        clock.write_text("7200")  # two hours on: past the 1h target, unanswered
        time.sleep(0.3)  # each thread keeps the clock file's value for 100 ms
        new = [complain(h, "new-c%d" % i, "late delivery") for i in range(5)]
        case_page(b, new[-1])

        def first_page():
            p = Page(b.get("/cases")[2])
            cases = [l for l in p.links if l.startswith("/cases/")]
            # BREACHED once hark-intake's breach timer has seen it (OVERDUE before)
            return p if cases and cases[0] == "/cases/" + old and "BREACHED" in p.all_text() \
                else None
        p = wait_for(first_page, 30, what="the breached case first")
        assert len([l for l in p.links if l.startswith("/cases/C")]) == 5
        assert "BREACHED" in p.all_text() and "Page 1 / 2" in p.all_text()
        nxt = [l for l in p.links if "page=2" in l]
        assert nxt == ["/cases?status=open&page=2"]
        p2 = Page(b.get(nxt[0])[2])
        assert len([l for l in p2.links if l.startswith("/cases/C")]) == 1
        assert "/cases?status=open&page=1" in p2.links
        # sessions end session_max after sign-in however busy, and
        # session_idle after their last use
        b2 = Browser(h.console_port)
        assert b2.login("ada")[0] == 303  # at 2 h
        clock.write_text(str(7200 + 9000))  # 4.5 h: b's is too old, idle only 2.5 h
        time.sleep(0.3)  # each thread keeps the clock file's value for 100 ms
        wait_for(lambda: b.get("/cases")[0] == 303, 30, what="the session to end at session_max")
        clock.write_text(str(7200 + 12600))  # b2's unused 3.5 h, 3.5 h old
        time.sleep(0.3)  # a request read at the old time would count as a use
        wait_for(lambda: b2.get("/cases")[0] == 303, 30, what="the idle session to end")
        assert b.login("ada")[0] == 303 and b.get("/cases")[0] == 200
    finally:
        h.stop()


def test_console__case_page_escapes_customer_text_and_keeps_line_breaks(con):
    b = Browser(con.console_port)
    assert b.login("ada")[0] == 303
    evil = 'late <script>alert(1)</script>\n<a href="http://evil.example">click</a> & more'
    case = complain(con, "evil-c", evil)
    p = case_page(b, case)
    # no script but the console's own file (the reply's live preview)
    assert [a for t, a in p.tags if t == "script"] == [{"src": "/console.js", "defer": None}]
    assert "http://evil.example" not in p.links
    assert evil in p.all_text()  # shown as typed, line break included
    st, _, raw, _ = b.get("/cases/" + case)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\n&lt;a href=" in raw


def test_console__reply_from_the_page_is_mailed_in_the_customers_language(con, smtp_mod):
    b = Browser(con.console_port)
    assert b.login("sam")[0] == 303  # sam's console is in Polish
    case = complain(con, "reply-c", "late delivery", email="ola@example.com", locale="pl")
    p = case_page(b, case)
    assert p.lang == "pl"
    action = "/cases/%s/reply" % case
    st, hdr, _, _ = b.submit(p, action, extra={"message": "Przepraszamy, **paczka** wyszła."})
    assert st == 303 and hdr["Location"] == "/cases/%s?done=reply" % case
    again = b.submit(p, action, extra={"message": "Przepraszamy, **paczka** wyszła."})
    assert again[0] == 303  # the same form twice: one event, one mail

    def reply_mail():
        return [m for m in smtp_mod.messages() if m["To"].addresses[0].addr_spec ==
                "ola@example.com" and "Odpowiedź na Twoje zgłoszenie" in m["Subject"]]
    (m,) = wait_for(reply_mail, 30, what="the reply at the SMTP server")
    assert case in m["Subject"]
    assert "paczka" in m.get_body(("plain",)).get_content()
    replies = [e for e in con.fetch_all(["case.replied"]) if e["payload"]["case"] == case]
    assert len(replies) == 1 and replies[0]["payload"]["by"] == "user:sam"
    # an empty reply is refused beside the field, nothing journaled
    p = case_page(b, case)
    st, _, data, _ = b.submit(p, action, extra={"message": "   "})
    assert st == 400 and "message-error" in Page(data).ids


def test_console__retag_and_resolve_are_journaled_by_the_user(con):
    b = Browser(con.console_port)
    assert b.login("ada")[0] == 303
    case = complain(con, "retag-c", "late delivery")
    p = case_page(b, case)
    assert p.forms["/cases/%s/retag" % case]["code"] == ["shipping_delay"]
    st, _, _, _ = b.submit(p, "/cases/%s/retag" % case, extra={"code": ["price", "other"]})
    assert st == 303
    assert b.submit(p, "/cases/%s/retag" % case, extra={"code": ["nonsense"]})[0] == 400
    assert b.submit(p, "/cases/%s/retag" % case, extra={"code": []})[0] == 400
    p = case_page(b, case)
    assert b.submit(p, "/cases/%s/resolve" % case)[0] == 303
    retag = [e for e in con.fetch_all(["case.retagged"]) if e["payload"]["case"] == case]
    resolve = [e for e in con.fetch_all(["case.resolved"]) if e["payload"]["case"] == case]
    assert [e["payload"] for e in retag] == [{"case": case, "by": "user:ada",
                                             "codes": ["price", "other"]}]
    assert [e["payload"] for e in resolve] == [{"case": case, "by": "user:ada"}]

    def applied():
        p = case_page(b, case)
        return p if "resolved" in p.all_text() and "user:ada" in p.all_text() else None
    p = wait_for(applied, 30, what="the history to show the changes")
    assert "/cases/%s/resolve" % case not in p.forms  # resolved: no resolve form


def _history(b, case, want):
    """the case page once its history has a row holding every string of want"""
    def ready():
        case_page(b, case)
        st, _, raw, _ = b.get("/cases/" + case)
        rows = re.findall(r"<tr>(.*?)</tr>", raw.split('class="notes"', 1)[-1], re.S)
        # the page read is the one checked (an older one may predate the change)
        return Page(raw) if any(all(w in r for w in want) for r in rows) else None
    return wait_for(ready, 30, what="%s in the history of %s" % (want, case))


def test_console__an_internal_note_shows_in_the_history_with_who_and_is_never_mailed(
        con, smtp_mod):
    b = Browser(con.console_port)
    assert b.login("sam")[0] == 303
    case = complain(con, "note-c", "late delivery", email="note-c@example.com")
    p = case_page(b, case)
    action = "/cases/%s/note" % case
    assert "note-text" in p.labels and "csrf" in p.forms[action]
    note = "Called the depot: parcel 7731 is stuck <b>in Łódź</b>"
    st, hdr, _, _ = b.submit(p, action, extra={"text": note})
    assert st == 303 and hdr["Location"] == "/cases/%s?done=note" % case
    assert b.submit(p, action, extra={"text": note})[0] == 303  # a double click: one note
    p = _history(b, case, ["user:sam", "in Łódź"])
    # every line says who and when, the when in the reader's words (sam reads Polish)
    st, _, raw, _ = b.get("/cases/" + case)
    rows = re.findall(r"<tr><td>(.*?)</tr>", raw.split('class="notes"', 1)[1], re.S)
    assert len(rows) >= 2 and all("<time datetime=" in r and " temu)" in r for r in rows)
    assert "note-c" in rows[0]  # opened: by the customer
    st, _, raw, _ = b.get("/cases/" + case)
    assert raw.count("Called the depot") == 1 and "&lt;b&gt;in Łódź&lt;/b&gt;" in raw
    noted = [e["payload"] for e in con.fetch_all(["case.noted"]) if e["payload"]["case"] == case]
    assert noted == [{"case": case, "text": note, "by": "user:sam"}]
    # never mailed: no mail request carries it, no message at the SMTP server
    wait_for(lambda: [m for m in smtp_mod.messages() if case in m["Subject"]], 30,
             what="the acknowledgement (mail flows)")
    assert not [e for e in con.fetch_all(["mail.requested"]) if "stuck" in json.dumps(e)]
    assert not [m for m in smtp_mod.messages() if "stuck" in m.as_string()]
    # an empty note is refused beside its field; a marketer may not write one
    st, _, data, _ = b.submit(case_page(b, case), action, extra={"text": "  "})
    assert st == 400 and "note-error" in Page(data).ids
    m = Browser(con.console_port)
    assert m.login("mia")[0] == 303
    csrf = m.page("/cases").forms["/logout"]["csrf"][0]
    assert m.request("POST", action, {"csrf": csrf, "nonce": "a" * 64, "text": "x"})[0] == 403


def test_console__assign_to_a_staff_member_shows_in_the_inbox_and_its_filter(con):
    b = Browser(con.console_port)
    assert b.login("ada")[0] == 303
    case = complain(con, "assign-c", "late delivery")
    other = complain(con, "assign-d", "late delivery")
    p = case_page(b, case)
    action = "/cases/%s/assign" % case
    assert "assignee" in p.labels
    assert " selected" not in b.get("/cases/" + case)[2].split('id="assignee"')[1].split("</select>")[0]
    # a name that is no account is refused
    assert b.submit(p, action, extra={"assignee": "nobody-here"})[0] == 400
    st, hdr, _, _ = b.submit(p, action, extra={"assignee": "sam"})
    assert st == 303 and hdr["Location"] == "/cases/%s?done=assign" % case
    p = _history(b, case, ["user:ada", "assigned to sam"])
    assert '<option value="sam" selected>' in b.get("/cases/" + case)[2]
    ev = [e["payload"] for e in con.fetch_all(["case.assigned"]) if e["payload"]["case"] == case]
    assert ev == [{"case": case, "assignee": "sam", "by": "user:ada"}]
    # sam's "mine": the case, not the other one; the inbox shows the column
    s = Browser(con.console_port)
    assert s.login("sam")[0] == 303
    inbox = s.page("/cases")
    mine = [l for l in inbox.links if "assignee=sam" in l]
    assert mine, inbox.links
    st, _, raw, _ = s.get(mine[0].replace("&amp;", "&"))
    assert st == 200 and "/cases/%s\"" % case in raw and "/cases/%s\"" % other not in raw
    st, _, raw, _ = s.get("/cases?status=all&assignee=ada")
    assert st == 200 and "/cases/%s\"" % case not in raw
    st, _, raw, _ = b.get("/cases?status=all")
    row = [r for r in raw.split("<tr") if "/cases/%s\"" % case in r][0]
    assert "<td>sam</td>" in row
    assert b.get("/cases?assignee=%3Cx%3E")[0] == 400
    # unassign
    st, _, _, _ = b.submit(case_page(b, case), action, extra={"assignee": ""})
    assert st == 303
    _history(b, case, ["user:ada", "unassigned"])
    st, _, raw, _ = s.get(mine[0].replace("&amp;", "&"))
    assert "/cases/%s\"" % case not in raw


def test_console__reopen_a_resolved_case_keeps_its_first_response(con):
    b = Browser(con.console_port)
    assert b.login("sam")[0] == 303
    case = complain(con, "reopen-c", "late delivery")
    p = case_page(b, case)
    assert "/cases/%s/reopen" % case not in p.forms  # open: nothing to reopen
    assert b.submit(p, "/cases/%s/reply" % case, extra={"message": "On its way."})[0] == 303
    assert b.submit(case_page(b, case), "/cases/%s/resolve" % case)[0] == 303
    p = _history(b, case, ["user:sam", "resolved"])
    st, hdr, _, _ = b.submit(p, "/cases/%s/reopen" % case)
    assert st == 303 and hdr["Location"] == "/cases/%s?done=reopen" % case
    p = _history(b, case, ["user:sam", "reopened"])
    raw = b.get("/cases/" + case)[2]
    assert 'class="clock answered"' in raw  # the first response still counts
    assert "/cases/%s/resolve" % case in p.forms and "/cases/%s/reopen" % case not in p.forms
    st, _, raw, _ = b.get("/cases?status=open")
    assert "/cases/%s\"" % case in raw
    ev = [e["payload"] for e in con.fetch_all(["case.reopened"]) if e["payload"]["case"] == case]
    assert ev == [{"case": case, "by": "user:sam"}]


def test_console__the_customers_story_is_escaped_and_links_their_other_cases(con):
    b = Browser(con.console_port)
    assert b.login("ada")[0] == 303
    evil = "<script>alert(1)</script>"
    st, body = con.post_events({"type": "customer", "data": {
        "id": "story-c", "email": "story@example.com", "name": evil, "locale": "pl",
        "timezone": "Europe/Warsaw"}})
    assert st == 202, body
    first, second = None, None
    for text in ("too expensive", "late delivery"):
        st, body = con.post_events({"type": "complaint", "data": {"customer_id": "story-c",
                                                                  "text": text}})
        assert st == 202, body
        first, second = second, "C%d" % body["offsets"][0]
    lone = complain(con, "story-d", "late delivery")
    p = case_page(b, second)
    st, _, raw, _ = b.get("/cases/" + second)
    assert all(a.get("src") == "/console.js" for t, a in p.tags if t == "script")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw and evil in p.all_text()
    for fact in ("story@example.com", "Europe/Warsaw"):
        assert fact in p.all_text()
    assert "/cases/" + first in p.links and "/cases/" + second not in p.links
    assert not [l for l in p.links if "story@example.com" in l]  # text, never a link
    assert "/cases/" + first not in case_page(b, lone).links
    # whether mail reaches them is hark-mailer's to say
    assert "reaches them" in p.all_text()
    cmd, r = con.call(con.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": [
        {"type": "mail.unsubscribed", "key": "test/unsub/story",
         "payload": {"address": "Story@example.com", "customer_id": "story-c", "via": "page"}}]})
    assert cmd == "JOURNAL_APPEND_OK", r
    wait_for(lambda: "suppressed: they unsubscribed" in case_page(b, second).all_text(), 30,
             what="the suppression on the case page")
    assert "reaches them" in case_page(b, lone).all_text()


def test_console__hark_cases_note_assign_reopen_and_the_intake_filters(con, tmp_path):
    case = complain(con, "cli-c", "late delivery")
    other = complain(con, "cli-d", "late delivery")
    note = tmp_path / "note.txt"
    note.write_text("checked the warehouse")
    con.hark("cases", "note", case, "--text-file", str(note))
    con.hark("cases", "assign", case, "sam")
    con.hark("cases", "resolve", case)
    con.hark("cases", "reopen", case)
    bad = subprocess.run([os.path.join(BIN, "hark"), "-c", con.config, "cases", "assign", case,
                          "not a name"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2

    def applied():
        cmd, r = con.call(con.endpoint("intake.ctl"), "INTAKE_CASES", {"id": case})
        c = r["cases"][0] if cmd == "INTAKE_CASES_OK" else {}
        kinds = [n["kind"] for n in c.get("notes", [])]
        return c if "reopened" in kinds else None
    c = wait_for(applied, 30, what="the CLI's events applied")
    assert c["assignee"] == "sam" and c["status"] == "open"
    (n,) = [n for n in c["notes"] if n["kind"] == "note" and n.get("by", "").startswith("cli:")]
    assert n["text"] == "checked the warehouse"
    assert c["customer"]["email"] == "cli-c@example.com"
    cmd, r = con.call(con.endpoint("intake.ctl"), "INTAKE_CASES", {"assignee": "sam"})
    ids = [x["id"] for x in r["cases"]]
    assert case in ids and other not in ids
    cmd, r = con.call(con.endpoint("intake.ctl"), "INTAKE_CASES", {"customer_id": "cli-d"})
    assert [x["id"] for x in r["cases"]] == [other]
    cmd, r = con.call(con.endpoint("intake.ctl"), "INTAKE_CASES", {"assignee": ""})
    ids = [x["id"] for x in r["cases"]]
    assert other in ids and case not in ids


def test_console__pages_speak_the_accounts_language_else_the_browsers(con):
    for header, lang, word in (("ru-RU,ru;q=0.9,en;q=0.5", "ru", "Вход"), ("zh-CN", "zh", "登录"),
                               ("be", "be", "Уваход"), ("de-DE,pl;q=0.5", "pl", "Logowanie"),
                               ("de", "en", "Sign in")):
        p = Page(Browser(con.console_port, lang=header).get("/login")[2])
        assert (p.lang, p.forms["/login"]["csrf"] != []) == (lang, True), header
        assert word in p.all_text(), header
    ada = Browser(con.console_port, lang="ru")  # no --locale: the browser's
    assert ada.login("ada")[0] == 303
    p = ada.page("/cases")
    assert p.lang == "ru" and "Обращения" in p.all_text()
    sam = Browser(con.console_port, lang="ru")  # --locale pl wins
    assert sam.login("sam")[0] == 303
    p = sam.page("/cases")
    assert p.lang == "pl" and "Zgłoszenia" in p.all_text()


def test_console__a_malformed_or_oversized_request_gets_the_console_page_in_the_readers_language(
        con):
    # the console stands behind the gateway's front door (common/httpd.c):
    # what it refuses before any page runs is still a console page
    import socket
    for raw, status in ((b"GET /cases HTTP/1.1\r\nHost: x\r\nAccept-Language: pl\r\nX-Big: " +
                         b"a" * 20000 + b"\r\n\r\n", 431),
                        (b"GET /cases HTTP/1.1\r\nAccept-Language: pl\r\n\r\n", 400)):
        s = socket.create_connection(("127.0.0.1", con.console_port), timeout=10)
        s.sendall(raw)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        s.close()
        head, _, body = got.partition(b"\r\n\r\n")
        assert int(head.split()[1]) == status
        assert b"text/html" in head and b"default-src 'none'" in head
        page = Page(body.decode())
        assert page.lang == "pl", body[:300]


# --- closing the loop (/loops, /loops/new, /loops/ID) -------------------------
LOOP_SERVICES = ("journal", "gateway", "mailer", "loop", "console")
RU_TITLE, PL_TITLE = "Доставка быстрее", "Szybsza dostawa"
RU_MSG = "Мы сменили **курьера**: теперь заказы приходят за 2 дня."
PL_MSG = "Zmieniliśmy **kuriera**: zamówienia docierają w 2 dni."
EN_TITLE, EN_MSG = "Faster delivery <b>now</b>", "We moved to a **new courier**."
SAID = "<script>alert(1)</script> took three weeks"


def _loop_console(tmp_path, smtp_port):
    """a console with hark-loop beside it, and feedback tagged shipping_delay
    from customers writing in ru, pl, en and de (no text of its own: the
    fallback), put into the journal as hark-intake would"""
    reasons = tmp_path / "reasons.conf"
    reasons.write_text(REASONS)
    port = free_port()
    conf = shop_conf(smtp_port)
    conf["intake"] = {"reasons": str(reasons)}
    conf["console"] = {"listen": "127.0.0.1:%d" % port,
                       "public_url": "http://127.0.0.1:%d" % port, "login_rate": "1000"}
    h = Hark(tmp_path, LOOP_SERVICES, conf)
    h.console_port = port
    h.start()
    events = []
    for cid, email, loc in (("c-ru", "ivan@example.ru", "ru"), ("c-pl", "ola@example.pl", "pl"),
                            ("c-en", "anna@example.com", "en"),
                            ("c-de", "dora@example.de", "de"),
                            ("c-ru2", "Ivan@Example.ru", "ru")):  # c-ru's address: told once
        events.append({"type": "customer", "key": "test/customer/" + cid,
                       "payload": {"id": cid, "email": email, "locale": loc}})
        events.append({"type": "feedback.tagged", "key": "test/tagged/" + cid,
                       "payload": {"case": "k-" + cid, "customer_id": cid, "kind": "complaint",
                                   "codes": ["shipping_delay"], "via": "customer",
                                   "given_at": "2026-03-05T10:00:00Z", "text": SAID}})
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": events})
    assert cmd == "JOURNAL_APPEND_OK", r
    add_user(h, "sam", "support")
    add_user(h, "mia", "marketer")
    return h


def _counts(page):
    """the counts table of /loops/new: {locale: (customers, which text)}"""
    rows = re.findall(r"<tr><td>([^<]*)</td><td>(\d+)</td><td>([^<]*)</td></tr>", page)
    return {loc: (int(n), text) for loc, n, text in rows}


def test_console__support_closes_a_loop_per_locale_with_preview_progress_and_report(tmp_path):
    (tmp_path / "smtp").mkdir()
    (tmp_path / "h").mkdir()
    smtp = SmtpServer(tmp_path / "smtp")
    h = _loop_console(tmp_path / "h", smtp.port)
    try:
        b = Browser(h.console_port)
        assert b.login("sam")[0] == 303
        p = b.page("/loops")
        assert "/loops/new" in p.links and "/loops" in p.links
        p = b.page("/loops/new")
        assert ("option", {"value": "shipping_delay"}) in p.tags

        # after picking the reason: who would hear, per locale
        def picked():
            st, _, data, _ = b.get("/loops/new?reason=shipping_delay")
            return data if st == 200 and len(_counts(data)) == 4 else None
        data = wait_for(picked, 30, what="the counts per locale")
        counts = _counts(data)
        assert {k: v[0] for k, v in counts.items()} == {"ru": 1, "pl": 1, "en": 1, "de": 1}
        assert counts["de"][1] == "falls back to en"
        assert "same address as another customer: 1" in Page(data).all_text()  # in words
        form = Page(data).forms["/loops/new"]
        assert {"title.ru", "message.ru", "title.pl", "message.pl", "title.de"} <= set(form)
        assert "title.en" not in form  # the fallback is written in en
        for f in ("title", "message", "title-ru", "message-ru", "fallback"):
            assert f in Page(data).labels

        # the preview: the exact email per locale, who falls back, all escaped
        texts = {"title": EN_TITLE, "message": EN_MSG, "title.ru": RU_TITLE,
                 "message.ru": RU_MSG, "title.pl": PL_TITLE, "message.pl": PL_MSG,
                 "do": "preview", "reason": "shipping_delay"}  # (the picker's select too)
        st, _, data, _ = b.submit(Page(data), "/loops/new", extra=texts)
        assert st == 200, re.findall(r"class=\"err\"[^<]*<", data) or data[:500]
        counts = _counts(data)
        assert counts["ru"][1] == "own text (ru)" and counts["pl"][1] == "own text (pl)"
        assert counts["de"][1] == "falls back to en" and counts["en"][1] == "the fallback (en)"
        page = Page(data)
        text = page.all_text()
        assert "de: falls back to en" in text and "ru: own text (ru)" in text and \
            "en: the fallback (en)" in text, re.findall(r"<h3>.*</h3>", data)
        assert RU_TITLE in text and PL_TITLE in text and "Мы сменили" in text
        assert SAID in text  # the customer's words, quoted in the email, as text
        assert "<script>alert(1)" not in data and "<b>now</b>" not in data
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in data
        assert not [t for t, a in page.tags if t in ("iframe", "script")]
        assert page.forms["/loops/new"]["title.ru"] == [RU_TITLE]  # kept for the close
        assert h.fetch_all(["loop.closed"]) == []
        # a bad form is the form again with what is wrong, and nothing journaled
        assert b.get("/loops/new?reason=nope")[0] == 400
        st, _, data, _ = b.submit(page, "/loops/new", extra=dict(texts, message=""))
        assert st == 400 and 'role="alert"' in data and "announcement" in data
        st, _, data, _ = b.submit(page, "/loops/new", extra=dict(texts, **{"message.ru": ""}))
        assert st == 400 and "texts.ru" in Page(data).all_text()
        assert Page(data).forms["/loops/new"]["title.ru"] == [RU_TITLE]  # kept
        assert b.submit(page, "/loops/new", extra=dict(texts, nonce="x"))[0] == 400
        assert h.fetch_all(["loop.closed"]) == []

        # a marketer reads the report but may not close; no CSRF token: 403
        m = Browser(h.console_port)
        assert m.login("mia")[0] == 303
        mp = m.page("/loops")
        assert "/loops/new" not in mp.links
        assert m.get("/loops/new")[0] == 403
        csrf = mp.forms["/logout"]["csrf"][0]
        fields = dict(page.forms["/loops/new"], **texts)  # (the parser keeps no textarea)
        fields.update(csrf=csrf, do="close")
        assert m.request("POST", "/loops/new", fields)[0] == 403
        assert b.submit(page, "/loops/new", extra=dict(texts, do="close"), drop=("csrf",))[0] == 403
        assert h.fetch_all(["loop.closed"]) == []

        # the close, sent twice (a double click): one event, one mail each
        st, hdr, _, _ = b.submit(page, "/loops/new", extra=dict(texts, do="close"))
        assert st == 303 and hdr["Location"].startswith("/loops/shipping_delay-"), hdr
        loop_url = hdr["Location"]
        st2, hdr2, _, _ = b.submit(page, "/loops/new", extra=dict(texts, do="close"))
        assert (st2, hdr2["Location"]) == (303, loop_url)

        # the loop's page: a progress bar fed by the loop's own counts, refreshing
        # itself while it sends, then the report
        seen = []

        def done():
            st, _, data, _ = b.get(loop_url)
            assert st == 200
            refresh = '<meta http-equiv="refresh" content="2">' in data
            seen.append(refresh)
            if "4 of 5 told" in Page(data).all_text() and not refresh:
                return data
            assert refresh, data  # not done yet: the page comes back by itself
            return None
        data = wait_for(done, 60, what="the loop sent")
        lp = Page(data)
        assert ("progress", {"max": "5", "value": "5"}) in lp.tags  # c-ru2: skipped
        assert "user:sam" in lp.all_text() and "pl, ru" in lp.all_text()
        (closed,) = h.fetch_all(["loop.closed"])
        pl = closed["payload"]
        assert pl["by"] == "user:sam" and pl["title"] == EN_TITLE
        assert pl["texts"] == {"ru": {"title": RU_TITLE, "announcement": RU_MSG},
                               "pl": {"title": PL_TITLE, "announcement": PL_MSG}}
        assert loop_url == "/loops/" + pl["loop"]

        # each customer reads their own language, the others the English fallback
        smtp.wait_messages(4)
        time.sleep(1)
        by = {str(msg["To"]).split("<")[-1].rstrip(">"): msg for msg in smtp.messages()}
        assert len(smtp.messages()) == 4 and len(by) == 4
        body = {a: "".join(part.get_content() for part in msg.walk()
                           if part.get_content_type() == "text/plain")
                for a, msg in by.items()}
        assert RU_TITLE in str(by["ivan@example.ru"]["Subject"]) and "курьера" in body["ivan@example.ru"]
        assert PL_TITLE in str(by["ola@example.pl"]["Subject"]) and "kuriera" in body["ola@example.pl"]
        for a in ("anna@example.com", "dora@example.de"):
            assert "Faster delivery" in str(by[a]["Subject"]) and "new courier" in body[a]
            assert RU_TITLE not in body[a] and PL_TITLE not in body[a]

        # the report: who closed it and when, newest first, and the counts
        rp = b.page("/loops")
        assert loop_url in rp.links and "user:sam" in rp.all_text()
        assert re.search(r"<td>Late delivery \(shipping_delay\)</td><td>5</td><td>5</td>"
                         r"<td>1</td><td>4</td><td>0</td><td>pl, ru</td>",
                         b.get("/loops")[2])
    finally:
        h.stop()
        smtp.stop()
