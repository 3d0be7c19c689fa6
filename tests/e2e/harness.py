"""Start and drive a real Hark instance for end-to-end tests.

Each Hark runs from its own temp state dir, config file and free loopback
port, with the binaries from $HARK_BIN (the sanitizer build under `make test`).
Nothing is mocked: HTTP goes over loopback, ZeroMQ over ipc sockets in the
state dir, and the SQLite files are the services' own.
"""
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import time

import zmq

from contract import ROOT, WIRE, check_frames, check_request, reply_names

BIN = os.environ.get("HARK_BIN", os.path.join(ROOT, "bin"))

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer")


def free_port():
    """a port free now, below the kernel's ephemeral range: a port the
    kernel gave out (bind to 0) is one it may give again to any client's
    connection before the server that was to listen on it starts (a chaos
    run's 400 connections took a NATS route port so, in a parallel test)"""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rnd = random.SystemRandom()
    for _ in range(100):
        port = rnd.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=20.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


def shop_conf(smtp_port=None, **mailer):
    """[mailer] with the shop's templates and quick retries (mailer's keys
    override), and [smtp] towards the test server on smtp_port if given."""
    conf = {"mailer": {"templates": os.path.join(ROOT, "templates"), "from": "shop@example.com",
                       "shop_name": "Tea House", "retry_min": "200ms", "retry_max": "400ms"}}
    conf["mailer"].update(mailer)
    if smtp_port:
        conf["smtp"] = {"host": "127.0.0.1", "port": str(smtp_port), "starttls": "off",
                        "timeout": "5s"}
    return conf


def conf_settings(text):
    """(section, key, value) of each setting in hark.conf-style text"""
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        yield section, key.strip(), value.strip()


class Hark:
    """One running instance: harkd and the services listed."""

    def __init__(self, tmpdir, services=("journal", "gateway"), conf=None):
        self.dir = str(tmpdir)
        self.state = os.path.join(self.dir, "var")
        self.port = free_port()
        self.ingest_key = "test-ingest-key"
        self.admin_key = "test-admin-key"
        sections = {
            "hark": {"state_dir": self.state, "services": " ".join(services)},
            "harkd": {"restart_min": "100ms", "restart_max": "1s", "grace": "10s"},
            "gateway": {"listen": "127.0.0.1:%d" % self.port, "ingest_key": self.ingest_key,
                        "admin_key": self.admin_key,
                        "public_url": "http://127.0.0.1:%d" % self.port},
        }
        for sec, kv in (conf or {}).items():
            sections.setdefault(sec, {}).update(kv)
        self.config = os.path.join(self.dir, "hark.conf")
        with open(self.config, "w") as f:
            for sec, kv in sections.items():
                f.write("[%s]\n" % sec)
                for k, v in kv.items():
                    if v is not None:
                        f.write("%s = %s\n" % (k, v))
        self.log_path = os.path.join(self.dir, "harkd.log")
        self.proc = None
        self.zctx = zmq.Context.instance()
        self.services = list(services)
        self.env = {}  # extra environment for harkd and its services (HARK_CLOCK_FILE)

    # --- life cycle -------------------------------------------------------
    def start(self, wait=True):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:exitcode=23:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        env.update(self.env)
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([os.path.join(BIN, "harkd"), "-c", self.config],
                                     stdout=self.logf, stderr=subprocess.STDOUT, env=env)
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout=30):
        def ok():
            try:
                st, _, _ = self.request("GET", "/healthz", timeout=2)
                return st == 200
            except OSError:
                return False
        if "gateway" in self.services:
            wait_for(ok, timeout, what="healthz 200")
        else:
            wait_for(lambda: all(s.get("answering") for s in self.status().get("services", [])),
                     timeout, what="services answering")

    def stop(self, check=True):
        """SIGTERM harkd, wait, and check the log for sanitizer reports and
        unclean exits.  Returns the log."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("harkd did not stop within 60 s")
        if getattr(self, "logf", None):
            self.logf.close()
        log = self.log()
        if check:
            for mark in SANITIZER_MARKS:
                assert mark not in log, "sanitizer report in harkd.log:\n" + log[-6000:]
            assert self.proc.returncode == 0, "harkd exit %s\n%s" % (self.proc.returncode, log[-3000:])
            for line in log.splitlines():
                if "event=service_stopped" in line:
                    assert 'how="exit 0"' in line, "unclean stop: " + line
        return log

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    # --- HTTP -------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data
        finally:
            conn.close()

    def post_events(self, events, key=None, idem=None, content_type="application/json",
                    raw=None, headers=None):
        h = {"Content-Type": content_type}
        if key is not False:
            h["Authorization"] = "Bearer " + (key or self.ingest_key)
        if idem:
            h["Idempotency-Key"] = idem
        h.update(headers or {})
        st, hdrs, data = self.request("POST", "/v1/events", raw if raw is not None else events, h)
        try:
            j = json.loads(data) if data else None
        except ValueError:
            j = None
        return st, j

    # --- command line -----------------------------------------------------
    def hark(self, *args, check=True, timeout=30):
        r = subprocess.run([os.path.join(BIN, "hark"), "-c", self.config] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, "hark %s: %s %s" % (args, r.stdout, r.stderr)
        return r

    def status(self):
        r = self.hark("status", "--json", check=False)
        if r.returncode != 0:
            return {}
        return json.loads(r.stdout)

    def service(self, name):
        for s in self.status().get("services", []):
            if s["name"] == name:
                return s
        return None

    def pid(self, name):
        s = self.service(name)
        return s["pid"] if s and s["running"] else 0

    def kill(self, name, sig=signal.SIGKILL):
        pid = self.pid(name)
        assert pid, name + " is not running"
        os.kill(pid, sig)
        return pid

    def kill_for(self, name, seconds, every):
        """SIGKILL service name each `every` s (when harkd has it running)
        for `seconds` s; how many times it was killed"""
        kills = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.pid(name):
                self.kill(name, signal.SIGKILL)
                kills += 1
            time.sleep(every)
        return kills

    # --- ZeroMQ -----------------------------------------------------------
    def endpoint(self, name):
        return "ipc://%s/%s" % (self.state, name)

    def call(self, endpoint, cmd, body=None, timeout=5000, reqid=1, valid=True):
        """One request, its reply (command, body).  Both are checked against
        proto/commands.json; valid=False sends a request the contract
        forbids, on purpose (it must be one)."""
        body = body if body is not None else {}
        check_request(cmd, body, valid)
        s = self.zctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        try:
            s.send_multipart([("%s %s %d" % (WIRE, cmd, reqid)).encode(),
                              json.dumps(body).encode()])
            if not s.poll(timeout):
                raise TimeoutError(cmd)
            return check_frames(s.recv_multipart(), reqid, reply_names(cmd))
        finally:
            s.close()

    def fetch_all(self, types=None):
        """Every event in the journal, in order."""
        out, after = [], 0
        while True:
            body = {"after": after, "limit": 1000}
            if types:
                body["types"] = types
            cmd, r = self.call(self.endpoint("journal.sock"), "JOURNAL_FETCH", body)
            assert cmd == "JOURNAL_FETCH_OK", r
            out.extend(r["events"])
            if not r["events"]:
                return out
            after = r["next"]
