#!/usr/bin/python3
"""Per-mailbox limits that hold across hosts (issue 14 item 1,
docs/mailbox-limits.md). Two relay installations ("hosts": two configs, two
spools, two receivers, one dispatcher each) share one PostgreSQL and one
fake Graph (fake_graph.py answers 429 + Retry-After above 4 requests in
flight per mailbox and records the peak), with a fixed answer delay.

- Coordinated: 200 messages to one mailbox, queued on both hosts, then
  both dispatchers start at once: the fake's peak in flight is <= 4, no
  429, every message delivered exactly once, and the run takes no longer
  than 4-in-flight allows (plus slack for the hand-backs).
- kill -9 of a dispatcher holding the mailbox's 4 leases: the other host
  starts only once the leases expired (after the TTL, not before; never
  more than 4 in flight), delivers its mail; the killed one's mail is
  delivered after its restart: nothing lost.
- PostgreSQL stopped mid-run: both dispatchers log limiter_fallback once
  and go on with the static share (4 / (1 process x 2 hosts) = 2 each):
  everything delivered, peak <= 4, no 429; PostgreSQL back: they log
  limiter_coordinated."""
import os
import smtplib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import FAST, make_relay, message, send, spool_empty  # noqa: E402
from m365_common import CA_DIR, SENDERS  # noqa: E402
from fake_graph import FakeGraph  # noqa: E402
from relaytest import SRC, Relay, _merge, db_migrate, psql, run_tests, wait_for  # noqa: E402

MAILBOX = "scan@example.com"
PG = os.path.join(SRC, "contrib", "pg-test-server.sh")


def config(fg, ttl="3s", hosts=1, rate=0):
    prov = fg.provider_config(rate_per_minute=rate, timeout="20s", max_concurrent_per_mailbox=4)
    return {"providers": {"m365": prov}, "default_provider": "m365", "senders": dict(SENDERS),
            "dispatcher": {"max_in_flight": 16},
            "limits": {"coordination": "database", "lease_ttl": ttl, "hosts": hosts}}


class Cluster:
    """Two relay installations sharing one database and one fake Graph."""

    def __init__(self, conninfo=None, **kw):
        self.fg = FakeGraph(CA_DIR).start()
        cfg = config(self.fg, **kw)
        if conninfo:
            cfg["database"] = {"conninfo": conninfo, "connect_timeout": "2s"}
        self.a = make_relay(cfg, db=not conninfo)
        self.b = Relay(FAST, db=False)
        _merge(self.b.cfg, cfg)
        self.b.cfg["database"] = dict(self.a.cfg["database"])
        self.b.conninfo = self.a.conninfo = self.a.cfg["database"]["conninfo"]
        self.b.write_config()

    def queue(self, relay, n, tag):
        s = smtplib.SMTP("127.0.0.1", relay.port, timeout=30)
        s.ehlo("client.test")
        try:
            for i in range(n):
                send(relay.port, MAILBOX, ["to@x.org"], message(MAILBOX, ["to@x.org"], f"{tag} {i}"), smtp=s)
        finally:
            s.quit()

    def subjects(self):
        with self.fg.lock:
            mimes = [s["mime"] for s in self.fg.sent]
        out = []
        for m in mimes:
            for line in m.split(b"\r\n"):
                if line.startswith(b"Subject: "):
                    out.append(line[9:].decode())
                    break
        return out

    def status_429(self):
        return [c for c in self.fg.calls if c["status"] == 429]

    def logs(self):
        return self.a.read_log("dispatcher0") + self.b.read_log("dispatcher0")

    def close(self, ok):
        self.fg.stop()
        for r in (self.a, self.b):
            if not ok:
                for p in list(r.procs):
                    print(f"--- {r.dir} {p.relay_name} ---\n{r.read_log(p.relay_name)[-3000:]}")
            r.close(ok=ok)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(exc_type is None)
        return False


def test_two_hosts_share_four_slots():
    n, delay = 200, 0.05
    with Cluster() as c:
        c.fg.latency = delay
        c.a.start_receiver()
        c.b.start_receiver()
        c.queue(c.a, n // 2, "a")
        c.queue(c.b, n // 2, "b")
        t0 = time.time()
        c.a.start_dispatcher()
        c.b.start_dispatcher()
        wait_for(lambda: len(c.fg.sent) >= n, 60, interval=0.05, what=f"{n} messages at the fake Graph")
        took = time.time() - t0
        wait_for(lambda: spool_empty(c.a) and spool_empty(c.b), 10, what="both spools empty")
        peak = c.fg.max_inflight.get(MAILBOX)
        ideal = n * delay / 4
        print(f"MEASURE two_hosts messages={n} seconds={took:.2f} ideal_4_in_flight={ideal:.2f} peak={peak}")
        assert peak is not None and peak <= 4, f"peak in flight {peak} > 4"
        assert not c.status_429(), f"{len(c.status_429())} answers were 429"
        assert not c.fg.violations, c.fg.violations[:3]
        subjects = c.subjects()
        assert len(subjects) == n and len(set(subjects)) == n, "a message was lost or sent twice"
        # 4 in flight for the whole run, plus start-up (token, first claims)
        # and the hand-backs of messages that waited too long.
        assert took <= 3 * ideal + 4, f"{took:.1f} s for {n} messages; 4 in flight allow {ideal:.1f} s"
        assert peak == 4, f"the two hosts never used all 4 slots (peak {peak})"
        for r in (c.a, c.b):
            r.stop()  # SIGTERM: the adapter logs its statement count
        stats = [line for line in c.logs().splitlines() if "event=limiter_stats" in line]
        stmts = sum(int(x.split("statements=")[1].split()[0]) for x in stats)
        print(f"MEASURE two_hosts pg_statements={stmts} per_message={stmts / n:.2f}")
        assert 0 < stmts <= 3 * n, f"{stmts} statements for {n} messages"


def leases_held(c, holder_like="%"):
    return int(psql(c.a.conninfo, "SELECT count(*) FROM mailbox_lease WHERE holder LIKE "
                                  f"'{holder_like}' AND expires_at > now()")[0][0])


def sendmail_starts(fg, after):
    return sorted(x["t0"] for x in fg.calls if x["path"].endswith("/sendMail") and x["t0"] > after)


def test_kill9_holder_leases_expire():
    ttl = 3.0
    with Cluster(ttl="3s") as c:
        c.fg.latency = 1.5  # A's requests are still running when it dies
        c.a.start_receiver()
        c.b.start_receiver()
        c.queue(c.a, 12, "a")
        c.queue(c.b, 8, "b")
        pa = c.a.start_dispatcher()
        wait_for(lambda: leases_held(c) == 4, 15, interval=0.05, what="A holds the 4 leases")
        wait_for(lambda: c.fg.inflight.get(MAILBOX, 0) == 4, 10, interval=0.02, what="4 requests in flight")
        os.killpg(pa.pid, 9)
        pa.wait()
        killed = time.time()
        c.fg.latency = 0.05
        c.b.start_dispatcher()
        wait_for(lambda: len([s for s in c.subjects() if s.startswith("b ")]) == 8, 20, interval=0.05,
                 what="B delivered its 8 messages")
        starts = sendmail_starts(c.fg, killed)
        first = starts[0] - killed
        print(f"MEASURE kill9 first_start_after_kill_s={first:.2f} ttl={ttl}")
        # A renewed its leases at most TTL/3 before it died.
        assert first >= ttl * 2 / 3 - 0.2, f"B started {first:.2f} s after the kill: A's leases were ignored"
        assert first <= ttl + 3, f"B waited {first:.2f} s: the expired leases were not taken over"
        c.a.procs = [p for p in c.a.procs if p is not pa]
        c.a.start_dispatcher(1)  # A again: its claimed messages are swept back and delivered
        wait_for(lambda: len(set(c.subjects())) == 20, 20, interval=0.05, what="all 20 messages delivered")
        wait_for(lambda: spool_empty(c.a) and spool_empty(c.b), 15, what="both spools empty")
        assert c.fg.max_inflight.get(MAILBOX, 0) <= 4, c.fg.max_inflight
        assert not c.status_429() and not c.fg.violations, c.fg.violations[:3]
        dups = len(c.subjects()) - 20
        assert dups <= 4, f"{dups} duplicates: more than the 4 requests in flight at the kill"


def pg(cmd, d):
    if cmd == "start":
        return subprocess.check_output(["bash", PG, cmd, d], text=True).strip().splitlines()[-1]
    return subprocess.call(["bash", PG, cmd, d], stdout=subprocess.DEVNULL)


def test_pg_stopped_falls_back_to_share():
    pgdir = tempfile.mkdtemp(prefix="relay-pg-limits-")
    base = pg("start", pgdir)
    try:
        psql(base, "CREATE DATABASE relay")
        conninfo = " ".join([p for p in base.split() if not p.startswith("dbname=")] + ["dbname=relay"])
        db_migrate(conninfo)
        n = 80
        with Cluster(conninfo=conninfo, hosts=2) as c:
            c.fg.latency = 0.1
            c.a.start_receiver()
            c.b.start_receiver()
            c.queue(c.a, n // 2, "a")
            c.queue(c.b, n // 2, "b")
            c.a.start_dispatcher()
            c.b.start_dispatcher()
            wait_for(lambda: len(c.fg.sent) >= 15, 20, interval=0.05, what="first deliveries")
            assert "event=limiter_fallback" not in c.logs()
            pg("stop", pgdir)
            stopped_at = len(c.fg.sent)
            wait_for(lambda: len(set(c.subjects())) >= n, 40, interval=0.05, what=f"{n} messages delivered")
            assert stopped_at < n, "the outage did not overlap deliveries"
            for r in (c.a, c.b):
                log = r.read_log("dispatcher0")
                assert log.count("event=limiter_fallback") == 1, log[-2000:]
            assert c.fg.max_inflight.get(MAILBOX, 0) <= 4, c.fg.max_inflight
            assert not c.status_429() and not c.fg.violations, c.fg.violations[:3]
            subjects = c.subjects()
            assert len(subjects) == n and len(set(subjects)) == n
            print(f"MEASURE pg_outage delivered_during_outage={n - stopped_at} of {n}")
            pg("start", pgdir)
            # a message makes each dispatcher use its limiter again
            c.queue(c.a, 1, "after")
            c.queue(c.b, 1, "after")
            wait_for(lambda: "event=limiter_coordinated" in c.a.read_log("dispatcher0")
                     and "event=limiter_coordinated" in c.b.read_log("dispatcher0"), 20, interval=0.2,
                     what="limiter_coordinated logged by both")
            wait_for(lambda: len(c.fg.sent) >= n + 2, 20, interval=0.05, what="the two later messages")
    finally:
        pg("stop", pgdir)
        subprocess.call(["rm", "-rf", pgdir])


if __name__ == "__main__":
    run_tests([test_two_hosts_share_four_slots, test_kill9_holder_leases_expire, test_pg_stopped_falls_back_to_share])
