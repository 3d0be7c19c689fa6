"""Hark Console's /import in a real browser (Debian's Chromium, headless): a
marketer uploads a CSV of customers, maps a column the headers did not
name, reads the preview, runs it, sees the summary, and the customers are
then there (`hark export customers`).  The import pages pass axe-core's
WCAG 2.1 A/AA rules in English and Russian; screenshots go to
build/screenshots/ like the others'."""
import csv
import io

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from chromium import assert_accessible, chromium, screenshot, set_language
from harness import wait_for
from test_console import add_user, start_console
from test_console_browser import sign_in

SERVICES = ("journal", "gateway", "milestone", "survey", "console")

CSV = ("Nr klienta,E-mail,Imię i nazwisko,Język\r\n"
       "b1,olga@example.ru,Ольга Иванова,ru\r\n"
       "b2,li@example.cn,李娜,zh\r\n"
       "b3,not-an-address,Ben Hall,en\r\n"
       "b4,ola@example.pl,\"Nowak, Ola\",pl\r\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("imp-browser")
    h = start_console(tmp, services=SERVICES)
    add_user(h, "mia", "marketer")
    add_user(h, "ivan", "admin", locale="ru")
    h.csv = tmp / "customers.csv"
    h.csv.write_bytes(CSV.encode("utf-8"))
    yield h
    h.stop()


@pytest.fixture(scope="module")
def drv():
    d = chromium()
    yield d
    d.quit()


def test_import_browser__upload_map_preview_run_then_the_customers_are_there(site, drv):
    origin = site.console_origin
    sign_in(drv, origin, "mia", "/import")
    assert drv.current_url.endswith("/import")
    assert_accessible(drv, "import (en)")
    screenshot(drv, "import")
    drv.find_element(By.ID, "file").send_keys(str(site.csv))
    drv.find_element(By.CSS_SELECTOR, "form[action='/import'] button[type=submit]").click()
    wait_for(lambda: drv.find_elements(By.ID, "f_id"), 20, what="the mapping page")
    # the headers named email, name and locale (Polish); the id is chosen by hand
    assert Select(drv.find_element(By.ID, "f_email")).first_selected_option.text == "B: E-mail"
    assert Select(drv.find_element(By.ID, "f_name")).first_selected_option.text.startswith("C:")
    assert Select(drv.find_element(By.ID, "f_locale")).first_selected_option.text.startswith("D:")
    Select(drv.find_element(By.ID, "f_id")).select_by_value("0")
    drv.find_element(By.CSS_SELECTOR, "button[value=check]").click()
    def preview_names_the_bad_cell():
        # the click loads a new page: an element of the old one goes stale
        # between finding it and reading it, which is "not yet"
        try:
            return "E-mail\" (email)" in drv.find_element(By.ID, "preview-h") \
                .find_element(By.XPATH, "..").text
        except (StaleElementReferenceException, NoSuchElementException):
            return False
    wait_for(preview_names_the_bad_cell, 20, what="the preview's bad cell")
    assert "Ольга Иванова" in drv.page_source and "李娜" in drv.page_source
    assert_accessible(drv, "import mapping and preview (en)")
    screenshot(drv, "import-map")
    drv.find_element(By.CSS_SELECTOR, "button[value=run]").click()
    wait_for(lambda: drv.find_elements(By.ID, "summary"), 60, what="the summary")
    assert drv.find_element(By.ID, "n-new").text == "3"
    assert drv.find_element(By.ID, "n-rejected").text == "1"
    assert_accessible(drv, "import summary (en)")
    screenshot(drv, "import-done")

    def exported():
        r = site.hark("export", "customers")
        rows = {row["id"]: row for row in csv.DictReader(io.StringIO(r.stdout, newline=""))}
        return rows if len(rows) == 3 else None
    rows = wait_for(exported, 30, what="the customers applied")
    assert rows["b1"]["name"] == "Ольга Иванова" and rows["b2"]["name"] == "李娜"
    assert rows["b4"]["name"] == "Nowak, Ola" and "b3" not in rows


def test_import_browser__pages_pass_axe_in_russian(site, drv):
    origin = site.console_origin
    set_language(drv, "ru")
    try:
        sign_in(drv, origin, "ivan", "/import")
        assert drv.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ru"
        assert_accessible(drv, "import (ru)")
        drv.find_element(By.ID, "file").send_keys(str(site.csv))
        drv.find_element(By.CSS_SELECTOR, "form[action='/import'] button[type=submit]").click()
        wait_for(lambda: drv.find_elements(By.ID, "f_id"), 20, what="the mapping page")
        assert_accessible(drv, "import mapping (ru)")
        screenshot(drv, "import-map-ru")
        drv.get(origin + "/export")
        assert_accessible(drv, "export (ru)")
    finally:
        set_language(drv, "en")
