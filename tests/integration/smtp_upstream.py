#!/usr/bin/python3
"""smtp_upstream.py - a real SMTP server (aiosmtpd) used as relay's upstream
in tests. It records every accepted message and can refuse on demand.

Each accepted message is written to DIR as NNNNNN.eml (the DATA bytes exactly
as received, dot-unstuffed, CRLF kept) and NNNNNN.json:
  {"mail_from": ..., "rcpts": [...], "connection": N, "tls": bool,
   "auth_user": str|null, "peer": "127.0.0.1"}
`connection` numbers the TCP connections (1, 2, ...) so tests can see
connection reuse. DIR/connections holds the number of connections so far.

Options:
  --port PORT              listen on 127.0.0.1:PORT (required)
  --host HOST              default 127.0.0.1
  --dir DIR                where to record messages (required)
  --refuse-rcpt ADDR:CODE  answer RCPT TO:<ADDR> with CODE (450, 550, ...);
                           repeatable
  --data-reply CODE        answer the end of DATA with CODE (451, 554, ...)
                           instead of 250; nothing is recorded then
  --tls-cert F --tls-key F offer STARTTLS with this certificate
  --implicit-tls           with --tls-cert/--tls-key: TLS from the first byte
                           (smtps) instead of STARTTLS
  --require-auth USER:PASS offer AUTH PLAIN LOGIN XOAUTH2 (XOAUTH2 bearer
                           token = PASS); MAIL without AUTH gets 530
  --ready-file F           touched once the server listens
  --auth-reply LINE        answer every AUTH with LINE ("550 5.7.30 ...")
  --data-reply-line LINE   answer the end of DATA with LINE (nothing recorded)
  --record-commands        append each command verb (EHLO, STARTTLS, AUTH,
                           MAIL, ...) to DIR/commands, one per line, never
                           its arguments

Stops on SIGTERM/SIGINT. Example:
  /usr/bin/python3 tests/integration/smtp_upstream.py --port 2600 --dir /tmp/up \
      --refuse-rcpt bad@example.com:550 --refuse-rcpt later@example.com:450
"""
import argparse
import base64
import asyncio
import itertools
import json
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

REPLY_TEXT = {
    450: "450 4.2.1 Mailbox temporarily unavailable",
    451: "451 4.3.0 Local error in processing, try later",
    452: "452 4.3.1 Insufficient system storage",
    550: "550 5.1.1 No such user here",
    551: "551 5.1.6 User not local",
    552: "552 5.3.4 Message too big",
    553: "553 5.1.3 Mailbox name not allowed",
    554: "554 5.6.0 Transaction failed",
}


def reply_for(code):
    return REPLY_TEXT.get(code, "%d %s.0.0 Refused by test upstream" % (code, str(code)[0]))


class Recorder:
    def __init__(self, args):
        self.dir = args.dir
        self.refuse = {}
        for item in args.refuse_rcpt or []:
            addr, _, code = item.rpartition(":")
            self.refuse[addr.lower()] = int(code)
        self.data_reply = args.data_reply
        self.data_reply_line = args.data_reply_line
        self.auth_reply = args.auth_reply
        self.record_commands = args.record_commands
        self.user, _, self.password = (args.require_auth or "").partition(":")
        self.counter = itertools.count(1)
        self.conn_counter = itertools.count(1)
        self.lock = threading.Lock()

    def new_connection(self):
        with self.lock:
            n = next(self.conn_counter)
            with open(os.path.join(self.dir, "connections"), "w") as f:
                f.write("%d\n" % n)
            return n

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        code = self.refuse.get(address.lower())
        if code:
            return reply_for(code)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply_line:
            return self.data_reply_line
        if self.data_reply:
            return reply_for(self.data_reply)
        with self.lock:
            n = next(self.counter)
        base = os.path.join(self.dir, "%06d" % n)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpts": envelope.rcpt_tos,
            "connection": getattr(session, "relay_conn", 0),
            "tls": session.ssl is not None
                   or server.transport.get_extra_info("ssl_object") is not None,
            "auth_user": session.relay_auth_user if hasattr(session, "relay_auth_user") else None,
            "peer": session.peer[0] if session.peer else None,
        }
        # .eml first, then .json (written aside, renamed): a .json means the record is complete
        os.rename(base + ".eml.tmp", base + ".eml")
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 OK queued as %06d" % n


    async def auth_XOAUTH2(self, server, args):
        # RFC-less but documented by Google/Microsoft:
        # base64("user=" U "\x01auth=Bearer " TOKEN "\x01\x01")
        if not self.user:
            return AuthResult(success=False, handled=False)
        try:
            if len(args) > 1:
                text = base64.b64decode(args[1].encode(), validate=True).decode()
            else:
                decoded = await server.challenge_auth("", encode_to_b64=False)
                if decoded is MISSING:
                    return AuthResult(success=False)
                text = decoded.decode()
        except Exception:
            return AuthResult(success=False, handled=False)
        fields = dict(p.split("=", 1) for p in text.split("\x01") if "=" in p)
        ok = fields.get("user") == self.user and fields.get("auth") == "Bearer " + self.password
        if ok:
            server.session.relay_auth_user = self.user
        return AuthResult(success=ok, handled=False)


    def command(self, verb):
        if self.record_commands:
            with self.lock, open(os.path.join(self.dir, "commands"), "a") as f:
                f.write(verb + "\n")


class CountingSMTP(SMTP):
    recorder = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self.session.relay_conn = self.recorder.new_connection()

    async def smtp_EHLO(self, arg):
        self.recorder.command("EHLO")
        return await super().smtp_EHLO(arg)

    async def smtp_STARTTLS(self, arg):
        self.recorder.command("STARTTLS")
        return await super().smtp_STARTTLS(arg)

    async def smtp_AUTH(self, arg):
        self.recorder.command("AUTH")
        if self.recorder.auth_reply:
            await self.push(self.recorder.auth_reply)
            return
        return await super().smtp_AUTH(arg)

    async def smtp_MAIL(self, arg):
        self.recorder.command("MAIL")
        return await super().smtp_MAIL(arg)


def make_authenticator(user, password):
    def authenticator(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        if ok:
            session.relay_auth_user = user
        # handled=False: let aiosmtpd answer 535 itself on failure.
        return AuthResult(success=ok, handled=False)
    return authenticator


class UpstreamController(Controller):
    def __init__(self, handler, args, **kw):
        self.args = args
        super().__init__(handler, hostname=args.host, port=args.port, **kw)

    def factory(self):
        kw = dict(self.SMTP_kwargs)
        CountingSMTP.recorder = self.handler
        return CountingSMTP(self.handler, **kw)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--dir", required=True)
    p.add_argument("--refuse-rcpt", action="append")
    p.add_argument("--data-reply", type=int)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--require-auth")
    p.add_argument("--ready-file")
    p.add_argument("--auth-reply")
    p.add_argument("--data-reply-line")
    p.add_argument("--record-commands", action="store_true")
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    recorder = Recorder(args)
    smtp_kw = {"hostname": "upstream.test", "ident": "relay test upstream"}
    ctl_kw = {}
    if args.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.implicit_tls:
            ctl_kw["ssl_context"] = ctx
        else:
            smtp_kw["tls_context"] = ctx
    if args.require_auth:
        user, _, password = args.require_auth.partition(":")
        smtp_kw["authenticator"] = make_authenticator(user, password)
        smtp_kw["auth_required"] = True
        smtp_kw["auth_require_tls"] = False
    ctl = UpstreamController(recorder, args, server_kwargs=smtp_kw, **ctl_kw)
    ctl.start()
    if args.ready_file:
        open(args.ready_file, "w").close()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    ctl.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
