"""A real browser for the tests: Debian's Chromium, headless, through
chromedriver and selenium, with the flags that work on a shared build
machine; and the accessibility check of the page it shows by axe-core
(tests/e2e/axe/, pinned by its package-lock.json; `make deps-test` installs
it with npm ci)."""
import os

from harness import ROOT

AXE_JS = os.path.join(ROOT, "tests", "e2e", "axe", "node_modules", "axe-core", "axe.min.js")
# WCAG 2.1 A and AA: what the console and the customer pages promise
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SHOTS = os.path.join(ROOT, "build", "screenshots")


def chromium(lang="en", width=1280, height=800):
    """a headless Chromium of width x height CSS pixels that sends
    Accept-Language: lang (set_language changes it)"""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-component-update", "--no-first-run",
              "--disable-sync", "--hide-scrollbars", "--lang=" + lang,
              "--window-size=%d,%d" % (width, height)):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    drv.set_script_timeout(60)
    # the viewport itself, whatever the window's frame takes
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1,
                         "mobile": False})
    return drv


def set_language(drv, header):
    """the Accept-Language the browser sends from now on"""
    ua = drv.execute_script("return navigator.userAgent")
    drv.execute_cdp_cmd("Emulation.setUserAgentOverride",
                        {"userAgent": ua, "acceptLanguage": header})


def screenshot(drv, name):
    """the viewport as build/screenshots/NAME.png; its path"""
    os.makedirs(SHOTS, exist_ok=True)
    path = os.path.join(SHOTS, name + ".png")
    assert drv.save_screenshot(path), path
    return path


_axe_source = None


def axe_violations(drv):
    """axe-core's WCAG 2.1 A/AA violations of the page the browser shows:
    [(id, impact, [target], help)].  axe runs inside the page (injected by
    WebDriver, which the pages' Content-Security-Policy does not govern)."""
    global _axe_source
    if _axe_source is None:
        assert os.path.exists(AXE_JS), AXE_JS + " is missing: make deps-test (npm ci) installs it"
        with open(AXE_JS, encoding="utf-8") as f:
            _axe_source = f.read()
    if not drv.execute_script("return typeof window.axe === 'object'"):
        drv.execute_script(_axe_source)
    got = drv.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values: arguments[0]},
                           resultTypes: ['violations']})
          .then(r => done(r.violations.map(v => [v.id, v.impact,
                                                 v.nodes.map(n => n.target.join(' ')), v.help])),
                e => done('axe failed: ' + e));
    """, AXE_TAGS)
    assert isinstance(got, list), got
    return [tuple(v) for v in got]


def assert_accessible(drv, what):
    """fail, listing each violation, when axe finds any on the page shown"""
    found = axe_violations(drv)
    assert found == [], "%s (%s): %d axe violation(s):\n%s" % (
        what, drv.current_url, len(found),
        "\n".join("  %s [%s] %s: %s" % (i, imp, ", ".join(t[:5]), h) for i, imp, t, h in found))
