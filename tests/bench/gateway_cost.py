#!/usr/bin/env python3
"""gateway_cost.py - what one POST /v1/events costs hark-gateway, in counts
that stay put on a loaded machine (wall-clock figures do not):

    HARK_BIN=$PWD/bin HARK_ROOT=$PWD /usr/bin/python3 tests/bench/gateway_cost.py MODE [EVENTS] [SECONDS]

MODE is one of
  cpu        the gateway's and the journal's CPU time and the gateway's context
             switches, per request (from /proc)
  syscalls   the gateway's system calls per request, by call (strace -c -f)
  perf       where the gateway's and the journal's CPU goes: perf record (no call
             graphs) of both during the run, each process's top symbols by
             self time, as % of that process's samples
  allocs     the gateway's and the journal's malloc, calloc and realloc calls
             per request (perf stat on uprobes in libc, added and removed here;
             needs root)
  callgrind  the gateway's instructions per request (valgrind --tool=callgrind,
             counters zeroed after a warm-up); the profile is kept in
             /tmp/gateway_cost.callgrind for callgrind_annotate

Each run starts a fresh journal and gateway (tests/e2e/harness.py) from
$HARK_BIN, sends one second of warm-up, then wrk with post_events.lua (64
connections, EVENTS events a request, default 1) for SECONDS (default 5),
and divides by the requests wrk counted.  Under strace and valgrind the
gateway is slower, so the pump's messages hold more requests each than
at full speed: compare builds under the same MODE, not MODEs.

GATEWAY_THREADS=N sets [gateway] threads, GATEWAY_SET="key=value,..." other
[gateway] settings (GATEWAY_SET=pipeline_events=1000: one message in
flight unless 1000 events wait, as before pipeline_events).
"""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.setdefault("HARK_ROOT", os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("cpu", "syscalls", "callgrind", "perf", "allocs"):
        sys.exit(__doc__)
    mode = sys.argv[1]
    events = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    src = os.environ.get("HARK_BIN", os.path.join(ROOT, "bin"))
    tmp = tempfile.mkdtemp(prefix="gateway-cost-")
    out = os.path.join(tmp, "cg.out")
    try:
        if mode == "callgrind":  # the gateway under valgrind, the rest as built
            b = os.path.join(tmp, "bin")
            shutil.copytree(src, b)
            real = os.path.join(b, "hark-gateway.real")
            os.rename(os.path.join(b, "hark-gateway"), real)
            with open(os.path.join(b, "hark-gateway"), "w") as f:
                f.write('#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s "%s" "$@"\n'
                        % (out, real))
            os.chmod(os.path.join(b, "hark-gateway"), 0o755)
            src = b
        os.environ["HARK_BIN"] = src
        import harness  # noqa: E402 - after HARK_BIN is set
        os.makedirs(os.path.join(tmp, "hark"))
        # GATEWAY_THREADS=N: [gateway] threads (default: its default);
        # GATEWAY_SET="key=value,...": other [gateway] settings
        gwconf = dict(kv.split("=", 1) for kv in os.environ.get("GATEWAY_SET", "").split(",")
                      if "=" in kv)
        if os.environ.get("GATEWAY_THREADS"):
            gwconf["threads"] = os.environ["GATEWAY_THREADS"]
        h = harness.Hark(os.path.join(tmp, "hark"), services=("journal", "gateway"),
                         conf={"gateway": gwconf} if gwconf else None)
        h.start(wait=False)
        h.wait_healthy(120)
        try:
            run(h, mode, events, seconds, tmp, out)
        finally:
            h.stop(check=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def wrk(h, events, seconds):
    r = subprocess.run(["wrk", "-t2", "-c64", "-d%ds" % seconds, "--timeout", "10s", "-s",
                        os.path.join(HERE, "post_events.lua"), "http://127.0.0.1:%d" % h.port,
                        "--", h.ingest_key, str(events)], capture_output=True, text=True)
    m = re.search(r'"requests":(\d+).*"status":(\d+)', r.stdout)
    if not m:
        sys.exit("wrk failed: %s %s" % (r.stdout[-500:], r.stderr[-500:]))
    if int(m.group(2)):
        sys.exit("wrk: %s answers were not 2xx" % m.group(2))
    p50 = re.search(r'"p50":([0-9.]+)', r.stdout)
    wrk.p50 = float(p50.group(1)) if p50 else None
    return int(m.group(1))


def cpu_ticks(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def minflt(pid):
    return int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[7])


def switches(pid):
    n = 0
    for st in glob.glob("/proc/%d/task/*/status" % pid):
        for line in open(st):
            if "ctxt_switches" in line:
                n += int(line.split()[1])
    return n


def run(h, mode, events, seconds, tmp, out):
    gw, jr = h.pid("gateway"), h.pid("journal")
    wrk(h, events, 1)
    if mode == "cpu":
        # the journal's fsyncs (one a commit, and a checkpoint's): a count
        # that holds on a loaded machine where the CPU times do not
        log = os.path.join(tmp, "perfstat")
        p = subprocess.Popen(["perf", "stat", "-x,", "-o", log, "-e",
                              "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync",
                              "-p", str(jr)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        g0, j0, x0 = cpu_ticks(gw), cpu_ticks(jr), switches(gw)
        f0 = minflt(gw), minflt(jr)
        n = wrk(h, events, seconds)
        g1, j1, x1 = cpu_ticks(gw), cpu_ticks(jr), switches(gw)
        f1 = minflt(gw), minflt(jr)
        p.send_signal(signal.SIGINT)
        p.wait()
        syncs = 0
        for line in open(log):
            f = line.split(",")
            if len(f) > 2 and f[0].strip().isdigit():
                syncs += int(f[0])
        hz = os.sysconf("SC_CLK_TCK")
        print("requests %d (%.0f/s)  gateway CPU %.1f us/request  journal CPU %.1f us/request  "
              "gateway context switches %.2f/request  requests per journal fsync %s  p50 %s ms  "
              "page faults a request: gateway %.2f journal %.2f" % (
                  n, n / seconds, (g1 - g0) / hz * 1e6 / n, (j1 - j0) / hz * 1e6 / n, (x1 - x0) / n,
                  "%.1f" % (n / syncs) if syncs else "?",
                  "%.2f" % wrk.p50 if wrk.p50 is not None else "?",
                  (f1[0] - f0[0]) / n, (f1[1] - f0[1]) / n))
    elif mode == "syscalls":
        log = os.path.join(tmp, "strace")
        p = subprocess.Popen(["strace", "-c", "-f", "-p", str(gw), "-o", log])
        time.sleep(1)
        n = wrk(h, events, seconds)
        p.send_signal(signal.SIGINT)
        p.wait()
        total = 0
        rows = []
        for line in open(log):
            f = line.split()
            if len(f) >= 5 and f[3].isdigit():
                if f[-1] == "total":
                    total = int(f[3])
                else:
                    rows.append((f[-1], int(f[3])))
        print("requests %d  system calls %.2f/request" % (n, total / n))
        for name, calls in sorted(rows, key=lambda r: -r[1]):
            print("  %-16s %.3f" % (name, calls / n))
    elif mode == "allocs":
        libc = subprocess.run(["sh", "-c", "ldd %s | awk '/libc.so/ {print $3}'"
                               % shutil.which("true")], capture_output=True, text=True).stdout.strip()
        fns = ("malloc", "calloc", "realloc")
        for f in fns:
            subprocess.run(["perf", "probe", "-q", "-x", libc, "--add", "hark_%s=%s" % (f, f)],
                           capture_output=True)
        try:
            counts = {}
            for name, pid in (("gateway", gw), ("journal", jr)):
                log = os.path.join(tmp, "allocs-" + name)
                p = subprocess.Popen(["perf", "stat", "-x,", "-o", log, "-e",
                                      ",".join("probe_libc:hark_" + f for f in fns), "-p", str(pid)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
                n = wrk(h, events, seconds)
                p.send_signal(signal.SIGINT)
                p.wait()
                for line in open(log):
                    f = line.split(",")
                    if len(f) > 2 and f[0].strip().isdigit():
                        counts[name, f[2].split("hark_")[-1]] = int(f[0]) / n
            for name in ("gateway", "journal"):
                print("%s: %s a request" % (name, "  ".join(
                    "%s %.1f" % (f, counts.get((name, f), 0)) for f in fns)))
        finally:
            for f in fns:
                subprocess.run(["perf", "probe", "-q", "-d", "probe_libc:hark_" + f],
                               capture_output=True)
    elif mode == "perf":
        data = os.path.join(tmp, "perf.data")
        p = subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-o", data, "-p",
                              "%d,%d" % (gw, jr)], stdout=subprocess.DEVNULL)
        time.sleep(1)
        n = wrk(h, events, seconds)
        p.send_signal(signal.SIGINT)
        p.wait()
        print("requests %d" % n)
        for name, pid in (("gateway", gw), ("journal", jr)):
            r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--pid", str(pid),
                                "--sort", "dso,sym", "--percent-limit", "0.7",
                                "--percentage", "relative"],
                               capture_output=True, text=True)
            print("%s:" % name)
            for line in r.stdout.splitlines():
                if line.strip() and not line.startswith("#"):
                    print("  " + line.strip())
        shutil.copy(data, "/tmp/gateway_cost.perf")
    else:
        subprocess.run(["callgrind_control", "-z", str(gw)], capture_output=True)
        n = wrk(h, events, seconds)
        subprocess.run(["callgrind_control", "-d", str(gw)], capture_output=True)
        time.sleep(2)
        dumps = [f for f in glob.glob(out + "*") if f != out]
        if not dumps:
            sys.exit("callgrind wrote no dump")
        r = subprocess.run(["callgrind_annotate", "--threshold=100", dumps[-1]],
                           capture_output=True, text=True)
        total = int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", r.stdout).group(1).replace(",", ""))
        m = re.search(r"([\d,]+) \([\d.]+%\)\s+\S*memset\S*", r.stdout)
        memset = int(m.group(1).replace(",", "")) if m else 0
        shutil.copy(dumps[-1], "/tmp/gateway_cost.callgrind")
        print("requests %d  instructions %.0f/request (%.0f of them memset, mostly libmicrohttpd "
              "clearing the connection's memory pool)" % (n, total / n, memset / n))


if __name__ == "__main__":
    main()
