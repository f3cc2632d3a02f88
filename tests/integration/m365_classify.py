#!/usr/bin/python3
"""Microsoft 365 error classes through the whole pipeline (real receiver,
dispatcher, PostgreSQL, fake_graph.py), issue 10 items 2 and 3:
- 403 ErrorAccessDenied (missing Mail.Send / consent / access policy) holds
  the queue: deferred, not failed, ONE event=provider_config_error line and
  ONE notice mail to failure_notice_to for many messages, cleared by the
  first delivery afterwards; with a
  fallback_provider the same message goes out through it at once;
  ErrorSendAsDenied (per message) still fails;
- Entra temporarily_unavailable / AADSTS90033 on the token endpoint: a short
  transient retry, no configuration alert;
- large path (max_mime_size 1KB: drafts): 404 on a draft call restarts the
  draft; 5xx on an upload PUT resumes from the session's nextExpectedRanges
  (no range sent twice); a malformed nextExpectedRanges defers (no crash);
  413 on a small attachment POST goes through an upload session."""
import base64
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from m365_common import Pipeline, message, scalar, wait_for, wait_sql  # noqa: E402
from relaytest import run_tests  # noqa: E402


def mail(subject):
    return message("scan@example.com", ["a@x.org"], subject)


def alerts(p, name="dispatcher0"):
    return [l for l in p.log(name).splitlines() if "event=provider_config_error" in l]


def test_403_access_denied_is_held_with_one_alert_then_delivered():
    with Pipeline(overrides={"dispatcher": {"failure_notice_to": "ops@example.com"}}) as p:
        p.start()
        p.fg.add_fault("POST .*/sendMail$", count=1000, status=403, code="ErrorAccessDenied",
                       message="Access is denied. Check credentials and try again.")
        ids = [p.send("scan@example.com", ["a@x.org"], mail(f"denied {i}")) for i in range(4)]
        wait_for(lambda: all(i + ".env" in p.r.spool_entries("deferred") for i in ids), 15, what="all held")
        time.sleep(3)  # several retries at max_backoff 2 s: still held, never failed
        assert not p.r.spool_entries("failed"), p.r.spool_entries("failed")
        assert all(p.status(i) == "queued" for i in ids)
        att = p.attempts(ids[0])
        assert att and all(a[1] == "transient" and a[2] == 403 for a in att), att
        assert "missing permission" in att[0][4], att
        assert len(alerts(p)) == 1, alerts(p)
        assert "event=config_error_held" in p.log()
        p.fg.faults.clear()  # the permission is granted
        for i in ids:
            wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{i}'", "sent", timeout=20)
        # ... and one notice mail about it (held with the rest, then delivered)
        notices = wait_for(lambda: [x for x in p.fg.sent if "ops@example.com" in x["rcpts"]], 20, what="the notice")
        time.sleep(1)
        assert len(notices) == 1 and len(p.fg.sent) == 5, [x["rcpts"] for x in p.fg.sent]
        assert b"provider m365 has a configuration error" in notices[0]["mime"], notices[0]["mime"][:400]
        assert b"missing permission" in notices[0]["mime"]
        assert "event=provider_config_cleared provider=m365" in p.log()
        assert len(alerts(p)) == 1
        # A true per-message refusal is still permanent.
        p.fg.add_fault("POST .*/sendMail$", status=403, code="ErrorSendAsDenied", message="not allowed")
        qid = p.send("scan@example.com", ["a@x.org"], mail("send as"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "failed")
        assert qid + ".env" in p.r.spool_entries("failed")
        assert len(alerts(p)) == 1


def test_403_access_denied_goes_to_the_fallback_provider():
    box = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"relay-m365c-box-{os.getpid()}")
    with Pipeline(overrides={"fallback_provider": "box"}) as p:
        p.r.cfg["providers"]["box"] = {"type": "outbox", "directory": box}
        p.r.write_config()
        p.start()
        p.fg.add_fault("POST .*/sendMail$", count=1000, status=403, code="ErrorAccessDenied", message="denied")
        qid = p.send("scan@example.com", ["a@x.org"], mail("fallback"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        att = p.attempts(qid)
        assert [(a[1], a[2]) for a in att][0] == ("transient", 403) and [a[1] for a in att] == ["transient", "sent"], att
        assert any(f.startswith(qid) and f.endswith(".eml") for f in os.listdir(box)), os.listdir(box)
        assert scalar(p.r, f"SELECT provider FROM messages WHERE queue_id='{qid}'") == "box"
        assert len(alerts(p)) == 1 and "event=fallback from=m365 to=box reason=config_error" in p.log()


def test_token_endpoint_hiccups_are_short_transient_retries():
    for code, error in ((90033, "invalid_request"), (50000, "temporarily_unavailable")):
        with Pipeline() as p:
            p.start()
            p.fg.add_fault("POST /[^/]+/oauth2/v2.0/token$", status=400, token=code, error=error,
                           message="A transient error has occurred. Please try again.")
            t0 = time.time()
            qid = p.send("scan@example.com", ["a@x.org"], mail(f"hiccup {code}"))
            wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent", timeout=30)
            took = time.time() - t0
            assert took < 25, took  # a configuration error would wait 5 min for the token backoff
            att = p.attempts(qid)
            assert [a[1] for a in att] == ["transient", "sent"], att
            assert "temporarily unavailable" in att[0][4], att
            assert not alerts(p), alerts(p)
            assert len(p.fg.token_requests) == 1, p.fg.token_requests  # the faulted one is not recorded
            print(f"token {error}/AADSTS{code}: delivered {took:.1f} s after submission")


def with_attachment(size, name=b"scan.pdf"):
    data = os.urandom(size)
    b = base64.encodebytes(data).replace(b"\n", b"\r\n")
    raw = (b"From: scan@example.com\r\nTo: a@x.org\r\nSubject: scan\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nscan\r\n"
           b"--XX\r\nContent-Type: application/pdf; name=\"" + name + b"\"\r\nContent-Disposition: attachment;"
           b" filename=\"" + name + b"\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b + b"--XX--\r\n")
    return raw, data


def large_pipeline():
    return Pipeline(prov={"save_to_sent_items": True, "max_mime_size": "1KB"}, overrides={"receiver": {"limits": {"max_message_size": "40MB"}}})


def test_draft_404_restarts_the_draft():
    with large_pipeline() as p:
        p.start()
        p.fg.add_fault("POST .*/messages/[^/]+/attachments$", status=404, code="ErrorItemNotFound",
                       message="The specified object was not found in the store.")
        raw, data = with_attachment(100_000)
        qid = p.send("scan@example.com", ["a@x.org"], raw)
        s = p.wait_sent(1)[0]
        assert s["via"] == "draft" and s["attachments"][0]["bytes"] == data
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        assert [a[1] for a in p.attempts(qid)] == ["sent"], p.attempts(qid)  # restarted inside the attempt
        drafts = [c for c in p.fg.calls if c["method"] == "POST" and c["path"].endswith("/messages")]
        assert len(drafts) == 2, drafts
        assert "event=draft_restart" in p.log()
        wait_for(lambda: not p.fg.drafts, 30, what="the abandoned draft deleted")
        assert len(p.fg.sent) == 1


def test_upload_5xx_resumes_from_next_expected_ranges():
    with large_pipeline() as p:
        p.start()
        # The second range reaches the fake, the answer is a 503: resume, do not resend it.
        p.fg.add_fault("PUT /upload/", count=1, status=503, accept=True)
        raw, data = with_attachment(8_000_000)
        qid = p.send("scan@example.com", ["a@x.org"], raw)
        s = p.wait_sent(1, timeout=60)[0]
        assert s["attachments"][0]["bytes"] == data and s["attachments"][0].get("upload")
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        assert [a[1] for a in p.attempts(qid)] == ["sent"], p.attempts(qid)
        assert not p.fg.violations, p.fg.violations
        wait_for(lambda: len([c for c in p.fg.calls if c["method"] == "PUT"]) >= 3, 30, what="PUT records")
        puts = [c["status"] for c in p.fg.calls if c["method"] == "PUT"]
        gets = [c for c in p.fg.calls if c["method"] == "GET" and c["path"].startswith("/upload/")]
        assert puts == [503, 200, 201], puts  # 8 MB = 3 ranges, none sent twice
        assert len(gets) == 1 and gets[0]["status"] == 200, gets
        assert len([c for c in p.fg.calls if c["path"].endswith("/messages") and c["method"] == "POST"]) == 1
        assert "event=upload_resume" in p.log()


def test_malformed_next_expected_ranges_defers_without_a_crash():
    with large_pipeline() as p:
        p.start()
        p.fg.add_fault("PUT /upload/", count=1, ranges=["garbage-"])
        raw, data = with_attachment(8_000_000)
        qid = p.send("scan@example.com", ["a@x.org"], raw)
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent", timeout=60)
        att = p.attempts(qid)
        assert [a[1] for a in att] == ["transient", "sent"], att
        assert "malformed nextExpectedRanges" in att[0][4], att
        assert p.r.procs[-1].poll() is None, "the dispatcher died"
        assert len(p.fg.sent) == 1 and p.fg.sent[0]["attachments"][0]["bytes"] == data
        wait_for(lambda: not p.fg.drafts, 30, what="the failed attempt's draft deleted")


def test_small_attachment_413_goes_through_an_upload_session():
    with large_pipeline() as p:
        p.start()
        p.fg.add_fault("POST .*/messages/[^/]+/attachments$", status=413, code="RequestEntityTooLarge",
                       message="The request entity is too large.")
        raw, data = with_attachment(200_000)
        qid = p.send("scan@example.com", ["a@x.org"], raw)
        s = p.wait_sent(1)[0]
        assert s["attachments"][0]["bytes"] == data and s["attachments"][0].get("upload"), s["attachments"]
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        assert [a[1] for a in p.attempts(qid)] == ["sent"], p.attempts(qid)


if __name__ == "__main__":
    run_tests([test_403_access_denied_is_held_with_one_alert_then_delivered,
               test_403_access_denied_goes_to_the_fallback_provider,
               test_token_endpoint_hiccups_are_short_transient_retries,
               test_draft_404_restarts_the_draft,
               test_upload_5xx_resumes_from_next_expected_ranges,
               test_malformed_next_expected_ranges_defers_without_a_crash,
               test_small_attachment_413_goes_through_an_upload_session])
