"""The mailer scaled out by partitions (hark-scaling(7)): [mailer]
partitions = 3 makes harkd start three hark-mailer processes, each
delivering only the mail of its customers (FNV-1a of the customer id mod 3)
from its own mailer-K.db with its own cursor; a real SMTP server gets each
message once, and a kill -9 of one of them loses nothing."""
import json
import os
import sqlite3
import subprocess
import time

from harness import BIN, SANITIZER_MARKS, shop_conf, wait_for

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
    wait_for(lambda: smtp.count() >= 40, timeout=60, what="sending under way")
    old = h.kill("mailer-1")
    wait_for(lambda: h.pid("mailer-1") not in (0, old), what="mailer-1 back")
    assert smtp.count() < TOTAL, "the kill came too late to test anything"

    def all_delivered():
        d = [e["payload"]["request_key"] for e in h.fetch_all(types=["mail.delivered"])]
        return d if len(set(d)) == TOTAL else None
    # each look fetches every delivery: twice a second leaves the machine
    # to the mailers it waits for
    delivered = wait_for(all_delivered, timeout=240, interval=0.5, what="every message delivered")
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


OWNERS = ("journal", "gateway", "mailer", "survey", "milestone", "intake", "loop")


def test_scaling__mailer_commands_answer_for_every_partition_as_one_mailer_would(make_hark, smtp):
    """hark mail queue merges the partitions (counts summed, numbers unique:
    the offset of each mail.requested), hark mail retry reaches the
    partition that holds the message, a customer's timeline comes from
    their partition, and a bounce in one partition suppresses the address
    in all of them (MAILER_CONTACT on partition 0 sees it)."""
    h = make_hark(services=OWNERS, conf=shop_conf(smtp.port, partitions="3", give_up="1s"))
    # one customer per partition for each outcome: delivered, failed (451), bounced (550)
    cust, names = {}, ("p%d" % i for i in range(1000))
    for kind in ("ok", "rcpt451", "rcpt550"):
        for part in range(3):
            cust[next(c for c in names if partition_of(c, 3) == part)] = (kind, part)
    events = [{"type": "mail.requested", "key": "q/%s" % c,
               "payload": {"template": "test", "category": "milestone", "customer_id": c,
                           "address": "%s-%s@example.com" % (kind, c)}}
              for c, (kind, _) in sorted(cust.items())]
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": events})
    assert cmd == "JOURNAL_APPEND_OK", r
    offset = {e["key"]: o for e, o in zip(events, r["offsets"])}

    def outcomes():
        return [e for e in h.fetch_all(types=["mail.delivered", "mail.failed", "mail.bounced"])]
    wait_for(lambda: len(outcomes()) >= 9, timeout=60, what="nine outcomes")
    number = {e["payload"]["request_key"]: e["payload"]["message"] for e in outcomes()}
    assert number == offset, "a message's number is its request's journal offset"

    q = json.loads(h.hark("mail", "queue", "--json").stdout)
    assert q["counts"] == {"delivered": 3, "failed": 3, "bounced": 3}
    want = sorted(offset["q/%s" % c] for c, (k, _) in cust.items() if k != "ok")
    assert [m["id"] for m in q["messages"]] == want, "failed and bounced, by number, from all three"
    d = json.loads(h.hark("mail", "queue", "--status", "delivered", "--json").stdout)
    assert sorted(m["to"] for m in d["messages"]) == sorted(
        "ok-%s@example.com" % c for c, (k, _) in cust.items() if k == "ok")
    text = h.hark("mail", "queue").stdout
    assert "bounced 3" in text and "failed 3" in text and str(want[-1]) in text

    # a retry of the failed message of partition 2 is tried again there only
    (c2,) = [c for c, v in cust.items() if v == ("rcpt451", 2)]
    h.hark("mail", "retry", str(offset["q/" + c2]))
    wait_for(lambda: len(outcomes()) >= 10, timeout=30, what="the retried message's outcome")
    again = [e["payload"]["request_key"] for e in outcomes()][9:]
    assert again == ["q/" + c2]
    assert "event=retry_requested message=%d" % offset["q/" + c2] in h.log()

    # the customer of partition 1 whose mail bounced: their timeline and suppression
    (c1,) = [c for c, v in cust.items() if v == ("rcpt550", 1)]
    show = json.loads(h.hark("customers", "show", c1, "--json").stdout)
    mails = [it for it in show["items"] if it.get("kind") == "mail"]
    assert [m["message"] for m in mails] == [offset["q/" + c1]] and mails[0]["status"] == "bounced"
    # and the export of the admin API, from the gateway: partition 2's customer
    st, _, data = h.request("GET", "/v1/customers/%s/export" % c2,
                            headers={"Authorization": "Bearer " + h.admin_key,
                                     "X-Hark-Actor": "dpo"})
    assert st == 200, data
    mails = [it for it in json.loads(data)["items"] if it.get("kind") == "mail"]
    assert [m["message"] for m in mails] == [offset["q/" + c2]]
    for k in range(3):
        cmd, r = h.call(h.endpoint("mailer%s.ctl" % ("-%d" % k if k else "")), "MAILER_CONTACT",
                        {"address": "rcpt550-%s@example.com" % c1})
        assert cmd == "MAILER_CONTACT_OK" and r["suppressed"] is True, (k, r)
    h.stop()


def test_scaling__backup_rebuild_and_a_new_partition_count_keep_every_partition_and_mail_no_one_twice(
        make_hark, smtp, tmp_path):
    """hark backup copies mailer-K.db of each partition and hark restore
    puts them back; hark rebuild mailer makes every partition again from the
    journal and a real SMTP server gets nothing; a new [mailer] partitions
    is refused at start, naming the file, until hark rebuild mailer
    re-partitions, again sending nothing twice."""
    h = make_hark(services=SERVICES, conf=shop_conf(smtp.port, partitions="3"))
    events = [{"type": "mail.requested", "key": "b/%d" % i,
               "payload": {"template": "test", "category": "alert", "customer_id": "b%d" % i,
                           "address": "b%d@example.com" % i}} for i in range(12)]
    cmd, r = h.call(h.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": events})
    assert cmd == "JOURNAL_APPEND_OK", r
    smtp.wait_messages(12)
    wait_for(lambda: len(h.fetch_all(types=["mail.delivered"])) == 12, timeout=60, what="delivered")

    def rows(state, n):
        """each partition's messages: number, request, status, attempts"""
        out = {}
        for k in range(n):
            db = sqlite3.connect("file:%s?mode=ro" % os.path.join(state, "mailer-%d.db" % k),
                                 uri=True)
            try:
                out[k] = sorted(db.execute("SELECT id, request_key, status, attempts FROM messages"))
            finally:
                db.close()
        return out
    before = rows(h.state, 3)
    assert sum(len(v) for v in before.values()) == 12
    assert all(st == "delivered" for v in before.values() for _, _, st, _ in v)
    head = h.fetch_all()[-1]["offset"]

    bdir = str(tmp_path / "backup")
    h.hark("backup", bdir, timeout=60)
    with open(os.path.join(bdir, "manifest.json")) as f:
        files = {f["name"]: f for f in json.load(f)["files"]}
    assert {n: files[n].get("partition") for n in files if n.startswith("mailer")} == {
        "mailer-0.db": 0, "mailer-1.db": 1, "mailer-2.db": 2}

    r = h.hark("rebuild", "mailer", timeout=120)
    assert "3 partitions rebuilt from the journal" in r.stdout, r.stdout
    for k in range(3):
        assert os.path.exists(os.path.join(h.state, "mailer-%d.db.before-rebuild" % k))
    assert rows(h.state, 3) == before
    time.sleep(1.5)  # the dispatcher runs every 250 ms: long enough to send, were it to
    assert len(smtp.messages()) == 12, "the rebuild mailed someone again"
    assert h.fetch_all()[-1]["offset"] == head, "a rebuild journals nothing new"

    # restored into a new state dir: every partition's file, as it was
    new = str(tmp_path / "restored")
    h.hark("restore", "--state", new, bdir, timeout=60)
    assert rows(new, 3) == before

    # three partitions become two: refused at start, then re-partitioned by rebuild
    h.stop()
    with open(h.config) as f:
        text = f.read()
    with open(h.config, "w") as f:
        f.write(text.replace("partitions = 3", "partitions = 2"))
    h.start(wait=False)
    wait_for(lambda: "mailer-2.db was made with more partitions" in h.log(), timeout=30,
             what="the old third partition's file refused")
    r = h.hark("rebuild", "mailer", timeout=120)
    assert "2 partitions rebuilt" in r.stdout, r.stdout
    assert not os.path.exists(os.path.join(h.state, "mailer-2.db"))
    after = rows(h.state, 2)
    assert sorted(x for v in after.values() for x in v) == sorted(x for v in before.values() for x in v)
    for k, v in after.items():
        assert all(partition_of("b" + key[2:], 2) == k for _, key, _, _ in v)
    time.sleep(1.5)
    assert len(smtp.messages()) == 12, "re-partitioning mailed someone again"
    # a copy refused or just started when the rebuild held it ends by TERM, not exit 0
    log = h.stop(check=False)
    assert not [m for m in SANITIZER_MARKS if m in log], log[-6000:]
