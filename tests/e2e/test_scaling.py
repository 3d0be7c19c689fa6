"""The mailer scaled out by partitions (hark-scaling(7)): [mailer]
partitions = 3 makes harkd start three hark-mailer processes, each
delivering only the mail of its customers (FNV-1a of the customer id mod 3)
from its own mailer-K.db with its own cursor; a real SMTP server gets each
message once, and a kill -9 of one of them loses nothing."""
import os
import sqlite3
import subprocess

from harness import BIN, shop_conf, wait_for

SERVICES = ("journal", "gateway", "mailer")
TOTAL = 300


def partition_of(customer, n):
    """the stable hash of partition.h: FNV-1a (32 bits) mod n"""
    h = 2166136261
    for b in customer.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % n


def queued(h, k):
    """request keys in mailer-k.db"""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(h.state, "mailer-%d.db" % k), uri=True)
    try:
        return {r[0] for r in db.execute("SELECT request_key FROM messages")}
    finally:
        db.close()


def test_scaling__three_mailer_partitions_deliver_each_mail_once_and_a_kill_9_loses_nothing(
        make_hark, smtp):
    # rate: each copy sends 25 a second, so the kill below comes mid-way
    h = make_hark(services=SERVICES, conf=shop_conf(smtp.port, partitions="3", connections="1",
                                                    per_connection="20", rate="25"))
    st = {s["name"]: s for s in h.status()["services"]}
    assert sorted(st) == ["gateway", "journal", "mailer-0", "mailer-1", "mailer-2"]
    assert all(st["mailer-%d" % k]["answering"] for k in range(3)), st
    assert len({st["mailer-%d" % k]["pid"] for k in range(3)}) == 3
    assert not os.path.exists(os.path.join(h.state, "mailer.db"))

    events = [{"type": "mail.requested", "key": "scale/%d" % i,
               "payload": {"template": "test", "category": "alert", "customer_id": "c%d" % i,
                           "address": "u%d@example.com" % i, "vars": {"n": i}}}
              for i in range(TOTAL)]
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": events})
    assert cmd == "JOURNAL_APPEND_OK", r
    want = {k: {"scale/%d" % i for i in range(TOTAL) if partition_of("c%d" % i, 3) == k}
            for k in range(3)}
    assert all(len(keys) > 50 for keys in want.values()), "an uneven spread"

    # kill -9 one copy while it is sending; harkd starts it again
    wait_for(lambda: len(smtp.raw()) >= 40, timeout=60, what="sending under way")
    old = h.kill("mailer-1")
    wait_for(lambda: h.pid("mailer-1") not in (0, old), what="mailer-1 back")
    assert len(smtp.raw()) < TOTAL, "the kill came too late to test anything"

    def all_delivered():
        d = [e["payload"]["request_key"] for e in h.fetch_all(types=["mail.delivered"])]
        return d if len(set(d)) == TOTAL else None
    delivered = wait_for(all_delivered, timeout=240, what="every message delivered")
    assert len(delivered) == TOTAL, "a message was said delivered twice"
    # each copy queued exactly its own customers' mail, none of another's
    for k in range(3):
        assert queued(h, k) == want[k], "partition %d" % k
    ids = [m["Message-ID"] for m in smtp.messages()]
    assert len(set(ids)) == TOTAL, "a message never reached the server"
    # the contract of one mailer: at most the message in flight goes twice
    assert len(ids) - TOTAL <= 1, "%d duplicates after one kill" % (len(ids) - TOTAL)
    assert "event=service_died service=mailer-1" in h.log()
    assert "svc=mailer-2 " in h.log()
    h.stop()


def test_scaling__a_partitioned_mailer_refuses_to_run_without_its_partition(make_hark):
    h = make_hark(services=("journal",), conf={"mailer": {"partitions": "2"}}, start=False)
    for args in ([], ["--partition", "2"], ["--partition", "x"]):
        r = subprocess.run([os.path.join(BIN, "hark-mailer"), "-c", h.config] + args,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, args
        assert "partitions = 2 needs --partition K" in r.stderr
    assert not os.path.exists(os.path.join(h.state, "mailer.db"))
