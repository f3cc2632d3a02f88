#!/usr/bin/python3
"""The mailbox the m365 path sends as is the address the receiver checked
(issue 9 item 2), end to end: SMTP AUTH user scanner1 limited to
scan@example.com, the real receiver and dispatcher, fake_graph.py.

- Tricky but legitimate header syntax (space before the colon, comments and
  quoted display names naming another mailbox) is accepted and goes out
  through /users/scan@example.com, never as the mailbox a naive reader sees.
- Defence in depth: a message accepted while scanner1 had no list of its
  own, sent after the list was configured, fails permanently (5.7.1) in the
  dispatcher and never reaches Graph.
"""
import base64
import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from m365_common import Pipeline, parse, wait_for, wait_sql  # noqa: E402
from receiver_common import hash_password  # noqa: E402
from relaytest import run_tests  # noqa: E402

PW = hash_password("pw-scan")


def receiver_cfg(allowed):
    return {"receiver": {"hostname": "relay.test", "auth": "optional",
                         "users": [{"name": "scanner1", "password_hash": PW, "allowed_senders": allowed}]}}


def send_as_scanner(p, data, mail_from="scan@example.com"):
    s = smtplib.SMTP("127.0.0.1", p.r.port, timeout=30)
    try:
        s.ehlo("client.test")
        code, reply = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0scanner1\0pw-scan").decode())
        assert code == 235, (code, reply)
        assert s.mail(mail_from)[0] == 250 and s.rcpt("a@x.org")[0] == 250
        code, reply = s.data(data)
        return code, reply.decode(errors="replace")
    finally:
        s.close()


def mail(headers, subject):
    return (headers + f"To: a@x.org\r\nSubject: {subject}\r\n\r\nbody\r\n").encode()


def test_sent_as_the_checked_address():
    cases = [("From : Scan <scan@example.com>\r\n", "space before colon"),
             ("From: (ceo@example.com) \"ceo@example.com\" <scan@example.com>\r\n", "decoys"),
             ("From: =?utf-8?q?ceo=40example.com?= <scan@example.com>\r\n", "encoded decoy")]
    with Pipeline(overrides=receiver_cfg(["scan@example.com"])) as p:
        p.start()
        code, reply = send_as_scanner(p, mail("From : ceo@example.com\r\n", "attack"))
        assert code == 550 and reply.startswith("5.7.1"), (code, reply)
        for headers, subject in cases:
            code, reply = send_as_scanner(p, mail(headers, subject))
            assert code == 250, (subject, code, reply)
        sent = p.wait_sent(len(cases))
        assert len(sent) == len(cases), [s["mailbox"] for s in sent]
        for s in sent:
            subject = parse(s["mime"])["Subject"]
            assert s["mailbox"] == "scan@example.com", (subject, s["mailbox"])
            assert subject != "attack"


def test_dispatcher_rechecks_the_auth_users_list():
    with Pipeline(overrides=receiver_cfg([])) as p:  # scanner1 has senders.allowed (@example.com)
        p.start(dispatcher=False)
        code, reply = send_as_scanner(p, mail("From: ceo@example.com\r\n", "before the list"))
        assert code == 250, (code, reply)
        qid = reply.split()[-1]
        p.r.cfg["receiver"]["users"][0]["allowed_senders"] = ["scan@example.com"]
        p.r.write_config()
        p.r.start_dispatcher()
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "failed", timeout=30)
        att = p.attempts(qid)
        assert [(a[1], a[3]) for a in att] == [("permanent", "5.7.1")], att
        assert "allowed_senders" in att[0][4], att
        # Only the bounce (DSN) to the envelope sender, as senders.default_sender, reaches Graph (docs/bounces.md).
        assert [x["mailbox"] for x in p.fg.sent if x["mailbox"] != "relay@example.com"] == [], \
            "Graph was called for a mailbox outside the AUTH user's list"
        wait_for(lambda: "event=m365_reject" in p.log(), 10, what="dispatcher log line")


if __name__ == "__main__":
    run_tests([test_sent_as_the_checked_address, test_dispatcher_rechecks_the_auth_users_list])
