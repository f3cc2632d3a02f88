#!/usr/bin/python3
"""relay-receiver against a hostile client, the RFC corners (smtpaudit).

One receiver, raw sockets. Each case is something a hostile or broken
client does that an earlier receiver got wrong:
- half-close (shutdown(SHUT_WR)) right after the end of data (DATA and
  BDAT LAST, with and without a pipelined QUIT): the 250 still comes and
  the message is spooled exactly once; a half-close mid-DATA spools nothing;
  the same with a TLS close_notify right after the end of data;
- a BDAT whose size cannot be read: the chunk is never parsed as commands
  (501 then 421 and close); a BDAT with a size but a bad rest of the line
  consumes its chunk (501) and the session goes on;
- an endless NOOP/RSET loop is closed with 421 4.7.0 (junk-command limit);
- RFC 4954 / 1870 / 6531 reply codes: AUTH without mechanism (501 5.5.4),
  over-long SASL line (500 5.5.6), SIZE beyond any integer (552 5.3.4),
  duplicate MAIL parameters (501 5.5.4), malformed UTF-8 address (501 5.1.7);
- quoted local parts with a quoted pair or a '>' are accepted.
"""
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from receiver_common import Smtp, assert_serves, ctx, expect, hash_password, make_relay, spool_ids, start  # noqa: E402
from relaytest import run_tests  # noqa: E402

USERS = [{"name": "u1", "password_hash": hash_password("pw1"), "allowed_senders": []}]
EHLO = b"EHLO hostile.test\r\n"
ENV = b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\n"
MSG = b"From: <a@example.com>\r\nSubject: half\r\n\r\nbody\r\n"


def replies_until_eof(c, timeout=5.0):
    """Every reply up to the server's close; fails if it does not close."""
    out = []
    while True:
        try:
            out.append(c.reply(timeout))
        except (EOFError, ConnectionResetError):
            return out


def half_close(r, wire, what):
    """Sends wire, half-closes, returns (reply codes, number of new spool entries)."""
    before = set(spool_ids(r))
    with Smtp(r.port) as c:
        c.send(EHLO + wire)
        c.sock.shutdown(socket.SHUT_WR)
        codes = [x.code for x in replies_until_eof(c)]
    # a commit that went on after the close would show up here
    new = [q for q in spool_ids(r) if q not in before]
    return codes, new


def test_half_close_after_end_of_data(r):
    bdat = b"BDAT %d LAST\r\n" % len(MSG) + MSG
    for wire, want, what in [(ENV + b"DATA\r\n" + MSG + b".\r\n", [250, 250, 250, 354, 250], "DATA"),
                             (ENV + b"DATA\r\n" + MSG + b".\r\nQUIT\r\n", [250, 250, 250, 354, 250, 221],
                              "DATA + QUIT"),
                             (ENV + bdat, [250, 250, 250, 250], "BDAT LAST"),
                             (ENV + bdat + b"QUIT\r\n", [250, 250, 250, 250, 221], "BDAT LAST + QUIT")]:
        codes, new = half_close(r, wire, what)
        assert codes == want, f"half-close after {what}: replies {codes}, want {want}"
        assert len(new) == 1, f"half-close after {what}: {len(new)} entries spooled, want exactly 1"
    codes, new = half_close(r, ENV + b"DATA\r\n" + MSG, "mid-DATA")
    assert codes == [250, 250, 250, 354], f"half-close mid-DATA: replies {codes}"
    assert not new, f"half-close mid-DATA spooled {new}"


def tls_close_notify_after(r, wire):
    """Implicit TLS; sends wire and at once a close_notify (TLS half-close),
    then reads every reply. Returns (reply codes, new spool entries)."""
    before = set(spool_ids(r))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx(r, verify=False).wrap_bio(inc, out, server_hostname="localhost")
    sock = socket.create_connection(("127.0.0.1", r.ports["implicit"]), 5)

    def pump(until):
        deadline = time.time() + 5
        data = b""
        while time.time() < deadline:
            if out.pending:
                sock.sendall(out.read())
            try:
                return data + until()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                return data
            if out.pending:
                sock.sendall(out.read())
            sock.settimeout(max(0.05, deadline - time.time()))
            chunk = sock.recv(65536)
            if not chunk:
                inc.write_eof()
            else:
                inc.write(chunk)
        raise AssertionError("TLS peer silent")

    pump(lambda: obj.do_handshake() or b"")
    greeting = pump(lambda: obj.read(65536))
    assert greeting.startswith(b"220"), greeting
    obj.write(EHLO + wire)
    try:
        obj.unwrap()  # queues our close_notify
    except ssl.SSLWantReadError:
        pass
    sock.sendall(out.read())
    text = b""
    while True:
        try:
            piece = pump(lambda: obj.read(65536))
        except (ssl.SSLError, OSError):
            break
        if not piece:
            break
        text += piece
    sock.close()
    codes = [int(ln[:3]) for ln in text.split(b"\r\n") if ln[:3].isdigit() and ln[3:4] == b" "]
    return codes, [q for q in spool_ids(r) if q not in before]


def test_tls_close_notify_after_end_of_data(r):
    for extra, want in [(b"", [250, 250, 250, 354, 250]), (b"QUIT\r\n", [250, 250, 250, 354, 250, 221])]:
        codes, new = tls_close_notify_after(r, ENV + b"DATA\r\n" + MSG + b".\r\n" + extra)
        assert codes == want, f"close_notify after end of data {extra!r}: replies {codes}, want {want}"
        assert len(new) == 1, f"close_notify after end of data {extra!r}: {len(new)} entries spooled"


def test_bdat_malformed(r):
    for cmd in [b"BDAT abc", b"BDAT -5", b"BDAT +5", b"BDAT 18446744073709551616", b"BDAT", b"BDAT\t5"]:
        before = set(spool_ids(r))
        with Smtp(r.port) as c:
            c.send(EHLO + ENV + cmd + b"\r\nRSET\r\nNOOP\r\n")
            codes = [x.code for x in replies_until_eof(c)]
        # EHLO, MAIL, RCPT, then the BDAT: never the RSET's or NOOP's 250
        assert codes[:3] == [250, 250, 250] and codes[3] in (500, 501) and codes[4:] == [421], \
            f"{cmd!r}: replies {codes}, want 501 then 421 and close (the chunk must not be run as commands)"
        assert set(spool_ids(r)) == before
    chunk = b"x\r\nMAIL FROM:<e@x>\r\n"
    with Smtp(r.port) as c:
        c.ehlo()
        c.send(ENV + b"BDAT %d LAST junk\r\n" % len(chunk) + chunk + b"NOOP\r\n")
        got = [c.reply().code for _ in range(4)]
        assert got == [250, 250, 501, 250], f"BDAT n LAST junk: {got} (the chunk must be consumed as data)"
        rep = c.cmd("BDAT 4 LAST\r\nok")  # the transaction survived the refused chunk
        expect(rep, 250, "2.0.0", "BDAT LAST after a refused chunk")


def test_junk_loop_closed(r):
    with Smtp(r.port) as c:
        c.ehlo()
        c.send(b"NOOP\r\n" * 100 + b"RSET\r\n" * 200)
        codes = [x.code for x in replies_until_eof(c)]
        assert codes and codes[-1] == 421, f"endless NOOP/RSET: last replies {codes[-3:]} (want 421 and close)"
        assert codes.count(250) <= 120, f"{codes.count(250)} junk commands answered before the close"


def test_reply_codes(r):
    with Smtp(r.port) as c:
        c.ehlo()
        expect(c.cmd("AUTH"), 501, "5.5.4", "AUTH without mechanism")
        expect(c.cmd("AUTH PLAIN"), 334, what="AUTH PLAIN")
        expect(c.cmd("A" * 13000), 500, "5.5.6", "over-long SASL response")
        expect(c.cmd("MAIL FROM:<a@example.com> SIZE=99999999999999999999999"), 552, "5.3.4", "SIZE > 2^64")
        expect(c.cmd("MAIL FROM:<a@example.com> SIZE"), 501, "5.5.4", "SIZE without value")
        expect(c.cmd("MAIL FROM:<a@example.com> SIZE=1 SIZE=2"), 501, "5.5.4", "duplicate SIZE")
        c.send(b"MAIL FROM:<j\xff\xfe@example.com> SMTPUTF8\r\n")
        expect(c.reply(), 501, "5.1.7", "malformed UTF-8 sender")
        c.send("MAIL FROM:<j\u00f6@example.com> SMTPUTF8\r\n".encode())
        expect(c.reply(), 250, "2.1.0", "UTF-8 sender")
        c.send(b"RCPT TO:<r\xc3@example.org>\r\n")
        expect(c.reply(), 501, "5.1.3", "malformed UTF-8 recipient")
        expect(c.cmd("RSET"), 250)
        # RFC 5321 Quoted-string local parts: a quoted pair, a '>' inside the quotes
        expect(c.cmd('MAIL FROM:<"john\\"q"@example.com>'), 250, "2.1.0", "quoted pair in the local part")
        expect(c.cmd('RCPT TO:<"x>y"@example.org>'), 250, "2.1.5", "'>' in a quoted local part")


def main():
    r = make_relay({"receiver": {"auth": "optional", "users": USERS,
                                 "limits": {"max_auth_failures_per_ip": 1000}}},
                   extra_listeners=("implicit",))
    proc = start(r)

    def bind(f):
        def t():
            f(r)
        t.__name__ = f.__name__
        return t

    def test_receiver_alive():
        assert proc.poll() is None, "receiver died"
        assert_serves(r)

    code = 1
    try:
        run_tests([bind(test_half_close_after_end_of_data), bind(test_tls_close_notify_after_end_of_data),
                   bind(test_bdat_malformed), bind(test_junk_loop_closed),
                   bind(test_reply_codes), test_receiver_alive])
    except SystemExit as e:  # run_tests exits with the verdict
        code = e.code
    finally:
        if code:
            sys.stderr.write(f"--- log of the receiver (tail) ---\n{r.read_log('receiver')[-4000:]}\n")
        r.close(ok=code == 0)
    sys.exit(code)


if __name__ == "__main__":
    main()
