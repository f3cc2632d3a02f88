#!/usr/bin/python3
"""PostgreSQL stopped in the middle of a run and started again: delivery
never stops, outcomes are journaled locally and replayed, and every delivery
is in the database exactly once. Uses a private PostgreSQL started by this
test (it is stopped on purpose), two dispatchers sharing one journal."""
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import make_relay, message, scalar, send, spool_empty, wait_for, wait_sql  # noqa: E402
from relaytest import SRC, db_migrate, psql, run_tests  # noqa: E402

PG = os.path.join(SRC, "contrib", "pg-test-server.sh")
N = 120


def pg(cmd, d):
    return subprocess.check_output(["bash", PG, cmd, d], text=True).strip().splitlines()[-1] if cmd == "start" \
        else subprocess.call(["bash", PG, cmd, d])


def test_pg_outage_exactly_once():
    pgdir = tempfile.mkdtemp(prefix="relay-pg-outage-")
    base = pg("start", pgdir)
    try:
        psql(base, "CREATE DATABASE relay")
        conninfo = " ".join([p for p in base.split() if not p.startswith("dbname=")] + ["dbname=relay"])
        db_migrate(conninfo)
        with make_relay({"database": {"conninfo": conninfo, "connect_timeout": "2s"}}, db=False) as r:
            r.conninfo = conninfo
            r.start_receiver()
            r.start_dispatcher(0)
            r.start_dispatcher(1)
            ids = []
            ids_lock = threading.Lock()

            def sender(k):
                for i in range(N // 2):
                    qid = send(r.port, "app@example.com", ["to@example.org"],
                               message("app@example.com", ["to@example.org"], f"outage {k}-{i}"))
                    with ids_lock:
                        ids.append(qid)
                    time.sleep(0.01)
            threads = [threading.Thread(target=sender, args=(k,)) for k in range(2)]
            for t in threads:
                t.start()
            wait_for(lambda: len(r.outbox_files()) >= N // 5, 30, what="first deliveries")
            pg("stop", pgdir)  # outage starts mid-run
            stopped_at = len(r.outbox_files())
            for t in threads:
                t.join()
            wait_for(lambda: len(r.outbox_files()) == N and spool_empty(r), 60, what=f"{N} deliveries during outage")
            assert stopped_at < N, "the outage did not overlap deliveries"
            journal = os.path.join(r.spool, "journal")
            assert os.path.getsize(journal) > 0, "nothing was journaled during the outage"
            pg("start", pgdir)  # back
            wait_sql(r, "SELECT count(*) FROM messages WHERE status='sent'", N, timeout=60)
            wait_for(lambda: os.path.getsize(journal) == 0, 30, what="journal truncated after replay")
            assert scalar(r, "SELECT count(*) FROM attempts WHERE outcome='sent'") == str(N)
            assert scalar(r, "SELECT count(DISTINCT queue_id) FROM attempts WHERE outcome='sent'") == str(N)
            assert scalar(r, "SELECT count(*) FROM attempts") == str(N)
            got = sorted(x[0] for x in psql(conninfo, "SELECT queue_id FROM messages"))
            assert got == sorted(ids), "database rows differ from accepted messages"
            logs = r.read_log("dispatcher0") + r.read_log("dispatcher1")
            assert "event=db_lost" in logs or "event=db_unavailable" in logs
            # logged after the journal is truncated
            wait_for(lambda: "event=journal_replay ok=true" in r.read_log("dispatcher0") + r.read_log("dispatcher1"),
                     10, what="journal_replay ok=true logged")
            print(f"outage: {N - stopped_at} of {N} messages delivered while PostgreSQL was down")
    finally:
        pg("stop", pgdir)
        subprocess.call(["rm", "-rf", pgdir])


if __name__ == "__main__":
    run_tests([test_pg_outage_exactly_once])
