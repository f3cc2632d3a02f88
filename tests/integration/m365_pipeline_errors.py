#!/usr/bin/python3
"""Microsoft 365 through the whole pipeline (real receiver, real dispatcher,
fake_graph.py, PostgreSQL): every error class and the client secret.
- 429 / 503 with Retry-After and 500: deferred, the next try not before
  Retry-After, then sent;
- ErrorInvalidRecipients / ErrorSendAsDenied / 413: failed/, messages row
  failed with a clear reason;
- wrong or expired client secret: mail stays in deferred/, ONE token
  request over the run, `relayctl stats` shows the error, loud log lines;
- secret expiring in 5 days: secret_status row, `relayctl secrets` exit 1,
  one notice mail to expiry_notice_to (not repeated by a restart)."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from m365_common import Pipeline, message, parse, scalar, sql, today_plus, wait_for, wait_sql  # noqa: E402
from relaytest import run_tests  # noqa: E402


def mail(subject):
    return message("scan@example.com", ["a@x.org"], subject)


def sendmail_calls(p):
    return [c for c in p.fg.calls if c["path"].endswith("/sendMail")]


def test_throttling_and_server_errors_are_retried_then_sent():
    with Pipeline() as p:
        p.start()
        p.r.start_dispatcher(1)  # a second process must respect the Retry-After too (spool next-attempt)
        for status, code, retry_after in ((429, "ApplicationThrottled", 3), (503, "ServiceUnavailable", 2),
                                          (500, "InternalServerError", None)):
            p.fg.add_fault("sendMail", status=status, code=code, retry_after=retry_after)
            before = len(sendmail_calls(p))
            qid = p.send("scan@example.com", ["a@x.org"], mail(f"error {status}"))
            if status == 429:
                wait_for(lambda: qid + ".env" in p.r.spool_entries("deferred"), 10, what="entry in deferred/")
                assert scalar(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'") == "queued"
            wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent", timeout=20)
            att = p.attempts(qid)
            assert [(a[1], a[2]) for a in att] == [("transient", status), ("sent", 202)], att
            calls = sendmail_calls(p)[before:]
            assert [c["status"] for c in calls] == [status, 202], calls
            gap = calls[1]["t0"] - calls[0]["t1"]
            if retry_after:
                assert gap >= retry_after, f"retried {gap:.2f}s after a Retry-After of {retry_after}s"
                assert att[1][5] - att[0][5] >= retry_after - 1, att
                logs = p.log() + p.log("dispatcher1")
                assert f"{qid} event=deferred" in logs and "rule=retry-after" in logs
            else:
                assert gap > 0, gap  # min_backoff 1s, scheduled in whole seconds
        wait_sql(p.r, "SELECT count(*) FROM messages WHERE status='sent'", 3)


def test_permanent_errors_go_to_failed_with_a_clear_reason():
    with Pipeline() as p:
        p.start()
        cases = ((("sendMail", 400, "ErrorInvalidRecipients"),), "5.1.1", "invalid recipients: ErrorInvalidRecipients"), \
                ((("sendMail", 403, "ErrorSendAsDenied"),), "5.7.1",
                 "mailbox scan@example.com may not send as this From address"), \
                ((("sendMail", 413, "RequestEntityTooLarge"),
                  ("POST /v1.0/users/[^/]+/messages$", 413, "RequestEntityTooLarge")), "5.3.4",
                 "message too large for Microsoft 365")
        for faults, enhanced, reason in cases:
            for path_re, status, code in faults:
                p.fg.add_fault(path_re, status=status, code=code)
            qid = p.send("scan@example.com", ["a@x.org"], mail(f"perm {enhanced}"))
            wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "failed")
            wait_for(lambda: qid + ".env" in p.r.spool_entries("failed"), 10, what="entry in failed/")
            last_error = scalar(p.r, f"SELECT last_error FROM messages WHERE queue_id='{qid}'")
            assert reason in last_error and enhanced in last_error, last_error
            att = p.attempts(qid)
            assert [(a[1], a[3]) for a in att] == [("permanent", enhanced)], att
            with open(p.r.spool_path("failed", qid), errors="replace") as f:
                assert reason in f.read()
            wait_for(lambda: f"{qid} event=failed" in p.log(), 10, what=f"{qid} event=failed logged")
        # Only the bounces (DSNs) to the sender went out (docs/bounces.md), and no draft was left.
        assert all(s["rcpts"] == ["scan@example.com"] for s in p.fg.sent), [s["rcpts"] for s in p.fg.sent]
        assert not p.fg.drafts, "a draft was left behind"


def test_wrong_or_expired_secret_keeps_mail_queued_without_hammering():
    cases = (({"client_secret": "wrong"}, {}, "wrong client secret"),
             ({}, {"secret_expires": "2020-01-01"}, "expired client secret"))
    for prov, fake, want in cases:
        with Pipeline(prov=prov, fake_kw=fake) as p:
            p.start()
            ids = [p.send("scan@example.com", ["a@x.org"], mail("cfg 0"))]
            wait_for(lambda: ids[0] + ".env" in p.r.spool_entries("deferred"), 10, what="first entry deferred")
            ids += [p.send("scan@example.com", ["a@x.org"], mail(f"cfg {i}")) for i in range(1, 4)]
            wait_for(lambda: all(i + ".env" in p.r.spool_entries("deferred") for i in ids), 10, what="all deferred")
            time.sleep(3)  # three sweeps and scans at 1 s: nothing may retry now
            assert sorted(p.r.spool_entries("deferred")) == sorted(i + ".env" for i in ids)
            assert len(p.fg.token_requests) == 1, p.fg.token_requests
            assert not p.fg.sent
            wait_sql(p.r, "SELECT count(*) FROM messages WHERE status='queued'", 4)
            assert scalar(p.r, f"SELECT count(*) FROM messages WHERE last_error LIKE '%{want}%'") == "4"
            st = p.relayctl("stats")
            assert want in st.stdout, st.stdout
            log = p.log()
            loud = [l for l in log.splitlines() if " error: " in l and want in l]
            assert any("event=token_config_error" in l for l in loud), log[-3000:]
            # one alert for the state change, not one per held message
            assert sum("event=provider_config_error" in l for l in loud) == 1, log[-3000:]
            # deferred for the token backoff (5 min), not the 2 s max_backoff of this config
            with open(p.r.spool_path("deferred", ids[-1])) as f:
                env = f.read()
            assert want in env, env


def test_secret_expiry_warning_rows_relayctl_and_one_notice():
    prov = {"client_secret_expires": today_plus(5), "expiry_notice_to": "ops@example.com"}
    with Pipeline(prov=prov) as p:
        p.start()
        wait_sql(p.r, "SELECT state || ' ' || days_left || ' ' || source FROM secret_status WHERE provider='m365'",
                 "warning 5 config")
        assert scalar(p.r, "SELECT expires FROM secret_status") == today_plus(5)
        r = p.relayctl("secrets")
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        assert "WARNING" in r.stdout and "expires in 5 days" in r.stdout, r.stdout
        st = p.relayctl("stats")
        assert f"m365 warning expires={today_plus(5)}" in st.stdout, st.stdout
        assert "event=secret_expiry_warning" in p.log() or "event=secret_expiry " in p.log()
        notices = wait_for(lambda: [s for s in p.fg.sent if "ops@example.com" in s["rcpts"]], 20,
                           what="expiry notice at the fake")
        m = parse(notices[0]["mime"])
        assert "client secret" in str(m["Subject"]) and "m365" in str(m["Subject"]), m["Subject"]
        body = m.get_body().get_content()
        assert today_plus(5) in body and "5 days" in body, body
        assert notices[0]["mailbox"] == "relay@example.com"
        # A restarted dispatcher reports again but does not mail again for the same threshold.
        d = p.r.procs[1]
        os.killpg(d.pid, signal.SIGTERM)
        d.wait(15)
        p.r.procs.remove(d)
        p.r.start_dispatcher(1)
        wait_for(lambda: "event=secret_notice" in p.r.read_log("dispatcher1"), 10, what="second dispatcher report")
        time.sleep(1)
        assert len([s for s in p.fg.sent if "ops@example.com" in s["rcpts"]]) == 1
        assert scalar(p.r, "SELECT count(*) FROM messages WHERE mail_from='' AND status='sent'") == "1"
    with Pipeline(prov={"client_secret_expires": today_plus(200)}) as p:
        r = p.relayctl("secrets")
        assert r.returncode == 0 and "expires in 200 days" in r.stdout, r.stdout


def test_idle_dispatcher_learns_expiry_from_graph_and_stops_cleanly():
    """The app may read its own passwordCredentials: Graph's date wins over
    the config's, without any mail flowing; SIGTERM during a slow look-up
    exits 0 at once (the adapter cancels its own transfers)."""
    fake = {"roles": ("Mail.Send", "Application.Read.All"), "secret_expires": today_plus(3)}
    with Pipeline(prov={"client_secret_expires": today_plus(200)}, fake_kw=fake) as p:
        p.start(receiver=False)
        wait_sql(p.r, "SELECT state || ' ' || days_left || ' ' || source FROM secret_status WHERE provider='m365'",
                 "warning 3 graph")
        assert len(p.fg.token_requests) == 1 and not p.fg.sent
        r = p.relayctl("secrets")
        assert r.returncode == 1 and "graph" in r.stdout and "WARNING" in r.stdout, r.stdout
        p.r.stop()
        p.fg.add_fault("applications", delay=20)
        d = p.r.start_dispatcher(1)
        wait_for(lambda: any("applications" in q[1] for q in p.fg.requests[2:]), 10, what="slow expiry look-up")
        t0 = time.time()
        os.killpg(d.pid, signal.SIGTERM)
        assert d.wait(10) == 0, p.r.read_log("dispatcher1")[-2000:]
        assert time.time() - t0 < 8  # far below the look-up's 20 s delay: it was not waited for
        assert "event=stopped" in p.r.read_log("dispatcher1")


if __name__ == "__main__":
    run_tests([test_throttling_and_server_errors_are_retried_then_sent,
               test_permanent_errors_go_to_failed_with_a_clear_reason,
               test_wrong_or_expired_secret_keeps_mail_queued_without_hammering,
               test_secret_expiry_warning_rows_relayctl_and_one_notice,
               test_idle_dispatcher_learns_expiry_from_graph_and_stops_cleanly])
