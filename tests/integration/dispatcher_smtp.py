#!/usr/bin/python3
"""The dispatcher with the smtp provider against real upstreams: the aiosmtpd
recorder (smtp_upstream.py) and Postfix smtp-sink. 4xx then success, 5xx
permanent, per-recipient refusals (only the refused one retried/failed),
upstream down then back, STARTTLS required but not offered (fails closed).
Short retry settings (min_backoff 1s)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import (SmtpSink, Upstream, make_relay, message, scalar, send, smtp_provider,  # noqa: E402
                               spool_empty, sql, wait_for, wait_sql)
from relaytest import free_port, run_tests  # noqa: E402

SENDER = "app@example.com"


def relay_to(port, **kw):
    return make_relay({"providers": {"upstream": smtp_provider(port, **kw)}, "default_provider": "upstream"})


def test_4xx_then_success():
    sink = SmtpSink()
    with relay_to(sink.port) as r:
        sink.start(["-r", "RCPT"])  # every RCPT: 450
        try:
            r.start_receiver()
            r.start_dispatcher()
            qid = send(r.port, SENDER, ["to@example.org"], message(SENDER, ["to@example.org"], "retry me"))
            wait_sql(r, f"SELECT count(*) >= 2 FROM attempts WHERE queue_id='{qid}' AND outcome='transient'", "t")
            assert scalar(r, f"SELECT status FROM messages WHERE queue_id='{qid}'") == "queued"
            code = scalar(r, f"SELECT code FROM attempts WHERE queue_id='{qid}' ORDER BY attempt_no LIMIT 1")
            assert code.startswith("4"), code
            sink.stop()
            sink.start()  # now accepting
            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
            rows = sql(r, f"SELECT attempt_no, outcome FROM attempts WHERE queue_id='{qid}' ORDER BY attempt_no")
            nos = [int(x[0]) for x in rows]
            assert nos == list(range(1, len(nos) + 1)), rows  # one row per attempt
            assert [x[1] for x in rows[:-1]] == ["transient"] * (len(rows) - 1) and rows[-1][1] == "sent", rows
            assert scalar(r, f"SELECT attempts FROM messages WHERE queue_id='{qid}'") == str(len(rows))
            wait_for(lambda: spool_empty(r), 10, what="empty spool")
        finally:
            sink.stop()


def test_5xx_is_permanent():
    sink = SmtpSink()
    with relay_to(sink.port) as r:
        sink.start(["-f", "DATA"])  # DATA: 5xx
        try:
            r.start_receiver()
            r.start_dispatcher()
            qid = send(r.port, SENDER, ["to@example.org"], message(SENDER, ["to@example.org"], "doomed"))
            # (its bounce to SENDER fails at this sink too and lands in failed/ beside it)
            wait_for(lambda: qid + ".env" in r.spool_entries("failed"), 20, what="entry in failed/")
            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "failed")
            err = scalar(r, f"SELECT last_error FROM messages WHERE queue_id='{qid}'")
            assert err.startswith("5") or " 5" in err, err
            assert scalar(r, f"SELECT count(*) FROM attempts WHERE queue_id='{qid}'") == "1"
            assert scalar(r, f"SELECT outcome FROM attempts WHERE queue_id='{qid}'") == "permanent"
            with open(r.spool_path("failed", qid)) as f:
                env = f.read()
            assert "5" in env and "failed" in env, env
        finally:
            sink.stop()


def test_one_refused_one_accepted():
    up = Upstream(args=["--refuse-rcpt", "bad@example.org:550"])
    with relay_to(up.port) as r:
        up.start()
        try:
            r.start_receiver()
            r.start_dispatcher()
            rcpts = ["good@example.org", "bad@example.org"]
            qid = send(r.port, SENDER, rcpts, message(SENDER, rcpts, "half"))
            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "partial")
            # The bounce (DSN, null sender) to the sender is not this message's delivery (docs/bounces.md).
            msgs = [m for m in up.messages() if m["mail_from"] not in ("", "<>")]
            assert len(msgs) == 1 and msgs[0]["rcpts"] == ["good@example.org"], msgs
            # records are durable before the entry is finished: wait for the spool
            wait_for(lambda: r.spool_entries("failed") == [qid + ".env"], 10, what="entry in failed/")
            time.sleep(2.5)  # nothing is retried
            assert len([m for m in up.messages() if m["mail_from"] not in ("", "<>")]) == 1
            assert scalar(r, f"SELECT count(*) FROM attempts WHERE queue_id='{qid}'") == "1"
        finally:
            up.stop()


def test_one_deferred_one_accepted():
    up = Upstream(args=["--refuse-rcpt", "later@example.org:450"])
    with relay_to(up.port) as r:
        up.start()
        try:
            r.start_receiver()
            r.start_dispatcher()
            rcpts = ["good@example.org", "later@example.org"]
            qid = send(r.port, SENDER, rcpts, message(SENDER, rcpts, "half later"))
            wait_for(lambda: len(up.messages()) == 1, 20, what="first delivery")
            wait_sql(r, f"SELECT count(*) >= 2 FROM attempts WHERE queue_id='{qid}'", "t")
            first = up.messages()
            up.stop()
            up = Upstream(port=up.port).start()  # now accepts everyone (fresh record dir)
            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
            msgs = first + up.messages()
            assert [m["rcpts"] for m in msgs] == [["good@example.org"], ["later@example.org"]], msgs
            wait_for(lambda: spool_empty(r), 10, what="empty spool")
        finally:
            up.stop()


def test_upstream_down_then_back():
    up = Upstream()
    with relay_to(up.port) as r:
        r.start_receiver()
        r.start_dispatcher()
        qid = send(r.port, SENDER, ["to@example.org"], message(SENDER, ["to@example.org"], "wait for it"))
        wait_sql(r, f"SELECT count(*) >= 1 FROM attempts WHERE queue_id='{qid}' AND outcome='transient'", "t")
        # the entry moves active/ -> deferred/ after the attempt is committed: wait for a settled listing
        wait_for(lambda: r.spool_entries("deferred") + r.spool_entries("new") + r.spool_entries("active")
                 == [qid + ".env"], 10, what="the entry alone in deferred/new/active")
        up.start()
        try:
            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
            assert len(up.messages()) == 1
        finally:
            up.stop()


def test_starttls_required_not_offered_fails_closed():
    up = Upstream()
    with relay_to(up.port, tls="starttls-required") as r:
        up.start()
        try:
            r.start_receiver()
            r.start_dispatcher()
            qid = send(r.port, SENDER, ["to@example.org"], message(SENDER, ["to@example.org"], "secret"))
            wait_sql(r, f"SELECT count(*) >= 1 FROM attempts WHERE queue_id='{qid}'", "t")
            time.sleep(1)
            assert up.messages() == [], "sent in clear although STARTTLS is required"
            assert scalar(r, f"SELECT count(*) FROM attempts WHERE queue_id='{qid}' AND outcome='sent'") == "0"
            assert scalar(r, f"SELECT status FROM messages WHERE queue_id='{qid}'") in ("queued", "failed")
            wait_for(lambda: r.spool_entries("deferred") + r.spool_entries("new") + r.spool_entries("active")
                     + r.spool_entries("failed") == [qid + ".env"], 10, what="the entry alone in the spool")
            assert "provider_config_error" in r.read_log("dispatcher0") or "STARTTLS" in r.read_log("dispatcher0")
        finally:
            up.stop()


if __name__ == "__main__":
    run_tests([test_4xx_then_success, test_5xx_is_permanent, test_one_refused_one_accepted,
               test_one_deferred_one_accepted, test_upstream_down_then_back,
               test_starttls_required_not_offered_fails_closed])
