#!/usr/bin/python3
"""Delivery-log retention (issue 12 item 2) with real dispatchers and a real
PostgreSQL: rows older than database.retention are deleted in batches of
database.retention_batch by exactly one of two dispatchers (advisory-lock
election), recent rows stay, and the all-time totals of `relayctl stats`
(rollups) survive the deletion.
"""
import json
import re

from relaytest import Relay, psql, run_tests, wait_for

OLD, NEW, BATCH = 350, 5, 100


def seed(conninfo):
    """OLD messages (with recipients and attempts) received 100 days ago and
    NEW ones received now, as a dispatcher would have written them."""
    psql(conninfo, f"""
        INSERT INTO messages (queue_id, mail_from, rcpts, provider, status, received_at, finished_at, attempts, host)
        SELECT 'OLD' || lpad(i::text, 17, '0'), 'old@example.com', ARRAY['r@example.org'], 'outbox', 'sent',
               now() - interval '100 days', now() - interval '100 days', 1, 'h1'
        FROM generate_series(1, {OLD}) i;
        INSERT INTO messages (queue_id, mail_from, rcpts, provider, status, received_at, finished_at, attempts, host)
        SELECT 'NEW' || lpad(i::text, 17, '0'), 'new@example.com', ARRAY['r@example.org'], 'outbox', 'sent',
               now(), now(), 1, 'h1'
        FROM generate_series(1, {NEW}) i;
        INSERT INTO recipients (queue_id, rcpt, state, received_at)
        SELECT queue_id, 'r@example.org', 'sent', received_at FROM messages;
        INSERT INTO attempts (queue_id, attempt_no, provider, outcome, host, pid, started_at)
        SELECT queue_id, 1, 'outbox', 'sent', 'h1', 1, received_at FROM messages;
        INSERT INTO heartbeats (kind, host, pid, started_at, seen_at)
        VALUES ('dispatcher', 'h1', 1, now() - interval '200 days', now() - interval '100 days');
    """)


def count(conninfo, sql):
    return int(psql(conninfo, sql)[0][0])


def test_retention_batches_one_deleter():
    with Relay({"database": {"retention": "90d", "retention_batch": BATCH}}) as r:
        r.relayctl("db", "migrate")
        seed(r.conninfo)
        before = json.loads(r.relayctl("stats", "--json", check=False).stdout)
        assert before["sent"] == OLD + NEW, before
        d0, d1 = r.start_dispatcher(0), r.start_dispatcher(1)
        line = re.compile(r"event=retention table=messages deleted=(\d+) batches=(\d+)")

        def deleted():
            return any(line.search(r.read_log(n)) for n in ("dispatcher0", "dispatcher1"))
        wait_for(deleted, 30, interval=0.2, what="a retention round")
        wait_for(lambda: count(r.conninfo, "SELECT count(*) FROM heartbeats WHERE seen_at < now() - interval '90 days'")
                 == 0, 10, what="old heartbeats deleted")
        logs = {n: r.read_log(n) for n in ("dispatcher0", "dispatcher1")}
        leaders = [n for n, text in logs.items() if "event=maintenance_leader state=elected" in text]
        assert len(leaders) == 1, {n: t[-2000:] for n, t in logs.items()}
        other = "dispatcher1" if leaders[0] == "dispatcher0" else "dispatcher0"
        assert "event=retention " not in logs[other], logs[other][-2000:]
        m = line.search(logs[leaders[0]])
        assert int(m.group(1)) == OLD and int(m.group(2)) == OLD // BATCH + 1, m.group(0)
        for table in ("recipients", "attempts"):
            m = re.search(rf"event=retention table={table} deleted=(\d+) batches=(\d+)", logs[leaders[0]])
            assert m and int(m.group(1)) == OLD and int(m.group(2)) == OLD // BATCH + 1, (table, logs[leaders[0]][-3000:])
        assert count(r.conninfo, "SELECT count(*) FROM messages") == NEW
        assert count(r.conninfo, "SELECT count(*) FROM messages WHERE queue_id LIKE 'NEW%'") == NEW
        assert count(r.conninfo, "SELECT count(*) FROM recipients") == NEW
        assert count(r.conninfo, "SELECT count(*) FROM attempts") == NEW
        # the rollups keep the all-time figures; the deltas were folded by the leader
        after = json.loads(r.relayctl("stats", "--json", check=False).stdout)
        assert after["sent"] == OLD + NEW and after["attempts_all"] == OLD + NEW, after
        assert after["sent_24h"] == NEW, after
        assert count(r.conninfo, "SELECT count(*) FROM rollup_delta") == 0
        # the leader's connection ends: the other dispatcher takes over (next try within the interval)
        d = d0 if leaders[0] == "dispatcher0" else d1
        d.terminate()
        d.wait(30)


if __name__ == "__main__":
    run_tests([test_retention_batches_one_deleter])
