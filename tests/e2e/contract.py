"""proto/ as the tests read it: every command's schema and every event's,
with Hark's own formats checked independently of the C code.

The harness checks each message it sends or receives on a ZeroMQ socket
with check_frames(), so a reply that drifts from proto/commands.json fails
the test that provoked it, whatever that test was about.
"""
import datetime
import glob
import json
import os
import re
import zoneinfo

import jsonschema

ROOT = os.environ.get("HARK_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
PROTO = os.path.join(ROOT, "proto")


def _no_duplicates(pairs):
    # A merge once ran two specifications into one object: JSON keeps the
    # last "name" and the first command silently went unchecked.
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError("duplicate keys %s in one object" % dup)
    return dict(pairs)


def load(path):
    with open(path) as f:
        return json.load(f, object_pairs_hook=_no_duplicates)


_COMMANDS_DOC = load(os.path.join(PROTO, "commands.json"))
WIRE = _COMMANDS_DOC["version"]  # the protocol version, from the contract
COMMANDS = {c["name"]: c for c in _COMMANDS_DOC["commands"]}
EVENT_SCHEMAS = {os.path.basename(p)[:-5]: load(p) for p in glob.glob(os.path.join(PROTO, "events", "*.json"))}

fc = jsonschema.FormatChecker()


@fc.checks("date")
def _date(s):
    try:
        return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", s)) and datetime.date.fromisoformat(s) is not None
    except ValueError:
        return False


@fc.checks("date-time")
def _dt(s):
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", s):
        return False
    try:
        datetime.datetime.fromisoformat(s.upper().replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


@fc.checks("birthday")
def _birthday(s):
    if s.startswith("--"):
        return _date("2000" + s[1:])
    return _date(s)


@fc.checks("timezone")
def _tz(s):
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", s) or ".." in s or s.startswith("/") or s == "localtime":
        return False
    try:
        zoneinfo.ZoneInfo(s)
        return True
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False


@fc.checks("email")
def _email(s):
    return bool(re.fullmatch(r"[^@\s<>,]+@[^@\s<>,]+\.[^@\s<>,]+", s)) and len(s) <= 254


@fc.checks("locale")
def _locale(s):
    return bool(re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|\d{3}))?", s))


@fc.checks("currency")
def _currency(s):
    return bool(re.fullmatch(r"[A-Z]{3}", s))


@fc.checks("duration")
def _duration(s):
    return bool(re.fullmatch(r"[1-9]\d{0,9}[smhdw]", s))


_validators = {}


def validator(schema):
    return jsonschema.Draft202012Validator(schema, format_checker=fc)


def command_validator(cmd):
    """The (cached) validator of one command's body."""
    if cmd not in _validators:
        _validators[cmd] = validator(COMMANDS[cmd]["request"])
    return _validators[cmd]


def check_message(cmd, body):
    """Raise jsonschema.ValidationError unless body is a valid cmd."""
    command_validator(cmd).validate(body)


def _problem(cmd, body):
    """Why body is not a valid cmd, or None."""
    if cmd not in COMMANDS:
        return "%s is not in proto/commands.json" % cmd
    err = jsonschema.exceptions.best_match(command_validator(cmd).iter_errors(body))
    if err is None:
        return None
    return "%s at /%s: %s" % (cmd, "/".join(str(p) for p in err.absolute_path), err.message)


def check_request(cmd, body, valid=True):
    """A request the harness is about to send.  valid=False: the test means
    to send a request the contract forbids (to see the ERROR); then it
    must indeed be one, or the test proves nothing."""
    why = _problem(cmd, body)
    if valid:
        assert why is None, "request breaks proto/commands.json: %s\n%s" % (why, json.dumps(body)[:2000])
    else:
        assert cmd in COMMANDS and why is not None, \
            "request meant to be invalid is valid: %s %s" % (cmd, json.dumps(body)[:2000])


def check_frames(frames, reqid=None, expect=None):
    """One received message, [header, body], as wire.c frames it: the
    header 'VERSION COMMAND REQID' (the request's id in a reply), the body
    a JSON object valid against the command's schema.  expect: the command
    names a reply may carry.  Returns (cmd, body)."""
    assert len(frames) == 2, "a message is [header, body], got %d frames" % len(frames)
    hdr = frames[0].decode("ascii")
    parts = hdr.split(" ")
    assert len(parts) == 3 and parts[0] == WIRE and re.fullmatch(r"[A-Z_]+", parts[1]) \
        and re.fullmatch(r"[0-9]+", parts[2]), "bad header %r" % hdr
    if reqid is not None:
        assert int(parts[2]) == reqid, "reply %r to request id %d" % (hdr, reqid)
    cmd = parts[1]
    if expect is not None:
        assert cmd in expect, "reply %s, expected one of %s" % (cmd, sorted(expect))
    body = json.loads(frames[1])
    assert isinstance(body, dict), "body is not a JSON object: %r" % frames[1][:200]
    why = _problem(cmd, body)
    assert why is None, "reply breaks proto/commands.json: %s\n%s" % (why, json.dumps(body)[:2000])
    return cmd, body


def reply_names(cmd):
    """What a request may be answered with: its reply, or ERROR."""
    c = COMMANDS.get(cmd, {})
    return {c["reply"], "ERROR"} if "reply" in c else {"ERROR"}
