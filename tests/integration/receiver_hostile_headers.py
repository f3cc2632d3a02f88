#!/usr/bin/python3
"""relay-receiver against hostile header sections (issue 9 items 2 and 3).

A user limited by allowed_senders must not get a header From/Sender outside
the list past the receiver by header syntax the checker reads differently
from the sender (space/tab before the colon, long folded comments, encoded
words, groups, duplicate fields, unterminated comments), with policy reject
or rewrite; each attempt gets a 5xx with a log line and the same user's
legitimate mail still gets 250. A 50 MB flood of `From:a` lines gets
552 5.3.4 and the receiver's memory stays bounded (VmHWM measured).
"""
import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from receiver_common import Smtp, entry, expect, hash_password, make_relay, spool_ids, start  # noqa: E402
from relaytest import run_tests  # noqa: E402

USERS = [{"name": "scanner1", "password_hash": hash_password("pw-scan"),
          "allowed_senders": ["scan@contoso.example"]}]
SCAN = "scan@contoso.example"
CEO = "ceo@contoso.example"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def login(c, user="scanner1", pw="pw-scan"):
    c.ehlo()
    expect(c.cmd("AUTH PLAIN " + b64(f"\0{user}\0{pw}")), 235, "2.7.0", "AUTH")


def data(c, headers, frm=SCAN, body=b"body\r\n"):
    expect(c.cmd(f"MAIL FROM:<{frm}>"), 250, what="MAIL")
    expect(c.cmd("RCPT TO:<x@example.org>"), 250, what="RCPT")
    expect(c.cmd("DATA"), 354, what="DATA")
    c.send(headers.encode() + b"To: x@example.org\r\nSubject: hostile\r\n\r\n" + body + b".\r\n")
    return c.reply()


def folded_comment(size):
    """A comment of `size` octets folded over lines of ~70."""
    words = ["(pad"] + ["x" * 60] * (size // 62) + ["pad)"]
    return "\r\n ".join(words)


HOSTILE = [
    ("space before colon", f"From : {CEO}\r\n"),
    ("tab before colon", f"From\t: {CEO}\r\n"),
    ("5 KB folded comment before the address", f"From: {folded_comment(5000)} {CEO}\r\n"),
    ("5 KB folded comment in the display name", f"From: Scan {folded_comment(5000)} <{CEO}>\r\n"),
    ("encoded word naming the allowed address", f"From: =?utf-8?q?{SCAN.replace('@', '=40')}?= <{CEO}>\r\n"),
    ("encoded word as the local part", "From: =?utf-8?q?ceo?=@contoso.example\r\n"),
    ("quoted allowed address as display name", f"From: \"{SCAN}\" <{CEO}>\r\n"),
    ("group syntax", f"From: Team: {CEO};\r\n"),
    ("group holding the allowed address", f"From: Team: {SCAN};\r\n"),
    ("two From fields", f"From: {SCAN}\r\nFrom: {CEO}\r\n"),
    ("two From fields, second spelled differently", f"From: {SCAN}\r\nFROM : {CEO}\r\n"),
    ("two addresses without Sender", f"From: {SCAN}, {CEO}\r\n"),
    ("Sender outside the list", f"From: {SCAN}\r\nSender : {CEO}\r\n"),
    ("unterminated comment", f"From: {SCAN} (hi\r\n"),
    ("unterminated quoted string", f"From: \"Scan <{SCAN}>\r\n"),
    ("comment hiding the real address", f"From: ({SCAN}) {CEO}\r\n"),
    ("nested comment", f"From: (a (b) <{SCAN}>) {CEO}\r\n"),
    # A non-field line starts the body (as in Postfix): no From is left, and
    # scanner1 may not send as the default sender either.
    ("line that is no header field before From", f"X-A: 1\r\nthis is no field\r\nFrom: {CEO}\r\n"),
    ("continuation line before the first field", f" folded\r\nFrom: {CEO}\r\n"),
    ("angle address without closing bracket", f"From: Scan <{SCAN}\r\n"),
    ("From field over 16 KB", f"From: {folded_comment(17000)} <{SCAN}>\r\n"),
]


def refused_logged(r, before, what):
    log = r.read_log("receiver")[before:]
    assert "event=refused" in log, f"{what}: no event=refused log line after the refusal:\n{log[-2000:]}"


def check_hostile(r, c, cases):
    wrong = []
    for what, headers in cases:
        before = len(r.read_log("receiver"))
        rep = data(c, headers)
        if not ((rep.code == 550 and rep.enh == "5.7.1") or (rep.code == 554 and rep.enh.startswith("5."))):
            wrong.append(f"{what}: expected 550 5.7.1 or 554 5.x.x, got {rep!r}")
            continue
        refused_logged(r, before, what)
    assert not wrong, "\n".join(wrong)
    assert spool_ids(r) == [], f"refused messages were spooled: {spool_ids(r)}"


def check_legit(r, c):
    for what, headers in [("plain", f"From: {SCAN}\r\n"),
                          ("display name and comment", f"From: \"Scan, Office\" (floor 2) <{SCAN}>\r\n"),
                          ("encoded display name", f"From: =?utf-8?q?Scanner_B=C3=BCro?= <{SCAN}>\r\n"),
                          ("folded", f"From: Scanner\r\n <{SCAN}>\r\nSender: {SCAN}\r\n")]:
        rep = expect(data(c, headers), 250, "2.0.0", f"legit {what}")
        assert SCAN.encode() in entry(r, rep.qid())[1]


def test_per_user_list_policy_reject():
    cfg = {"senders": {"allowed": ["@contoso.example"], "policy": "reject"},
           "receiver": {"auth": "optional", "users": USERS}}
    with make_relay(cfg) as r:
        start(r)
        with Smtp(r.port) as c:
            login(c)
            check_hostile(r, c, HOSTILE)
            check_legit(r, c)


def test_per_user_list_policy_rewrite():
    cfg = {"senders": {"allowed": ["@contoso.example"], "policy": "rewrite",
                       "default_sender": "relay@contoso.example"},
           "receiver": {"auth": "optional", "users": USERS}}
    with make_relay(cfg) as r:
        start(r)
        with Smtp(r.port) as c:
            login(c)
            expect(data(c, f"From: {CEO}\r\n"), 550, "5.7.1", "rewrite: header From outside the per-user list")
            expect(c.cmd("RSET"), 250)
            expect(c.cmd(f"MAIL FROM:<{CEO}>"), 550, "5.7.1", "rewrite: MAIL FROM outside the per-user list")
            expect(c.cmd("RSET"), 250)
            check_hostile(r, c, HOSTILE)
            check_legit(r, c)
        with Smtp(r.port) as c:  # no AUTH: no per-user list, rewrite is the dispatcher's job
            c.ehlo()
            expect(data(c, "From: evil@other.test\r\n", frm="a@contoso.example"), 250, what="rewrite, no AUTH")
            expect(data(c, "From : evil@other.test\r\n", frm="a@contoso.example"), 250,
                   what="rewrite, no AUTH, space before colon")
            rep = data(c, "From: a@contoso.example\r\nFrom: evil@other.test\r\n", frm="a@contoso.example")
            expect(rep, 550, "5.7.1", "rewrite, two From fields are still ambiguous")


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def flood(c, total, line=b"From:a\r\n"):
    expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
    expect(c.cmd("RCPT TO:<x@example.org>"), 250)
    expect(c.cmd("DATA"), 354)
    block = line * (1 << 16)
    sent = 0
    while sent < total:
        c.send(block)
        sent += len(block)
    c.send(b"\r\nbody\r\n.\r\n")
    return c.reply(timeout=60)


def test_header_flood_memory():
    with make_relay({"receiver": {"limits": {"max_message_size": 100 << 20}}}) as r:
        p = start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            expect(data(c, "From: a@example.com\r\n", frm="a@example.com"), 250, what="warm-up")
            rss0 = vm(p.pid, "VmRSS")
            rep = flood(c, 50 << 20)
            grown = vm(p.pid, "VmHWM") - rss0
            print(f"flood: reply {rep!r}; receiver VmRSS before {rss0 >> 10} KiB, "
                  f"VmHWM after {vm(p.pid, 'VmHWM') >> 10} KiB, growth {grown / 2**20:.1f} MiB", flush=True)
            expect(rep, 552, "5.3.4", "50 MB of From:a lines")
            assert "header" in rep.text.lower(), f"552 should name the header limit: {rep!r}"
            assert grown < 20 << 20, f"receiver grew by {grown / 2**20:.1f} MiB during the flood"
            # The session is still in sync and serves the next message.
            expect(data(c, "From: a@example.com\r\n", frm="a@example.com"), 250, what="after the flood")
        assert "event=refused" in r.read_log("receiver")


def test_header_size_limit():
    with make_relay({"receiver": {"limits": {"max_header_size": 4096}}}) as r:
        start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            big = "".join(f"X-Pad-{i}: {'y' * 60}\r\n" for i in range(80))
            expect(data(c, "From: a@example.com\r\n" + big, frm="a@example.com"), 552, "5.3.4",
                   "header over max_header_size")
            small = "".join(f"X-Pad-{i}: {'y' * 60}\r\n" for i in range(20))
            expect(data(c, "From: a@example.com\r\n" + small, frm="a@example.com",
                        body=b"z" * 900 + b"\r\n" * 10), 250, what="header under the limit, body does not count")


if __name__ == "__main__":
    run_tests([test_per_user_list_policy_reject, test_per_user_list_policy_rewrite, test_header_flood_memory,
               test_header_size_limit])
