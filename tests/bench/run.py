#!/usr/bin/env python3
"""Hark benchmarks: the journal over ZeroMQ, the gateway over HTTP (beside a
bare libmicrohttpd server under the same load), the gateway holding 1,300
idle and slow connections while another client posts events, and plain
SQLite as the baseline -- all on this machine, in one run.

    make bench                      # builds bin/ (release) and runs this
    HARK_BIN=bin HARK_ROOT=. /usr/bin/python3 tests/bench/run.py [--quick]

Everything is started and stopped here: each measurement gets a fresh Hark
instance (tests/e2e/harness.py: harkd + services from $HARK_BIN, temp state
dir, free loopback port).  Traffic is loopback and ipc only.  Every step has
a timeout and the whole run is cut off after --max-seconds.

Prints a table and writes tests/bench/results.json.  See README.md here for
what each figure means.
"""
import argparse
import json
import os
import re
import resource
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# benchlib (next to this script) sets HARK_ROOT/HARK_BIN and finds harness
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BIN, HERE, CpuMeter, Deadline, Perf, arm_deadline,  # noqa: E402
                      check_binaries, command_output, end_process, fmt, log, machine_info, machine_line,
                      perf_report, perf_symbols, remove_temp, stop_hark, write_results)
from harness import WIRE, Hark  # noqa: E402
import gateway_hold  # noqa: E402

GOAL_JOURNAL = 100_000  # events/s over ZeroMQ, acknowledged after COMMIT
# events/s through POST /v1/events (202 after COMMIT), by events per request
GOAL_GATEWAY = {1: 25_667, 100: 101_578}
GOAL_BARE_PCT = 50       # gateway 1 event/request as % of bare libmicrohttpd, same wrk run
GOAL_HOLD_P99_MS = 1000  # events posted while 1,300 connections are held open
GOAL_HOLD_RSS_MIB = 64   # the gateway's VmHWM with them open

# (threads, window, batch, synchronous, keys); keys "seq" = ascending per
# connection (as the gateway's time-ordered keys), "random" = gw:<32 hex>,
# keys in no order (what the gateway made for id-less events before)
JOURNAL_RUNS = [
    (1, 1, 1, "full", "seq"),      # strictly serial: one request at a time
    (1, 4, 1, "full", "seq"),
    (4, 4, 1, "full", "seq"),
    (16, 4, 1, "full", "seq"),
    (16, 16, 1, "full", "seq"),    # deeper pipeline: 256 requests in flight
    (1, 4, 100, "full", "seq"),
    (4, 4, 100, "full", "seq"),
    (16, 4, 100, "full", "seq"),
    (16, 4, 100, "full", "random"),
    (16, 4, 1, "full", "seq", 100),  # 100 one-event batches per message: a coalescing gateway
    (16, 4, 1, "normal", "seq"),
    (16, 4, 100, "normal", "seq"),
]
GATEWAY_RUNS = [1, 100]          # events per request
GATEWAY_CONNECTIONS = 64
HOLD_NEW, HOLD_KEEPALIVE = 200, 200  # events posted while the connections are held
HOLD_SETTLE_S = 5.0                  # at most, after opening, for answers and refusals to arrive
SECTIONS = ("journal", "gateway", "bare", "hold", "sqlite")
# (rows per transaction, seconds, keys)
SQLITE_RUNS = [(1000, 3.0, "sequential"), (100, 3.0, "sequential"), (1, 2.0, "sequential"),
               (1000, 3.0, "random")]


# --- machine ------------------------------------------------------------------------
def run_machine_info(base):
    versions = {p: command_output(["pkg-config", "--modversion", p])
                for p in ("libzmq", "sqlite3", "jansson", "libmicrohttpd")}
    r = subprocess.run(["wrk", "-v"], capture_output=True, text=True) if shutil.which("wrk") else None
    m = r and re.search(r"wrk (\S+)", r.stdout + r.stderr)
    versions["wrk"] = m.group(1) if m else None
    # the SQLite files live in the temp dir: its filesystem decides what an fsync costs
    info = machine_info(base, "state_fs", versions)
    info["affinity"] = len(os.sched_getaffinity(0))
    try:
        with open("/proc/meminfo") as f:
            m = re.search(r"^MemTotal:\s*(\d+) kB", f.read(), re.M)
            info["mem_gib"] = round(int(m.group(1)) / 1048576, 1) if m else None
    except OSError:
        pass
    return info


# --- building and starting ----------------------------------------------------------
def compile_tools(build):
    cc = os.environ.get("CC", "cc")
    out = {}
    for name, pkgs in (("bench_journal", "libzmq jansson"), ("sqlite_baseline", "sqlite3"),
                       ("bare_httpd", "libmicrohttpd")):
        r = subprocess.run(["pkg-config", "--cflags", "--libs"] + pkgs.split(),
                           capture_output=True, text=True, check=True)
        exe = os.path.join(build, name)
        cmd = [cc, "-O2", "-std=c11", "-Wall", "-Wextra", "-o", exe,
               os.path.join(HERE, name + ".c")] + shlex.split(r.stdout) + ["-lpthread"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            sys.exit("run.py: compiling %s failed:\n%s\n%s" % (name, " ".join(cmd), r.stderr))
        out[name] = exe
    return out


class Instances:
    """Every Hark started, so that all of them are stopped whatever happens"""

    def __init__(self, base):
        self.base = base
        self.live = []
        self.n = 0

    def start(self, services, conf=None):
        self.n += 1
        d = os.path.join(self.base, "hark%d" % self.n)
        os.makedirs(d)
        h = Hark(d, services=services, conf=conf)
        self.live.append(h)
        h.start()
        return h

    def stop(self, h):
        if h in self.live:
            self.live.remove(h)
        return stop_hark(h, h.dir)

    def stop_all(self):
        for h in list(self.live):
            self.stop(h)


def journal_head(h):
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_FETCH", {"after": 0, "limit": 1}, timeout=10000)
    if cmd != "JOURNAL_FETCH_OK":
        raise RuntimeError("JOURNAL_FETCH: %s %s" % (cmd, r))
    return r["head"]


def settle_head(h, timeout=10.0):
    """the journal's head once it has stopped moving (requests in flight done)"""
    last, since = journal_head(h), time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        cur = journal_head(h)
        if cur != last:
            last, since = cur, time.monotonic()
        elif time.monotonic() - since >= 0.4:
            break
    return last


# --- perf (optional) ----------------------------------------------------------------
# frames every thread runs under: they would top every profile and say nothing
PERF_GENERIC = {"clone3", "start_thread", "_start", "main", "__libc_start_call_main",
                "__libc_start_main_impl", "service_main", "evloop_run", "do_syscall_64",
                "entry_SYSCALL_64_after_hwframe"}


def perf_top(data):
    """the symbols with >= 3 % of the samples, callees included"""
    return perf_symbols(perf_report(data, "symbol", 3), skip=PERF_GENERIC)[:30]


# --- the three benchmarks -----------------------------------------------------------
def run_sampled(cmd, pids, skip, length, timeout, perf=None, perf_pid=None, perf_tag=None):
    """Run cmd; measure CPU of pids (and of cmd itself, as "client") from
    skip seconds after its start for length seconds, i.e. over the measured
    window only.  Returns (CompletedProcess-like, cpu dict)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cpu = None
    try:
        t0 = time.monotonic()
        if perf is not None:
            perf.start(perf_pid, perf_tag)
        watch = CpuMeter(dict(pids, client=p.pid))
        time.sleep(max(0.0, skip - (time.monotonic() - t0)))
        if p.poll() is None:
            watch.start()
            time.sleep(length)
            cpu = watch.stop()
        out, err = p.communicate(timeout=timeout)
    except BaseException:
        p.kill()
        p.communicate()
        raise
    top = perf.stop() if perf is not None else None
    return subprocess.CompletedProcess(cmd, p.returncode, out, err), cpu or {}, top


def median_of(runs, ok):
    """the run with the median events/s; all of them are kept under "repeats",
    and the result counts as verified only when every run passed its checks"""
    if len(runs) == 1:
        return runs[0]
    runs_sorted = sorted(runs, key=lambda r: r.get("events_per_s") or 0)
    res = dict(runs_sorted[(len(runs_sorted) - 1) // 2])
    res["repeats"] = [r.get("events_per_s") for r in runs]
    res["repeat_cpu_others_pct"] = [r.get("cpu", {}).get("others_cpu_pct") for r in runs]
    if not all(ok(r) for r in runs):
        res["verified"] = False
        res["first_error"] = "a repeat failed: " + "; ".join(
            str(r.get("first_error") or r.get("error") or "check failed") for r in runs if not ok(r))
    return res


def journal_once(tools, inst, args, perf, t, w, b, sync, keys, m=0):
    name = "journal %s T=%d W=%d B=%d%s%s" % (sync, t, w, b, " M=%d" % m if m else "",
                                           " random keys" if keys == "random" else "")
    res = {"threads": t, "window": w, "batch": b, "synchronous": sync,
           "keys": "random" if keys == "random" else "sequential", "batches_per_message": m}
    try:
        h = inst.start(("journal",), {"journal": {"synchronous": sync}})
    except Exception as e:  # noqa: BLE001 - report, keep going
        log("  %-42s did not start: %s" % (name, e))
        return dict(res, verified=False, head_matches_acked=False, first_error="start failed: %s" % e)
    try:
        pid = h.pid("journal")
        cmd = [tools["bench_journal"], "-e", h.endpoint("journal.sock"),
               "-p", h.endpoint("journal.pub"), "-t", str(t), "-w", str(w), "-b", str(b),
               "-d", str(args.journal_seconds), "-u", str(args.warmup), "-k", "bench%d" % inst.n,
               "-V", WIRE] + (["-r"] if keys == "random" else []) + (["-m", str(m)] if m else [])
        # bench_journal: 0.3 s to connect, the warm-up, then the window
        r, cpu, top = run_sampled(cmd, {"journal": pid}, 0.3 + args.warmup + 0.05,
                                  args.journal_seconds - 0.1,
                                  args.journal_seconds + args.warmup + 60,
                                  perf, pid, "journal-%s-t%d-w%d-b%d-m%d-%s" % (sync, t, w, b, m, keys))
        try:
            res.update(json.loads(r.stdout.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            res.update({"verified": False, "first_error": "no output: " + r.stderr[-500:]})
        head = settle_head(h)
        res["journal_head"] = head
        res["head_matches_acked"] = head == res.get("acked_events")
        res["exit"] = r.returncode
        res["cpu"] = cpu
        if res.get("events_per_s") and cpu.get("wall_s"):
            res["journal_write_bytes_per_event"] = round(
                cpu.get("journal_write_bytes", 0) / (res["events_per_s"] * cpu["wall_s"]), 1)
            res["journal_cpu_us_per_event"] = round(
                cpu.get("journal_cpu_pct", 0) / 100 * 1e6 / res["events_per_s"], 2)
        if top is not None:
            res["perf_top"] = top
        if r.stderr.strip():
            res["stderr"] = r.stderr.strip()[-1000:]
    except Exception as e:  # noqa: BLE001 - report, keep going
        res.update({"verified": False, "first_error": "%s: %s" % (type(e).__name__, e)})
        res.setdefault("head_matches_acked", False)
    finally:
        res["journal_exit"] = inst.stop(h)
    ok = res.get("verified") and res.get("head_matches_acked")
    cpu = res.get("cpu", {})
    log("  %-42s %9s events/s %8s ev/commit  p50 %7s ms  journal CPU %4s%%  others %4s%%  %s" % (
        name, fmt(res.get("events_per_s")), fmt(res.get("events_per_commit"), 1),
        fmt(res.get("latency_ms", {}).get("p50"), 2), fmt(cpu.get("journal_cpu_pct"), 0),
        fmt(cpu.get("others_cpu_pct"), 0),
        "ok" if ok else "NOT VERIFIED: " + str(res.get("first_error") or "head %s != acked %s" % (
            res.get("journal_head"), res.get("acked_events")))))
    return res


def bench_journal(tools, inst, args, perf, results):
    """appends to results as it goes, so a run cut short keeps what it measured"""
    for cfg in JOURNAL_RUNS:
        results.append(median_of([journal_once(tools, inst, args, perf, *cfg) for _ in range(args.repeat)],
                                 lambda r: r.get("verified") and r.get("head_matches_acked")))


def wrk_cmd(port, key, events, seconds, args):
    return ["wrk", "-t", str(args.wrk_threads), "-c", str(GATEWAY_CONNECTIONS), "-d", "%ds" % seconds,
            "--timeout", "10s", "--latency", "-s", os.path.join(HERE, "post_events.lua"),
            "http://127.0.0.1:%d" % port, "--", key, str(events)]


def wrk_result(r):
    m = re.search(r"^BENCH_JSON (\{.*\})$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        raise RuntimeError("wrk failed (%d): %s %s" % (r.returncode, r.stdout[-800:], r.stderr[-800:]))
    return json.loads(m.group(1))


def gateway_once(inst, args, perf, events):
    name = "gateway %d event%s/request" % (events, "" if events == 1 else "s")
    res = {"events_per_request": events, "connections": GATEWAY_CONNECTIONS,
           "wrk_threads": args.wrk_threads}
    try:
        conf = {}
        if args.encrypt:
            conf["privacy"] = {"encrypt": args.encrypt}
        if args.gateway_set:
            conf["gateway"] = dict(kv.split("=", 1) for kv in args.gateway_set)
        h = inst.start(("journal", "gateway"), conf or None)
    except Exception as e:  # noqa: BLE001 - report, keep going
        log("  %-42s did not start: %s" % (name, e))
        return dict(res, verified=False, error="start failed: %s" % e)
    try:
        # probe: a customer like the ones the Lua script sends is accepted
        st, body = h.post_events({"type": "customer", "data": {
            "id": "c1", "email": "customer.1@example.com", "locale": "en-GB",
            "timezone": "Europe/London", "signup_date": "2024-01-31"}})
        if st != 202:
            raise RuntimeError("probe POST answered %s %s" % (st, body))
        # warm-up: MHD starts its 64 connection threads, each makes its journal DEALER
        wrk_result(subprocess.run(wrk_cmd(h.port, h.ingest_key, events, max(1, int(args.warmup)), args),
                                  capture_output=True, text=True, timeout=60))
        head0 = settle_head(h)
        pids = {"gateway": h.pid("gateway"), "journal": h.pid("journal")}
        r, cpu, top = run_sampled(wrk_cmd(h.port, h.ingest_key, events, args.gateway_seconds, args), pids, 0.2,
                                  args.gateway_seconds - 0.4, args.gateway_seconds + 60,
                                  perf, pids["gateway"], "gateway-%d" % events)
        w = wrk_result(r)
        head1 = settle_head(h)
        secs = w["duration_us"] / 1e6
        err = w["errors"]
        ok_requests = w["requests"] - err["status"]
        res.update({
            "seconds": round(secs, 3), "requests": w["requests"], "non_2xx": err["status"],
            "socket_errors": {k: err[k] for k in ("connect", "read", "write", "timeout")},
            "requests_per_s": w["requests"] / secs,
            "events_per_s": ok_requests * events / secs,
            "latency_ms": w["latency_ms"], "head_before": head0, "head_after": head1,
            "head_growth": head1 - head0, "expected_min_growth": ok_requests * events,
            "cpu": cpu,
        })
        res["verified"] = (err["status"] == 0 and sum(res["socket_errors"].values()) == 0
                           and res["head_growth"] >= res["expected_min_growth"])
        if res["requests_per_s"] and cpu.get("wall_s"):
            n = res["requests_per_s"] * cpu["wall_s"]
            res["context_switches_per_request"] = {
                k: round(cpu.get(k + "_context_switches", 0) / n, 2) for k in ("gateway", "journal", "client")}
        if res["events_per_s"]:
            res["gateway_cpu_us_per_event"] = round(cpu.get("gateway_cpu_pct", 0) / 100 * 1e6 / res["events_per_s"], 2)
            res["journal_cpu_us_per_event"] = round(cpu.get("journal_cpu_pct", 0) / 100 * 1e6 / res["events_per_s"], 2)
        if top is not None:
            res["perf_top"] = top
    except Exception as e:  # noqa: BLE001 - report, keep going
        res.update({"verified": False, "error": "%s: %s" % (type(e).__name__, e)})
    finally:
        res["harkd_exit"] = inst.stop(h)
    cpu = res.get("cpu", {})
    log("  %-42s %9s events/s %8s req/s  p50 %7s ms  gateway CPU %4s%%  journal CPU %4s%%  others %4s%%  %s" % (
        name, fmt(res.get("events_per_s")), fmt(res.get("requests_per_s")),
        fmt(res.get("latency_ms", {}).get("p50"), 1), fmt(cpu.get("gateway_cpu_pct"), 0),
        fmt(cpu.get("journal_cpu_pct"), 0), fmt(cpu.get("others_cpu_pct"), 0),
        "ok" if res.get("verified") else "NOT VERIFIED: %s" % (res.get("error") or {
            k: res.get(k) for k in ("non_2xx", "socket_errors", "head_growth", "expected_min_growth")})))
    return res


def bench_gateway(inst, args, perf, results):
    for events in GATEWAY_RUNS:
        results.append(median_of([gateway_once(inst, args, perf, events) for _ in range(args.repeat)],
                                 lambda r: r.get("verified")))


def bare_once(tools, args):
    """the same wrk command as the 1-event gateway run against bare_httpd:
    libmicrohttpd in epoll mode with a thread per CPU, answering every
    request 202 with a fixed body, no Hark code (the ceiling for the gateway)"""
    res = {"events_per_request": 1, "connections": GATEWAY_CONNECTIONS, "wrk_threads": args.wrk_threads}
    p = subprocess.Popen([tools["bare_httpd"], "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        r, _, _ = select.select([p.stdout], [], [], 10)
        line = p.stdout.readline().split() if r else []
        if len(line) != 3 or line[0] != "READY":
            raise RuntimeError("bare_httpd did not start: %r %s" % (
                line, p.stderr.read(500) if p.poll() is not None else ""))
        port, res["threads"] = int(line[1]), int(line[2])
        wrk_result(subprocess.run(wrk_cmd(port, "bench", 1, max(1, int(args.warmup)), args),
                                  capture_output=True, text=True, timeout=60))
        r, cpu, _ = run_sampled(wrk_cmd(port, "bench", 1, args.gateway_seconds, args), {"bare": p.pid}, 0.2,
                                args.gateway_seconds - 0.4, args.gateway_seconds + 60)
        w = wrk_result(r)
        secs = w["duration_us"] / 1e6
        err = w["errors"]
        res.update({
            "seconds": round(secs, 3), "requests": w["requests"], "non_2xx": err["status"],
            "socket_errors": {k: err[k] for k in ("connect", "read", "write", "timeout")},
            "requests_per_s": w["requests"] / secs,
            "events_per_s": (w["requests"] - err["status"]) / secs,
            "latency_ms": w["latency_ms"], "cpu": cpu})
        res["verified"] = err["status"] == 0 and sum(res["socket_errors"].values()) == 0
    except Exception as e:  # noqa: BLE001 - report, keep going
        res.update({"verified": False, "error": "%s: %s" % (type(e).__name__, e)})
    finally:
        end_process(p)
        res["exit"] = p.returncode
    log("  %-42s %9s req/s     p50 %7s ms  bare CPU %4s%%  others %4s%%  %s" % (
        "bare libmicrohttpd, 202, same wrk command", fmt(res.get("requests_per_s")),
        fmt(res.get("latency_ms", {}).get("p50"), 1), fmt(res.get("cpu", {}).get("bare_cpu_pct"), 0),
        fmt(res.get("cpu", {}).get("others_cpu_pct"), 0),
        "ok" if res.get("verified") else "NOT VERIFIED: %s" % (res.get("error") or {
            k: res.get(k) for k in ("non_2xx", "socket_errors")})))
    return res


def bench_bare(tools, args, out):
    out.update(median_of([bare_once(tools, args) for _ in range(args.repeat)], lambda r: r.get("verified")))


def hold_settings(mode):
    """the gateway's defaults (hark config -d gateway) and what the hold run
    sets: nothing, unless the gateway is the epoll one (it knows
    [gateway] head_timeout) and its defaults would not hold every connection
    (mode "auto"); mode "raise" raises them whatever the gateway, mode
    "defaults" never sets anything"""
    r = subprocess.run([os.path.join(BIN, "hark"), "config", "-d", "gateway"],
                       capture_output=True, text=True, timeout=20)
    d = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition("=")
        if k.strip().startswith("gateway."):
            d[k.strip()[len("gateway."):]] = v.strip()
    keep = ("max_connections", "per_ip_connections", "connection_timeout", "threads", "head_timeout",
            "body_timeout", "max_header")
    defaults = {k: d[k] for k in keep if k in d}
    total = gateway_hold.IDLE + gateway_hold.SLOW
    per_ip = -(-total // len(gateway_hold.SOURCES))
    epoll = "head_timeout" in d or "threads" in d
    conf = {}
    if (mode == "auto" and epoll) or mode == "raise":
        try:
            if int(d.get("max_connections", 0)) < total + 64:
                conf["max_connections"] = str(total + 100)
            if int(d.get("per_ip_connections", 0)) < per_ip:
                conf["per_ip_connections"] = str(per_ip + 40)
        except ValueError:
            pass
    return {"defaults": defaults, "set_for_run": conf,
            "gateway": "epoll, thread pool" if epoll else "thread per connection"}


def hold_once(inst, args):
    """1,000 idle and 300 slow connections held open (gateway_hold.Holder),
    then events posted from another address; what got through, how fast,
    how many connections the gateway kept, and its memory"""
    settings = hold_settings(args.hold_conf)
    res = {"idle": gateway_hold.IDLE, "slow": gateway_hold.SLOW, "sources": gateway_hold.SOURCES,
           "client_address": gateway_hold.CLIENT_ADDR, "slow_line_every_s": gateway_hold.SLOW_EVERY,
           "settings": settings}
    try:
        conf = settings["set_for_run"]
        h = inst.start(("journal", "gateway"), {"gateway": conf} if conf else None)
    except Exception as e:  # noqa: BLE001 - report, keep going
        log("  hold: did not start: %s" % e)
        return dict(res, verified=False, error="start failed: %s" % e)
    holder = None
    # raised only now, so that the gateway keeps the limit it was given
    old_nofile = gateway_hold.raise_nofile(gateway_hold.IDLE + gateway_hold.SLOW + 256)
    try:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < gateway_hold.IDLE + gateway_hold.SLOW + 64:
            raise RuntimeError("RLIMIT_NOFILE hard limit %d is too low for %d sockets" % (
                soft, gateway_hold.IDLE + gateway_hold.SLOW))
        pid = h.pid("gateway")
        res["memory_before"] = gateway_hold.proc_memory(pid)
        head0 = journal_head(h)
        holder = gateway_hold.Holder(h.port)
        t0 = time.monotonic()
        holder.start()
        if not holder.opened.wait(120):
            raise TimeoutError("the connections were not all opened within 120 s")
        if holder.error:
            raise RuntimeError("holder: " + holder.error)
        res["open_seconds"] = round(holder.t_opened - t0, 2)
        # answers and refusals still on their way: until nothing changed for 1 s
        last, since, t_end = None, time.monotonic(), time.monotonic() + HOLD_SETTLE_S
        while time.monotonic() < t_end:
            cur = holder.counts()
            if cur != last:
                last, since = cur, time.monotonic()
            elif time.monotonic() - since >= 1.0:
                break
            time.sleep(0.2)
        res["connections_opened"] = holder.counts()
        res["gateway_side_opened"] = gateway_hold.gateway_connections(pid, h.port)
        res["memory_open"] = gateway_hold.proc_memory(pid)
        res["client"] = gateway_hold.post_events(h.port, h.ingest_key, args.hold_new, args.hold_keepalive)
        res["memory_end"] = gateway_hold.proc_memory(pid)
        res["connections_end"] = holder.counts()
        res["gateway_side_end"] = gateway_hold.gateway_connections(pid, h.port)
        res["held_seconds"] = round(time.monotonic() - holder.t_opened, 1)
        if holder.error:
            raise RuntimeError("holder: " + holder.error)
        holder.stop()
        holder = None
        head1 = settle_head(h)
        res["head_growth"] = head1 - head0
        res["gateway_restarted"] = h.pid("gateway") != pid
        mem = [res[k].get("vmrss_kib", 0) for k in ("memory_open", "memory_end")]
        res["rss_open_mib"] = round(max(mem) / 1024, 1)
        res["hwm_mib"] = round(res["memory_end"].get("vmhwm_kib", 0) / 1024, 1) or None
        res["verified"] = (res["head_growth"] >= res["client"]["all"]["accepted_202"]
                           and not res["gateway_restarted"] and bool(res["memory_end"]))
        if not res["verified"]:
            res["error"] = "head growth %d < %d 202s, or the gateway restarted (%s), or no /proc figures" % (
                res["head_growth"], res["client"]["all"]["accepted_202"], res["gateway_restarted"])
    except Exception as e:  # noqa: BLE001 - report, keep going
        res.update({"verified": False, "error": "%s: %s" % (type(e).__name__, e)})
    finally:
        if holder is not None:
            holder.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, old_nofile)
        res["harkd_exit"] = inst.stop(h)
    c = res.get("client", {}).get("all", {})
    g = res.get("gateway_side_opened", {})
    log("  %-42s gateway holds %s (%s queued)  client %s/%s 202  p99 %s ms  RSS %s MiB  HWM %s MiB  %s" % (
        "hold %d idle + %d slow connections" % (gateway_hold.IDLE, gateway_hold.SLOW),
        fmt(g.get("accepted")), fmt(g.get("accept_queue")), fmt(c.get("accepted_202")), fmt(c.get("sent")),
        fmt(c.get("latency_ms", {}).get("p99"), 1), fmt(res.get("rss_open_mib"), 1),
        fmt(res.get("hwm_mib"), 1), "ok" if res.get("verified") else "NOT VERIFIED: %s" % res.get("error")))
    return res


def bench_hold(inst, args, out):
    out.update(hold_once(inst, args))


def bench_sqlite(tools, base, args, results):
    for txn, secs, keys in SQLITE_RUNS:
        secs = secs * args.scale
        d = tempfile.mkdtemp(prefix="sqlite-", dir=base)
        r = subprocess.run([tools["sqlite_baseline"], os.path.join(d, "baseline.db"), str(txn),
                            str(secs), "full", keys], capture_output=True, text=True, timeout=secs + 60)
        try:
            res = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {"txn_rows": txn, "error": r.stderr[-500:]}
        shutil.rmtree(d, ignore_errors=True)
        log("  sqlite full txn=%-5d %-10s %21s rows/s    commit %6s ms avg" % (
            txn, keys, fmt(res.get("rows_per_s")), fmt(res.get("commit_ms_avg"), 3)))
        results.append(res)


# --- report -----------------------------------------------------------------------
def verdict(v, goal, lower=False):
    if v is None:
        return "MISS"
    return "PASS" if (v < goal if lower else v >= goal) else "MISS"


def bare_ratio(out):
    """the gateway's 1-event events/s as % of the bare server's, same wrk command"""
    bare = out.get("bare") or {}
    gw = [r for r in out.get("gateway", []) if r.get("events_per_request") == 1 and r.get("verified")]
    if not (gw and bare.get("verified") and bare.get("events_per_s")):
        return None
    return 100 * gw[0]["events_per_s"] / bare["events_per_s"]


def s_counts_line(c):
    """idle/slow connection states of gateway_hold.Holder.counts() in words"""
    parts = []
    for kind in ("idle", "slow"):
        k = c.get(kind)
        if not k:
            continue
        words = "%s open" % fmt(k["open"])
        if kind == "idle":
            words += " (%s answered, %s unanswered)" % (fmt(k["answered"]), fmt(k["unanswered"]))
        words += ", %s closed by the gateway" % fmt(k["closed"])
        if k.get("connecting") or k.get("failed"):
            words += ", %s still connecting, %s failed" % (fmt(k["connecting"]), fmt(k["failed"]))
        if k.get("statuses"):
            words += ", answers %s" % " ".join("%s x%s" % kv for kv in k["statuses"].items())
        parts.append("%s %s: %s" % (fmt(k["total"]), kind, words))
    return "; ".join(parts)


def hold_report(r, p):
    st = r.get("settings", {})
    p("4. Gateway holding %s idle keep-alive + %s slow connections (a header line every %s s, never ended)"
      % (fmt(r.get("idle")), fmt(r.get("slow")), fmt(r.get("slow_line_every_s"))))
    p("   from %s, while %s posts 1 event per request, one at a time," % (
        " ".join(r.get("sources", [])), r.get("client_address")))
    p("   on new connections and then on one keep-alive connection")
    p("   gateway: %s; defaults %s; set for this run: %s" % (
        st.get("gateway"), " ".join("%s=%s" % kv for kv in st.get("defaults", {}).items()),
        " ".join("%s=%s" % kv for kv in st.get("set_for_run", {}).items()) or "nothing"))
    for when, ck, gk in (("after opening", "connections_opened", "gateway_side_opened"),
                         ("at the end", "connections_end", "gateway_side_end")):
        c, g = r.get(ck), r.get(gk) or {}
        if not c:
            continue
        p("   %-13s gateway holds %s of %s (accepted, descriptor open), %s wait in its accept queue;"
          % (when, fmt(g.get("accepted")), fmt(c["all"]["total"]), fmt(g.get("accept_queue"))))
        p("   %13s held per address: %s" % ("", ", ".join(
            "%s %s" % kv for kv in g.get("accepted_per_source", {}).items()) or "-"))
        p("   %13s client side: %s" % ("", s_counts_line(c)))
    p("   mode            sent   202  other  errors                  p50 ms   p99 ms   max ms  seconds")
    for mode in ("new_connection", "keep_alive", "all"):
        m = r.get("client", {}).get(mode)
        if not m:
            continue
        lat = m.get("latency_ms", {})
        other = sum(v for k, v in m.get("statuses", {}).items() if k != "202")
        p("   %-14s %5s %5s %6s  %-22s %7s  %7s  %7s  %7s" % (
            mode.replace("_", "-"), fmt(m.get("sent")), fmt(m.get("accepted_202")),
            fmt(other) if mode != "all" else "", (", ".join("%s %s" % kv for kv in m.get("errors", {}).items())
                                                 or "-") if mode != "all" else "",
            fmt(lat.get("p50"), 1), fmt(lat.get("p99"), 1), fmt(lat.get("max"), 1),
            fmt(m.get("seconds"), 1) if mode != "all" else ""))
    mo, me = r.get("memory_open", {}), r.get("memory_end", {})
    p("   gateway memory: VmRSS %s MiB before, %s MiB with the connections open, %s MiB at the end; "
      "VmHWM %s MiB; threads %s, descriptors %s (open)" % (
        fmt(r.get("memory_before", {}).get("vmrss_kib", 0) / 1024, 1), fmt(mo.get("vmrss_kib", 0) / 1024, 1),
        fmt(me.get("vmrss_kib", 0) / 1024, 1), fmt(r.get("hwm_mib"), 1), fmt(mo.get("threads")),
        fmt(mo.get("fds"))))
    p("   journal head grew by %s (>= %s 202s)  connections held %s s  %s" % (
        fmt(r.get("head_growth")), fmt(r.get("client", {}).get("all", {}).get("accepted_202")),
        fmt(r.get("held_seconds"), 1), "ok" if r.get("verified") else "FAILED: %s" % r.get("error")))


def loop_thread(cpu, k):
    t = cpu.get(k + "_busiest_thread")
    if not t:
        return "-"
    return "%s/%s/%s" % (fmt(t["run_pct"], 0), fmt(t["runqueue_wait_pct"], 0), fmt(t["sleep_pct"], 0))


def batch_column(r):
    """events per request, or MxB for M batches of B in one message"""
    m = r.get("batches_per_message")
    return "%dx%d" % (m, r.get("batch", 0)) if m else str(r.get("batch", 0))


def report(out):
    m = out["machine"]
    lines = []
    p = lines.append
    p("")
    p(machine_line("Hark benchmarks", m,
                   "state dir on %s (%s)" % (m["state_fs"]["type"], m["state_fs"]["device"])))
    p("CPU columns are % of one core over the measured window; 'loop r/w/s' is the journal event-loop")
    p("thread's time running / waiting for a CPU / sleeping (fsync, or no request to work on);")
    p("'others' is CPU taken by processes outside the benchmark (noise on a shared machine).")
    if out.get("journal"):
        p("")
        p("1. Journal over ZeroMQ: JOURNAL_APPEND, counted when JOURNAL_APPEND_OK arrives (after COMMIT)")
        p("   sync   keys conns win batch    events/s    req/s ev/commit commits/s  p50 ms  p99 ms"
          "  journal CPU  loop r/w/s  us/event  WAL B/event  client  others  check")
        for r in out["journal"]:
            cpu = r.get("cpu", {})
            check = "ok" if r.get("verified") and r.get("head_matches_acked") else "FAILED"
            p("   %-6s %4s %5d %3d %5s %11s %8s %9s %9s %7s %7s  %10s%%  %10s  %8s  %11s  %5s%%  %5s%%  %s" % (
                r.get("synchronous"), "rand" if r.get("keys") == "random" else "seq", r.get("threads", 0), r.get("window", 0), batch_column(r),
                fmt(r.get("events_per_s")), fmt(r.get("requests_per_s")),
                fmt(r.get("events_per_commit"), 1), fmt(r.get("commits_per_s")),
                fmt(r.get("latency_ms", {}).get("p50"), 2), fmt(r.get("latency_ms", {}).get("p99"), 2),
                fmt(cpu.get("journal_cpu_pct"), 0), loop_thread(cpu, "journal"),
                fmt(r.get("journal_cpu_us_per_event"), 1), fmt(r.get("journal_write_bytes_per_event")),
                fmt(cpu.get("client_cpu_pct"), 0), fmt(cpu.get("others_cpu_pct"), 0), check))
        for r in out["journal"]:
            if r.get("repeats"):
                p("   median of %d runs for %s T=%d W=%d B=%s %s keys: %s events/s" % (
                    len(r["repeats"]), r["synchronous"], r["threads"], r["window"], batch_column(r), r["keys"],
                    ", ".join(fmt(v) for v in r["repeats"])))
    if out.get("gateway"):
        p("")
        p("2. Gateway: POST /v1/events, HTTP keep-alive, %d connections (wrk), counted per 202 (after COMMIT)"
          % GATEWAY_CONNECTIONS)
        p("   ev/req    events/s    req/s  p50 ms  p99 ms non-2xx   head growth >= 202s x ev/req"
          "  gateway CPU  journal CPU  loop r/w/s   wrk  others  check")
        for r in out["gateway"]:
            cpu = r.get("cpu", {})
            p("   %6d %11s %8s %7s %7s %7s  %12s >= %-12s  %10s%%  %10s%%  %10s %4s%%  %5s%%  %s" % (
                r["events_per_request"], fmt(r.get("events_per_s")), fmt(r.get("requests_per_s")),
                fmt(r.get("latency_ms", {}).get("p50"), 1), fmt(r.get("latency_ms", {}).get("p99"), 1),
                r.get("non_2xx", "-"), fmt(r.get("head_growth")), fmt(r.get("expected_min_growth")),
                fmt(cpu.get("gateway_cpu_pct"), 0), fmt(cpu.get("journal_cpu_pct"), 0),
                loop_thread(cpu, "journal"), fmt(cpu.get("client_cpu_pct"), 0),
                fmt(cpu.get("others_cpu_pct"), 0), "ok" if r.get("verified") else "FAILED"))
            if r.get("error"):
                p("     error: %s" % r["error"])
            if r.get("repeats"):
                p("     median of %d runs: %s events/s" % (
                    len(r["repeats"]), ", ".join(fmt(v) for v in r["repeats"])))
    b = out.get("bare")
    if b:
        cpu = b.get("cpu", {})
        p("   bare libmicrohttpd (epoll, %s threads, reads and drops the body, fixed 202), the same wrk command:"
          % b.get("threads", "?"))
        p("   %6d %11s %8s %7s %7s %7s  %29s  %10s%%  %10s   %10s %4s%%  %5s%%  %s" % (
            1, fmt(b.get("events_per_s")), fmt(b.get("requests_per_s")),
            fmt(b.get("latency_ms", {}).get("p50"), 1), fmt(b.get("latency_ms", {}).get("p99"), 1),
            b.get("non_2xx", "-"), "", fmt(cpu.get("bare_cpu_pct"), 0), "", "", fmt(cpu.get("client_cpu_pct"), 0),
            fmt(cpu.get("others_cpu_pct"), 0), "ok" if b.get("verified") else "FAILED"))
        if b.get("error"):
            p("     error: %s" % b["error"])
        if b.get("repeats"):
            p("     median of %d runs: %s requests/s" % (
                len(b["repeats"]), ", ".join(fmt(v) for v in b["repeats"])))
        ratio = bare_ratio(out)
        if ratio is not None:
            p("   the gateway (1 event/request) does %.0f %% of the bare server's requests/s" % ratio)
    if out.get("sqlite"):
        p("")
        p("3. Baseline: plain SQLite, same schema and INSERT, WAL, synchronous=FULL, one prepared statement")
        p("   rows/txn keys       rows/s    txn/s  insert us/row  commit ms avg  commit ms max")
        for r in out["sqlite"]:
            p("   %8s %-4s %12s %8s %14s %14s %14s" % (
                r.get("txn_rows"), "rand" if r.get("keys") == "random" else "seq", fmt(r.get("rows_per_s")), fmt(r.get("txn_per_s")),
                fmt(r.get("insert_us_per_row"), 2), fmt(r.get("commit_ms_avg"), 3),
                fmt(r.get("commit_ms_max"), 2)))
    if out.get("hold"):
        p("")
        hold_report(out["hold"], p)
    p("")
    p("Goals (acknowledgement = committed; judged on synchronous=full, the default)")
    for g in out["goals"]:
        n = g.get("decimals", 0)
        p("   %-4s  %-66s %10s %-9s (goal %s %s)" % (
            g["verdict"], g["what"], fmt(g.get("value"), n), g.get("unit", "events/s"),
            "<" if g.get("lower") else ">=", fmt(g["goal"], n)))
    p("")
    return "\n".join(lines)


def goals(out):
    res = []
    # judged on the {"events"} form; the batched row is there to compare with
    full = [r for r in out.get("journal", []) if r.get("synchronous") == "full"
            and r.get("verified") and r.get("head_matches_acked") and not r.get("batches_per_message")]
    if out.get("journal") is not None:
        best = max(full, key=lambda r: r.get("events_per_s", 0), default=None)
        res.append({"what": "journal over ZeroMQ, best synchronous=full run (T=%s W=%s B=%s)" % (
            best["threads"], best["window"], best["batch"]) if best else "journal over ZeroMQ (no verified run)",
            "value": best and best["events_per_s"], "goal": GOAL_JOURNAL,
            "verdict": verdict(best and best["events_per_s"], GOAL_JOURNAL)})
        for b in sorted({r.get("batch") for r in full}):
            bb = max((r for r in full if r.get("batch") == b), key=lambda r: r["events_per_s"])
            res.append({"what": "  journal, %d event%s per request (best T=%d W=%d)" % (
                b, "" if b == 1 else "s", bb["threads"], bb["window"]),
                "value": bb["events_per_s"], "goal": GOAL_JOURNAL,
                "verdict": verdict(bb["events_per_s"], GOAL_JOURNAL)})
        normal = [r for r in out.get("journal", []) if r.get("synchronous") == "normal" and r.get("verified")]
        nb = max(normal, key=lambda r: r.get("events_per_s", 0), default=None)
        if nb:
            res.append({"what": "  (for comparison) journal synchronous=normal T=%d W=%d B=%d" % (
                nb["threads"], nb["window"], nb["batch"]),
                "value": nb["events_per_s"], "goal": GOAL_JOURNAL,
                "verdict": verdict(nb["events_per_s"], GOAL_JOURNAL)})
    if out.get("gateway") is not None:
        for r in out["gateway"]:
            v = r.get("events_per_s") if r.get("verified") else None
            goal = GOAL_GATEWAY.get(r["events_per_request"], GOAL_GATEWAY[1])
            res.append({"what": "gateway, %d event%s per request, %d connections" % (
                r["events_per_request"], "" if r["events_per_request"] == 1 else "s", GATEWAY_CONNECTIONS),
                "value": v, "goal": goal, "verdict": verdict(v, goal)})
    if out.get("gateway") is not None and out.get("bare") is not None:
        v = bare_ratio(out)
        res.append({"what": "  gateway 1 event/request vs bare libmicrohttpd, same wrk command",
                    "value": v, "unit": "%", "goal": GOAL_BARE_PCT, "verdict": verdict(v, GOAL_BARE_PCT)})
    h = out.get("hold")
    if h is not None:
        c = h.get("client", {}).get("all", {}) if h.get("verified") else {}
        planned = sum(h.get("client", {}).get(m, {}).get("requests", 0) for m in ("new_connection", "keep_alive"))
        res.append({"what": "1,300 connections held: events posted from another address, 202s",
                    "value": c.get("accepted_202"), "unit": "of %s" % fmt(planned), "goal": planned,
                    "verdict": verdict(c.get("accepted_202"), planned or 1)})
        p99 = c.get("latency_ms", {}).get("p99") if c.get("accepted_202") == planned else None
        res.append({"what": "  their p99 latency (every request a 202)", "value": p99, "unit": "ms",
                    "decimals": 1, "goal": GOAL_HOLD_P99_MS, "lower": True,
                    "verdict": verdict(p99, GOAL_HOLD_P99_MS, lower=True)})
        hwm = h.get("hwm_mib") if h.get("verified") else None
        res.append({"what": "  the gateway's VmHWM with them open", "value": hwm, "unit": "MiB",
                    "decimals": 1, "goal": GOAL_HOLD_RSS_MIB, "lower": True,
                    "verdict": verdict(hwm, GOAL_HOLD_RSS_MIB, lower=True)})
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter runs (about a third of the time)")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help="comma-separated subset of %s (bare: the bare libmicrohttpd server "
                         "under the gateway's wrk command; hold: the gateway with 1,300 connections "
                         "open)" % ",".join(SECTIONS))
    ap.add_argument("--hold-conf", choices=("auto", "defaults", "raise"), default="auto",
                    help="hold: 'auto' raises [gateway] max_connections/per_ip_connections for the "
                         "run when the gateway is the epoll one and its defaults would not hold "
                         "1,300 connections; 'raise' does so whatever the gateway; 'defaults' "
                         "never sets them")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each journal/gateway measurement N times and report the median "
                         "(use 3 on a busy machine; raise --max-seconds accordingly)")
    ap.add_argument("--perf", action="store_true",
                    help="also profile the journal/gateway with perf (slower; adds perf_top to results)")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"), help="where to write results")
    ap.add_argument("--max-seconds", type=int, default=None,
                    help="cut the whole run off after this (default 420 s per --repeat)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, perf data)")
    ap.add_argument("--gateway-set", action="append", default=[], metavar="KEY=VALUE",
                    help="gateway runs: a [gateway] setting (repeatable), e.g. pipeline_events=1000")
    ap.add_argument("--encrypt", choices=("yes", "no"), default=None,
                    help="gateway runs: the journal's [privacy] encrypt (default: its default, yes)")
    args = ap.parse_args()
    for kv in args.gateway_set:
        if "=" not in kv:
            sys.exit("run.py: --gateway-set wants KEY=VALUE, not %r" % kv)
    args.scale = 0.4 if args.quick else 1.0
    args.repeat = max(1, args.repeat)
    if args.max_seconds is None:
        args.max_seconds = 420 * args.repeat
    args.journal_seconds = round(5 * args.scale, 1)
    args.gateway_seconds = max(2, int(round(10 * args.scale)))
    args.warmup = 1.0
    args.wrk_threads = 2
    args.hold_new = args.hold_keepalive = 100 if args.quick else HOLD_NEW
    only = set(args.only.split(","))
    if only - set(SECTIONS):
        sys.exit("run.py: --only: unknown %s (known: %s)" % (",".join(sorted(only - set(SECTIONS))),
                                                             ",".join(SECTIONS)))

    check_binaries("run.py", ("harkd", "hark", "hark-journal", "hark-gateway"), "make bench")
    with open("/proc/loadavg") as f:
        load1 = float(f.read().split()[0])
    if load1 > 0.5:
        log("note: load average %.2f: other work is running on this machine, the figures will be "
            "noisy (see the 'others' column; --repeat 3 reports medians)" % load1)
    for tool in ("wrk",) if only & {"gateway", "bare"} else ():
        if not shutil.which(tool):
            sys.exit("run.py: %s is not installed (apt-get install wrk, or `make bench`)" % tool)

    arm_deadline(args.max_seconds)

    base = tempfile.mkdtemp(prefix="hark-bench-")
    inst = Instances(base)
    perf = Perf(args.perf, base, 250, 0.3, perf_top)
    t0 = time.monotonic()
    out = {"machine": run_machine_info(base), "bin": BIN,
           "settings": {"journal_window_s": args.journal_seconds, "warmup_s": args.warmup,
                        "gateway_s": args.gateway_seconds, "gateway_connections": GATEWAY_CONNECTIONS,
                        "wrk_threads": args.wrk_threads, "quick": args.quick,
                        "hold_conf": args.hold_conf, "gateway_set": args.gateway_set, "hold_requests": [args.hold_new, args.hold_keepalive]}}
    rc = 0
    try:
        log("building the bench tools into %s" % base)
        tools = compile_tools(os.path.join(base))
        if "journal" in only:
            log("1. journal over ZeroMQ (%s s each, after %s s warm-up)" % (args.journal_seconds, args.warmup))
            bench_journal(tools, inst, args, perf, out.setdefault("journal", []))
        if "gateway" in only:
            log("2. gateway over HTTP (wrk, %d connections, %d s each)" % (GATEWAY_CONNECTIONS, args.gateway_seconds))
            bench_gateway(inst, args, perf, out.setdefault("gateway", []))
        if "bare" in only:
            log("2b. bare libmicrohttpd (epoll, a thread per CPU, fixed 202) under the same wrk command")
            bench_bare(tools, args, out.setdefault("bare", {}))
        if "hold" in only:
            log("4. gateway holding %d idle + %d slow connections from %d addresses, events posted "
                "from %s" % (gateway_hold.IDLE, gateway_hold.SLOW, len(gateway_hold.SOURCES),
                             gateway_hold.CLIENT_ADDR))
            bench_hold(inst, args, out.setdefault("hold", {}))
        if "sqlite" in only:
            log("3. plain SQLite baseline")
            bench_sqlite(tools, base, args, out.setdefault("sqlite", []))
    except (Deadline, KeyboardInterrupt) as e:
        log("run.py: stopped early: %s" % (e or "interrupted"))
        rc = 1
    finally:
        signal.alarm(0)
        inst.stop_all()
        remove_temp(base, args.keep)
    out["goals"] = goals(out)
    write_results(args.out, out, report, t0)
    failed = [r for r in out.get("journal", []) if not (r.get("verified") and r.get("head_matches_acked"))]
    failed += [r for r in out.get("gateway", []) if not r.get("verified")]
    failed += [r for r in (out.get("bare"), out.get("hold")) if r is not None and not r.get("verified")]
    if failed:
        log("run.py: %d measurement(s) failed their checks" % len(failed))
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
