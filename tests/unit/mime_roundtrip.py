#!/usr/bin/python3
"""mime_roundtrip.py - mime.c's messages, read back by Python's email package.

The C unit tests decode mime.c's output with decoders written next to the
encoder; this test asks an independent one.  It runs the test_mime binary
given as argv[1] with "--emit FILE", which writes 200 complete
multipart/alternative messages built from seeded random UTF-8 (emoji,
Cyrillic, CJK, Polish, punctuation, control characters) as JSON lines:

    {"raw": message, "subject": ..., "name": ..., "addr": ..., "to_name": ...,
     "to_addr": ..., "text": ..., "html": ...}

Each raw message is parsed with email.parser.BytesParser(policy=default) and
must give back the expected Subject, From and To addresses, and text and
HTML bodies; must be 7-bit with CRLF line ends; header lines must be at most
78 characters and body lines at most 76; and the parser must report no
defects.  Prints "N passed, N failed" and exits non-zero when anything
failed.

Display names are checked twice.  Exactly, as RFC 2047 6.2 reads them
(whitespace between adjacent encoded words is ignored), with the email
package's email.header.decode_header, or for a quoted-string with the
policy.default parser.  And with policy.default's display_name, whose
phrase parser (Python 3.11) does not follow 6.2: it puts a space between
adjacent encoded words and turns every run of whitespace into one space, so
a long non-ASCII name comes back with extra spaces (Python's own generator
has the same problem).  That check therefore compares with whitespace
removed, and exactly when the name is one encoded word or a quoted-string
without runs of whitespace.

Usage: /usr/bin/python3 tests/unit/mime_roundtrip.py build/san/tests/test_mime
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from email import policy
from email.parser import BytesHeaderParser, BytesParser

from mailcheck import ENCODED_WORD, check_phrase, line_problems, tally

def all_defects(msg):
    """Parser defects of the message, its parts and its main headers."""
    found = []
    for part in msg.walk():
        found.extend(f"part {part.get_content_type()}: {d!r}" for d in part.defects)
    for name in ("Subject", "From", "To"):
        header = msg[name]
        if header is not None:
            found.extend(f"{name}: {d!r}" for d in header.defects)
    return found


def phrase_of(raw_value, addr):
    """The display-name part of a raw (folded) address header, or None."""
    unfolded = raw_value.replace("\r\n", "")
    match = re.fullmatch(r"(.*?)\s*<([^<>]*)>", unfolded, re.S)
    if not match or match.group(2) != addr:
        return None
    return match.group(1)


def check_display_name(problems, field, raw_value, parsed_name, want, addr):
    """Display name of one address header, exactly and as Python 3.11 sees it."""
    phrase = phrase_of(raw_value, addr)
    if phrase is None:
        if want != "" or raw_value != addr:
            problems.append(f"{field}: unexpected form {raw_value!r}")
        return
    quoted = phrase.startswith('"')
    check_phrase(problems, field, phrase, parsed_name, want)
    simple = ((quoted or len(ENCODED_WORD.findall(phrase)) == 1) and
              not re.search(r"\s\s|\t", want))
    if simple and parsed_name != want:
        problems.append(f"{field} display name: got {parsed_name!r}, want {want!r}")
    if "".join(parsed_name.split()) != "".join(want.split()):
        problems.append(f"{field} display name, spaces aside: got {parsed_name!r}, "
                        f"want {want!r}")


def check(case):
    """Everything wrong with one case, as a list of strings."""
    raw = case["raw"]
    try:
        data = raw.encode("ascii")
    except UnicodeEncodeError:
        return ["message is not 7-bit ASCII"]
    problems = line_problems(raw)
    msg = BytesParser(policy=policy.default).parsebytes(data)
    problems.extend(all_defects(msg))

    def expect(what, got, want):
        if got != want:
            problems.append(f"{what}: got {got!r}, want {want!r}")

    expect("subject", str(msg["Subject"]), case["subject"])
    raw_headers = BytesHeaderParser(policy=policy.compat32).parsebytes(data)
    for field, name_key, addr_key in (("From", "name", "addr"),
                                      ("To", "to_name", "to_addr")):
        header = msg[field]
        addresses = header.addresses if header is not None else ()
        if len(addresses) != 1:
            problems.append(f"{field}: {len(addresses)} addresses in {str(header)!r}")
            continue
        expect(f"{field} address", addresses[0].addr_spec, case[addr_key])
        check_display_name(problems, field, raw_headers[field],
                           addresses[0].display_name, case[name_key],
                           case[addr_key])

    for subtype, key in (("plain", "text"), ("html", "html")):
        part = msg.get_body(preferencelist=(subtype,))
        if part is None:
            problems.append(f"no text/{subtype} part")
            continue
        # Mail lines end in CRLF; the expected text uses "\n".
        expect(f"text/{subtype} body", part.get_content().replace("\r\n", "\n"),
               case[key])
    return problems


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "messages.jsonl")
        run = subprocess.run([sys.argv[1], "--emit", path], check=False)
        if run.returncode != 0:
            print(f"{sys.argv[1]} --emit failed with status {run.returncode}",
                  file=sys.stderr)
            print("0 passed, 1 failed")
            return 1
        with open(path, encoding="utf-8") as f:
            cases = [json.loads(line) for line in f if line.strip()]

    passed = failed = 0
    for number, case in enumerate(cases):
        try:
            problems = check(case)
        except Exception as e:      # the parser itself choked on the message
            problems = [f"{type(e).__name__} while checking: {e}"]
        if problems:
            failed += 1
            print(f"FAIL case {number}", file=sys.stderr)
            for problem in problems[:8]:
                print(f"  {problem}", file=sys.stderr)
        else:
            passed += 1
    return tally(passed, failed, cases)


if __name__ == "__main__":
    sys.exit(main())
