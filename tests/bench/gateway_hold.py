"""gateway_hold.py - the gateway with many connections open (run.py's "hold"
measurement; see README.md, "Gateway holding connections").

A Holder opens IDLE idle keep-alive connections and SLOW slow ones from the
SOURCES addresses (the client socket is bound before connect) and keeps them
open from a thread of its own:

* an idle connection sends one `GET /v1/bench-idle` (a 404, the cheapest
  answer the gateway has) and, once answered, sends nothing more: a
  keep-alive connection between two requests;
* a slow connection sends `POST /v1/events HTTP/1.1`, then one more header
  line every SLOW_EVERY seconds, and never ends its head (a slowloris).

While they are open, post_events() sends events from another address, one
request at a time, on new connections and then on one keep-alive
connection, and times each request.  Nothing here raises on a refused or
closed connection: those are what is counted.
"""
import json
import os
import random
import resource
import selectors
import socket
import threading
import time

IDLE = 1000
SLOW = 300
SOURCES = ["127.0.5.%d" % i for i in range(1, 6)]
CLIENT_ADDR = "127.0.6.1"
SLOW_EVERY = 3.0          # seconds between two header lines of a slow connection
OPEN_IN_FLIGHT = 64       # TCP handshakes in progress at once
CONNECT_TIMEOUT = 5.0     # a handshake not done after this no longer holds up the others


class Conn:
    __slots__ = ("i", "kind", "src", "sock", "state", "buf", "t_open", "t_closed", "status",
                 "next_at", "lines", "why")

    def __init__(self, i, kind, src):
        self.i, self.kind, self.src = i, kind, src
        self.sock = None
        # new -> connecting -> asking (idle: request sent) -> held; or -> closed/failed
        self.state = "new"
        self.buf = b""
        self.t_open = self.t_closed = None
        self.status = None     # first HTTP status the gateway sent on it, if any
        self.next_at = 0.0
        self.lines = 0
        self.why = None        # how it ended: "eof", "reset", connect error...


def raise_nofile(want):
    """raise this process's soft RLIMIT_NOFILE to at least want (up to the
    hard limit); returns the old (soft, hard) to restore"""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return soft, hard


def proc_memory(pid):
    """VmRSS, VmHWM (KiB), Threads and open fds of a process, from /proc"""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k.lower() + "_kib"] = int(v.split()[0])
                elif k == "Threads":
                    out["threads"] = int(v)
        out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    except (OSError, ValueError):
        pass
    return out


def s_tcp_table():
    """(local port, state, inode, rx_queue, remote address) of every IPv4
    TCP socket, from /proc/net/tcp"""
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            v = line.split()
            rem = socket.inet_ntoa(int(v[2].split(":")[0], 16).to_bytes(4, "little"))
            out.append((int(v[1].split(":")[1], 16), v[3], int(v[9]), int(v[4].split(":")[1], 16), rem))
    return out


def gateway_connections(pid, port):
    """the gateway's side of the connections to port: "accepted" ones it
    holds a descriptor for, ones the kernel has established but the gateway
    has not accepted ("accept_queue", the listening socket's queue); the
    accepted ones by the address they come from"""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(int(link[8:-1]))
        table = s_tcp_table()
    except (OSError, ValueError):
        return {}
    per_source = {}
    for lp, st, ino, _, rem in table:
        if lp == port and st == "01" and ino in inodes:
            per_source[rem] = per_source.get(rem, 0) + 1
    queue = sum(rx for lp, st, _, rx, _ in table if lp == port and st == "0A")
    return {"accepted": sum(per_source.values()), "accept_queue": queue,
            "accepted_per_source": dict(sorted(per_source.items()))}


def s_response_status(buf):
    """(status, bytes of the whole response) once buf holds a whole response, else None"""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    try:
        status = int(head[0].split()[1])
    except (IndexError, ValueError):
        return (-1, len(buf))
    length = 0
    for line in head[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip() or 0)
    if len(buf) < end + 4 + length:
        return None
    return (status, end + 4 + length)


class Holder:
    """the IDLE + SLOW connections, opened and kept open by a thread"""

    def __init__(self, port, idle=IDLE, slow=SLOW, sources=SOURCES):
        self.port = port
        self.sel = selectors.DefaultSelector()
        # interleaved, so that every address gets its share of both kinds
        kinds = ["idle"] * idle + ["slow"] * slow
        random.Random(1).shuffle(kinds)
        self.conns = [Conn(i, k, sources[i % len(sources)]) for i, k in enumerate(kinds)]
        self.stop_flag = threading.Event()
        self.opened = threading.Event()   # every connection attempted and settled
        self.t_opened = None
        self.error = None
        self.thread = threading.Thread(target=self.s_run, name="holder", daemon=True)

    # --- the thread -----------------------------------------------------------
    def start(self):
        self.thread.start()

    def stop(self, timeout=10):
        self.stop_flag.set()
        self.thread.join(timeout)
        for c in self.conns:
            if c.sock is not None:
                try:
                    c.sock.close()
                except OSError:
                    pass
                c.sock = None
        self.sel.close()

    def s_close(self, c, why):
        if c.sock is not None:
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()
            c.sock = None
        if c.state in ("connecting", "new") and why != "eof" and why != "reset":
            c.state = "failed"
        else:
            c.state = "closed"
        c.why = why
        c.t_closed = time.monotonic()

    def s_open(self, c):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        c.sock = s
        c.t_open = time.monotonic()
        try:
            s.bind((c.src, 0))
            err = s.connect_ex(("127.0.0.1", self.port))
        except OSError as e:
            self.s_close(c, "bind/connect: %s" % e.strerror)
            return
        if err not in (0, 115):  # EINPROGRESS
            self.s_close(c, "connect: %s" % os.strerror(err))
            return
        c.state = "connecting"
        self.sel.register(s, selectors.EVENT_WRITE, c)

    def s_send(self, c, data):
        try:
            c.sock.send(data)  # a few dozen bytes: the socket buffer takes them whole
            return True
        except (BlockingIOError, InterruptedError):
            return True
        except OSError as e:
            self.s_close(c, "reset" if isinstance(e, (ConnectionResetError, BrokenPipeError)) else e.strerror)
            return False

    def s_connected(self, c):
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.s_close(c, "connect: %s" % os.strerror(err))
            return
        self.sel.modify(c.sock, selectors.EVENT_READ, c)
        if c.kind == "idle":
            c.state = "asking"
            self.s_send(c, b"GET /v1/bench-idle HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        else:
            c.state = "held"
            c.next_at = time.monotonic() + SLOW_EVERY * random.random()
            if self.s_send(c, b"POST /v1/events HTTP/1.1\r\n"):
                c.lines = 1

    def s_readable(self, c):
        try:
            data = c.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.s_close(c, "reset" if isinstance(e, ConnectionResetError) else e.strerror)
            return
        if not data:
            self.s_close(c, "eof")
            return
        c.buf += data
        r = s_response_status(c.buf)
        if r is not None:
            if c.status is None:
                c.status = r[0]
            c.buf = c.buf[r[1]:]
            if c.kind == "idle" and c.state == "asking":
                c.state = "held"

    def s_trickle(self, now):
        for c in self.conns:
            if c.kind == "slow" and c.state == "held" and now >= c.next_at:
                c.next_at = now + SLOW_EVERY
                if self.s_send(c, b"X-Slow-%d: %d\r\n" % (c.lines, c.i)):
                    c.lines += 1

    def s_run(self):
        try:
            todo = list(self.conns)
            todo.reverse()
            while not self.stop_flag.is_set():
                now = time.monotonic()
                pending = 0
                if not self.opened.is_set():
                    # an idle connection's answer is not waited for here: past the
                    # gateway's limits a connection may sit unanswered in the kernel's
                    # accept queue, and that is what the caller counts
                    for c in self.conns:
                        if c.state == "connecting" and now - c.t_open < CONNECT_TIMEOUT:
                            pending += 1
                    while todo and pending < OPEN_IN_FLIGHT:
                        self.s_open(todo.pop())
                        pending += 1
                    if not todo and pending == 0:
                        self.t_opened = time.monotonic()
                        self.opened.set()
                for key, _ in self.sel.select(0.05):
                    c = key.data
                    if c.sock is None:
                        continue
                    if c.state == "connecting":
                        self.s_connected(c)
                    else:
                        self.s_readable(c)
                self.s_trickle(time.monotonic())
        except Exception as e:  # noqa: BLE001 - reported by the caller
            self.error = "%s: %s" % (type(e).__name__, e)
            self.opened.set()

    # --- what the caller reads ---------------------------------------------------
    def counts(self):
        """the connections by kind and state; closed ones by why and by the
        status the gateway sent first (a 503, 408, 431...)"""
        out = {}
        for c in list(self.conns):
            k = out.setdefault(c.kind, {"total": 0, "open": 0, "answered": 0, "unanswered": 0,
                                        "connecting": 0, "closed": 0, "failed": 0, "closed_how": {},
                                        "statuses": {}})
            k["total"] += 1
            if c.state in ("held", "asking"):
                k["open"] += 1
                if c.kind == "idle":
                    k["answered" if c.state == "held" else "unanswered"] += 1
            elif c.state == "connecting":
                k["connecting"] += 1
            elif c.state in ("closed", "failed"):
                k[c.state] += 1
                k["closed_how"][c.why] = k["closed_how"].get(c.why, 0) + 1
            if c.status is not None:
                k["statuses"][str(c.status)] = k["statuses"].get(str(c.status), 0) + 1
        for k in out.values():
            if not k["closed_how"]:
                del k["closed_how"]
            if not k["statuses"]:
                del k["statuses"]
        slow = out.get("slow")
        if slow:
            slow.pop("answered", None)
            slow.pop("unanswered", None)
        total = {"total": len(self.conns), "open": sum(v["open"] for v in out.values()),
                 "connecting": sum(v["connecting"] for v in out.values())}
        total["closed_or_refused"] = total["total"] - total["open"]
        return dict(out, all=total)



# --- the measuring client -------------------------------------------------------------
def s_event_body(n):
    return json.dumps({"type": "customer", "data": {
        "id": "hold-%d" % n, "email": "hold.%d@example.com" % n, "locale": "en-GB",
        "timezone": "Europe/London", "signup_date": "2024-01-31"}}).encode()


def s_request(key, n):
    body = s_event_body(n)
    return (b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (key.encode(), len(body))) + body


def s_exchange(sock, req, deadline):
    """send req, read one response; its status, or raise OSError/TimeoutError"""
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    sock.sendall(req)
    buf = b""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            raise ConnectionResetError("closed by the gateway")
        buf += data
        r = s_response_status(buf)
        if r is not None:
            return r[0]


def s_percentile(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def s_connect(port, src, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((src, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
    except BaseException:
        s.close()
        raise
    return s


def post_events(port, key, n_new, n_keepalive, timeout=5.0, budget=40.0, src=CLIENT_ADDR, first=0):
    """n_new requests each on a new connection, then n_keepalive on one
    keep-alive connection (a new one when the gateway closes it), one at a
    time; each with one event.  Each of the two stops sending after half
    the budget (seconds): a gateway that leaves each request to time out
    would otherwise keep the run going for requests x timeout."""
    out, lat_all = {}, []
    n = first
    for mode, count in (("new_connection", n_new), ("keep_alive", n_keepalive)):
        stop_at = time.monotonic() + budget / 2
        lat, statuses, errors, sock, reconnects, sent = [], {}, {}, None, 0, 0
        t_mode = time.monotonic()
        for _ in range(count):
            if time.monotonic() >= stop_at:
                break
            n += 1
            sent += 1
            t0 = time.monotonic()
            deadline = t0 + timeout
            try:
                if sock is None:
                    sock = s_connect(port, src, timeout)
                    if mode == "keep_alive" and sent > 1:
                        reconnects += 1
                st = s_exchange(sock, s_request(key, n), deadline)
                statuses[str(st)] = statuses.get(str(st), 0) + 1
                if st == 202:
                    lat.append((time.monotonic() - t0) * 1000)
            except (socket.timeout, TimeoutError):
                errors["timeout"] = errors.get("timeout", 0) + 1
                sock.close() if sock else None
                sock = None
            except OSError as e:
                why = "reset/closed" if isinstance(e, (ConnectionError, BrokenPipeError)) else (
                    e.strerror or str(e))
                errors[why] = errors.get(why, 0) + 1
                sock.close() if sock else None
                sock = None
            if mode == "new_connection" and sock is not None:
                sock.close()
                sock = None
        if sock is not None:
            sock.close()
        out[mode] = {"requests": count, "sent": sent, "accepted_202": statuses.get("202", 0),
                     "statuses": statuses, "errors": errors, "seconds": round(time.monotonic() - t_mode, 3),
                     "latency_ms": {"p50": s_percentile(lat, 50), "p99": s_percentile(lat, 99),
                                    "max": max(lat) if lat else None}}
        if mode == "keep_alive":
            out[mode]["reconnects"] = reconnects
        lat_all += lat
    total = {"sent": n - first, "accepted_202": sum(m["accepted_202"] for m in out.values()),
             "latency_ms": {"p50": s_percentile(lat_all, 50), "p99": s_percentile(lat_all, 99),
                            "max": max(lat_all) if lat_all else None}}
    return dict(out, all=total)
