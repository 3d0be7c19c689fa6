#!/usr/bin/env python3
"""Hark benchmarks: the journal over ZeroMQ, the gateway over HTTP, and plain
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
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.environ.get("HARK_ROOT") or os.path.join(HERE, "..", ".."))
os.environ["HARK_ROOT"] = ROOT
os.environ["HARK_BIN"] = os.path.abspath(os.environ.get("HARK_BIN") or os.path.join(ROOT, "bin"))
BIN = os.environ["HARK_BIN"]
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from harness import WIRE, Hark  # noqa: E402

GOAL_JOURNAL = 100_000  # events/s over ZeroMQ, acknowledged after COMMIT
GOAL_GATEWAY = 20_000   # events/s through POST /v1/events, 202 after COMMIT

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
    (16, 4, 1, "normal", "seq"),
    (16, 4, 100, "normal", "seq"),
]
GATEWAY_RUNS = [1, 100]          # events per request
GATEWAY_CONNECTIONS = 64
# (rows per transaction, seconds, keys)
SQLITE_RUNS = [(1000, 3.0, "sequential"), (100, 3.0, "sequential"), (1, 2.0, "sequential"),
               (1000, 3.0, "random")]


class Deadline(BaseException):
    """the whole run took too long (not an Exception: no per-run handler may swallow it)"""


def log(msg):
    print(msg, flush=True)


# --- machine and process accounting --------------------------------------------
def machine_info(state_parent):
    info = {"nproc": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "kernel": platform.release(), "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            info["cpu_model"] = m.group(1).strip() if m else "unknown"
    except OSError:
        info["cpu_model"] = "unknown"
    try:
        with open("/proc/meminfo") as f:
            m = re.search(r"^MemTotal:\s*(\d+) kB", f.read(), re.M)
            info["mem_gib"] = round(int(m.group(1)) / 1048576, 1) if m else None
    except OSError:
        pass
    # the filesystem the SQLite files live on decides what an fsync costs
    best = ("", "?", "?")
    try:
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, fs = line.split()[:3]
                if (state_parent + "/").startswith(mnt.rstrip("/") + "/") and len(mnt) >= len(best[0]):
                    best = (mnt, fs, dev)
    except OSError:
        pass
    info["state_fs"] = {"mount": best[0], "type": best[1], "device": best[2]}
    versions = {}
    for p in ("libzmq", "sqlite3", "jansson", "libmicrohttpd"):
        r = subprocess.run(["pkg-config", "--modversion", p], capture_output=True, text=True)
        versions[p] = r.stdout.strip() or None
    r = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    m = re.search(r"wrk (\S+)", r.stdout + r.stderr)
    versions["wrk"] = m.group(1) if m else None
    info["versions"] = versions
    try:
        with open("/proc/loadavg") as f:
            info["loadavg_before"] = " ".join(f.read().split()[:3])
    except OSError:
        pass
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    info["git"] = r.stdout.strip() or None
    r = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                       capture_output=True, text=True)
    info["git_dirty"] = bool(r.stdout.strip())  # binaries built from uncommitted changes
    return info


def cpu_total():
    """(busy, total, iowait, steal) jiffies of all CPUs, from /proc/stat"""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]] + [0] * 10
    # user nice system idle iowait irq softirq steal (guest is inside user)
    total = sum(v[:8])
    busy = total - v[3] - v[4] - v[7]
    return busy, total, v[4], v[7]


def proc_cpu(pid):
    """{tid: (cpu seconds, run ns, runqueue-wait ns, context switches)} of a process's threads"""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                run_ns, wait_ns = [int(x) for x in f.read().split()[:2]]
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                cs = sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)
            out[int(tid)] = ((int(fields[11]) + int(fields[12])) / tick, run_ns, wait_ns, cs)
        except (OSError, IndexError, ValueError):
            pass
    return out


def proc_io(pid):
    """/proc/PID/io as a dict (wchar: bytes given to write(), syscw: write calls)"""
    try:
        with open("/proc/%d/io" % pid) as f:
            return {k: int(v) for k, v in (line.split(":") for line in f if ":" in line)}
    except (OSError, ValueError):
        return {}


class CpuWatch:
    """CPU use of some processes, and of the machine, between start() and stop().

    For each process: total CPU (% of one core), and for its busiest thread
    (the journal's event loop) the share of wall time it ran, waited for a
    CPU (runqueue: the 2 cores were busy) and slept (blocked on I/O such as
    fsync, or idle waiting for requests).  "others" is CPU used on the
    machine by processes that are not part of the benchmark (other users'
    builds and tests), the noise in the figures."""

    def __init__(self, pids):
        self.pids = {k: v for k, v in pids.items() if v}

    def start(self):
        self.t0 = time.monotonic()
        self.p0 = {k: proc_cpu(p) for k, p in self.pids.items()}
        self.io0 = {k: proc_io(p) for k, p in self.pids.items()}
        self.m0 = cpu_total()
        self.c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return self

    def stop(self):
        wall = time.monotonic() - self.t0
        res = {"wall_s": round(wall, 3)}
        ours = 0.0
        for k, p in self.pids.items():
            now, before = proc_cpu(p), self.p0[k]
            d = {t: tuple(a - b for a, b in zip(v, before.get(t, (0.0, 0, 0, 0)))) for t, v in now.items()}
            total = sum(v[0] for v in d.values())
            res[k + "_context_switches"] = sum(v[3] for v in d.values())
            ours += total
            busiest = max(d.values(), key=lambda v: v[1], default=(0.0, 0, 0, 0))
            res[k + "_cpu_pct"] = round(100 * total / wall, 1)
            res[k + "_threads"] = len(now)
            res[k + "_busiest_thread"] = {
                "run_pct": round(100 * busiest[1] / 1e9 / wall, 1),
                "runqueue_wait_pct": round(100 * busiest[2] / 1e9 / wall, 1),
                "sleep_pct": round(max(0.0, 100 - 100 * (busiest[1] + busiest[2]) / 1e9 / wall), 1)}
            io1 = proc_io(p)
            res[k + "_write_bytes"] = io1.get("wchar", 0) - self.io0[k].get("wchar", 0)
            res[k + "_write_calls"] = io1.get("syscw", 0) - self.io0[k].get("syscw", 0)
        m1 = cpu_total()
        ncpu = os.cpu_count() or 1
        busy = (m1[0] - self.m0[0]) / max(1, m1[1] - self.m0[1])
        res["machine_busy_pct"] = round(100 * busy, 1)
        res["machine_iowait_pct"] = round(100 * (m1[2] - self.m0[2]) / max(1, m1[1] - self.m0[1]), 1)
        # time the hypervisor gave our vCPUs to someone else, % of one core
        res["steal_pct"] = round(100 * ncpu * (m1[3] - self.m0[3]) / max(1, m1[1] - self.m0[1]), 1)
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        res["children_cpu_s"] = round((c1.ru_utime + c1.ru_stime) - (self.c0.ru_utime + self.c0.ru_stime), 3)
        ours += res["children_cpu_s"]
        # harkd and run.py itself are near idle; what is left is someone else's
        res["others_cpu_pct"] = round(max(0.0, 100 * (busy * ncpu - ours / wall)), 1)
        return res


# --- building and starting ----------------------------------------------------------
def check_binaries():
    for name in ("harkd", "hark", "hark-journal", "hark-gateway"):
        path = os.path.join(BIN, name)
        if not os.access(path, os.X_OK):
            sys.exit("run.py: %s is missing; run `make MODE=release build` (or `make bench`)" % path)
        with open(path, "rb") as f:
            data = f.read()
        if b"__asan_init" in data or b"__ubsan_handle" in data:
            sys.exit("run.py: %s is a sanitizer build; benchmarks need the release build "
                     "(`make MODE=release build`, HARK_BIN=bin)" % path)
        if WIRE.encode() not in data:
            sys.exit("run.py: %s does not speak %s (proto/commands.json); it is older than the "
                     "checkout: rebuild with `make MODE=release build`" % (path, WIRE))


def compile_tools(build):
    cc = os.environ.get("CC", "cc")
    out = {}
    for name, pkgs in (("bench_journal", "libzmq jansson"), ("sqlite_baseline", "sqlite3")):
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
        try:
            h.stop(check=False)
        except Exception as e:  # noqa: BLE001 - a failed stop must not hide results
            log("  warning: stopping %s: %s" % (h.dir, e))
            if h.proc and h.proc.poll() is None:
                h.proc.kill()
                h.proc.wait()
        return h.proc.returncode if h.proc else None

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
class Perf:
    def __init__(self, enabled, out_dir):
        self.enabled = enabled and shutil.which("perf") is not None
        self.out_dir = out_dir
        self.proc = None

    def start(self, pid, tag):
        if not self.enabled or not pid:
            return
        self.data = os.path.join(self.out_dir, tag + ".perf.data")
        self.proc = subprocess.Popen(
            ["perf", "record", "-q", "--call-graph", "dwarf,16384", "-F", "250", "-p", str(pid),
             "-o", self.data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)

    def stop(self):
        if not self.proc:
            return None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        r = subprocess.run(["perf", "report", "-i", self.data, "--children", "--sort", "symbol",
                            "-g", "none", "--percent-limit", "3", "--stdio"],
                           capture_output=True, text=True, timeout=300)
        top = []
        generic = {"clone3", "start_thread", "_start", "main", "__libc_start_call_main",
                   "__libc_start_main_impl", "service_main", "loop_run", "do_syscall_64",
                   "entry_SYSCALL_64_after_hwframe"}
        for line in r.stdout.splitlines():
            m = re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+\[([.k])\]\s+(\S+)", line)
            if m and not m.group(4).startswith("0x") and m.group(4) not in generic:
                top.append({"children_pct": float(m.group(1)), "self_pct": float(m.group(2)),
                            "symbol": m.group(4), "kernel": m.group(3) == "k"})
        return top[:30]


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
        watch = CpuWatch(dict(pids, client=p.pid))
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


def journal_once(tools, inst, args, perf, t, w, b, sync, keys):
    name = "journal %s T=%d W=%d B=%d%s" % (sync, t, w, b, " random keys" if keys == "random" else "")
    res = {"threads": t, "window": w, "batch": b, "synchronous": sync,
           "keys": "random" if keys == "random" else "sequential"}
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
               "-V", WIRE] + (["-r"] if keys == "random" else [])
        # bench_journal: 0.3 s to connect, the warm-up, then the window
        r, cpu, top = run_sampled(cmd, {"journal": pid}, 0.3 + args.warmup + 0.05,
                                  args.journal_seconds - 0.1,
                                  args.journal_seconds + args.warmup + 60,
                                  perf, pid, "journal-%s-t%d-w%d-b%d-%s" % (sync, t, w, b, keys))
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
        name, fmt_int(res.get("events_per_s")), fmt_f(res.get("events_per_commit"), 1),
        fmt_f(res.get("latency_ms", {}).get("p50"), 2), fmt_f(cpu.get("journal_cpu_pct"), 0),
        fmt_f(cpu.get("others_cpu_pct"), 0),
        "ok" if ok else "NOT VERIFIED: " + str(res.get("first_error") or "head %s != acked %s" % (
            res.get("journal_head"), res.get("acked_events")))))
    return res


def bench_journal(tools, inst, args, perf, results):
    """appends to results as it goes, so a run cut short keeps what it measured"""
    for cfg in JOURNAL_RUNS:
        results.append(median_of([journal_once(tools, inst, args, perf, *cfg) for _ in range(args.repeat)],
                                 lambda r: r.get("verified") and r.get("head_matches_acked")))


def wrk_cmd(h, events, seconds, args):
    return ["wrk", "-t", str(args.wrk_threads), "-c", str(GATEWAY_CONNECTIONS), "-d", "%ds" % seconds,
            "--timeout", "10s", "--latency", "-s", os.path.join(HERE, "post_events.lua"),
            "http://127.0.0.1:%d" % h.port, "--", h.ingest_key, str(events)]


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
        h = inst.start(("journal", "gateway"))
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
        wrk_result(subprocess.run(wrk_cmd(h, events, max(1, int(args.warmup)), args),
                                  capture_output=True, text=True, timeout=60))
        head0 = settle_head(h)
        pids = {"gateway": h.pid("gateway"), "journal": h.pid("journal")}
        r, cpu, top = run_sampled(wrk_cmd(h, events, args.gateway_seconds, args), pids, 0.2,
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
        name, fmt_int(res.get("events_per_s")), fmt_int(res.get("requests_per_s")),
        fmt_f(res.get("latency_ms", {}).get("p50"), 1), fmt_f(cpu.get("gateway_cpu_pct"), 0),
        fmt_f(cpu.get("journal_cpu_pct"), 0), fmt_f(cpu.get("others_cpu_pct"), 0),
        "ok" if res.get("verified") else "NOT VERIFIED: %s" % (res.get("error") or {
            k: res.get(k) for k in ("non_2xx", "socket_errors", "head_growth", "expected_min_growth")})))
    return res


def bench_gateway(inst, args, perf, results):
    for events in GATEWAY_RUNS:
        results.append(median_of([gateway_once(inst, args, perf, events) for _ in range(args.repeat)],
                                 lambda r: r.get("verified")))


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
            txn, keys, fmt_int(res.get("rows_per_s")), fmt_f(res.get("commit_ms_avg"), 3)))
        results.append(res)


# --- report -----------------------------------------------------------------------
def fmt_int(v):
    return "-" if v is None else "{:,.0f}".format(v)


def fmt_f(v, n):
    return "-" if v is None else ("{:,.%df}" % n).format(v)


def verdict(v, goal):
    return "PASS" if v is not None and v >= goal else "MISS"


def loop_thread(cpu, k):
    t = cpu.get(k + "_busiest_thread")
    if not t:
        return "-"
    return "%s/%s/%s" % (fmt_f(t["run_pct"], 0), fmt_f(t["runqueue_wait_pct"], 0), fmt_f(t["sleep_pct"], 0))


def report(out):
    m = out["machine"]
    lines = []
    p = lines.append
    p("")
    p("Hark benchmarks  %s  %s CPUs (%s)  kernel %s  state dir on %s (%s)  load before: %s" % (
        m["date"], m["nproc"], m.get("cpu_model"), m["kernel"], m["state_fs"]["type"],
        m["state_fs"]["device"], m.get("loadavg_before")))
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
            p("   %-6s %4s %5d %3d %5d %11s %8s %9s %9s %7s %7s  %10s%%  %10s  %8s  %11s  %5s%%  %5s%%  %s" % (
                r.get("synchronous"), "rand" if r.get("keys") == "random" else "seq", r.get("threads", 0), r.get("window", 0), r.get("batch", 0),
                fmt_int(r.get("events_per_s")), fmt_int(r.get("requests_per_s")),
                fmt_f(r.get("events_per_commit"), 1), fmt_int(r.get("commits_per_s")),
                fmt_f(r.get("latency_ms", {}).get("p50"), 2), fmt_f(r.get("latency_ms", {}).get("p99"), 2),
                fmt_f(cpu.get("journal_cpu_pct"), 0), loop_thread(cpu, "journal"),
                fmt_f(r.get("journal_cpu_us_per_event"), 1), fmt_int(r.get("journal_write_bytes_per_event")),
                fmt_f(cpu.get("client_cpu_pct"), 0), fmt_f(cpu.get("others_cpu_pct"), 0), check))
        for r in out["journal"]:
            if r.get("repeats"):
                p("   median of %d runs for %s T=%d W=%d B=%d %s keys: %s events/s" % (
                    len(r["repeats"]), r["synchronous"], r["threads"], r["window"], r["batch"], r["keys"],
                    ", ".join(fmt_int(v) for v in r["repeats"])))
    if out.get("gateway"):
        p("")
        p("2. Gateway: POST /v1/events, HTTP keep-alive, %d connections (wrk), counted per 202 (after COMMIT)"
          % GATEWAY_CONNECTIONS)
        p("   ev/req    events/s    req/s  p50 ms  p99 ms non-2xx   head growth >= 202s x ev/req"
          "  gateway CPU  journal CPU  loop r/w/s   wrk  others  check")
        for r in out["gateway"]:
            cpu = r.get("cpu", {})
            p("   %6d %11s %8s %7s %7s %7s  %12s >= %-12s  %10s%%  %10s%%  %10s %4s%%  %5s%%  %s" % (
                r["events_per_request"], fmt_int(r.get("events_per_s")), fmt_int(r.get("requests_per_s")),
                fmt_f(r.get("latency_ms", {}).get("p50"), 1), fmt_f(r.get("latency_ms", {}).get("p99"), 1),
                r.get("non_2xx", "-"), fmt_int(r.get("head_growth")), fmt_int(r.get("expected_min_growth")),
                fmt_f(cpu.get("gateway_cpu_pct"), 0), fmt_f(cpu.get("journal_cpu_pct"), 0),
                loop_thread(cpu, "journal"), fmt_f(cpu.get("client_cpu_pct"), 0),
                fmt_f(cpu.get("others_cpu_pct"), 0), "ok" if r.get("verified") else "FAILED"))
            if r.get("error"):
                p("     error: %s" % r["error"])
            if r.get("repeats"):
                p("     median of %d runs: %s events/s" % (
                    len(r["repeats"]), ", ".join(fmt_int(v) for v in r["repeats"])))
    if out.get("sqlite"):
        p("")
        p("3. Baseline: plain SQLite, same schema and INSERT, WAL, synchronous=FULL, one prepared statement")
        p("   rows/txn keys       rows/s    txn/s  insert us/row  commit ms avg  commit ms max")
        for r in out["sqlite"]:
            p("   %8s %-4s %12s %8s %14s %14s %14s" % (
                r.get("txn_rows"), "rand" if r.get("keys") == "random" else "seq", fmt_int(r.get("rows_per_s")), fmt_int(r.get("txn_per_s")),
                fmt_f(r.get("insert_us_per_row"), 2), fmt_f(r.get("commit_ms_avg"), 3),
                fmt_f(r.get("commit_ms_max"), 2)))
    p("")
    p("Goals (acknowledgement = committed; judged on synchronous=full, the default)")
    for g in out["goals"]:
        p("   %-4s  %-66s %10s events/s  (goal >= %s)" % (
            g["verdict"], g["what"], fmt_int(g.get("value")), fmt_int(g["goal"])))
    p("")
    return "\n".join(lines)


def goals(out):
    res = []
    full = [r for r in out.get("journal", []) if r.get("synchronous") == "full"
            and r.get("verified") and r.get("head_matches_acked")]
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
            res.append({"what": "gateway, %d event%s per request, %d connections" % (
                r["events_per_request"], "" if r["events_per_request"] == 1 else "s", GATEWAY_CONNECTIONS),
                "value": v, "goal": GOAL_GATEWAY, "verdict": verdict(v, GOAL_GATEWAY)})
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter runs (about a third of the time)")
    ap.add_argument("--only", default="journal,gateway,sqlite",
                    help="comma-separated subset of journal,gateway,sqlite")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each journal/gateway measurement N times and report the median "
                         "(use 3 on a busy machine; raise --max-seconds accordingly)")
    ap.add_argument("--perf", action="store_true",
                    help="also profile the journal/gateway with perf (slower; adds perf_top to results)")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"), help="where to write results")
    ap.add_argument("--max-seconds", type=int, default=None,
                    help="cut the whole run off after this (default 300 s per --repeat)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, perf data)")
    args = ap.parse_args()
    args.scale = 0.4 if args.quick else 1.0
    args.repeat = max(1, args.repeat)
    if args.max_seconds is None:
        args.max_seconds = 300 * args.repeat
    args.journal_seconds = round(5 * args.scale, 1)
    args.gateway_seconds = max(2, int(round(10 * args.scale)))
    args.warmup = 1.0
    args.wrk_threads = 2
    only = set(args.only.split(","))

    check_binaries()
    with open("/proc/loadavg") as f:
        load1 = float(f.read().split()[0])
    if load1 > 0.5:
        log("note: load average %.2f: other work is running on this machine, the figures will be "
            "noisy (see the 'others' column; --repeat 3 reports medians)" % load1)
    for tool in ("wrk",) if "gateway" in only else ():
        if not shutil.which(tool):
            sys.exit("run.py: %s is not installed (apt-get install wrk, or `make bench`)" % tool)

    def on_alarm(signo, frame):
        raise Deadline("the benchmark run took longer than %d s" % args.max_seconds)

    def on_term(signo, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(args.max_seconds)

    base = tempfile.mkdtemp(prefix="hark-bench-")
    inst = Instances(base)
    perf = Perf(args.perf, base)
    t0 = time.monotonic()
    out = {"machine": machine_info(base), "bin": BIN,
           "settings": {"journal_window_s": args.journal_seconds, "warmup_s": args.warmup,
                        "gateway_s": args.gateway_seconds, "gateway_connections": GATEWAY_CONNECTIONS,
                        "wrk_threads": args.wrk_threads, "quick": args.quick}}
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
        if "sqlite" in only:
            log("3. plain SQLite baseline")
            bench_sqlite(tools, base, args, out.setdefault("sqlite", []))
    except (Deadline, KeyboardInterrupt) as e:
        log("run.py: stopped early: %s" % (e or "interrupted"))
        rc = 1
    finally:
        signal.alarm(0)
        inst.stop_all()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            log("kept %s" % base)
    out["goals"] = goals(out)
    out["elapsed_s"] = round(time.monotonic() - t0, 1)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    log(report(out))
    log("results written to %s (run took %.0f s)" % (args.out, out["elapsed_s"]))
    failed = [r for r in out.get("journal", []) if not (r.get("verified") and r.get("head_matches_acked"))]
    failed += [r for r in out.get("gateway", []) if not r.get("verified")]
    if failed:
        log("run.py: %d measurement(s) failed their checks" % len(failed))
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
