#!/usr/bin/python3
"""Size-aware routes through the whole pipeline (docs/routing.md): real
receiver and dispatcher, two outbox providers, smtplib and swaks. No
database (the dispatcher journals).

1. routes max_size 100KB -> small, min_size 100KB -> big: a small and a big
   message land in the right outbox.
2. Only a size-bounded route (and the one provider limited to 100KB): EHLO
   advertises SIZE 102400, MAIL FROM SIZE=<too big> gets 552 5.3.4 naming
   the limit, and a too-big message without SIZE= gets 552 5.3.4 after
   DATA; nothing is spooled.
3. A message accepted, then the limit lowered before delivery: the
   dispatcher moves it to hold/ with the reason (event=held_no_route),
   never bounces it.
"""
import os
import signal
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import QUEUED_RE, make_relay, message, send, wait_for  # noqa: E402
from relaytest import run_tests  # noqa: E402

KB = 1024


def body_of(n):
    line = "x" * 76 + "\r\n"
    return line * (n // len(line))


def outbox(r, name):
    d = os.path.join(r.dir, name)
    os.makedirs(d, exist_ok=True)
    return d


def emls(d):
    return sorted(f[:-4] for f in os.listdir(d) if f.endswith(".eml"))


def configure(r, providers, routes):
    r.cfg["providers"] = providers
    r.cfg["routes"] = routes
    r.cfg["default_provider"] = next(iter(providers))
    r.write_config()


def stop(r, p):
    os.killpg(p.pid, signal.SIGTERM)
    p.wait(15)
    r.procs.remove(p)


def swaks(port, data_file):
    return subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", "--from", "a@b.example", "--to", "c@d.example",
                           "--data", "@" + data_file, "--suppress-data"], capture_output=True, text=True, timeout=60)


def test_small_and_big_take_their_routes():
    with make_relay(db=False) as r:
        small, big = outbox(r, "small"), outbox(r, "big")
        configure(r, {"small": {"type": "outbox", "directory": small}, "big": {"type": "outbox", "directory": big}},
                  [{"max_size": "100KB", "provider": "small"}, {"min_size": "100KB", "provider": "big"}])
        r.start_receiver()
        r.start_dispatcher()
        s_id = send(r.port, "a@b.example", ["c@d.example"], message("a@b.example", ["c@d.example"], "s", "hi\r\n"))
        big_file = os.path.join(r.dir, "big.eml")
        with open(big_file, "w", newline="") as f:
            f.write("From: <a@b.example>\r\nTo: <c@d.example>\r\nSubject: big\r\n\r\n" + body_of(200 * KB))
        p = swaks(r.port, big_file)
        assert p.returncode == 0, p.stdout + p.stderr
        wait_for(lambda: emls(small) and emls(big), 15, what="one message in each outbox")
        assert emls(small) == [s_id], (emls(small), s_id)
        assert len(emls(big)) == 1 and emls(big)[0] != s_id
        assert os.path.getsize(os.path.join(big, emls(big)[0] + ".eml")) > 200 * KB


def test_too_big_for_every_route_is_refused_and_held():
    with make_relay(db=False) as r:
        small = outbox(r, "small")
        configure(r, {"small": {"type": "outbox", "directory": small, "max_message_size": "100KB"}},
                  [{"max_size": "100KB", "provider": "small"}])
        r.start_receiver()
        with smtplib.SMTP("127.0.0.1", r.port, timeout=30) as s:
            s.ehlo("client.test")
            assert s.esmtp_features.get("size") == "102400", s.esmtp_features
            code, text = s.docmd("MAIL FROM:<a@b> SIZE=200000")
            assert code == 552 and text.startswith(b"5.3.4 ") and b"102400 bytes" in text, (code, text)
        too_big = os.path.join(r.dir, "too-big.eml")
        with open(too_big, "w", newline="") as f:
            f.write("From: <a@b.example>\r\nSubject: big\r\n\r\n" + body_of(150 * KB))
        p = swaks(r.port, too_big)
        assert p.returncode != 0 and "552 5.3.4" in p.stdout and "102400 bytes" in p.stdout, p.stdout + p.stderr
        assert "DATA" in p.stdout.split("552 5.3.4")[0], "refused after DATA, not before"
        assert not r.spool_entries("new"), r.spool_entries("new")

        # Accepted at 50KB; the limit is lowered before any dispatcher ran.
        qid = send(r.port, "a@b.example", ["c@d.example"],
                   message("a@b.example", ["c@d.example"], "held", body_of(50 * KB)))
        configure(r, {"small": {"type": "outbox", "directory": small, "max_message_size": "10KB"}},
                  [{"max_size": "10KB", "provider": "small"}])
        r.start_dispatcher()
        wait_for(lambda: r.spool_entries("hold") == [qid + ".env"], 15, what="the entry in hold/")
        with open(r.spool_path("hold", qid)) as f:
            env = f.read()
        assert "no route carries a message of" in env, env
        # The move to hold/ comes before its log line: wait for the line too.
        wait_for(lambda: f"{qid} event=held_no_route" in r.read_log("dispatcher0"), 10, what="event=held_no_route")
        assert not emls(small) and not r.spool_entries("failed")


run_tests([test_small_and_big_take_their_routes, test_too_big_for_every_route_is_refused_and_held])
