#!/usr/bin/python3
"""The Gmail adapter's error classes through the whole pipeline (real
receiver, dispatcher, PostgreSQL, fake_gmail.py), issue 10 items 2 and 3:
- 400 failedPrecondition (Gmail not enabled for the user, account state):
  held, not bounced, ONE event=provider_config_error line for several
  messages, delivered once the account is fixed; with a fallback_provider
  the message goes out through it;
- 403 userRateLimitExceeded whose message says "Retry after <RFC 3339
  time>" (no Retry-After header): the next try waits for that time;
- 400 invalidArgument (the message itself) still fails."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import message, scalar, sql, wait_sql  # noqa: E402
from gmail_adapter import Pipeline  # noqa: E402
from relaytest import run_tests, wait_for  # noqa: E402

SEND_RE = r"^POST /upload/"


def m(subject, rcpt="a@x.org"):
    return message("scan@example.com", [rcpt], subject)


def alerts(p):
    return [l for l in p.r.read_log("dispatcher0").splitlines() if "event=provider_config_error" in l]


def precondition(p, count=1000):
    p.fake.add_fault(SEND_RE, count=count, status=400, reason="failedPrecondition", gstatus="FAILED_PRECONDITION",
                     message="Precondition check failed.")


def test_failed_precondition_is_held_with_one_alert_then_delivered():
    with Pipeline() as p:
        p.start()
        precondition(p)
        ids = [p.send("scan@example.com", ["a@x.org"], m(f"pre {i}")) for i in range(3)]
        wait_for(lambda: all(i + ".env" in p.r.spool_entries("deferred") for i in ids), 15, what="all held")
        time.sleep(3)
        assert not p.r.spool_entries("failed"), p.r.spool_entries("failed")
        for i in ids:
            assert p.status(i) == "queued"
            assert all(a[1] == "transient" and a[2] == 400 for a in p.attempts(i)), p.attempts(i)
        assert "Precondition check failed" in p.attempts(ids[0])[0][4]
        assert len(alerts(p)) == 1, alerts(p)
        p.fake.faults.clear()
        for i in ids:
            wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{i}'", "sent", timeout=20)
        assert "event=provider_config_cleared provider=gmail" in p.r.read_log("dispatcher0")
        # The message itself refused: still permanent.
        p.fake.add_fault(SEND_RE, status=400, reason="invalidArgument", gstatus="INVALID_ARGUMENT",
                         message="Invalid To header")
        q = p.send("scan@example.com", ["a@x.org"], m("bad"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q}'", "failed")
        assert len(alerts(p)) == 1


def test_failed_precondition_goes_to_the_fallback_provider():
    box = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"relay-gmailc-box-{os.getpid()}")
    with Pipeline(overrides={"fallback_provider": "box"}) as p:
        p.r.cfg["providers"]["box"] = {"type": "outbox", "directory": box}
        p.r.write_config()
        p.start()
        precondition(p)
        q = p.send("scan@example.com", ["a@x.org"], m("fallback"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q}'", "sent")
        assert scalar(p.r, f"SELECT provider FROM messages WHERE queue_id='{q}'") == "box"
        assert [a[1] for a in p.attempts(q)] == ["transient", "sent"], p.attempts(q)
        assert any(f.startswith(q) for f in os.listdir(box)), os.listdir(box)


def test_retry_after_time_in_a_rate_limit_message_is_honoured():
    with Pipeline() as p:
        p.start()
        when = time.time() + 5
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + ".000Z"
        p.fake.add_fault(SEND_RE, status=403, reason="userRateLimitExceeded", gstatus="PERMISSION_DENIED",
                         message=f"User-rate limit exceeded.  Retry after {stamp}")
        q = p.send("scan@example.com", ["a@x.org"], m("rate"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q}'", "sent", timeout=30)
        rows = sql(p.r, f"SELECT outcome, extract(epoch FROM started_at) FROM attempts WHERE queue_id='{q}'"
                        " ORDER BY attempt_no")
        assert [r[0] for r in rows] == ["transient", "sent"], rows
        retried = float(rows[1][1])
        # max_backoff is 2 s in this config: only the time in the message explains the wait
        assert retried >= int(when) - 1, (retried, when)
        print(f"retried {retried - float(rows[0][1]):.1f} s after the 403 (message said {when - float(rows[0][1]):.1f} s)")


if __name__ == "__main__":
    run_tests([test_failed_precondition_is_held_with_one_alert_then_delivered,
               test_failed_precondition_goes_to_the_fallback_provider,
               test_retry_after_time_in_a_rate_limit_message_is_honoured])
