"""The soak's short version: tests/soak/soak.py for about 18 s of chaos
(every service and harkd SIGKILLed once, slow clients, a flood), then its
counts; the whole run stays under 60 s.  `make soak` is the long one."""
import collections
import json
import os
import signal
import subprocess
import sys
import types

from harness import ROOT

SOAK = os.path.join(ROOT, "tests", "soak", "soak.py")
sys.path.insert(0, os.path.dirname(SOAK))


def _ev(offset, type_, key, **payload):
    return {"offset": offset, "type": type_, "key": key, "payload": payload}


def test_soak_counts_fail_on_a_lost_event_a_lost_mail_and_more_duplicates_than_kills():
    import soak
    d = types.SimpleNamespace(
        acked={"b1": ([1, 2], [("purchase", "c1"), ("complaint", "c2")])},
        forms={}, answers={}, abandoned=0)
    journal = types.SimpleNamespace(events=[
        _ev(1, "purchase", "idem:b1:0", customer={"id": "c1"}, order_id="o1"),
        # idem:b1:1 (the complaint, acknowledged at offset 2) is missing
        _ev(3, "mail.requested", "survey/invite/p1", customer_id="c1", template="nps_invite",
            category="survey"),
        _ev(4, "mail.requested", "intake/9/ack", customer_id="c9", template="complaint_ack",
            category="complaint"),
        _ev(5, "mail.delivered", "mailer/mail.delivered/1/1", message=1,
            request_key="survey/invite/p1", message_id="<m1>", template="nps_invite",
            category="survey", attempts=1),
        # intake/9/ack has no outcome: never sent
    ])
    smtp_ids = collections.Counter({"<m1>": 3})   # received three times
    fig, fail = soak.tally(d, journal, smtp_ids, kills=1)
    assert fig["events_acked"] == 2 and fig["events_missing"] == 1
    assert fig["mails_pending"] == 1 and fig["mails_duplicated"] == 2
    text = "\n".join(fail)
    assert "1 acknowledged events missing" in text and "idem:b1:1" in text
    assert "1 requested mails never sent" in text
    assert "2 duplicated mails, more than the 1 kills" in text
    # the same with nothing lost and no more duplicates than kills passes
    journal.events.insert(1, _ev(2, "complaint", "idem:b1:1", customer={"id": "c2"}, text="x"))
    journal.events.append(_ev(6, "mail.requested", "intake/2/ack", customer_id="c2",
                              template="complaint_ack", category="complaint"))
    journal.events.append(_ev(7, "mail.skipped", "mailer/mail.skipped/2", message=2,
                              request_key="intake/9/ack", template="complaint_ack",
                              category="complaint", reason="suppressed"))
    journal.events.append(_ev(8, "mail.delivered", "mailer/mail.delivered/3/1", message=3,
                              request_key="intake/2/ack", message_id="<m3>",
                              template="complaint_ack", category="complaint", attempts=1))
    smtp_ids["<m3>"] = 1
    fig, fail = soak.tally(d, journal, smtp_ids, kills=2)
    assert fail == [], fail
    assert fig["mails_skipped"] == {"suppressed": 1} and fig["mails_delivered"] == 2


def test_soak_short_chaos_run_loses_no_event_and_no_mail(tmp_path):
    out = tmp_path / "results.json"
    # 18 s of chaos, one kill each 1.5 s (each service and harkd once); the
    # settle takes what is left before the global deadline
    cmd = [sys.executable, SOAK, "--seconds", "18", "--kill-every", "1.5", "--rate", "3",
           "--flood-hold", "4",
           "--settle", "40", "--max-seconds", "57", "--out", str(out)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        log, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    print(log)
    assert p.returncode == 0, log[-4000:]
    r = json.loads(out.read_text())
    assert r["ok"] and r["failures"] == []
    assert r["total_seconds"] < 60
    # every service and harkd itself were killed at least once
    assert set(r["kills_by_service"]) == {"journal", "gateway", "mailer", "survey", "intake",
                                          "loop", "milestone", "harkd"}, r["kills_by_service"]
    f = r["figures"]
    assert f["events_acked"] > 100 and f["events_stored"] == f["events_acked"]
    assert f["mails_delivered"] > 100 and f["mails_duplicated"] <= r["kills"]
    assert f["forms_acked"] > 0 and f["answers_acked"] > 0
