#!/usr/bin/python3
"""Hostile probe against relay-receiver (manual tool, not a test).

Starts a receiver from the build tree (RELAY_BUILD, default ../../build)
with a plain and a STARTTLS listener, tries ~200 hostile or odd client
behaviours (framing, BDAT, STARTTLS injection, AUTH, MAIL/RCPT syntax,
limits, half-close, RST, parallel sessions) and prints, for each, the
reply codes and how many messages reached the spool. It asserts nothing;
docs/smtp-receiver.md says what the answers should be, and every defect
it found is a test in session_rfc_test.cpp / receiver_hostile_rfc.py.
Usage: /usr/bin/python3 tests/receiver/hostile_probe.py
"""
import base64
import os
import socket
import ssl
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("RELAY_BUILD", os.path.join(HERE, "..", "..", "build"))
from receiver_common import (Smtp, ctx, hash_password, make_relay, simple_message, spool_ids, start,  # noqa
                             dot_stuff, entry)

USERS = [{"name": "u1", "password_hash": hash_password("pw1"), "allowed_senders": []}]
RESULTS = []


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def raw(port, chunks, delay=0.0, quiet=0.4, greet=True, shut=False, tls=None):
    """Sends chunks (bytes) one by one; returns all reply text until quiet/close."""
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = b""
    if greet:
        out += read_until_quiet(s, 1.0, need=b"\r\n")
    for ch in chunks:
        s.sendall(ch)
        if delay:
            time.sleep(delay)
    if shut:
        s.shutdown(socket.SHUT_WR)
    out += read_until_quiet(s, quiet)
    s.close()
    return out.decode("latin1")


def read_until_quiet(s, quiet, need=None):
    out = b""
    s.settimeout(quiet)
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            if need and need not in out:
                continue
            return out
        except OSError as e:
            return out + f"<{e}>".encode()
        if not d:
            return out + b"<EOF>"
        out += d


def codes(text):
    return [ln[:3] + (" " + ln[4:13] if len(ln) > 4 else "") for ln in text.split("\r\n")
            if ln[:3].isdigit() and (len(ln) == 3 or ln[3] == " ")] + (["EOF"] if "<EOF>" in text else [])


def note(name, verdict):
    RESULTS.append((name, verdict))
    print(f"{name:60s} {verdict}", flush=True)


E = b"EHLO x\r\n"
MF = b"MAIL FROM:<a@example.com>\r\n"
RT = b"RCPT TO:<b@example.org>\r\n"
MSG = b"Subject: t\r\nFrom: <a@example.com>\r\n\r\nbody\r\n"


def nspool(r):
    return len(spool_ids(r))


def main():
    r = make_relay({"receiver": {"auth": "optional", "users": USERS,
                                 "limits": {"max_auth_failures_per_ip": 1000, "max_recipients": 5}}},
                   extra_listeners=("starttls",))
    p = start(r)
    port = r.ports["none"]
    sport = r.ports["starttls"]
    try:
        cases(r, port, sport)
    finally:
        print("receiver alive:", p.poll() is None)
        r.stop()
        r.close()


def cases(r, port, sport):
    # byte-by-byte command split
    t = raw(port, [bytes([b]) for b in E + MF + RT + b"DATA\r\n" + MSG + b".\r\nQUIT\r\n"])
    note("byte-by-byte full transaction", codes(t))
    # end marker split at every position
    base = E + MF + RT + b"DATA\r\n" + MSG
    tail = b".\r\nQUIT\r\n"
    before = nspool(r)
    res = set()
    for i in range(1, 5):
        wire = base + tail
        k = len(base) - 2 + i
        res.add(tuple(codes(raw(port, [wire[:k], wire[k:]], quiet=0.3))))
    note("CRLF.CRLF split at each position", f"{res} spooled={nspool(r) - before}")
    # dot-stuffing at boundaries
    body = b"Subject: d\r\n\r\n..x\r\n.\r\n"  # wrong: ".\r\n" ends
    t = raw(port, [E + MF + RT + b"DATA\r\nSubject: d\r\n\r\n", b".", b".x\r\n", b"..\r\n.", b"\r\n"])
    note("dot-stuffing split at segment boundary", codes(t))
    # lone CR/LF/CR NUL in DATA
    for nm, b in [("lone CR", b"a\rb\r\n"), ("lone LF", b"a\nb\r\n"), ("CR NUL", b"a\r\0b\r\n"),
                  ("NUL", b"a\0b\r\n")]:
        t = raw(port, [E + MF + RT + b"DATA\r\n" + b"Subject: x\r\n\r\n" + b + b".\r\nNOOP\r\n"])
        note(f"DATA with {nm}", codes(t))
    # commands with CR NUL, NUL
    for nm, b in [("NUL in cmd", b"NOOP\0x\r\n"), ("CR inside cmd", b"NO\rOP\r\n"), ("lone LF cmd", b"NOOP\n"),
                  ("CR NUL cmd", b"NOOP\r\0\r\n"), ("lowercase verbs", b"ehlo x\r\nmail from:<a@example.com>\r\n"),
                  ("mixed case", b"eHlO x\r\nMaIl FrOm:<a@example.com>\r\n"), ("tab separator", b"NOOP\tx\r\n"),
                  ("leading space verb", b" NOOP\r\n"), ("empty line", b"\r\n"), ("HELO no arg", b"HELO\r\n"),
                  ("VRFY", b"VRFY a\r\n"), ("EXPN", b"EXPN a\r\n"), ("HELP", b"HELP\r\n"),
                  ("HELP arg", b"HELP DATA\r\n"), ("NOOP arg", b"NOOP hello\r\n"), ("RSET arg", b"RSET x\r\n"),
                  ("QUIT arg", b"QUIT x\r\n"), ("DATA arg", b"DATA x\r\n"), ("TURN", b"TURN\r\n"),
                  ("8bit verb", b"N\xc3\xa9OP\r\n")]:
        note(f"cmd: {nm}", codes(raw(port, [E + b, b"NOOP\r\n"])))
    # long lines
    note("cmd 512 exactly (510+CRLF)", codes(raw(port, [E + b"NOOP " + b"a" * 505 + b"\r\n"])))
    note("cmd 513", codes(raw(port, [E + b"NOOP " + b"a" * 506 + b"\r\n"])))
    note("MAIL 600 long path", codes(raw(port, [E + b"MAIL FROM:<" + b"a" * 580 + b"@x.com>\r\n"])))
    before = nspool(r)
    t = raw(port, [E + MF + RT + b"DATA\r\nSubject: l\r\n\r\n" + b"x" * 998 + b"\r\n.\r\n"])
    note("text line 998", f"{codes(t)} spooled={nspool(r) - before}")
    before = nspool(r)
    t = raw(port, [E + MF + RT + b"DATA\r\nSubject: l\r\n\r\n" + b"x" * 999 + b"\r\n.\r\n"])
    note("text line 999", f"{codes(t)} spooled={nspool(r) - before}")
    # BDAT
    for nm, cmd, payload in [("BDAT 0", b"BDAT 0\r\n", b""), ("BDAT 0 LAST", b"BDAT 0 LAST\r\n", b""),
                             ("BDAT 2^64", b"BDAT 18446744073709551616\r\n", b"QUIT\r\n"),
                             ("BDAT 2^64-1", b"BDAT 18446744073709551615\r\n", b""),
                             ("BDAT -5", b"BDAT -5\r\n", b"RSET\r\n"), ("BDAT abc", b"BDAT abc\r\n", b"RSET\r\n"),
                             ("BDAT +5", b"BDAT +5\r\n", b"RSET\r\n"),
                             ("BDAT 5 LAST junk", b"BDAT 5 LAST junk\r\n", b"RSET\r"),
                             ("BDAT 5 FIRST", b"BDAT 5 FIRST\r\n", b"RSET\r"),
                             ("BDAT  5 (2 spaces)", b"BDAT  5\r\n", b"RSET\r"),
                             ("BDAT 5  LAST (2 spaces)", b"BDAT 5  LAST\r\n", MSG[:5]),
                             ("BDAT no size", b"BDAT\r\n", b""), ("BDAT 05 LAST", b"BDAT 05 LAST\r\n", b"a\r\nb\r"),
                             ("BDAT 5 last lower", b"bdat 5 last\r\n", b"a\r\nbc")]:
        before = nspool(r)
        t = raw(port, [E + MF + RT + cmd + payload + b"NOOP\r\n"], quiet=0.4)
        note(f"bdat: {nm}", f"{codes(t)} spooled={nspool(r) - before}")
    before = nspool(r)
    t = raw(port, [E + MF + RT + b"DATA\r\n" + b"Subject: x\r\n\r\nBDAT 3 LAST\r\nabc\r\n.\r\nNOOP\r\n"])
    note("BDAT inside DATA body", f"{codes(t)} spooled={nspool(r) - before}")
    before = nspool(r)
    t = raw(port, [E + MF + RT + b"BDAT 4\r\nab\r\nDATA\r\nRSET\r\nBDAT 4 LAST\r\nab\r\nNOOP\r\n"])
    note("DATA after BDAT chunk, RSET, BDAT LAST", f"{codes(t)} spooled={nspool(r) - before}")
    before = nspool(r)
    m = b"Subject: b\r\n\r\nbody\r\n"
    t = raw(port, [E + MF + RT + b"BDAT %d LAST\r\n" % len(m) + m + MF + RT + b"BDAT %d LAST\r\n" % len(m) + m
                   + b"QUIT\r\n"])
    note("two pipelined BDAT transactions", f"{codes(t)} spooled={nspool(r) - before}")
    # STARTTLS injection
    c = ctx(r, verify=False)
    s = socket.create_connection(("127.0.0.1", sport), 5)
    s.recv(1000)
    s.sendall(b"EHLO x\r\n")
    time.sleep(0.2)
    s.recv(4000)
    s.sendall(b"STARTTLS\r\nRSET\r\nMAIL FROM:<inj@example.com>\r\n")
    time.sleep(0.3)
    a = s.recv(1000)
    try:
        ts = c.wrap_socket(s, server_hostname="localhost")
        ts.sendall(b"NOOP\r\n")
        ts.settimeout(2)
        b = ts.recv(1000)
        note("STARTTLS + pipelined plaintext", f"{a!r} then {b!r}")
        ts.sendall(b"EHLO y\r\n")
        e = ts.recv(4000)
        note("EHLO after STARTTLS (no STARTTLS advertised?)", "STARTTLS" in e.decode())
        ts.sendall(b"STARTTLS\r\n")
        note("STARTTLS twice", ts.recv(1000))
        ts.sendall(b"MAIL FROM:<a@example.com>\r\n")
        note("MAIL after TLS+EHLO", ts.recv(1000))
        ts.close()
    except Exception as e:  # noqa
        note("STARTTLS + pipelined plaintext", f"{a!r} then EXC {e}")
    note("STARTTLS before EHLO", codes(raw(sport, [b"STARTTLS\r\n"], quiet=0.3)))
    note("STARTTLS with arg", codes(raw(sport, [E + b"STARTTLS x\r\n"], quiet=0.3)))
    note("STARTTLS in transaction", codes(raw(sport, [E + MF + b"STARTTLS\r\n"], quiet=0.3)))
    # AUTH
    good = b64("\0u1\0pw1").encode()
    for nm, ch in [("AUTH before EHLO", [b"AUTH PLAIN " + good + b"\r\n"]),
                   ("AUTH after HELO", [b"HELO x\r\nAUTH PLAIN " + good + b"\r\n"]),
                   ("AUTH in transaction", [E + MF + b"AUTH PLAIN " + good + b"\r\n"]),
                   ("AUTH after success", [E + b"AUTH PLAIN " + good + b"\r\n", b"AUTH PLAIN " + good + b"\r\n"]),
                   ("AUTH invalid b64", [E + b"AUTH PLAIN !!!!\r\n"]),
                   ("AUTH PLAIN *", [E + b"AUTH PLAIN\r\n", b"*\r\n"]),
                   ("AUTH PLAIN = ", [E + b"AUTH PLAIN =\r\n"]),
                   ("AUTH LOGIN =", [E + b"AUTH LOGIN =\r\n"]),
                   ("AUTH over-long response", [E + b"AUTH PLAIN\r\n", b"A" * 20000 + b"\r\n", b"NOOP\r\n"]),
                   ("AUTH LOGIN junk steps", [E + b"AUTH LOGIN\r\n", b"junk!\r\n", b"NOOP\r\n"]),
                   ("AUTH LOGIN 3 steps", [E + b"AUTH LOGIN\r\n", b64("u1").encode() + b"\r\n",
                                           b64("pw1").encode() + b"\r\n", b"NOOP\r\n"]),
                   ("AUTH unknown mech", [E + b"AUTH CRAM-MD5\r\n"]),
                   ("AUTH no mech", [E + b"AUTH\r\n"]),
                   ("AUTH PLAIN two args", [E + b"AUTH PLAIN " + good + b" extra\r\n"]),
                   ("AUTH lowercase plain", [E + b"auth plain " + good + b"\r\n"]),
                   ("AUTH pipelined with MAIL", [E + b"AUTH PLAIN " + good + b"\r\n" + MF + RT + b"RSET\r\n"]),
                   ("AUTH PLAIN empty user", [E + b"AUTH PLAIN " + b64("\0\0pw1").encode() + b"\r\n"]),
                   ("AUTH PLAIN NUL in pw", [E + b"AUTH PLAIN " + b64("\0u1\0pw1\0x").encode() + b"\r\n"]),
                   ("AUTH b64 no padding", [E + b"AUTH PLAIN " + good.rstrip(b"=") + b"\r\n"])]:
        note(f"auth: {nm}", codes(raw(port, ch, quiet=0.6)))
    # MAIL/RCPT syntax
    for nm, l in [("quoted local", b'MAIL FROM:<"a b"@example.com>'), ("IP literal", b"MAIL FROM:<a@[127.0.0.1]>"),
                  ("IPv6 literal", b"MAIL FROM:<a@[IPv6:::1]>"),
                  ("source route", b"MAIL FROM:<@a.com,@b.com:u@c.com>"),
                  ("missing brackets", b"MAIL FROM:a@example.com"), ("space after colon", b"MAIL FROM: <a@example.com>"),
                  ("space before colon", b"MAIL FROM :<a@example.com>"), ("no colon", b"MAIL FROM<a@example.com>"),
                  ("unknown param", b"MAIL FROM:<a@example.com> FOO=BAR"),
                  ("dup SIZE", b"MAIL FROM:<a@example.com> SIZE=10 SIZE=20"),
                  ("SIZE=abc", b"MAIL FROM:<a@example.com> SIZE=abc"), ("SIZE=", b"MAIL FROM:<a@example.com> SIZE="),
                  ("SIZE no val", b"MAIL FROM:<a@example.com> SIZE"),
                  ("SIZE huge", b"MAIL FROM:<a@example.com> SIZE=99999999999999999999999"),
                  ("BODY=8BITMIME", b"MAIL FROM:<a@example.com> BODY=8BITMIME"),
                  ("BODY=BINARYMIME", b"MAIL FROM:<a@example.com> BODY=BINARYMIME"),
                  ("BODY=junk", b"MAIL FROM:<a@example.com> BODY=junk"),
                  ("utf8 no param", "MAIL FROM:<j\u00f6@example.com>".encode()),
                  ("utf8 with param", "MAIL FROM:<j\u00f6@example.com> SMTPUTF8".encode()),
                  ("SMTPUTF8=x", b"MAIL FROM:<a@example.com> SMTPUTF8=x"),
                  ("invalid utf8 w/ param", b"MAIL FROM:<j\xff\xfe@example.com> SMTPUTF8"),
                  ("null sender", b"MAIL FROM:<>"), ("null sender SIZE", b"MAIL FROM:<> SIZE=10"),
                  ("trailing junk after >", b"MAIL FROM:<a@example.com>junk"),
                  ("two addresses", b"MAIL FROM:<a@example.com> <b@example.com>"),
                  ("nested brackets", b"MAIL FROM:<<a@example.com>>"), ("no local", b"MAIL FROM:<@example.com>"),
                  ("no domain", b"MAIL FROM:<a@>"), ("domain only local", b"MAIL FROM:<a>"),
                  ("bad domain chars", b"MAIL FROM:<a@exa_mple..com>"), ("ENVID/RET", b"MAIL FROM:<a@example.com> RET=HDRS ENVID=x"),
                  ("AUTH=<>", b"MAIL FROM:<a@example.com> AUTH=<>"),
                  ("local part 65", b"MAIL FROM:<" + b"a" * 65 + b"@example.com>"),
                  ("ctrl char", b"MAIL FROM:<a\x01@example.com>"),
                  ("unterminated quote", b'MAIL FROM:<"a@example.com>'),
                  ("quoted with >", b'MAIL FROM:<"a>b"@example.com>')]:
        note(f"mail: {nm}", codes(raw(port, [E + l + b"\r\n"], quiet=0.3)))
    for nm, l in [("RCPT postmaster", b"RCPT TO:<postmaster>"), ("RCPT Postmaster@", b"RCPT TO:<Postmaster@example.org>"),
                  ("RCPT null", b"RCPT TO:<>"), ("RCPT NOTIFY", b"RCPT TO:<b@example.org> NOTIFY=NEVER"),
                  ("RCPT utf8 w/o", "RCPT TO:<b\u00f6@example.org>".encode()),
                  ("RCPT source route", b"RCPT TO:<@x.com:b@example.org>"),
                  ("RCPT quoted", b'RCPT TO:<"b c"@example.org>'),
                  ("RCPT no brackets", b"RCPT TO:b@example.org"), ("RCPT ip literal", b"RCPT TO:<b@[192.0.2.1]>")]:
        note(f"rcpt: {nm}", codes(raw(port, [E + MF + l + b"\r\n"], quiet=0.3)))
    # recipient limit (5)
    t = raw(port, [E + MF + b"".join(b"RCPT TO:<r%d@example.org>\r\n" % i for i in range(8)) + b"DATA\r\n" + MSG +
                   b".\r\n"])
    note("rcpt limit 5, 8 sent", codes(t))
    # error limit
    t = raw(port, [E + b"BOGUS\r\n" * 30 + b"NOOP\r\n"], quiet=0.5)
    note("30 unknown commands", codes(t)[-3:])
    t = raw(port, [E + b"RSET\r\n" * 10000], quiet=1.0)
    note("10000 RSET", f"n={len(codes(t))} last={codes(t)[-2:]}")
    t = raw(port, [E + b"NOOP\r\n" * 10000], quiet=1.0)
    note("10000 NOOP", f"n={len(codes(t))} last={codes(t)[-2:]}")
    t = raw(port, [E + b"VRFY a\r\n" * 200], quiet=1.0)
    note("200 VRFY", f"n={len(codes(t))} last={codes(t)[-2:]}")
    t = raw(port, [E + b"MAIL FROM:<a@example.com>\r\n" * 30], quiet=0.5)
    note("30 nested MAIL", f"n={len(codes(t))} last={codes(t)[-2:]}")
    t = raw(port, [E + b"EHLO x\r\n" * 300], quiet=1.0)
    note("300 EHLO", f"n={len(codes(t))} last={codes(t)[-2:]}")
    t = raw(port, [E + b"AUTH PLAIN " + b64("\0u1\0bad").encode() + b"\r\n"] * 15, quiet=1.5)
    note("15 failed AUTH", f"{codes(t)[-3:]}")
    # HELO vs EHLO
    note("HELO then MAIL", codes(raw(port, [b"HELO x\r\n" + MF + RT + b"BDAT 3 LAST\r\nabc"])))
    note("MAIL before HELO", codes(raw(port, [MF])))
    # half-close right after end of data
    for extra in [b"", b"QUIT\r\n"]:
        before = nspool(r)
        t = raw(port, [E + MF + RT + b"DATA\r\n" + MSG + b".\r\n" + extra], shut=True, quiet=2.0)
        time.sleep(0.3)
        note(f"half-close after end-of-data {extra!r}", f"{codes(t)} spooled={nspool(r) - before}")
    before = nspool(r)
    t = raw(port, [E + MF + RT + b"BDAT %d LAST\r\n" % len(MSG) + MSG], shut=True, quiet=2.0)
    time.sleep(0.3)
    note("half-close after BDAT LAST", f"{codes(t)} spooled={nspool(r) - before}")
    before = nspool(r)
    t = raw(port, [E + MF + RT + b"DATA\r\n" + MSG], shut=True, quiet=2.0)
    time.sleep(0.3)
    note("half-close mid-DATA", f"{codes(t)} spooled={nspool(r) - before}")
    # RST mid-DATA
    before = nspool(r)
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.recv(1000)
    s.sendall(E + MF + RT + b"DATA\r\n" + MSG)
    time.sleep(0.3)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    time.sleep(0.3)
    note("RST mid-DATA", f"spooled={nspool(r) - before}")
    # RST right after end-of-data (race; message may be spooled, fine)
    # message variants
    for nm, body in [("headers only no blank", b"Subject: h\r\nFrom: <a@example.com>\r\n"),
                     ("empty message", b""), ("body only", b"\r\njust body\r\n"),
                     ("no trailing CRLF before dot", b"Subject: x\r\n\r\nbody"),
                     ("header no colon", b"NotAHeader\r\n\r\nbody\r\n"),
                     ("8bit header", "Subject: h\u00e9\r\n\r\nb\r\n".encode()),
                     ("From with two addresses", b"From: a@example.com, b@example.com\r\n\r\nb\r\n")]:
        before = nspool(r)
        t = raw(port, [E + MF + RT + b"DATA\r\n" + body + b".\r\nNOOP\r\n"])
        note(f"msg: {nm}", f"{codes(t)} spooled={nspool(r) - before}")
    # many parallel sessions
    before = nspool(r)
    res = []

    def one(i):
        try:
            res.append(codes(raw(port, [E + MF + RT + b"DATA\r\n" + MSG + b".\r\nQUIT\r\n"], quiet=2.0))[-2])
        except Exception as e:  # noqa
            res.append(str(e))
    th = [threading.Thread(target=one, args=(i,)) for i in range(80)]
    [x.start() for x in th]
    [x.join() for x in th]
    from collections import Counter
    note("80 parallel sessions", f"{Counter(res)} spooled={nspool(r) - before}")
    # slowloris 1 byte/s for 3 s (just check nothing breaks)
    t = raw(port, [bytes([b]) for b in b"NOOP\r\n"], delay=0.5, quiet=0.5)
    note("slow command 0.5 s/byte", codes(t))


if __name__ == "__main__":
    main()
