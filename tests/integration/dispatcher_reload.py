#!/usr/bin/python3
"""SIGHUP applies every reloadable key, checked on what the components then
do differently (not on the log line `event=reloaded`): a rotated m365 client
secret is used by the next token request, a domain added to senders.allowed
is sent (not bounced 5.7.1 by the adapter), log.level debug lines appear, and
a changed dispatcher.processes changes the per-process share of Graph's
per-mailbox concurrency. The fake Graph (fake_graph.py) checks secrets and
counts requests in flight per mailbox."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from m365_common import Pipeline, message, today_plus, wait_for, wait_sql  # noqa: E402
from relaytest import run_tests  # noqa: E402


def reloads(p, name):
    log = p.log(name)
    return log.count("event=reloaded") + log.count("event=reload_failed")


def hup(p, *names):
    """SIGHUP to each named process; returns once each has logged a reload
    of its own after this signal (receiver and dispatchers alike: counted,
    so an earlier reload's line does not pass for this one - a fixed 0.5 s
    wait stood in for that and for the receiver before)."""
    wait_for(lambda: "event=dispatcher_started" in p.log("dispatcher0"), 30, what="dispatcher started")
    before = {n: reloads(p, n) for n in names}
    for proc in p.r.procs:
        if proc.relay_name in names:
            os.kill(proc.pid, signal.SIGHUP)
    for n in names:
        wait_for(lambda n=n: reloads(p, n) > before[n], 30, what=f"{n} reloaded")
        assert p.log(n).count("event=reload_failed") == 0, p.log(n)[-2000:]


def rewrite(p, fn):
    fn(p.r.cfg)
    p.r.write_config()


def test_rotated_secret_is_used_after_sighup():
    with Pipeline(fake_kw={"secret": "old-secret"}) as p:
        p.start()
        q1 = p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], "before"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q1}'", "sent")
        with p.fg.lock:  # the old secret is revoked in Entra, a new one issued
            p.fg.secrets = {"new-secret": "2099-12-31"}
        p.fg.expire_tokens()
        rewrite(p, lambda c: c["providers"]["m365"].update(client_secret="new-secret"))
        n_tok = len(p.fg.token_requests)
        hup(p, "dispatcher0")
        q2 = p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], "after"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q2}'", "sent")
        new = p.fg.token_requests[n_tok:]
        assert new and all(t["ok"] for t in new), new  # only the new secret is accepted


def test_added_sender_domain_is_sent_after_sighup():
    with Pipeline(fake_kw={"mailboxes": ("relay@example.com", "scan@example.com", "boss@new.test")}) as p:
        p.start()
        q0 = p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], "warm-up"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q0}'", "sent")  # the old config is loaded
        rewrite(p, lambda c: c["senders"].update(allowed=c["senders"]["allowed"] + ["@new.test"]))
        hup(p, "receiver", "dispatcher0")
        q = p.send("boss@new.test", ["a@x.org"], message("boss@new.test", ["a@x.org"], "new domain"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q}'", "sent")
        assert any(s["mailbox"] == "boss@new.test" for s in p.fg.sent)


def test_log_level_debug_after_sighup():
    with Pipeline(overrides={"log": {"level": "info"}}) as p:
        p.start()
        q1 = p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], "info"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q1}'", "sent")
        assert "event=sending" not in p.log(), "debug line at level info"
        rewrite(p, lambda c: c["log"].update(level="debug"))
        hup(p, "dispatcher0")
        q2 = p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], "debug"))
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q2}'", "sent")
        assert f"{q2} event=sending" in p.log(), p.log()[-2000:]


def test_processes_change_recomputes_graph_share():
    # The per-process share is what `limits.coordination: local` uses (and
    # the fallback while PostgreSQL is unreachable); with the default
    # (database) the limit holds for the cluster: tests/integration/mailbox_limits.py.
    with Pipeline(prov={"max_concurrent_per_mailbox": 4}, overrides={"limits": {"coordination": "local"}}) as p:
        p.fg.add_fault(r"sendMail$", count=1000, delay=1)
        p.start()

        def burst(tag):
            with p.fg.lock:
                p.fg.max_inflight.clear()
            ids = [p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], f"{tag} {i}"))
                   for i in range(4)]
            for q in ids:
                wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{q}'", "sent")
            return p.fg.max_inflight.get("scan@example.com", 0)
        alone = burst("one")
        rewrite(p, lambda c: c["dispatcher"].update(processes=4))
        hup(p, "dispatcher0")
        shared = burst("four")
        assert alone > 1 and shared == 1, (alone, shared)
        print(f"requests in flight for one mailbox: {alone} with 1 process, {shared} after reload to 4")


def test_token_endpoint_verdict_wins_and_stale_states_clear():
    """Graph said the secret expires in 180 days; then the token endpoint
    answers AADSTS7000222. `secrets`, `stats`, the log and the notice say
    expired; rotating the secret (SIGHUP) clears it, and renaming the
    provider leaves no row of the old name in `secrets` or `stats`."""
    fake = {"roles": ("Mail.Send", "Application.Read.All"), "secret_expires": today_plus(180)}
    with Pipeline(prov={"expiry_notice_to": "ops@example.com"}, fake_kw=fake) as p:
        p.start()
        wait_sql(p.r, "SELECT state || ' ' || source FROM secret_status WHERE provider='m365'", "ok graph")
        with p.fg.lock:
            p.fg.secrets = {"s3cr3t-value": "2020-01-01"}  # expired at Entra
        p.fg.expire_tokens()
        q = p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], "expired"))
        wait_for(lambda: q + ".env" in p.r.spool_entries("deferred"), 15, what="mail kept queued")
        wait_sql(p.r, "SELECT state || ' ' || source FROM secret_status WHERE provider='m365'", "expired token")
        r = p.relayctl("secrets")
        assert r.returncode == 1 and "EXPIRED" in r.stdout and "AADSTS7000222" in r.stdout, r.stdout
        st = p.relayctl("stats")
        assert "m365 expired" in st.stdout, st.stdout
        log = p.log()
        assert "event=secret_expiry provider=m365 state=expired" in log, log[-3000:]
        wait_for(lambda: "event=secret_notice provider=m365" in p.log() and "result=queued" in p.log(), 10,
                 what="expiry notice queued")
        # Rotation: the new secret works, the expired state clears by itself.
        with p.fg.lock:
            p.fg.secrets = {"new-secret": today_plus(365)}
        rewrite(p, lambda c: c["providers"]["m365"].update(client_secret="new-secret"))
        hup(p, "dispatcher0")
        wait_sql(p.r, "SELECT state || ' ' || source FROM secret_status WHERE provider='m365'", "ok graph")
        r = p.relayctl("secrets")
        assert r.returncode == 0 and "EXPIRED" not in r.stdout and "365" in r.stdout, r.stdout
        # Rename: no row of the old name is reported any more.
        def rename(c):
            c["providers"]["m365b"] = c["providers"].pop("m365")
            c["default_provider"] = "m365b"
        rewrite(p, rename)
        hup(p, "dispatcher0")
        wait_sql(p.r, "SELECT state FROM secret_status WHERE provider='m365b'", "ok")
        r = p.relayctl("secrets")
        names = [line.split()[0] for line in r.stdout.splitlines()[1:] if line.strip()]
        assert names == ["m365b"], r.stdout
        st = p.relayctl("stats")
        assert "m365b ok" in st.stdout and "m365 ok" not in st.stdout, st.stdout


class SilentServer:
    """A TCP listener on loopback that accepts and never answers: each
    connection attempt of libpq lasts exactly its connect_timeout. Records
    (accepted, closed) times per connection."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import threading
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self.hold, args=(c,), daemon=True).start()

    def hold(self, c):
        t0 = time.time()
        try:
            while c.recv(4096):
                pass
        except OSError:
            pass
        with self.lock:
            self.conns.append((t0, time.time()))

    def durations(self):
        with self.lock:
            return [b - a for a, b in self.conns]


def test_database_connect_timeout_after_sighup():
    srv = SilentServer()
    conninfo = f"host=127.0.0.1 port={srv.port} user=relay dbname=relay"
    with Pipeline(overrides={"database": {"conninfo": conninfo, "connect_timeout": "8s"}}) as p:
        p.start(receiver=False)
        wait_for(lambda: len(srv.durations()) >= 1, 20, what="first connection attempt ended")
        first = srv.durations()[0]
        rewrite(p, lambda c: c["database"].update(connect_timeout="2s"))
        hup(p, "dispatcher0")
        n = len(srv.durations())
        wait_for(lambda: len(srv.durations()) > n, 40, what="a connection attempt after the reload")
        later = srv.durations()[n]
        assert 7 <= first <= 10 and 1.5 <= later <= 4, (first, later)
        print(f"connect attempt lasted {first:.1f}s with connect_timeout 8s, {later:.1f}s after reload to 2s")


if __name__ == "__main__":
    run_tests([test_rotated_secret_is_used_after_sighup, test_added_sender_domain_is_sent_after_sighup,
               test_log_level_debug_after_sighup, test_processes_change_recomputes_graph_share,
               test_token_endpoint_verdict_wins_and_stale_states_clear, test_database_connect_timeout_after_sighup])
