#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>/ (rerun after
changing a scenario; the envelope seeds come from envelope_seeds.cpp, which
uses the spool's own serialiser). Input layouts: tests/fuzz/README.md."""
import base64
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- smtp_session: [sep][policy flags][host flags] then [action][bytes] chunks
SEP = b"\xff"
NOW = 0x03  # answer a pending AUTH/commit/TLS after this chunk, commit ok


def b64(s):
    return base64.b64encode(s.encode()).decode()


def session(name, chunks, pflags=0, hflags=0, action=NOW):
    body = b""
    for c in chunks:
        if isinstance(c, tuple):
            a, c = c
        else:
            a = action
        body += SEP + bytes([a]) + (c.encode() if isinstance(c, str) else c)
    out("smtp_session", name, SEP + bytes([pflags, hflags]) + body[1:])


def lines(*ls):
    return "".join(l + "\r\n" for l in ls)


ENV = lines("EHLO client.test", "MAIL FROM:<app@example.com>", "RCPT TO:<user@example.org>")
MSG = "From: App <app@example.com>\r\nSubject: hi\r\n\r\nhello\r\n..stuffed\r\n.\r\n"
AUTH_REQ, STARTTLS, REQ_TLS, IMPLICIT, WIDE, SMALL, REWRITE, OPTIONAL = 0x10, 1, 2, 3, 0x04, 0x80, 0x40, 0x08
SENDERS = 0x20


def session_seeds():
    session("basic_lines", ["EHLO client.test\r\n", "MAIL FROM:<app@example.com> BODY=8BITMIME\r\n",
                            "RCPT TO:<user@example.org>\r\n", "DATA\r\n", MSG, "VRFY x\r\nQUIT\r\n"])
    session("pipelined", [ENV + "DATA\r\n" + MSG + "RSET\r\nNOOP\r\nHELP\r\nQUIT\r\n"])
    session("pipelined_sync", [ENV + "DATA\r\n" + MSG + "MAIL FROM:<>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
                               + MSG + "QUIT\r\n"], hflags=2)
    whole = ENV + "DATA\r\n" + MSG
    session("trickle", [whole[i:i + 3] for i in range(0, len(whole), 3)])
    session("helo_smtp", [lines("HELO old.test", "MAIL FROM:<a@example.com> SIZE=100",
                                "RCPT TO:<b@example.org> NOTIFY=NEVER", "DATA"), MSG])
    chunk = "Subject: b\r\n\r\nbody\r\n"
    session("bdat", [ENV + f"BDAT {len(chunk)}\r\n" + chunk + "BDAT 0 LAST\r\n", "QUIT\r\n"])
    session("bdat_one_last", [ENV + f"BDAT {len(chunk)} LAST\r\n" + chunk + "QUIT\r\n"])
    bin_chunk = "Subject: bin\r\n\r\n\x00\x01\xfe\r\n"
    session("bdat_binary", [ENV + f"BDAT {len(bin_chunk)} LAST\r\n" + bin_chunk])
    smuggled = lines("RSET", "MAIL FROM:<ceo@contoso.example>", "RCPT TO:<victim@example.org>", "DATA",
                     "Subject: forged", "", "send money", ".")
    session("bdat_refused_smuggle", [lines("EHLO attacker.test") + f"BDAT {len(smuggled)} LAST\r\n" + smuggled,
                                     "QUIT\r\n"])
    session("bdat_then_data", [ENV + "BDAT 5\r\nabcde" + "DATA\r\n" + MSG + "BDAT 0 LAST\r\n"])
    session("bdat_bad", [ENV + "BDAT\r\nBDAT -1\r\nBDAT 99999999999999999999999\r\nBDAT 3 LAST x\r\nabc"])
    session("auth_plain", [lines("EHLO scanner.test", "AUTH PLAIN " + b64("\0scanner1\0s3cret")),
                           lines("MAIL FROM:<scan@contoso.example>", "RCPT TO:<x@example.org>", "DATA"),
                           "From: Scanner <scan@contoso.example>\r\n\r\nscan\r\n.\r\n"], pflags=AUTH_REQ)
    session("auth_login", [lines("EHLO scanner.test", "AUTH LOGIN", b64("erp"), b64("erp-pw")),
                           ENV[len("EHLO client.test\r\n"):] + "DATA\r\n" + MSG], pflags=AUTH_REQ)
    session("auth_plain_continuation", [lines("EHLO a.test", "AUTH PLAIN", b64("erp\0erp\0erp-pw"),
                                              "AUTH PLAIN " + b64("\0erp\0erp-pw"))], pflags=OPTIONAL)
    session("auth_failures", [lines("EHLO a.test")] +
            [lines("AUTH PLAIN " + b64("\0scanner1\0wrong%d" % i)) for i in range(5)] + ["QUIT\r\n"],
            pflags=AUTH_REQ, action=0x0b)
    session("auth_cancel_bad", [lines("EHLO a.test", "AUTH LOGIN", "*", "AUTH PLAIN !!!", "AUTH CRAM-MD5",
                                      "AUTH PLAIN =", "MAIL FROM:<a@example.com>")], pflags=AUTH_REQ)
    session("auth_pipelined_async", [lines("EHLO a.test", "AUTH PLAIN " + b64("\0erp\0erp-pw"),
                                           "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.org>"), (0, ""),
                                     (NOW, "DATA\r\n" + MSG)], pflags=AUTH_REQ)
    session("auth_from_header_spoof", [lines("EHLO scanner.test", "AUTH PLAIN " + b64("\0scanner1\0s3cret"),
                                             "MAIL FROM:<scan@contoso.example>", "RCPT TO:<x@example.org>", "DATA"),
                                       "From : ceo@contoso.example\r\nSender:\tceo@contoso.example\r\n"
                                       "From: (" + "c" * 300 + ") ceo@contoso.example\r\n\r\nx\r\n.\r\n"],
                pflags=AUTH_REQ | SENDERS)
    session("starttls", [lines("EHLO a.test", "STARTTLS"), lines("EHLO a.test", "MAIL FROM:<a@example.com>",
                                                                   "RCPT TO:<b@example.org>", "DATA"), MSG],
            pflags=REQ_TLS)
    session("starttls_injection", [lines("EHLO a.test") + "STARTTLS\r\nMAIL FROM:<inject@example.com>\r\n",
                                   lines("RCPT TO:<b@example.org>", "DATA"), MSG], pflags=REQ_TLS)
    session("starttls_required_refusal", [lines("EHLO a.test", "MAIL FROM:<a@example.com>", "STARTTLS x",
                                                "AUTH PLAIN " + b64("\0erp\0erp-pw"))],
            pflags=REQ_TLS | WIDE | AUTH_REQ)
    session("implicit_tls_auth", [lines("EHLO a.test", "AUTH PLAIN " + b64("\0erp\0erp-pw"),
                                        "STARTTLS") + ENV + "DATA\r\n" + MSG], pflags=IMPLICIT | WIDE | AUTH_REQ)
    for name, end in [("lf_dot_lf", "\n.\n"), ("cr_dot_cr", "\r.\r"), ("crlf_dot_lf", "\r\n.\n"),
                      ("lf_dot_crlf", "\n.\r\n"), ("crlf_dot_cr", "\r\n.\r"), ("dot_nul", "\r\n.\x00\r\n")]:
        session("smuggle_" + name, [ENV + "DATA\r\n", "Subject: first\r\n\r\nhello" + end +
                                    lines("MAIL FROM:<ceo@example.com>", "RCPT TO:<victim@example.com>", "DATA",
                                          "Subject: forged", "", "money", "."), "QUIT\r\n"])
    session("bare_lf_commands", ["EHLO a.test\nMAIL FROM:<a@example.com>\nRCPT TO:<b@example.org>\n"])
    session("http", ["GET / HTTP/1.1\r\nHost: relay\r\nUser-Agent: x\r\n\r\n", "POST /x HTTP/1.0\r\n"])
    session("long_lines", ["EHLO " + "a" * 600 + "\r\n", "MAIL FROM:<" + "b" * 1000 + "@example.com>\r\n",
                           ENV + "DATA\r\n", "Subject: x\r\n\r\n" + "y" * 1200 + "\r\n.\r\n"])
    session("bad_commands", [lines("EHLO a.test", "XYZZY", "MAIL", "RCPT TO:<a@b>", "DATA", "MAIL FROM:a@b",
                                   "MAIL FROM:<a@b> SIZE=x", "HELO", "VRFY")])
    session("too_many_rcpts", [lines("EHLO a.test", "MAIL FROM:<a@example.com>") +
                               "".join(lines("RCPT TO:<r%d@example.org>" % i) for i in range(6)) + "DATA\r\n" + MSG])
    session("size_limit", [ENV[:-2] + "\r\nDATA\r\n", "Subject: big\r\n\r\n" + ("z" * 70 + "\r\n") * 10 + ".\r\n",
                           lines("MAIL FROM:<a@example.com> SIZE=999999")], pflags=SMALL)
    session("smtputf8", [lines("EHLO a.test", "MAIL FROM:<jörg@exämple.com> SMTPUTF8 BODY=8BITMIME",
                               "RCPT TO:<ü@exämple.org>", "DATA"), "Subject: ü\r\n\r\nü\r\n.\r\n"])
    session("commit_late_timeout", [ENV + "DATA\r\n" + MSG, (0, "NOOP\r\nRSET\r\n"), (0x04 | 0x02, "QUIT\r\n")],
            action=0)
    session("write_fail", [(0x20, ENV), (NOW, "DATA\r\n" + MSG), (0x28, "MAIL FROM:<a@x.example>\r\n")])
    session("timeouts", [ENV + "DATA\r\nSubject: x\r\n", (0x10, "more\r\n")])
    session("sync_toggle", [(0x30, ENV), (0x33, "DATA\r\n" + MSG), (0x33, "QUIT\r\n")])
    session("null_sender_rewrite", [lines("EHLO a.test", "MAIL FROM:<>", "RCPT TO:<postmaster@example.org>",
                                          "DATA"), "Subject: bounce\r\n\r\nx\r\n.\r\n"], pflags=REWRITE | SENDERS)
    # The receiver's golden transcripts: the client lines, one chunk each.
    tdir = os.path.join(SRC, "tests", "receiver", "transcripts")
    for fn in sorted(os.listdir(tdir)):
        chunks = []
        for line in open(os.path.join(tdir, fn), encoding="utf-8"):
            if line.startswith("C: "):
                chunks.append(line[3:].rstrip("\n").replace("\\r\\n", "\r\n").replace("\\n", "\n") + "\r\n")
        session("transcript_" + fn.replace(".txt", ""), chunks, pflags=OPTIONAL)


# ---- body: [2 bytes read-size seed] + DATA wire bytes
def body_seeds():
    wires = {
        "simple": MSG,
        "empty": ".\r\n",
        "stuffed": "..\r\n...\r\n.x\r\n\r\n.\r\n",
        "folded_from": "From: \"A, B\" <a@example.com>,\r\n\t(comment <x@y>) c@example.com\r\nSender: s@example.com\r\n"
                       "Subject: x\r\n\r\nFrom: body@example.com\r\n.\r\n",
        "from_space": "From : ceo@example.com\r\nFROM:\tceo@example.com\r\nfrom:ceo@example.com\r\n\r\n.\r\n",
        "group": "From: undisclosed: a@example.com, b@example.com;\r\n\r\n.\r\n",
        "long_header": "From: " + "(" + "c" * 5000 + ") x@example.com\r\n\r\n.\r\n",
        "long_line": "Subject: x\r\n\r\n" + "a" * 999 + "\r\n.\r\n",
        "bare_cr_lf": "a\rb\nc\r\n\r\r\n.\r\n",
        "nul": "Subject: \x00\r\n\r\n\x00\r\n.\r\n",
        "held_cr": ".\rX\r\n.\r\r\n.\r",
        "unterminated": "Subject: x\r\n\r\nno end\r\n.",
        "smuggle": "a\r\n\n.\nb\r.\rc\r\n.\n" + "d\n.\r\nrest\r\n.\r\nAFTER\r\n",
        "header_only": "From: a@example.com",
    }
    for name, w in wires.items():
        out("body", name, bytes([len(name), 7]) + w.encode("utf-8", "surrogateescape"))


# ---- config: the example configs and small variants
def config_seeds():
    for fn in ("relay.example.yaml", "relay.yaml"):
        text = open(os.path.join(SRC, "etc", fn), encoding="utf-8").read()
        out("config", fn, text.replace("${file:", "${env:"))
    out("config", "minimal.yaml", "providers:\n  out:\n    type: outbox\n    directory: /tmp/outbox\n")
    out("config", "smtp_routes.yaml",
        "receiver:\n  listeners:\n    - listen: 127.0.0.1:2525\n      tls: starttls\n  auth: required\n"
        "  users:\n    - name: scanner1\n      password_hash: x\n      allowed_senders: [scan@example.com]\n"
        "senders:\n  allowed: ['@example.com', '*.example.org']\n  policy: rewrite\n"
        "providers:\n  up:\n    type: smtp\n    host: 127.0.0.1\n    port: 25\n  out:\n    type: outbox\n"
        "    directory: out\nroutes:\n  - sender: '@example.com'\n    provider: up\n  - auth_user: scanner1\n"
        "    provider: out\ndefault_provider: out\n")
    out("config", "yaml_edges.yaml", "a: &x [1, 2]\nb: *x\nc: !!binary aGk=\nd: {e: [f, {g: h}]}\n? complex\n: key\n")
    out("config", "secrets.yaml", "database:\n  conninfo: ${env:RELAY_DB}\nproviders:\n  m:\n    type: m365\n"
        "    tenant_id: t\n    client_id: c\n    client_secret: $${literal}\n")


# ---- cloud_errors: [which][status hi][status lo] body NUL retry-after
def cloud(name, which, status, body, retry=""):
    s = status - 100
    out("cloud_errors", name, bytes([which, (s >> 8) & 0xff, s & 0xff]) + body.encode() + b"\0" + retry.encode())


def graph(code, msg):
    return json.dumps({"error": {"code": code, "message": msg, "innerError": {
        "date": "2024-05-01T10:00:00", "request-id": "5c7d5a3e-0000", "client-request-id": "5c7d5a3e-0000"}}})


def cloud_seeds():
    g = [(400, "ErrorInvalidRecipients", "At least one recipient is not valid., Recipient 'x' is not resolved."),
         (401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
         (403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."),
         (404, "ErrorInvalidUser", "The requested user 'scan@contoso.example' is invalid."),
         (404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise."),
         (413, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size."),
         (429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
         (503, "ServiceUnavailable", "Service is temporarily unavailable.\nTry again later."),
         (400, "ErrorExceededMessageLimit", "Exceeded message limit"),
         (202, "", "")]
    for i, (st, code, msg) in enumerate(g):
        cloud("graph_%d_%s" % (st, code or "accepted"), 0, st, graph(code, msg) if code else "", "30" if st in (429, 503) else "")
    aad = [("invalid_client", 7000215, "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."),
           ("unauthorized_client", 700016, "AADSTS700016: Application with identifier 'c' was not found in the directory 'contoso'."),
           ("invalid_request", 90002, "AADSTS90002: Tenant 't' not found. Check to make sure you have the correct tenant ID."),
           ("invalid_client", 7000222, "AADSTS7000222: The provided client secret keys for app 'c' are expired."),
           ("temporarily_unavailable", 50196, "AADSTS50196: The server terminated an operation because it encountered a client request loop.")]
    for err, code, desc in aad:
        body = json.dumps({"error": err, "error_description": desc + "\r\nTrace ID: 0f0e\r\nCorrelation ID: 1a2b\r\nTimestamp: 2024-05-01 10:00:00Z",
                           "error_codes": [code], "timestamp": "2024-05-01 10:00:00Z", "trace_id": "0f0e",
                           "correlation_id": "1a2b", "error_uri": "https://login.microsoftonline.com/error?code=%d" % code})
        cloud("entra_%d" % code, 1, 401 if err == "invalid_client" else 400, body)
        cloud("token_%d" % code, 3, 400, body)
    gm = [(429, "RESOURCE_EXHAUSTED", "userRateLimitExceeded", "User-rate limit exceeded.  Retry after 2024-05-01T10:05:00.000Z"),
          (400, "INVALID_ARGUMENT", "invalidArgument", "Invalid To header"),
          (400, "FAILED_PRECONDITION", "failedPrecondition", "Precondition check failed."),
          (403, "PERMISSION_DENIED", "insufficientPermissions", "Request had insufficient authentication scopes."),
          (403, "PERMISSION_DENIED", "dailyLimitExceeded", "Daily Limit Exceeded"),
          (401, "UNAUTHENTICATED", "authError", "Request had invalid authentication credentials.\nExpected OAuth 2 access token."),
          (413, "", "", "Request Entity Too Large"),
          (500, "INTERNAL", "backendError", "Backend Error")]
    for st, status, reason, msg in gm:
        e = {"code": st, "message": msg, "status": status}
        if reason:
            e["errors"] = [{"message": msg, "domain": "usageLimits" if "Limit" in reason else "global", "reason": reason}]
        cloud("gmail_%d_%s" % (st, reason or "plain"), 2, st, json.dumps({"error": e}), "17" if st == 429 else "")
    cloud("gmail_200", 2, 200, '{"id":"18c2f0","threadId":"18c2f0","labelIds":["SENT"]}')
    for err, desc in [("invalid_grant", "Invalid JWT Signature."), ("invalid_grant", "Token has been expired or revoked."),
                      ("unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."),
                      ("invalid_scope", "Invalid OAuth scope or ID token audience provided.")]:
        cloud("google_token_" + err + str(len(desc)), 3, 400, json.dumps({"error": err, "error_description": desc}))
    for i, v in enumerate(["120", "1.5", "0", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "Tue, 14 Nov 2023 22:14:00 GMT",
                           "99999999999999999999", "1e9", " 30 ", "Sun, 06 Nov 1994 08:49:37 GMT x"]):
        out("cloud_errors", "retry_after_%d" % i, bytes([4, 0, 0]) + v.encode())
    # Bodies from the providers' unit tests (their authors' shapes).
    for rel in ("tests/dispatcher/m365/graph_errors_test.cpp", "tests/dispatcher/gmail/gmail_errors_test.cpp",
                "tests/dispatcher/cloud/token_cache_test.cpp"):
        p = os.path.join(SRC, rel)
        if not os.path.exists(p):
            continue
        for j, m in enumerate(re.findall(r'R"\((\{.*?\})\)"', open(p, encoding="utf-8").read())):
            if "{{" in m:
                continue
            which = 2 if "gmail" in rel else (3 if "token" in m or "error_description" in m else 0)
            cloud("unit_%s_%d" % (os.path.basename(rel).split("_")[0], j), which, 400, m)


# ---- smtp_replies: [sep][curl code][rcpt count] then [kind][bytes] (kind 0 = reply in, 1 = command out)
def replies(name, steps, rc=0, nrcpt=2):
    body = b"".join(SEP + bytes([k]) + d.encode() for k, d in steps)
    out("smtp_replies", name, SEP + bytes([rc, nrcpt - 1]) + body[1:])


def conversation(rcpt_replies, eod="250 2.0.0 Ok: queued as 4F1", data="354 End data with <CR><LF>.<CR><LF>"):
    s = [(0, "220 mx.example.org ESMTP Postfix\r\n"), (1, "EHLO relay.test\r\n"),
         (0, "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n"
             "250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"),
         (1, "STARTTLS\r\n"), (0, "220 2.0.0 Ready to start TLS\r\n"), (1, "EHLO relay.test\r\n"),
         (0, "250-mx.example.org\r\n250 AUTH PLAIN\r\n"), (1, "AUTH PLAIN AHUAcA==\r\n"),
         (0, "235 2.7.0 Authentication successful\r\n"), (1, "MAIL FROM:<app@example.com>\r\n"), (0, "250 2.1.0 Ok\r\n")]
    for i, r in enumerate(rcpt_replies):
        s += [(1, "RCPT TO:<r%d@example.org>\r\n" % i), (0, r + "\r\n")]
    s += [(1, "DATA\r\n"), (0, data + "\r\n"), (2, "[body]"), (0, eod + "\r\n"), (1, "QUIT\r\n"), (0, "221 2.0.0 Bye\r\n")]
    return s


def replies_seeds():
    replies("sent", conversation(["250 2.1.5 Ok", "250 2.1.5 Ok"]))
    replies("rcpt_550", conversation(["550 5.1.1 <r0@example.org>: Recipient address rejected: User unknown", "250 2.1.5 Ok"]))
    replies("rcpt_452", conversation(["452 4.5.3 Error: too many recipients", "250 Ok"]))
    replies("eod_552", conversation(["250 Ok", "250 Ok"], eod="552 5.3.4 Error: message file too big"))
    replies("eod_451", conversation(["250 Ok"], eod="451 4.3.0 Error: queue file write error"), nrcpt=1)
    replies("data_554", conversation(["250 Ok", "250 Ok"], data="554 5.5.1 Error: no valid recipients"))
    replies("eod_lost", conversation(["250 Ok", "250 Ok"], eod="")[:-3], rc=5)
    replies("greeting_421", [(0, "421 4.3.2 mx.example.org Service shutting down\r\n")], rc=7)
    replies("auth_535", [(0, "220 mx ESMTP\r\n"), (1, "EHLO r\r\n"), (0, "250 AUTH PLAIN\r\n"), (1, "AUTH PLAIN x\r\n"),
                         (0, "535 5.7.8 Error: authentication failed: authentication failure\r\n")], rc=2)
    replies("starttls_missing", [(0, "220 mx ESMTP\r\n"), (1, "EHLO r\r\n"), (0, "250-mx\r\n250 SIZE\r\n")], rc=6)
    replies("split_multiline", [(0, "220 mx"), (0, " ESMTP\r"), (0, "\n"), (1, "EHLO r\r\n"), (0, "250-mx\r\n250-"),
                                (0, "PIPE\r\n250 OK\r\n"), (1, "MAIL FROM:<a@b>\r\n"), (0, "250 ok\n"),
                                (1, "RCPT TO:<r0@example.org>\r\n"), (0, "250 ok\r\n"), (1, "BDAT 10 LAST\r\n"),
                                (0, "250 2.0.0 Ok\r\n")], nrcpt=1)
    replies("garbage", [(0, "2\r\n25\r\n250\r\n999 x\r\n000-\r\n"), (1, "DATA\r\n"), (0, "354\r\n354\r\n"),
                        (1, "RCPT TO:<r1@example.org\r\n"), (0, "250-x\r\n")], rc=8, nrcpt=4)


# ---- header: a message header section (the RFC 5322 reader, branch hdr)
def header_seeds():
    heads = {
        "plain": "From: App <app@example.com>\r\nTo: a@example.org, \"B, C\" <b@example.org>\r\nSubject: x\r\n\r\nbody\r\n",
        "space_before_colon": "From : ceo@contoso.example\r\nSender\t: scan@contoso.example\r\n\r\n",
        "folded_comment": "From: (" + "c" * 5000 + ")\r\n ceo@contoso.example\r\n\r\n",
        "nested_comments": "From: ((a) b \\( c) \"q\\\"uoted\" <x.y@example.com> (tail)\r\n\r\n",
        "group": "From: team: a@example.com, b@example.com;\r\nTo: undisclosed-recipients:;\r\n\r\n",
        "encoded_word": "From: =?utf-8?B?w6lsw6g=?= <e@example.com>\r\nSender: =?iso-8859-1?q?x?= s@example.com\r\n\r\n",
        "several_from": "From: a@example.com, b@example.com\r\nSender: b@example.com\r\nFrom: c@example.com\r\n\r\n",
        "obsolete": "From: a . b @ example . com\r\nSender: <@route.example:s@example.com>\r\nReply-To: \"a b\"@example.com\r\n\r\n",
        "domain_literal": "From: x@[192.0.2.1]\r\nCc: y@[IPv6:2001:db8::1]\r\n\r\n",
        "no_separator": "From: a@example.com\r\nthis is the body\r\n",
        "bare_lf": "From: a@example.com\nSender: b@example.com\n\nbody\n",
        "continuation_first": " From: a@example.com\r\n\r\n",
        "unterminated": "From: \"open <a@example.com>\r\nSender: (open s@example.com\r\nTo: <x@y\r\n\r\n",
        "empty_from": "From:\r\nSender: \r\n\r\n",
    }
    for name, h in heads.items():
        out("header", name, h)


def envelope_seeds():
    """Runs envelope_seeds.cpp (compiled against spool/ with the host's g++)."""
    exe = os.path.join(os.environ.get("TMPDIR", "/tmp"), "relay-envelope-seeds")
    srcs = [os.path.join(HERE, "envelope_seeds.cpp")] + [os.path.join(SRC, "spool", f) for f in
                                                       ("envelope.cpp", "crc32.cpp", "queue_id.cpp")]
    subprocess.check_call(["g++", "-std=c++20", "-O1", "-I", SRC, "-o", exe] + srcs)
    d = os.path.join(CORPUS, "envelope")
    os.makedirs(d, exist_ok=True)
    subprocess.check_call([exe, d])
    os.unlink(exe)
    # Damaged copies of a real one: what a crash or an editor leaves behind.
    real = open(os.path.join(d, "full.env"), "rb").read()
    out("envelope", "damaged_truncated", real[: len(real) // 2])
    out("envelope", "damaged_crc", real[:-3] + b"000\n")
    out("envelope", "damaged_version", real.replace(b"relay-envelope 1", b"relay-envelope 7"))
    out("envelope", "damaged_crlf", real.replace(b"\n", b"\r\n"))


def main():
    if os.path.isdir(CORPUS):
        for t in os.listdir(CORPUS):
            shutil.rmtree(os.path.join(CORPUS, t))
    session_seeds()
    body_seeds()
    config_seeds()
    cloud_seeds()
    replies_seeds()
    header_seeds()
    envelope_seeds()
    for t in sorted(os.listdir(CORPUS)):
        print(t, len(os.listdir(os.path.join(CORPUS, t))))


if __name__ == "__main__":
    sys.exit(main())
