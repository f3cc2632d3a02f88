#!/usr/bin/python3
"""Scale-out (issue 14 items 2-3, docs/scale-out.md): several relay hosts
sharing one PostgreSQL, each run by the real `relayctl run`.

- test_drain_order: SIGTERM to `relayctl run` (a host being drained):
  /healthz answers 503 "draining" at once, then the SMTP listener refuses new
  connections while a session in the middle of DATA still gets its 250;
  the hosts row says draining, then stopped. Before this change /healthz
  stayed 200 "ok" until the receiver had exited (after the sessions in
  progress), so a load balancer kept sending clients to a closed port.
- test_spool_takeover: host A accepts mail with delivery paused and is
  killed (-9, every process at once); A's spool is run by a second
  instance with host B's config pointed at it: every message delivered
  exactly once, logged under host B.
- test_cluster_view_newer_schema: the database carries a migration newer
  than the binaries (an additive one, as a later release adds during a
  rolling upgrade): both hosts keep claiming and delivering, no
  event=db_schema_old; `relayctl cluster` lists both hosts with version and
  queue sizes, shows a crashed one as down within 3 heartbeat intervals
  (exit 1), and `relayctl log --host` separates their messages.
"""
import json
import os
import signal
import smtplib
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cluster_common import crash_host, healthz, make_host, start_host  # noqa: E402
from dispatcher_common import message, send  # noqa: E402
from relaytest import pg_database, psql, run_tests, wait_for  # noqa: E402


def eml_message_ids(r):
    ids = []
    for f in r.outbox_files():
        with open(f, "rb") as fh:
            for line in fh.read().split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
                if line.lower().startswith(b"message-id:"):
                    ids.append(line.split(b":", 1)[1].strip().decode())
    return ids


def cluster_json(r):
    out = r.relayctl("cluster", "--json", check=False)
    return out.returncode, {h["host"]: h for h in json.loads(out.stdout or "[]")}


def refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def test_drain_order():
    conninfo = pg_database()
    a = make_host("host-a", conninfo, {"receiver": {"limits": {"shutdown_grace": "20s"}}})
    with a:
        run = start_host(a)
        s = smtplib.SMTP("127.0.0.1", a.port, timeout=20)
        s.ehlo("client.test")
        assert s.mail("app@example.com")[0] == 250
        assert s.rcpt("you@example.org")[0] == 250
        assert s.docmd("DATA")[0] == 354
        s.send(b"From: <app@example.com>\r\nTo: <you@example.org>\r\nSubject: in flight\r\n")
        os.kill(run.pid, signal.SIGTERM)
        t0 = time.monotonic()
        wait_for(lambda: healthz(a) == (503, "draining\n"), 10, 0.01, "/healthz 503 draining")  # grace: 20 s
        t_health = time.monotonic() - t0
        wait_for(lambda: refused(a.port), 5, 0.01, "the SMTP listener closed")
        assert run.poll() is None, "relayctl run exited before the session in progress finished"
        s.send(b"\r\nbody\r\n.\r\n")
        code, reply = s.getreply()
        assert code == 250, (code, reply)
        s.close()
        assert run.wait(30) == 0
        print(f"  /healthz draining after {t_health * 1000:.0f} ms; listener refused before the session ended")
        rc, hosts = cluster_json(a)
        assert hosts["host-a"]["status"] == "stopped" and rc == 0, hosts
        log = a.read_log("run")
        assert "event=host_heartbeat_failed" not in log, log[-2000:]


def test_spool_takeover():
    conninfo = pg_database()
    a = make_host("host-a", conninfo)
    b = make_host("host-b", conninfo)
    with a, b:
        run = start_host(a)
        a.relayctl("dispatch", "pause", "--reason", "takeover test")
        sent = []
        for i in range(30):
            data = message("app@example.com", ["you@example.org"], f"takeover {i}")
            send(a.port, "app@example.com", ["you@example.org"], data)
            sent.append(data.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode())
        assert len(a.spool_entries("new")) == 30, a.spool_entries("new")
        crash_host(a, run)
        # Host B's binary and config, pointed at A's spool (A's volume mounted on B).
        b.cfg["spool"]["directory"] = a.spool
        b.write_config()
        assert "paused" in b.relayctl("dispatch", "status").stdout  # the marker lives in the spool
        b.relayctl("dispatch", "resume")
        start_host(b)
        wait_for(lambda: len(b.outbox_files()) >= 30 and not a.spool_entries("new") and not a.spool_entries("active"),
                 30, 0.1, "A's 30 messages delivered by B")
        got = eml_message_ids(b)
        assert sorted(got) == sorted(sent), (len(got), len(set(got)))
        hosts = psql(conninfo, "SELECT host, count(*) FROM messages WHERE status = 'sent' GROUP BY 1")
        assert hosts == [["host-b", "30"]], hosts
        assert a.outbox_files() == []


def apply_future_migration(conninfo):
    """What a later release's additive migration looks like: a new column
    with a default, a new table, a new index; recorded as version 999."""
    psql(conninfo, "BEGIN; ALTER TABLE messages ADD COLUMN future_note text NOT NULL DEFAULT '';"
                   " ALTER TABLE attempts ADD COLUMN future_region text NOT NULL DEFAULT 'eu';"
                   " CREATE TABLE future_table (id bigserial PRIMARY KEY, note text);"
                   " CREATE INDEX future_idx ON messages (future_note);"
                   " INSERT INTO schema_migrations (version, name) VALUES (999, '999_future'); COMMIT")


def test_cluster_view_newer_schema():
    conninfo = pg_database()
    apply_future_migration(conninfo)
    a = make_host("host-a", conninfo)
    b = make_host("host-b", conninfo)
    with a, b:
        run_a = start_host(a)
        start_host(b)
        for r in (a, b):
            for i in range(3):
                send(r.port, "app@example.com", ["you@example.org"],
                     message("app@example.com", ["you@example.org"], f"{r.name} {i}"))
        wait_for(lambda: len(a.outbox_files()) == 3 and len(b.outbox_files()) == 3, 20, 0.1, "6 delivered")
        wait_for(lambda: psql(conninfo, "SELECT count(*) FROM messages WHERE status = 'sent'") == [["6"]], 20, 0.1,
                 "6 logged")
        for r in (a, b):
            assert "db_schema_old" not in r.read_log("run"), r.read_log("run")[-2000:]
        rc, hosts = cluster_json(a)
        assert rc == 0 and set(hosts) == {"host-a", "host-b"}, (rc, hosts)
        for h in hosts.values():
            assert h["status"] == "up" and h["version"] and h["schema_version"] >= 4, h
            assert set(h["queue"]) >= {"new", "active", "deferred", "hold", "failed", "corrupt"}, h
        text = a.relayctl("cluster").stdout
        assert "host-a" in text and "host-b" in text and "LAST-HEARTBEAT" in text, text
        log_b = b.relayctl("log", "--host", "host-b", "--json").stdout
        assert {m["host"] for m in json.loads(log_b)} == {"host-b"} and len(json.loads(log_b)) == 3, log_b
        assert "host-a" in a.relayctl("log").stdout
        # A crashes: after 3 missed heartbeats (1 s each) it shows as down.
        crash_host(a, run_a)
        t0 = time.monotonic()
        wait_for(lambda: cluster_json(b)[1]["host-a"]["status"] == "down", 10, 0.2, "host-a down")
        print(f"  host-a shown down {time.monotonic() - t0:.1f}s after the crash")
        rc, hosts = cluster_json(b)
        assert rc == 1 and hosts["host-b"]["status"] == "up", (rc, hosts)
        assert "down" in b.relayctl("cluster", check=False).stdout


if __name__ == "__main__":
    run_tests([test_drain_order, test_spool_takeover, test_cluster_view_newer_schema])
