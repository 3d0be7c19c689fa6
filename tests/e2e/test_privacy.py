"""Personal fields sealed in the journal, erasure by crypto-shredding, the
erasure log, retention (hark-journal(8) PRIVACY)."""
import glob
import os

from harness import wait_for

EMAIL = b"erin.erasable@example.org"
NAME = b"Erin Erasable"


def raw_files(state):
    """Every file under the state dir: (path, bytes)."""
    out = []
    for p in glob.glob(os.path.join(state, "**"), recursive=True):
        if os.path.isfile(p) and not p.endswith((".sock", ".pub", ".ctl")):
            try:
                with open(p, "rb") as f:
                    out.append((p, f.read()))
            except OSError:
                pass
    return out


def files_holding(state, needles):
    return sorted({p for p, data in raw_files(state) for n in needles if n in data})


def append(hark, events):
    cmd, r = hark.call(hark.endpoint("journal.sock"), "JOURNAL_APPEND", {"events": events})
    assert cmd == "JOURNAL_APPEND_OK", r
    return r


def test_personal_fields_are_sealed_on_disk_and_open_for_readers(hark):
    append(hark, [{"type": "customer", "key": "c1", "payload": {
        "id": "c1", "email": EMAIL.decode(), "name": NAME.decode(), "locale": "en"}}])
    hark.stop()
    assert files_holding(hark.state, [EMAIL, NAME]) == []
    hark.start()
    [e] = hark.fetch_all()
    assert e["payload"] == {"id": "c1", "email": EMAIL.decode(), "name": NAME.decode(),
                            "locale": "en"}
    assert "erased" not in e


def test_erasure_reads_erased_and_a_later_customer_event_is_a_new_person(hark):
    append(hark, [
        {"type": "customer", "key": "c1", "payload": {"id": "c1", "email": EMAIL.decode(),
                                                     "name": NAME.decode(),
                                                     "attributes": {"tier": "gold"}}},
        {"type": "complaint", "key": "k1", "payload": {"customer_id": "c1",
                                                      "text": "the parcel was wet"}},
        {"type": "customer", "key": "c2", "payload": {"id": "c2", "email": "other@example.org"}},
    ])
    append(hark, [{"type": "customer.erased", "key": "erase-c1",
                   "payload": {"customer_id": "c1", "by": "api"}}])
    append(hark, [{"type": "customer", "key": "c1-again",
                   "payload": {"id": "c1", "email": "new@example.org"}}])
    ev = {e["key"]: e for e in hark.fetch_all()}
    assert ev["c1"]["erased"] is True
    assert ev["c1"]["payload"] == {"id": "c1", "email": "[erased]", "name": "[erased]"}
    assert ev["k1"]["erased"] is True
    assert ev["k1"]["payload"] == {"customer_id": "c1", "text": "[erased]"}
    assert ev["c2"]["payload"]["email"] == "other@example.org" and "erased" not in ev["c2"]
    assert ev["c1-again"]["payload"]["email"] == "new@example.org"
    assert "erased" not in ev["c1-again"]
    log = open(os.path.join(hark.state, "erasure.log")).read()
    assert '"customer_id":"c1"' in log and '"key":"erase-c1"' in log
