"""Each service is its tables: the event types it consumes and the control
commands it serves, declared once in its main file.  The skeleton fetches
exactly the types of the event table (so what a service consumes is said
once), and the header comment a newcomer reads says the same."""
import glob
import json
import os
import re
import subprocess

import pytest

from harness import BIN, ROOT

EVENT_TYPES = {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(ROOT, "proto", "events", "*.json"))}
with open(os.path.join(ROOT, "proto", "commands.json")) as _f:
    COMMANDS = {c["name"]: c for c in json.load(_f)["commands"]}
# the services that consume events, and those that serve commands from a
# table (the journal answers its own socket)
CONSUMERS = ["survey", "mailer", "loop", "milestone", "intake", "inbox", "console"]
SERVERS = CONSUMERS + ["harkd", "console", "inbox"]


def tables(name):
    prog = name if name == "harkd" else "hark-" + name
    out = subprocess.run([os.path.join(BIN, prog), "--tables"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    consumes = [l.split()[1] for l in out.splitlines() if l.startswith("consumes ")]
    serves = [l.split()[1:] for l in out.splitlines() if l.startswith("serves ")]
    return consumes, serves


def header(name, field):
    """the text of one field (Consumes:, Serves:) of a main file's comment"""
    with open(os.path.join(ROOT, "services", name, name + ".c")) as f:
        text = f.read().split("*/", 1)[0]
    m = re.search(r"\* %s:(.*?)(?=\n \* [A-Z][a-z]+:|\n \*\n|\Z)" % field, text, re.S)
    assert m, "%s.c has no %s:" % (name, field)
    return m.group(1)


@pytest.mark.parametrize("name", CONSUMERS)
def test_service_consumes_the_types_of_its_event_table_and_its_comment_names_them(name):
    consumes, _ = tables(name)
    assert consumes, "an empty event table"
    assert len(consumes) == len(set(consumes)), "a type twice in the table"
    assert set(consumes) <= EVENT_TYPES, set(consumes) - EVENT_TYPES
    said = set(re.findall(r"[a-z]+(?:\.[a-z_]+)?", header(name, "Consumes"))) & EVENT_TYPES
    assert said == set(consumes), "Consumes: says %s, the table %s" % (sorted(said), sorted(consumes))


@pytest.mark.parametrize("name", SERVERS)
def test_service_serves_the_commands_of_its_table_and_its_comment_names_them(name):
    _, table = tables(name)
    assert table, "an empty command table"
    for cmd, reply in table:
        assert COMMANDS[cmd].get("reply") == reply, "%s answers %s, proto/ says %s" % (
            cmd, reply, COMMANDS[cmd].get("reply"))
    serves = [cmd for cmd, _ in table]
    said = set(re.findall(r"\b[A-Z][A-Z_]+[A-Z]\b", header(name, "Serves"))) & set(COMMANDS)
    said.discard("SERVICE_STATUS")  # the skeleton's, in every service
    assert said == set(serves), "Serves: says %s, the table %s" % (sorted(said), sorted(serves))


def test_every_event_constant_in_the_code_names_a_type_in_proto():
    # the constants are generated from proto/events/, so a typo does not
    # compile; this says the same of every file, built or not
    used = set()
    for path in glob.glob(os.path.join(ROOT, "services", "*", "*.[ch]")) + \
            glob.glob(os.path.join(ROOT, "tests", "services", "*", "*.c")):
        with open(path) as f:
            used |= set(re.findall(r"\bEV_([A-Z_]+)\b", f.read()))
    assert used, "no EV_ constant used anywhere"
    known = {t.upper().replace(".", "_") for t in EVENT_TYPES}
    assert used <= known, sorted(used - known)


@pytest.mark.parametrize("name", ["journal", "gateway"])
def test_services_without_tables_consume_nothing_from_the_skeleton(name):
    # the journal's control socket answers only whether a customer was erased
    assert tables(name) == ([], [["JOURNAL_ERASED", "JOURNAL_ERASED_OK"]] if name == "journal"
                            else [])
