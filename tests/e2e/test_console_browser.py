"""Hark Console and the customer pages in a real browser: Debian's Chromium,
headless, one for the module.  Every page passes axe-core's WCAG 2.1 A/AA
rules in English and Russian; a staff member's whole day runs by clicks and
typing (sign in, the inbox, a case, reply, note, assign, retag, resolve, close
a loop per language, a refused role, a tampered form, an idle session), with a
screenshot of each page in build/screenshots/."""
import os
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from chromium import assert_accessible, chromium, screenshot, set_language
from harness import wait_for
from test_console import (PASSWORD, Browser, Page, add_user, case_page, smtp_mod,  # noqa: F401
                          start_console)
from test_survey_pages import link_token, sign

# the pages every staff member sees, each checked by axe in every locale
# below: (name, path; {case} and {loop} are the module's, what to do first)
STAFF_PAGES = [
    ("inbox", "/cases", None),
    ("inbox-filtered", "/cases?status=all&team=billing&reason=price&assignee=ada", None),
    ("case", "/cases/{case}", None),
    ("loops", "/loops", None),
    ("loop-new", "/loops/new?reason=shipping_delay", "preview"),
    ("loop", "{loop}", None),
    ("not-found", "/cases/NOPE404", None),
    ("users", "/users", None),
]
# each locale in one of the stylesheet's two palettes (prefers-color-scheme)
LOOKS = (("en", "light"), ("ru", "dark"))
ACCOUNT = {"en": "ada", "ru": "ivan"}  # admins whose console speaks that language

CUSTOMERS = (  # id, email, name, locale, reason, what they said
    ("c-olga", "olga@example.ru", "Ольга", "ru", "shipping_delay",
     "Посылка идёт уже три недели, трек-номер не обновляется."),
    ("c-ola", "ola@example.pl", "Ola", "pl", "shipping_delay",
     "Paczka miała być we wtorek, a nadal jej nie ma."),
    ("c-ben", "ben@example.com", "Ben Hall", "en", "shipping_delay",
     "Ordered two weeks ago, still waiting for the parcel."),
    ("c-anna", "anna@example.com", "Anna Clarke", "en", "price",
     "The tea tin doubled in price since March."),
    ("c-li", "li@example.cn", "李娜", "zh", "price", "价格太贵了"),
    ("c-tom", "tom@example.com", "Tom Reed", "en", "other",
     "The lid of the kettle came off <b>in my hand</b>."),
)


@pytest.fixture(scope="module")
def site(tmp_path_factory, smtp_mod):
    """a console with hark-intake and hark-loop behind it on a test clock, a
    few customers' cases (one with a history), a closed loop, and accounts in
    each role and locale"""
    tmp = tmp_path_factory.mktemp("browser")
    clock = tmp / "clock"
    clock.write_text("0")
    h = start_console(tmp, smtp_mod.port, clock=clock, session_idle="30m",
                      services=("journal", "gateway", "mailer", "intake", "loop", "console"))
    h.clock = clock
    with open(os.path.join(h.state, "keys", "token.key")) as f:
        h.token_key = f.read().strip()
    h.origin = "http://127.0.0.1:%d" % h.port
    add_user(h, "ada", "admin")
    add_user(h, "ivan", "admin", locale="ru")
    add_user(h, "sam", "support")
    add_user(h, "mia", "marketer")
    h.cases = {cid: complaint(h, cid, email, name, loc, reason, text)
               for cid, email, name, loc, reason, text in CUSTOMERS}
    b = Browser(h.console_port)
    assert b.login("ada")[0] == 303
    h.case = h.cases["c-anna"]  # the case page checked: a history, every form
    p = case_page(b, h.case)
    assert b.submit(p, "/cases/%s/note" % h.case,
                    extra={"text": "Checked the price list: the 250 g tin went from 9 to 18."})[0] == 303
    assert b.submit(case_page(b, h.case), "/cases/%s/assign" % h.case,
                    extra={"assignee": "ada"})[0] == 303
    # a loop closed for price, by hand over HTTP (the browser closes one below)

    def counted():
        st, _, data, _ = b.get("/loops/new?reason=price")
        return Page(data) if st == 200 and "zh" in Page(data).all_text() else None
    p = wait_for(counted, 30, what="the price reason's customers")
    st, hdr, data, _ = b.submit(p, "/loops/new", extra={
        "do": "close", "reason": "price", "title": "A lower price",
        "message": "The **250 g tin** is 12 again.",
        "title.zh": "降价了", "message.zh": "250 克罐装茶叶恢复原价。"})
    assert st == 303, Page(data).all_text()[-800:]
    h.loop = hdr["Location"]
    yield h
    h.stop()


def complaint(h, cid, email, name, locale, reason, text):
    """a complaint through the gateway's API, as the shop's backend sends it"""
    st, body = h.post_events({"type": "customer", "data": {"id": cid, "email": email,
                                                           "name": name, "locale": locale}})
    assert st == 202, body
    st, body = h.post_events({"type": "complaint", "data": {
        "customer_id": cid, "reason_code": reason, "text": text, "channel": "email"}})
    assert st == 202, body
    return "C%d" % body["offsets"][0]


@pytest.fixture(scope="module")
def drv():
    d = chromium()
    yield d
    d.quit()


def sign_in(drv, origin, name, path="/cases"):
    """sign in as name through the form, starting from path; where it lands"""
    drv.delete_all_cookies()
    drv.get(origin + path)
    assert "/login" in drv.current_url, drv.current_url
    drv.find_element(By.ID, "username").send_keys(name)
    drv.find_element(By.ID, "password").send_keys(PASSWORD)
    drv.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait_for(lambda: "/login" not in drv.current_url, 20, what="signed in as " + name)
    return drv.current_url


def click(drv, css):
    drv.find_element(By.CSS_SELECTOR, css).click()


def look(drv, locale, scheme):
    """the browser's language and colour scheme from now on"""
    set_language(drv, locale)
    drv.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
        {"name": "prefers-color-scheme", "value": scheme}]})


@pytest.mark.parametrize("locale,scheme", LOOKS)
def test_console_browser__every_console_page_passes_axe(site, drv, locale, scheme):
    look(drv, locale, scheme)
    who = ACCOUNT[locale]
    # signed out: the sign-in form, then its error state
    drv.delete_all_cookies()
    drv.get(site.console_origin + "/login")
    assert drv.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale
    dark = drv.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert (dark == "rgb(17, 17, 17)") == (scheme == "dark"), dark
    assert_accessible(drv, "login")
    drv.find_element(By.ID, "username").send_keys(who)
    drv.find_element(By.ID, "password").send_keys("not the password at all")
    click(drv, "form.login button")
    wait_for(lambda: drv.find_elements(By.ID, "login-error"), 20, what="the sign-in error")
    assert_accessible(drv, "login error")
    sign_in(drv, site.console_origin, who)
    for name, path, then in STAFF_PAGES:
        drv.get(site.console_origin + path.format(case=site.case, loop=site.loop))
        assert drv.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale, name
        if then == "preview":
            drv.find_element(By.ID, "title").send_keys("Faster delivery")
            drv.find_element(By.ID, "message").send_keys("We moved to a **new courier**.")
            click(drv, "button[value=preview]")
            wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, "pre.mail"), 20,
                     what="the preview")
        assert_accessible(drv, "%s in %s" % (name, locale))
    # a role refused: a marketer may read but not close a loop
    sign_in(drv, site.console_origin, "mia")
    drv.get(site.console_origin + "/loops/new")
    assert "/loops/new" in drv.current_url and drv.find_elements(By.TAG_NAME, "h1")
    assert_accessible(drv, "403 in %s" % locale)
    look(drv, "en", "light")


@pytest.mark.parametrize("locale,scheme", LOOKS)
def test_console_browser__customer_pages_pass_axe(site, drv, locale, scheme):
    """the survey page after a score click, the page after the comment, the
    unsubscribe page and the /feedback form, on the gateway"""
    look(drv, locale, scheme)
    tok = link_token(site.token_key, "inv-axe-" + locale, locale=locale)
    drv.get(site.origin + "/s/" + tok + "?score=3")
    assert drv.find_element(By.CSS_SELECTOR, "input[name=score][value='3']").is_selected()
    assert_accessible(drv, "survey page")
    drv.find_element(By.CSS_SELECTOR, "textarea[name=comment]").send_keys("Slow delivery.")
    click(drv, "form[method=post] button[type=submit], form[method=post] input[type=submit]")
    wait_for(lambda: "Slow delivery." in drv.page_source and
             not drv.find_elements(By.CSS_SELECTOR, "input[name=score][value='3']:not(:checked)"),
             20, what="the page after the comment")
    assert_accessible(drv, "comment page")
    unsub = sign(site.token_key, "unsubscribe", ("kai@example.com\n%s\nc9" % locale).encode())
    drv.get(site.origin + "/u/" + unsub)
    assert "kai@example.com" in drv.page_source
    assert_accessible(drv, "unsubscribe page")
    drv.get(site.origin + "/feedback?lang=" + locale)
    assert drv.find_elements(By.CSS_SELECTOR, "textarea[name=text]")
    assert_accessible(drv, "feedback form")


def test_console_browser__the_case_page_works_by_keyboard_with_a_visible_focus(site, drv):
    """Tab from the top: the skip link first, shown when focused, then every
    control of the case's forms in order, each with a focus outline; the
    customer's words are marked with their language"""
    look(drv, "en", "light")
    sign_in(drv, site.console_origin, "ada", "/cases/" + site.cases["c-tom"])
    said = drv.find_element(By.CSS_SELECTOR, "blockquote.said")
    assert said.text == "The lid of the kettle came off <b>in my hand</b>."  # text, not markup
    assert drv.find_elements(By.CSS_SELECTOR, "blockquote.said b") == []
    assert said.get_attribute("lang") == "en"
    drv.get(site.console_origin + "/cases/" + site.case)
    body = drv.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    skip = drv.switch_to.active_element
    assert skip.get_attribute("class") == "skip" and skip.get_attribute("href").endswith("#main")
    assert skip.rect["x"] >= 0 and skip.rect["y"] >= 0 and skip.is_displayed()
    seen = []
    for _ in range(80):
        el = drv.switch_to.active_element
        if el.tag_name == "body":  # past the last control
            break
        style = drv.execute_script(
            "const s = getComputedStyle(arguments[0]); return [s.outlineStyle, s.outlineWidth]",
            el)
        assert style[0] != "none" and float(style[1].rstrip("px")) >= 2, (el.tag_name, style)
        seen.append(el.get_attribute("id") or el.get_attribute("name") or el.text)
        el.send_keys(Keys.TAB)
    for want in ("message", "code-price", "note-text", "assignee"):
        assert want in seen, (want, seen)
    assert seen.index("message") < seen.index("note-text") < seen.index("assignee")
    # the skip link leads into the page's main part
    drv.get(site.console_origin + "/cases/" + site.case)
    drv.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    drv.switch_to.active_element.send_keys(Keys.ENTER)
    assert drv.current_url.endswith("#main")


def test_console_browser__a_staff_members_day_by_clicks_with_a_screenshot_of_each_page(
        site, drv, smtp_mod):
    """Debian's Chromium applying the CSP, the cookie flags and Origin: sign
    in, a new complaint in the inbox, its case, reply, note, assign, retag,
    resolve, close a loop per language, support refused /users, a tampered
    form, an idle session; the customers' mail parsed with Python's email module."""
    look(drv, "en", "light")
    drv.delete_all_cookies()
    drv.get(site.console_origin + "/")
    assert "/login" in drv.current_url
    screenshot(drv, "login")
    sign_in(drv, site.console_origin, "ada")
    # a new complaint from the shop's backend, through the gateway's API
    case = complaint(site, "c-vera", "vera@example.ru", "Вера", "ru", "shipping_delay",
                     "Заказ опаздывает на неделю, уже второй раз.\nТрек-номер не обновляется.")

    def listed():
        drv.get(site.console_origin + "/cases")
        return drv.find_elements(By.CSS_SELECTOR, "a[href='/cases/%s']" % case)
    (link,) = wait_for(listed, 30, what="the new complaint in the inbox")
    screenshot(drv, "inbox")
    link.click()
    wait_for(lambda: drv.current_url.endswith("/cases/" + case), 20, what="the case")
    assert drv.find_element(By.TAG_NAME, "h1").text.endswith(case)
    said = drv.find_element(By.CSS_SELECTOR, "blockquote.said")
    assert "второй раз.\nТрек-номер" in said.text and said.get_attribute("lang") == "ru"
    assert said.value_of_css_property("white-space") == "pre-wrap"  # the stylesheet, under the CSP
    screenshot(drv, "case")

    def act(form, what, fill=None):
        """fill and send one of the case's forms; wait for its done= page"""
        if fill:
            fill()
        click(drv, "form[action='/cases/%s/%s'] button[type=submit]" % (case, form))
        wait_for(lambda: drv.current_url.endswith("/cases/%s?done=%s" % (case, form)), 20,
                 what=what)
        assert drv.find_element(By.CSS_SELECTOR, ".done[role=status]").text
    # reply: mailed to Vera, in Russian
    act("reply", "the reply", lambda: drv.find_element(By.ID, "message").send_keys(
        "Здравствуйте! Мы отправили **новую посылку** сегодня."))
    screenshot(drv, "case-replied")

    def reply_mail():
        return [m for m in smtp_mod.messages() if m["To"].addresses[0].addr_spec ==
                "vera@example.ru" and "Ответ на ваше обращение" in str(m["Subject"])]
    (m,) = wait_for(reply_mail, 30, what="the reply at the SMTP server")
    assert case in str(m["Subject"])
    assert "новую посылку" in m.get_body(("plain",)).get_content()
    # an internal note: in the history, never mailed
    note = "Позвонили на склад: посылка 7731 застряла в Łódź"
    act("note", "the note", lambda: drv.find_element(By.ID, "note-text").send_keys(note))
    wait_for(lambda: note in drv.find_element(By.CSS_SELECTOR, "table.notes").text or
             drv.refresh(), 20, what="the note in the history")
    # assign to another staff member, retag (add a reason), resolve
    act("assign", "the assignment",
        lambda: Select(drv.find_element(By.ID, "assignee")).select_by_value("sam"))
    act("retag", "the retag", lambda: click(drv, "#code-other"))
    act("resolve", "the resolve")

    def history():
        drv.refresh()
        t = drv.find_element(By.CSS_SELECTOR, "table.notes").text
        return t if "assigned to sam" in t and "resolved" in t else None
    t = wait_for(history, 30, what="the history of the case")
    assert "user:ada" in t and drv.find_element(By.CSS_SELECTOR, "dd.assignee").text == "sam"
    assert not drv.find_elements(By.CSS_SELECTOR, "form[action$='/resolve']")
    screenshot(drv, "case-resolved")
    ev = {t: [e["payload"] for e in site.fetch_all([t]) if e["payload"]["case"] == case]
          for t in ("case.replied", "case.noted", "case.assigned", "case.retagged",
                    "case.resolved")}
    assert [e["by"] for e in ev["case.replied"]] == ["user:ada"]
    assert ev["case.noted"] == [{"case": case, "text": note, "by": "user:ada"}]
    assert ev["case.assigned"] == [{"case": case, "assignee": "sam", "by": "user:ada"}]
    (retag,) = ev["case.retagged"]
    assert retag["by"] == "user:ada" and sorted(retag["codes"]) == ["other", "shipping_delay"]
    assert ev["case.resolved"] == [{"case": case, "by": "user:ada"}]
    assert not [x for x in smtp_mod.messages() if "застряла" in x.as_string()]

    # close the loop for shipping_delay: Russian and Polish texts, English fallback
    drv.get(site.console_origin + "/loops/new")
    Select(drv.find_element(By.ID, "reason")).select_by_value("shipping_delay")
    click(drv, "form[method=get] button[type=submit]")
    wait_for(lambda: drv.find_elements(By.ID, "title-pl") and drv.find_elements(By.ID, "title-ru"),
             20, what="the per-language texts")
    for field, text in (("title", "Faster delivery"),
                        ("message", "We moved to a **new courier**: orders arrive in 2 days."),
                        ("title-ru", "Доставка быстрее"),
                        ("message-ru", "Мы сменили **курьера**: заказы приходят за 2 дня."),
                        ("title-pl", "Szybsza dostawa"),
                        ("message-pl", "Zmieniliśmy **kuriera**: zamówienia docierają w 2 dni.")):
        drv.find_element(By.ID, field).send_keys(text)
    click(drv, "button[value=preview]")
    wait_for(lambda: len(drv.find_elements(By.CSS_SELECTOR, "pre.mail")) >= 2, 20,
             what="the preview per language")
    assert "Доставка быстрее" in drv.find_element(By.ID, "samples-h").find_element(
        By.XPATH, "..").text
    screenshot(drv, "loop-preview")
    click(drv, "button[value=close]")
    wait_for(lambda: "/loops/shipping_delay-" in drv.current_url, 20, what="the loop's page")

    def sent():
        drv.refresh()
        return not drv.find_elements(By.CSS_SELECTOR, "meta[http-equiv=refresh]")
    wait_for(sent, 60, interval=0.5, what="the loop sent")
    screenshot(drv, "loop")

    # each customer reads their own language, the English one the fallback
    titles = ("Faster delivery", "Доставка быстрее", "Szybsza dostawa")
    for addr, subject, words in (("vera@example.ru", "Доставка быстрее", "курьера"),
                                 ("olga@example.ru", "Доставка быстрее", "курьера"),
                                 ("ola@example.pl", "Szybsza dostawa", "kuriera"),
                                 ("ben@example.com", "Faster delivery", "new courier")):
        def loop_mail():
            return [x for x in smtp_mod.messages() if x["To"].addresses[0].addr_spec == addr
                    and any(t in str(x["Subject"]) for t in titles)]
        (x,) = wait_for(loop_mail, 30, what="the loop's mail to " + addr)
        body = x.get_body(("plain",)).get_content()
        assert subject in str(x["Subject"]) and words in body, (addr, x["Subject"], body)
        assert not [t for t in titles if t != subject and t in body], addr
    (closed,) = [e["payload"] for e in site.fetch_all(["loop.closed"])
                 if e["payload"]["reason"] == "shipping_delay"]
    assert closed["by"] == "user:ada" and set(closed["texts"]) == {"ru", "pl"}
    csp = [x["message"] for x in drv.get_log("browser") if "Content Security" in x["message"]]
    assert csp == []

    # a role refused: support may not manage the accounts
    sign_in(drv, site.console_origin, "sam")
    drv.get(site.console_origin + "/users")
    assert drv.find_element(By.TAG_NAME, "h1").text == "Not allowed"
    assert "support" in drv.find_element(By.TAG_NAME, "main").text
    screenshot(drv, "forbidden")

    # a form whose CSRF token was tampered with is refused, nothing journaled
    drv.get(site.console_origin + "/cases/" + site.case)
    drv.execute_script("document.querySelector(\"form[action$='/note'] input[name=csrf]\")"
                       ".value = '0'.repeat(64)")
    drv.find_element(By.ID, "note-text").send_keys("tampered")
    click(drv, "form[action$='/note'] button[type=submit]")
    wait_for(lambda: drv.find_elements(By.TAG_NAME, "h1") and
             drv.find_element(By.TAG_NAME, "h1").text == "Not allowed", 20, what="the 403")
    assert not [e for e in site.fetch_all(["case.noted"]) if e["payload"]["text"] == "tampered"]

    # an idle session ends: the next click lands on the sign-in page, which
    # leads back to where it was going
    drv.get(site.console_origin + "/cases/" + site.case)
    site.clock.write_text(str(31 * 60))  # [console] session_idle 30m, and a minute
    time.sleep(0.3)  # each thread keeps the clock file's value for 100 ms
    click(drv, "nav a[href='/loops']")
    wait_for(lambda: "/login" in drv.current_url, 20, what="the sign-in page")
    assert drv.current_url.endswith("/login?next=%2Floops")
    screenshot(drv, "session-ended")
    drv.find_element(By.ID, "username").send_keys("sam")
    drv.find_element(By.ID, "password").send_keys(PASSWORD)
    click(drv, "form.login button")
    wait_for(lambda: drv.current_url == site.console_origin + "/loops", 20, what="back to /loops")
