"""The README documents every setting, and every endpoint it shows exists."""
import os
import re

from harness import ROOT


def read(*p):
    with open(os.path.join(ROOT, *p)) as f:
        return f.read()


def test_every_config_key_is_documented_under_its_section():
    table = read("services", "common", "config_table.c")
    keys = re.findall(r'^\s+\{"([a-z.*]+)", "([a-z0-9_]+)", CFG_', table, re.M)
    assert len(keys) > 20
    readme = read("README.md")
    sections = {}
    for m in re.finditer(r"^### `\[([a-z.*<>]+)\]`.*?(?=^#)", readme, re.M | re.S):
        sections[m.group(1)] = m.group(0)
    missing = [(s, k) for s, k in keys if "| `%s` |" % k not in sections.get(s, "")]
    assert missing == [], "not in README: %s" % missing


def test_shipped_config_sets_only_known_keys():
    table = read("services", "common", "config_table.c")
    known = set(re.findall(r'^\s+\{"([a-z.*]+)", "([a-z0-9_]+)", CFG_', table, re.M))
    section = None
    for line in read("config", "hark.conf").splitlines():
        line = line.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key = line.split("=")[0].strip()
        assert (section, key) in known, (section, key)
