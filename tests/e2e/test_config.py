"""hark config: every setting as section.key = value, as postconf shows Postfix's."""
import os
import re
import subprocess

from harness import BIN, ROOT, conf_settings


def table_keys():
    with open(os.path.join(ROOT, "services", "common", "config_table.c")) as f:
        table = f.read()
    return re.findall(r'^\s+\{"([a-z]+)", "([a-z0-9_]+)", CFG_([A-Z]+), ("[^"]*"|NULL)', table,
                      re.M)


def hark_config(conf, *args, check=True):
    r = subprocess.run([os.path.join(BIN, "hark"), "-c", str(conf), "config"] + list(args),
                       capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def parse(out):
    pairs = []
    for line in out.splitlines():
        m = re.fullmatch(r"([a-z]+)\.([a-z0-9_]+) =(?: (.*))?", line)
        assert m, "not section.key = value: %r" % line
        pairs.append((m.group(1), m.group(2), m.group(3) or ""))
    return pairs


def write_conf(tmp_path, text):
    conf = tmp_path / "hark.conf"
    conf.write_text("[hark]\nstate_dir = %s\n" % (tmp_path / "var") + text)
    return conf


def test_config__prints_every_key_once_in_table_order_with_a_changed_value(tmp_path):
    conf = write_conf(tmp_path, "[survey]\ndelay = 3d\nwindow_hours = 09:00-17:00\n"
                                "[mailer]\nfrom = shop@example.com\n")
    pairs = parse(hark_config(conf).stdout)
    keys = table_keys()
    assert [(s, k) for s, k, _ in pairs] == [(s, k) for s, k, _, _ in keys]
    values = {(s, k): v for s, k, v in pairs}
    assert values["survey", "delay"] == "3d"
    assert values["survey", "window_hours"] == "09:00-17:00"
    assert values["mailer", "from"] == "shop@example.com"
    # the rest are the defaults, {state_dir} expanded as the services see it
    assert values["survey", "throttle"] == "90d"
    assert values["journal", "db"] == str(tmp_path / "var" / "journal.db")
    assert values["hark", "token_key"] == ""


def test_config_d__prints_the_defaults_whatever_the_file_says(tmp_path):
    conf = write_conf(tmp_path, "[survey]\ndelay = 3d\n")
    pairs = parse(hark_config(conf, "-d").stdout)
    defaults = {(s, k): d.strip('"') if d != "NULL" else "" for s, k, _, d in table_keys()}
    assert {(s, k): v for s, k, v in pairs} == defaults
    assert ("survey", "delay", "7d") in pairs
    assert ("journal", "endpoint", "ipc://{state_dir}/journal.sock") in pairs


def test_config_d__needs_no_config_file(tmp_path):
    r = hark_config(tmp_path / "missing.conf", "-d")
    assert "survey.delay = 7d" in r.stdout.splitlines()


def test_config_n__prints_only_the_keys_changed_from_their_default(tmp_path):
    conf = write_conf(tmp_path, "[survey]\ndelay = 3d\nthrottle = 90d\n"
                                "[mailer]\nfrom = shop@example.com\n")
    out = hark_config(conf, "-n").stdout
    # state_dir differs from "var"; throttle is set to its default: not shown
    assert out.splitlines() == ["hark.state_dir = %s" % (tmp_path / "var"),
                                "mailer.from = shop@example.com", "survey.delay = 3d"]


def test_config__names_pick_a_key_or_a_section(tmp_path):
    conf = write_conf(tmp_path, "[survey]\ndelay = 3d\n")
    assert hark_config(conf, "survey.delay").stdout == "survey.delay = 3d\n"
    lines = hark_config(conf, "smtp").stdout.splitlines()
    assert [l.split(" =")[0] for l in lines] == ["smtp." + k for s, k, _, _ in table_keys()
                                                  if s == "smtp"]
    r = hark_config(conf, "survey.nosuch", check=False)
    assert r.returncode == 1 and 'unknown setting "survey.nosuch"' in r.stderr


def test_config__a_bad_file_prints_its_errors_not_values(tmp_path):
    conf = write_conf(tmp_path, "[milestone]\ntime = 9:00\n")
    r = hark_config(conf, check=False)
    assert r.returncode == 2
    assert r.stdout == ""
    assert "%s:4: [milestone] time: expected HH:MM" % conf in r.stderr


def test_config__shipped_sample_sets_every_key_to_a_value_hark_config_shows():
    conf = os.path.join(ROOT, "config", "hark.conf")
    values = {(s, k): v for s, k, v in parse(hark_config(conf).stdout)}
    for section, key, value in conf_settings(open(conf).read()):
        if "{state_dir}" not in value:
            assert values[section, key] == value, (section, key)


def test_config__a_service_refuses_to_start_on_a_bad_value_of_a_new_kind(tmp_path):
    # the table checks these now (no per-service checker): each program
    # still refuses to start, naming file, line and key
    for prog, text, want in (
            ("hark-survey", "[survey]\nwindow_hours = 20-9\n", "[survey] window_hours"),
            ("hark-survey", "[survey]\nwindow_days = mon-xyz\n", "[survey] window_days"),
            ("hark-milestone", "[milestone]\ndefault_timezone = Mars/Olympus\n",
             "[milestone] default_timezone"),
            ("hark-milestone", "[milestone]\ncoupon = GIFT-2027\n", "[milestone] coupon")):
        conf = write_conf(tmp_path, text)
        r = subprocess.run([os.path.join(BIN, prog), "-c", str(conf)], capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 2, (prog, text, r.stderr)
        assert "%s:4: %s: " % (conf, want) in r.stderr, r.stderr


def test_config__a_service_refuses_an_argument_it_does_not_know(tmp_path):
    # a mistyped option used to be ignored and the service started instead
    for prog, args in (("hark-intake", ["--cv", "5"]), ("hark-journal", ["--verbose"]),
                       ("hark-mailer", ["-c"]), ("hark-survey", ["stray"])):
        r = subprocess.run([os.path.join(BIN, prog), "-c", os.path.join(ROOT, "config", "hark.conf")]
                           + args, cwd=tmp_path, capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (prog, r.returncode, r.stderr)
        assert "unknown or incomplete argument '%s'" % args[0] in r.stderr, r.stderr
        assert "usage:" in r.stderr
        assert not os.path.exists(tmp_path / "var"), prog  # nothing started, nothing made
    r = subprocess.run([os.path.join(BIN, "hark-journal"), "--tables"], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0 and "serves JOURNAL_ERASED" in r.stdout
