#!/usr/bin/python3
"""relay-receiver with real clients: the ESMTP protocol, TLS modes, AUTH,
PIPELINING, BDAT, and the exact bytes that land in the spool.

Clients: Python smtplib, raw sockets (for what smtplib cannot express),
swaks and curl. Each test starts its own receiver (no database) and checks
the spool entries it produced. Runs in well under 2 minutes.
"""
import base64
import email.mime.application
import email.mime.multipart
import email.mime.text
import os
import re
import signal
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from receiver_common import (Smtp, assert_serves, assert_spooled_body, ctx, entry, env_get, env_rcpts,  # noqa: E402
                             expect, hash_password, make_relay, relayctl_hash, simple_message, smtplib_send, spool_ids,
                             split_received, start, wait_for)
from relaytest import run_tests  # noqa: E402

USERS = [{"name": "scanner1", "password_hash": hash_password("s3cret pass"), "allowed_senders": []},
         {"name": "erp", "password_hash": hash_password("erp-pw"), "allowed_senders": []}]


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def ext_names(reply):
    return {ln.split()[0].upper() for ln in reply.lines[1:]}


def test_greeting_ehlo_and_simple_commands():
    with make_relay({"receiver": {"limits": {"max_message_size": 123456}}}, ["starttls"]) as r:
        start(r)
        with Smtp(r.port) as c:
            expect(c.greeting, 220, what="greeting")
            assert "relay.test" in c.greeting.text, c.greeting
            e = c.ehlo()
            exts = ext_names(e)
            for x in ("SIZE", "PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING"):
                assert x in exts, f"EHLO lacks {x}: {e.lines}"
            assert "STARTTLS" not in exts, f"plain listener must not offer STARTTLS: {e.lines}"
            size = [ln for ln in e.lines if ln.upper().startswith("SIZE")][0]
            assert size.split()[1] == "123456", f"SIZE should advertise the limit: {size}"
            expect(c.cmd("NOOP"), 250, "2.0.0", "NOOP")
            expect(c.cmd("RSET"), 250, "2.0.0", "RSET")
            expect(c.cmd("VRFY postmaster"), 252, what="VRFY")
            h = c.cmd("HELP")
            assert h.code in (211, 214), f"HELP: {h}"
            expect(c.cmd("HELO other.test"), 250, what="HELO")
            expect(c.cmd("QUIT"), 221, "2.0.0", "QUIT")
            assert c.closed_by_server(3), "connection not closed after QUIT"
        with Smtp(r.ports["starttls"]) as c:
            assert "STARTTLS" in ext_names(c.ehlo()), "starttls listener must offer STARTTLS"
            c.starttls(ctx(r))
            assert "STARTTLS" not in ext_names(c.ehlo()), "STARTTLS offered again inside TLS"


def test_smtplib_plain_attachment_exact_bytes():
    with make_relay() as r:
        start(r)
        msg = email.mime.multipart.MIMEMultipart()
        msg["From"] = "app@example.com"
        msg["To"] = "a@example.org, b@example.org"
        msg["Subject"] = "report with attachment"
        msg.attach(email.mime.text.MIMEText("Hello,\n.a line starting with a dot\n..two dots\n.\nend\n"))
        blob = bytes(range(256)) * 200
        att = email.mime.application.MIMEApplication(blob, Name="scan.pdf")
        att["Content-Disposition"] = 'attachment; filename="scan.pdf"'
        msg.attach(att)
        wire = re.sub(rb"(?<!\r)\n", b"\r\n", msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
        assert wire.endswith(b"\r\n")
        s = smtplib.SMTP("127.0.0.1", r.port, timeout=10)
        s.ehlo("client.test")
        s.mail("app@example.com")
        s.rcpt("a@example.org")
        s.rcpt("b@example.org")
        code, text = s.data(wire)
        # the commit must be durable (and visible) the moment 250 is read
        text = text.decode()
        assert code == 250 and text.startswith("2.0.0 Ok: queued as "), f"DATA reply: {code} {text}"
        qid = text.split()[-1]
        assert qid in spool_ids(r), f"{qid} not in new/ when 250 arrived: {spool_ids(r)}"
        s.quit()
        fields, hdr = assert_spooled_body(r, qid, wire)
        assert b"relay.test" in hdr and b"client.test" in hdr, f"Received header lacks names: {hdr!r}"
        assert env_get(fields, "mail-from") == "app@example.com", fields
        assert env_rcpts(fields) == ["a@example.org", "b@example.org"], fields
        assert env_get(fields, "id") in (None, qid), fields


def test_raw_dot_unstuffing_and_crlf():
    with make_relay() as r:
        start(r)
        body = (b"Subject: dots\r\n\r\n.\r\n..\r\n...x\r\n. \r\nmid.dle\r\n.leading\r\n"
                b"trailing spaces   \r\n\ttab\r\n")
        with Smtp(r.port) as c:
            c.ehlo()
            rep = c.send_mail("a@example.com", ["b@example.com"], body)
            expect(rep, 250, "2.0.0", "DATA")
            qid = rep.qid()
        assert_spooled_body(r, qid, body)
        # an empty body (only the terminating dot) is a valid message too
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<>"), 250, what="null sender")
            expect(c.cmd("RCPT TO:<b@example.com>"), 250)
            expect(c.cmd("DATA"), 354)
            c.send(b".\r\n")
            rep = expect(c.reply(), 250, what="empty message")
        fields, data = entry(r, rep.qid())
        hdr, rest = split_received(data)
        assert rest == b"", f"empty message stored as {rest!r}"
        assert env_get(fields, "mail-from") in ("", None), fields


def test_several_messages_one_session_and_rset():
    with make_relay() as r:
        start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            ids = []
            for i in range(3):
                rep = expect(c.send_mail("a@example.com", [f"r{i}@example.com"], simple_message(f"m{i}")), 250)
                ids.append(rep.qid())
            expect(c.cmd("MAIL FROM:<x@example.com>"), 250)
            expect(c.cmd("RCPT TO:<dropped@example.com>"), 250)
            expect(c.cmd("RSET"), 250, "2.0.0")
            expect(c.cmd("RCPT TO:<y@example.com>"), 503, what="RCPT after RSET needs MAIL")
            rep = expect(c.send_mail("a@example.com", ["last@example.com"], simple_message("m3")), 250)
            ids.append(rep.qid())
        assert len(set(ids)) == 4, ids
        assert sorted(spool_ids(r)) == sorted(ids), (spool_ids(r), ids)
        for i, q in enumerate(ids):
            fields, data = entry(r, q)
            assert f"m{i}".encode() in data
            assert "dropped@example.com" not in env_rcpts(fields)


def test_starttls_and_implicit_tls_smtplib():
    with make_relay(extra_listeners=["starttls", "implicit"]) as r:
        start(r)
        code, text, qid = smtplib_send(r.ports["starttls"], "tok-starttls", tls=ctx(r))
        assert code == 250 and qid, (code, text)
        fields, _ = entry(r, qid)
        tls = env_get(fields, "tls") or ""
        assert "TLS" in tls, f"envelope does not record TLS: {fields}"
        code, text, qid2 = smtplib_send(r.ports["implicit"], "tok-implicit", implicit=ctx(r))
        assert code == 250 and qid2, (code, text)
        fields, data = entry(r, qid2)
        assert "TLS" in (env_get(fields, "tls") or ""), fields
        assert b"tok-implicit" in data
        hdr, _ = split_received(data)
        assert b"TLS" in hdr.upper() or b"ESMTPS" in hdr, f"Received should say TLS/ESMTPS: {hdr!r}"
        # a plain-text session on the implicit port gets no greeting in clear
        with Smtp(r.ports["implicit"], greet=False, timeout=2) as c:
            try:
                c._fill(1.5)
            except (OSError, EOFError):
                pass
            assert not c.buf.startswith(b"220"), f"implicit TLS port greeted in clear text: {c.buf!r}"


def test_starttls_required():
    with make_relay(extra_listeners=["starttls-required"]) as r:
        start(r)
        port = r.ports["starttls-required"]
        with Smtp(port) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<a@example.com>"), 530, "5.7.0", "MAIL before STARTTLS")
            c.starttls(ctx(r))
            c.ehlo()
            rep = c.send_mail("a@example.com", ["b@example.com"], simple_message("after-tls"))
            expect(rep, 250, "2.0.0", "after STARTTLS")
        assert b"after-tls" in entry(r, rep.qid())[1]


def _auth_relay(mode="optional", **extra):
    # many deliberate failures below: keep the per-IP throttle out of the way
    return make_relay({"receiver": {"auth": mode, "users": USERS, "limits": {"max_auth_failures_per_ip": 100},
                                    **extra}})


def test_auth_plain_and_login_raw():
    with _auth_relay() as r:
        start(r)
        with Smtp(r.port) as c:
            e = c.ehlo()
            auth = [ln for ln in e.lines if ln.upper().startswith("AUTH")]
            assert auth and "PLAIN" in auth[0].upper() and "LOGIN" in auth[0].upper(), e.lines
            expect(c.cmd("AUTH PLAIN " + b64("\0scanner1\0wrong")), 535, "5.7.8", "bad password")
            expect(c.cmd("AUTH PLAIN " + b64("\0nobody\0s3cret pass")), 535, "5.7.8", "unknown user")
            expect(c.cmd("AUTH PLAIN"), 334, what="PLAIN without initial response")
            expect(c.cmd("*"), 501, what="cancel")
            expect(c.cmd("AUTH LOGIN"), 334, what="LOGIN")
            expect(c.cmd(b64("scanner1")), 334, what="LOGIN user")
            expect(c.cmd("*"), 501, what="cancel LOGIN")
            expect(c.cmd("AUTH PLAIN " + b64("\0scanner1\0s3cret pass")), 235, "2.7.0", "PLAIN initial response")
            expect(c.cmd("AUTH PLAIN " + b64("\0scanner1\0s3cret pass")), 503, what="second AUTH")
            rep = expect(c.send_mail("scan@example.com", ["x@example.com"], simple_message("auth1")), 250)
        fields, _ = entry(r, rep.qid())
        assert env_get(fields, "auth-user") == "scanner1", fields
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("AUTH LOGIN " + b64("erp")), 334, what="LOGIN with initial response")
            expect(c.cmd(b64("erp-pw")), 235, "2.7.0", "LOGIN password")
            rep = expect(c.send_mail("erp@example.com", ["x@example.com"], simple_message("auth2")), 250)
        assert env_get(entry(r, rep.qid())[0], "auth-user") == "erp"
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("AUTH PLAIN"), 334)
            expect(c.cmd(b64("\0erp\0erp-pw")), 235, "2.7.0", "PLAIN in a continuation")
            expect(c.cmd("AUTH LOGIN"), 503, what="AUTH after success")
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("AUTH LOGIN"), 334)
            expect(c.cmd(b64("erp")), 334)
            expect(c.cmd(b64("not-it")), 535, "5.7.8", "LOGIN wrong password")
            expect(c.cmd("AUTH PLAIN not-base64!!"), 501, what="malformed base64")


def test_auth_smtplib_plain_login():
    # a third user whose hash comes from `relayctl hash-password` when relayctl is built
    users = USERS + [{"name": "ctl", "password_hash": relayctl_hash("ctl pw"), "allowed_senders": []}]
    with make_relay({"receiver": {"auth": "optional", "users": users}}) as r:
        start(r)
        s = smtplib.SMTP("127.0.0.1", r.port, timeout=10)
        s.ehlo("client.test")
        code, _ = s.login("ctl", "ctl pw")
        assert code == 235, code
        s.quit()
        for mech in ("PLAIN", "LOGIN"):
            s = smtplib.SMTP("127.0.0.1", r.port, timeout=10)
            s.ehlo("client.test")
            s.user, s.password = "scanner1", "s3cret pass"
            auth_fn = s.auth_plain if mech == "PLAIN" else s.auth_login
            code, _ = s.auth(mech, auth_fn, initial_response_ok=(mech == "PLAIN"))
            assert code == 235, (mech, code)
            s.mail("scan@example.com")
            s.rcpt("x@example.com")
            code, text = s.data(simple_message("smtplib-" + mech))
            assert code == 250, (mech, code, text)
            s.quit()
            qid = text.decode().split()[-1]
            assert env_get(entry(r, qid)[0], "auth-user") == "scanner1"
        s = smtplib.SMTP("127.0.0.1", r.port, timeout=10)
        s.ehlo("client.test")
        try:
            s.login("scanner1", "wrong")
            raise AssertionError("login with a wrong password succeeded")
        except smtplib.SMTPAuthenticationError as e:
            assert e.smtp_code == 535, e
        s.close()


def test_pipelining():
    with make_relay() as r:
        start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            c.send("MAIL FROM:<p@example.com>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
                   "RCPT TO:<c@example.com>\r\nDATA\r\n")
            for what in ("MAIL", "RCPT", "RCPT", "RCPT"):
                expect(c.reply(), 250, what=what)
            expect(c.reply(), 354, what="DATA")
            body = simple_message("pipe1")
            # the end of data, the next transaction and QUIT in one write
            c.send(body + b".\r\nRSET\r\nMAIL FROM:<q@example.com>\r\nRCPT TO:<d@example.com>\r\nDATA\r\n")
            rep1 = expect(c.reply(), 250, "2.0.0", "end of data 1")
            expect(c.reply(), 250, what="RSET")
            expect(c.reply(), 250, what="MAIL 2")
            expect(c.reply(), 250, what="RCPT 2")
            expect(c.reply(), 354, what="DATA 2")
            body2 = simple_message("pipe2")
            c.send(body2 + b".\r\nQUIT\r\n")
            rep2 = expect(c.reply(), 250, "2.0.0", "end of data 2")
            expect(c.reply(), 221, what="QUIT")
        f1, _ = assert_spooled_body(r, rep1.qid(), body)
        assert env_rcpts(f1) == ["a@example.com", "b@example.com", "c@example.com"], f1
        f2, _ = assert_spooled_body(r, rep2.qid(), body2)
        assert env_rcpts(f2) == ["d@example.com"], f2


def test_bdat_chunking():
    with make_relay() as r:
        start(r)
        part1 = b"Subject: bdat\r\n\r\n.this dot stays\r\n"
        part2 = b"binary \x00\xff\x80 bytes\r\n.\r\nstill data\r\n"
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<b@example.com>"), 250)
            expect(c.cmd("RCPT TO:<x@example.com>"), 250)
            c.send(f"BDAT {len(part1)}\r\n".encode() + part1)
            expect(c.reply(), 250, what="BDAT chunk 1")
            c.send(f"BDAT {len(part2)} LAST\r\n".encode() + part2)
            rep = expect(c.reply(), 250, "2.0.0", "BDAT LAST")
            # pipelined: MAIL, RCPT, BDAT, BDAT 0 LAST in one write
            p = b"Subject: two\r\n\r\nx\r\n"
            c.send(b"MAIL FROM:<b@example.com>\r\nRCPT TO:<y@example.com>\r\n" +
                   f"BDAT {len(p)}\r\n".encode() + p + b"BDAT 0 LAST\r\n")
            expect(c.reply(), 250)
            expect(c.reply(), 250)
            expect(c.reply(), 250, what="BDAT pipelined")
            rep2 = expect(c.reply(), 250, "2.0.0", "BDAT 0 LAST")
            expect(c.cmd("DATA"), 503, what="DATA without MAIL after BDAT")
        assert_spooled_body(r, rep.qid(), part1 + part2)
        assert_spooled_body(r, rep2.qid(), p)


def test_8bitmime_and_smtputf8():
    with make_relay() as r:
        start(r)
        body = "Subject: =?utf-8?q?x?=\r\nContent-Type: text/plain; charset=utf-8\r\n" \
               "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln – ✓\r\n".encode()
        with Smtp(r.port) as c:
            c.ehlo()
            rep = expect(c.send_mail("a@example.com", ["b@example.com"], body, "BODY=8BITMIME"), 250)
            expect(c.cmd("MAIL FROM:<jürgen@bücher.example>"), 5, what="non-ASCII sender without SMTPUTF8")
            rep2 = expect(c.send_mail("jürgen@bücher.example", ["zoë@example.com"], simple_message("utf8"),
                                      "SMTPUTF8"), 250, what="SMTPUTF8 transaction")
        f, _ = assert_spooled_body(r, rep.qid(), body)
        assert "8BITMIME" in (env_get(f, "mail-params") or "").upper(), f
        f2, _ = entry(r, rep2.qid())
        assert env_get(f2, "mail-from") == "jürgen@bücher.example", f2
        assert env_rcpts(f2) == ["zoë@example.com"], f2


def _swaks(*args):
    return subprocess.run(["swaks", "--hide-all", "--suppress-data", *args], capture_output=True, text=True,
                          timeout=60)


def test_swaks_plain_starttls_auth():
    with make_relay({"receiver": {"auth": "optional", "users": USERS}}, ["starttls", "implicit"]) as r:
        start(r)
        runs = [
            ["--server", f"127.0.0.1:{r.port}"],
            ["--server", f"127.0.0.1:{r.ports['starttls']}", "--tls", "--auth", "PLAIN",
             "--auth-user", "scanner1", "--auth-password", "s3cret pass"],
            ["--server", f"127.0.0.1:{r.ports['implicit']}", "--tlsc", "--auth", "LOGIN",
             "--auth-user", "erp", "--auth-password", "erp-pw"],
        ]
        for i, extra in enumerate(runs):
            before = set(spool_ids(r))
            p = _swaks("--from", "sw@example.com", "--to", f"t{i}@example.com", "--header",
                       f"Subject: swaks{i}", "--body", f"swaks body {i}", *extra)
            assert p.returncode == 0, f"swaks {extra}: rc={p.returncode} {p.stdout}{p.stderr}"
            new = set(spool_ids(r)) - before
            assert len(new) == 1, f"swaks run {i}: new entries {new}"
            fields, data = entry(r, new.pop())
            assert f"swaks body {i}".encode() in data
            assert env_rcpts(fields) == [f"t{i}@example.com"]
        p = _swaks("--server", f"127.0.0.1:{r.ports['starttls']}", "--tls", "--auth", "PLAIN",
                   "--auth-user", "scanner1", "--auth-password", "bad", "--from", "a@example.com",
                   "--to", "b@example.com")
        assert p.returncode != 0, "swaks with a bad password succeeded"


def test_curl_smtp_and_smtps():
    with make_relay(extra_listeners=["starttls-required", "implicit"]) as r:
        start(r)
        msg = os.path.join(r.dir, "curl.eml")
        with open(msg, "wb") as f:
            f.write(b"From: c@example.com\r\nTo: d@example.com\r\nSubject: curl\r\n\r\ncurl body\r\n.dot\r\n")
        runs = [(f"smtp://127.0.0.1:{r.port}", []),
                (f"smtp://localhost:{r.ports['starttls-required']}", ["--ssl-reqd"]),
                (f"smtps://localhost:{r.ports['implicit']}", [])]
        for url, extra in runs:
            before = set(spool_ids(r))
            p = subprocess.run(["curl", "-sS", "--url", url, "--cacert", r.certs.ca, "--mail-from", "c@example.com",
                                "--mail-rcpt", "d@example.com", "--mail-rcpt", "e@example.com", "--upload-file", msg,
                                *extra], capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, f"curl {url}: rc={p.returncode} {p.stderr}"
            new = set(spool_ids(r)) - before
            assert len(new) == 1, (url, new)
            fields, _ = assert_spooled_body(r, new.pop(), open(msg, "rb").read())
            assert env_rcpts(fields) == ["d@example.com", "e@example.com"], fields
        # curl without TLS against the starttls-required port must not get mail in
        before = set(spool_ids(r))
        p = subprocess.run(["curl", "-sS", "--url", f"smtp://127.0.0.1:{r.ports['starttls-required']}",
                            "--mail-from", "c@example.com", "--mail-rcpt", "d@example.com", "--upload-file", msg],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode != 0 and set(spool_ids(r)) == before, f"plain curl got through: {p.returncode}"


def test_sigterm_graceful():
    with make_relay({"receiver": {"limits": {"shutdown_grace": "10s"}}}) as r:
        proc = start(r)
        c = Smtp(r.port)
        c.ehlo()
        expect(c.cmd("MAIL FROM:<a@example.com>"), 250)
        expect(c.cmd("RCPT TO:<b@example.com>"), 250)
        expect(c.cmd("DATA"), 354)
        c.send(b"Subject: in flight\r\n\r\nfirst half\r\n")
        idle = Smtp(r.port)
        idle.ehlo()
        os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None, "receiver exited while a DATA transfer was in progress"
        c.send(b"second half\r\n.\r\n")
        rep = expect(c.reply(), 250, "2.0.0", "DATA finished during shutdown grace")
        c.close()
        assert idle.closed_by_server(12), "idle session not closed on SIGTERM"
        idle.close()
        wait_for(lambda: proc.poll() is not None, 12, what="receiver exit after SIGTERM")
        assert proc.returncode == 0, f"exit code {proc.returncode} after SIGTERM"
        _, data = entry(r, rep.qid())
        assert data.endswith(b"first half\r\nsecond half\r\n"), data[-60:]


def test_sighup_reload():
    with make_relay({"senders": {"allowed": ["@a.example"], "policy": "reject"}}) as r:
        proc = start(r)
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<x@b.example>"), 550, "5.7.1", "sender before reload")
        r.cfg["senders"]["allowed"] = ["@b.example"]
        r.write_config()
        os.kill(proc.pid, signal.SIGHUP)

        def allowed_now():
            with Smtp(r.port) as c:
                c.ehlo()
                return c.cmd("MAIL FROM:<x@b.example>").code == 250
        wait_for(allowed_now, 30, interval=0.2, what="reloaded sender policy")
        assert proc.poll() is None
        # a broken file on SIGHUP keeps the running config
        with open(r.config_path, "w") as f:
            f.write("receiver: [this is not: valid\n")
        os.kill(proc.pid, signal.SIGHUP)
        time.sleep(1)
        assert proc.poll() is None, "receiver died on SIGHUP with a broken config"
        assert_serves(r, frm="ok@b.example")
        with Smtp(r.port) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<x@b.example>"), 250, what="old config kept after failed reload")


if __name__ == "__main__":
    run_tests([test_greeting_ehlo_and_simple_commands, test_smtplib_plain_attachment_exact_bytes,
               test_raw_dot_unstuffing_and_crlf, test_several_messages_one_session_and_rset,
               test_starttls_and_implicit_tls_smtplib, test_starttls_required, test_auth_plain_and_login_raw,
               test_auth_smtplib_plain_login, test_pipelining, test_bdat_chunking, test_8bitmime_and_smtputf8,
               test_swaks_plain_starttls_auth, test_curl_smtp_and_smtps, test_sigterm_graceful,
               test_sighup_reload])
