"""What the benchmark scripts here share (run.py: journal, gateway, SQLite;
mail_bench.py: the mailer): where the checkout and binaries are, CPU
accounting of processes, threads and the machine from /proc, perf, stopping
processes, machine facts for the results, the run's deadline, and writing the
results.

Importing this sets HARK_ROOT and HARK_BIN and puts tests/e2e on sys.path,
so import it before `harness`, which reads both when it is imported.
"""
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.environ.get("HARK_ROOT") or os.path.join(HERE, "..", ".."))
os.environ["HARK_ROOT"] = ROOT
os.environ["HARK_BIN"] = os.path.abspath(os.environ.get("HARK_BIN") or os.path.join(ROOT, "bin"))
BIN = os.environ["HARK_BIN"]
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from harness import WIRE, wait_for  # noqa: E402


class Deadline(BaseException):
    """the whole run took too long (not an Exception: no per-run handler may swallow it)"""


def log(msg):
    print(msg, flush=True)


def fmt(v, n=0):
    """a figure for the tables: thousands separated, n decimals, "-" for none"""
    return "-" if v is None else ("{:,.%df}" % n).format(v)


# --- the run as a whole --------------------------------------------------------------
def check_binaries(prog, names, make):
    """exit unless every binary is there, is the release build (a sanitizer
    build runs several times slower) and speaks this checkout's protocol"""
    for name in names:
        path = os.path.join(BIN, name)
        if not os.access(path, os.X_OK):
            sys.exit("%s: %s is missing; run `make MODE=release build` (or `%s`)" % (prog, path, make))
        with open(path, "rb") as f:
            data = f.read()
        if b"__asan_init" in data or b"__ubsan_handle" in data:
            sys.exit("%s: %s is a sanitizer build; benchmarks need the release build "
                     "(`make MODE=release build`, HARK_BIN=bin)" % (prog, path))
        if WIRE.encode() not in data:
            sys.exit("%s: %s does not speak %s (proto/commands.json); it is older than the "
                     "checkout: rebuild with `make MODE=release build`" % (prog, path, WIRE))


def arm_deadline(seconds):
    """Deadline is raised after seconds; SIGTERM becomes KeyboardInterrupt,
    so that both unwind through the callers' finally blocks, which stop
    every process started"""
    def on_alarm(signo, frame):
        raise Deadline("the benchmark run took longer than %d s" % seconds)

    def on_term(signo, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(seconds)


def wait_until(pred, timeout, what, interval=0.05):
    """pred()'s first true value, asked every interval s (harness.wait_for);
    TimeoutError after timeout s, so that a run reports it as a bench error"""
    try:
        return wait_for(pred, timeout, interval, what)
    except AssertionError:
        raise TimeoutError("timed out after %d s waiting for %s" % (timeout, what)) from None


def clean_up(base, keep, live):
    """the end of every run, however it went: disarm the deadline, stop the
    instances still in live, remove base (unless keep)"""
    signal.alarm(0)
    for h in list(live):
        stop_hark(h, h.dir)
    remove_temp(base, keep)


def remove_temp(base, keep):
    if not keep:
        shutil.rmtree(base, ignore_errors=True)
    else:
        log("kept %s" % base)


def write_results(path, out, report, t0):
    """stamp the run's length, write out as JSON and print the report"""
    out["elapsed_s"] = round(time.monotonic() - t0, 1)
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    log(report(out))
    log("results written to %s (run took %.0f s)" % (path, out["elapsed_s"]))


# --- machine facts -------------------------------------------------------------------
def command_output(cmd):
    """cmd's stdout, stripped, or None when it printed nothing"""
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.stdout.strip() or None


def mount_of(path):
    """the filesystem path lives on (decides what an fsync costs)"""
    best = ("", "?", "?")
    try:
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, fs = line.split()[:3]
                if (path + "/").startswith(mnt.rstrip("/") + "/") and len(mnt) >= len(best[0]):
                    best = (mnt, fs, dev)
    except OSError:
        pass
    return {"mount": best[0], "type": best[1], "device": best[2]}


def machine_info(base, fs_key, versions):
    """what the figures depend on: the machine, its load before the run, the
    filesystem of the temp dir base (as fs_key), the versions given, and the
    checkout the binaries were built from"""
    info = {"nproc": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            info["cpu_model"] = m.group(1).strip() if m else "unknown"
    except OSError:
        info["cpu_model"] = "unknown"
    try:
        with open("/proc/loadavg") as f:
            info["loadavg_before"] = " ".join(f.read().split()[:3])
    except OSError:
        pass
    info[fs_key] = mount_of(base)
    info["versions"] = versions
    info["git"] = command_output(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    r = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                       capture_output=True, text=True)
    info["git_dirty"] = bool(r.stdout.strip())  # binaries built from uncommitted changes
    return info


# --- CPU accounting ------------------------------------------------------------------
def machine_line(title, m, where=""):
    """a report's first line: title, then the machine m (machine_info) ran on,
    where the state was (when given) and the load before the run"""
    return "%s  %s  %s CPUs (%s)  kernel %s  %sload before: %s" % (
        title, m["date"], m["nproc"], m.get("cpu_model"), m["kernel"], where + "  " if where else "",
        m.get("loadavg_before"))


def cpu_total():
    """(busy, total, iowait, steal) jiffies of all CPUs, from /proc/stat"""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]] + [0] * 10
    # user nice system idle iowait irq softirq steal (guest is inside user)
    total = sum(v[:8])
    busy = total - v[3] - v[4] - v[7]
    return busy, total, v[4], v[7]


def proc_stat(pid, tid=None):
    """the fields of /proc/PID[/task/TID]/stat after the command name (which
    may hold spaces and parentheses), so field 3 of the man page is [0]"""
    path = "/proc/%d/stat" % pid if tid is None else "/proc/%d/task/%d/stat" % (pid, tid)
    with open(path) as f:
        return f.read().rsplit(")", 1)[1].split()


def threads_cpu(pid):
    """{tid: (cpu seconds, run ns, runqueue-wait ns, context switches)} of a process's threads"""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    try:
        tids = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    except OSError:
        return out
    for tid in tids:
        try:
            fields = proc_stat(pid, tid)
            with open("/proc/%d/task/%d/schedstat" % (pid, tid)) as f:
                run_ns, wait_ns = [int(x) for x in f.read().split()[:2]]
            with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
                cs = sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)
            out[tid] = ((int(fields[11]) + int(fields[12])) / tick, run_ns, wait_ns, cs)
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


def tree_cpu(root_pid):
    """CPU seconds of a process and all its descendants, including the ones
    that ended and were reaped (cutime/cstime).  Postfix's master starts and
    reaps smtpd, cleanup, qmgr... so this is the whole mail system's CPU."""
    tick = os.sysconf("SC_CLK_TCK")
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                parent[int(d)] = int(proc_stat(int(d))[1])
            except (OSError, IndexError, ValueError):
                pass
    total = 0.0
    want = {root_pid}
    changed = True
    while changed:
        changed = False
        for p, pp in parent.items():
            if pp in want and p not in want:
                want.add(p)
                changed = True
    for p in want:
        try:
            f = proc_stat(p)
            total += sum(int(x) for x in f[11:15]) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def thread_shares(v, wall):
    """a thread's time running / waiting for a CPU (runqueue) / sleeping
    (blocked on I/O such as fsync, or idle), as % of wall time"""
    return {"run_pct": round(100 * v[1] / 1e9 / wall, 1),
            "runqueue_wait_pct": round(100 * v[2] / 1e9 / wall, 1),
            "sleep_pct": round(max(0.0, 100 - 100 * (v[1] + v[2]) / 1e9 / wall), 1)}


class CpuMeter:
    """CPU use between start() and stop(): of named processes (thread by
    thread), of named process trees (a server with every child it started
    and reaped), of the children this script waited for, and of the machine.
    CPU figures are % of one core.  "others" is CPU used on the machine by
    processes that are not part of the benchmark (other users' builds and
    tests): the noise in the figures.

    The two scripts keep the keys their tables and results have always had,
    chosen by style:
      "summary" (run.py): per process its context switches, thread count,
        bytes and calls of write(), and its busiest thread's shares (the
        journal's event loop); the machine's iowait and steal; the children
        as children_cpu_s.
      "threads" (mail_bench.py): per process its CPU seconds and every
        thread's shares; the children as the client (client_cpu_s/_pct) and
        this script's own CPU as driver_cpu_pct, both counted as ours."""

    def __init__(self, procs=None, trees=None, style="summary"):
        assert style in ("summary", "threads")
        self.procs = {k: v for k, v in (procs or {}).items() if v}
        self.trees = {k: v for k, v in (trees or {}).items() if v}
        self.style = style

    def start(self):
        self.t0 = time.monotonic()
        self.p0 = {k: threads_cpu(p) for k, p in self.procs.items()}
        if self.style == "summary":
            self.io0 = {k: proc_io(p) for k, p in self.procs.items()}
        self.tr0 = {k: tree_cpu(p) for k, p in self.trees.items()}
        self.m0 = cpu_total()
        self.c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.s0 = resource.getrusage(resource.RUSAGE_SELF)
        return self

    def stop(self):
        wall = time.monotonic() - self.t0
        res = {"wall_s": round(wall, 3)}
        ours = 0.0
        for k, p in self.procs.items():
            now, before = threads_cpu(p), self.p0[k]
            d = {t: tuple(a - b for a, b in zip(v, before.get(t, (0.0, 0, 0, 0)))) for t, v in now.items()}
            total = sum(v[0] for v in d.values())
            ours += total
            # (keys in the order each script's results have always had them)
            if self.style == "threads":
                res[k + "_cpu_s"] = round(total, 3)
            else:
                res[k + "_context_switches"] = sum(v[3] for v in d.values())
            res[k + "_cpu_pct"] = round(100 * total / wall, 1)
            if self.style == "threads":
                # the main (event loop) thread is the one whose tid is the pid
                res[k + "_threads"] = [dict(tid=t, main=t == p, cpu_s=round(v[0], 3), **thread_shares(v, wall))
                                       for t, v in sorted(d.items())]
            else:
                res[k + "_threads"] = len(now)
                busiest = max(d.values(), key=lambda v: v[1], default=(0.0, 0, 0, 0))
                res[k + "_busiest_thread"] = thread_shares(busiest, wall)
                io1 = proc_io(p)
                res[k + "_write_bytes"] = io1.get("wchar", 0) - self.io0[k].get("wchar", 0)
                res[k + "_write_calls"] = io1.get("syscw", 0) - self.io0[k].get("syscw", 0)
        for k, p in self.trees.items():
            total = tree_cpu(p) - self.tr0[k]
            ours += total
            res[k + "_cpu_s"] = round(total, 3)
            res[k + "_cpu_pct"] = round(100 * total / wall, 1)
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        children = (c1.ru_utime + c1.ru_stime) - (self.c0.ru_utime + self.c0.ru_stime)
        if self.style == "threads":
            s1 = resource.getrusage(resource.RUSAGE_SELF)
            res["client_cpu_s"] = round(children, 3)
            res["client_cpu_pct"] = round(100 * res["client_cpu_s"] / wall, 1)
            res["driver_cpu_pct"] = round(
                100 * ((s1.ru_utime + s1.ru_stime) - (self.s0.ru_utime + self.s0.ru_stime)) / wall, 1)
            ours += res["client_cpu_s"] + res["driver_cpu_pct"] * wall / 100
        m1 = cpu_total()
        ncpu = os.cpu_count() or 1
        span = max(1, m1[1] - self.m0[1])
        busy = (m1[0] - self.m0[0]) / span
        res["machine_busy_pct"] = round(100 * busy, 1)  # of all CPUs
        if self.style == "summary":
            res["machine_iowait_pct"] = round(100 * (m1[2] - self.m0[2]) / span, 1)
            # time the hypervisor gave our vCPUs to someone else, % of one core
            res["steal_pct"] = round(100 * ncpu * (m1[3] - self.m0[3]) / span, 1)
            # run.py itself is near idle: not counted as ours, so it shows in "others"
            res["children_cpu_s"] = round(children, 3)
            ours += res["children_cpu_s"]
        res["others_cpu_pct"] = round(max(0.0, 100 * (busy * ncpu - ours / wall)), 1)
        return res


# --- processes -----------------------------------------------------------------------
def end_process(proc, sig=signal.SIGTERM, timeout=10):
    """send sig (perf writes its data on SIGINT) and wait; kill if it does not end in time"""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stop_hark(h, what):
    """stop a Hark instance and return harkd's exit code; a failed stop is
    logged (as stopping <what>), never raised, so it cannot hide results"""
    try:
        h.stop(check=False)
    except Exception as e:  # noqa: BLE001 - a failed stop must not hide results
        log("  warning: stopping %s: %s" % (what, e))
        if h.proc and h.proc.poll() is None:
            h.proc.kill()
            h.proc.wait()
    return h.proc.returncode if h.proc else None


class Perf:
    """perf record of one process during a run (--perf).  stop() ends the
    recording and returns summarize(path of perf.data): each script reads
    the profile its own way (see perf_report and perf_symbols)."""

    def __init__(self, enabled, out_dir, freq, settle, summarize):
        self.enabled = enabled and shutil.which("perf") is not None
        self.out_dir = out_dir
        self.freq, self.settle, self.summarize = freq, settle, summarize
        self.proc = None

    def start(self, pid, tag):
        if not self.enabled or not pid:
            return
        self.data = os.path.join(self.out_dir, tag + ".perf.data")
        self.proc = subprocess.Popen(["perf", "record", "-q", "--call-graph", "dwarf,16384", "-F", str(self.freq),
                                      "-p", str(pid), "-o", self.data],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(self.settle)  # perf attaches before the measured work starts

    def stop(self):
        if not self.proc:
            return None
        end_process(self.proc, signal.SIGINT, 60)
        self.proc = None
        return self.summarize(self.data)


def perf_report(data, sort, limit, children=True):
    """perf report's flat table (no call graphs) of a perf.data file"""
    cmd = ["perf", "report", "-i", data, "--children" if children else "--no-children", "--sort", sort,
           "-g", "none", "--percent-limit", str(limit), "--stdio"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout


def perf_symbols(text, skip=()):
    """the rows of perf_report(..., "symbol", ...): children and self %,
    symbol, kernel or not; unresolved addresses and the symbols in skip left out"""
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+\[([.k])\]\s+(\S+)", line)
        if m and not m.group(4).startswith("0x") and m.group(4) not in skip:
            rows.append({"children_pct": float(m.group(1)), "self_pct": float(m.group(2)),
                         "symbol": m.group(4), "kernel": m.group(3) == "k"})
    return rows
