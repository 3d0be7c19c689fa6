"""Services across hosts: every ZeroMQ endpoint tcp:// on its own loopback
address (127.0.0.2, .3, ...), each socket CURVE-encrypted with the keypair
harkd hands its service, and a ZAP handler in each server's process that
admits only the instance's public keys (curve.h).  The core chain runs over
them (events in -> survey invite mailed to a real SMTP server -> answer);
a client with a key of its own, or none, gets nothing."""
import json
import os
import re
import socket
import stat
import urllib.parse

import pytest
import zmq

from contract import WIRE
from harness import shop_conf, wait_for

SERVICES = ("journal", "gateway", "mailer", "survey")


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tcp(host):
    return "tcp://%s:%d" % (host, free_port(host))


def tcp_conf(smtp_port):
    """every endpoint tcp://, each service on an address of its own"""
    conf = shop_conf(smtp_port)
    conf["survey"] = {"delay": "1s", "window_hours": "0-24", "window_days": "all"}
    conf["harkd"] = {"control": tcp("127.0.0.6")}
    conf["journal"] = {"endpoint": tcp("127.0.0.2"), "pub_endpoint": tcp("127.0.0.2"),
                       "control": tcp("127.0.0.2")}
    conf["gateway"] = {"control": tcp("127.0.0.3")}
    conf["mailer"]["control"] = tcp("127.0.0.4")
    conf["survey"]["control"] = tcp("127.0.0.5")
    return conf


def key_of(h, name, kind):
    with open(os.path.join(h.state, "keys", "curve-%s.%s" % (name, kind))) as f:
        return f.read().strip()


def ask(h, endpoint, cmd, body, server_key=None, keypair=None, timeout=3000):
    """One request over tcp://; the reply frames, or None when none came.
    keypair (public, secret) makes it a CURVE client; None, plaintext."""
    s = h.zctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if keypair:
        s.curve_serverkey = server_key.encode()
        s.curve_publickey, s.curve_secretkey = (k.encode() if isinstance(k, str) else k
                                                for k in keypair)
    s.connect(endpoint)
    try:
        s.send_multipart([("%s %s 1" % (WIRE, cmd)).encode(), json.dumps(body).encode()])
        return s.recv_multipart() if s.poll(timeout) else None
    finally:
        s.close()


@pytest.fixture
def over_tcp(make_hark, smtp):
    h = make_hark(services=SERVICES, conf=tcp_conf(smtp.port))
    yield h
    h.stop()


def test_curve__the_survey_chain_runs_with_every_service_on_its_own_address_over_curve(
        over_tcp, smtp):
    h = over_tcp
    # harkd made a keypair for each: the secret readable by its owner only
    for name in ("harkd", "hark") + SERVICES:
        mode = os.stat(os.path.join(h.state, "keys", "curve-%s.key" % name)).st_mode
        assert stat.S_IMODE(mode) == 0o600, name
        assert len(key_of(h, name, "pub")) == 40
    # nothing of ZeroMQ is left in the state dir: no ipc socket files
    assert not [f for f in os.listdir(h.state) if f.endswith((".sock", ".pub", ".ctl"))]
    st = h.status()
    assert sorted(s["name"] for s in st["services"]) == sorted(SERVICES)
    assert all(s["answering"] for s in st["services"]), st

    cust = {"id": "c1", "email": "anna@example.com", "name": "Anna", "locale": "en"}
    code, body = h.post_events([{"type": "customer", "data": cust},
                                {"type": "purchase", "data": {"customer_id": "c1",
                                                              "order_id": "o-1"}}])
    assert code == 202, body
    (invite,) = smtp.wait_messages(1, timeout=40)
    assert invite["To"].addresses[0].addr_spec == "anna@example.com"
    html = invite.get_body(preferencelist=("html",)).get_content()
    links = re.findall(r'href="http://127\.0\.0\.1:%d(/s/[A-Za-z0-9_.-]+)\?score=9"' % h.port,
                       html)
    assert links, html
    code, _, page = h.request("GET", links[0] + "?score=9")
    assert code == 200
    csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
    form = urllib.parse.urlencode({"score": "9", "csrf": csrf, "comment": "fine"}).encode()
    code, _, _ = h.request("POST", links[0], form, {
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": "http://127.0.0.1:%d" % h.port})
    assert code == 200

    def totals():
        r = h.hark("report", "nps", "--json", check=False)
        return json.loads(r.stdout)["totals"] if r.returncode == 0 else {}
    t = wait_for(lambda: (lambda t: t if t.get("responses") == 1 else None)(totals()),
                 timeout=30, what="the answer in the report")
    assert t["promoters"] == 1 and t["sent"] == 1


def test_curve__a_client_with_an_unlisted_key_or_none_gets_nothing_and_is_logged(over_tcp):
    h = over_tcp
    endpoint = h.hark("config", "journal.endpoint").stdout.split(" = ")[1].strip()
    assert endpoint.startswith("tcp://127.0.0.2:")
    server = key_of(h, "journal", "pub")
    fetch = {"after": 0, "limit": 10}

    # the instance's own key is answered: the client below is built right
    mine = (key_of(h, "hark", "pub"), key_of(h, "hark", "key"))
    frames = ask(h, endpoint, "JOURNAL_FETCH", fetch, server, mine)
    assert frames and b"JOURNAL_FETCH_OK" in frames[0], frames

    # a keypair of its own: CURVE handshakes, ZAP refuses, nothing comes
    stranger = zmq.curve_keypair()
    assert ask(h, endpoint, "JOURNAL_FETCH", fetch, server, stranger) is None
    who = stranger[0].decode()
    wait_for(lambda: any("event=curve_refused" in line and who in line
                         and "svc=journal" in line for line in h.log().splitlines()),
             what="the refusal in the journal's log")
    # the same stranger retrying is logged once, not at each reconnect
    assert sum(who in line for line in h.log().splitlines()) == 1

    # plaintext: the handshake itself fails
    assert ask(h, endpoint, "JOURNAL_FETCH", fetch) is None
    # a listed public key with a secret that is not its own fails too
    assert ask(h, endpoint, "JOURNAL_FETCH", fetch, server,
               (mine[0], zmq.curve_keypair()[1])) is None
    # the control socket of another process refuses the stranger the same way
    mailer = h.hark("config", "mailer.control").stdout.split(" = ")[1].strip()
    assert ask(h, mailer, "SERVICE_STATUS", {}, key_of(h, "mailer", "pub"), stranger) is None
    frames = ask(h, mailer, "SERVICE_STATUS", {}, key_of(h, "mailer", "pub"), mine)
    assert frames and b"SERVICE_STATUS_OK" in frames[0]


def test_curve__hark_keys_curve_makes_the_keypairs_once_and_shows_the_public_ones(make_hark):
    h = make_hark(services=("journal",), start=False)
    r = h.hark("keys", "--curve")
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["harkd", "hark", "journal"]
    pub = key_of(h, "journal", "pub")
    assert pub in r.stdout and key_of(h, "journal", "key") not in r.stdout
    assert zmq.curve_public(key_of(h, "journal", "key").encode()).decode() == pub
    assert h.hark("keys", "--curve").stdout == r.stdout  # made once, kept
