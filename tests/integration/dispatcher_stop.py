#!/usr/bin/python3
"""Stopping and reloading dispatchers never sends a message twice.

The fake Graph holds every sendMail answer for longer than drain_timeout;
dispatchers are stopped (SIGTERM, a second dispatcher taking over) and
SIGHUPed (`relayctl run` with dispatcher.processes lowered, so one
dispatcher retires and the other rebuilds its providers) while those
answers are held. Deliveries are counted per message at the fake: exactly
one each. Also: a PostgreSQL that stops answering (a TCP proxy on loopback
that black-holes the connection) does not stall recording or the stop."""
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from m365_common import Pipeline, message, parse, wait_for, wait_sql  # noqa: E402
from relaytest import free_port, pg_database, run_tests  # noqa: E402

HOLD = 4  # seconds the fake holds each sendMail answer (> drain_timeout 1s)


def per_subject(fg):
    with fg.lock:
        return Counter(str(parse(s["mime"])["Subject"]) for s in fg.sent)


def sendmail_requests(fg):
    with fg.lock:
        return sum(1 for m, path, _ in fg.requests if path.endswith("/sendMail"))


def submit(p, n, tag):
    subjects = [f"{tag} {i}" for i in range(n)]
    ids = [p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], s)) for s in subjects]
    return subjects, ids


def test_sigterm_while_answers_are_held():
    with Pipeline(overrides={"dispatcher": {"drain_timeout": "1s", "in_flight_grace": "30s"}}) as p:
        p.fg.add_fault(r"sendMail$", count=1000, delay=HOLD)
        p.start()
        subjects, ids = submit(p, 3, "term")
        wait_for(lambda: sendmail_requests(p.fg) >= 3, 20, what="3 sendMail requests held at the fake")
        d0 = p.r.procs[-1]
        p.r.start_dispatcher(1)  # takes over whatever the first one releases
        t0 = time.time()
        os.killpg(d0.pid, signal.SIGTERM)
        assert d0.wait(40) == 0, "dispatcher0 did not stop cleanly"
        stopped_after = time.time() - t0
        wait_for(lambda: len(per_subject(p.fg)) == 3, 30, what="every message at the fake")
        for qid in ids:
            wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        time.sleep(HOLD + 1)  # a duplicate would show up by now
        counts = per_subject(p.fg)
        assert counts == Counter({s: 1 for s in subjects}), counts
        log = p.log("dispatcher0")
        assert "event=drain_timeout" in log and "action=wait" in log, log[-2000:]
        assert "event=released" not in log, "an entry with a request in flight was released"
        assert HOLD - 1 < stopped_after < HOLD + 10, stopped_after
        print(f"stop waited {stopped_after:.1f}s for held answers; deliveries per message: {dict(counts)}")


def test_sigterm_releases_what_waits_for_a_mailbox_slot():
    """One slot per mailbox: one request held at the fake, two messages wait
    in the adapter. At the drain timeout those two are cancelled (no request
    started) and released; only the held one is waited for."""
    with Pipeline(prov={"max_concurrent_per_mailbox": 1},
                  overrides={"dispatcher": {"drain_timeout": "1s", "in_flight_grace": "30s"}}) as p:
        p.fg.add_fault(r"sendMail$", count=1000, delay=HOLD)
        p.start()
        subjects, ids = submit(p, 3, "slot")
        wait_for(lambda: sendmail_requests(p.fg) >= 1, 20, what="first sendMail held")
        time.sleep(0.5)
        d0 = p.r.procs[-1]
        t0 = time.time()
        os.killpg(d0.pid, signal.SIGTERM)
        assert d0.wait(40) == 0
        stopped_after = time.time() - t0
        log = p.log("dispatcher0")
        assert log.count("event=m365_cancelled") == 2 and log.count("event=released") == 2, log[-3000:]
        assert stopped_after < 2 * HOLD, stopped_after  # not three held answers in a row
        p.r.start_dispatcher(1)
        wait_for(lambda: len(per_subject(p.fg)) == 3, 40, what="every message at the fake")
        time.sleep(HOLD + 1)
        counts = per_subject(p.fg)
        assert counts == Counter({s: 1 for s in subjects}), counts
        print(f"two waiting for a slot released at the drain timeout, stop took {stopped_after:.1f}s")


def test_sighup_lowering_processes_while_answers_are_held():
    with Pipeline(overrides={"dispatcher": {"processes": 2, "drain_timeout": "1s", "in_flight_grace": "30s"}}) as p:
        p.fg.add_fault(r"sendMail$", count=1000, delay=HOLD)
        run = p.r.start_run()
        wait_for(lambda: p.r.read_log("run").count("event=dispatcher_started") >= 2, 20, what="2 dispatchers")
        subjects, ids = submit(p, 6, "hup")
        wait_for(lambda: sendmail_requests(p.fg) >= 6, 20, what="6 sendMail requests held")
        p.r.cfg["dispatcher"]["processes"] = 1
        p.r.write_config()
        os.kill(run.pid, signal.SIGHUP)  # one dispatcher retires (SIGTERM), the other rebuilds its providers
        wait_for(lambda: "event=child-retired" in p.r.read_log("run"), 10, what="a dispatcher retired")
        time.sleep(0.5)
        subjects2, ids2 = submit(p, 2, "after")  # sent through the rebuilt providers
        wait_for(lambda: len(per_subject(p.fg)) == 8, 40, what="every message at the fake")
        for qid in ids + ids2:
            wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent", timeout=40)
        time.sleep(HOLD + 1)
        counts = per_subject(p.fg)
        assert counts == Counter({s: 1 for s in subjects + subjects2}), counts
        log = p.r.read_log("run")
        assert "event=providers_retired" in log, "the old provider set was never retired"
        assert "event=drain_abandon" not in log and "event=released" not in log, log[-3000:]
        os.kill(run.pid, signal.SIGTERM)
        assert run.wait(60) == 0
        print(f"SIGHUP with held answers: deliveries per message {dict(counts)}")


class BlackHoleProxy:
    """TCP on a loopback port -> PostgreSQL's unix socket; hold() makes it
    stop forwarding in both directions without closing anything (what a
    dropped route looks like to the client, except that bytes are acked)."""

    def __init__(self, sockdir, pgport=5432):
        self.target = os.path.join(sockdir, f".s.PGSQL.{pgport}")
        self.port = free_port()
        self.holding = threading.Event()
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(16)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            c, _ = self.lsock.accept()
            u = socket.socket(socket.AF_UNIX)
            u.connect(self.target)
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    def pipe(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                while self.holding.is_set():
                    time.sleep(3600)  # swallow: never forward, never close
                b.sendall(data)
        except OSError:
            pass


def test_database_black_hole_falls_back_to_journal():
    db = pg_database()
    parts = dict(kv.split("=", 1) for kv in db.split())
    proxy = BlackHoleProxy(parts["host"], int(parts.get("port", 5432)))
    conninfo = f"host=127.0.0.1 port={proxy.port} user={parts.get('user', 'postgres')} dbname={parts['dbname']}"
    # The per-mailbox limiter talks to the same (black-holed) database: it
    # falls back to the per-process share after lease_ttl/2 (2 s here).
    with Pipeline(overrides={"database": {"conninfo": conninfo, "connect_timeout": "2s"},
                             "dispatcher": {"drain_timeout": "1s", "in_flight_grace": "5s"},
                             "limits": {"lease_ttl": "4s"}}) as p:
        p.r.conninfo = db  # the test reads through the socket, not the proxy
        p.start()
        subjects, ids = submit(p, 2, "before")
        for qid in ids:
            wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        proxy.holding.set()  # the database stops answering
        t0 = time.time()
        subjects2, ids2 = submit(p, 3, "during")
        journal = os.path.join(p.r.spool, "journal")
        wait_for(lambda: os.path.exists(journal) and os.path.getsize(journal) > 0, 30,
                 what="outcomes journaled while the database black-holes")
        to_journal = time.time() - t0
        wait_for(lambda: sum(per_subject(p.fg).values()) >= 5, 30, what="5 messages at the fake")
        wait_for(lambda: not any(p.r.spool_entries(st) for st in ("active", "new", "deferred")), 20,
                 what="spool drained")
        assert sum(per_subject(p.fg).values()) == 5
        d0 = p.r.procs[-1]
        t1 = time.time()
        os.killpg(d0.pid, signal.SIGTERM)
        assert d0.wait(40) == 0, "dispatcher did not stop cleanly"
        stop_s = time.time() - t1
        assert to_journal < 20, to_journal
        assert stop_s < 25, stop_s
        assert "event=db_lost" in p.log(), p.log()[-2000:]
        print(f"black-holed database: journaled after {to_journal:.1f}s, stopped in {stop_s:.1f}s")


if __name__ == "__main__":
    run_tests([test_sigterm_while_answers_are_held, test_sigterm_releases_what_waits_for_a_mailbox_slot,
               test_sighup_lowering_processes_while_answers_are_held,
               test_database_black_hole_falls_back_to_journal])
