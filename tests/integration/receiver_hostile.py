#!/usr/bin/python3
"""Hostile clients against relay-receiver (issue 9 items 1, 4, 5, 6, 7, 8).

Each case runs the attack with real sockets, checks the reply (or the
close), the log line that names the reason and that nothing reached the
spool, and then that legitimate mail from the same client still passes.
test_hostile_crowd_rss runs 100 attackers at once (header floods, replies
never read, slow drips) while a well-behaved client keeps sending, and
prints the receiver's RSS (must stay under 64 MB).
"""
import base64
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from receiver_common import (Smtp, assert_serves, ctx, expect, hash_password, make_relay,  # noqa: E402
                             simple_message, smtplib_send, spool_ids, start, wait_for)
from relaytest import run_tests  # noqa: E402


def sanitized_receiver():
    """ASan reserves shadow memory and keeps freed blocks in a quarantine
    (hundreds of MB), so RSS bounds say nothing about an instrumented
    receiver: there the figures are printed and only the behaviour is
    asserted. The plain build (contrib/test.sh's first stage) asserts them."""
    import relaytest
    with open(relaytest.RECEIVER, "rb") as f:
        return b"__asan_init" in f.read()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def log_count(r, needle):
    return r.read_log("receiver").count(needle)


def wait_log(r, needle, timeout=10, what=None):
    wait_for(lambda: needle in r.read_log("receiver"), timeout, what=what or f"log line {needle!r}")


def quiet(c, timeout=0.5):
    """True when the server sends nothing more within timeout (connection still open)."""
    try:
        c.sock.settimeout(timeout)
        data = c.sock.recv(65536)
        c.buf += data
        return False
    except socket.timeout:
        return c.buf == b""


def raw_conn(port, source=None):
    s = socket.create_connection(("127.0.0.1", port), 5, source_address=(source, 0) if source else None)
    return s


# ------------------------------------------------------------------ item 1

def smuggling_chunk(size=70000):
    tail = (b"\r\nRSET\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n"
            b"From: ceo@example.com\r\nSubject: smuggled\r\n\r\nwire money\r\n.\r\nQUIT\r\n")
    return b"x" * (size - len(tail)) + tail


def test_refused_bdat_chunk_is_data():
    with make_relay() as r:
        proc = start(r)
        chunk = smuggling_chunk()
        for setup in ("none", "mail"):
            for last in (b"", b" LAST"):
                with Smtp(r.port) as c:
                    c.ehlo()
                    if setup == "mail":
                        expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
                    wire = b"BDAT %d%s\r\n" % (len(chunk), last) + chunk + b"NOOP\r\n"
                    for i in range(0, len(wire), 9000):  # several reads, no waiting (RFC 3030 senders)
                        c.send(wire[i:i + 9000])
                        time.sleep(0.01)
                    expect(c.reply(), 503, "5.5.1", f"refused BDAT ({setup}{last.decode()})")
                    expect(c.reply(), 250, "2.0.0", "the NOOP after the chunk")
                    assert quiet(c), f"extra replies after a refused BDAT: {c.buf[:200]!r}"
                    if setup == "mail":
                        expect(c.cmd("RSET"), 250)
                    rep = c.send_mail("a@example.com", ["b@example.org"], simple_message("after-bdat"))
                    expect(rep, 250, what="legitimate mail on the same connection")
        ids = spool_ids(r)
        assert len(ids) == 4, f"expected only the 4 legitimate messages, got {ids}"
        for q in ids:
            with open(r.spool_path("data", q, ".eml"), "rb") as f:
                assert b"wire money" not in f.read(), f"{q}: smuggled message queued"
        assert log_count(r, "reason=bdat_out_of_sequence") == 4
        assert proc.poll() is None


# ------------------------------------------------------------------ item 7

def test_cross_protocol_and_bare_lf():
    with make_relay() as r:
        proc = start(r)
        for req in (b"GET / HTTP/1.1\r\nHost: relay.test\r\nUser-Agent: x\r\n\r\n",
                    b"POST /submit HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                    b"CONNECT mail.example.com:25 HTTP/1.1\r\n\r\n",
                    b"Host: relay.test\r\n", b"User-Agent: curl/8.0\r\n"):
            with Smtp(r.port) as c:
                c.send(req)
                rep = c.try_reply(5)
                expect(rep, 554, "5.5.1", f"non-SMTP {req[:20]!r}")
                assert c.closed_by_server(3), f"connection left open after {req[:20]!r}"
                assert c.buf == b"", f"more than one reply: {c.buf!r}"
        assert log_count(r, "reason=non_smtp_command") == 5
        with Smtp(r.port) as c:
            c.ehlo()
            c.send(b"MAIL FROM:<a@example.com>\n")
            expect(c.reply(), 500, "5.5.2", "bare LF command line")
            expect(c.cmd("RCPT TO:<b@example.org>"), 503, "5.5.1", "the bare-LF MAIL was not executed")
            c.send(b"NOOP\rMAIL FROM:<evil@example.com>\r\n")
            expect(c.reply(), 500, "5.5.2", "bare CR inside a command line")
            rep = c.send_mail("a@example.com", ["b@example.org"], simple_message("after-lf"))
            expect(rep, 250, what="legitimate mail after bare LF")
        wait_log(r, "reason=bare_lf_in_command")
        assert proc.poll() is None
        assert_serves(r)


# ------------------------------------------------------------------ item 4

def _flood_no_read(port, payload, result, source=None):
    s = raw_conn(port, source)
    s.settimeout(30)
    sent = 0
    try:
        for i in range(0, len(payload), 65536):
            s.sendall(payload[i:i + 65536])
            sent += min(65536, len(payload) - i)
    except OSError as e:
        result.append(("closed", sent, str(e)))
        s.close()
        return
    # never read; wait for the server to give up on us
    try:
        s.settimeout(20)
        while s.recv(1 << 20):  # reading now only to see the close
            pass
        result.append(("closed", sent, "eof"))
    except OSError as e:
        result.append(("closed" if not isinstance(e, socket.timeout) else "open", sent, str(e)))
    s.close()


def test_replies_never_read():
    with make_relay({"receiver": {"limits": {"command_timeout": "3s"}}}) as r:
        proc = start(r)
        time.sleep(0.3)
        base = rss_kb(proc.pid)
        # 6 MB of pipelined RCPTs past max_recipients, replies never read (each
        # one a 452, neither an error nor a junk command such as HELP/NOOP,
        # which the junk-command limit would close first)
        rcpt = b"RCPT TO:<b@example.org>\r\n"
        payload = b"EHLO x\r\nMAIL FROM:<a@example.com>\r\n" + rcpt * ((6 << 20) // len(rcpt))
        result = []
        t = threading.Thread(target=_flood_no_read, args=(r.port, payload, result))
        t.start()
        peak = base
        t0 = time.time()
        while t.is_alive() and time.time() - t0 < 25:
            peak = max(peak, rss_kb(proc.pid))
            time.sleep(0.05)
        t.join(5)
        growth = (peak - base) / 1024
        print(f"  never-read RCPT pipeline: RSS {base / 1024:.1f} MB -> peak {peak / 1024:.1f} MB "
              f"(+{growth:.1f} MB), client sent {result[0][1] if result else '?'} bytes", flush=True)
        assert result and result[0][0] == "closed", f"never-reading client not closed: {result}"
        assert result[0][1] < len(payload), "the server read all 6 MB of a client that reads nothing"
        assert sanitized_receiver() or growth < 8, f"receiver grew {growth:.1f} MB for a client that never reads"
        wait_log(r, "phase=output reason=replies_not_read")
        # a client that does read its replies gets all of them
        with Smtp(r.port, timeout=20) as c:
            c.ehlo()
            n = 3000
            c.send(b"MAIL FROM:<a@example.com>\r\n" + b"RCPT TO:<b@example.org>\r\n" * n + b"RSET\r\n")
            got = [c.reply().code for _ in range(n + 2)]
            assert got == [250] * 101 + [452] * (n - 100) + [250], "pipelined RCPTs not all answered"
            rep = c.send_mail("a@example.com", ["b@example.org"], simple_message("reader"))
            expect(rep, 250, what="mail after a 3000-command pipeline")
        assert proc.poll() is None
        assert_serves(r)


# ------------------------------------------------------------------ item 5

def _drip(sock, data, interval, stop):
    for b in data:
        if stop.is_set():
            return
        try:
            sock.sendall(bytes([b]))
        except OSError:
            return
        time.sleep(interval)


def test_slow_drip_deadlines():
    limits = {"command_timeout": "3s", "min_data_rate": "1000", "tls_handshake_timeout": "2s",
              "idle_timeout": "60s", "data_timeout": "60s"}
    with make_relay({"receiver": {"limits": limits}}, extra_listeners=["implicit", "starttls"]) as r:
        proc = start(r)
        stop = threading.Event()
        # a never-ending command line, one byte every 0.3 s (each byte used to restart the idle timer)
        c = Smtp(r.port)
        c.ehlo()
        t0 = time.time()
        th = threading.Thread(target=_drip, args=(c.sock, b"NOOP " + b"a" * 400, 0.3, stop), daemon=True)
        th.start()
        rep = c.try_reply(15)
        took = time.time() - t0
        expect(rep, 421, "4.4.2", "slow command line")
        assert "command deadline" in rep.text, rep
        assert 2.5 <= took <= 12, f"command deadline fired after {took:.1f}s (limit 3s)"
        assert c.closed_by_server(3)
        c.close()
        wait_log(r, "phase=command reason=command_deadline")
        # DATA at ~3 bytes/s with min_data_rate 1000 B/s
        c = Smtp(r.port)
        c.ehlo()
        expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
        expect(c.cmd("RCPT TO:<b@example.org>"), 250)
        expect(c.cmd("DATA"), 354)
        t0 = time.time()
        th = threading.Thread(target=_drip, args=(c.sock, b"Subject: slow\r\n" + b"d" * 1000, 0.3, stop),
                              daemon=True)
        th.start()
        rep = c.try_reply(15)
        took = time.time() - t0
        expect(rep, 421, "4.4.2", "slow DATA")
        assert "data rate" in rep.text, rep
        assert took <= 12, f"min data rate fired after {took:.1f}s"
        c.close()
        wait_log(r, "phase=data reason=min_data_rate")
        # a TLS handshake dripped byte by byte on the implicit port
        s = raw_conn(r.ports["implicit"])
        t0 = time.time()
        th = threading.Thread(target=_drip, args=(s, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 500,
                                                   0.3, stop), daemon=True)
        th.start()
        s.settimeout(15)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        took = time.time() - t0
        assert took <= 12, f"dripped TLS handshake kept open {took:.1f}s (limit 2s)"
        s.close()
        wait_log(r, "phase=tls_handshake")
        # the same after STARTTLS
        with Smtp(r.ports["starttls"]) as c:
            c.ehlo()
            expect(c.cmd("STARTTLS"), 220)
            t0 = time.time()
            th = threading.Thread(target=_drip, args=(c.sock, b"\x16\x03\x01\x02\x00" + b"\x00" * 500, 0.3, stop),
                                  daemon=True)
            th.start()
            assert c.closed_by_server(15), "dripped STARTTLS handshake kept open"
            took = time.time() - t0
            assert took <= 12, f"dripped STARTTLS handshake kept open {took:.1f}s (limit 2s)"
        wait_for(lambda: log_count(r, "phase=tls_handshake") >= 2, 30, what="second tls_handshake timeout")
        stop.set()
        # a normal (fast) client is not affected; also over implicit TLS
        assert_serves(r)
        code, text, qid = smtplib_send(r.ports["implicit"], "tls-ok", implicit=ctx(r))
        assert code == 250 and qid, (code, text)
        code, text, qid = smtplib_send(r.ports["starttls"], "starttls-ok", tls=ctx(r))
        assert code == 250 and qid, (code, text)
        assert proc.poll() is None


# ------------------------------------------------------------------ item 6

def _auth_plain(user, pw):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()


def _auth_try(port, user, pw, out, source=None, barrier=None):
    try:
        with Smtp(port, source=source, timeout=30) as c:
            c.ehlo()
            if barrier:
                barrier.wait(10)
            c.send(f"AUTH PLAIN {_auth_plain(user, pw)}\r\n")
            rep = c.try_reply(30)
            out.append(rep.code if rep else None)
    except Exception as e:  # noqa: BLE001
        out.append(repr(e))


def test_parallel_auth_guessing():
    users = [{"name": "scanner1", "password_hash": hash_password("right-pw")}]
    limits = {"max_auth_failures_per_ip": 3, "auth_failure_window": "6s", "max_connections_per_ip": 200}
    with make_relay({"receiver": {"auth": "optional", "users": users, "limits": limits}}) as r:
        proc = start(r)
        n = 40
        out = []
        barrier = threading.Barrier(n)
        ths = [threading.Thread(target=_auth_try, args=(r.port, "scanner1", f"guess{i}", out, "127.0.0.7", barrier))
               for i in range(n)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(60)
        verified = log_count(r, "event=auth result=failed")
        print(f"  {n} parallel guesses: replies {sorted(map(str, out))[:3]}..., passwords verified: {verified}",
              flush=True)
        assert len(out) == n and all(x in (535, 421) for x in out), out
        assert verified <= 3, f"{verified} guesses verified (limit 3 per window)"
        assert out.count(535) <= n and out.count(421) + out.count(535) == n
        # the same client is throttled now; another client logs in and sends
        with Smtp(r.port, source="127.0.0.7") as c:
            c.ehlo()
            expect(c.cmd(f"AUTH PLAIN {_auth_plain('scanner1', 'right-pw')}"), 421, "4.7.0", "throttled client")
        code, text, qid = smtplib_send(r.port, "other-ip", login=("scanner1", "right-pw"), source="127.0.0.8")
        assert code == 250 and qid, (code, text)
        # parallel legitimate logins from one address are serialized, not refused
        ok = []
        ths = [threading.Thread(target=_auth_try, args=(r.port, "scanner1", "right-pw", ok, "127.0.0.9"))
               for _ in range(10)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(60)
        assert ok == [235] * 10, f"parallel good logins: {ok}"
        # after the window the throttled address may log in again
        time.sleep(6.5)
        code, text, qid = smtplib_send(r.port, "after-window", login=("scanner1", "right-pw"), source="127.0.0.7")
        assert code == 250 and qid, (code, text)
        assert proc.poll() is None


# ------------------------------------------------------------------ item 8

def test_connection_rate():
    with make_relay({"receiver": {"limits": {"max_connection_rate": 5}}}) as r:
        proc = start(r)
        codes = []
        for _ in range(8):
            with Smtp(r.port, source="127.0.0.20") as c:
                codes.append((c.greeting.code, c.greeting.enh))
        assert codes[:5] == [(220, "")] * 5, codes
        assert codes[5:] == [(421, "4.7.0")] * 3, codes
        wait_log(r, "reason=max_connection_rate")
        # another client is not affected
        code, text, qid = smtplib_send(r.port, "rate-other", source="127.0.0.21")
        assert code == 250 and qid, (code, text)
        assert proc.poll() is None


# -------------------------------------------------------------- RSS check

def _header_flood(port, stop, stats):
    try:
        with Smtp(port, timeout=30) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
            expect(c.cmd("RCPT TO:<b@example.org>"), 250)
            expect(c.cmd("DATA"), 354)
            block = b"From:a\r\n" * 8192
            sent = 0
            while not stop.is_set() and sent < (8 << 20):
                c.send(block)
                sent += len(block)
            c.send(b"\r\nbody\r\n.\r\n")
            rep = c.try_reply(30)
            stats.append(("flood", rep.code if rep else None))
    except Exception as e:  # noqa: BLE001
        stats.append(("flood", repr(e)[:60]))


def _never_read(port, stop, stats):
    try:
        s = raw_conn(port)
        s.settimeout(2)
        block = b"HELP\r\n" * 10000
        while not stop.is_set():
            try:
                s.sendall(block)
            except socket.timeout:
                continue
        s.close()
        stats.append(("noread", "ok"))
    except Exception as e:  # noqa: BLE001
        stats.append(("noread", repr(e)[:60]))


def _slow_drip(port, stop, stats):
    try:
        s = raw_conn(port)
        for b in b"EHLO " + b"x" * 1000:
            if stop.is_set():
                break
            s.sendall(bytes([b]))
            time.sleep(0.5)
        s.close()
        stats.append(("drip", "ok"))
    except Exception as e:  # noqa: BLE001
        stats.append(("drip", repr(e)[:60]))


def _has_header_limit():
    import relaytest
    with open(os.path.join(relaytest.SRC, "etc", "relay.example.yaml")) as f:
        return "max_header_size:" in f.read()


def test_hostile_crowd_rss():
    if not _has_header_limit():  # the header floods need issue 9 item 3 (receiver.limits.max_header_size)
        print("  SKIP: this tree has no receiver.limits.max_header_size yet", flush=True)
        return
    limits = {"command_timeout": "8s", "max_connections_per_ip": 1000}
    with make_relay({"receiver": {"limits": limits}}) as r:
        proc = start(r)
        time.sleep(0.3)
        base = rss_kb(proc.pid)
        stop = threading.Event()
        stats = []
        ths = []
        for i in range(100):
            fn = (_header_flood, _never_read, _slow_drip)[i % 3]
            ths.append(threading.Thread(target=fn, args=(r.port, stop, stats), daemon=True))
        for t in ths:
            t.start()
        peak = base
        good = []
        t0 = time.time()
        while time.time() - t0 < 20:
            try:
                code, text, qid = smtplib_send(r.port, f"good{len(good)}")
                good.append(code)
            except Exception as e:  # noqa: BLE001
                good.append(repr(e)[:80])
            peak = max(peak, rss_kb(proc.pid))
            time.sleep(0.2)
        stop.set()
        peak = max(peak, rss_kb(proc.pid))
        for t in ths:
            t.join(15)
        floods = sorted(str(x[1]) for x in stats if x[0] == "flood")
        print(f"  100 hostile clients for 20 s: RSS {base / 1024:.1f} MB -> peak {peak / 1024:.1f} MB; "
              f"well-behaved client: {good.count(250)}/{len(good)} accepted; header floods answered "
              f"{ {k: floods.count(k) for k in set(floods)} }", flush=True)
        assert proc.poll() is None, "receiver died"
        assert sanitized_receiver() or peak < 64 * 1024, f"receiver RSS peaked at {peak / 1024:.1f} MB (limit 64 MB)"
        assert len(good) >= 5 and good.count(250) == len(good), f"well-behaved client: {good}"


if __name__ == "__main__":
    run_tests([test_refused_bdat_chunk_is_data, test_cross_protocol_and_bare_lf, test_replies_never_read,
               test_slow_drip_deadlines, test_parallel_auth_guessing, test_connection_rate, test_hostile_crowd_rss])
