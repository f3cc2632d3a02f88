#!/usr/bin/python3
"""Microsoft 365: what is sent is what was submitted, and where it is kept
(issue 11 items 1-3), through the whole pipeline (receiver -> spool ->
dispatcher -> fake_graph.py over HTTPS -> PostgreSQL).

- save_to_sent_items false (the default): JSON sendMail with
  saveToSentItems false, carrying the HTML body, an inline cid: image, a
  file attachment, Reply-To and X- headers, and exactly the pending
  envelope recipients; a message over Graph's request limit goes through a
  JSON draft marked PidTagDeleteAfterSubmit. The fake records whether
  Exchange would keep a copy in Sent Items.
- A message the JSON form cannot carry (In-Reply-To, signed): json_unfaithful
  mime sends it as MIME (logged), refuse bounces it 5.6.0.
- The MIME draft path (max_mime_size 1KB): a corpus of messages (signed,
  cid: images, calendar parameters, part order, a single 5 MB part)
  reassembled from the fake's records equals the submitted one part by part.
- Permissions: `relayctl provider test` names a missing Mail.ReadWrite;
  at delivery time a 403 on the draft path holds the mail (config error),
  never bounces it.
"""
import base64
import email
import email.policy
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from m365_common import Pipeline, wait_for, wait_sql  # noqa: E402
from relaytest import run_tests  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(1500)
PDF = b"%PDF-1.4\n" + os.urandom(2000)


def b64(data):
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def rich_message(extra=b""):
    return (b"From: Scanner <scan@example.com>\r\nTo: A <a@x.org>, outsider@z.org\r\nReply-To: desk@example.com\r\n"
            b"Subject: scan with logo\r\nX-Scan-Job: 42\r\n" + extra + b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"M\"\r\n\r\n"
            b"--M\r\nContent-Type: multipart/related; boundary=\"R\"\r\n\r\n"
            b"--R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>scan <img src=\"cid:logo@scan\"></p>\r\n"
            b"--R\r\nContent-Type: image/png\r\nContent-ID: <logo@scan>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + b64(PNG) + b"--R--\r\n"
            b"--M\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"scan.pdf\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64(PDF) + b"--M--\r\n")


def addrs(msg, prop):
    return [r["emailAddress"]["address"] for r in msg.get(prop, [])]


def test_json_path_keeps_no_sent_copy_and_carries_every_part():
    with Pipeline(prov={"save_to_sent_items": False}) as p:
        p.start()
        # outsider@z.org is in To but not in the envelope: never sent to; hidden@y.org only in the envelope: Bcc.
        qid = p.send("scan@example.com", ["a@x.org", "hidden@y.org"], rich_message())
        s = p.wait_sent(1)[0]
        assert s["via"] == "sendMail-json" and s["saved"] is False, (s["via"], s["saved"])
        assert not p.fg.sent_items, p.fg.sent_items
        m = s["json"]
        assert sorted(x.lower() for x in s["rcpts"]) == ["a@x.org", "hidden@y.org"], s["rcpts"]
        assert addrs(m, "toRecipients") == ["a@x.org"] and addrs(m, "bccRecipients") == ["hidden@y.org"], m
        assert addrs(m, "replyTo") == ["desk@example.com"], m.get("replyTo")
        assert m["from"]["emailAddress"] == {"address": "scan@example.com", "name": "Scanner"}, m["from"]
        assert m["subject"] == "scan with logo"
        hdrs = {h["name"]: h["value"] for h in m["internetMessageHeaders"]}
        assert hdrs["X-Scan-Job"] == "42", hdrs
        assert "outsider@z.org" in hdrs["X-Relay-Original-To"], hdrs  # the original To stays visible
        assert m["body"]["contentType"] == "html" and 'src="cid:logo@scan"' in m["body"]["content"], m["body"]
        inline, pdf = s["attachments"]
        assert inline["isInline"] and inline["contentId"] == "logo@scan" and inline["bytes"] == PNG, inline["name"]
        assert inline["contentType"] == "image/png"
        assert not pdf["isInline"] and pdf["name"] == "scan.pdf" and pdf["bytes"] == PDF
        assert pdf["contentType"] == "application/pdf"
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        assert "path=json" in p.log()


def test_large_json_message_goes_through_a_draft_not_kept_in_sent_items():
    big = os.urandom(5 << 20)
    raw = (b"From: scan@example.com\r\nTo: a@x.org\r\nSubject: big\r\nX-Scan-Job: 43\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"M\"\r\n\r\n--M\r\nContent-Type: text/plain\r\n\r\nbig scan\r\n"
           b"--M\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"big.pdf\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + b64(big) + b"--M--\r\n")
    with Pipeline(prov={"save_to_sent_items": False}) as p:
        p.start()
        qid = p.send("scan@example.com", ["a@x.org"], raw)
        s = p.wait_sent(1, timeout=60)[0]
        assert s["via"] == "draft-json" and s["saved"] is False, (s["via"], s["saved"])
        assert s["json"]["singleValueExtendedProperties"] == [{"id": "Boolean 0x0E01", "value": "true"}]
        assert s["json"]["internetMessageHeaders"] == [{"name": "X-Scan-Job", "value": "43"}]
        (a,) = s["attachments"]
        assert a["upload"] and a["bytes"] == big and a["name"] == "big.pdf", a["name"]
        assert [r[0] for r in a["ranges"]] == list(range(0, len(big), 3276800)), a["ranges"]
        assert not p.fg.sent_items and not p.fg.drafts and not p.fg.violations
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")


SIGNED = (b"From: scan@example.com\r\nTo: a@x.org\r\nSubject: signed\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"S\"\r\n"
          b"\r\n--S\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
          b"signed body\r\n--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"s.pdf\""
          b"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(PDF) + b"--B--\r\n\r\n--S\r\n"
          b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\n"
          + b64(os.urandom(600)) + b"--S--\r\n")


def test_unfaithful_message_goes_as_mime_or_is_refused():
    reply = (b"From: scan@example.com\r\nTo: a@x.org\r\nSubject: re\r\nIn-Reply-To: <q@x.org>\r\n"
             b"References: <q@x.org>\r\n\r\nanswer\r\n")
    with Pipeline(prov={"save_to_sent_items": False}) as p:
        p.start()
        p.send("scan@example.com", ["a@x.org"], reply)
        p.send("scan@example.com", ["a@x.org"], SIGNED)
        sent = p.wait_sent(2)
        assert all(s["via"] == "sendMail" and s["saved"] for s in sent), [(s["via"], s["saved"]) for s in sent]
        got = {email.message_from_bytes(s["mime"], policy=email.policy.default)["Subject"]: s["mime"] for s in sent}
        assert got["signed"].endswith(SIGNED.split(b"\r\n\r\n", 1)[1]), "the signed body went out byte for byte"
        log = p.log()
        assert "event=m365_json_unfaithful action=mime_saved_to_sent_items" in log
        assert "In-Reply-To has no place" in log and "signed or encrypted message (multipart/signed)" in log
    with Pipeline(prov={"save_to_sent_items": False, "json_unfaithful": "refuse"}) as p:
        p.start()
        qid = p.send("scan@example.com", ["a@x.org"], reply)
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "failed")
        att = p.attempts(qid)
        assert [(a[1], a[2], a[3]) for a in att] == [("permanent", 554, "5.6.0")], att
        assert "json_unfaithful: refuse" in att[0][4] and "In-Reply-To" in att[0][4], att[0][4]
        assert not p.fg.sent


def leaves(mime):
    """(Content-Type as written, decoded bytes, Content-ID) of every leaf, in order."""
    m = email.message_from_bytes(mime, policy=email.policy.compat32)
    out = []
    for part in m.walk():
        if part.is_multipart():
            continue
        out.append((" ".join(part.get("Content-Type", "text/plain").split()), part.get_payload(decode=True) or b"",
                    (part.get("Content-ID") or "").strip("<>") or None))
    return out


def reassembled(sent):
    """What Exchange sends for a MIME draft: the draft's parts, then its attachments in order."""
    out = leaves(sent["mime"])
    for a in sent["attachments"]:
        out.append((" ".join(a["contentType"].split()), a["bytes"], a.get("contentId") if a.get("isInline") else None))
    return out


def corpus():
    cal = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
    head = b"From: scan@example.com\r\nTo: a@x.org\r\nMIME-Version: 1.0\r\n"
    related = (head + b"Subject: cid\r\nContent-Type: multipart/related; boundary=\"R\"\r\n\r\n--R\r\n"
               b"Content-Type: text/html; charset=utf-8\r\n\r\n<img src=\"cid:logo@scan\">\r\n--R\r\n"
               b"Content-Type: image/png\r\nContent-ID: <logo@scan>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
               + b64(PNG) + b"--R--\r\n")
    ordered = (head + b"Subject: order\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
               b"--B\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nfirst\r\n"
               b"--B\r\nContent-Type: application/pdf; name=\"one.pdf\"\r\nContent-Disposition: attachment; "
               b"filename=\"one.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(PDF) +
               b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsecond\r\n"
               b"--B\r\nContent-Type: application/pdf; name=\"two.pdf\"\r\nContent-Disposition: attachment; "
               b"filename=\"two.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(PDF[::-1]) +
               b"--B\r\nContent-Type: text/calendar; method=REQUEST; charset=UTF-8\r\nContent-Disposition: attachment; "
               b"filename=\"invite.ics\"\r\n\r\n" + cal + b"--B--\r\n")
    single = os.urandom(5 << 20)
    payload = (head + b"Subject: single\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n" + b64(single))
    return {"signed": SIGNED, "cid": related, "order": ordered, "single": payload}


def test_draft_path_sends_what_was_submitted_part_by_part():
    prov = {"save_to_sent_items": True, "max_mime_size": "1KB"}
    with Pipeline(prov=prov, overrides={"receiver": {"limits": {"max_message_size": "40MB"}}}) as p:
        p.start()
        msgs = corpus()
        for raw in msgs.values():
            p.send("scan@example.com", ["a@x.org"], raw)
        sent = p.wait_sent(len(msgs), timeout=60)
        by_subject = {email.message_from_bytes(s["mime"])["Subject"]: s for s in sent}
        assert sorted(by_subject) == sorted(msgs), sorted(by_subject)
        for subject, raw in msgs.items():
            s = by_subject[subject]
            assert s["via"] == "draft", (subject, s["via"])
            want = leaves(raw)
            if subject == "single":  # the payload became the one attachment after an empty text body
                got = reassembled(s)
                assert [g[1] for g in got] == [b"", want[0][1]] and got[1][0] == want[0][0], [g[0] for g in got]
                assert s["attachments"][0]["upload"], "a 5 MB payload goes through an upload session"
                continue
            assert reassembled(s) == want, (subject, [w[0] for w in want], [g[0] for g in reassembled(s)])
        assert by_subject["signed"]["mime"].endswith(SIGNED.split(b"\r\n\r\n", 1)[1]), "signed entity untouched"
        assert not by_subject["signed"]["attachments"]
        assert [a["isInline"] for a in by_subject["cid"]["attachments"]] == [True]
        assert not p.fg.violations and not p.fg.drafts


def test_missing_mail_readwrite_is_named_and_holds_the_queue():
    with Pipeline(fake_kw={"roles": ("Mail.Send", "User.Read.All")}) as p:
        r = p.relayctl("provider", "test", "m365")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "missing permission: app app-1 has no Mail.ReadWrite application permission with admin consent, " \
               "needed by the draft + upload path for messages over max_mime_size" in r.stdout, r.stdout
    prov = {"save_to_sent_items": True, "max_mime_size": "1KB"}
    with Pipeline(prov=prov, fake_kw={"roles": ("Mail.Send",)}) as p:
        p.start()
        qid = p.send("scan@example.com", ["a@x.org"], corpus()["order"])
        wait_for(lambda: qid + ".env" in p.r.spool_entries("deferred"), 15, what="entry held in deferred/")
        att = p.attempts(qid) if p.status(qid) else []
        assert p.status(qid) != "failed" and not p.fg.sent, (p.status(qid), att)
        assert any(c["status"] == 403 and c["path"].endswith("/messages") for c in p.fg.calls), "no 403 on the draft"
        wait_for(lambda: "event=provider_config_error" in p.log(), 10, what="config error alert")
    with Pipeline(fake_kw={"roles": ("Mail.Send", "Mail.ReadWrite", "User.Read.All")}) as p:
        r = p.relayctl("provider", "test", "m365")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "ok: token acquired, Mail.Send granted, Mail.ReadWrite granted, mailbox relay@example.com found" \
               in r.stdout, r.stdout


if __name__ == "__main__":
    run_tests([test_json_path_keeps_no_sent_copy_and_carries_every_part,
               test_large_json_message_goes_through_a_draft_not_kept_in_sent_items,
               test_unfaithful_message_goes_as_mime_or_is_refused,
               test_draft_path_sends_what_was_submitted_part_by_part,
               test_missing_mail_readwrite_is_named_and_holds_the_queue])
