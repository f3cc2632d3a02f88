#!/usr/bin/python3
"""Microsoft 365 through the whole pipeline: SMTP into the real receiver,
the real dispatcher with an m365 provider pointed at fake_graph.py (HTTPS,
test CA), the delivery log checked in PostgreSQL. This file: the paths that
deliver — small mail byte for byte, Bcc for envelope-only recipients, a
25 MB mail through draft + upload sessions, token expiry in a run, sender
policies (reject at SMTP time, rewrite), `relayctl provider test` and
`relayctl send-test`. Errors and secrets: m365_pipeline_errors.py."""
import base64
import os
import smtplib
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from m365_common import Pipeline, added_header_names, message, parse, wait_for, wait_sql  # noqa: E402
from relaytest import run_tests  # noqa: E402

PLAIN = (b"From: Scanner <scan@example.com>\r\nTo: <a@x.org>\r\nSubject: scan 1\r\n\r\n"
         b"page one\r\n.leading dot\r\n")


def test_small_mail_is_the_spooled_message_plus_added_headers():
    with Pipeline() as p:
        p.start(dispatcher=False)
        qid = p.send("scan@example.com", ["a@x.org"], PLAIN)
        spooled = p.spooled(qid)  # exactly what the receiver made durable
        assert spooled.startswith(b"Received:") and spooled.endswith(PLAIN), spooled[:200]
        p.r.start_dispatcher()
        s = p.wait_sent(1)[0]
        assert s["via"] == "sendMail" and s["mailbox"] == "scan@example.com", s["via"]
        assert sorted(added_header_names(spooled, s["mime"])) == ["Date", "Message-ID"]
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        att = p.attempts(qid)
        assert [(a[0], a[1], a[2], a[3]) for a in att] == [(1, "sent", 202, "2.0.0")], att
        row = sql_row(p, qid, "provider, mail_from, header_from, subject, attempts, finished_at IS NOT NULL")
        assert row == ["m365", "scan@example.com", "scan@example.com", "scan 1", "1", "t"], row
        wait_for(lambda: not p.r.spool_data_files(), 10, what="spool data removed")


def sql_row(p, qid, cols):
    from m365_common import sql
    return sql(p.r, f"SELECT {cols} FROM messages WHERE queue_id='{qid}'")[0]


def test_envelope_only_recipients_become_bcc():
    with Pipeline() as p:
        p.start()
        data = message("scan@example.com", ["to@x.org"], "with hidden copies", extra_headers="Cc: <cc@x.org>\r\n")
        qid = p.send("scan@example.com", ["to@x.org", "cc@x.org", "hidden@y.org", "HIDDEN2@y.org"], data)
        s = p.wait_sent(1)[0]
        m = parse(s["mime"])
        bcc = [a.strip().lower() for a in str(m["Bcc"]).split(",")]
        assert sorted(bcc) == ["hidden2@y.org", "hidden@y.org"], m["Bcc"]
        assert sorted(x.lower() for x in s["rcpts"]) == ["cc@x.org", "hidden2@y.org", "hidden@y.org", "to@x.org"]
        assert [a.addr_spec for a in m["To"].addresses] == ["to@x.org"], m["To"]
        assert [a.addr_spec for a in m["Cc"].addresses] == ["cc@x.org"], m["Cc"]
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        wait_sql(p.r, f"SELECT array_length(rcpts, 1) FROM messages WHERE queue_id='{qid}'", 4)


def big_message(mib_each=9):
    a1, a2 = os.urandom(mib_each << 20), os.urandom(mib_each << 20)

    def part(name, data):
        b = base64.encodebytes(data).replace(b"\n", b"\r\n")
        return (b"--XX\r\nContent-Type: application/pdf; name=\"" + name + b"\"\r\nContent-Disposition: attachment;"
                b" filename=\"" + name + b"\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b)
    raw = (b"From: scan@example.com\r\nTo: a@x.org\r\nSubject: big scan\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n"
           b"two scans attached\r\n" + part(b"one.pdf", a1) + part(b"two.pdf", a2) + b"--XX--\r\n")
    return raw, a1, a2


def test_25mb_mail_goes_through_upload_sessions():
    with Pipeline(overrides={"receiver": {"limits": {"max_message_size": "40MB"}}}) as p:
        p.start()
        raw, a1, a2 = big_message()
        assert len(raw) > 25_000_000, len(raw)
        qid = p.send("scan@example.com", ["a@x.org", "bcc@y.org"], raw)
        s = p.wait_sent(1, timeout=60)[0]
        assert s["via"] == "draft", s["via"]
        assert [a["name"] for a in s["attachments"]] == ["one.pdf", "two.pdf"]
        assert s["attachments"][0]["bytes"] == a1 and s["attachments"][1]["bytes"] == a2
        assert all(a.get("upload") for a in s["attachments"]), "attachments over 3 MB must use upload sessions"
        assert "bcc@y.org" in s["rcpts"]
        # The fake records a call after answering it: the last PUT's record may trail the send.
        put_calls = lambda: [c for c in p.fg.calls if c["method"] == "PUT"]  # noqa: E731
        wait_for(lambda: len(put_calls()) >= 2 * 3, 30, what="six PUT records")
        puts = put_calls()
        assert len(puts) == 2 * 3 and all(c["status"] in (200, 201) for c in puts), puts
        assert not p.fg.violations and not p.fg.drafts, (p.fg.violations, p.fg.drafts)
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        wait_sql(p.r, f"SELECT size > 25000000 FROM messages WHERE queue_id='{qid}'", "t")


def test_token_expiry_during_a_run_makes_one_new_token_request():
    with Pipeline() as p:
        p.start()
        p.fg.latency = 0.1
        ids = [p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], f"t{i}"))
               for i in range(4)]
        p.wait_sent(4)
        assert len(p.fg.token_requests) == 1, p.fg.token_requests
        p.fg.expire_tokens()  # Graph now answers 401 InvalidAuthenticationToken to the cached token
        threads = [threading.Thread(target=lambda i=i: ids.append(
            p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], f"u{i}"))))
            for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        p.wait_sent(10)
        assert len(p.fg.token_requests) == 2, p.fg.token_requests
        assert all(t["ok"] for t in p.fg.token_requests)
        assert any(c["status"] == 401 for c in p.fg.calls), "the expired token was never refused"
        wait_sql(p.r, "SELECT count(*) FROM messages WHERE status='sent'", 10)
        # A 401 is retried inside the same attempt: no message needed a second attempt.
        wait_sql(p.r, "SELECT count(*) FROM attempts", 10)
        assert "event=token_invalidated" in p.log()


def test_sender_reject_policy_at_smtp_time():
    with Pipeline() as p:
        p.start()
        s = smtplib.SMTP("127.0.0.1", p.r.port, timeout=30)
        s.ehlo("client.test")
        code, reply = s.mail("evil@other.net")
        assert code == 550 and reply.startswith(b"5.7.1"), (code, reply)
        s.rset()
        assert s.mail("scan@example.com")[0] == 250 and s.rcpt("a@x.org")[0] == 250
        code, reply = s.data(b"From: Evil <evil@other.net>\r\nTo: a@x.org\r\nSubject: spoof\r\n\r\nbody\r\n")
        assert code == 550 and reply.startswith(b"5.7.1"), ("header From of a disallowed sender", code, reply)
        s.quit()
        qid = p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], "allowed"))
        sent = p.wait_sent(1)
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        assert len(sent) == 1 and parse(sent[0]["mime"])["Subject"] == "allowed"
        assert p.fg.sent == sent, "a refused message reached Graph"


def test_sender_rewrite_policy():
    senders = {"allowed": ["@example.com"], "default_sender": "relay@example.com", "policy": "rewrite"}
    with Pipeline(senders=senders) as p:
        p.start()
        data = b"From: Evil Printer <printer@other.net>\r\nTo: a@x.org\r\nSubject: rewritten\r\n\r\nbody\r\n"
        qid = p.send("printer@other.net", ["a@x.org"], data)
        s = p.wait_sent(1)[0]
        m = parse(s["mime"])
        assert s["mailbox"] == "relay@example.com", s["mailbox"]
        assert m["From"].addresses[0].addr_spec == "relay@example.com", m["From"]
        assert "printer@other.net" in str(m["Reply-To"]), m["Reply-To"]
        assert len(m.get_all("From")) == 1
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")


def test_provider_test_against_the_fake():
    roles = {"roles": ("Mail.Send", "Mail.ReadWrite", "User.Read.All")}
    with Pipeline(fake_kw=roles) as p:
        r = p.relayctl("provider", "test", "m365")
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.splitlines()[0] == ("m365 (m365): OK: ok: token acquired, Mail.Send granted, Mail.ReadWrite "
                                            "granted, mailbox relay@example.com found"), r.stdout
    cases = (({"client_secret": "wrong"}, {}, 401, "wrong client secret: client_secret is not a valid secret of "
              "app app-1 (AADSTS7000215)"),
             ({}, {"secret_expires": "2020-01-01"}, 401, "expired client secret: the client_secret of app app-1 has "
              "expired; create a new one and update client_secret (AADSTS7000222)"),
             ({"tenant_id": "nope"}, {}, 400, "tenant not found: tenant 'nope' does not exist at {url} (AADSTS90002);"
              " check tenant_id"))
    for prov, fake, status, text in cases:
        with Pipeline(prov=prov, fake_kw=dict(roles, **fake)) as p:
            r = p.relayctl("provider", "test", "m365")
            want = (f"m365 (m365): FAILED (permanent {status} 4.7.0, configuration error): "
                    + text.format(url=p.fg.url))
            assert r.returncode == 1, (r.returncode, r.stdout)
            assert r.stdout.splitlines()[0] == want, (r.stdout, want)
            assert len(p.fg.token_requests) == 1 and not p.fg.sent


def test_send_test_through_m365():
    with Pipeline() as p:
        p.start()
        r = p.relayctl("send-test", "--to", "ops@x.org", "--timeout", "30s")
        assert r.returncode == 0, r.stdout + r.stderr
        assert ": sent (provider=m365 attempts=1" in r.stdout, r.stdout
        s = p.wait_sent(1)[0]
        assert s["mailbox"] == "relay@example.com" and s["rcpts"] == ["ops@x.org"], s["rcpts"]
        qid = r.stdout.split(":")[0]
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")


if __name__ == "__main__":
    run_tests([test_small_mail_is_the_spooled_message_plus_added_headers, test_envelope_only_recipients_become_bcc,
               test_25mb_mail_goes_through_upload_sessions, test_token_expiry_during_a_run_makes_one_new_token_request,
               test_sender_reject_policy_at_smtp_time, test_sender_rewrite_policy, test_provider_test_against_the_fake,
               test_send_test_through_m365])
