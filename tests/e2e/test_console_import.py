"""Hark Console's /import and /export over HTTP: a multipart upload with
CSRF, the mapping pre-filled from the headers, the preview naming each bad
cell, the import's progress and summary, a re-run that imports nothing
twice, the CSV downloads, and support refused."""
import csv
import io
import re
import uuid

import pytest

from harness import wait_for
from test_console import Browser, Page, add_user, start_console

SERVICES = ("journal", "gateway", "mailer", "intake", "milestone", "survey", "console")

CSV = ("\ufeffKundennummer,E-mail,Full name,Язык,Birthday\r\n"
       "c1,anna@example.com,\"Smith, Anna\",en,1990-04-12\r\n"
       "c2,not-an-address,Иван,ru,1990-13-01\r\n"
       "c3,li@example.com,李小龙,zh,\r\n"
       "c4,ola@example.com,=cmd(),pl,\r\n")


def multipart(fields, files):
    """a multipart/form-data body as a browser sends it: (content type, bytes)"""
    boundary = "----hark" + uuid.uuid4().hex
    out = io.BytesIO()
    for k, v in fields.items():
        out.write(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                   % (boundary, k, v)).encode())
    for k, (name, data) in files.items():
        out.write(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                   "Content-Type: text/csv\r\n\r\n" % (boundary, k, name)).encode())
        out.write(data + b"\r\n")
    out.write(("--%s--\r\n" % boundary).encode())
    return "multipart/form-data; boundary=" + boundary, out.getvalue()


def upload(b, h, kind, name, data, csrf=None):
    p = b.page("/import")
    token = csrf if csrf is not None else p.forms["/import"]["csrf"][0]
    ct, body = multipart({"csrf": token, "kind": kind}, {"file": (name, data)})
    return b.request("POST", "/import", headers={"Content-Type": ct, "Origin": h.console_origin},
                     raw=body)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    h = start_console(tmp_path_factory.mktemp("imp"), services=SERVICES)
    add_user(h, "ada", "admin")
    add_user(h, "sam", "support")
    add_user(h, "mia", "marketer")
    yield h
    h.stop()


def signed_in(h, name):
    b = Browser(h.console_port)
    st, hdr, _, _ = b.login(name)
    assert st == 303, st
    return b


def form_of(b, path):
    """the mapping form as a browser would send it: each select's selected option"""
    st, _, html, _ = b.get(path)
    assert st == 200, html[:300]
    fields = {"csrf": re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)}
    for name, opts in re.findall(r'<select id="(f_\w+)"[^>]*>(.*?)</select>', html, re.S):
        m = re.search(r'<option value="(\d*)" selected>', opts)
        fields[name] = m.group(1) if m else ""
    return fields


def summary(b, path):
    def done():
        st, _, data, _ = b.get(path)
        return Page(data) if st == 200 and 'id="summary"' in data else None
    return wait_for(done, 60, what="the import's summary")


def test_console_import__upload_map_preview_run_and_the_summary(con):
    b = signed_in(con, "mia")
    home = b.page("/cases")
    assert "/import" in home.links and "/export" in home.links   # marketers see it in the nav
    st, hdr, data, _ = upload(b, con, "customers", "shop.csv", CSV.encode("utf-8"))
    assert st == 303, data[:300]
    path = hdr["Location"]
    assert re.fullmatch(r"/import/[0-9a-f]{32}", path)
    p = b.page(path)
    form = p.forms[path]
    # pre-filled from the headers: E-mail, Full name, Язык, Birthday; not Kundennummer
    assert form["f_email"] == ["1"] or "f_email" in form
    html = b.get(path)[2]
    assert re.search(r'<select id="f_email"[^>]*>.*?<option value="1" selected>B: E-mail', html, re.S)
    assert re.search(r'<select id="f_name"[^>]*>.*?<option value="2" selected>C: Full name', html, re.S)
    assert re.search(r'<select id="f_locale"[^>]*>.*?<option value="3" selected>D: Язык', html, re.S)
    assert re.search(r'<select id="f_id"[^>]*><option value="" selected>', html, re.S)
    # running without the required id is refused beside the mapping
    fields = {"csrf": form["csrf"][0], "f_email": "1", "f_name": "2", "f_locale": "3",
              "f_birthday": "4", "do": "run"}
    st, hdr, _, _ = b.request("POST", path, fields, headers={"Origin": con.console_origin})
    assert st == 303 and hdr["Location"] == path + "?error=required"
    assert "Choose a column for every required field." in b.page(hdr["Location"]).all_text()
    # map id to A, check: the preview names the bad cells of row 3
    fields.update(f_id="0", do="check")
    st, hdr, _, _ = b.request("POST", path, fields, headers={"Origin": con.console_origin})
    assert st == 303 and hdr["Location"] == path
    text = b.page(path).all_text()
    assert 'B "E-mail" (email): must be' in text
    assert 'E "Birthday" (birthday): must be' in text
    assert "Иван" in text and "李小龙" in text
    # run
    fields["do"] = "run"
    st, hdr, _, _ = b.request("POST", path, fields, headers={"Origin": con.console_origin})
    assert st == 303
    p = summary(b, path)
    text = p.all_text()
    new = re.search(r'id="n-new">(\d+)<', b.get(path)[2]).group(1)
    assert new == "3", text
    assert re.search(r'id="n-rejected">1<', b.get(path)[2])
    assert "3" in text and 'B "E-mail" (email)' in text
    # the customers reached the journal, keyed as hark import keys them
    evs = con.fetch_all(types=["customer"])
    assert sorted(e["payload"]["id"] for e in evs) == ["c1", "c3", "c4"]
    assert all(e["key"].startswith("import:customer:") for e in evs)
    # the same file again: nothing twice
    st, hdr, _, _ = upload(b, con, "customers", "shop.csv", CSV.encode("utf-8"))
    path2 = hdr["Location"]
    f2 = form_of(b, path2)
    assert f2["f_id"] == "" and f2["f_email"] == "1"
    f2.update(f_id="0", do="run")
    b.request("POST", path2, f2, headers={"Origin": con.console_origin})
    summary(b, path2)
    html = b.get(path2)[2]
    assert re.search(r'id="n-new">0<', html) and re.search(r'id="n-already">3<', html)
    assert len(con.fetch_all(types=["customer"])) == 3
    # export: the customers, a formula-looking name kept as text
    def exported():
        st, hdr, data, _ = b.get("/export/customers.csv")
        rows = list(csv.DictReader(io.StringIO(data, newline=""))) if st == 200 else []
        return (hdr, rows) if len(rows) == 3 else None
    hdr, rows = wait_for(exported, 30, what="the customers exported")
    assert hdr["Content-Type"].startswith("text/csv")
    assert "attachment" in hdr["Content-Disposition"]
    by = {r["id"]: r for r in rows}
    assert by["c4"]["name"] == "'=cmd()" and by["c1"]["name"] == "Smith, Anna"
    st, hdr, data, _ = b.get("/export/answers.csv")
    assert st == 200 and data.startswith("invite,campaign,customer_id")
    assert b.page("/export").links.count("/export/customers.csv") == 1


def test_console_import__progress_shows_while_a_big_file_runs(con):
    b = signed_in(con, "ada")
    rows = "".join("p%05d,p%05d@example.com,Name %d\r\n" % (i, i, i) for i in range(6000))
    st, hdr, _, _ = upload(b, con, "customers", "big.csv", ("id,email,name\r\n" + rows).encode())
    path = hdr["Location"]
    form = form_of(b, path)
    assert form["f_id"] == "0" and form["f_email"] == "1" and form["f_name"] == "2"
    form["do"] = "run"
    b.request("POST", path, form, headers={"Origin": con.console_origin})
    st, hdr, data, _ = b.get(path)
    assert st == 200
    # either still running (a progress bar and a refresh) or already done
    assert ('<progress id="progress" max="6000"' in data and 'http-equiv="refresh"' in data) \
        or 'id="summary"' in data
    summary(b, path)
    assert re.search(r'id="n-new">6000<', b.get(path)[2])


def test_console_import__refusals(con):
    b = signed_in(con, "mia")
    # no CSRF token: 403, nothing kept
    st, _, _, _ = upload(b, con, "customers", "x.csv", b"id\nq1\n", csrf="0" * 64)
    assert st == 403
    # not CSV text
    st, _, data, _ = upload(b, con, "customers", "x.csv", b"\xff\xfe\x00bad")
    assert st == 400 and "This file cannot be imported" in data and "UTF-8" in data
    # no file
    st, _, data, _ = upload(b, con, "customers", "x.csv", b"")
    assert st == 400 and "Choose a CSV file" in data
    # somebody else's import is not found
    st, hdr, _, _ = upload(b, con, "purchases", "p.csv", b"order,customer\no1,c1\n")
    assert st == 303
    other = signed_in(con, "ada")
    assert other.get(hdr["Location"])[0] == 404
    # support: 403 on every import and export page, and no link
    s = signed_in(con, "sam")
    for path in ("/import", "/export", "/export/customers.csv", hdr["Location"]):
        assert s.get(path)[0] == 403, path
    assert "/import" not in s.page("/cases").links


def test_console_import__pages_in_russian(con):
    b = signed_in(con, "mia")
    b.lang = "ru"
    text = b.page("/import").all_text()
    assert "Импорт клиентов или покупок" in text
    assert "Экспорт" in b.page("/export").all_text()
