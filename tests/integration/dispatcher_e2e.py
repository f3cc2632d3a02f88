#!/usr/bin/python3
"""End to end with the outbox provider: real receiver + dispatcher + real
PostgreSQL. Plain delivery (one row per message, one attempt each,
heartbeats), multipart/binary attachments byte for byte, SIGTERM exits 0."""
import base64
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import (make_relay, message, scalar, send, spool_empty, sql, wait_for,  # noqa: E402
                               wait_sql)
from relaytest import run_tests  # noqa: E402


def split_received(data):
    """The receiver prepends one Received: header (possibly folded)."""
    assert data.startswith(b"Received:"), data[:80]
    i = 0
    while True:
        j = data.index(b"\r\n", i)
        if data[j + 2:j + 3] not in (b" ", b"\t"):
            return data[j + 2:]
        i = j + 2


def test_plain_delivery():
    with make_relay() as r:
        r.start_receiver()
        r.start_dispatcher()
        ids = [send(r.port, "app@example.com", ["to@example.org", "cc@example.org"],
                    message("app@example.com", ["to@example.org"], f"plain {i}")) for i in range(5)]
        wait_for(lambda: len(r.outbox_files()) == 5, 20, what="5 outbox files")
        names = sorted(os.path.basename(f)[:-4] for f in r.outbox_files())
        assert names == sorted(ids), (names, ids)
        wait_for(lambda: spool_empty(r), 10, what="empty spool")
        wait_sql(r, "SELECT count(*) FROM messages WHERE status='sent'", 5)
        rows = sql(r, "SELECT queue_id, mail_from, header_from, subject, provider, attempts, array_length(rcpts,1),"
                      " first_attempt_at IS NOT NULL, finished_at >= received_at FROM messages ORDER BY queue_id")
        assert [x[0] for x in rows] == sorted(ids)
        for x in rows:
            assert x[1:3] == ["app@example.com", "app@example.com"], x
            assert x[3].startswith("plain "), x
            assert x[4:] == ["outbox", "1", "2", "t", "t"], x
        assert scalar(r, "SELECT count(*) FROM attempts WHERE outcome='sent' AND provider='outbox'") == "5"
        assert scalar(r, "SELECT count(DISTINCT queue_id) FROM attempts") == "5"
        wait_sql(r, "SELECT count(*) FROM heartbeats WHERE kind='dispatcher'", 1)
        assert scalar(r, "SELECT sent FROM stats_totals") == "5"


def test_attachments_byte_for_byte():
    with make_relay() as r:
        r.start_receiver()
        r.start_dispatcher()
        blob = os.urandom(300_000)
        b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
        body = (b"From: =?UTF-8?Q?J=C3=BCrgen?= <scanner@example.com>\r\nTo: <to@example.org>\r\n"
                b"Subject: =?UTF-8?B?U2NhbiBHcsO8w59l?=\r\nMessage-ID: <scan-1@client.test>\r\nMIME-Version: 1.0\r\n"
                b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n"
                b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                b"Gr\xc3\xbc\xc3\x9fe, line with trailing spaces   \r\n.leading dot\r\n..two dots\r\n\r\n"
                b"--b1\r\nContent-Type: application/pdf; name=scan.pdf\r\nContent-Disposition: attachment; "
                b"filename=scan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 +
                b"--b1\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=x.png\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b1--\r\nepilogue\r\n")
        qid = send(r.port, "scanner@example.com", ["to@example.org"], body)
        wait_for(lambda: len(r.outbox_files()) == 1, 20, what="outbox file")
        with open(r.outbox_files()[0], "rb") as f:
            got = f.read()
        assert split_received(got) == body, "outbox bytes differ from what was sent"
        wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        row = sql(r, f"SELECT header_from, subject, size > 300000 FROM messages WHERE queue_id='{qid}'")[0]
        assert row == ["scanner@example.com", "Scan Grüße", "t"], row


def test_sigterm_exits_zero():
    with make_relay() as r:
        r.start_receiver()
        d = r.start_dispatcher()
        send(r.port, "app@example.com", ["to@example.org"], message("app@example.com", ["to@example.org"], "x"))
        wait_for(lambda: len(r.outbox_files()) == 1, 20, what="outbox file")
        os.killpg(d.pid, signal.SIGHUP)  # reload keeps running
        # The reload is asynchronous: a SIGTERM right behind it may stop the
        # process first (seen under ASan), so wait for its line.
        wait_for(lambda: "event=reloaded" in r.read_log("dispatcher0"), 15, what="event=reloaded")
        assert d.poll() is None, "the dispatcher exited on SIGHUP"
        os.killpg(d.pid, signal.SIGTERM)
        assert d.wait(15) == 0, r.read_log("dispatcher0")[-2000:]
        assert "event=stopped" in r.read_log("dispatcher0")


if __name__ == "__main__":
    run_tests([test_plain_delivery, test_attachments_byte_for_byte, test_sigterm_exits_zero])
