#!/usr/bin/env python3
"""Hark mailer benchmark: rendered and delivered messages per second, with
realistic ~10 KB messages, to a local smtp-sink and to a real local Postfix,
beside, in the same run:

  (a) Postfix's smtp-source sending the same message over the same number of
      connections: the ceiling on this machine;
  (b) Node.js with nodemailer (pooled SMTP) and marked for the Markdown
      (tests/bench/node/send.mjs): what a team would reach for instead.

Goal: Hark >= 70 % of (a) and >= 3x (b), on both servers.

    make MODE=release build
    HARK_BIN=$PWD/bin HARK_ROOT=$PWD /usr/bin/python3 tests/bench/mail_bench.py

Everything is started and stopped here: smtp-sink, a private Postfix
instance (own config and queue directories in the temp dir, smtpd on a free
127.0.0.1 port, every message discarded), one Hark instance (journal +
mailer) per server, smtp-source and node.  All traffic is on 127.0.0.1.
Every step has a timeout and the whole run is cut off after --max-seconds.
Prints a table and writes tests/bench/mail_results.json; README.md here
("Mailer") says what each figure means.
"""
import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# benchlib (next to this script) sets HARK_ROOT/HARK_BIN and finds harness
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BIN, HERE, ROOT, CpuMeter, Deadline, Perf, arm_deadline,  # noqa: E402
                      check_binaries, command_output, end_process, fmt, log, machine_info, machine_line,
                      perf_report, perf_symbols, remove_temp, stop_hark, write_results)
from harness import Hark, free_port  # noqa: E402

NODE_DIR = os.path.join(HERE, "node")
GOAL_VS_SOURCE = 0.70   # Hark >= 70 % of smtp-source
GOAL_VS_NODE = 3.0      # Hark >= 3x nodemailer
FROM = "shop@example.com"
SHOP = "Hark Bench Shop"
OUTCOME_TYPES = ["mail.delivered", "mail.bounced", "mail.failed", "mail.skipped"]


# --- the message ----------------------------------------------------------------------
# One realistic customer letter: headings, paragraphs, lists, links, a quote,
# emphasis, a few per-customer variables, and the shared footer partial.
# Rendered by Hark into a ~10 KB multipart/alternative message (text/plain +
# text/html inside templates/layout.html, both quoted-printable).
BENCH_TEMPLATE = """\
---
subject: {{name}}, your November tea letter from {{shop_name}}
preheader: New harvests, a brewing guide and a small gift for order {{order_number}}
---
# Hello {{name}},

thank you for ordering from us again. Your order **{{order_number}}** left our
warehouse this morning and should reach you within two to three working days.
You can follow it at any time on the [tracking page](https://shop.example.com/track/{{order_number}}).

## New this month

The autumn harvests have arrived, and a few of them are worth a closer look.
Every tea below comes from a garden we have bought from for at least three
years, was tasted by two of us before we ordered it, and is packed in small
batches here in the shop, so what reaches you is never more than a few weeks
out of its tasting room:

- **Darjeeling Second Flush, Castleton** - muscatel notes, a long finish and a
  surprisingly gentle body. [Read more](https://shop.example.com/tea/castleton)
- **Dong Ding Oolong** - roasted over charcoal for three days; honey, toasted
  nuts and a trace of stone fruit. [Read more](https://shop.example.com/tea/dong-ding)
- **Genmaicha Matcha-iri** - green tea, roasted rice and a dusting of matcha,
  our staff's favourite for cold afternoons. [Read more](https://shop.example.com/tea/genmaicha)
- **Rooibos Vanilla** - caffeine-free and sweet enough without sugar, a good
  cup for the evening. [Read more](https://shop.example.com/tea/rooibos-vanilla)

## Brewing guide: oolong in three steps

1. Warm the pot and cups with hot water, then pour it away. A cold pot takes
   the heat out of the first infusion.
2. Use 5 g of leaves for 150 ml of water at 90-95 C, and steep for 45 seconds.
   Rolled oolongs open slowly: the second and third infusions are often the best.
3. Add 15 seconds for every further infusion. Good leaves give five or six cups.

> "I never knew one spoonful of leaves could last a whole afternoon."
> — a customer from Kraków, about our Dong Ding

## A small gift

As a thank-you, here is **10 % off** your next order with the code
`{{coupon_code}}`, valid until {{coupon_expires}}. It works on everything in the shop,
including gift boxes and the new harvests above.

If anything about your order is not as it should be, just reply to this
message: a real person reads every answer, usually within a day.

{{> _footer}}
"""


def bench_vars(i):
    return {"name": "Customer %d" % i, "order_number": "A-%d" % (100000 + i),
            "coupon_code": "BENCH%X" % (0x10000 + i), "coupon_expires": "31 December"}


# --- machine ----------------------------------------------------------------------------
def mail_machine_info(base):
    versions = {pkg: command_output(["dpkg-query", "-W", "-f", "${Version}", pkg])
                for pkg in ("postfix", "libesmtp6", "libcmark0.30.2", "libsqlite3-0", "nodejs")}
    versions["node"] = command_output(["node", "--version"])
    return machine_info(base, "temp_fs", versions)


# --- tools compiled into the temp dir --------------------------------------------------
# render+compose alone (the work of mailer_pool.c's s_compose, without SMTP
# or SQLite), and the per-message outcome commit (mailer_store_record) alone, with
# 1 and with [mailer] connections threads committing at once.
PROBE_C = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "render.h"
#include "mailer_compose.h"
#ifdef WITH_STORE
#include <sqlite3.h>
#include "db.h"
#include "mailer.h"
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int render_bench(const char *dir, const char *name, int n, const char *sample)
{
    char err[256];
    render_t *r = render_new(dir, "en", err, sizeof err);
    if (!r) { fprintf(stderr, "render_new: %s\n", err); return 1; }
    double t_render = 0, t_compose = 0;
    size_t bytes = 0, text = 0, html = 0;
    for (int i = -50; i < n; i++) {          /* 50 warm-up rounds */
        int k = i < 0 ? 0 : i;
        char nm[64], order[64], coupon[64], url[200], to[64];
        snprintf(nm, sizeof nm, "Customer %d", k);
        snprintf(order, sizeof order, "A-%d", 100000 + k);
        snprintf(coupon, sizeof coupon, "BENCH%X", 0x10000 + k);
        snprintf(url, sizeof url, "http://127.0.0.1:8080/u/dTEyMzQ1QGV4YW1wbGUuY29tCmVuCg.%032x%032x", k, k);
        snprintf(to, sizeof to, "u%d@example.com", k);
        json_t *vars = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "name", nm, "order_number", order,
                                 "coupon_code", coupon, "coupon_expires", "31 December",
                                 "shop_name", "Hark Bench Shop", "unsubscribe_url", url);
        rendered_t out = {0};
        double t0 = now_s();
        if (render_message(r, name, "en", vars, &out, err, sizeof err)) {
            fprintf(stderr, "render_message: %s\n", err); return 1;
        }
        double t1 = now_s();
        mailer_compose_opts_t o = {.from_name = "Hark Bench Shop", .from_addr = "shop@example.com",
                            .to_name = nm, .to_addr = to,
                            .message_id = "<hark.1.0123456789abcdef@example.com>",
                            .date_ms = (long long)time(NULL) * 1000, .unsubscribe_url = url,
                            .category = "milestone"};
        size_t len = 0;
        char *msg = mailer_compose_message(&o, &out, &len, err, sizeof err);
        double t2 = now_s();
        if (!msg) { fprintf(stderr, "mailer_compose_message: %s\n", err); return 1; }
        if (i >= 0) {
            t_render += t1 - t0; t_compose += t2 - t1;
            bytes += len; text += strlen(out.text); html += strlen(out.html);
        }
        if (i == 0 && sample) {
            FILE *f = fopen(sample, "wb");
            if (f) { fwrite(msg, 1, len, f); fclose(f); }
        }
        free(msg);
        render_message_free(&out);
        json_decref(vars);
    }
    render_destroy(&r);
    printf("{\"messages\":%d,\"render_us\":%.2f,\"compose_us\":%.2f,\"render_compose_us\":%.2f,"
           "\"per_core_messages_per_s\":%.0f,\"message_bytes\":%zu,\"text_bytes\":%zu,\"html_bytes\":%zu}\n",
           n, 1e6 * t_render / n, 1e6 * t_compose / n, 1e6 * (t_render + t_compose) / n,
           n / (t_render + t_compose), bytes / n, text / n, html / n);
    return 0;
}

#ifdef WITH_STORE
typedef struct { const char *path; int from, to; double secs; int failed; } arg_t;
static mailer_pool_conf_t rules = {.retry_min = 1000, .retry_max = 10000, .give_up = 100000};

static void *recorder(void *p)
{
    arg_t *a = p;
    sqlite3 *db = db_open(a->path, "normal", NULL);
    if (!db) { a->failed = a->to - a->from; return NULL; }
    double t0 = now_s();
    for (int id = a->from; id < a->to; id++) {
        mailer_pool_job_t j = {0};
        j.id = id;
        j.code = 250;
        j.to_addr = "u@example.com";
        snprintf(j.diag, sizeof j.diag, "2.0.0 Ok: queued as 4C7C8A74096");
        if (mailer_store_record(db, &rules, &j))
            a->failed++;
    }
    a->secs = now_s() - t0;
    db_close(&db);
    return NULL;
}

/* the same rows the mailer has after dispatch: n messages, status 'sending' */
static int store_setup(const char *path, int n)
{
    sqlite3 *db = db_open(path, "normal", mailer_store_migrations);
    if (!db) return -1;
    db_begin(db);
    json_t *req = json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "template", "bench", "category",
                            "milestone", "address", "u@example.com", "name", "Customer",
                            "locale", "en", "vars", "order_number", "A-100000", "coupon_code", "BENCH1");
    for (int i = 1; i <= n; i++) {
        char key[64], mid[96];
        snprintf(key, sizeof key, "bench/%d", i);
        snprintf(mid, sizeof mid, "<hark.%d.0123456789abcdef@example.com>", i);
        if (mailer_store_enqueue(db, key, i, req, mid, NULL, 0, 1)) return -1;
    }
    json_decref(req);
    db_exec(db, "UPDATE messages SET status = 'sending', lease_until = 9e15, sent_to = address");
    if (db_commit(db)) return -1;
    db_close(&db);
    return 0;
}

static int store_bench(const char *dir, int n, int threads)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/store-%d.db", dir, threads);
    if (store_setup(path, n)) { fprintf(stderr, "store setup failed\n"); return 1; }
    pthread_t th[64];
    arg_t a[64];
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        a[t] = (arg_t){.path = path, .from = 1 + t * n / threads, .to = 1 + (t + 1) * n / threads};
        pthread_create(&th[t], NULL, recorder, &a[t]);
    }
    int failed = 0;
    for (int t = 0; t < threads; t++) { pthread_join(th[t], NULL); failed += a[t].failed; }
    double wall = now_s() - t0;
    printf("{\"threads\":%d,\"messages\":%d,\"failed\":%d,\"seconds\":%.3f,\"messages_per_s\":%.0f,"
           "\"us_per_message\":%.1f}\n", threads, n, failed, wall, n / wall, 1e6 * wall / n);
    return failed != 0;
}
#endif

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "render") == 0)
        return render_bench(argv[2], argv[3], atoi(argv[4]), argv[5]);
#ifdef WITH_STORE
    if (argc >= 5 && strcmp(argv[1], "store") == 0)
        return store_bench(argv[2], atoi(argv[3]), atoi(argv[4]));
#endif
    fprintf(stderr, "usage: probe render DIR NAME N SAMPLE | probe store DIR N THREADS\n");
    return 2;
}
"""


def compile_probe(base):
    """the probe, built from the checkout's mailer sources against the release
    build's libhark.a; with mailer_store.c when it compiles (WITH_STORE)"""
    src = os.path.join(base, "mail_probe.c")
    with open(src, "w") as f:
        f.write(PROBE_C)
    lib = os.path.join(ROOT, "build", "release", "libhark.a")
    if not os.path.exists(lib):
        return None, "build/release/libhark.a is missing (make MODE=release build)"
    pkgs = "libzmq sqlite3 jansson libcmark nettle openssl libesmtp-1.0 libmicrohttpd inih"
    r = subprocess.run(["pkg-config", "--cflags", "--libs"] + pkgs.split(), capture_output=True, text=True)
    flags = shlex.split(r.stdout)
    inc = ["-I" + os.path.join(ROOT, p) for p in ("services/common", "services/mailer", "build/gen")]
    mailer = os.path.join(ROOT, "services", "mailer")
    exe = os.path.join(base, "mail_probe")
    common = [os.environ.get("CC", "cc"), "-O2", "-std=c11", "-D_GNU_SOURCE", "-w", "-o", exe, src,
              os.path.join(mailer, "mailer_compose.c")] + inc
    tail = [lib] + flags + ["-lunistring", "-ldl", "-lm", "-lpthread"]
    r = subprocess.run(common[:7] + ["-DWITH_STORE"] + common[7:] + [os.path.join(mailer, "mailer_store.c")] + tail,
                       capture_output=True, text=True, timeout=180)
    if r.returncode == 0:
        return exe, None
    r2 = subprocess.run(common + tail, capture_output=True, text=True, timeout=180)
    if r2.returncode == 0:
        return exe, "store probe not built: " + r.stderr[-400:]
    return None, "probe not built: " + r2.stderr[-800:]


# --- the servers ----------------------------------------------------------------------
def wait_port(port, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(2)
                if s.recv(100).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("nothing answers SMTP on 127.0.0.1:%d" % port)


def ehlo_keywords(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"EHLO probe.localdomain\r\n")
        kws = []
        while True:
            line = f.readline().decode("ascii", "replace").rstrip("\r\n")
            if not line:
                break
            kws.append(line[4:].split(" ")[0].upper())
            if line[3:4] != "-":
                break
        s.sendall(b"QUIT\r\n")
        return [k for k in kws[1:] if k]


class SmtpSink:
    """Postfix's smtp-sink: takes every message and throws it away"""
    name = "smtp-sink"

    def __init__(self, base):
        self.port = free_port()
        self.proc = None
        self.log_path = os.path.join(base, "smtp-sink.log")

    def start(self):
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["smtp-sink", "-u", "nobody", "-4", "-m", "256",
                                      "127.0.0.1:%d" % self.port, "256"],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        wait_port(self.port)
        self.pid = self.proc.pid

    def stop(self):
        if self.proc:
            end_process(self.proc)
        if getattr(self, "logf", None):
            self.logf.close()

    def mark(self):
        return None

    def since(self, mark):
        return {}

    def drain(self, timeout=0):
        return True


MAIN_CF = """\
# a private Postfix instance for tests/bench/mail_bench.py: accepts mail for
# the test domains on 127.0.0.1 only and discards every message.
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = bench.localdomain
mydomain = localdomain
myorigin = $myhostname
mydestination = $myhostname, localhost, example.com
mynetworks = 127.0.0.0/8
local_recipient_maps =
alias_maps =
alias_database =
local_transport = discard:
default_transport = discard:
relay_transport = discard:
smtpd_peername_lookup = no
append_dot_mydomain = no
biff = no
smtputf8_enable = no
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
"""

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:{port} inet n   -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A private Postfix instance: its own config_directory, queue_directory
    and data_directory under the temp dir, smtpd on a free loopback port,
    local and default transport discard.  Everything else is Debian's stock
    Postfix, defaults included (queue files fsynced before the 250, logging
    through postlogd, in_flow_delay...)."""
    name = "postfix"
    extra_main_cf = ""

    def __init__(self, base):
        self.dir = os.path.join(base, self.name)
        self.etc = os.path.join(self.dir, "etc")
        self.port = free_port()
        self.started = False
        self.pid = None

    def start(self):
        for sub in ("etc", "queue", "data"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        os.chmod(self.dir, 0o755)
        shutil.chown(os.path.join(self.dir, "data"), "postfix", "postfix")
        os.chmod(os.path.join(self.dir, "data"), 0o700)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(d=self.dir) + self.extra_main_cf)
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port))
        r = subprocess.run(["postfix", "-c", self.etc, "check"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("postfix check failed: %s %s" % (r.stdout, r.stderr))
        self.started = True  # from here on, stop() must run
        r = subprocess.run(["postfix", "-c", self.etc, "start"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("postfix start failed: %s %s %s" % (r.stdout, r.stderr, self.maillog()[-2000:]))
        wait_port(self.port)
        with open(os.path.join(self.dir, "data", "master.lock")) as f:
            self.pid = int(f.read().split()[0])

    def stop(self):
        if not self.started:
            return
        subprocess.run(["postfix", "-c", self.etc, "stop"], capture_output=True, text=True, timeout=60)
        deadline = time.monotonic() + 20
        while self.pid and time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except OSError:
                break
            time.sleep(0.2)
        else:
            if self.pid:  # still there: the master by its pid, not by name
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except OSError:
                    pass
        self.started = False

    def maillog(self):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def mark(self):
        try:
            return os.path.getsize(os.path.join(self.dir, "maillog"))
        except OSError:
            return 0

    def since(self, mark):
        """what the maillog says happened after mark: smtpd's per-session
        command counts (ehlo=1 mail=100 rcpt=100 bdat=100 ...), summed, and
        how many messages the discard transport took"""
        with open(os.path.join(self.dir, "maillog"), "rb") as f:
            f.seek(mark)
            text = f.read().decode("utf-8", "replace")
        cmds, sessions = {}, 0
        for m in re.finditer(r"smtpd\[\d+\]: disconnect from \S+ (.*)$", text, re.M):
            sessions += 1
            for k, v in re.findall(r"(\w+)=(\d+)", m.group(1)):
                cmds[k] = cmds.get(k, 0) + int(v)
        return {"smtpd_sessions": sessions, "smtpd_commands": cmds,
                "discarded": len(re.findall(r"discard\[\d+\]: \S+: to=.*status=sent", text)),
                "warnings": re.findall(r"(?:warning|fatal|panic): .*", text)[:5]}

    def queue_count(self):
        n = 0
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(os.path.join(self.dir, "queue", sub)):
                n += len(files)
        return n

    def drain(self, timeout=60):
        """wait until the queue is empty (every message discarded) and the
        log has caught up"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue_count() == 0:
                time.sleep(0.5)
                return True
            time.sleep(0.2)
        return False


class PostfixNoChunking(Postfix):
    """The same Postfix with CHUNKING taken out of its EHLO answer, so that
    libESMTP uses DATA (informational: not one of the two judged servers)"""
    name = "postfix-nochunking"
    extra_main_cf = "smtpd_discard_ehlo_keywords = chunking\n"


SERVERS = {"smtp-sink": SmtpSink, "postfix": Postfix, "postfix-nochunking": PostfixNoChunking}


# --- the three senders ----------------------------------------------------------------
def run_smtp_source(server, args, sample_lf, timeout):
    cmd = ["smtp-source", "-4", "-d", "-N", "-s", str(args.connections), "-m", str(args.count),
           "-F", sample_lf, "-f", FROM, "-t", "u@example.com", "-M", "bench.localdomain",
           "127.0.0.1:%d" % server.port]
    res = {"tool": "smtp-source", "count": args.count, "connections": args.connections,
           "command": " ".join(cmd)}
    mark = server.mark()
    watch = CpuMeter(trees={"server": server.pid}, style="threads").start()
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        res.update(ok=False, error="timed out after %d s" % timeout)
        return res
    secs = time.monotonic() - t0
    res["cpu"] = watch.stop()
    res.update(seconds=round(secs, 3), exit=r.returncode,
               messages_per_s=round(args.count / secs, 1) if r.returncode == 0 else None,
               ok=r.returncode == 0)
    per_message_cpu(res, args.count)
    if r.returncode != 0:
        res["error"] = (r.stdout + r.stderr)[-500:]
    server.drain()
    res["server_log"] = server.since(mark)
    return res


def run_node(server, args, tdir, timeout):
    cmd = ["node", os.path.join(NODE_DIR, "send.mjs"), "--host", "127.0.0.1", "--port", str(server.port),
           "--count", str(args.count), "--connections", str(args.connections),
           "--per-connection", str(args.per_connection),
           "--template", os.path.join(tdir, "en", "bench.md"), "--layout", os.path.join(tdir, "layout.html"),
           "--from", FROM, "--from-name", SHOP]
    res = {"tool": "nodemailer", "count": args.count, "connections": args.connections,
           "per_connection": args.per_connection}
    mark = server.mark()
    watch = CpuMeter(trees={"server": server.pid}, style="threads").start()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=NODE_DIR)
    except subprocess.TimeoutExpired:
        res.update(ok=False, error="timed out after %d s" % timeout)
        return res
    res["cpu"] = watch.stop()
    try:
        out = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res.update(ok=False, error="no result: " + (r.stdout + r.stderr)[-800:])
        return res
    res.update(out)
    per_message_cpu(res, args.count)
    res["ok"] = r.returncode == 0 and out.get("accepted") == args.count and not out.get("failed")
    if not res["ok"]:
        res["error"] = out.get("first_error") or r.stderr[-500:]
    server.drain()
    res["server_log"] = server.since(mark)
    return res


def per_message_cpu(res, n):
    c = res.get("cpu", {})
    if n:
        res["client_cpu_us_per_message"] = round(1e6 * c.get("client_cpu_s", 0) / n, 1)
        res["server_cpu_us_per_message"] = round(1e6 * c.get("server_cpu_s", 0) / n, 1)


def mail_conf(server, args, tdir):
    return {"smtp": {"host": "127.0.0.1", "port": str(server.port), "starttls": "off", "timeout": "30s"},
            "mailer": {"templates": tdir, "from": FROM, "from_name": SHOP, "shop_name": SHOP,
                       "connections": str(args.connections), "per_connection": str(args.per_connection),
                       "retry_min": "1s", "retry_max": "2s", "give_up": "60s"}}


def request_events(prefix, start, n):
    return [{"type": "mail.requested", "key": "%s/%d" % (prefix, i),
             "payload": {"template": "bench", "category": "milestone", "address": "u%d@example.com" % i,
                         "name": "Customer %d" % i, "locale": "en", "vars": bench_vars(i)}}
            for i in range(start, start + n)]


def append(h, events, batch=1000):
    for b in range(0, len(events), batch):
        cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": events[b:b + batch]},
                        timeout=60000)
        if cmd != "JOURNAL_APPEND_OK":
            raise RuntimeError("JOURNAL_APPEND: %s %s" % (cmd, r))


class Outcomes:
    """follows the journal for mail.* outcome events, from a cursor on"""

    def __init__(self, h, after=0):
        self.h, self.after = h, after
        self.by_type, self.keys = {}, set()
        self.first_at = self.last_at = None
        self.last_offset = 0

    def poll(self, prefix):
        got = 0
        while True:
            cmd, r = self.h.call(self.h.endpoint("journal.sock"), "JOURNAL_FETCH",
                                 {"after": self.after, "limit": 1000, "types": OUTCOME_TYPES}, timeout=30000)
            if cmd != "JOURNAL_FETCH_OK":
                raise RuntimeError("JOURNAL_FETCH: %s %s" % (cmd, r))
            for e in r["events"]:
                key = e["payload"].get("request_key", "")
                if not key.startswith(prefix + "/"):
                    continue
                self.by_type[e["type"]] = self.by_type.get(e["type"], 0) + 1
                self.keys.add(key)
                at = datetime.datetime.fromisoformat(e["recorded_at"].replace("Z", "+00:00")).timestamp()
                self.first_at = at if self.first_at is None else min(self.first_at, at)
                self.last_at = at if self.last_at is None else max(self.last_at, at)
                self.last_offset = e["offset"]
                got += 1
            if not r["events"]:
                return got
            self.after = r["next"]

    def wait(self, prefix, n, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.poll(prefix) == 0:
                if sum(self.by_type.values()) >= n:
                    return True
                # the end time is the last outcome's recorded_at, not this
                # poll's, so polling gently costs no accuracy
                time.sleep(0.05)
        return sum(self.by_type.values()) >= n


def perf_tops(data):
    """what the mailer spends its time in: symbols (callees included) and
    shared objects (self time) with >= 1.5 % of the samples"""
    dsos = []
    for line in perf_report(data, "dso", 1.5, children=False).splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)", line)
        if m:
            dsos.append({"self_pct": float(m.group(1)), "dso": m.group(2)})
    return {"children": perf_symbols(perf_report(data, "symbol", 1.5))[:40], "dso": dsos[:40]}


SYSCALLS = ["clock_nanosleep", "fdatasync", "fsync", "fcntl", "pwrite64", "pread64", "write", "read",
            "poll", "futex"]


class SyscallCount:
    """perf stat on syscall tracepoints of one process (all threads): cheap
    enough to leave on.  clock_nanosleep in hark-mailer is SQLite's busy
    handler sleeping on a locked database (1, 2, 5 ... ms); fdatasync is a
    WAL checkpoint; fcntl/pwrite64/pread64 are SQLite's locks, WAL frames
    and page reads."""

    def __init__(self):
        self.proc = None
        self.ok = shutil.which("perf") is not None and subprocess.run(
            ["perf", "stat", "-x,", "-e", "syscalls:sys_enter_fcntl", "-o", os.devnull, "--", "true"],
            capture_output=True).returncode == 0

    def start(self, pid, path):
        if not self.ok or not pid:
            return
        self.path = path
        events = ",".join("syscalls:sys_enter_" + n for n in SYSCALLS) + ",context-switches,task-clock"
        self.proc = subprocess.Popen(["perf", "stat", "-x,", "-e", events, "-p", str(pid), "-o", path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)

    def stop(self):
        if not self.proc:
            return None
        end_process(self.proc, signal.SIGINT, 20)  # perf stat writes its counts on SIGINT
        self.proc = None
        out = {}
        try:
            with open(self.path) as f:
                for line in f:
                    parts = line.strip().split(",")
                    if len(parts) >= 3 and parts[0] and not line.startswith("#"):
                        try:
                            out[parts[2].replace("syscalls:sys_enter_", "")] = float(parts[0])
                        except ValueError:
                            pass
        except OSError:
            pass
        return out


def run_hark(server, args, tdir, base, n_inst, perf, timeout):
    res = {"tool": "hark", "count": args.count, "connections": args.connections,
           "per_connection": args.per_connection}
    d = os.path.join(base, "hark-%s-%d" % (server.name, n_inst))
    os.makedirs(d)
    h = Hark(d, services=("journal", "mailer"), conf=mail_conf(server, args, tdir))
    sysc = SyscallCount()
    try:
        h.start()
        pids = {"mailer": h.pid("mailer"), "journal": h.pid("journal")}
        if not pids["mailer"]:
            raise RuntimeError("the mailer is not running")
        # warm-up: templates compiled, SQLite pages cached, first sessions made
        warm = min(200, args.count)
        append(h, request_events("warm", 0, warm))
        oc = Outcomes(h)
        if not oc.wait("warm", warm, 60):
            raise RuntimeError("warm-up: %s of %d outcomes" % (oc.by_type, warm))
        cursor = oc.after
        if server.drain and not server.drain():
            raise RuntimeError("server queue did not drain")
        events = request_events("bench", 0, args.count)
        mark = server.mark()
        perf.start(pids["mailer"], "mailer-%s" % server.name)
        sysc.start(pids["mailer"], os.path.join(d, "syscalls.txt"))
        watch = CpuMeter(procs=pids, trees={"server": server.pid}, style="threads").start()
        t0 = time.time()
        m0 = time.monotonic()
        append(h, events)
        res["append_s"] = round(time.monotonic() - m0, 3)
        oc = Outcomes(h, cursor)
        done = oc.wait("bench", args.count, timeout)
        seen = time.monotonic() - m0
        res["cpu"] = watch.stop()
        counts = sysc.stop()
        res["perf"] = perf.stop()
        delivered = oc.by_type.get("mail.delivered", 0)
        # the last outcome's recorded_at (journal clock, ms) is the end; the
        # poll that saw it is at most ~20 ms later
        end = (oc.last_at - t0) if oc.last_at else seen
        res.update(outcomes=oc.by_type, unique_requests=len(oc.keys), complete=done,
                   seconds=round(end, 3), seconds_polled=round(seen, 3),
                   first_delivered_after_s=round(oc.first_at - t0, 3) if oc.first_at else None,
                   messages_per_s=round(delivered / end, 1) if end > 0 else None)
        res["ok"] = done and delivered == args.count and len(oc.keys) == args.count
        if not res["ok"]:
            res["error"] = "outcomes %s for %d requests (%d distinct)" % (oc.by_type, args.count, len(oc.keys))
        cpu = res["cpu"]
        if delivered:
            res["mailer_cpu_us_per_message"] = round(1e6 * cpu.get("mailer_cpu_s", 0) / delivered, 1)
            res["journal_cpu_us_per_message"] = round(1e6 * cpu.get("journal_cpu_s", 0) / delivered, 1)
            res["server_cpu_us_per_message"] = round(1e6 * cpu.get("server_cpu_s", 0) / delivered, 1)
            if counts:
                res["mailer_per_message"] = {k: round(v / delivered, 2) for k, v in counts.items()
                                             if k != "task-clock"}
                # SQLite's busy handler sleeps at least 1 ms each time
                res["mailer_per_message"]["task_clock_us"] = round(1000 * counts.get("task-clock", 0) / delivered, 1)
        server.drain()
        res["server_log"] = server.since(mark)
        try:  # the mailer's queue counts after the run: every row delivered
            cmd, st = h.call(h.endpoint("mailer.ctl"), "SERVICE_STATUS", {}, timeout=10000)
            res["mailer_queue_after"] = st.get("detail") if cmd == "SERVICE_STATUS_OK" else None
        except Exception as e:  # noqa: BLE001 - informational only
            res["mailer_queue_after"] = "%s: %s" % (type(e).__name__, e)
    except Exception as e:  # noqa: BLE001 - report, keep going
        res.update(ok=False, error="%s: %s" % (type(e).__name__, e))
        perf.stop()
    finally:
        sysc.stop()
        res["harkd_exit"] = stop_hark(h, "Hark")
        log_text = h.log() if os.path.exists(h.log_path) else ""
        res["log_errors"] = [line for line in log_text.splitlines()
                             if "level=error" in line or "level=warn" in line][:10]
    return res


def median_run(runs):
    ok = [r for r in runs if r.get("ok") and r.get("messages_per_s")]
    if not ok:
        return runs[-1]
    ok.sort(key=lambda r: r["messages_per_s"])
    best = dict(ok[(len(ok) - 1) // 2])
    if len(runs) > 1:
        best["repeats"] = [r.get("messages_per_s") for r in runs]
    return best


# --- report ----------------------------------------------------------------------------
def body_command(r, kws):
    """DATA or BDAT, from what the server logged (Postfix), or from what it
    offered (smtp-sink offers no CHUNKING, so every client uses DATA)"""
    c = (r.get("server_log") or {}).get("smtpd_commands") or {}
    if c:
        return "+".join(k.upper() for k in ("data", "bdat") if c.get(k)) or None
    return "DATA" if "CHUNKING" not in kws else None


def protocol(r):
    c = (r.get("server_log") or {}).get("smtpd_commands") or {}
    if not c:
        return "-"
    parts = ["%s=%d" % (k, c[k]) for k in ("ehlo", "helo", "mail", "rcpt", "data", "bdat", "rset", "quit") if c.get(k)]
    return " ".join(parts)


def goals(out):
    res = []
    for s in out["servers"]:
        runs = out["results"].get(s, {})
        hk, src, nd = (runs.get(k, {}) for k in ("hark", "smtp-source", "nodemailer"))
        h = hk.get("messages_per_s") if hk.get("ok") else None
        a = src.get("messages_per_s") if src.get("ok") else None
        b = nd.get("messages_per_s") if nd.get("ok") else None
        ra = h / a if h and a else None
        rb = h / b if h and b else None
        res.append({"server": s, "judged": s in ("smtp-sink", "postfix"), "hark": h, "smtp_source": a, "nodemailer": b,
                    "hark_vs_source": round(ra, 3) if ra else None, "hark_vs_node": round(rb, 2) if rb else None,
                    "verdict_source": "PASS" if ra and ra >= GOAL_VS_SOURCE else "MISS",
                    "verdict_node": "PASS" if rb and rb >= GOAL_VS_NODE else "MISS"})
    return res


def report(out):
    m = out["machine"]
    lines = []
    p = lines.append
    p("")
    p(machine_line("Hark mailer benchmark", m))
    s = out["settings"]
    p("%d messages per run, %d connections (Hark [mailer] connections=%d per_connection=%d; nodemailer "
      "maxConnections=%d maxMessages=%d; smtp-source -s %d -d)" % (
          s["count"], s["connections"], s["connections"], s["per_connection"], s["connections"],
          s["per_connection"], s["connections"]))
    sz = out.get("message", {})
    p("message: Hark %s bytes (text %s + html %s before QP), smtp-source the same bytes, nodemailer %s bytes" % (
        fmt(sz.get("hark_bytes")), fmt(sz.get("text_bytes")), fmt(sz.get("html_bytes")), fmt(sz.get("nodemailer_bytes"))))
    pr = out.get("probe", {})
    if pr.get("render"):
        r = pr["render"]
        p("render+compose alone (one thread, no SMTP, no SQLite): %s us/message (render %s, compose %s) = %s messages/s per core" % (
            fmt(r["render_compose_us"], 1), fmt(r["render_us"], 1), fmt(r["compose_us"], 1),
            fmt(r["per_core_messages_per_s"])))
    for st in pr.get("store", []):
        p("outcome commit alone (mailer_store_record, WAL, synchronous=normal), %d thread%s: %s us/message = %s messages/s" % (
            st["threads"], "" if st["threads"] == 1 else "s", fmt(st["us_per_message"], 1), fmt(st["messages_per_s"])))
    p("")
    p("  CPU columns: % of one core over the run; 'us/msg' is the sender's CPU per message (Hark: mailer +")
    p("  journal; the others: the client process), 'server' the SMTP server's (all Postfix processes).")
    p("  server              sender      messages/s  seconds  body   sender us/msg  server us/msg  mailer  journal"
      "  server  client  others  machine  SMTP commands (from Postfix's log)")
    for srv in out["servers"]:
        for tool in ("hark", "smtp-source", "nodemailer"):
            r = out["results"].get(srv, {}).get(tool)
            if not r:
                continue
            c = r.get("cpu", {})
            us = (r.get("mailer_cpu_us_per_message", 0) + r.get("journal_cpu_us_per_message", 0)) \
                if tool == "hark" and r.get("mailer_cpu_us_per_message") is not None else r.get("client_cpu_us_per_message")
            p("  %-19s %-11s %10s %8s  %-5s %13s %14s  %5s%%  %6s%%  %5s%%  %5s%%  %5s%%  %6s%%  %s%s" % (
                srv, tool, fmt(r.get("messages_per_s")), fmt(r.get("seconds"), 2), r.get("body_command") or "-",
                fmt(us), fmt(r.get("server_cpu_us_per_message")),
                fmt(c.get("mailer_cpu_pct")) if tool == "hark" else "  -", fmt(c.get("journal_cpu_pct")) if tool == "hark" else "  -",
                fmt(c.get("server_cpu_pct")), fmt(c.get("client_cpu_pct")) if tool != "hark" else "  -",
                fmt(c.get("others_cpu_pct")), fmt(c.get("machine_busy_pct")), protocol(r),
                "" if r.get("ok") else "  FAILED: %s" % r.get("error")))
            if r.get("repeats"):
                p("  %-19s %-11s  median of %s" % ("", "", ", ".join(fmt(v) for v in r["repeats"])))
    for srv in out["servers"]:
        r = out["results"].get(srv, {}).get("hark") or {}
        pm = r.get("mailer_per_message")
        if pm:
            p("  hark-mailer per message (%s): %s us CPU, %s context switches, syscalls: %s" % (
                srv, fmt(pm.get("task_clock_us")), fmt(pm.get("context-switches"), 1),
                ", ".join("%s %s" % (k, fmt(pm[k], 2)) for k in SYSCALLS if pm.get(k))))
        if r.get("first_delivered_after_s") is not None:
            p("  hark (%s): requests appended in %s s, first mail.delivered after %s s" % (
                srv, fmt(r.get("append_s"), 2), fmt(r.get("first_delivered_after_s"), 2)))
    p("")
    p("  server              Hark msg/s  (a) smtp-source  (b) nodemailer   Hark/(a)  goal >= %.0f%%   Hark/(b)  goal >= %.0fx" % (
        100 * GOAL_VS_SOURCE, GOAL_VS_NODE))
    for g in out["goals"]:
        p("  %-19s %10s  %15s  %14s   %7s   %-12s %7s   %s%s" % (
            g["server"], fmt(g["hark"]), fmt(g["smtp_source"]), fmt(g["nodemailer"]),
            "-" if g["hark_vs_source"] is None else "%.0f%%" % (100 * g["hark_vs_source"]), g["verdict_source"],
            "-" if g["hark_vs_node"] is None else "%.2fx" % g["hark_vs_node"], g["verdict_node"],
            "" if g["judged"] else "   (informational, not one of the judged servers)"))
    p("")
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------
def check_setup(args):
    check_binaries("mail_bench.py", ("harkd", "hark", "hark-journal", "hark-mailer"), "make bench-mail")
    need = {"smtp-sink": "postfix", "smtp-source": "postfix", "postfix": "postfix", "node": "nodejs npm"}
    missing = sorted({pkg for tool, pkg in need.items() if not shutil.which(tool)})
    if missing:
        sys.exit("mail_bench.py: missing %s; install with\n  echo 'postfix postfix/main_mailer_type select "
                 "No configuration' | debconf-set-selections\n  DEBIAN_FRONTEND=noninteractive apt-get install -y %s"
                 % (", ".join(missing), " ".join(missing)))
    if os.geteuid() != 0:
        sys.exit("mail_bench.py: runs as root (smtp-sink -u nobody, a private Postfix instance)")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "nodemailer")) or \
            not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "marked")):
        log("installing nodemailer and marked from package-lock.json (npm ci in tests/bench/node)")
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            sys.exit("mail_bench.py: npm ci failed:\n%s" % r.stderr[-2000:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10000, help="messages per run to smtp-sink (default 10000)")
    ap.add_argument("--postfix-count", type=int, default=5000,
                    help="messages per run to Postfix, which is slower (default 5000)")
    ap.add_argument("--connections", type=int, default=4, help="SMTP connections for every sender (default 4)")
    ap.add_argument("--per-connection", type=int, default=100,
                    help="messages per SMTP session for Hark and nodemailer (default 100)")
    ap.add_argument("--servers", default="smtp-sink,postfix",
                    help="comma-separated subset of smtp-sink,postfix,postfix-nochunking (the last is the "
                         "same Postfix without CHUNKING in its EHLO answer: informational, not a goal)")
    ap.add_argument("--senders", default="smtp-source,nodemailer,hark",
                    help="comma-separated subset of smtp-source,nodemailer,hark")
    ap.add_argument("--repeat", type=int, default=1, help="run each sender N times and report the median")
    ap.add_argument("--quick", action="store_true", help="3000 messages per run")
    ap.add_argument("--perf", action="store_true",
                    help="profile hark-mailer with perf record during its runs (slower; adds perf tops)")
    ap.add_argument("--out", default=os.path.join(HERE, "mail_results.json"))
    ap.add_argument("--max-seconds", type=int, default=None, help="cut the run off (default 240 + 120 per repeat)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, Postfix maillog, perf data)")
    args = ap.parse_args()
    if args.quick:
        args.count = args.postfix_count = 3000
    args.servers = [s for s in args.servers.split(",") if s]
    for sv in args.servers:
        if sv not in SERVERS:
            sys.exit("mail_bench.py: unknown server %s (%s)" % (sv, ", ".join(SERVERS)))
    senders = [s for s in args.senders.split(",") if s]
    args.repeat = max(1, args.repeat)
    if args.max_seconds is None:
        args.max_seconds = 240 + 120 * args.repeat * len(args.servers)
    check_setup(args)

    arm_deadline(args.max_seconds)

    base = tempfile.mkdtemp(prefix="hark-mailbench-")
    os.chmod(base, 0o755)  # the Postfix instance's users walk into it
    t_start = time.monotonic()
    out = {"machine": mail_machine_info(base), "bin": BIN,
           "settings": {"count": args.count, "postfix_count": args.postfix_count, "connections": args.connections,
                        "per_connection": args.per_connection, "repeat": args.repeat,
                        "template": "bench (en), category milestone (unsubscribe link + suppression check)"},
           "servers": args.servers, "results": {}, "probe": {}, "message": {}}
    per_run_timeout = max(120, args.count // 40)
    servers = []
    rc = 0
    perf = Perf(args.perf, base, 200, 0.5, perf_tops)
    try:
        tdir = os.path.join(base, "templates")
        shutil.copytree(os.path.join(ROOT, "templates"), tdir)
        with open(os.path.join(tdir, "en", "bench.md"), "w") as f:
            f.write(BENCH_TEMPLATE)
        out["message"]["template_markdown_bytes"] = len(BENCH_TEMPLATE.encode())

        log("building the render/commit probe")
        probe, note = compile_probe(base)
        if note:
            out["probe"]["note"] = note
            log("  note: " + note)
        sample = os.path.join(base, "sample.eml")
        if probe:
            r = subprocess.run([probe, "render", tdir, "bench", "5000", sample],
                               capture_output=True, text=True, timeout=120)
            if r.returncode == 0:
                out["probe"]["render"] = json.loads(r.stdout)
                rr = out["probe"]["render"]
                out["message"].update(hark_bytes=rr["message_bytes"], text_bytes=rr["text_bytes"],
                                      html_bytes=rr["html_bytes"])
                log("  render+compose: %.1f us/message, message %d bytes" % (rr["render_compose_us"], rr["message_bytes"]))
            else:
                log("  render probe failed: " + r.stderr[-500:])
            if "store probe" not in (note or ""):
                out["probe"]["store"] = []
                for th in sorted({1, args.connections}):
                    r = subprocess.run([probe, "store", base, str(min(args.count, 10000)), str(th)],
                                       capture_output=True, text=True, timeout=180)
                    if r.returncode == 0:
                        out["probe"]["store"].append(json.loads(r.stdout))
                        log("  mailer_store_record, %d thread(s): %s us/message" % (th, out["probe"]["store"][-1]["us_per_message"]))
                    else:
                        log("  store probe failed: " + (r.stdout + r.stderr)[-300:])
        if not os.path.exists(sample):
            sys.exit("mail_bench.py: no sample message (the render probe did not run)")
        # smtp-source -F sends the file's lines with CRLF appended (and dot-stuffs)
        sample_lf = os.path.join(base, "sample.txt")
        with open(sample, "rb") as f:
            raw = f.read()
        with open(sample_lf, "wb") as f:
            f.write(raw.replace(b"\r\n", b"\n"))

        for name in args.servers:
            srv = SERVERS[name](base)
            servers.append(srv)
            sargs = argparse.Namespace(**vars(args))
            sargs.count = args.count if name == "smtp-sink" else args.postfix_count
            log("%s on 127.0.0.1:%d, %d messages per run" % (name, srv.port, sargs.count))
            srv.start()
            kws = ehlo_keywords(srv.port)
            out.setdefault("server_ehlo", {})[name] = kws
            results = out["results"].setdefault(name, {})
            runs = {}
            # repeats interleaved (a, b, Hark, a, b, Hark...), so that a
            # disturbance on the machine hits all three alike
            for rep in range(args.repeat):
                for tool in ("smtp-source", "nodemailer", "hark"):
                    if tool not in senders:
                        continue
                    if tool == "smtp-source":
                        r = run_smtp_source(srv, sargs, sample_lf, per_run_timeout)
                    elif tool == "nodemailer":
                        r = run_node(srv, sargs, tdir, per_run_timeout)
                        if r.get("message_bytes"):
                            out["message"]["nodemailer_bytes"] = r["message_bytes"]
                    else:
                        r = run_hark(srv, sargs, tdir, base, rep, perf, per_run_timeout)
                    r["body_command"] = body_command(r, kws)
                    runs.setdefault(tool, []).append(r)
                    c = r.get("cpu", {})
                    log("  %-12s %9s messages/s  %7s s  server CPU %4s%%  machine %4s%%  others %4s%%  %s  %s" % (
                        tool, fmt(r.get("messages_per_s")), fmt(r.get("seconds"), 2),
                        fmt(c.get("server_cpu_pct")), fmt(c.get("machine_busy_pct")), fmt(c.get("others_cpu_pct")),
                        protocol(r), "ok" if r.get("ok") else "FAILED: %s" % r.get("error")))
            for tool, rs in runs.items():
                results[tool] = median_run(rs)
            srv.stop()
    except (Deadline, KeyboardInterrupt) as e:
        log("mail_bench.py: stopped early: %s" % (e or "interrupted"))
        rc = 1
    finally:
        signal.alarm(0)
        if perf.proc:
            perf.stop()
        for srv in servers:
            try:
                srv.stop()
            except Exception as e:  # noqa: BLE001
                log("  warning: stopping %s: %s" % (srv.name, e))
        remove_temp(base, args.keep)
    out["goals"] = goals(out)
    write_results(args.out, out, report, t_start)
    failed = [(s, t) for s, rs in out["results"].items() for t, r in rs.items() if not r.get("ok")]
    if failed:
        log("mail_bench.py: %d run(s) failed: %s" % (len(failed), failed))
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
