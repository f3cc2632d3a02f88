#!/usr/bin/python3
"""The m365 adapter alone (uv loop + CurlMulti + adapter, via m365_driver)
against fake_graph.py over HTTPS: token sharing, MIME sendMail, the
draft/upload-session path, every error class, config errors, test(), secret
expiry, certificate assertions, sender policy."""
import base64
import email
import email.policy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_graph import FakeGraph  # noqa: E402
from relaytest import BUILD, run_tests, wait_for  # noqa: E402

DRIVER = os.path.join(BUILD, "tests", "dispatcher", "m365", "m365_driver")


class Env:
    def __init__(self, senders=None, fake_kw=None, **prov):
        self.dir = tempfile.mkdtemp(prefix="relay-m365-")
        self.fg = FakeGraph(self.dir, **(fake_kw or {})).start()
        self.senders = senders or {"allowed": ["@example.com"], "default_sender": "relay@example.com", "policy": "reject"}
        self.prov = prov

    def config(self):
        cfg = {"spool": {"directory": os.path.join(self.dir, "spool")}, "senders": self.senders,
               "providers": {"m365": self.fg.provider_config(**self.prov)}, "default_provider": "m365",
               "dispatcher": {"processes": 1},  # one driver process: the whole per-mailbox share
               "log": {"level": "info"}}
        path = os.path.join(self.dir, "relay.yaml")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def run(self, *args, timeout=120):
        r = subprocess.run([DRIVER, self.config(), "m365", *args], capture_output=True, text=True, timeout=timeout)
        lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
        if not lines or not lines[-1].get("summary"):
            raise AssertionError(f"driver failed rc={r.returncode}: {r.stdout}\n{r.stderr[-3000:]}")
        self.stderr = r.stderr
        return [l for l in lines if not l.get("summary") and "secret" not in l], lines[-1], lines

    def send(self, raw, mail_from, rcpts, count=1, delay_ms=0):
        path = os.path.join(self.dir, f"m{time.time_ns()}.eml")
        with open(path, "wb") as f:
            f.write(raw if isinstance(raw, bytes) else raw.encode())
        results, summary, _ = self.run("send", path, mail_from, ",".join(rcpts), str(count), str(delay_ms))
        return results, summary

    def close(self):
        self.fg.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


SIMPLE = "From: Scanner <scan@example.com>\r\nTo: a@x.org\r\nSubject: scan 1\r\n\r\nhello\r\n"


def headers_added(original, got):
    """got must be original with only new header lines on top; returns them."""
    assert got.endswith(original), "message changed below the added headers"
    return got[: len(got) - len(original)]


def test_small_mail_with_bcc_only_recipients():
    with Env() as e:
        res, summary = e.send(SIMPLE, "scan@example.com", ["a@x.org", "hidden@y.org", "h2@y.org"])
        assert res[0]["outcome"] == "sent" and res[0]["code"] == 202, res
        assert summary["token_requests"] == 1
        s = e.fg.sent[0]
        assert s["via"] == "sendMail" and s["mailbox"] == "scan@example.com"
        added = headers_added(SIMPLE, s["mime"].decode())
        assert added.startswith("Bcc: hidden@y.org,\r\n h2@y.org\r\n"), added
        assert "Message-ID: <" in added and "\r\nDate: " in added, added
        assert sorted(s["rcpts"]) == ["a@x.org", "h2@y.org", "hidden@y.org"]


def test_many_messages_one_token_four_per_mailbox():
    with Env(rate_per_minute=0) as e:
        e.fg.latency = 0.05
        # The first requests are answered once four are in flight together:
        # the peak no longer depends on the machine letting them overlap.
        e.fg.gather_inflight = 4
        # 12, not 40: the adapter hands back (held, not sent) what would wait
        # longer than max_wait (2 s) behind the mailbox's 4 slots, and with
        # 36 waiting a slow machine (ASan, busy cores: ~300 ms a request)
        # crossed that; 8 waiting stay under it up to ~1 s a request.
        res, summary = e.send(SIMPLE, "scan@example.com", ["a@x.org"], count=12)
        assert [r["outcome"] for r in res] == ["sent"] * 12, [r for r in res if r["outcome"] != "sent"]
        assert summary["token_requests"] == 1, summary
        assert e.fg.max_inflight["scan@example.com"] == 4, e.fg.max_inflight
        assert not e.fg.violations, e.fg.violations


def big_message(mb_each=12):
    rnd = os.urandom(mb_each * 1024 * 1024)
    rnd2 = os.urandom(mb_each * 1024 * 1024)
    def part(name, data):
        b = base64.encodebytes(data).decode().replace("\n", "\r\n")
        return (f"--XX\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n"
                f"Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b}")
    raw = ("From: scan@example.com\r\nTo: a@x.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
           + part("one.bin", rnd) + part("two.bin", rnd2) + "--XX--\r\n")
    return raw, rnd, rnd2


def test_25mb_mail_goes_through_draft_and_upload_sessions():
    with Env() as e:
        raw, a1, a2 = big_message()
        assert len(raw) > 25 * 1000 * 1000
        res, summary = e.send(raw, "scan@example.com", ["a@x.org", "bcc@y.org"])
        assert res[0]["outcome"] == "sent", res
        s = e.fg.sent[0]
        assert s["via"] == "draft"
        assert [a["bytes"] for a in s["attachments"]] == [a1, a2]
        assert all(a.get("upload") for a in s["attachments"])
        assert "bcc@y.org" in s["rcpts"]
        assert not e.fg.violations, e.fg.violations
        puts = [r for r in e.fg.requests if r[0] == "PUT"]
        assert len(puts) == 2 * ((12 * 1024 * 1024 + 3276799) // 3276800) and not any(r[2] for r in puts)
        assert not e.fg.drafts  # sent drafts are gone


def test_token_expiry_during_run_exactly_one_new_token():
    with Env() as e:
        e.fg.latency = 0.3
        # 10 messages 300 ms apart; tokens expire server-side in the middle:
        # once the fake has accepted two messages (so the first token exists
        # and is in use), with most messages still to come.
        import threading

        def expire_after_two_sent():
            try:
                wait_for(lambda: len(e.fg.sent) >= 2, 60, what="2 messages sent")
            except AssertionError:
                return  # never expired: the token_requests assertion below fails
            e.fg.expire_tokens()

        threading.Thread(target=expire_after_two_sent, daemon=True).start()
        res, summary = e.send(SIMPLE, "scan@example.com", ["a@x.org"], count=10, delay_ms=300)
        assert [r["outcome"] for r in res] == ["sent"] * 10, res
        assert summary["token_requests"] == 2, summary
        assert len(e.fg.token_requests) == 2


def test_throttling_forms_of_retry_after():
    with Env() as e:
        for ra, lo, hi in (("7", 7, 7), ("2.5", 3, 3), ("date+40", 38, 41)):
            t0 = time.time()
            if ra == "date+40":  # HTTP-date 40 s ahead, computed right before its own send
                ra = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t0 + 40))
            e.fg.add_fault("sendMail", status=429, code="ApplicationThrottled", retry_after=ra)
            res, _ = e.send(SIMPLE, "scan@example.com", ["a@x.org"])
            if lo != hi:  # the date's delay shrinks by the time the send took
                lo -= int(time.time() - t0 + 0.999)
            assert res[0]["outcome"] == "transient" and res[0]["code"] == 429, res
            assert lo <= res[0]["retry_after"] <= hi, (ra, res)
        e.fg.add_fault("sendMail", status=503, code="ServiceUnavailable", retry_after="5")
        res, _ = e.send(SIMPLE, "scan@example.com", ["a@x.org"])
        assert res[0]["outcome"] == "transient" and res[0]["retry_after"] == 5
        assert "slowed" in res[0]["text"]


def test_throttled_mailbox_is_slowed_for_the_next_message():
    with Env() as e:
        e.fg.add_fault("sendMail", status=429, code="ApplicationThrottled", retry_after="2")
        t0 = time.time()
        # The second message starts 200 ms after the first one's 429 (a
        # negative delay: one after another). Started 200 ms after the first
        # one, both could wait for the same token and go out together.
        res, _ = e.send(SIMPLE, "scan@example.com", ["a@x.org"], count=2, delay_ms=-200)
        assert [r["outcome"] for r in res] == ["transient", "sent"], res
        assert time.time() - t0 >= 2.0  # the second waited out Retry-After


def test_server_and_transport_errors_are_transient():
    with Env(timeout="2s") as e:
        e.fg.add_fault("sendMail", status=500, code="InternalServerError")
        assert e.send(SIMPLE, "scan@example.com", ["a@x.org"])[0][0]["outcome"] == "transient"
        e.fg.add_fault("sendMail", cut=True)
        r = e.send(SIMPLE, "scan@example.com", ["a@x.org"])[0][0]
        assert r["outcome"] == "transient" and r["code"] == 0, r
        e.fg.add_fault("sendMail", delay=4)
        r = e.send(SIMPLE, "scan@example.com", ["a@x.org"])[0][0]
        assert r["outcome"] == "transient" and r["code"] == 0 and "timed out" in r["text"], r


def test_permanent_errors():
    with Env() as e:
        for code, status, want in (("ErrorInvalidRecipients", 400, "invalid recipients"),
                                   ("ErrorSendAsDenied", 403, "may not send as")):
            e.fg.add_fault("sendMail", status=status, code=code)
            r = e.send(SIMPLE, "scan@example.com", ["a@x.org"])[0][0]
            assert r["outcome"] == "permanent" and want in r["text"], r
        # A missing permission/consent is the provider's setup, not the message: held.
        e.fg.add_fault("sendMail", status=403, code="ErrorAccessDenied")
        r = e.send(SIMPLE, "scan@example.com", ["a@x.org"])[0][0]
        assert r["outcome"] == "transient" and r["config_error"] and "missing permission" in r["text"], r
        e.fg.disabled.add("scan@example.com")
        r = e.send(SIMPLE, "scan@example.com", ["a@x.org"])[0][0]
        # no licence / on-premises: the tenant's setup for this sender, held (docs/cloud-errors.md)
        assert r["outcome"] == "transient" and r["config_error"] and r["text"].startswith("mailbox not enabled"), r
        e.fg.disabled.clear()
        # 413 on sendMail: the adapter retries once through the draft path
        e.fg.add_fault("sendMail", status=413, code="RequestEntityTooLarge")
        r = e.send(SIMPLE, "scan@example.com", ["a@x.org"])[0][0]
        assert r["outcome"] == "sent" and e.fg.sent[-1]["via"] == "draft", r
        e.fg.add_fault("sendMail", status=413, code="RequestEntityTooLarge")
        e.fg.add_fault("POST /v1.0/users/[^/]+/messages$", status=413, code="RequestEntityTooLarge")
        r = e.send(SIMPLE, "scan@example.com", ["a@x.org"])[0][0]
        assert r["outcome"] == "permanent" and r["enhanced"] == "5.3.4", r


def test_config_errors_keep_mail_queued_and_do_not_hammer():
    cases = (({"client_secret": "wrong"}, {}, "wrong client secret"),
             ({}, {"secret_expires": "2020-01-01"}, "expired client secret"),
             ({"tenant_id": "nope"}, {}, "tenant not found"))
    for prov, fake, want in cases:
        with Env(fake_kw=fake, **prov) as e:
            res, summary = e.send(SIMPLE, "scan@example.com", ["a@x.org"], count=5)
            assert all(r["outcome"] == "transient" and r["config_error"] for r in res), res
            assert all(r["text"].startswith(want) for r in res), res
            assert summary["token_requests"] == 1 and len(e.fg.token_requests) == 1, summary
            assert "token_config_error" in e.stderr


def test_provider_test_messages():
    with Env() as e:
        r = e.run("test")[0][0]
        assert r["outcome"] == "sent" and r["text"].startswith("ok: token acquired, Mail.Send granted"), r
    with Env(fake_kw={"roles": ("User.Read.All",)}) as e:
        r = e.run("test")[0][0]
        assert r["outcome"] == "permanent" and r["text"].startswith("missing permission"), r
    roles = ("Mail.Send", "Mail.ReadWrite", "User.Read.All")  # Mail.ReadWrite: the draft path (35 MB > max_mime_size)
    with Env(fake_kw={"roles": roles}, senders={"default_sender": "ghost@example.com"}) as e:
        r = e.run("test")[0][0]
        assert r["outcome"] == "permanent" and r["text"].startswith("mailbox not found"), r
    with Env(client_secret="wrong") as e:
        assert e.run("test")[0][0]["text"].startswith("wrong client secret")


def test_secret_expiry_from_config_and_graph():
    soon = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 5 * 86400))
    with Env(client_secret_expires=soon) as e:
        _, _, lines = e.run("test")
        s = [l for l in lines if "secret" in l][0]["secret"]
        assert s["state"] == "warning" and s["days_left"] == 5 and s["source"] == "config", s
        assert "warn at 7" in s["detail"]
        assert "secret_expiry_warning" in e.stderr
    later = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 200 * 86400))
    with Env(fake_kw={"roles": ("Mail.Send", "Mail.ReadWrite", "Application.Read.All"), "secret_expires": later},
             client_secret_expires=soon) as e:
        _, _, lines = e.run("test")
        s = [l for l in lines if "secret" in l][0]["secret"]
        assert s["state"] == "ok" and s["source"] == "graph" and s["expires"] == later, s


def test_certificate_assertion():
    with Env() as e:
        key, cert = os.path.join(e.dir, "app.key"), os.path.join(e.dir, "app.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=relay-app"], check=True, capture_output=True)
        with open(cert, "rb") as f:
            e.fg.cert_pem = f.read()
        e.prov = {"client_secret": "", "certificate_file": cert, "private_key_file": key}
        res, summary = e.send(SIMPLE, "scan@example.com", ["a@x.org"], count=3)
        assert [r["outcome"] for r in res] == ["sent"] * 3, res
        assert e.fg.token_requests[0]["auth"] == "assertion" and summary["token_requests"] == 1


def test_sender_policies():
    evil = "From: Evil <evil@other.net>\r\nTo: a@x.org\r\nSubject: s\r\n\r\nb\r\n"
    with Env() as e:
        r = e.send(evil, "evil@other.net", ["a@x.org"])[0][0]
        assert r["outcome"] == "permanent" and r["enhanced"] == "5.7.1" and "evil@other.net" in r["text"], r
        assert not e.fg.sent and not [q for q in e.fg.requests if "sendMail" in q[1]]  # rejected before sending
    with Env(senders={"allowed": ["@example.com"], "default_sender": "relay@example.com", "policy": "rewrite"}) as e:
        r = e.send(evil, "", ["a@x.org"])[0][0]
        assert r["outcome"] == "sent", r
        s = e.fg.sent[0]
        msg = email.message_from_bytes(s["mime"], policy=email.policy.default)
        assert s["mailbox"] == "relay@example.com" and msg["From"] == "relay@example.com"
        assert "evil@other.net" in msg["Reply-To"]


if __name__ == "__main__":
    if not os.path.exists(DRIVER):
        print(f"m365_driver not built at {DRIVER}")
        print("0 passed, 1 failed")
        sys.exit(1)
    run_tests([test_small_mail_with_bcc_only_recipients, test_many_messages_one_token_four_per_mailbox,
               test_25mb_mail_goes_through_draft_and_upload_sessions, test_token_expiry_during_run_exactly_one_new_token,
               test_throttling_forms_of_retry_after, test_throttled_mailbox_is_slowed_for_the_next_message,
               test_server_and_transport_errors_are_transient, test_permanent_errors,
               test_config_errors_keep_mail_queued_and_do_not_hammer, test_provider_test_messages,
               test_secret_expiry_from_config_and_graph, test_certificate_assertion, test_sender_policies])
