#!/usr/bin/python3
"""render_check.py - composed Hark mails, read back by Python's email package.

tests/unit/test_render.c checks the renderer and composer with its own eyes;
this asks an independent parser.  It runs the test_render binary given as
argv[1] with "--emit DIR" (from the repository root, where it finds
templates/), which renders a few templates for customers with hostile names
(CR/LF header injection, emoji, Cyrillic, Chinese, quotes and backslashes,
names longer than a header line, look-alike encoded words, control
characters), composes them and writes DIR/NN.eml plus DIR/cases.json: what
each message was built from and its rendered subject, text and HTML.

Each message is parsed with email.parser.BytesParser(policy=default) and must
have:
  - 7-bit bytes, CRLF line ends only, header lines <= 78 and body lines <= 76,
    encoded words <= 75, no body line ending in whitespace or reading "." or
    "From ...";
  - exactly the expected header fields, each once (From, To, Subject, Date,
    Message-ID, MIME-Version, Content-Type, and Reply-To, List-Unsubscribe,
    List-Unsubscribe-Post, X-Hark-Category only when given) - so no injected
    Bcc or anything else;
  - From/To addresses as given and display names equal to the given names
    with control characters as spaces;
  - Subject, Date and Message-ID as given;
  - multipart/alternative with exactly text/plain then text/html, UTF-8,
    quoted-printable, decoding to the rendered text and HTML;
  - no parser defects.

Display names are compared exactly as RFC 2047 6.2 reads them (whitespace
between adjacent encoded words ignored) with email.header.decode_header, or
by unquoting a quoted-string ourselves; and with policy.default's
display_name only whitespace-insensitively, because Python 3.11's phrase
parser puts a space between adjacent encoded words and squeezes runs of
whitespace.

Prints "N passed, N failed" and exits non-zero when anything failed.

Usage: /usr/bin/python3 tests/unit/render_check.py /tmp/test_render
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from email import policy
from email.parser import BytesHeaderParser, BytesParser
from email.utils import parsedate_to_datetime

from mailcheck import check_phrase, line_problems, tally

CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def unquote(quoted):
    """The text of an RFC 5322 quoted-string."""
    body = quoted[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def expected_name(name):
    """A display name as the composer must write it: controls as spaces,
    nothing when only whitespace is left."""
    if name is None:
        return ""
    clean = CONTROLS.sub(" ", name)
    return "" if clean.strip(" \t") == "" else clean


def check_address(problems, field, raw_value, header, want_name, want_addr):
    """One address header: its address, and its display name both ways."""
    addresses = header.addresses if header is not None else ()
    if len(addresses) != 1:
        problems.append(f"{field}: {len(addresses)} addresses in {str(header)!r}")
        return
    if addresses[0].addr_spec != want_addr:
        problems.append(f"{field} address: got {addresses[0].addr_spec!r}, want {want_addr!r}")
    unfolded = raw_value.replace("\r\n", "")
    if want_name == "":
        if unfolded.strip() != want_addr:
            problems.append(f"{field}: want the bare address, got {unfolded!r}")
        return
    match = re.fullmatch(r"\s*(.*?)\s*<([^<>]*)>\s*", unfolded, re.S)
    if not match or match.group(2) != want_addr:
        problems.append(f"{field}: not 'phrase <addr>': {unfolded!r}")
        return
    phrase = match.group(1)
    check_phrase(problems, field, phrase, unquote(phrase), want_name)
    parsed = addresses[0].display_name
    if "".join(parsed.split()) != "".join(want_name.split()):
        problems.append(f"{field} display name (policy.default), spaces aside: "
                        f"got {parsed!r}, want {want_name!r}")


def check(case, data):
    """Everything wrong with one message, as a list of strings."""
    try:
        raw = data.decode("ascii")
    except UnicodeDecodeError:
        return ["message is not 7-bit ASCII"]
    problems = line_problems(raw)
    msg = BytesParser(policy=policy.default).parsebytes(data)
    raw_headers = BytesHeaderParser(policy=policy.compat32).parsebytes(data)

    for part in msg.walk():
        problems.extend(f"defect in {part.get_content_type()}: {d!r}" for d in part.defects)

    want = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"]
    if case["reply_to"]:
        want.append("Reply-To")
    if case["unsubscribe_url"]:
        want += ["List-Unsubscribe", "List-Unsubscribe-Post"]
    if case["category"]:
        want.append("X-Hark-Category")
    got = [k.lower() for k in raw_headers.keys()]
    if sorted(got) != sorted(k.lower() for k in want):
        problems.append(f"header fields: got {raw_headers.keys()}, want {want}")

    for field in ("From", "To", "Subject", "Date", "Message-ID"):
        header = msg[field]
        if header is not None:
            problems.extend(f"{field}: {d!r}" for d in header.defects)

    check_address(problems, "From", raw_headers["From"] or "", msg["From"],
                  expected_name(case["from_name"]), case["from_addr"])
    check_address(problems, "To", raw_headers["To"] or "", msg["To"],
                  expected_name(case["to_name"]), case["to_addr"])
    if case["reply_to"]:
        check_address(problems, "Reply-To", raw_headers["Reply-To"] or "",
                      msg["Reply-To"], "", case["reply_to"])

    def expect(what, got_value, want_value):
        if got_value != want_value:
            problems.append(f"{what}: got {got_value!r}, want {want_value!r}")

    expect("Subject", str(msg["Subject"]), case["subject"])
    expect("Message-ID", str(msg["Message-ID"]), case["message_id"])
    expect("MIME-Version", str(msg["MIME-Version"]), "1.0")
    try:
        when = parsedate_to_datetime(str(msg["Date"]))
        expect("Date", int(when.timestamp()), case["date_ms"] // 1000)
    except (TypeError, ValueError) as e:
        problems.append(f"Date does not parse: {msg['Date']!r}: {e}")
    if case["unsubscribe_url"]:
        expect("List-Unsubscribe", str(msg["List-Unsubscribe"]),
               f"<{case['unsubscribe_url']}>")
        expect("List-Unsubscribe-Post", str(msg["List-Unsubscribe-Post"]),
               "List-Unsubscribe=One-Click")
    if case["category"]:
        expect("X-Hark-Category", str(msg["X-Hark-Category"]), case["category"])

    expect("Content-Type", msg.get_content_type(), "multipart/alternative")
    parts = list(msg.iter_parts()) if msg.is_multipart() else []
    expect("parts", [p.get_content_type() for p in parts], ["text/plain", "text/html"])
    boundary = msg.get_boundary() or ""
    if not boundary.startswith("=_"):
        problems.append(f"boundary {boundary!r} could occur in quoted-printable")
    for part, key in zip(parts, ("text", "html")):
        expect(f"{key} charset", part.get_content_charset(), "utf-8")
        expect(f"{key} transfer encoding", part.get("Content-Transfer-Encoding"),
               "quoted-printable")
        expect(f"{key} body", part.get_content().replace("\r\n", "\n"), case[key])
    if boundary and (boundary in case["text"] or boundary in case["html"]):
        problems.append("the boundary occurs in a body")
    return problems


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "mail")
        run = subprocess.run([binary, "--emit", out], cwd=REPO, check=False)
        if run.returncode != 0:
            print(f"{binary} --emit failed with status {run.returncode}", file=sys.stderr)
            print("0 passed, 1 failed")
            return 1
        with open(os.path.join(out, "cases.json"), encoding="utf-8") as f:
            cases = json.load(f)
        passed = failed = 0
        for case in cases:
            with open(os.path.join(out, case["file"]), "rb") as f:
                data = f.read()
            try:
                problems = check(case, data)
            except Exception as e:      # the parser itself choked on the message
                problems = [f"{type(e).__name__} while checking: {e}"]
            if problems:
                failed += 1
                print(f"FAIL {case['file']} ({case['template']}, {case['locale_used']})",
                      file=sys.stderr)
                for problem in problems[:10]:
                    print(f"  {problem}", file=sys.stderr)
            else:
                passed += 1
                print(f"ok   {case['file']} ({case['template']}, {case['locale_used']})")
    return tally(passed, failed, cases)


if __name__ == "__main__":
    sys.exit(main())
