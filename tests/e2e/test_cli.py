"""harkd and the hark command: status, tail, keys, check-config, restarts."""
import json
import os
import signal
import subprocess
import time

from harness import BIN, Hark, wait_for

CUSTOMER = {"type": "customer", "data": {"id": "c1", "email": "anna@example.com"}}


def test_status_lists_every_service_with_pid_uptime_and_restarts(hark):
    st = hark.status()
    names = [s["name"] for s in st["services"]]
    assert names == ["journal", "gateway"]
    for s in st["services"]:
        assert s["running"] and s["pid"] > 0 and s["restarts"] == 0
    text = hark.hark("status").stdout
    assert "journal" in text and "gateway" in text and "RESTARTS" in text


def test_status_shows_consumer_lag(make_hark):
    h = make_hark(services=("journal", "gateway", "counter"))
    h.post_events([CUSTOMER] * 5)
    wait_for(lambda: h.service("counter").get("lag") == 0, what="counter caught up")
    s = h.service("counter")
    assert s["cursor"] == 5 + 0 and h.status()["head"] == 5
    h.stop()


def test_a_killed_service_is_restarted_and_the_death_is_logged(hark):
    old = hark.kill("gateway")
    wait_for(lambda: hark.pid("gateway") not in (0, old), what="gateway restarted")
    s = hark.service("gateway")
    assert s["restarts"] == 1 and s["last_exit"] == "signal KILL"
    hark.wait_healthy()
    assert "event=service_died service=gateway" in hark.log()


def test_restart_delay_doubles_up_to_the_cap(make_hark):
    h = make_hark(conf={"harkd": {"restart_min": "200ms", "restart_max": "400ms"}})
    delays = []
    for _ in range(3):
        old = h.kill("journal")
        wait_for(lambda: h.pid("journal") not in (0, old), what="journal back")
    for line in h.log().splitlines():
        if "event=service_died service=journal" in line:
            delays.append(int(line.split("restart_in_ms=")[1].split()[0]))
    assert delays == [200, 400, 400]
    h.stop(check=False)


def test_tail_prints_events_as_json_lines_and_filters_by_type(hark):
    hark.post_events([CUSTOMER, {"type": "purchase", "data": {"customer_id": "c1", "order_id": "o1"}}])
    lines = hark.hark("tail", "--from", "0").stdout.splitlines()
    assert [json.loads(l)["type"] for l in lines] == ["customer", "purchase"]
    lines = hark.hark("tail", "--from", "0", "--type", "purchase").stdout.splitlines()
    assert [json.loads(l)["type"] for l in lines] == ["purchase"]


def test_tail_without_from_shows_the_last_ten(hark):
    hark.post_events([CUSTOMER] * 15)
    lines = hark.hark("tail").stdout.splitlines()
    assert [json.loads(l)["offset"] for l in lines] == list(range(6, 16))


def test_tail_follow_prints_new_events_as_they_come(hark):
    p = subprocess.Popen([os.path.join(BIN, "hark"), "-c", hark.config, "tail", "--follow"],
                         stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        hark.post_events(CUSTOMER)
        line = p.stdout.readline()
        assert json.loads(line)["payload"]["id"] == "c1"
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(10) == 0


def test_keys_are_generated_on_first_start_and_work(make_hark):
    h = make_hark(conf={"gateway": {"ingest_key": None, "admin_key": None}}, start=False)
    # the harness always writes keys; drop them so harkd must generate
    text = open(h.config).read().replace("ingest_key = test-ingest-key\n", "").replace(
        "admin_key = test-admin-key\n", "")
    open(h.config, "w").write(text)
    h.start()
    out = h.hark("keys").stdout
    ingest = out.split("ingest_key = ")[1].split()[0]
    assert len(ingest) == 64
    assert oct(os.stat(os.path.join(h.state, "keys", "ingest.key")).st_mode & 0o777) == "0o600"
    st, _ = h.post_events(CUSTOMER, key=ingest)
    assert st == 202
    h.stop()


def test_check_config_reports_every_error_with_file_and_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[hark]\nservices = journal gateway nosuch\n"
                    "[gateway]\nlisten = nowhere\nmax_body = lots\n"
                    "[journal]\nsynchronous = sometimes\nmax_batch = 10\nmax_batch = 20\n"
                    "[typo]\nx = 1\n"
                    "just some words\n")
    h = Hark(tmp_path)
    r = subprocess.run([os.path.join(BIN, "hark"), "-c", str(conf), "check-config"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    err = r.stderr
    for expect in ("bad.conf:4: [gateway] listen: expected HOST:PORT",
                   "bad.conf:5: [gateway] max_body: expected a size",
                   "bad.conf:7: [journal] synchronous: expected one of: full normal",
                   "bad.conf:9: [journal] max_batch: set twice (first on line 8)",
                   "bad.conf:11: unknown section [typo]",
                   "bad.conf:12: expected \"key = value\"",
                   'unknown service "nosuch"'):
        assert expect in err, err
    del h


def test_check_config_accepts_the_shipped_config():
    from harness import ROOT as root
    r = subprocess.run([os.path.join(BIN, "hark"), "-c", os.path.join(root, "config/hark.conf"),
                        "check-config"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


def test_a_service_refuses_to_start_on_a_config_error(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[hark]\nstate_dir = %s\n[journal]\nmax_batch = 0\n" % (tmp_path / "var"))
    r = subprocess.run([os.path.join(BIN, "hark-journal"), "-c", str(conf)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert "bad.conf:4: [journal] max_batch" in r.stderr


def test_harkd_stops_every_service_on_sigterm(hark):
    pids = [hark.pid("journal"), hark.pid("gateway")]
    log = hark.stop()
    for pid in pids:
        assert not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z"
    assert log.count("event=service_stopped") == 2
    # reverse order: the gateway stops taking requests before the journal goes
    assert log.index("service=gateway how") < log.index("service=journal how")


def test_status_says_when_harkd_is_not_running(tmp_path):
    h = Hark(tmp_path)
    r = h.hark("status", check=False)
    assert r.returncode == 1 and "harkd is not running" in r.stderr
