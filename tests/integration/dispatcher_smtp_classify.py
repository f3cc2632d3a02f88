#!/usr/bin/python3
"""The smtp provider's error classes and credential protection against the
aiosmtpd upstream (smtp_upstream.py, which records the commands it gets),
issue 10 items 2, 3 and 9:
- AUTH refused with 550 5.7.30 (basic auth disabled): held, not bounced,
  ONE event=provider_config_error line for several messages; with a
  fallback_provider the message goes out through it;
- MAIL answered 530 5.7.0 (authentication required, no credentials set):
  held the same way;
- 554 5.2.0 SubmissionQuotaExceeded: deferred for an hour, not failed;
- a refused recipient still fails;
- credentials with tls: starttls to an upstream that does not offer
  STARTTLS: no AUTH command reaches it, the entry is deferred with
  "TLS is required, but was not offered". The upstream is on loopback
  (tests may use nothing else), where the config check allows credentials
  without TLS only with tls: none, written out; with tls: starttls the
  dispatcher requires STARTTLS for the AUTH whatever the host. The
  non-loopback config error is tested in tests/common/config_test.cpp."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import Upstream, make_relay, message, scalar, send, smtp_provider, wait_for, wait_sql  # noqa: E402
from relaytest import run_tests  # noqa: E402

SENDER = "app@example.com"
RCPT = "to@example.org"


def relay_to(port, extra=None, **kw):
    cfg = {"providers": {"upstream": smtp_provider(port, **kw)}, "default_provider": "upstream"}
    cfg.update(extra or {})
    return make_relay(cfg)


def alerts(r):
    return [l for l in r.read_log("dispatcher0").splitlines() if "event=provider_config_error" in l]


def commands(up):
    try:
        with open(os.path.join(up.dir, "commands")) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def held(r, ids, what):
    wait_for(lambda: all(i + ".env" in r.spool_entries("deferred") for i in ids), 15, what=what)
    time.sleep(3)  # retries at max_backoff 2 s: still held, never failed
    assert not r.spool_entries("failed"), r.spool_entries("failed")
    for i in ids:
        assert scalar(r, f"SELECT status FROM messages WHERE queue_id='{i}'") == "queued"
        assert scalar(r, f"SELECT count(*) FROM attempts WHERE queue_id='{i}' AND outcome<>'transient'") == "0"


def test_auth_550_5_7_30_is_held_with_one_alert():
    up = Upstream(args=["--require-auth", "u:p", "--record-commands", "--auth-reply",
                        "550 5.7.30 Basic authentication is not supported for Client Submission"])
    with relay_to(up.port, username="u", password="p") as r:
        up.start()
        try:
            r.start_receiver()
            r.start_dispatcher()
            ids = [send(r.port, SENDER, [RCPT], message(SENDER, [RCPT], f"auth {i}")) for i in range(3)]
            held(r, ids, "all held")
            err = scalar(r, f"SELECT last_error FROM messages WHERE queue_id='{ids[0]}'")
            assert "5.7.30" in err, err
            assert len(alerts(r)) == 1, alerts(r)
            assert "AUTH" in commands(up) and not up.messages()
        finally:
            up.stop()


def test_auth_refusal_goes_to_the_fallback_provider():
    up = Upstream(args=["--require-auth", "u:p", "--auth-reply", "504 5.7.4 Unrecognized authentication type"])
    box = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"relay-smtpc-box-{os.getpid()}")
    with relay_to(up.port, {"fallback_provider": "box"}, username="u", password="p") as r:
        r.cfg["providers"]["box"] = {"type": "outbox", "directory": box}
        r.write_config()
        up.start()
        try:
            r.start_receiver()
            r.start_dispatcher()
            qid = send(r.port, SENDER, [RCPT], message(SENDER, [RCPT], "fallback"))
            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
            assert scalar(r, f"SELECT provider FROM messages WHERE queue_id='{qid}'") == "box"
            assert any(f.startswith(qid) for f in os.listdir(box)), os.listdir(box)
            assert len(alerts(r)) == 1 and "event=fallback from=upstream to=box" in r.read_log("dispatcher0")
        finally:
            up.stop()


def test_mail_530_authentication_required_is_held():
    up = Upstream(args=["--require-auth", "u:p", "--record-commands"])
    with relay_to(up.port) as r:  # no credentials configured
        up.start()
        try:
            r.start_receiver()
            r.start_dispatcher()
            ids = [send(r.port, SENDER, [RCPT], message(SENDER, [RCPT], f"noauth {i}")) for i in range(2)]
            held(r, ids, "both held")
            err = scalar(r, f"SELECT last_error FROM messages WHERE queue_id='{ids[0]}'")
            assert "530" in err, err
            assert len(alerts(r)) == 1, alerts(r)
        finally:
            up.stop()


def test_submission_quota_is_deferred_for_an_hour_and_a_refused_recipient_fails():
    line = "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message"
    up = Upstream(args=["--data-reply-line", line, "--refuse-rcpt", "bad@example.org:550"])
    with relay_to(up.port) as r:
        up.start()
        try:
            r.start_receiver()
            r.start_dispatcher()
            qid = send(r.port, SENDER, [RCPT], message(SENDER, [RCPT], "quota"))
            wait_for(lambda: qid + ".env" in r.spool_entries("deferred"), 15, what="deferred")
            log = r.read_log("dispatcher0")
            dl = [l for l in log.splitlines() if f"{qid} event=deferred" in l]
            assert dl and "rule=retry-after" in dl[0], dl
            retry_in = int(dl[0].split("retry_in=")[1].split("s")[0])
            assert retry_in >= 3500, dl[0]
            assert scalar(r, f"SELECT status FROM messages WHERE queue_id='{qid}'") == "queued"
            assert not alerts(r)
            bad = send(r.port, SENDER, ["bad@example.org"], message(SENDER, ["bad@example.org"], "refused"))
            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{bad}'", "failed")
        finally:
            up.stop()


def test_credentials_are_never_sent_without_tls():
    up = Upstream(args=["--require-auth", "u:p", "--record-commands"])  # offers AUTH, no STARTTLS
    with relay_to(up.port, tls="starttls", username="u", password="p") as r:
        up.start()
        try:
            r.start_receiver()
            r.start_dispatcher()
            qid = send(r.port, SENDER, [RCPT], message(SENDER, [RCPT], "secret"))
            wait_for(lambda: qid + ".env" in r.spool_entries("deferred"), 15, what="deferred")
            wait_for(lambda: "EHLO" in commands(up), 30, what="the upstream saw the session")
            assert "AUTH" not in commands(up), commands(up)
            assert "MAIL" not in commands(up), commands(up)
            assert not up.messages()
            err = scalar(r, f"SELECT last_error FROM messages WHERE queue_id='{qid}'")
            assert "TLS is required, but was not offered" in err, err
            assert len(alerts(r)) == 1, alerts(r)
        finally:
            up.stop()


if __name__ == "__main__":
    run_tests([test_auth_550_5_7_30_is_held_with_one_alert, test_auth_refusal_goes_to_the_fallback_provider,
               test_mail_530_authentication_required_is_held,
               test_submission_quota_is_deferred_for_an_hour_and_a_refused_recipient_fails,
               test_credentials_are_never_sent_without_tls])
