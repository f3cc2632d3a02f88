#!/usr/bin/python3
"""The Gmail adapter through the whole pipeline: SMTP into the real
relay-receiver, the real relay-dispatcher with a `type: gmail` provider
pointed at fake_gmail.py (Google's token endpoint + Gmail send/upload over
HTTPS with a test CA made at run time), outcomes checked at the fake, in the
spool and in PostgreSQL. A throwaway service-account key (RSA) is generated
per run; the fake verifies the JWT with its public key.

Covers: service account (JWT bearer, sub = sender, one token per user),
byte-exact raw message plus only added headers (Bcc, Message-ID, Date),
resumable upload with a cut connection (resume from the stored offset, and
no duplicate when the cut comes after Gmail stored it all), 401 -> one new
token, 429 + Retry-After and 500 -> transient then sent, 400 -> permanent,
slow answer -> timeout -> sent later, invalid_grant -> stays queued without
hammering the token endpoint, refresh-token credentials, recipient limit,
`relayctl provider test` with the send-as alias warning."""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import make_relay, message, scalar, send, sql, wait_sql  # noqa: E402
from fake_gmail import SEND, FakeGmail, make_service_account  # noqa: E402
from m365_common import added_header_names, parse  # noqa: E402
from relaytest import run_tests, wait_for  # noqa: E402

TMP = tempfile.mkdtemp(prefix="relay-gmail-")
atexit.register(shutil.rmtree, TMP, True)
SA_PATH, SA_PUB, SA_INFO = make_service_account(TMP)
SENDERS = {"allowed": ["@example.com"], "default_sender": "relay@example.com", "policy": "reject"}
SETTINGS = "https://www.googleapis.com/auth/gmail.settings.basic"
READONLY = "https://www.googleapis.com/auth/gmail.readonly"


class Pipeline:
    def __init__(self, prov=None, fake_kw=None, refresh=False, overrides=None):
        self.fake = FakeGmail(TMP, sa_public_pem=SA_PUB, sa_info=SA_INFO, **(fake_kw or {})).start()
        p = {"type": "gmail", "token_url": self.fake.token_url, "api_url": self.fake.url, "ca_file": self.fake.ca,
             "timeout": "10s"}
        if refresh:
            p.update(client_id=self.fake.client_id, client_secret=self.fake.client_secret,
                     refresh_token=self.fake.refresh_token)
        else:
            p["service_account_file"] = SA_PATH
        p.update(prov or {})
        cfg = {"providers": {"gmail": p}, "default_provider": "gmail", "senders": dict(SENDERS)}
        cfg.update(overrides or {})
        self.r = make_relay(cfg)

    def start(self):
        self.r.start_receiver()
        self.r.start_dispatcher()
        return self

    def send(self, sender, rcpts, data):
        return send(self.r.port, sender, rcpts, data)

    def wait_sent(self, n, timeout=30):
        wait_for(lambda: len(self.fake.sent) >= n, timeout, interval=0.05, what=f"{n} message(s) at the fake Gmail")
        return self.fake.sent

    def spooled(self, qid):
        with open(self.r.spool_path("data", qid, ".eml"), "rb") as f:
            return f.read()

    def attempts(self, qid):
        try:
            rows = sql(self.r, f"SELECT attempt_no, outcome, code, enhanced, response FROM attempts"
                           f" WHERE queue_id='{qid}' ORDER BY attempt_no")
        except subprocess.CalledProcessError:  # the dispatcher has not created the schema yet
            return []
        return [(int(a), o, int(c), e, t) for a, o, c, e, t in rows]

    def status(self, qid):
        return scalar(self.r, f"SELECT status FROM messages WHERE queue_id='{qid}'")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.fake.stop()
        finally:
            if exc_type is not None:
                for p in list(self.r.procs):
                    print(f"--- log of {p.relay_name} (tail) ---\n{self.r.read_log(p.relay_name)[-4000:]}")
            self.r.close(ok=exc_type is None)
        return False


def test_service_account_raw_message_bcc_and_one_token_per_user():
    with Pipeline() as p:
        p.r.start_receiver()
        plain = message("scan@example.com", ["to@x.org"], "scan 1", extra_headers="Cc: <cc@x.org>\r\n")
        q1 = p.send("scan@example.com", ["to@x.org", "cc@x.org", "hidden@y.org"], plain)
        spooled = p.spooled(q1)
        p.r.start_dispatcher()
        s = p.wait_sent(1)[0]
        assert s["via"] == "media" and s["user"] == "scan@example.com", (s["via"], s["user"])
        assert sorted(added_header_names(spooled, s["raw"])) == ["Bcc", "Date"], s["raw"][:300]
        assert str(parse(s["raw"])["Bcc"]).strip() == "hidden@y.org"
        assert not s["from_rewritten"]
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q1}'", "sent")
        assert [a[:4] for a in p.attempts(q1)] == [(1, "sent", 200, "2.0.0")], p.attempts(q1)
        tr = p.fake.token_requests
        assert len(tr) == 1 and tr[0]["grant"].endswith("jwt-bearer") and tr[0]["sub"] == "scan@example.com", tr
        # More mail from the same user reuses the token; another user gets its own.
        ids = [p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], f"m{i}"))
               for i in range(3)]
        ids.append(p.send("relay@example.com", ["a@x.org"], message("relay@example.com", ["a@x.org"], "other")))
        p.wait_sent(5)
        for q in ids:
            wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q}'", "sent")
        subs = sorted(t["sub"] for t in p.fake.token_requests)
        assert subs == ["relay@example.com", "scan@example.com"], p.fake.token_requests
        assert not p.fake.violations, p.fake.violations


def big_message(size):
    body = (b"x" * 75 + b"\r\n") * (size // 77)
    return (b"From: scan@example.com\r\nTo: a@x.org\r\nSubject: big\r\nMessage-ID: <big@client.test>\r\n"
            b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n" + body)


def test_resumable_upload_resumes_after_a_cut_and_never_duplicates():
    with Pipeline(prov={"resumable_threshold": "1MB"}) as p:
        p.start()
        # 1: the PUT is cut after 1 MB arrived -> status query -> the rest from offset 1 MB.
        p.fake.add_fault(r"^PUT .*upload_id=", cut_after=1 << 20)
        raw1 = big_message(3 << 20)
        q1 = p.send("scan@example.com", ["a@x.org"], raw1)
        s = p.wait_sent(1)[0]
        assert s["via"] == "resumable" and s["raw"] == p_spooled_tail(s["raw"], raw1), "bytes changed"
        # The fake records a call after answering it, so the last PUT's record
        # may trail the message it stored by a moment.
        put_calls = lambda: [c for c in p.fake.calls if c["method"] == "PUT"]  # noqa: E731
        wait_for(lambda: len(put_calls()) >= 3, 30, what="three PUT records")
        puts = put_calls()
        assert [c["status"] for c in puts] == [-1, 308, 200], puts
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q1}'", "sent")
        assert len(p.attempts(q1)) == 1
        # 2: Gmail stored and sent everything, then the answer was lost -> the
        # status query says 200: sent once, not twice.
        p.fake.add_fault(r"^PUT .*upload_id=", commit_then_cut=True)
        q2 = p.send("scan@example.com", ["a@x.org"], big_message(2 << 20))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q2}'", "sent")
        time.sleep(0.5)
        assert len(p.fake.sent) == 2, [x["via"] for x in p.fake.sent]
        assert not p.fake.violations, p.fake.violations


def p_spooled_tail(got, raw):
    assert got.endswith(raw), "the raw message is not the spooled one plus headers on top"
    return got


def test_401_429_500_400_slow():
    with Pipeline(prov={"timeout": "2s"}) as p:
        p.start()
        m = lambda subj: message("scan@example.com", ["a@x.org"], subj)  # noqa: E731
        q = p.send("scan@example.com", ["a@x.org"], m("warm-up"))
        p.wait_sent(1)
        # 401 on a token Google no longer accepts: one new token, same attempt.
        p.fake.expire_tokens()
        q401 = p.send("scan@example.com", ["a@x.org"], m("after 401"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q401}'", "sent")
        assert len(p.fake.token_requests) == 2 and len(p.attempts(q401)) == 1, p.fake.token_requests
        # 429 with Retry-After, then a 500: transient twice, then sent.
        p.fake.add_fault(r"^POST /upload/.*uploadType=media", status=429, retry_after=1, reason="rateLimitExceeded",
                         gstatus="RESOURCE_EXHAUSTED", message="User-rate limit exceeded")
        p.fake.add_fault(r"^POST /upload/.*uploadType=media", status=500, reason="backendError")
        q2 = p.send("scan@example.com", ["a@x.org"], m("throttled"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q2}'", "sent", timeout=30)
        att = p.attempts(q2)
        assert [(a[1], a[2]) for a in att] == [("transient", 429), ("transient", 500), ("sent", 200)], att
        assert att[0][3] == "4.7.0" and "rateLimitExceeded" in att[0][4], att
        # 400 invalidArgument: permanent, no retry.
        p.fake.add_fault(r"^POST /upload/", status=400, reason="invalidArgument", gstatus="INVALID_ARGUMENT",
                         message="Invalid To header")
        q3 = p.send("scan@example.com", ["a@x.org"], m("bad"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q3}'", "failed")
        att = p.attempts(q3)
        assert [(a[1], a[2]) for a in att] == [("permanent", 400)] and "Invalid To header" in att[0][4], att
        # Slower than the timeout: transient, then delivered.
        p.fake.add_fault(r"^POST /upload/", delay=3)
        q4 = p.send("scan@example.com", ["a@x.org"], m("slow"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q4}'", "sent", timeout=30)
        att = p.attempts(q4)
        assert att[0][1] == "transient" and att[0][2] == 0 and att[-1][1] == "sent", att
        # A cut connection (no answer): transient, then delivered.
        p.fake.add_fault(r"^POST /upload/", count=1, cut=True)
        q5 = p.send("scan@example.com", ["a@x.org"], m("cut"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q5}'", "sent", timeout=30)
        assert p.attempts(q5)[0][1] == "transient", p.attempts(q5)
        assert q and not p.fake.violations, p.fake.violations


def test_invalid_grant_keeps_mail_queued_without_hammering():
    # The sender is not a user of the Workspace domain: invalid_grant.
    with Pipeline(fake_kw={"users": ("relay@example.com",)}) as p:
        p.start()
        # The dispatcher is up before the mail comes, and the second and third
        # messages arrive after the first one's token error is known (the
        # remembered-error path). The order used to depend on how fast the
        # dispatcher started: when it was quick, the later messages were held
        # unattempted as "user busy" for the whole config backoff.
        wait_for(lambda: "event=dispatcher_started" in p.r.read_log("dispatcher0"), 60, what="dispatcher started")
        mail = lambda i: message("scan@example.com", ["a@x.org"], f"no user {i}")  # noqa: E731
        ids = [p.send("scan@example.com", ["a@x.org"], mail(0))]
        wait_for(lambda: p.attempts(ids[0]), 60, interval=0.2, what=f"an attempt of {ids[0]}")
        ids += [p.send("scan@example.com", ["a@x.org"], mail(i)) for i in (1, 2)]
        for q in ids:
            wait_for(lambda q=q: p.attempts(q), 60, interval=0.2, what=f"an attempt of {q}")
        for q in ids:
            att = p.attempts(q)
            assert [a[1] for a in att] == ["transient"], att
            assert att[0][2] == 400 and "invalid_grant" in att[0][4] and "scan@example.com" in att[0][4], att
            assert p.status(q) == "queued"
        # One token request for three messages: the error is remembered and
        # the mail deferred for at least max_backoff (2 s), not retried every
        # second: three more seconds bring no retry.
        wait_for(lambda: len(p.r.spool_entries("deferred")) == 3, 60, what="three entries in deferred/")
        time.sleep(3)
        assert len(p.fake.token_requests) == 1, p.fake.token_requests
        assert sum(len(p.attempts(q)) for q in ids) == 3
        assert len(p.r.spool_entries("deferred")) == 3, p.r.spool_entries("deferred")
        assert not p.fake.sent
        log = p.r.read_log("dispatcher0")
        assert "event=token_config_error" in log and "event=provider_config_error" in log, log[-2000:]
        # A configuration error is not Gmail throttling the user.
        assert "event=gmail_throttled" not in log and "event=gmail_held" not in log, log[-2000:]


def test_refresh_token_and_recipient_limit():
    with Pipeline(refresh=True, prov={"max_recipients": 3}) as p:
        p.start()
        q = p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], "user token"))
        s = p.wait_sent(1)[0]
        assert s["user"] == "scan@example.com" and s["via"] == "media"
        assert [t["grant"] for t in p.fake.token_requests] == ["refresh_token"]
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q}'", "sent")
        rc = ["a@x.org", "b@x.org", "c@x.org", "d@x.org"]
        q2 = p.send("scan@example.com", rc, message("scan@example.com", rc[:2], "too many"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q2}'", "failed")
        att = p.attempts(q2)
        assert att[0][1] == "permanent" and att[0][3] == "5.5.3" and "4 recipients" in att[0][4], att
        # q2 itself never reached Gmail; only its bounce (DSN) to the sender may have (docs/bounces.md).
        assert len([x for x in p.fake.sent if b"multipart/report" not in x["raw"]]) == 1


def test_provider_test_and_send_as_warning():
    with Pipeline() as p:
        r = p.r.relayctl("provider", "test", "gmail", check=False)
        out = r.stdout.splitlines()[0] if r.stdout else r.stderr
        assert r.returncode == 0 and "OK" in out and "token acquired for relay@example.com" in out, r.stdout + r.stderr
        assert "not checked" in out, out  # gmail.send alone cannot read profile/sendAs
        # The hint names the scope that reads both (settings.basic cannot read the profile).
        assert "auth/gmail.readonly" in out and "settings.basic" not in out, out
    scopes = f"{SEND} {READONLY} {SETTINGS}"
    fake_kw = {"delegated": (SEND, READONLY, SETTINGS), "aliases": {"scan@example.com": ["alias@example.com"]}}
    prov = {"scope": scopes, "user": "scan@example.com"}
    senders = dict(SENDERS, allowed=["@example.com", "alias@example.com", "printer@example.com"])
    with Pipeline(prov=prov, fake_kw=fake_kw, overrides={"senders": senders}) as p:
        r = p.r.relayctl("provider", "test", "gmail", check=False)
        out = r.stdout.splitlines()[0] if r.stdout else r.stderr
        assert r.returncode == 0 and "mailbox scan@example.com found" in out, r.stdout + r.stderr
        assert "WARNING: not a verified send-as alias of scan@example.com: printer@example.com, relay@example.com" \
            in out, out
    with Pipeline(fake_kw={"delegated": ()}) as p:
        r = p.r.relayctl("provider", "test", "gmail", check=False)
        assert r.returncode != 0 and "domain-wide delegation missing" in r.stdout, r.stdout + r.stderr


if __name__ == "__main__":
    run_tests([test_service_account_raw_message_bcc_and_one_token_per_user,
               test_resumable_upload_resumes_after_a_cut_and_never_duplicates,
               test_401_429_500_400_slow,
               test_invalid_grant_keeps_mail_queued_without_hammering,
               test_refresh_token_and_recipient_limit,
               test_provider_test_and_send_as_warning])
