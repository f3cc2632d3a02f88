#!/usr/bin/python3
"""Hostile messages through the whole pipeline to the cloud APIs: the real
receiver and dispatcher, fake_graph.py (JSON sendMail, which now reads
request bodies as strictly as Graph: UTF-8 only, no raw control characters)
and fake_gmail.py (raw media upload).

For every message (broken charsets, raw 8-bit and invalid UTF-8 headers,
RFC 2047/2231 abuse, an empty file name, no boundary, damaged base64, 3,000 nested multiparts,
10,000 header fields, Bcc, message/rfc822, no header at all, ...):
  - it is delivered (nothing crashes, hangs or bounces);
  - the recipients are the envelope's, nothing else (Bcc never leaks);
  - Graph JSON: the body says what the message says (charset decoded,
    invalid bytes as U+FFFD, never dropped) and every attachment arrives
    byte-identical (SHA-256 against Python's decoding of the original);
    what the JSON form cannot carry faithfully goes as MIME;
  - Graph MIME and Gmail: the message arrives byte for byte below the
    header lines relay adds.
docs/cloud-mime.md lists the cases and what each must do.
"""
import base64
import email
import email.policy
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from m365_common import Pipeline  # noqa: E402
from relaytest import run_tests, wait_for  # noqa: E402
import gmail_adapter  # noqa: E402

FROM = b"From: Scanner <scan@example.com>\r\n"
FFFD = "\ufffd"


def b64(data):
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def head(subject, extra=b""):
    return FROM + b"To: <TO>\r\nSubject: " + subject + b"\r\n" + extra + b"MIME-Version: 1.0\r\n"


def mixed(subject, parts, boundary=b"B", close=True, extra=b""):
    out = head(subject, extra) + b"Content-Type: multipart/mixed; boundary=\"" + boundary + b"\"\r\n\r\n"
    for p in parts:
        out += b"--" + boundary + b"\r\n" + p
    return out + (b"--" + boundary + b"--\r\n" if close else b"")


def text(body, ctype=b"text/plain; charset=utf-8"):
    return b"Content-Type: " + ctype + b"\r\n\r\n" + body + b"\r\n"


def att(data, name=b"a.bin", disp=None, ctype=b"application/octet-stream"):
    d = disp if disp is not None else b"attachment; filename=\"" + name + b"\""
    return (b"Content-Type: " + ctype + b"\r\nContent-Disposition: " + d +
            b"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(data))


def nested(depth, leaf):
    for i in range(depth):
        b = b"N%d" % i
        leaf = b"Content-Type: multipart/mixed; boundary=\"" + b + b"\"\r\n\r\n--" + b + b"\r\n" + leaf + \
               b"\r\n--" + b + b"--\r\n"
    return leaf


def fold(name, words):
    return name + b": " + b"\r\n ".join(words) + b"\r\n"


def corpus():
    """name -> (raw, path, body check) with path 'json' or 'mime' for Graph."""
    R = os.urandom
    ew = b"=?utf-8?B?" + base64.b64encode("ü".encode() * 30) + b"?="
    c = {
        "text_only": (head(b"plain") + text(b"plain \xe2\x82\xac"), "json", "plain \u20ac\r\n"),
        "lying_charset": (head(b"lying") + text(b"caf\xe9 na\xefve"), "json", f"caf{FFFD} na{FFFD}ve\r\n"),
        "latin1": (head(b"latin1") + text(b"caf\xe9", b"text/plain; charset=iso-8859-1"), "json", "caf\u00e9\r\n"),
        "unknown_charset": (head(b"klingon") + text(b"qapla\xe9 \xff", b"text/plain; charset=x-klingon"), "mime",
                            None),
        "raw_latin1_headers": (b"From: \xc9milie <scan@example.com>\r\nTo: <TO>\r\nSubject: r\xe9sum\xe9\r\n"
                               b"X-Note: caf\xe9\r\n\r\nbody\r\n", "json", "body\r\n"),
        "invalid_utf8": (mixed(b"bad \xff\xfe \xc3\x28 \x01\x1b", [text(b"body \xff\xc3\x28 \x01\x1b\x7f end"),
                                                                 att(R(500), b"n\xffame\x01.bin")],
                               extra=b"X-Bad: \xed\xa0\x80 \xf4\x90\x80\x80\r\n"),
                         "json", f"body {FFFD}{FFFD}( \x01\x1b\x7f end"),
        "rfc2047_abuse": (FROM.replace(b"Scanner", b"=?utf-8?B?invalid!!?= =?x-unknown?Q?abc?=") + b"To: <TO>\r\n"
                          b"Subject: =?utf-8?Q?=3D=3Futf-8=3FB=3FaGk=3D=3F=3D?= =?utf-8?B?/w==?= =?utf-8?Q?broken\r\n"
                          + fold(b"X-Long-EW", [ew] * 150) + b"MIME-Version: 1.0\r\n"
                          b"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n" + text(b"body") +
                          b"--B\r\n" + att(R(200), b"=?utf-8?B?w6kuYmlu?=") + b"--B--\r\n", "json", "body"),
        "rfc2231_names": (mixed(b"names", [
            text(b"body"),
            att(R(100), disp=b"attachment; filename*=UTF-8''%E2%82%AC%20rate.pdf"),
            att(R(101), disp=b"attachment; filename*0*=UTF-8''part%C3%A9; filename*1=two.txt"),
            att(R(102), disp=b"attachment; filename*=x-bogus''%FF%FE.bin"),
            att(R(103), b"../../etc/passwd"),
            att(R(104), b"x" * 300 + b".bin"),
            att(R(105), "日本語.txt".encode()),
            att(R(106), b"l\xe9gacy.bin")]), "json", "body"),
        "alt_plus_att": (mixed(b"alt", [b"Content-Type: multipart/alternative; boundary=\"A\"\r\n\r\n--A\r\n" +
                                        text(b"plain") + b"--A\r\n" + text(b"<b>rich</b>", b"text/html") + b"--A--\r\n",
                                        att(R(3000), b"one.bin"), att(R(0), b"zero.bin")]), "json", "<b>rich</b>"),
        "inline_cid": (head(b"cid") + b"Content-Type: multipart/related; boundary=\"R\"\r\n\r\n--R\r\n" +
                       text(b"<img src=\"cid:i@x\">", b"text/html") + b"--R\r\nContent-Type: image/png\r\n"
                       b"Content-ID: <i@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(R(900)) + b"--R--\r\n",
                       "json", "<img src=\"cid:i@x\">"),
        "binary_cte": (mixed(b"binary", [text(b"body"), b"Content-Type: application/octet-stream\r\nContent-"
                                         b"Disposition: attachment; filename=\"b.bin\"\r\nContent-Transfer-Encoding: "
                                         b"binary\r\n\r\n" + bytes(range(14, 256)) + b"\r\n"]), "json", "body"),
        "empty_filename": (mixed(b"empty name", [text(b"body"), att(R(300), b"")]), "json", "body"),
        "no_close_boundary": (mixed(b"open", [text(b"body"), att(R(700))], close=False), "json", "body"),
        "boundary_in_base64": (mixed(b"b64", [text(b"body"), att(b"AAAA" * 300)], boundary=b"AAAA"), "json", "body"),
        "bcc_header": (FROM + b"To: <TO>\r\nBcc: <TO>, hidden@elsewhere.org\r\nSubject: bcc\r\n\r\nbody\r\n", "json",
                       "body\r\n"),
        "dup_subject": (FROM + b"To: <TO>\r\nSubject: one\r\nSubject: two\r\n\r\nbody\r\n", "json", "body\r\n"),
        "no_headers": (b"\r\njust a body after an empty line\r\n", "json", "just a body after an empty line\r\n"),
        "only_body": (b"just a body line, no header at all\r\n", "json", "just a body line, no header at all\r\n"),
        "long_header": (head(b"long", fold(b"X-Long", [b"y" * 76] * 1300)) + b"\r\nbody\r\n", "json", "body\r\n"),
        "no_boundary": (head(b"no boundary") + b"Content-Type: multipart/mixed\r\n\r\n--B\r\n" + text(b"body") +
                        b"--B--\r\n", "mime", None),
        "bad_base64": (mixed(b"bad b64", [text(b"body"), b"Content-Type: application/octet-stream\r\nContent-"
                                          b"Disposition: attachment; filename=\"bad.bin\"\r\nContent-Transfer-"
                                          b"Encoding: base64\r\n\r\nQUJD!!!RE=VGRw==x\r\n"]), "mime", None),
        "rfc822": (mixed(b"fwd", [text(b"body"), b"Content-Type: message/rfc822\r\n\r\nFrom: a@b.c\r\nSubject: in"
                                  b"\r\n\r\ninner\r\n"]), "mime", None),
        "nested3000": (head(b"deep") + nested(3000, text(b"leaf")), "mime", None),
        "headers_10k": (head(b"10k", b"".join(b"X-H%d: v\r\n" % i for i in range(10000))) + b"\r\nbody\r\n", "mime",
                        None),
    }
    return c


def sha(b):
    return hashlib.sha256(b).hexdigest()


def attachments_of(raw):
    """SHA-256 of every decoded non-body leaf, in order (Python's reading)."""
    m = email.message_from_bytes(raw, policy=email.policy.compat32)
    leaves = [p for p in m.walk() if not p.is_multipart()]
    return [sha(p.get_payload(decode=True) or b"") for p in leaves
            if p.get_filename() or p.get("Content-ID") or p.get_content_maintype() not in ("text",)]


def below_header(raw):
    i = raw.find(b"\r\n\r\n")
    return raw[i + 4:] if i >= 0 and not raw.startswith(b"\r\n") else raw


def send_all(p, msgs):
    sent = {}
    for i, (name, (raw, _, _)) in enumerate(msgs.items()):
        rcpt = f"r{i}@x.org"
        raw = raw.replace(b"<TO>", rcpt.encode())
        p.send("scan@example.com", [rcpt], raw)
        sent[name] = (rcpt, raw)
    return sent


def check_json(name, s, raw, body):
    m = s["json"]
    assert m["body"]["content"] == body, (name, m["body"])
    got = [sha(a["bytes"]) for a in s["attachments"]]
    assert got == attachments_of(raw), (name, [a["name"] for a in s["attachments"]])
    for a in s["attachments"]:
        assert a["name"] and FFFD not in a["name"] or name == "invalid_utf8", (name, a["name"])


def test_graph_json_path():
    msgs = corpus()
    with Pipeline(prov={"save_to_sent_items": False}, overrides={"receiver": {"limits": {"max_header_size": "1MB"}}}) as p:
        p.start()
        sent = send_all(p, msgs)
        p.wait_sent(len(msgs), timeout=60)
        by_rcpt = {s["rcpts"][0].lower(): s for s in p.fg.sent}
        for name, (rcpt, raw) in sent.items():
            s = by_rcpt[rcpt]
            assert [r.lower() for r in s["rcpts"]] == [rcpt], (name, s["rcpts"])
            path = msgs[name][1]
            assert s["via"] == ("sendMail-json" if path == "json" else "sendMail"), (name, s["via"])
            if path == "json":
                check_json(name, s, raw, msgs[name][2])
            else:
                assert s["mime"].endswith(below_header(raw)), name
        j = {n: by_rcpt[sent[n][0]]["json"] for n in sent if msgs[n][1] == "json"}
        assert j["raw_latin1_headers"]["subject"] == "r\u00e9sum\u00e9", j["raw_latin1_headers"]
        assert j["raw_latin1_headers"]["from"]["emailAddress"]["name"] == "\u00c9milie"
        assert j["raw_latin1_headers"]["internetMessageHeaders"] == [{"name": "X-Note", "value": "caf\u00e9"}]
        assert j["dup_subject"]["subject"] == "one"
        assert [a["name"] for a in by_rcpt[sent["empty_filename"][0]]["attachments"]] == ["attachment"]
        assert "hidden@elsewhere.org" not in str(j["bcc_header"]), j["bcc_header"]
        names = [a["name"] for a in by_rcpt[sent["rfc2231_names"][0]]["attachments"]]
        assert names[:2] == ["\u20ac rate.pdf", "part\u00e9two.txt"] and names[3] == "../../etc/passwd", names
        assert names[4] == "x" * 300 + ".bin" and names[5] == "日本語.txt" and names[6] == "l\u00e9gacy.bin", names
        assert not p.fg.violations, p.fg.violations
        log = p.log()
        for why in ("unknown charset 'x-klingon'", "without parts", "damaged base64", "attached message"):
            assert why in log, why


def test_gmail_raw_upload():
    msgs = corpus()
    with gmail_adapter.Pipeline(overrides={"receiver": {"limits": {"max_header_size": "1MB"}}}) as p:
        p.start()
        sent = send_all(p, msgs)
        wait_for(lambda: len(p.fake.sent) >= len(msgs), 60, interval=0.05, what="every message at the fake Gmail")
        by_rcpt = {}
        for s in p.fake.sent:
            assert len(s["rcpts"]) == 1, s["rcpts"]
            by_rcpt[s["rcpts"][0].lower()] = s
        for name, (rcpt, raw) in sent.items():
            s = by_rcpt[rcpt]
            assert s["raw"].endswith(below_header(raw)), name
        assert b"hidden@elsewhere.org" not in by_rcpt[sent["bcc_header"][0]]["raw"]


if __name__ == "__main__":
    run_tests([test_graph_json_path, test_gmail_raw_upload])
