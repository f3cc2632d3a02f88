#!/usr/bin/python3
"""Bad-input catalogue for relay-receiver: hostile and broken clients.

Each case sends something wrong, checks the reply (or the close), checks
that nothing unwanted reached the spool, and then that the same receiver
process is still alive and accepts a normal client's message.

SMTP smuggling: every end-of-data lookalike other than CRLF.CRLF is sent
followed by a complete second transaction; the check is that no second
message (the smuggled recipient/body) was spooled, whatever the receiver
chose (refuse with 550 5.5.2 or normalise).
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from receiver_common import (Smtp, assert_serves, ctx, entry, env_rcpts, expect, make_relay,  # noqa: E402
                             simple_message, split_received, spool_ids, start, wait_for)
from relaytest import run_tests  # noqa: E402


def alive(r, proc, what):
    assert proc.poll() is None, f"receiver died after: {what} (exit {proc.returncode})"
    assert_serves(r, what=f"normal client after: {what}")


def new_since(r, before):
    return [q for q in spool_ids(r) if q not in before]


def test_overlong_command_lines():
    with make_relay() as r:
        proc = start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            c.send("NOOP " + "a" * 10000 + "\r\n")
            expect(c.reply(), 500, "5.5.2", "10 KB command line")
            expect(c.cmd("NOOP"), 250, what="after 10 KB line")
        # 1 MB without any line end: the server must answer or close, not buffer forever
        with Smtp(r.port) as c:
            c.ehlo()
            try:
                c.send(b"MAIL FROM:<" + b"x" * (1 << 20))
                c.send(b">\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            rep = c.try_reply(5)
            assert rep is None or rep.code in (421, 500), f"1 MB command line: {rep}"
            if rep is not None and rep.code == 500:
                expect(c.cmd("NOOP"), 250, what="after the 1 MB line")
        alive(r, proc, "overlong command lines")


def test_overlong_text_line():
    with make_relay() as r:
        proc = start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
            expect(c.cmd("RCPT TO:<b@example.com>"), 250)
            expect(c.cmd("DATA"), 354)
            c.send(b"Subject: x\r\n\r\n" + b"L" * 200000 + b"\r\nmore\r\n.\r\n")
            expect(c.reply(), 5, what="200 KB text line")
            expect(c.cmd("NOOP"), 250, what="session after refused DATA")
        assert spool_ids(r) == []
        alive(r, proc, "overlong text line")


def test_nul_bytes():
    with make_relay() as r:
        proc = start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("NO\0OP"), 5, what="NUL inside a command verb")
            expect(c.cmd("MAIL FROM:<a\0b@example.com>"), 5, what="NUL inside an address")
            expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
            expect(c.cmd("RCPT TO:<b@example.com>\0RCPT TO:<evil@example.com>"), 5, what="NUL-joined commands")
            expect(c.cmd("RCPT TO:<b@example.com>"), 250)
            expect(c.cmd("DATA"), 354)
            body = b"Subject: nul\r\n\r\nbefore\0after\r\n"
            c.send(body + b".\r\n")
            rep = c.reply()
            assert rep.code == 250 or rep.code // 100 == 5, f"NUL in body: {rep}"
        ids = spool_ids(r)
        if rep.code == 250:
            fields, data = entry(r, rep.qid())
            assert env_rcpts(fields) == ["b@example.com"], fields
            assert split_received(data)[1] == body, "NUL body not stored byte for byte"
        else:
            assert ids == [], ids
        alive(r, proc, "NUL bytes")


def test_commands_out_of_order_and_unknown():
    with make_relay({"receiver": {"limits": {"max_bad_commands": 100}}}) as r:
        proc = start(r)
        with Smtp(r.port) as c:
            expect(c.cmd("MAIL FROM:<a@example.com>"), 503, "5.5.1", "MAIL before EHLO")
            c.ehlo()
            expect(c.cmd("RCPT TO:<b@example.com>"), 503, "5.5.1", "RCPT before MAIL")
            expect(c.cmd("DATA"), 503, "5.5.1", "DATA before MAIL")
            # the chunk's 10 octets are consumed (RFC 3030) and refused
            c.send(b"BDAT 10 LAST\r\nRCPT TO:<x")  # 10 octets of chunk that look like a command
            expect(c.reply(), 503, "5.5.1", "BDAT before MAIL")
            expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
            expect(c.cmd("MAIL FROM:<a@example.com>"), 503, "5.5.1", "nested MAIL")
            rep = c.cmd("DATA")
            assert rep.code in (503, 554) and rep.enh.startswith("5.5."), f"DATA without RCPT: {rep}"
            expect(c.cmd("STARTTLS"), 5, what="STARTTLS on a listener without TLS")
            for bad in ("XYZZY", "MAIL", "RCPT", "MAIL TO:<x@example.com>", "RCPT TO:b@",
                        "EHLO", "HELO", "AUTH PLAIN", "\x01\x02\x03", "TURN", "ETRN x"):
                rep = c.cmd(bad)
                assert rep.code in (500, 501, 502, 503, 504, 555), f"{bad!r} -> {rep}"
                assert rep.enh.startswith("5."), f"{bad!r}: no enhanced code in {rep}"
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<a@example.com> FOO=BAR"), 555, what="unknown MAIL parameter")
            expect(c.cmd("MAIL FROM:<a@example.com> SIZE=abc"), 501, what="malformed SIZE")
            rep = c.cmd("MAIL FROM:a@example.com")  # RFC 5321 wants <>; lenient servers take it
            assert rep.code in (250, 501), f"MAIL without <>: {rep}"
        assert spool_ids(r) == []
        alive(r, proc, "commands out of order")


def _pump_replies(c, n, out):
    for _ in range(n):
        out.append(c.reply(20))


def test_thousand_recipients():
    with make_relay() as r:  # default max_recipients 100
        proc = start(r)
        with Smtp(r.port, timeout=30) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
            replies = []
            t = threading.Thread(target=_pump_replies, args=(c, 1000, replies))
            t.start()
            c.send("".join(f"RCPT TO:<r{i}@example.com>\r\n" for i in range(1000)))
            t.join(30)
            assert len(replies) == 1000, f"only {len(replies)} RCPT replies"
            codes = [x.code for x in replies]
            assert codes[:100] == [250] * 100, codes[:100]
            assert all(x.code == 452 and x.enh == "4.5.3" for x in replies[100:]), replies[100]
            expect(c.cmd("DATA"), 354)
            c.send(simple_message("thousand") + b".\r\n")
            rep = expect(c.reply(), 250)
        rcpts = env_rcpts(entry(r, rep.qid())[0])
        assert rcpts == [f"r{i}@example.com" for i in range(100)], len(rcpts)
        alive(r, proc, "1000 recipients")


def test_oversized_declared_and_undeclared():
    with make_relay({"receiver": {"limits": {"max_message_size": "1MB"}}}) as r:
        proc = start(r)
        with Smtp(r.port, timeout=30) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<a@example.com> SIZE=9999999999999999999"), 552, "5.3.4", "19-digit SIZE=")
            rep = c.cmd("MAIL FROM:<a@example.com> SIZE=99999999999999999999999")
            assert rep.code in (501, 552), f"23-digit SIZE= (overflow): {rep}"
            expect(c.cmd("MAIL FROM:<a@example.com> SIZE=2000000"), 552, "5.3.4", "SIZE= 2 MB")
            expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
            expect(c.cmd("RCPT TO:<b@example.com>"), 250)
            expect(c.cmd("DATA"), 354)
            chunk = (b"0123456789" * 7 + b"\r\n") * 1000
            for _ in range(80):  # ~5.7 MB
                c.send(chunk)
            c.send(b".\r\n")
            expect(c.reply(), 552, "5.3.4", "undeclared 5.7 MB")
            # lying SIZE: declared small, sent large
            expect(c.cmd("MAIL FROM:<a@example.com> SIZE=100"), 250)
            expect(c.cmd("RCPT TO:<b@example.com>"), 250)
            expect(c.cmd("DATA"), 354)
            for _ in range(20):
                c.send(chunk)
            c.send(b".\r\n")
            expect(c.reply(), 552, "5.3.4", "SIZE=100 but 1.4 MB sent")
        assert spool_ids(r) == []
        # tmp/ may hold pre-created empty entries (the receiver's entry pool),
        # but no refused bytes; after a clean stop it is empty.
        tmp = os.path.join(r.spool, "tmp")

        def tmp_sizes():
            return {f: os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp)}
        try:  # the rollback may run on a worker thread just after the reply
            wait_for(lambda: not any(tmp_sizes().values()), 30, what="no data in tmp/")
        except AssertionError:
            raise AssertionError(f"refused messages left data in tmp/: {tmp_sizes()}") from None
        alive(r, proc, "oversized messages")
        r.stop()
        assert proc.returncode == 0, f"exit {proc.returncode} after SIGTERM"
        assert os.listdir(tmp) == [], f"tmp/ not empty after a clean stop: {tmp_sizes()}"


SMUGGLE_VARIANTS = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\n", b"\r\n.\r", b"\n.\r", b"\r.\n", b"\r.\r\n",
                    b"\r\n.\r\r\n", b"\r\n.\n\r\n", b"\n.\n\r\n", b"\r\n\x00.\r\n"]


def test_smuggling_variants():
    with make_relay() as r:
        proc = start(r)
        for v in SMUGGLE_VARIANTS:
            before = spool_ids(r)
            c = Smtp(r.port)
            try:
                c.ehlo()
                expect(c.cmd("MAIL FROM:<legit@example.com>"), 250)
                expect(c.cmd("RCPT TO:<legit-rcpt@example.com>"), 250)
                expect(c.cmd("DATA"), 354)
                c.send(b"Subject: legit\r\n\r\nfirst part" + v +
                       b"MAIL FROM:<smuggler@evil.test>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
                       b"From: ceo@example.com\r\nSubject: smuggled\r\n\r\nSMUGGLED-BODY\r\n.\r\n")
                time.sleep(0.2)
                try:
                    c.send(b"QUIT\r\n")
                except OSError:
                    pass
                replies = c.all_replies(3)
            finally:
                c.close()
            new = new_since(r, before)
            assert len(new) <= 1, f"variant {v!r}: {len(new)} messages spooled (smuggled!) replies={replies}"
            for q in new:
                fields, data = entry(r, q)
                assert env_rcpts(fields) == ["legit-rcpt@example.com"], f"variant {v!r}: rcpts {fields}"
                body = split_received(data)[1]
                assert body.startswith(b"Subject: legit"), f"variant {v!r}: spooled {body[:80]!r}"
            ok = [x for x in replies if x.code == 250]
            assert len(ok) <= 1, f"variant {v!r}: server said 250 to the smuggled transaction: {replies}"
            bad = [x for x in replies if x.code // 100 == 5]
            assert new or bad, f"variant {v!r}: nothing spooled and no refusal: {replies}"
            bare = v.replace(b"\r\n", b"")
            if bad and not new and (b"\r" in bare or b"\n" in bare):
                assert any(x.code == 550 and x.enh == "5.5.2" for x in bad), \
                    f"variant {v!r}: bare CR/LF refused without 550 5.5.2: {bad}"
            assert proc.poll() is None, f"receiver died on variant {v!r}"
        alive(r, proc, "smuggling variants")


def test_pipelined_before_starttls_discarded():
    with make_relay(extra_listeners=["starttls"]) as r:
        proc = start(r)
        port = r.ports["starttls"]
        with Smtp(port) as c:
            c.ehlo()
            c.send(b"STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\nRCPT TO:<victim@example.com>\r\n")
            rep = c.reply()
            if rep.code == 220:
                c.sock.settimeout(0.5)
                try:
                    c.buf += c.sock.recv(4096, socket.MSG_PEEK)
                except socket.timeout:
                    pass
                assert c.buf == b"", f"server answered the injected commands in clear: {c.buf!r}"
                c.sock = ctx(r).wrap_socket(c.sock, server_hostname="localhost")
                e = c.ehlo()  # the first reply inside TLS must be the EHLO reply
                assert e.lines[0].startswith("relay.test") or "relay.test" in e.text, e
                expect(c.cmd("RCPT TO:<victim@example.com>"), 503, "5.5.1", "injected MAIL must be discarded")
                expect(c.cmd("DATA"), 503, what="no transaction after STARTTLS")
            else:
                expect(rep, 5, what="STARTTLS with pipelined data")
        # STARTTLS followed by a TLS ClientHello already pipelined is legal; the
        # cleartext-injection check above is what matters. A normal TLS session:
        with Smtp(port) as c:
            c.ehlo()
            c.starttls(ctx(r))
            c.ehlo()
            expect(c.send_mail("a@example.com", ["b@example.com"], simple_message("tls-ok")), 250)
        assert not any("victim@example.com" in env_rcpts(entry(r, q)[0]) for q in spool_ids(r))
        alive(r, proc, "pipelined before STARTTLS")


def test_garbage_instead_of_tls():
    with make_relay({"receiver": {"limits": {"idle_timeout": "3s"}}}, extra_listeners=["starttls", "implicit"]) as r:
        proc = start(r)
        garbage = [os.urandom(3000), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello",
                   b"\x16\x03\x01\xff\xff" + b"\x00" * 100]
        for g in garbage:
            s = socket.create_connection(("127.0.0.1", r.ports["implicit"]), 5)
            try:
                s.sendall(g)
            except OSError:
                pass
            c = Smtp.__new__(Smtp)
            c.sock, c.buf = s, b""
            assert c.closed_by_server(6), f"implicit port kept a connection open after garbage {g[:16]!r}"
            s.close()
            with Smtp(r.ports["starttls"]) as c:
                c.ehlo()
                expect(c.cmd("STARTTLS"), 220)
                c.send(g)
                assert c.closed_by_server(6), f"STARTTLS connection open after garbage {g[:16]!r}"
            assert proc.poll() is None, f"receiver died on garbage {g[:16]!r}"
        # a TLS connection that never sends a ClientHello is timed out
        s = socket.create_connection(("127.0.0.1", r.ports["implicit"]), 5)
        c = Smtp.__new__(Smtp)
        c.sock, c.buf = s, b""
        t0 = time.time()
        assert c.closed_by_server(8), "silent client on the implicit port never timed out"
        assert time.time() - t0 < 7, "silent TLS client held beyond idle timeout"
        s.close()
        # TLS clients and plain clients are still served
        with Smtp(r.ports["implicit"], implicit=ctx(r)) as c:
            expect(c.greeting, 220)
            c.ehlo()
            expect(c.send_mail("a@example.com", ["b@example.com"], simple_message("tls-after-garbage")), 250)
        alive(r, proc, "garbage instead of TLS")


def test_silent_client_idle_timeout():
    with make_relay({"receiver": {"limits": {"idle_timeout": "2s", "data_timeout": "5s"}}}) as r:
        proc = start(r)
        c = Smtp(r.port)
        t0 = time.time()
        rep = c.try_reply(8)
        expect(rep, 421, "4.4.2", "silent client")
        # checked by a 1 s sweep: due 2-3 s after connect; slack for a loaded machine
        assert time.time() - t0 < 6, f"idle timeout after {time.time() - t0:.1f}s"
        assert c.closed_by_server(2)
        c.close()
        # silent in the middle of DATA is bounded as well
        c = Smtp(r.port)
        c.ehlo()
        expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
        expect(c.cmd("RCPT TO:<b@example.com>"), 250)
        expect(c.cmd("DATA"), 354)
        c.send(b"Subject: half\r\n\r\nhalf a mess")
        assert c.closed_by_server(12), "silent client inside DATA never timed out"
        c.close()
        assert spool_ids(r) == []
        alive(r, proc, "silent clients")


def test_trickling_client():
    with make_relay({"receiver": {"limits": {"idle_timeout": "2s", "data_timeout": "3s"}}}) as r:
        proc = start(r)
        stop = threading.Event()
        closed_at = []

        def trickle(payload):
            s = socket.create_connection(("127.0.0.1", r.port), 5)
            s.recv(1000)
            t0 = time.time()
            try:
                for b in payload:
                    if stop.is_set():
                        break
                    s.sendall(bytes([b]))
                    time.sleep(1.0)
                    s.settimeout(0.01)
                    try:
                        if s.recv(4096) == b"":
                            break
                    except socket.timeout:
                        pass
            except OSError:
                pass
            closed_at.append(time.time() - t0)
            s.close()

        # one byte a second through the commands and into DATA
        head = b"EHLO t\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
        threads = [threading.Thread(target=trickle, args=(head + b"x" * 100,)) for _ in range(3)]
        for t in threads:
            t.start()
        t_serve = time.time()
        for _ in range(3):
            assert_serves(r, what="normal client while tricklers are connected")
        # three fsync'd deliveries; a receiver held up by the tricklers would take over a minute
        assert time.time() - t_serve < 10, "normal clients slowed down by trickling clients"
        time.sleep(4)
        assert proc.poll() is None
        # DATA phase trickling: the transfer is bounded by data_timeout
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
            expect(c.cmd("RCPT TO:<b@example.com>"), 250)
            expect(c.cmd("DATA"), 354)
            t0 = time.time()
            gone = False
            while time.time() - t0 < 9:
                try:
                    c.send(b"y")
                except OSError:
                    gone = True
                    break
                if c.closed_by_server(1.0):
                    gone = True
                    break
            assert gone, "a client trickling DATA at 1 byte/s outlived data_timeout=3s by 6s"
        stop.set()
        for t in threads:
            t.join(10)
        assert spool_ids(r) and all(b"alive" in entry(r, q)[1] for q in spool_ids(r)), \
            "a trickled message was spooled"
        alive(r, proc, "trickling clients")


def test_connection_flood_over_limits():
    with make_relay({"receiver": {"limits": {"max_connections": 50, "max_connections_per_ip": 40}}}) as r:
        proc = start(r)
        socks, greetings = [], []
        for i in range(120):
            try:
                c = Smtp(r.port, source="127.0.0.%d" % (1 + i % 3), timeout=5)
                socks.append(c)
                greetings.append(c.greeting.code)
            except (OSError, EOFError):
                greetings.append(None)
        ok = greetings.count(220)
        assert ok == 50, f"{ok} connections greeted with 220 (limit 50): {greetings}"
        refused = [c.greeting for c in socks if c.greeting.code != 220]
        assert refused and all(x.code == 421 and x.enh == "4.7.0" for x in refused), refused[:3]
        assert proc.poll() is None
        for c in socks:
            c.close()
        deadline = time.time() + 5
        while True:
            try:
                assert_serves(r)
                break
            except (AssertionError, OSError):
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        alive(r, proc, "connection flood")


if __name__ == "__main__":
    run_tests([test_overlong_command_lines, test_overlong_text_line, test_nul_bytes,
               test_commands_out_of_order_and_unknown, test_thousand_recipients, test_oversized_declared_and_undeclared,
               test_smuggling_variants, test_pipelined_before_starttls_discarded, test_garbage_instead_of_tls,
               test_silent_client_idle_timeout, test_trickling_client, test_connection_flood_over_limits])
