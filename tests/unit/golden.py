#!/usr/bin/python3
"""golden.py - every mail template in every locale, byte for byte.

Runs the test_render binary given as argv[1] with "--golden DIR" (from the
repository root): it renders each templates/<locale>/<template>.md with the
sample variables of test_render.c and composes it as the mailer does.  What
changes from one message to the next is masked - the Date, the Message-ID
and the MIME boundary - and the result must equal
tests/golden/<locale>/<template>.eml exactly; a difference prints a diff of
the decoded parts and of the raw lines.  Each golden file is also parsed
with Python's email package, which must find no defects, a
multipart/alternative of text/plain then text/html, both UTF-8, and no
Mustache left over.

A change to a template, the layout, the renderer or the composer shows up
here as a diff to read; when it is meant, `make golden` (this script with
--update) writes the new files, and the diff goes into the commit.

Prints "N passed, N failed"; exits non-zero when anything failed.

Usage: /usr/bin/python3 tests/unit/golden.py build/san/tests/test_render [--update]
"""
import difflib
import os
import re
import subprocess
import sys
import tempfile
from email import policy
from email.parser import BytesParser

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(REPO, "tests", "golden")
LOCALES = ("en", "ru", "pl", "zh", "be")
TEMPLATES = ("nps_invite", "nps_reminder", "nps_detractor_alert", "nps_digest", "birthday",
             "anniversary", "complaint_ack", "complaint_alert", "complaint_breach",
             "complaint_reply", "loop_closed", "test", "complaint_customer_reply")

# what differs per message, and the fixed text that replaces it (same
# shape, so the masked message is still one the parser accepts)
MASKS = (
    (re.compile(rb"^Date: [^\r\n]*\r\n", re.M), b"Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"),
    (re.compile(rb"^Message-ID: <[^>\r\n]*>\r\n", re.M), b"Message-ID: <masked@hark.invalid>\r\n"),
    (re.compile(rb"=_hark_[0-9a-f]{24}"), b"=_hark_" + b"0" * 24),
)


def mask(raw):
    for pattern, fixed in MASKS:
        raw, n = pattern.subn(fixed, raw)
        assert n, "nothing to mask for %r" % pattern.pattern
    return raw


def parts(raw):
    """The message parsed, and its decoded parts as text (for diffs)."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    out = ["%s: %s" % (k, v) for k, v in msg.items()]
    for part in msg.iter_parts() if msg.is_multipart() else ():
        out.append("--- " + part.get_content_type())
        out.extend(part.get_content().split("\n"))
    return msg, out


def problems(locale, name, raw):
    """What is wrong with one golden message as a reader of mail sees it."""
    found = []
    msg, _ = parts(raw)
    if msg.defects:
        found.append("defects %s" % msg.defects)
    if msg.get_content_type() != "multipart/alternative":
        found.append("type %s" % msg.get_content_type())
        return found
    subparts = list(msg.iter_parts())
    if [p.get_content_type() for p in subparts] != ["text/plain", "text/html"]:
        return found + ["parts %s" % [p.get_content_type() for p in subparts]]
    for p in subparts:
        if p.defects:
            found.append("%s defects %s" % (p.get_content_type(), p.defects))
        if p.get_content_charset() != "utf-8":
            found.append("%s charset %s" % (p.get_content_type(), p.get_content_charset()))
        text = p.get_content()
        if "{{" in text or "}}" in text:
            found.append("%s: Mustache left over" % p.get_content_type())
    if not str(msg["Subject"]).strip():
        found.append("empty Subject")
    if ('lang="%s"' % locale) not in subparts[1].get_content():
        found.append('HTML is not lang="%s"' % locale)
    if not str(msg["X-Hark-Category"]):
        found.append("no X-Hark-Category")
    return found


def main():
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] != "--update"):
        sys.exit(__doc__.split("Usage: ")[1])
    binary, update = os.path.abspath(sys.argv[1]), len(sys.argv) == 3
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([binary, "--golden", tmp], cwd=REPO, check=True)
        for locale in LOCALES:
            for name in TEMPLATES:
                rel = os.path.join(locale, name + ".eml")
                got = mask(open(os.path.join(tmp, rel), "rb").read())
                path = os.path.join(GOLDEN, rel)
                if update:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(got)
                try:
                    want = open(path, "rb").read()
                except FileNotFoundError:
                    want = None
                why = []
                if want is None:
                    why.append("no %s (make golden writes it)" % os.path.relpath(path, REPO))
                elif got != want:
                    why.append("differs from %s (make golden, if meant):" % os.path.relpath(path, REPO))
                    why.extend(difflib.unified_diff(parts(want)[1], parts(got)[1], "golden", "now",
                                                    lineterm="", n=1))
                    why.extend(difflib.unified_diff(want.decode("ascii", "replace").split("\r\n"),
                                                    got.decode("ascii", "replace").split("\r\n"),
                                                    "golden (raw)", "now (raw)", lineterm="", n=0))
                if want is not None:
                    why.extend(problems(locale, name, want))
                if why:
                    failed += 1
                    print("FAIL %s\n  %s" % (rel, "\n  ".join(why[:120])))
                else:
                    passed += 1
                    print("ok   %s" % rel)
    stale = sorted(os.path.relpath(os.path.join(d, f), GOLDEN) for d, _, fs in os.walk(GOLDEN)
                   for f in fs if f.endswith(".eml")
                   and os.path.relpath(os.path.join(d, f), GOLDEN)[:-4].replace(os.sep, "/").split("/")
                   not in [[lo, n] for lo in LOCALES for n in TEMPLATES])
    for rel in stale:
        failed += 1
        print("FAIL %s is no template's golden file: remove it" % rel)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
