#!/usr/bin/python3
"""Bounces to the envelope sender (issue 11 item 6, docs/bounces.md) through
the whole pipeline: real receiver, real dispatcher, PostgreSQL, and an
aiosmtpd upstream (smtp_upstream.py) that answers 550 5.1.1 for
bad@example.org and 450 for later@example.org. The DSNs are routed like any
mail, back to the same upstream, where they are captured:
- a message with one good and one refused recipient: the sender receives
  exactly one RFC 3464 DSN (MAIL FROM:<>, Auto-Submitted: auto-replied,
  multipart/report; report-type=delivery-status) naming only the refused
  recipient with Status 5.1.1 and the upstream's text, and the original's
  headers without its body;
- a failed message with the null sender: no DSN (event=bounce_skipped);
- a DSN that fails itself (its recipient is refused): no DSN for it;
- a DSN arriving with a non-null sender that fails: no DSN;
- a 4xx (temporary) refusal: deferred, no DSN;
- dispatcher.bounces: off (SIGHUP reload): no DSN;
- m365 (fake_graph.py): a 400 ErrorInvalidRecipients gets a DSN sent through
  Graph with an X-relay-m365 Diagnostic-Code."""
import email
import email.policy
import os
import signal
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import Upstream, make_relay, message, scalar, send, smtp_provider, wait_for, wait_sql  # noqa: E402
from relaytest import run_tests  # noqa: E402

SENDER = "app@example.com"
BAD = "bad@example.org"


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def report_fields(raw):
    """[per-message fields, per-recipient fields...] of the delivery-status
    part, read from the raw DSN bytes (unfolded)."""
    text = raw.decode()
    part = text.split("Content-Type: message/delivery-status", 1)[1]
    part = part.split("\r\n\r\n", 1)[1].split("\r\n--", 1)[0].replace("\r\n ", " ")
    blocks = []
    for block in part.split("\r\n\r\n"):
        fields = dict(l.split(": ", 1) for l in block.split("\r\n") if ": " in l)
        if fields:
            blocks.append(fields)
    return blocks


def dsns(up):
    return [m for m in up.messages() if m["mail_from"] in ("", "<>")]


def bounce_ids_in_log(r):
    return [l for l in r.read_log("dispatcher0").splitlines() if "event=bounce_" in l]


def send_null(port, rcpt, data):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.test")
        code, _ = s.docmd("MAIL FROM:<>")
        assert code == 250, code
        assert s.rcpt(rcpt)[0] == 250
        code, reply = s.data(data)
        assert code == 250, (code, reply)
        return reply.decode().split("queued as ")[1].split()[0]


def test_smtp_bounces_one_dsn_never_for_null_sender_dsn_4xx_or_off():
    up = Upstream(args=["--refuse-rcpt", f"{BAD}:550", "--refuse-rcpt", "later@example.org:450"])
    cfg = {"providers": {"upstream": smtp_provider(up.port)}, "default_provider": "upstream",
           "receiver": {"hostname": "relay.test"}}
    with make_relay(cfg) as r:
        up.start()
        try:
            r.start_receiver()
            r.start_dispatcher()
            body = "secret body line\r\n" * 50
            a = send(r.port, SENDER, ["good@example.org", BAD], message(SENDER, ["good@example.org", BAD], "mixed", body))
            b = send_null(r.port, BAD, message("daemon@example.com", [BAD], "null sender"))
            c = send(r.port, BAD, [BAD], message(BAD, [BAD], "dsn will fail"))  # its DSN goes to BAD: refused
            d = send(r.port, SENDER, ["later@example.org"], message(SENDER, ["later@example.org"], "temporary"))
            wait_for(lambda: len(dsns(up)) >= 1, 15, what="the DSN at the upstream")
            got = dsns(up)[0]
            assert got["rcpts"] == [SENDER], got
            dsn = parse(got["data"])
            assert dsn.get_content_type() == "multipart/report", dsn["Content-Type"]
            assert dsn.get_param("report-type") == "delivery-status"
            assert dsn["Auto-Submitted"] == "auto-replied" and dsn["Message-ID"], dict(dsn)
            assert dsn["From"].addresses[0].addr_spec == "postmaster@relay.test", dsn["From"]
            parts = [p.get_content_type() for p in dsn.iter_parts()]
            assert parts == ["text/plain", "message/delivery-status", "text/rfc822-headers"], parts
            fields = report_fields(got["data"])
            assert fields[0]["Reporting-MTA"] == "dns; relay.test" and fields[0]["X-Relay-Queue-ID"] == a, fields
            assert "Arrival-Date" in fields[0], fields
            assert len(fields) == 2, fields  # the refused recipient only, not good@
            rc = fields[1]
            assert rc["Final-Recipient"] == f"rfc822; {BAD}" and rc["Action"] == "failed", rc
            assert rc["Status"] == "5.1.1", rc
            assert rc["Diagnostic-Code"] == "smtp; 550 5.1.1 No such user here", rc
            assert rc["Remote-MTA"] == "dns; 127.0.0.1", rc
            headers = [p for p in dsn.iter_parts()][2].as_bytes()
            assert b"Subject: mixed" in headers and b"secret body line" not in headers, headers
            human = [p for p in dsn.iter_parts()][0].get_content()
            assert BAD in human and "No such user here" in human and "good@example.org" not in human, human
            # A DSN that itself arrives with a sender and fails is not answered either.
            e = send(r.port, "other@example.com", [BAD], got["data"])
            # Everything settles: b, c, e and c's DSN failed, d deferred.
            for qid in (a, b, c, e):
                wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "partial" if qid == a else "failed")
            wait_sql(r, "SELECT count(*) FROM messages WHERE mail_from='' AND status='failed'", 1 + 1)  # b + c's DSN
            wait_for(lambda: int(scalar(r, f"SELECT count(*) FROM attempts WHERE queue_id='{d}'")) >= 2, 15,
                     what="the 450 recipient retried")
            log = r.read_log("dispatcher0")
            assert f'{b} event=bounce_skipped reason="null sender"' in log, bounce_ids_in_log(r)
            assert f'{e} event=bounce_skipped reason="message is a delivery status notification"' in log
            c_dsn = [l for l in log.splitlines() if f"{c} event=bounce_queued" in l]
            assert len(c_dsn) == 1, bounce_ids_in_log(r)
            c_dsn_id = c_dsn[0].split("bounce_id=")[1].split()[0]
            assert f'{c_dsn_id} event=bounce_skipped reason="null sender"' in log, bounce_ids_in_log(r)
            assert f"{d} event=bounce" not in log
            assert scalar(r, "SELECT count(*) FROM messages WHERE mail_from='' AND status='sent'") == "1"
            assert len(dsns(up)) == 1, [m["rcpts"] for m in dsns(up)]
            assert d + ".env" in r.spool_entries("deferred") or d + ".env" in r.spool_entries("active")
            # dispatcher.bounces: off (reloadable): no DSN.
            r.cfg["dispatcher"]["bounces"] = False
            r.write_config()
            os.kill(r.procs[-1].pid, signal.SIGHUP)
            wait_for(lambda: "event=reloaded" in r.read_log("dispatcher0"), 10, what="reload")
            f = send(r.port, SENDER, [BAD], message(SENDER, [BAD], "bounces off"))
            wait_for(lambda: f"{f} event=bounce_skipped" in r.read_log("dispatcher0"), 10, what="f failed")
            assert f'{f} event=bounce_skipped reason="bounces off"' in r.read_log("dispatcher0")
            assert len(dsns(up)) == 1
        finally:
            up.stop()


def test_m365_permanent_error_bounces_through_graph():
    from m365_common import Pipeline
    with Pipeline() as p:
        p.start()
        p.fg.add_fault("sendMail", status=400, code="ErrorInvalidRecipients")
        qid = p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], "to graph"))
        sent = p.wait_sent(1, timeout=15)
        assert len(sent) == 1 and sent[0]["rcpts"] == ["scan@example.com"], sent
        dsn = parse(sent[0]["mime"])
        assert dsn.get_content_type() == "multipart/report" and dsn["Auto-Submitted"] == "auto-replied"
        fields = report_fields(sent[0]["mime"])
        assert fields[0]["X-Relay-Queue-ID"] == qid, fields
        rc = fields[1]
        assert rc["Final-Recipient"] == "rfc822; a@x.org" and rc["Status"] == "5.1.1", rc
        assert rc["Diagnostic-Code"].startswith("X-relay-m365; 400 5.1.1"), rc
        assert "ErrorInvalidRecipients" in rc["Diagnostic-Code"], rc
        wait_sql(p.r, "SELECT count(*) FROM messages WHERE mail_from='' AND status='sent'", 1)


if __name__ == "__main__":
    run_tests([test_smtp_bounces_one_dsn_never_for_null_sender_dsn_4xx_or_off,
               test_m365_permanent_error_bounces_through_graph])
