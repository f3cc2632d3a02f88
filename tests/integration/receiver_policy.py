#!/usr/bin/python3
"""relay-receiver policies and limits: every refusal with its exact SMTP and
enhanced status code, and the neighbouring case that must still be accepted.

Several tests bind client sockets to other loopback addresses (127.0.0.2...)
to act as different client IPs. The AUTH-before-TLS test needs a
non-loopback address: it runs the receiver and client inside a private
network namespace (`unshare --net`, TEST-NET address 192.0.2.10 on that
namespace's own lo), so nothing is reachable from outside either way.
"""
import base64
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from receiver_common import (Smtp, assert_serves, entry, env_rcpts, expect, hash_password,  # noqa: E402
                             make_relay, simple_message, spool_ids, start, wait_for)
from relaytest import run_tests  # noqa: E402

PW = hash_password("pw-scan")
USERS = [{"name": "scanner1", "password_hash": PW, "allowed_senders": ["scan@example.com"]},
         {"name": "erp", "password_hash": hash_password("pw-erp"), "allowed_senders": []}]


def b64(s):
    return base64.b64encode(s.encode()).decode()


def first_refusal(c, frm="a@example.com"):
    """Greeting, EHLO, MAIL, RCPT until one is not positive; returns it (or None)."""
    if c.greeting.code != 220:
        return c.greeting
    for line in ("EHLO client.test", f"MAIL FROM:<{frm}>", "RCPT TO:<b@example.com>"):
        try:
            r = c.cmd(line)
        except (EOFError, ConnectionResetError, BrokenPipeError):
            return None
        if r.code >= 300:
            return r
    return None


def test_client_networks():
    with make_relay({"receiver": {"client_networks": ["127.0.0.1/32", "::1/128"]}}) as r:
        start(r)
        with Smtp(r.port, source="127.0.0.2") as c:
            rep = first_refusal(c)
            expect(rep, 554, "5.7.1", "client outside client_networks")
        assert spool_ids(r) == []
        assert_serves(r)
    with make_relay({"receiver": {"client_networks": ["10.0.0.0/8", "127.0.0.0/30"]}}) as r:
        start(r)
        with Smtp(r.port, source="127.0.0.5") as c:
            expect(first_refusal(c), 554, "5.7.1", "127.0.0.5 outside 127.0.0.0/30")
        with Smtp(r.port, source="127.0.0.3") as c:
            assert first_refusal(c) is None, "127.0.0.3 inside 127.0.0.0/30 was refused"


def test_auth_required():
    with make_relay({"receiver": {"auth": "required", "users": USERS}}) as r:
        start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<erp@example.com>"), 530, "5.7.0", "MAIL without AUTH")
            expect(c.cmd("AUTH PLAIN " + b64("\0erp\0pw-erp")), 235, "2.7.0")
            rep = expect(c.send_mail("erp@example.com", ["x@example.com"], simple_message("req")), 250)
        assert b"req" in entry(r, rep.qid())[1]
    with make_relay({"receiver": {"auth": "off", "users": USERS}}) as r:
        start(r)
        with Smtp(r.port) as c:
            e = c.ehlo()
            assert not any(ln.upper().startswith("AUTH") for ln in e.lines), f"auth off but offered: {e.lines}"
            expect(c.send_mail("a@example.com", ["x@example.com"], simple_message("noauth")), 250)


def test_allowed_senders_mail_from():
    cfg = {"senders": {"allowed": ["@example.com", "*.example.org", "printer@example.net"], "policy": "reject"},
           "receiver": {"auth": "optional", "users": USERS}}
    with make_relay(cfg) as r:
        start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            for ok in ("a@example.com", "B@EXAMPLE.COM", "x@example.org", "x@deep.sub.example.org",
                       "printer@example.net"):
                expect(c.cmd(f"MAIL FROM:<{ok}>"), 250, what=f"allowed sender {ok}")
                expect(c.cmd("RSET"), 250)
            for bad in ("other@example.net", "x@notexample.com", "x@badexample.org", "x@example.com.evil.test",
                        "a@sub.example.com"):
                expect(c.cmd(f"MAIL FROM:<{bad}>"), 550, "5.7.1", f"disallowed sender {bad}")
            rep = expect(c.send_mail("printer@example.net", ["x@example.com"],
                                     simple_message("p", frm="printer@example.net")), 250)
        assert b"printer@example.net" in entry(r, rep.qid())[1]
        # per-user list overrides senders.allowed
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("AUTH PLAIN " + b64("\0scanner1\0pw-scan")), 235)
            expect(c.cmd("MAIL FROM:<a@example.com>"), 550, "5.7.1", "scanner1 may only send as scan@")
            rep = expect(c.send_mail("scan@example.com", ["x@example.com"],
                                     simple_message("s", frm="scan@example.com")), 250)
        assert env_rcpts(entry(r, rep.qid())[0]) == ["x@example.com"]


def _data(c, frm, headers):
    expect(c.cmd(f"MAIL FROM:<{frm}>"), 250)
    expect(c.cmd("RCPT TO:<x@example.com>"), 250)
    expect(c.cmd("DATA"), 354)
    c.send(headers.encode() + b"Subject: hdr\r\n\r\nbody\r\n.\r\n")
    return c.reply()


def test_header_from_and_sender_policy():
    with make_relay({"senders": {"allowed": ["@example.com"], "policy": "reject"}}) as r:
        start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            expect(_data(c, "a@example.com", "From: Evil <evil@other.test>\r\n"), 550, "5.7.1", "header From")
            expect(_data(c, "a@example.com", "From: a@example.com\r\nSender: evil@other.test\r\n"), 550, "5.7.1",
                   "header Sender")
            expect(_data(c, "a@example.com", "From: x@example.com,\r\n evil@other.test\r\n"), 550, "5.7.1",
                   "folded From with a second, disallowed address")
            assert spool_ids(r) == [], f"refused messages were spooled: {spool_ids(r)}"
            ok = expect(_data(c, "a@example.com", "From: \"App, Inc\" <App@Example.com>\r\nSender: b@example.com\r\n"),
                        250, "2.0.0", "allowed header From/Sender")
        assert spool_ids(r) == [ok.qid()]
    with make_relay({"senders": {"allowed": ["@example.com"], "policy": "rewrite",
                                 "default_sender": "relay@example.com"}}) as r:
        start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            expect(_data(c, "a@example.com", "From: evil@other.test\r\n"), 250, what="policy rewrite accepts")
            expect(_data(c, "x@other.test", "From: a@example.com\r\n"), 250, what="rewrite: MAIL FROM")


def test_auth_failure_throttling():
    with make_relay({"receiver": {"auth": "optional", "users": USERS,
                                  "limits": {"max_auth_failures_per_ip": 2, "auth_failure_window": "5m"}}}) as r:
        start(r)
        seen = []
        for attempt in range(4):
            c = Smtp(r.port, source="127.0.0.3")
            try:
                if c.greeting.code != 220:
                    seen.append(c.greeting)
                    continue
                c.ehlo()
                pw = "wrong" if attempt < 2 else "pw-erp"  # the right password once throttled
                rep = c.cmd("AUTH PLAIN " + b64(f"\0erp\0{pw}"))
                seen.append(rep)
            finally:
                c.close()
        expect(seen[0], 535, "5.7.8", "first failure")
        expect(seen[1], 535, "5.7.8", "second failure")
        expect(seen[2], 421, "4.7.0", "throttled after max_auth_failures_per_ip (even with the right password)")
        expect(seen[3], 421, "4.7.0", "still throttled")
        # another client address is not affected
        with Smtp(r.port, source="127.0.0.4") as c:
            c.ehlo()
            expect(c.cmd("AUTH PLAIN " + b64("\0erp\0pw-erp")), 235, "2.7.0", "other IP")
        assert_serves(r)


def test_message_size_limit():
    with make_relay({"receiver": {"limits": {"max_message_size": 20000}}}) as r:
        start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<a@example.com> SIZE=20001"), 552, "5.3.4", "declared SIZE over limit")
            expect(c.cmd("MAIL FROM:<a@example.com> SIZE=1000"), 250, what="declared SIZE under limit")
            expect(c.cmd("RCPT TO:<b@example.com>"), 250)
            expect(c.cmd("DATA"), 354)
            big = b"Subject: big\r\n\r\n" + (b"x" * 78 + b"\r\n") * 400  # 32 KB, undeclared
            c.send(big + b".\r\n")
            expect(c.reply(), 552, "5.3.4", "undeclared oversize DATA")
            expect(c.cmd("MAIL FROM:<a@example.com>"), 250, what="session usable after 552")
            expect(c.cmd("RCPT TO:<b@example.com>"), 250)
            c.send(b"BDAT 32000 LAST\r\n" + b"y" * 32000)
            expect(c.reply(), 552, "5.3.4", "oversize BDAT")
            small = b"Subject: small\r\n\r\n" + (b"z" * 78 + b"\r\n") * 180  # ~14.4 KB
            rep = expect(c.send_mail("a@example.com", ["b@example.com"], small), 250, what="message under limit")
        assert spool_ids(r) == [rep.qid()], spool_ids(r)


def test_recipient_limit():
    with make_relay({"receiver": {"limits": {"max_recipients": 3}}}) as r:
        start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
            for i in range(3):
                expect(c.cmd(f"RCPT TO:<r{i}@example.com>"), 250)
            expect(c.cmd("RCPT TO:<r3@example.com>"), 452, "4.5.3", "recipient over the limit")
            expect(c.cmd("DATA"), 354)
            c.send(simple_message("rl") + b".\r\n")
            rep = expect(c.reply(), 250)
        assert env_rcpts(entry(r, rep.qid())[0]) == ["r0@example.com", "r1@example.com", "r2@example.com"]


def test_connection_limits():
    with make_relay({"receiver": {"limits": {"max_connections": 4, "max_connections_per_ip": 2}}}) as r:
        start(r)
        a1, a2 = Smtp(r.port, source="127.0.0.1"), Smtp(r.port, source="127.0.0.1")
        expect(a1.greeting, 220)
        expect(a2.greeting, 220)
        a3 = Smtp(r.port, source="127.0.0.1")
        expect(a3.greeting, 421, "4.7.0", "third connection from one IP")
        assert a3.closed_by_server(3)
        b1, b2 = Smtp(r.port, source="127.0.0.2"), Smtp(r.port, source="127.0.0.2")
        expect(b1.greeting, 220, what="other IP within the total")
        expect(b2.greeting, 220)
        c1 = Smtp(r.port, source="127.0.0.3")
        expect(c1.greeting, 421, "4.7.0", "fifth connection overall")
        for s in (a3, c1, b1):
            s.close()

        def third_ip_ok():
            with Smtp(r.port, source="127.0.0.3") as c:
                return c.greeting.code == 220
        wait_for(third_ip_ok, 30, interval=0.1, what="slot freed after a close")
        for s in (a1, a2, b2):
            expect(s.cmd("NOOP"), 250, what="established sessions unaffected")
            s.close()
        wait_for(lambda: _try_serve(r), 30, interval=0.1, what="normal service after the limits")


def _try_serve(r):
    try:
        assert_serves(r)
        return True
    except (AssertionError, OSError):
        return False


def test_command_line_length():
    with make_relay() as r:
        start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("NOOP " + "x" * (512 - 7)), 250, what="512-octet command line")
            rep = c.cmd("NOOP " + "x" * (512 - 6))
            expect(rep, 500, "5.5.2", "513-octet command line")
            c.send("MAIL FROM:<a@example.com> " + "X" * 4000 + "\r\n")
            expect(c.reply(), 500, "5.5.2", "4 KB command line")
            # the tail of the long line must not be taken as a command
            expect(c.cmd("NOOP"), 250, what="next command after an overlong line")
        assert_serves(r)


def test_text_line_length():
    with make_relay() as r:
        start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            ok = b"Subject: l\r\n\r\n" + b"a" * 998 + b"\r\n"
            rep = expect(c.send_mail("a@example.com", ["b@example.com"], ok), 250, what="998-char text line")
            expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
            expect(c.cmd("RCPT TO:<b@example.com>"), 250)
            expect(c.cmd("DATA"), 354)
            c.send(b"Subject: l\r\n\r\n" + b"b" * 3000 + b"\r\n.\r\n")
            expect(c.reply(), 5, what="3000-char text line")
            # the issue: text lines over 1000 octets (RFC 5321 4.5.3.1.6, incl. CRLF) are refused
            expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
            expect(c.cmd("RCPT TO:<b@example.com>"), 250)
            expect(c.cmd("DATA"), 354)
            c.send(b"Subject: l\r\n\r\n" + b"c" * 999 + b"\r\n.\r\n")
            expect(c.reply(), 5, what="1001-octet text line (999 chars + CRLF)")
        assert spool_ids(r) == [rep.qid()], spool_ids(r)
        assert_serves(r)


def test_bad_commands_limit():
    with make_relay({"receiver": {"limits": {"max_bad_commands": 3}}}) as r:
        start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            for i in range(2):
                expect(c.cmd(f"BOGUS{i}"), 5, what="unknown command")
            rep = expect(c.send_mail("a@example.com", ["b@example.com"], simple_message("bc")), 250,
                         what="mail after max-1 bad commands")
        with Smtp(r.port) as c:
            c.ehlo()
            replies = []
            for i in range(5):
                try:
                    rep2 = c.cmd(f"BOGUS{i}")
                except (EOFError, ConnectionResetError, BrokenPipeError):
                    break
                replies.append(rep2)
                if rep2.code == 421:
                    break
            assert replies and replies[-1].code == 421 and replies[-1].enh == "4.7.0", replies
            assert 3 <= len(replies) <= 4, f"421 should come at bad command 3 or 4: {replies}"
            assert c.closed_by_server(3), "connection left open after 421"
        assert spool_ids(r) == [rep.qid()]
        assert_serves(r)


def test_idle_timeout():
    with make_relay({"receiver": {"limits": {"idle_timeout": "2s"}}}) as r:
        start(r)
        busy = Smtp(r.port)
        busy.ehlo()
        idle = Smtp(r.port)
        idle.ehlo()
        t0 = time.time()
        rep = waited = None
        while time.time() - t0 < 10 and rep is None:
            expect(busy.cmd("NOOP"), 250, what="active session within idle timeout")
            try:
                rep = idle.reply(timeout=0.4)
                waited = time.time() - t0
            except OSError:  # socket.timeout: nothing yet
                pass
        expect(rep, 421, "4.4.2", "idle session")
        # checked by a 1 s sweep: due 2-3 s after the last activity; slack for a loaded machine
        assert 1.5 <= waited <= 6.0, f"idle timeout fired after {waited:.1f}s, expected ~2s"
        assert idle.closed_by_server(2)
        idle.close()
        rep = expect(busy.send_mail("a@example.com", ["b@example.com"], simple_message("busy")), 250)
        busy.close()
        assert rep.qid() in spool_ids(r)


def test_auth_before_tls_non_loopback():
    """AUTH on a non-loopback listener before STARTTLS: 538 5.7.11 (in a netns)."""
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    assert probe.returncode == 0, f"unshare --net unavailable: {probe.stderr!r}"
    with make_relay({"receiver": {"auth": "optional", "users": USERS,
                                  "client_networks": ["192.0.2.0/24", "127.0.0.0/8"]}}, tls=True) as r:
        r.cfg["receiver"]["listeners"] = [{"address": "192.0.2.10:2525", "tls": "starttls"}]
        r.write_config()
        script = ("ip link set lo up && ip addr add 192.0.2.10/32 dev lo && "
                  f"exec /usr/bin/python3 {os.path.abspath(__file__)} --netns-child {r.dir}")
        p = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"netns child failed:\n{p.stdout}\n{p.stderr}\n{r.read_log('receiver')[-3000:]}"
        assert "NETNS-OK" in p.stdout, p.stdout


def _netns_child(directory):
    """Runs inside the private netns: the receiver listens on 192.0.2.10."""
    import subprocess as sp
    import relaytest
    cfg_path = os.path.join(directory, "relay.yaml")
    certs_ca = os.path.join(directory, "certs", "ca.pem")
    log = open(os.path.join(directory, "receiver.log"), "ab")
    proc = sp.Popen([relaytest.RECEIVER, "-c", cfg_path], stdout=log, stderr=sp.STDOUT)
    try:
        relaytest.wait_port(2525, host="192.0.2.10")
        import ssl
        context = ssl.create_default_context(cafile=certs_ca)
        context.check_hostname = False
        with Smtp(2525, host="192.0.2.10") as c:
            c.ehlo()
            expect(c.cmd("AUTH PLAIN " + b64("\0erp\0pw-erp")), 538, "5.7.11", "AUTH before TLS, non-loopback")
            c.starttls(context)
            e = c.ehlo()
            assert any(ln.upper().startswith("AUTH") for ln in e.lines), f"AUTH not offered after TLS: {e.lines}"
            expect(c.cmd("AUTH PLAIN " + b64("\0erp\0pw-erp")), 235, "2.7.0", "AUTH after TLS")
            expect(c.send_mail("erp@example.com", ["x@example.com"], simple_message("netns")), 250)
        print("NETNS-OK")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--netns-child":
        _netns_child(sys.argv[2])
        sys.exit(0)
    run_tests([test_client_networks, test_auth_required, test_allowed_senders_mail_from,
               test_header_from_and_sender_policy, test_auth_failure_throttling, test_message_size_limit,
               test_recipient_limit, test_connection_limits, test_command_line_length, test_text_line_length,
               test_bad_commands_limit, test_idle_timeout, test_auth_before_tls_non_loopback])
