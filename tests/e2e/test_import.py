"""`hark import` and `hark export`: customers and purchases from CSV
(mapping, every bad cell by row and column, idempotent re-runs), and CSV out
(read back with Python's csv module)."""
import csv
import io
import os

import pytest

from harness import shop_conf, wait_for

SERVICES = ("journal", "gateway", "milestone")


def write(tmp_path, name, text, bom=False, crlf=False):
    if crlf:
        text = text.replace("\n", "\r\n")
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def customers_in_journal(h):
    return [e for e in h.fetch_all(types=["customer"])]


def export_customers(h):
    r = h.hark("export", "customers")
    return list(csv.DictReader(io.StringIO(r.stdout, newline="")))


def test_import__customers_with_bom_crlf_quotes_newlines_and_five_scripts(make_hark, tmp_path):
    h = make_hark(services=SERVICES)
    f = write(tmp_path, "c.csv",
              'ID,E-mail,"Full name",Язык,Birthday\n'
              'c1,anna@example.com,"Smith, Anna",en,1990-04-12\n'
              'c2,ivan@example.com,Иван Петров,ru,--02-29\n'
              'c3,li@example.com,李小龙,zh,\n'
              'c4,ola@example.com,"Ola ""the best""\nNowak",pl,\n',
              bom=True, crlf=True)
    r = h.hark("import", "customers", f)
    assert "4 new, 0 already imported, 0 rejected" in r.stdout, r.stdout
    evs = {e["payload"]["id"]: e for e in customers_in_journal(h)}
    assert evs["c1"]["payload"] == {"id": "c1", "email": "anna@example.com", "name": "Smith, Anna",
                                    "locale": "en", "birthday": "1990-04-12"}
    assert evs["c2"]["payload"]["name"] == "Иван Петров"
    assert evs["c3"]["payload"]["name"] == "李小龙" and "birthday" not in evs["c3"]["payload"]
    assert evs["c4"]["payload"]["name"] == 'Ola "the best"\r\nNowak'
    assert all(e["key"].startswith("import:customer:") for e in evs.values())
    # the same file again: nothing twice
    r = h.hark("import", "customers", f)
    assert "0 new, 4 already imported" in r.stdout, r.stdout
    assert len(customers_in_journal(h)) == 4
    # a changed row is the update it is
    f2 = write(tmp_path, "c2.csv", "id,email,name\nc1,anna@example.com,Anna Smith\n")
    r = h.hark("import", "customers", f2)
    assert "1 new, 0 already imported" in r.stdout
    # the milestone service applied them all: the export shows them
    wait_for(lambda: len(export_customers(h)) == 4, what="customers applied")
    rows = {row["id"]: row for row in export_customers(h)}
    assert rows["c1"]["name"] == "Anna Smith" and rows["c2"]["name"] == "Иван Петров"
    assert rows["c2"]["birthday"] == "'--02-29" and rows["c3"]["name"] == "李小龙"
    # an export imports again as it is: the ' a formula-looking cell got is dropped
    out = tmp_path / "again.csv"
    h.hark("export", "customers", "--output", str(out))
    r = h.hark("import", "customers", str(out), "--check")
    assert "4 rows: 4 good" in r.stdout, r.stdout
    h.stop()


def test_import__bad_cells_are_listed_by_row_and_column_and_check_imports_nothing(make_hark, tmp_path):
    h = make_hark(services=SERVICES)
    f = write(tmp_path, "bad.csv",
              "Customer ID,Email,Name,Locale,Timezone,Birthday,Signup date\n"
              "c1,anna@example.com,Anna,en,Europe/Warsaw,1990-01-01,2024-01-02\n"
              "c2,not-an-address,Bob,english,Mars/Base,1990-13-01,2024-01-02\n"
              ",nobody@example.com,No Id,,,,\n"
              "c4,\"a b\"@example.com,X,en,,,2024-02-30\n")
    r = h.hark("import", "customers", f, "--check", check=False)
    assert r.returncode == 3, (r.stdout, r.stderr)
    out = r.stdout
    assert 'row 3, column B "Email" (email):' in out
    assert 'row 3, column D "Locale" (locale):' in out
    assert 'row 3, column E "Timezone" (timezone):' in out
    assert 'row 3, column F "Birthday" (birthday):' in out
    assert 'row 4, column A "Customer ID" (id):' in out
    assert 'row 5, column B "Email" (email):' in out
    assert 'row 5, column G "Signup date" (signup_date):' in out
    assert "row 2," not in out
    assert "4 rows: 1 good, 3 with bad cells" in out
    assert customers_in_journal(h) == []
    # without --check the good row goes in, the others are refused
    r = h.hark("import", "customers", f, check=False)
    assert r.returncode == 3
    assert "1 new, 0 already imported, 3 rejected" in r.stdout
    assert [e["payload"]["id"] for e in customers_in_journal(h)] == ["c1"]
    h.stop()


def test_import__map_option_and_a_missing_required_column(make_hark, tmp_path):
    h = make_hark(services=SERVICES)
    f = write(tmp_path, "m.csv", "Kod;Adres;Osoba\nk1;k1@example.com;Kasia\n")
    r = h.hark("import", "customers", f, check=False)
    assert r.returncode == 2 and "required field id" in r.stderr
    r = h.hark("import", "customers", f, "--map", "id=Kod,email=Adres,name=C")
    assert "1 new" in r.stdout
    (e,) = customers_in_journal(h)
    assert e["payload"] == {"id": "k1", "email": "k1@example.com", "name": "Kasia"}
    r = h.hark("import", "customers", f, "--map", "nickname=Kod", check=False)
    assert r.returncode == 2 and "unknown field" in r.stderr
    h.stop()


def test_import__headers_in_russian_and_chinese_map_by_themselves(make_hark, tmp_path):
    h = make_hark(services=SERVICES)
    f = write(tmp_path, "ru.csv", "Идентификатор,Электронная почта,ФИО,Часовой пояс\n"
                                  "r1,r1@example.com,Ольга,Europe/Moscow\n")
    assert "1 new" in h.hark("import", "customers", f).stdout
    f = write(tmp_path, "zh.csv", "客户编号,邮箱,姓名,语言\nz1,z1@example.com,王芳,zh\n")
    assert "1 new" in h.hark("import", "customers", f).stdout
    p = {e["payload"]["id"]: e["payload"] for e in customers_in_journal(h)}
    assert p["r1"] == {"id": "r1", "email": "r1@example.com", "name": "Ольга",
                       "timezone": "Europe/Moscow"}
    assert p["z1"] == {"id": "z1", "email": "z1@example.com", "name": "王芳", "locale": "zh"}
    h.stop()


def test_import__progress_is_plain_lines_without_a_terminal(make_hark, tmp_path):
    h = make_hark(services=("journal",))
    rows = "".join("c%d,c%d@example.com\n" % (i, i) for i in range(1200))
    f = write(tmp_path, "many.csv", "id,email\n" + rows)
    r = h.hark("import", "customers", f, "--batch", "500")
    assert "1200 new" in r.stdout
    lines = [l for l in r.stderr.splitlines() if "rows sent" in l]
    assert lines and lines[-1] == "hark: import: 1200/1200 rows sent" and "\r" not in r.stderr
    assert len(customers_in_journal(h)) == 1200
    h.stop()


def test_import__purchases_bring_invites_as_api_purchases_do(make_hark, smtp, tmp_path):
    conf = dict(shop_conf(smtp.port),
                survey={"delay": "1s", "window_hours": "0-24", "window_days": "all"})
    h = make_hark(services=("journal", "gateway", "mailer", "survey"), conf=conf)
    f = write(tmp_path, "p.csv",
              "Order ID,Customer ID,Email,Name,Amount,Currency\n"
              "o-1,c1,anna@example.com,Anna,\"12,50\",EUR\n"
              "o-2,c2,,,abc,EUR\n")
    r = h.hark("import", "purchases", f, check=False)
    assert r.returncode == 3, r.stdout
    assert 'row 3, column E "Amount" (amount): must be a number' in r.stdout
    assert "1 new, 0 already imported, 1 rejected" in r.stdout
    (p,) = h.fetch_all(types=["purchase"])
    assert p["payload"] == {"order_id": "o-1", "amount": 12.5, "currency": "EUR",
                            "customer": {"id": "c1", "email": "anna@example.com", "name": "Anna"}}
    (msg,) = smtp.wait_messages(1)
    assert "anna@example.com" in msg["To"]
    (req,) = h.fetch_all(types=["mail.requested"])
    assert req["payload"]["template"] == "nps_invite"
    assert "0 new, 1 already imported" in h.hark("import", "purchases", f, check=False).stdout
    h.stop()


def test_export__answers_and_customers_are_csv_with_formulas_kept_as_text(make_hark, tmp_path):
    h = make_hark(services=SERVICES)
    f = write(tmp_path, "f.csv", 'id,email,name\nc1,a@example.com,"=HYPERLINK(""x"")"\n'
                                 'c2,b@example.com,"@SUM(1)"\nc3,c@example.com,-1\n')
    assert "3 new" in h.hark("import", "customers", f).stdout
    wait_for(lambda: len(export_customers(h)) == 3, what="customers applied")
    out = tmp_path / "out.csv"
    h.hark("export", "customers", "--output", str(out))
    raw = out.read_bytes()
    assert raw.startswith(b"id,email,name,locale,timezone,birthday,signup_date\r\n")
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(raw.decode("utf-8"), newline=""))}
    assert rows["c1"]["name"] == "'=HYPERLINK(\"x\")"
    assert rows["c2"]["name"] == "'@SUM(1)" and rows["c3"]["name"] == "'-1"
    r = h.hark("export", "answers", check=False)
    assert r.returncode == 1 and "survey" in r.stderr   # no survey service here
    assert h.hark("export", "nothing", check=False).returncode == 2
    h.stop()
