#!/usr/bin/python3
"""Graph and Gmail deliver to exactly the pending envelope recipients (issue
10 item 1): they have no envelope and deliver to every address in the
header, so relay rewrites the recipient fields when the header names anyone
else. Real receiver, dispatcher and PostgreSQL against fake_graph.py /
fake_gmail.py (which record the recipients they would deliver to, read
from To/Cc/Bcc as the real services do) and an aiosmtpd upstream.

Cases: (a) the header names an address that is not an envelope recipient
(sendMail, the draft path, Gmail); (b) header and envelope agree: the
message goes out byte for byte with only Message-ID/Date added (Graph and
Gmail); (c) the smtp upstream took one recipient and refused the other with
450, the fallback provider (m365) gets only the refused one; (d) `relayctl
queue requeue` of such a partial entry, routed to m365: only the pending
recipient."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import Upstream, make_relay, send, smtp_provider, wait_sql  # noqa: E402
from m365_common import Pipeline, added_header_names, parse  # noqa: E402
from m365_common import CA_DIR  # noqa: E402
from fake_graph import FakeGraph  # noqa: E402
from relaytest import run_tests, wait_for  # noqa: E402
import gmail_adapter  # noqa: E402

SENDER = "scan@example.com"
TWO = (b"From: Scanner <scan@example.com>\r\nTo: X <x@ext.org>, \"Y, Why\" <y@ext.org>\r\nCc: c@ext.org\r\n"
       b"Subject: two named, one enveloped\r\nMessage-ID: <two@client.test>\r\nDate: Thu, 03 Dec 2026 06:00:00 +0000"
       b"\r\n\r\nbody\r\n")


def lowered(addrs):
    return sorted(a.lower() for a in addrs)


def check_rewritten(mime, to, original_to, original_cc=None):
    m = parse(mime)
    assert lowered(a.addr_spec for a in m["To"].addresses) == to, m["To"]
    assert m["Cc"] is None and m["Bcc"] is None, (m["Cc"], m["Bcc"])
    assert str(m["X-Relay-Original-To"]) == original_to, m["X-Relay-Original-To"]
    if original_cc:
        assert str(m["X-Relay-Original-Cc"]) == original_cc, m["X-Relay-Original-Cc"]
    assert m.get_payload() == "body\r\n" or m.get_content().strip() == "body", m.get_payload()


def test_graph_header_names_someone_outside_the_envelope():
    with Pipeline() as p:
        p.start()
        qid = p.send(SENDER, ["x@ext.org"], TWO)
        s = p.wait_sent(1)[0]
        assert s["via"] == "sendMail"
        assert lowered(s["rcpts"]) == ["x@ext.org"], s["rcpts"]
        check_rewritten(s["mime"], ["x@ext.org"], 'X <x@ext.org>, "Y, Why" <y@ext.org>', "c@ext.org")
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        assert "added=Recipients(rewritten)" in p.log(), "prepared log line names the rewrite"


def test_graph_draft_path_delivers_to_the_envelope_only():
    with Pipeline(prov={"max_mime_size": "1KB"}) as p:  # every message over 1 KB goes through a draft
        p.start()
        p.send(SENDER, ["c@ext.org", "hidden@ext.org"], TWO + b"padding to take the draft path\r\n" * 40)
        s = p.wait_sent(1)[0]
        assert s["via"] == "draft", s["via"]
        assert lowered(s["rcpts"]) == ["c@ext.org", "hidden@ext.org"], s["rcpts"]
        m = parse(s["mime"])
        assert [a.addr_spec for a in m["Cc"].addresses] == ["c@ext.org"], m["Cc"]
        assert [a.addr_spec for a in m["Bcc"].addresses] == ["hidden@ext.org"], m["Bcc"]
        assert m["To"] is None, m["To"]


def test_graph_header_matches_envelope_untouched():
    with Pipeline() as p:
        p.start(dispatcher=False)
        qid = p.send(SENDER, ["X@ext.org", "y@ext.org", "c@EXT.org"], TWO)
        spooled = p.spooled(qid)
        p.r.start_dispatcher()
        s = p.wait_sent(1)[0]
        assert added_header_names(spooled, s["mime"]) == [], "nothing to add: all named, Message-ID and Date present"
        assert s["mime"] == spooled
        assert lowered(s["rcpts"]) == ["c@ext.org", "x@ext.org", "y@ext.org"], s["rcpts"]


def smtp_then_m365(fg, up, retry):
    cfg = {"providers": {"upstream": smtp_provider(up.port), "m365": fg.provider_config(rate_per_minute=0)},
           "default_provider": "upstream", "fallback_provider": "m365",
           "senders": {"allowed": ["@example.com"], "default_sender": "relay@example.com", "policy": "reject"},
           "dispatcher": {"retry": retry}}
    return make_relay(cfg)


def partial_message():
    return (b"From: scan@example.com\r\nTo: a@ext.org, b@ext.org\r\nSubject: partial\r\n"
            b"Message-ID: <partial@client.test>\r\nDate: Thu, 03 Dec 2026 06:00:00 +0000\r\n\r\nbody\r\n")


def test_partial_smtp_then_fallback_to_graph():
    fg = FakeGraph(CA_DIR).start()
    up = Upstream(args=["--refuse-rcpt", "b@ext.org:450"])
    try:
        with smtp_then_m365(fg, up, {"min_backoff": "1s", "max_backoff": "1s"}) as r:
            up.start()
            r.start_receiver()
            r.start_dispatcher()
            qid = send(r.port, SENDER, ["a@ext.org", "b@ext.org"], partial_message())
            # attempts 1-3 on the upstream (a@ taken on the first), the 4th on the fallback
            wait_for(lambda: len(fg.sent) >= 1, 40, interval=0.1, what="the fallback's send at the fake Graph")
            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
            assert [lowered(m["rcpts"]) for m in up.messages()] == [["a@ext.org"]], up.messages()
            assert len(fg.sent) == 1 and lowered(fg.sent[0]["rcpts"]) == ["b@ext.org"], fg.sent
            check_rewritten(fg.sent[0]["mime"], ["b@ext.org"], "a@ext.org, b@ext.org")
            wait_sql(r, f"SELECT provider FROM attempts WHERE queue_id='{qid}' ORDER BY attempt_no DESC LIMIT 1",
                     "m365")
    finally:
        up.stop()
        fg.stop()


def test_requeue_of_a_partial_entry_sends_only_the_pending():
    fg = FakeGraph(CA_DIR).start()
    up = Upstream(args=["--refuse-rcpt", "b@ext.org:450"])
    try:
        with smtp_then_m365(fg, up, {"min_backoff": "1h", "max_backoff": "2h"}) as r:
            up.start()
            r.start_receiver()
            disp = r.start_dispatcher()
            qid = send(r.port, SENDER, ["a@ext.org", "b@ext.org"], partial_message())
            wait_for(lambda: r.spool_entries("deferred") == [qid + ".env"], 20, what="partial entry deferred")
            assert [lowered(m["rcpts"]) for m in up.messages()] == [["a@ext.org"]], up.messages()
            # The operator moves the sender to Graph (reload) and retries now.
            r.cfg["default_provider"] = "m365"
            r.write_config()
            os.kill(disp.pid, signal.SIGHUP)
            wait_for(lambda: "event=reloaded" in r.read_log("dispatcher0"), 10, what="reload")
            r.relayctl("queue", "requeue", qid)
            wait_for(lambda: len(fg.sent) >= 1, 20, interval=0.1, what="the requeued send at the fake Graph")
            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
            assert len(fg.sent) == 1 and lowered(fg.sent[0]["rcpts"]) == ["b@ext.org"], fg.sent
            assert len(up.messages()) == 1
    finally:
        up.stop()
        fg.stop()


def test_gmail_header_names_someone_outside_the_envelope():
    with gmail_adapter.Pipeline() as p:
        p.start()
        p.send(SENDER, ["y@ext.org"], TWO)
        s = p.wait_sent(1)[0]
        assert lowered(s["rcpts"]) == ["y@ext.org"], s["rcpts"]
        check_rewritten(s["raw"], ["y@ext.org"], 'X <x@ext.org>, "Y, Why" <y@ext.org>', "c@ext.org")


def test_gmail_header_matches_envelope_untouched():
    with gmail_adapter.Pipeline() as p:
        p.r.start_receiver()
        qid = p.send(SENDER, ["x@ext.org", "y@ext.org", "c@ext.org", "hidden@ext.org"], TWO)
        spooled = p.spooled(qid)
        p.r.start_dispatcher()
        s = p.wait_sent(1)[0]
        assert added_header_names(spooled, s["raw"]) == ["Bcc"], "only the envelope-only recipient is added"
        assert lowered(s["rcpts"]) == ["c@ext.org", "hidden@ext.org", "x@ext.org", "y@ext.org"], s["rcpts"]


if __name__ == "__main__":
    run_tests([test_graph_header_names_someone_outside_the_envelope, test_graph_draft_path_delivers_to_the_envelope_only,
               test_graph_header_matches_envelope_untouched, test_partial_smtp_then_fallback_to_graph,
               test_requeue_of_a_partial_entry_sends_only_the_pending, test_gmail_header_names_someone_outside_the_envelope,
               test_gmail_header_matches_envelope_untouched])
