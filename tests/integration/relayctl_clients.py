#!/usr/bin/python3
"""relayctl clients (issue 12 item 3) against real traffic: a real receiver
(STARTTLS listener, AUTH optional) and dispatcher, real PostgreSQL. Mail
with and without TLS, refused clients (wrong password: 535; a client
outside client_networks: 554 at the greeting; a hostile AUTH name with
invalid UTF-8 and an escape sequence), the summary file path from the
receiver through the spool into PostgreSQL, and a refusal flood whose
distinct (client, user) pairs pass receiver.refusals.max_entries: memory
and rows stay capped (an overflow "*" entry), no refusal is lost from the
count. --json is parsed by Python's json.
"""
import base64
import json
import os
import signal
import smtplib
import subprocess

from relaytest import RELAYCTL, Relay, run_tests, wait_for
from tlsutil import client_context, make_certs

MAX_ENTRIES = 10


def auth_plain(s, user: bytes, password: bytes):
    return s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0" + user + b"\0" + password).decode())


def send(port, user=None, tls_ctx=None):
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as s:
        s.ehlo("client.test")
        if tls_ctx:
            s.starttls(context=tls_ctx)
            s.ehlo("client.test")
        if user:
            code, reply = auth_plain(s, user.encode(), b"pw")
            assert code == 235, (code, reply)
        s.sendmail("app@example.com", ["to@example.org"],
                   b"From: <app@example.com>\r\nTo: <to@example.org>\r\nSubject: inv\r\n\r\nhi\r\n")


def refused_auth(port, user: bytes):
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as s:
        s.ehlo("client.test")
        code, reply = auth_plain(s, user, b"wrong")
        assert code == 535, (code, reply)


def clients(r):
    res = r.relayctl("clients", "--json")
    return json.loads(res.stdout)  # valid JSON whatever bytes the data holds


def row(rows, addr, user):
    m = [x for x in rows if x["client_addr"] == addr and x["auth_user"] == user]
    return m[0] if m else None


def test_clients_inventory_and_refusals():
    h = subprocess.run([RELAYCTL, "hash-password"], input="pw\n", capture_output=True, text=True, timeout=20)
    assert h.returncode == 0, h
    r = Relay()
    with r:
        certs = make_certs(r.dir)
        r.cfg["receiver"].update({
            "listeners": [{"address": f"127.0.0.1:{r.port}", "tls": "starttls"}],
            "tls": {"cert_file": certs.cert, "key_file": certs.key},
            "auth": "optional", "users": [{"name": "scanner", "password_hash": h.stdout.strip()}],
            "client_networks": ["127.0.0.1/32"],
            "refusals": {"flush_interval": "1s", "max_entries": MAX_ENTRIES},
            "limits": {"max_auth_failures_per_ip": 1000},
        })
        r.write_config()
        os.makedirs(r.outbox, exist_ok=True)
        r.relayctl("db", "migrate")
        recv = r.start_receiver()
        r.start_dispatcher()
        send(r.port, "scanner", client_context(certs))
        send(r.port, "scanner")
        send(r.port)
        refused_auth(r.port, b"scanner")
        refused_auth(r.port, b"\xff\xfe\x1b[31m\"evil")
        try:
            smtplib.SMTP("127.0.0.1", r.port, timeout=15, source_address=("127.0.0.2", 0)).close()
            raise AssertionError("127.0.0.2 was not refused")
        except smtplib.SMTPConnectError as e:
            assert e.smtp_code == 554, e

        def ready():
            rows = clients(r)
            a = row(rows, "127.0.0.1", "scanner")
            return rows if a and a["messages_30d"] == 2 and a["refused"] == 1 and row(rows, "127.0.0.2", "") else None
        rows = wait_for(ready, 30, interval=0.5, what="clients: scanner and 127.0.0.2 with their refusals")
        a = row(rows, "127.0.0.1", "scanner")
        assert a["messages_24h"] == 2 and a["tls"] == "mixed" and a["tls_messages_30d"] == 1, a
        assert a["last_refusal_reason"].startswith("535 5.7.8"), a
        anon = row(rows, "127.0.0.1", "")
        assert anon["messages_30d"] == 1 and anon["tls"] == "no" and anon["refused"] == 0, anon
        outside = row(rows, "127.0.0.2", "")
        assert outside["messages_30d"] == 0 and outside["refused"] == 1, outside
        assert outside["last_refusal_reason"].startswith("554 5.7.1"), outside
        evil = [x for x in rows if "evil" in x["auth_user"]]
        assert len(evil) == 1 and evil[0]["refused"] == 1 and "\ufffd" in evil[0]["auth_user"], evil
        text = r.relayctl("clients").stdout
        assert "scanner" in text and "127.0.0.2" in text and "mixed" in text, text
        assert "\x1b" not in text, text  # control bytes are shown escaped

        # Flood: more distinct (client, user) pairs than max_entries in one summary.
        r.cfg["receiver"]["refusals"]["flush_interval"] = "1h"
        r.write_config()
        os.kill(recv.pid, signal.SIGHUP)
        wait_for(lambda: "event=reloaded" in r.read_log("receiver"), 10, what="receiver reload")
        for i in range(30):
            refused_auth(r.port, f"u{i:02}".encode())
        assert not [f for f in os.listdir(os.path.join(r.spool, "refusals")) if f.endswith(".sum")]
        os.kill(recv.pid, signal.SIGTERM)  # the receiver writes its tally when it stops
        assert recv.wait(30) == 0

        def flood():
            rows = clients(r)
            star = row(rows, "*", "*")
            return rows if star else None
        rows = wait_for(flood, 30, interval=0.5, what="the overflow entry imported")
        users = [x for x in rows if x["auth_user"].startswith("u") and x["client_addr"] == "127.0.0.1"]
        star = row(rows, "*", "*")
        assert len(users) == MAX_ENTRIES and all(x["refused"] == 1 for x in users), users
        assert star["refused"] == 30 - MAX_ENTRIES, star
        assert "refusal_import_failed" not in r.read_log("dispatcher0")


if __name__ == "__main__":
    run_tests([test_clients_inventory_and_refusals])
