"""mailcheck.py - what mime_roundtrip.py and render_check.py both check in a
raw message, read with Python's email package: the shape of its lines, a
display name as RFC 2047 6.2 reads it, and the closing tally."""
import re
import sys
from email.header import decode_header, make_header

ENCODED_WORD = re.compile(r"=\?UTF-8\?[BQ]\?[^?]*\?=")


def line_problems(raw):
    """Line-shape problems of a raw message: CRLF only, 78/76 limits,
    encoded words of at most 75, no body line with trailing whitespace, "."
    alone or "From " at its start."""
    problems = []
    stripped = raw.replace("\r\n", "")
    if "\n" in stripped or "\r" in stripped:
        problems.append("bare CR or LF")
    in_headers = True
    for number, line in enumerate(raw.split("\r\n"), 1):
        if in_headers and line == "":
            in_headers = False
            continue
        limit = 78 if in_headers else 76
        if len(line) > limit:
            problems.append(f"line {number} has {len(line)} > {limit} chars: {line!r}")
        if in_headers:
            for word in ENCODED_WORD.findall(line):
                if len(word) > 75:
                    problems.append(f"line {number}: encoded word of {len(word)} > 75")
        elif line.endswith((" ", "\t")) or line == "." or line.startswith("From "):
            problems.append(f"line {number} is unsafe in a body: {line!r}")
    return problems


def check_phrase(problems, field, phrase, quoted_text, want):
    """The display-name phrase of an address header, read exactly as RFC 2047
    6.2 does (whitespace between adjacent encoded words ignored): a quoted
    string's text is quoted_text; anything else must be only encoded words."""
    if phrase.startswith('"'):
        exact = quoted_text
    else:
        if ENCODED_WORD.sub("", phrase).strip():
            problems.append(f"{field}: phrase is not only encoded words: {phrase!r}")
        exact = str(make_header(decode_header(phrase)))
    if exact != want:
        problems.append(f"{field} display name (RFC 2047): got {exact!r}, want {want!r}")


def tally(passed, failed, emitted):
    """Print "N passed, N failed" (no case emitted is a failure); the exit code."""
    if not emitted:
        failed += 1
        print("no cases emitted", file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
