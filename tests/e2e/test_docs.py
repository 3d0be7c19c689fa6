"""The manual: every page renders without a warning, documents every setting,
event and command, and the README's walk through the four jobs runs as written."""
import glob
import json
import os
import re
import subprocess

import pytest

from harness import BIN, ROOT, conf_settings, wait_for


def read(*p):
    with open(os.path.join(ROOT, *p)) as f:
        return f.read()


def config_keys():
    table = read("services", "common", "config_table.c")
    keys = re.findall(r'^\s+\{"([a-z.*]+)", "([a-z0-9_]+)", CFG_', table, re.M)
    assert len(keys) > 20
    return keys


@pytest.fixture(scope="module")
def man_dir():
    """`make man`: every page, the generated ones too, into build/man/."""
    p = subprocess.run(["make", "-s", "-C", ROOT, "man"], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return os.path.join(ROOT, "build", "man")


def pages(man_dir):
    found = sorted(glob.glob(os.path.join(man_dir, "man[1-8]", "*.[1-8]")))
    return {os.path.basename(p): p for p in found}


def render(path):
    """The page as man shows it, 80 columns, with every groff warning on."""
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    return subprocess.run(["man", "--warnings=w", "-E", "UTF-8", "-l", path],
                          capture_output=True, text=True, env=env)


def test_make_man_writes_every_page_beside_its_program_and_the_generated_two(man_dir):
    have = set(pages(man_dir))
    want = {"hark.1", "harkd.8", "hark.conf.5", "hark-api.7", "hark-events.7"}
    for d in os.listdir(os.path.join(ROOT, "services")):
        if d not in ("common", "hark", "harkd"):
            want.add("hark-%s.8" % d)
            assert os.path.exists(os.path.join(ROOT, "services", d, "hark-%s.8" % d)), d
    assert want <= have, "missing: %s" % sorted(want - have)


def test_every_page_renders_without_a_warning(man_dir):
    for name, path in pages(man_dir).items():
        p = render(path)
        assert p.returncode == 0, name
        assert p.stderr == "", "%s:\n%s" % (name, p.stderr)
        assert len(p.stdout.splitlines()) > 15, name
        assert "NAME" in p.stdout and "SEE ALSO" in p.stdout, name
        # every page it points to exists
        for ref, sec in re.findall(r"\b(hark[a-z.\-]*)\((\d)\)", p.stdout):
            assert "%s.%s" % (ref, sec) in pages(man_dir), "%s names %s(%s)" % (name, ref, sec)


def test_every_config_key_is_documented_under_its_section(man_dir):
    text = render(pages(man_dir)["hark.conf.5"]).stdout
    sections = {}
    for m in re.finditer(r"^   \[([a-z.*]+)\]\n(.*?)(?=^   \[|^[A-Z])", text, re.M | re.S):
        sections[m.group(1)] = m.group(2)
    missing = [(s, k) for s, k in config_keys()
               if not re.search(r"^       %s = " % re.escape(k), sections.get(s, ""), re.M)]
    assert missing == [], "not in hark.conf(5): %s" % missing


def test_hark_conf_page_shows_the_table_defaults(man_dir):
    text = render(pages(man_dir)["hark.conf.5"]).stdout
    # groff justifies lines by widening spaces (which ones depends on the
    # lines before), so a run of spaces reads as one
    assert re.search(r"^       synchronous = full\n\s+\(one +word +of +full +normal\)", text, re.M)
    assert re.search(r"^       max_body = 4M\n\s+\(size, +1k +to +64M\)", text, re.M)
    assert re.search(r"^       token_key = \(unset\)", text, re.M)


def test_every_event_type_is_documented(man_dir):
    text = render(pages(man_dir)["hark-events.7"]).stdout
    types = [os.path.basename(p)[:-5] for p in glob.glob(os.path.join(ROOT, "proto", "events", "*.json"))]
    assert len(types) > 15
    missing = [t for t in types if not re.search(r"^   %s\n" % re.escape(t), text, re.M)]
    assert missing == [], "not in hark-events(7): %s" % missing
    # and every field of each payload, under its type
    for t in types:
        with open(os.path.join(ROOT, "proto", "events", t + ".json")) as f:
            props = json.load(f).get("properties", {})
        part = re.split(r"\n {0,3}(?=\S)", text.split("\n   %s\n" % t, 1)[1], 1)[0]
        for field in props:
            assert re.search(r"^       %s\b" % re.escape(field), part, re.M), (t, field)


def test_every_command_is_documented(man_dir):
    events = render(pages(man_dir)["hark-events.7"]).stdout
    api = render(pages(man_dir)["hark-api.7"]).stdout
    with open(os.path.join(ROOT, "proto", "commands.json")) as f:
        names = [c["name"] for c in json.load(f)["commands"]]
    assert len(names) > 20
    missing = [n for n in names if n not in events and n not in api]
    assert missing == [], "not in hark-events(7) or hark-api(7): %s" % missing


def test_every_cli_command_is_in_hark_1(man_dir):
    text = render(pages(man_dir)["hark.1"]).stdout
    usage = subprocess.run([os.path.join(BIN, "hark"), "--help"], capture_output=True, text=True).stdout
    cmds = re.findall(r"^  ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", usage, re.M)
    assert len(cmds) > 20
    missing = [c for c in cmds if c not in text]
    assert missing == [], "not in hark(1): %s" % missing


def test_readme_is_a_front_door():
    text = read("README.md")
    assert len(text.splitlines()) <= 250
    assert "make run" in text and "make test" in text
    for page in ("hark(1)", "harkd(8)", "hark.conf(5)", "hark-api(7)", "hark-events(7)"):
        assert page in text.split("## Read on", 1)[1], page


def test_no_issue_numbers_in_the_tree():
    """Code, docs and tests say what they mean, not which ticket asked."""
    pattern = re.compile(r"issues? ?#?[0-9]|\(#[0-9]+\)", re.I)
    hits = []
    for top, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in (".git", "build", "bin", "var", "node_modules")]
        for name in files:
            path = os.path.join(top, name)
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except (UnicodeDecodeError, OSError):
                continue
            hits += ["%s: %s" % (os.path.relpath(path, ROOT), m.group(0))
                     for m in pattern.finditer(text)]
    assert hits == []


def test_shipped_config_sets_only_known_keys():
    known = set(config_keys())
    for section, key, _ in conf_settings(read("config", "hark.conf")):
        assert (section, key) in known, (section, key)


def _blocks(text, heading):
    """the shell blocks of the README's section under heading"""
    return re.findall(r"```sh\n(.*?)```", text.split(heading, 1)[1].split("\n## ", 1)[0], re.S)


def test_readme_walk_through_runs_as_written(make_hark):
    """The ten-minute walk, block by block in one shell, against a real
    instance: bin/, config/ and templates/ are the repository's, var/ is the
    instance's state, the gateway its own port.  Only [milestone] interval is
    shortened, so the birthday is found in a second instead of a minute."""
    text = read("README.md")
    walk = text.split("## Ten minutes with Hark", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", walk, re.S)
    assert len(blocks) >= 8
    # KEY and post() come from the five minutes before it (not its complaint)
    five = _blocks(text, "## Five minutes to the console")
    blocks = [b for b in five if "post() {" in b] + blocks
    h = make_hark(services=("journal", "gateway", "mailer", "survey", "milestone", "intake", "loop"),
                  conf={"milestone": {"interval": "1s"}})
    for name, target in (("bin", BIN), ("config", os.path.join(ROOT, "config")),
                         ("templates", os.path.join(ROOT, "templates"))):
        os.symlink(target, os.path.join(h.dir, name))
    script = "set -e -o pipefail\n" + "\n".join(blocks)
    script = script.replace("127.0.0.1:8080", "127.0.0.1:%d" % h.port)
    env = dict(os.environ, HARK_CONFIG=h.config)
    p = subprocess.run(["bash", "-c", script], cwd=h.dir, env=env, capture_output=True,
                       text=True, timeout=240)
    out = p.stdout
    assert p.returncode == 0, out[-4000:] + p.stderr[-4000:]
    # 1. the invite went out and Ola's answer counts
    assert "NPS -100.0   responses 1" in out
    # 2. Anna's birthday message carried a genuine coupon
    assert "valid: birthday coupon of customer c7" in out
    # 3. both complaints became shipping_delay cases of logistics, one replied
    assert re.search(r"^C\d+ +complaint +open +logistics +shipping_delay", out, re.M)
    assert re.search(r"^C\d+ +nps +open +logistics +shipping_delay", out, re.M)
    assert "case.replied journaled" in out
    # 4. the dry run counted both, the close told both, the report says so
    assert "2 customers would hear (en 1, pl-PL 1)" in out
    assert "hark-loop tells 2 customers" in out
    assert re.search(r"^shipping_delay +2 +0 +1 +2 ", out, re.M)
    # the mailer delivered every email of the walk (the team's alerts too),
    # and told each customer once
    def delivered():
        return [e["payload"]["template"] for e in h.fetch_all(["mail.delivered"])]
    wait_for(lambda: len(delivered()) >= 9, 30, what="nine emails delivered")
    assert sorted(delivered()) == ["birthday", "complaint_ack", "complaint_ack", "complaint_alert",
                                   "complaint_alert", "complaint_reply", "loop_closed",
                                   "loop_closed", "nps_invite"]
    told = [e["payload"]["customer_id"] for e in h.fetch_all(["loop.notified"])]
    assert sorted(told) == ["c42", "c7"]
    h.stop()


def test_readme_five_minutes_to_the_console_run_as_written(make_hark):
    """From `make run` to the first complaint in Hark Console's inbox: the
    section's blocks in one shell against a real instance (the repository's
    bin/, config/ and templates/), then the console signed in to with the
    README's own name and password, over HTTP."""
    from test_console import Browser
    from harness import free_port
    text = read("README.md")
    blocks = _blocks(text, "## Five minutes to the console")
    assert len(blocks) == 3 and "bin/hark user add" in blocks[0]
    name, password = re.search(r"printf '%s\\n' '([^']+)' \| bin/hark user add (\w+) ",
                               blocks[0]).group(2, 1)
    console_port = free_port()
    h = make_hark(services=("journal", "gateway", "mailer", "intake", "console"),
                  conf={"console": {"listen": "127.0.0.1:%d" % console_port,
                                    "public_url": "http://127.0.0.1:%d" % console_port}})
    for d, target in (("bin", BIN), ("config", os.path.join(ROOT, "config")),
                      ("templates", os.path.join(ROOT, "templates"))):
        os.symlink(target, os.path.join(h.dir, d))
    script = "set -e -o pipefail\n" + "\n".join(blocks)
    script = script.replace("127.0.0.1:8080", "127.0.0.1:%d" % h.port)
    p = subprocess.run(["bash", "-c", script], cwd=h.dir, capture_output=True, text=True,
                       env=dict(os.environ, HARK_CONFIG=h.config), timeout=120)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    case = "C%d" % json.loads(p.stdout.strip().splitlines()[-1])["offsets"][0]
    # the browser the README opens, at the console's address, signed in as it says
    assert "http://127.0.0.1:8081" in text.split("## Five minutes to the console", 1)[1]
    b = Browser(console_port)
    st, hdr, _, _ = b.login(name, password)
    assert st == 303, st

    def listed():
        st, _, page, _ = b.get("/cases")
        return page if st == 200 and 'href="/cases/%s"' % case in page else None
    page = wait_for(listed, 30, what="the README's complaint in the inbox")
    row = [r for r in page.split("<tr") if 'href="/cases/%s"' % case in r][0]
    assert "logistics" in row and "Damaged item" in row and "c1" in row
    h.stop()
