"""kill -9 in the middle of work: nothing acknowledged is lost, nothing is
applied or emitted twice."""
import collections
import os
import random
import sqlite3
import threading
import time

from harness import wait_for


def test_kill9_journal_and_gateway_while_posting_loses_and_doubles_nothing(make_hark):
    h = make_hark(conf={"harkd": {"restart_min": "100ms", "restart_max": "500ms"},
                        "gateway": {"journal_timeout": "2s"}})
    # clients post until the killer is done (at least 4,000 events)
    threads, min_batches, per_batch = 8, 25, 20
    acked = {}                                       # idem key -> offsets of its 202
    retries = collections.Counter()
    done = threading.Event()
    lock = threading.Lock()

    def client(t):
        rnd = random.Random(t)
        b = -1
        while b + 1 < min_batches or not done.is_set():
            b += 1
            idem = "t%d-b%d" % (t, b)
            events = [{"type": "customer", "data": {"id": "%s-%d" % (idem, i)}}
                      for i in range(per_batch)]
            deadline = time.monotonic() + 120
            while True:
                assert time.monotonic() < deadline, "no 202 for " + idem
                try:
                    st, body = h.post_events(events, idem=idem)
                except OSError:
                    st, body = None, None
                if st == 202:
                    with lock:
                        acked[idem] = body["offsets"]
                    break
                retries[st] += 1
                time.sleep(rnd.uniform(0.01, 0.05))

    kills = []

    def killer():
        rnd = random.Random(99)
        for i in range(6):
            time.sleep(rnd.uniform(0.2, 0.5))
            name = ("journal", "gateway")[i % 2]
            try:
                old = h.kill(name)
            except AssertionError:
                continue
            kills.append(name)
            wait_for(lambda: h.pid(name) not in (0, old), what=name + " back")

    workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    k = threading.Thread(target=killer)
    for w in workers:
        w.start()
    k.start()
    k.join()
    done.set()
    for w in workers:
        w.join()
    assert len(kills) == 6, kills
    assert len(acked) >= threads * min_batches

    stored = h.fetch_all(types=["customer"])
    by_id = collections.Counter(e["payload"]["id"] for e in stored)
    assert len(by_id) == len(acked) * per_batch
    dups = [i for i, n in by_id.items() if n != 1]
    assert dups == [], "stored more than once: %s" % dups[:10]
    offset_of = {e["payload"]["id"]: e["offset"] for e in stored}
    for idem, offsets in acked.items():
        assert offsets == [offset_of["%s-%d" % (idem, i)] for i in range(per_batch)]
    print("events=%d kills=%s retries=%s" % (len(stored), kills, dict(retries)))
    h.stop(check=False)


def test_kill9_consumer_mid_stream_applies_and_emits_each_event_once(make_hark):
    h = make_hark(services=("journal", "gateway", "counter"),
                  conf={"counter": {"apply_delay": "1ms", "emit_every": "10"},
                        "harkd": {"restart_min": "100ms", "restart_max": "200ms"}})
    total = 3000
    for b in range(0, total, 500):
        st, _ = h.post_events([{"type": "customer", "data": {"id": "c%d" % i}}
                               for i in range(b, b + 500)], idem="b%d" % b)
        assert st == 202
    kills = 0
    for _ in range(5):
        time.sleep(0.4)
        old = h.kill("counter")
        kills += 1
        wait_for(lambda: h.pid("counter") not in (0, old), what="counter back")
    # caught up: cursor at the head, and the head no longer moving
    def caught_up():
        st = h.status()
        c = [s for s in st["services"] if s["name"] == "counter"][0]
        return c.get("lag") == 0 and st["head"] >= total
    wait_for(caught_up, timeout=120, what="counter caught up")
    time.sleep(1.5)
    wait_for(caught_up, timeout=60, what="counter caught up after its own emissions")
    assert kills == 5
    h.stop()

    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(h.state, "counter.db"), uri=True)
    rows = db.execute("SELECT offset, times FROM applied ORDER BY offset").fetchall()
    db.close()
    # restart just the journal to read it back
    h2 = make_hark(services=("journal",), start=False, sub="reader")
    h2.state = h.state
    h2.config = h.config
    with open(h.config) as f:
        conf = f.read().replace("services = journal gateway counter", "services = journal")
    with open(h2.config + ".reader", "w") as f:
        f.write(conf)
    h2.config = h2.config + ".reader"
    h2.start()
    events = h2.fetch_all()
    h2.stop()
    assert [r[0] for r in rows] == [e["offset"] for e in events], "an event was skipped"
    assert all(t == 1 for _, t in rows), "applied twice: %s" % [r for r in rows if r[1] != 1][:10]
    counted = [e["payload"]["source_offset"] for e in events if e["type"] == "test.counted"]
    expected = [e["offset"] for e in events if e["type"] == "customer" and e["offset"] % 10 == 0]
    assert sorted(counted) == expected, "emitted events lost or doubled"
    assert len(counted) == len(set(counted))


def test_a_second_copy_of_a_service_refuses_to_start_and_names_the_holder(make_hark):
    import subprocess
    from harness import BIN
    h = make_hark(services=("journal", "survey"))
    pid = h.pid("survey")
    r = subprocess.run([os.path.join(BIN, "hark-survey"), "-c", h.config],
                       capture_output=True, timeout=30)
    assert r.returncode == 3
    err = r.stderr.decode()
    assert "another copy (pid %d)" % pid in err and "survey.lock" in err
    assert h.pid("survey") == pid          # the running copy is untouched
    assert h.status()["services"]


def test_harkd_waits_for_an_old_copy_to_exit_before_starting_a_new_one(make_hark):
    import fcntl
    h = make_hark(services=("journal", "survey"), start=False)
    os.makedirs(h.state, exist_ok=True)
    # an old hark-survey still finishing its work after its harkd died
    old = open(os.path.join(h.state, "survey.lock"), "w")
    fcntl.flock(old, fcntl.LOCK_EX)
    old.write("4242\n")
    old.flush()
    h.start(wait=False)
    wait_for(lambda: "event=waiting_for_old_copy service=survey pid=4242" in h.log(), 20,
             what="harkd waiting for the old copy")
    time.sleep(0.5)
    assert "event=already_running" not in h.log()      # never started beside it
    assert h.pid("survey") == 0
    old.close()                                        # the old copy exits
    wait_for(lambda: h.pid("survey"), 20, what="survey started")
    h.wait_healthy()
    assert h.log().count("event=waiting_for_old_copy service=survey") == 1


def test_an_event_emitted_while_applying_reaches_the_journal_after_the_commit_and_once_after_a_kill(make_hark):
    """The consumer writes what a service emits into its outbox in the
    transaction that applies the source event, and flushes the outbox only
    after the commit: with the journal frozen the commit still happens (no
    journal round trip with the transaction open), and a consumer killed
    between its commit and its flush sends the row at restart, once."""
    import signal
    h = make_hark(services=("journal", "gateway", "counter"),
                  conf={"counter": {"apply_delay": "3s", "emit_every": "1"},
                        "harkd": {"restart_min": "2s", "restart_max": "2s"}})
    wait_for(lambda: h.pid("counter"), what="counter running")
    jpid, cpid = h.pid("journal"), h.pid("counter")
    st, body = h.post_events([{"type": "customer", "data": {"id": "c1"}}], idem="one")
    assert st == 202
    off = body["offsets"][0]
    key = "counter/%d/counted" % off
    path = os.path.join(h.state, "counter.db")

    def read(sql, *args):
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    # the counter fetched the event at once (a hint, or its 1 s poll) and
    # spends 3 s applying it: freeze the journal meanwhile
    time.sleep(1.5)
    os.kill(jpid, signal.SIGSTOP)
    try:
        def committed():
            cur = read("SELECT offset FROM hark_cursor WHERE name = 'counter'")
            return bool(cur) and cur[0][0] >= off and \
                read("SELECT count(*) FROM outbox WHERE key = ?", key) == [(1,)]
        # the cursor moved and the emitted event waits in the outbox, though
        # the journal cannot answer: the commit did not wait for it
        wait_for(committed, timeout=20, what="cursor and outbox row committed")
        assert read("SELECT times FROM applied WHERE offset = ?", off) == [(1,)]
        os.kill(cpid, signal.SIGKILL)  # between the commit and the flush
    finally:
        os.kill(jpid, signal.SIGCONT)
    wait_for(lambda: h.pid("counter") not in (0, cpid), timeout=30, what="counter back")
    wait_for(lambda: read("SELECT count(*) FROM outbox") == [(0,)], timeout=30,
             what="outbox flushed after the restart")
    counted = [e for e in h.fetch_all(types=["test.counted"]) if e["key"] == key]
    assert len(counted) == 1, counted
    assert counted[0]["payload"]["source_offset"] == off
    assert read("SELECT times FROM applied WHERE offset = ?", off) == [(1,)], "applied twice"
    h.stop()
