#!/usr/bin/python3
"""relayctl for scripts and on-call (issue 13 item 3), against the real
receiver and dispatchers:

- `queue hold|delete|flush ALL` exit 0 while dispatchers work on entries
  (locked / active entries are skipped and counted, not errors), also with
  mail flowing under load;
- `dispatch pause|resume|status`: two dispatchers stop claiming at once
  (in-flight deliveries finish, the receiver keeps accepting), resume
  delivers the backlog;
- commands that need no secret run without the daemons' environment;
- a wrong -c or a missing spool is an error and creates nothing;
- `--json` is strict UTF-8 JSON whatever bytes an envelope carries;
- `queue list --limit N`.
"""
import fcntl
import json
import os
import re
import shutil
import smtplib
import socket
import subprocess
import threading
import time
import zlib

from relaytest import RELAYCTL, Relay, free_port, run_tests, wait_for, wait_port
from relayctl_common import send_mail_id


def listing(r, *extra):
    res = r.relayctl("queue", "list", "--json", *extra)
    return json.loads(res.stdout.encode("utf-8").decode("utf-8"))


def queued(r):
    return sum(len(r.spool_entries(s)) for s in ("new", "active", "deferred"))


# --- queue hold|delete|flush ALL with busy entries ---------------------------

def test_all_skips_entries_a_dispatcher_works_on():
    """A data-file lock is what a dispatcher holds while it delivers: ALL
    skips that entry, reports it, exits 0; a named id still fails."""
    with Relay(db=False) as r:
        r.start_receiver()
        ids = [send_mail_id(r.port) for _ in range(3)]
        with open(r.spool_path("data", ids[1], ".eml"), "rb") as busy:
            fcntl.flock(busy, fcntl.LOCK_EX)
            res = r.relayctl("queue", "hold", "ALL", check=False)
            assert res.returncode == 0, res
            assert "held 2 entries, skipped 1" in res.stdout, res.stdout
            assert f"{ids[1]}: skipped (busy" in res.stdout, res.stdout
            res = r.relayctl("queue", "hold", ids[1], check=False)  # named: an error
            assert res.returncode == 1 and "locked" in res.stderr, res
            r.relayctl("queue", "release", "ALL")
            res = r.relayctl("queue", "delete", "ALL", check=False)
            assert res.returncode == 0 and "deleted 2 entries, skipped 1" in res.stdout, res
            assert r.spool_entries("new") == [ids[1] + ".env"]
            # flush: a deferred entry being worked on is skipped too
            r.spool_move(ids[1], "new", "deferred")
            res = r.relayctl("queue", "flush", check=False)
            assert res.returncode == 0 and "requeued 0 entries, skipped 1" in res.stdout, res


class SlowSink:
    """Postfix smtp-sink answering DATA after `delay` seconds: deliveries
    stay in flight (entries locked, in active/) long enough to collide."""

    def __init__(self, delay=1):
        self.port = free_port()
        self.proc = subprocess.Popen(["smtp-sink", "-u", "nobody", "-w", str(delay), f"127.0.0.1:{self.port}", "64"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.port)

    def provider(self, processes=2, max_in_flight=32):
        return {"providers": {"up": {"type": "smtp", "host": "127.0.0.1", "port": self.port, "tls": "none",
                                     "timeout": "10s"}},
                "default_provider": "up", "dispatcher": {"processes": processes, "max_in_flight": max_in_flight}}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.killpg(self.proc.pid, 15)
        self.proc.wait()


def test_hold_all_while_mail_flows_under_load():
    """Mail keeps arriving and two dispatchers keep claiming (a slow
    upstream, few slots: a backlog in new/) while an operator holds and
    releases everything in a loop: every run exits 0, nothing is lost."""
    with SlowSink() as sink, Relay(sink.provider(max_in_flight=4), db=False) as r:
        r.start_receiver()
        r.start_dispatcher(0)
        r.start_dispatcher(1)
        stop = threading.Event()
        sent = []

        def sender():
            while not stop.is_set():
                try:
                    sent.append(send_mail_id(r.port))
                except (OSError, smtplib.SMTPException):
                    pass
        threads = [threading.Thread(target=sender) for _ in range(3)]
        for t in threads:
            t.start()
        results = []
        try:
            deadline = time.time() + 6
            while time.time() < deadline:
                for cmd in (("hold", "ALL"), ("release", "ALL")):
                    res = r.relayctl("queue", *cmd, check=False)
                    results.append(res)
                    assert res.returncode == 0, f"queue {' '.join(cmd)} exited {res.returncode}: {res.stderr}"
        finally:
            stop.set()
            for t in threads:
                t.join()
        r.relayctl("queue", "release", "ALL")
        assert len(sent) > 20, len(sent)
        assert not r.spool_entries("failed") and not r.spool_entries("corrupt")
        skipped = sum(int(m.group(1)) for x in results for m in [re.search(r"skipped (\d+)", x.stdout)] if m)
        print(f"  {len(sent)} messages, {len(results)} hold/release runs, {skipped} entries skipped")
        r.relayctl("queue", "delete", "ALL")  # the rest need not wait for the slow sink


# --- dispatch pause / resume -------------------------------------------------

def test_pause_stops_every_dispatcher_and_resume_delivers_the_backlog():
    with SlowSink() as sink:
        with Relay(sink.provider(), db=False) as r:
            r.start_receiver()
            r.start_dispatcher(0)
            r.start_dispatcher(1)
            wait_for(lambda: all("event=dispatcher_started" in r.read_log(f"dispatcher{n}") for n in (0, 1)), 10,
                     what="dispatchers started")
            first = [send_mail_id(r.port) for _ in range(4)]
            wait_for(lambda: r.spool_entries("active"), 10, what="a delivery in flight")
            res = r.relayctl("dispatch", "pause", "--reason", "upstream maintenance")
            assert "dispatch paused" in res.stdout, res.stdout
            assert os.path.exists(os.path.join(r.spool, "control", "dispatch-paused"))
            # Mail is still accepted; none of it is claimed.
            later = [send_mail_id(r.port) for _ in range(10)]
            # In-flight deliveries finish (smtp-sink answers DATA after 1 s).
            wait_for(lambda: not r.spool_entries("active"), 15, what="in-flight deliveries to finish")
            waiting = set(e[:-4] for e in r.spool_entries("new"))
            assert set(later) <= waiting, (later, waiting)
            # the ones in flight were delivered (not released back to new/)
            delivered = [i for i in first if i not in waiting]
            assert delivered, (first, waiting)
            assert not any(os.path.exists(r.spool_path("data", i, ".eml")) for i in delivered)
            time.sleep(1.5)
            assert set(e[:-4] for e in r.spool_entries("new")) == waiting, "a paused dispatcher claimed an entry"
            assert not r.spool_entries("active") and not r.spool_entries("failed")
            for n in (0, 1):
                assert "event=dispatch_paused" in r.read_log(f"dispatcher{n}"), r.read_log(f"dispatcher{n}")
            st = json.loads(r.relayctl("dispatch", "status", "--json").stdout)
            assert st["paused"] is True and "upstream maintenance" in st["by"] and st["new"] == len(waiting), st
            assert "already paused" in r.relayctl("dispatch", "pause").stdout
            t0 = time.time()
            r.relayctl("dispatch", "resume")
            wait_for(lambda: len(r.spool_entries("new")) < len(waiting) or r.spool_entries("active"), 10,
                     interval=0.02, what="claims to restart at once")
            print(f"  first claim {time.time() - t0:.2f}s after resume")
            wait_for(lambda: queued(r) == 0, 30, what="the backlog delivered")
            for n in (0, 1):
                assert "event=dispatch_resumed" in r.read_log(f"dispatcher{n}")
            assert not r.spool_entries("failed")
            assert "dispatch: running" in r.relayctl("dispatch", "status").stdout
            assert "was not paused" in r.relayctl("dispatch", "resume").stdout


def test_a_dispatcher_started_while_paused_stays_paused():
    with Relay(db=False) as r:
        r.start_receiver()
        os.makedirs(r.spool + "/new", exist_ok=True)
        qid = send_mail_id(r.port)
        r.relayctl("dispatch", "pause")
        r.start_dispatcher()
        wait_for(lambda: "event=dispatch_paused" in r.read_log("dispatcher0"), 10, what="paused at start")
        time.sleep(1.0)
        assert r.spool_entries("new") == [qid + ".env"] and not r.outbox_files()
        r.relayctl("dispatch", "resume")
        wait_for(lambda: r.outbox_files(), 5, what="delivery after resume")


# --- secrets, wrong -c, missing spool ----------------------------------------

def test_spool_commands_need_no_secrets():
    """An admin shell without the unit's environment or the secret files."""
    over = {"providers": {"m": {"type": "m365", "tenant_id": "t", "client_id": "c",
                                "client_secret": "${file:/nonexistent/relay-secret}"},
                          "g": {"type": "smtp", "host": "127.0.0.1", "port": 25, "tls": "none",
                                "username": "u", "password": "${env:RELAY_TEST_UNSET_SMTP_PASSWORD}"}},
            "default_provider": "m"}
    with Relay(over, db=True) as r:
        real = r.conninfo
        r.cfg["database"]["conninfo"] = "${env:RELAY_TEST_DB_CONNINFO}"
        r.write_config()
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_TEST_")}
        env["RELAY_TEST_DB_CONNINFO"] = real
        r.start_receiver()  # reads no provider secret either
        qid = send_mail_id(r.port)

        def ctl(*args, environ=env):
            return subprocess.run([RELAYCTL, "-c", r.config_path, *args], capture_output=True, text=True,
                                  timeout=60, env=environ)
        for args in (("queue", "list"), ("queue", "show", qid), ("queue", "hold", "ALL"), ("queue", "release", "ALL"),
                     ("queue", "flush"), ("dispatch", "status"), ("db", "migrate"), ("log",), ("stats",)):
            res = ctl(*args)
            assert res.returncode == 0, (args, res.stdout, res.stderr)
            assert "relay-secret" not in res.stderr and "UNSET_SMTP" not in res.stderr, (args, res.stderr)
        assert qid in ctl("queue", "list").stdout
        # without the database's variable only the database commands fail, and say why
        no_db = {k: v for k, v in env.items() if k != "RELAY_TEST_DB_CONNINFO"}
        assert ctl("queue", "list", environ=no_db).returncode == 0
        res = ctl("log", environ=no_db)
        assert res.returncode == 1 and "database.conninfo" in res.stderr and "RELAY_TEST_DB_CONNINFO" in res.stderr, res
        res = ctl("config", "check")  # the daemons' view: every secret, named when missing
        assert res.returncode == 1 and "relay-secret" in res.stderr, res


def test_wrong_config_or_missing_spool_is_an_error():
    with Relay(db=False) as r:
        for bad in (os.path.join(r.dir, "nonexistent.yaml"), r.dir):
            res = subprocess.run([RELAYCTL, "-c", bad, "queue", "list"], capture_output=True, text=True, timeout=30)
            assert res.returncode == 1 and "queue is empty" not in res.stdout, (bad, res)
            assert bad in res.stderr, res.stderr
        # A config whose spool does not exist yet (also with `user:`, as root):
        # no queue command creates it.
        r.cfg["user"] = "nobody"
        r.write_config()
        for args in (("queue", "list"), ("queue", "hold", "ALL"), ("queue", "flush"), ("dispatch", "pause"),
                     ("stats",)):
            res = r.relayctl(*args, check=False)
            assert res.returncode == 1, (args, res)
            assert "does not exist" in res.stderr and r.spool in res.stderr, (args, res.stderr)
            assert "queue is empty" not in res.stdout
        assert not os.path.exists(r.spool)


# --- JSON whatever the bytes ---------------------------------------------------

def rewrite_envelope(path, changes):
    """Rewrites `key: value` lines of an .env (values given raw, as bytes,
    already %-encoded where the format wants it) and fixes the end CRC."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    body = [ln for ln in lines if ln and not ln.startswith(b"end ")]
    out = []
    for ln in body:
        key = ln.split(b":", 1)[0].decode()
        if key in changes and key != "rcpt":
            ln = key.encode() + b": " + changes.pop(key)
        elif key == "rcpt" and "rcpt" in changes:
            ln = b"rcpt: " + changes.pop("rcpt")
        out.append(ln)
    for key, value in changes.items():
        out.append(key.encode() + b": " + value)
    text = b"\n".join(out) + b"\n"
    text += b"end %08x\n" % zlib.crc32(text)
    with open(path + ".tmp", "wb") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def smtp_raw(port, lines):
    """Speaks SMTP by hand (bytes) and returns the replies."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        f = s.makefile("rb")

        def reply():
            out = []
            while True:
                ln = f.readline()
                out.append(ln)
                if len(ln) < 4 or ln[3:4] != b"-":
                    return b"".join(out)
        replies = [reply()]
        for ln in lines:
            s.sendall(ln + b"\r\n")
            if ln != b"DATA" or replies[-1].startswith(b"3"):
                replies.append(reply())
        return replies


def test_json_is_valid_utf8_whatever_the_bytes():
    with Relay(db=False) as r:
        r.start_receiver()
        bad = b"\xed\xa0\x80\xc0\xaf\xff\xf4\x90\x80\x80"  # surrogate, overlong, stray, > U+10FFFF
        # Whatever the receiver accepts over SMTPUTF8/8BITMIME must list as JSON.
        replies = smtp_raw(r.port, [
            b"EHLO client.test",
            b"MAIL FROM:<caf\xc3\xa9" + bad + b"@example.com> SMTPUTF8 BODY=8BITMIME",
            b"RCPT TO:<to@example.org>", b"DATA",
            b"From: <a@example.com>\r\nSubject: \xff\xfe " + bad + b" \x1b[31m\r\n\r\nbody\r\n.", b"QUIT"])
        print("  receiver replies to invalid UTF-8:", [x.split(b"\r\n")[0][:60] for x in replies[2:]])
        ids = [send_mail_id(r.port, subject="plain") for _ in range(2)]
        env = r.spool_path("new", ids[0])
        rewrite_envelope(env, {
            "mail-from": b"x" + bad + b"%00%1b[2J\xc2\x9b@example.com",
            "last-error": b"451 4.4.1 " + bad + b" %0d%0a%09 %00 \"quoted\" \\back",
            "provider": b"m\xe2\x82\xac",
            "rcpt": b"state=pending to=r" + bad + b"@example.org params= reply=4" + bad + b"%20%00"})
        # hand-made, unreadable envelope: its error text is listed too
        env2 = r.spool_path("new", ids[1])
        with open(env2, "wb") as f:
            f.write(b"relay-envelope 1\nid: " + ids[1].encode() + b"\nmail-from: " + bad + b"\n")
        for state_args in ((), ("--state", "new")):
            raw = subprocess.run([RELAYCTL, "-c", r.config_path, "queue", "list", "--json", *state_args],
                                 capture_output=True, timeout=30)
            assert raw.returncode == 0, raw
            entries = json.loads(raw.stdout.decode("utf-8"))  # strict: raises on invalid UTF-8
            assert len(entries) >= 2, entries  # (the receiver refuses the invalid UTF-8 sender: 501 5.1.7)
        e = next(x for x in entries if x["id"] == ids[0])
        assert "\x00" in e["from"] and "\x1b" in e["from"] and "\x9b" in e["from"], e
        assert e["last_error"].startswith("451 4.4.1 ") and '"quoted" \\back' in e["last_error"], e
        assert "\r\n\t" in e["last_error"] and e["provider"] == "m\u20ac", e
        assert e["rcpts"][0]["address"].startswith("r") and "\x00" in e["rcpts"][0]["last_reply"], e
        assert next(x for x in entries if x["id"] == ids[1])["error"], entries
        # the text listing and show carry no raw control or invalid bytes either
        for args in (("queue", "list"), ("queue", "show", ids[0])):
            raw = subprocess.run([RELAYCTL, "-c", r.config_path, *args], capture_output=True, timeout=30)
            text = raw.stdout.decode("utf-8")
            assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), repr(text)


def test_list_limit():
    with Relay(db=False) as r:
        r.start_receiver()
        ids = [send_mail_id(r.port) for _ in range(5)]
        assert [e["id"] for e in listing(r, "--limit", "2")] == ids[:2]
        text = r.relayctl("queue", "list", "--limit", "3").stdout
        assert sum(i in text for i in ids) == 3 and "3 entries shown of 5 (--limit)" in text, text
        assert len(listing(r, "-n", "10")) == 5
        res = r.relayctl("queue", "list", "--limit", "0", check=False)
        assert res.returncode == 2 and "--limit" in res.stderr, res


if __name__ == "__main__":
    run_tests([test_all_skips_entries_a_dispatcher_works_on, test_hold_all_while_mail_flows_under_load,
               test_pause_stops_every_dispatcher_and_resume_delivers_the_backlog,
               test_a_dispatcher_started_while_paused_stays_paused, test_spool_commands_need_no_secrets,
               test_wrong_config_or_missing_spool_is_an_error, test_json_is_valid_utf8_whatever_the_bytes,
               test_list_limit])
