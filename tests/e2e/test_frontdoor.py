"""The gateway's front door (services/common/httpd.c) under many, slow and
malformed clients: connection limits per address and in total, deadlines
for the whole head and body, errors in Hark's words (JSON on the API, a
page in the reader's language on customer pages), and no thread per
connection."""
import json
import os
import resource
import socket
import threading
import time
from html.parser import HTMLParser

import pytest

from harness import wait_for

EVENT = {"type": "customer", "data": {"id": "c-door", "email": "door@example.com"}}


@pytest.fixture(autouse=True)
def _many_files():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _connect(h, src="127.0.0.1", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", h.port))
    return s


def _read_all(s):
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return got


def _parse(got):
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), hdrs, body


def _post(h, s, event=EVENT, close=False):
    """POST one event on socket s; read one response (keep-alive): status, headers, body"""
    body = json.dumps(event).encode()
    s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Authorization: Bearer " + h.ingest_key.encode() + b"\r\n"
              b"Content-Length: %d\r\n%s\r\n" % (len(body), b"Connection: close\r\n" if close else b"")
              + body)
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(65536)
        assert chunk, "closed before an answer"
        got += chunk
    head, _, rest = got.partition(b"\r\n\r\n")
    st, hdrs, _ = _parse(head + b"\r\n\r\n")
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        assert chunk
        rest += chunk
    return st, hdrs, rest


def _threads(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.lang, self.text = None, []

    def handle_starttag(self, tag, attrs):
        if tag == "html":
            self.lang = dict(attrs).get("lang")

    def handle_data(self, data):
        self.text.append(data)


def test_many_idle_keep_alive_connections_leave_the_door_open(make_hark):
    # 1,200 kept-alive connections from two addresses, each having posted:
    # once ~200 shut the door for everyone (a thread each, select() past
    # FD_SETSIZE); now a fresh address still gets its 202, and the
    # gateway holds them all on the same few threads
    h = make_hark()
    pid = h.pid("gateway")
    before = _threads(pid)
    held = []
    try:
        for i in range(1200):
            s = _connect(h, "127.0.4.%d" % (1 + i % 2))
            held.append(s)
        for s in held[:300]:  # some of them answer a request and stay open
            st, _, _ = _post(h, s)
            assert st == 202
        during = _threads(pid)
        assert during <= before + 2, (before, during)
        s = _connect(h, "127.0.9.9")
        st, _, body = _post(h, s, close=True)
        s.close()
        assert st == 202, body
    finally:
        for s in held:
            s.close()
    assert len(h.fetch_all()) == 301


def test_a_head_trickled_a_line_at_a_time_is_cut_at_the_head_deadline(make_hark):
    # a slow client once kept its connection for as long as it kept
    # sending; the head now has head_timeout to arrive whole
    h = make_hark(conf={"gateway": {"head_timeout": "2s"}})
    s = _connect(h)
    s.sendall(b"GET /healthz HTTP/1.1\r\n")
    start = time.monotonic()
    got = b""
    try:
        for i in range(40):
            s.sendall(b"X-Slow-%d: y\r\n" % i)
            time.sleep(0.25)
    except (BrokenPipeError, ConnectionResetError):
        pass
    got = _read_all(s)
    elapsed = time.monotonic() - start
    s.close()
    assert elapsed < 9, elapsed  # not the 10 s the trickle would take
    st, hdrs, body = _parse(got)
    assert st == 408
    assert hdrs["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "request_timeout"


def test_a_stalled_body_is_cut_at_the_body_deadline_and_stores_nothing(make_hark):
    h = make_hark(conf={"gateway": {"body_timeout": "2s"}})
    s = _connect(h, timeout=20)
    body = json.dumps(EVENT).encode()
    s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Authorization: Bearer " + h.ingest_key.encode() + b"\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
    start = time.monotonic()
    try:
        for _ in range(30):  # a byte now and then: idle time alone never runs out
            time.sleep(0.3)
            s.sendall(b" ")
    except (BrokenPipeError, ConnectionResetError):
        pass
    got = _read_all(s)
    s.close()
    assert time.monotonic() - start < 12
    assert not got.startswith(b"HTTP/1.1 202")
    assert h.fetch_all() == []


def test_per_address_limit_is_a_json_429_and_other_addresses_still_get_in(make_hark):
    h = make_hark(conf={"gateway": {"per_ip_connections": "5"}})
    held = [_connect(h, "127.0.7.1") for _ in range(5)]
    for s in held:
        assert _post(h, s)[0] == 202
    s = _connect(h, "127.0.7.1")
    got = _read_all(s)
    s.close()
    st, hdrs, body = _parse(got)
    assert st == 429
    assert hdrs["retry-after"]
    assert json.loads(body)["error"]["code"] == "too_many_connections"
    s = _connect(h, "127.0.7.2")
    assert _post(h, s, close=True)[0] == 202
    s.close()
    for s in held:
        s.close()


def test_when_full_the_longest_idle_connection_makes_room(make_hark):
    h = make_hark(conf={"gateway": {"max_connections": "20"}})
    # right after start a /healthz connection of the harness's may still be
    # counted (one its client gave up on while the gateway asked the
    # services): the twentieth is then refused as server_busy; try again
    # once it has gone
    for _ in range(50):
        held = [_connect(h, "127.0.8.%d" % (1 + i % 4)) for i in range(20)]
        answers = [_post_or_reset(h, s) for s in held]
        if all(st == 202 for st, _, _ in answers):
            break
        for st, _, body in answers:
            assert st in (202, 0) or json.loads(body)["error"]["code"] == "server_busy", body
        for s in held:
            s.close()
        time.sleep(0.2)
    assert all(st == 202 for st, _, _ in answers), answers
    s = _connect(h, "127.0.8.9")
    st, _, body = _post(h, s, close=True)
    s.close()
    assert st == 202, body
    closed = sum(1 for c in held if _is_closed(c))
    assert closed >= 1
    for c in held:
        c.close()


def _post_or_reset(h, s):
    """_post, or (0, {}, b"") when a refused connection was reset first"""
    try:
        return _post(h, s)
    except (OSError, AssertionError):
        return 0, {}, b""


def _is_closed(s):
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        s.setblocking(True)


def test_behind_a_trusted_proxy_the_forwarded_address_is_what_is_counted(make_hark):
    h = make_hark(conf={"gateway": {"per_ip_connections": "3", "trusted_proxies": "127.0.0.1"}})

    def post_as(s, client):
        body = json.dumps(EVENT).encode()
        s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + h.ingest_key.encode() + b"\r\n"
                  b"X-Forwarded-For: " + client.encode() + b"\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return int(got.split()[1])

    # ten connections from the proxy itself: its own address is not limited
    conns = [_connect(h, "127.0.0.1") for _ in range(10)]
    assert [post_as(c, "203.0.113.%d" % i) for i, c in enumerate(conns)] == [202] * 10
    # three kept-alive connections for one client: the fourth is refused
    same = [_connect(h, "127.0.0.1") for _ in range(4)]
    codes = [post_as(c, "198.51.100.7") for c in same]
    assert codes[:3] == [202] * 3 and codes[3] == 429, codes
    for c in conns + same:
        c.close()


@pytest.mark.parametrize("path,lang,word", [("/s/sometoken", "ru", "Не удалось прочитать запрос"),
                                            ("/feedback", "pl",
                                             "Nie udało się odczytać żądania")])
def test_a_head_too_large_on_a_customer_page_is_a_page_in_their_language(make_hark, path, lang,
                                                                         word):
    h = make_hark(conf={"gateway": {"max_header": "2K"}})
    s = _connect(h)
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nAccept-Language: " +
              lang.encode() + b"\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n")
    st, hdrs, body = _parse(_read_all(s))
    s.close()
    assert st == 431
    assert hdrs["content-type"].startswith("text/html")
    assert "default-src 'none'" in hdrs["content-security-policy"]
    p = _Text()
    p.feed(body.decode())
    assert p.lang == lang
    assert word in "".join(p.text)


@pytest.mark.parametrize("raw,status,code", [
    (b"GET /v1/cases HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431,
     "header_too_large"),
    (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
     413, "body_too_large"),
    (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n", 400, "bad_request"),
    (b"GET /v1/cases HTTP/1.1\r\nHost: x\r\n folded: line\r\n\r\n", 400, "bad_request"),
    (b"GET\x01 / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "http_version"),
    (b"GET / HTTP/1.1\r\n\r\n", 400, "bad_request"),
])
def test_malformed_heads_get_json_errors_not_html(hark, raw, status, code):
    s = _connect(hark)
    s.sendall(raw)
    st, hdrs, body = _parse(_read_all(s))
    s.close()
    assert st == status
    assert hdrs["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == code
    assert hark.fetch_all() == []


@pytest.mark.parametrize("pipeline", ["1", "0"])
def test_concurrent_requests_each_keep_their_own_batch_and_offsets(make_hark, pipeline):
    # appends from many requests at once go to the journal together; each
    # request still gets exactly its own offsets, with a second message in
    # flight as soon as one event waits (1) or one message at a time (0)
    h = make_hark(conf={"gateway": {"pipeline_events": pipeline}})
    results = {}

    def client(i):
        s = _connect(h)
        events = [{"type": "customer", "id": "k%d-%d" % (i, j),
                   "data": {"id": "c%d-%d" % (i, j), "email": "c%d-%d@example.com" % (i, j)}}
                  for j in range(1 + i % 3)]
        st, _, body = _post(h, s, events, close=True)
        s.close()
        results[i] = (st, json.loads(body), len(events))

    ts = [threading.Thread(target=client, args=(i,)) for i in range(60)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    offsets = []
    for st, body, n in results.values():
        assert st == 202, body
        assert body["accepted"] == n and len(body["offsets"]) == n
        offsets += body["offsets"]
    assert len(set(offsets)) == len(offsets)
    stored = {e["offset"]: e for e in h.fetch_all()}
    assert set(stored) == set(offsets)
    for i, (st, body, n) in results.items():
        for j, off in enumerate(body["offsets"]):
            assert stored[off]["payload"]["id"] == "c%d-%d" % (i, j)


def test_a_later_request_on_a_kept_alive_connection_is_held_to_the_same_header_limit(make_hark):
    # the first request is checked before libmicrohttpd sees it; the next
    # one on the same connection is parsed by libmicrohttpd, and still gets
    # Hark's JSON 431
    h = make_hark(conf={"gateway": {"max_header": "4K"}})
    s = _connect(h)
    assert _post(h, s)[0] == 202
    s.sendall(b"GET /v1/cases HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 6000 + b"\r\n\r\n")
    st, hdrs, body = _parse(_read_all(s))
    s.close()
    assert st == 431
    assert hdrs["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "header_too_large"
