#!/usr/bin/python3
"""The smtp provider with `auth: xoauth2` and an `oauth:` section: relay gets
its own access tokens (client credentials from the Microsoft identity
platform fake, fake_graph.py; a service-account JWT from the Google fake,
fake_gmail.py) and refreshes them, through the whole pipeline (receiver ->
spool -> dispatcher -> a real aiosmtpd upstream).

The upstream runs in this process so it can check every XOAUTH2 token
against the token endpoint's own table: the SASL string must be exactly
base64("user=" U "\\x01auth=Bearer " T "\\x01\\x01"); an unknown or expired
token gets the Google-style error challenge (334 base64 JSON) and then
535 5.7.8, as Gmail and Exchange Online do. Tokens live 3 seconds.

Cases: messages over ~9 s with several refreshes (none failed, each
delivered once, more than one token, no expired token ever accepted);
tokens revoked behind relay's back (535, invalidate, one retry with a fresh
token); the token endpoint answering 400 invalid_client (held, not bounced,
the log says what to fix; `relayctl provider test` says the token step
failed); Google service account with the mailbox as subject."""
import asyncio
import base64
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import MISSING, AuthResult  # noqa: E402
from dispatcher_common import make_relay, message, scalar, send, sql, wait_sql  # noqa: E402
from fake_gmail import FakeGmail, make_service_account  # noqa: E402
from fake_graph import FakeGraph  # noqa: E402
from relaytest import free_port, run_tests, wait_for  # noqa: E402

TMP = tempfile.mkdtemp(prefix="relay-smtp-oauth-")
MAILBOX = "relay@example.com"
OUTLOOK_SCOPE = "https://outlook.office365.com/.default"
GOOGLE_SCOPE = "https://mail.google.com/"


class OAuthUpstream:
    """aiosmtpd requiring XOAUTH2; `valid(token)` -> (ok, expires_at)."""

    def __init__(self, user, valid):
        self.user, self.valid = user, valid
        self.ctl = None
        self.lock = threading.Lock()
        self.auths = []     # {"token", "ok", "t", "exp", "format_ok"}
        self.messages = []  # {"subject", "rcpts", "token"}
        self.port = free_port()
        up = self

        class Handler:
            async def auth_XOAUTH2(self, server, args):
                try:
                    if len(args) > 1:
                        text = base64.b64decode(args[1], validate=True).decode()
                    else:
                        got = await server.challenge_auth("", encode_to_b64=False)
                        if got is MISSING:
                            return AuthResult(success=False, handled=True)  # 501 already sent
                        text = got.decode()
                except (ValueError, UnicodeDecodeError):
                    text = ""
                ok, exp, tok, fmt = up.check(text)
                with up.lock:
                    up.auths.append({"token": tok, "ok": ok, "t": time.time(), "exp": exp, "format_ok": fmt})
                if ok:
                    server.session.oauth_token = tok
                    return AuthResult(success=True, handled=False)
                # Google/Microsoft: an error challenge first, then 535 whatever the client answers.
                err = json.dumps({"status": "401", "schemes": "bearer", "scope": GOOGLE_SCOPE})
                if await server.challenge_auth(err.encode(), encode_to_b64=True) is not MISSING:
                    await server.push("535 5.7.8 Username and Password not accepted (token expired or unknown)")
                return AuthResult(success=False, handled=True)

            async def handle_DATA(self, server, session, envelope):
                subject = ""
                for line in envelope.content.decode(errors="replace").split("\r\n"):
                    if line.lower().startswith("subject:"):
                        subject = line.split(":", 1)[1].strip()
                        break
                with up.lock:
                    up.messages.append({"subject": subject, "rcpts": list(envelope.rcpt_tos),
                                        "token": getattr(session, "oauth_token", None)})
                return "250 2.0.0 OK"

        def refuse_plain(server, session, envelope, mechanism, auth_data):
            return AuthResult(success=False, handled=False)

        self.make_ctl = lambda: Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                           server_kwargs={"hostname": "upstream.test", "auth_required": True,
                                                          "auth_require_tls": False, "authenticator": refuse_plain})

    def check(self, text):
        parts = text.split("\x01")
        fmt = len(parts) == 4 and parts[2:] == ["", ""] and parts[0].startswith("user=") \
            and parts[1].startswith("auth=Bearer ")
        user = parts[0][5:] if parts and parts[0].startswith("user=") else None
        tok = parts[1][12:] if len(parts) > 1 and parts[1].startswith("auth=Bearer ") else None
        if not fmt or user != self.user or not tok:
            return False, None, tok, fmt
        ok, exp = self.valid(tok)
        return ok, exp, tok, fmt

    def start(self):
        self.ctl = self.make_ctl()
        self.ctl.start()
        return self

    def stop(self):
        if self.ctl:
            self.ctl.stop()
        self.ctl = None

    def restart(self):
        """Drops every open session (relay's cached connections): the next message AUTHs anew."""
        self.stop()
        return self.start()

    def snapshot(self):
        with self.lock:
            return list(self.auths), list(self.messages)


def graph_valid(fg):
    def valid(tok):
        with fg.lock:
            exp = fg.tokens.get(tok)
        return (exp is not None and exp > time.time()), exp
    return valid


def gmail_valid(fake, subject):
    def valid(tok):
        with fake.lock:
            t = fake.tokens.get(tok)
        if t is None:
            return False, None
        ok = t["exp"] > time.time() and t["user"] == subject and GOOGLE_SCOPE in t["scopes"]
        return ok, t["exp"]
    return valid


def smtp_oauth_provider(port, oauth):
    return {"type": "smtp", "host": "127.0.0.1", "port": port, "tls": "none", "verify_peer": False,
            "max_connections": 2, "timeout": "10s", "auth": "xoauth2", "username": MAILBOX, "oauth": oauth}


def relay_for(port, oauth):
    return make_relay({"providers": {"up": smtp_oauth_provider(port, oauth)}, "default_provider": "up"})


def microsoft_oauth(fg, **kw):
    o = {"tenant_id": fg.tenant, "client_id": fg.client_id, "client_secret": next(iter(fg.secrets)),
         "login_url": fg.url, "ca_file": fg.ca}
    o.update(kw)
    return o


def ok_tokens(fg):
    with fg.lock:
        return sum(1 for r in fg.token_requests if r.get("ok"))


def assert_no_expired_accepted(auths):
    for a in auths:
        assert a["format_ok"], f"malformed XOAUTH2 string for token {a['token']!r}"
        if a["ok"]:
            assert a["exp"] is not None and a["exp"] > a["t"], f"expired token accepted: {a}"


def test_refresh_over_ten_seconds():
    fg = FakeGraph(TMP, expires_in=3)
    fg.scope = OUTLOOK_SCOPE
    fg.start()
    up = OAuthUpstream(MAILBOX, graph_valid(fg)).start()
    try:
        with relay_for(up.port, microsoft_oauth(fg)) as r:
            r.start_receiver()
            r.start_dispatcher()
            subjects, qids = [], []
            t0 = time.time()
            for i in range(18):  # one every 0.5 s: ~9 s, three token lifetimes
                s = f"oauth refresh {i}"
                subjects.append(s)
                qids.append(send(r.port, MAILBOX, ["to@example.org"], message(MAILBOX, ["to@example.org"], s)))
                time.sleep(max(0, t0 + 0.5 * (i + 1) - time.time()))
            wait_for(lambda: len(up.snapshot()[1]) >= len(subjects), 20, what="every message at the upstream")
            ids = ",".join(f"'{q}'" for q in qids)
            wait_sql(r, f"SELECT count(*) FROM messages WHERE status='sent' AND queue_id IN ({ids})", len(qids),
                     timeout=10)
            auths, msgs = up.snapshot()
            got = sorted(m["subject"] for m in msgs)
            assert got == sorted(subjects), f"not every message delivered exactly once: {got}"
            assert scalar(r, "SELECT count(*) FROM attempts WHERE outcome <> 'sent'") == "0", \
                sql(r, "SELECT queue_id, outcome, response FROM attempts WHERE outcome <> 'sent'")
            assert ok_tokens(fg) > 1, f"one token for ~9 s of 3 s tokens: {fg.token_requests}"
            assert ok_tokens(fg) < len(subjects), f"a token per message, not cached: {len(fg.token_requests)}"
            assert len({m["token"] for m in msgs}) > 1, "every message went with the same token"
            assert_no_expired_accepted(auths)
            assert "token_acquired" in r.read_log("dispatcher0")
    finally:
        up.stop()
        fg.stop()


def test_revoked_token_is_dropped_and_retried_once():
    fg = FakeGraph(TMP, expires_in=3600)
    fg.scope = OUTLOOK_SCOPE
    fg.start()
    up = OAuthUpstream(MAILBOX, graph_valid(fg)).start()
    try:
        with relay_for(up.port, microsoft_oauth(fg)) as r:
            r.start_receiver()
            r.start_dispatcher()
            q1 = send(r.port, MAILBOX, ["to@example.org"], message(MAILBOX, ["to@example.org"], "before"))
            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{q1}'", "sent")
            fg.expire_tokens()  # relay's cached token is now refused (535) although it "expires" in an hour
            up.restart()  # and the session it authenticated is gone
            q2 = send(r.port, MAILBOX, ["to@example.org"], message(MAILBOX, ["to@example.org"], "after"))
            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{q2}'", "sent")
            auths, msgs = up.snapshot()
            assert sorted(m["subject"] for m in msgs) == ["after", "before"], msgs
            assert [a["ok"] for a in auths] == [True, False, True], auths
            assert ok_tokens(fg) == 2, fg.token_requests
            # The retry happened inside the one attempt: nothing deferred.
            assert scalar(r, f"SELECT count(*) FROM attempts WHERE queue_id='{q2}'") == "1"
            assert_no_expired_accepted(auths)
            assert "token_invalidated" in r.read_log("dispatcher0")
    finally:
        up.stop()
        fg.stop()


def test_invalid_client_holds_mail_and_says_what_to_fix():
    fg = FakeGraph(TMP, expires_in=3600)
    fg.scope = OUTLOOK_SCOPE
    fg.start()
    fg.add_fault(r"oauth2/v2\.0/token", count=1000, token=7000215, status=400, error="invalid_client",
                 message="AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
                         "request is the client secret value, not the client secret ID")
    up = OAuthUpstream(MAILBOX, graph_valid(fg)).start()
    try:
        with relay_for(up.port, microsoft_oauth(fg)) as r:
            pt = r.relayctl("provider", "test", "up", check=False)
            assert pt.returncode == 1, pt.stdout + pt.stderr
            assert "token" in (pt.stdout + pt.stderr).lower() and "AADSTS7000215" in pt.stdout + pt.stderr, \
                pt.stdout + pt.stderr
            r.start_receiver()
            r.start_dispatcher()
            q = send(r.port, MAILBOX, ["to@example.org"], message(MAILBOX, ["to@example.org"], "held"))
            wait_sql(r, f"SELECT count(*) >= 1 FROM attempts WHERE queue_id='{q}'", "t")
            wait_for(lambda: r.spool_entries("deferred") + r.spool_entries("new") == [q + ".env"], 10,
                     what="the entry kept in the queue")
            time.sleep(2.5)  # min_backoff 1s: more attempts would come now; the token endpoint must not be hammered
            assert scalar(r, f"SELECT status FROM messages WHERE queue_id='{q}'") == "queued"
            assert r.spool_entries("failed") == []
            assert up.snapshot() == ([], []), "the upstream was contacted without a token"
            with fg.lock:
                n = 1000 - fg.faults[0]["count"]  # token requests answered invalid_client
            assert 1 <= n <= 2, f"token endpoint hammered: {n} requests"
            log = r.read_log("dispatcher0")
            assert "AADSTS7000215" in log and "client_secret" in log and "mail held, not bounced" in log, log[-3000:]
    finally:
        up.stop()
        fg.stop()


def test_google_service_account_subject_is_the_mailbox():
    sa_path, sa_pub, sa_info = make_service_account(TMP)
    fake = FakeGmail(TMP, sa_public_pem=sa_pub, sa_info=sa_info, delegated=(GOOGLE_SCOPE,), expires_in=3).start()
    up = OAuthUpstream(MAILBOX, gmail_valid(fake, MAILBOX)).start()
    try:
        oauth = {"service_account_file": sa_path, "token_url": fake.token_url, "ca_file": fake.ca}
        with relay_for(up.port, oauth) as r:
            pt = r.relayctl("provider", "test", "up", check=False)
            assert pt.returncode == 0, pt.stdout + pt.stderr
            assert "token from Google token endpoint" in pt.stdout and "AUTH=" in pt.stdout, pt.stdout
            r.start_receiver()
            r.start_dispatcher()
            qids = [send(r.port, MAILBOX, ["to@example.org"], message(MAILBOX, ["to@example.org"], f"g{i}"))
                    for i in range(3)]
            for q in qids:
                wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{q}'", "sent")
            auths, msgs = up.snapshot()
            assert sorted(m["subject"] for m in msgs) == ["g0", "g1", "g2"], msgs
            assert_no_expired_accepted(auths)
            with fake.lock:
                reqs = list(fake.token_requests)
            assert reqs and all(x.get("sub") == MAILBOX for x in reqs), reqs
    finally:
        up.stop()
        fake.stop()


if __name__ == "__main__":
    run_tests([test_refresh_over_ten_seconds, test_revoked_token_is_dropped_and_retried_once,
               test_invalid_client_holds_mail_and_says_what_to_fix, test_google_service_account_subject_is_the_mailbox])
