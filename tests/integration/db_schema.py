#!/usr/bin/python3
"""Migrations are run by `relayctl db migrate` only (issue 13 item 4).

- A dispatcher on a database without the schema does not migrate: it logs
  an error naming the missing migration and the command to run, keeps the
  mail queued (nothing delivered, nothing bounced), and delivers it once
  `relayctl db migrate` has run.
- `relayctl db migrate --url OWNER` needs no config file, is idempotent and
  applies every schema/*.sql (the files are embedded by a glob).
- The daemons work with a runtime role that has no DDL rights (the grants
  `relayctl db migrate --grant ROLE` gives, docs/install.md).
"""
import glob
import json
import os
import smtplib
import subprocess
import time
import uuid

from relaytest import SRC, Relay, db_migrate, pg_database, psql, run_tests, wait_for
from relayctl_common import send_mail_id

MSG = "From: app@example.com\r\nTo: you@example.org\r\nSubject: schema\r\n\r\nbody\r\n"


def send(r):
    with smtplib.SMTP("127.0.0.1", r.port, timeout=10) as s:
        s.sendmail("app@example.com", ["you@example.org"], MSG)


def tables(conninfo):
    return {row[0] for row in psql(conninfo, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def schema_files():
    return sorted(os.path.basename(f)[:-4] for f in glob.glob(os.path.join(SRC, "schema", "*.sql")))


def test_old_schema_keeps_mail_queued_until_migrated():
    with Relay({"log": {"level": "info"}}, migrate=False) as r:
        os.makedirs(r.outbox, exist_ok=True)
        r.start_receiver()
        r.start_dispatcher()
        wait_for(lambda: "event=db_schema_old" in r.read_log("dispatcher0"), 15, what="db_schema_old logged")
        send(r)
        send(r)
        wait_for(lambda: "event=queue_held" in r.read_log("dispatcher0"), 30, what="queue_held logged")
        log = r.read_log("dispatcher0")
        first = schema_files()[0]
        assert f"missing={first}" in log and "relayctl db migrate" in log, log
        wait_for(lambda: len(r.spool_entries("new")) == 2, 30, what="2 entries in new/")
        # a re-check later (every 5 s): still queued, nothing delivered, failed or deferred
        time.sleep(6)
        assert r.outbox_files() == [], "delivered although the schema is missing"
        assert len(r.spool_entries("new")) == 2, (r.spool_entries("new"), r.spool_entries("failed"))
        assert r.spool_entries("failed") == [] and r.spool_entries("deferred") == []
        assert tables(r.conninfo) == set(), "the dispatcher created tables: it must not migrate"
        out = r.relayctl("db", "migrate").stdout
        assert out.startswith("applied "), out
        wait_for(lambda: len(r.outbox_files()) == 2, 20, what="delivery after relayctl db migrate")
        wait_for(lambda: psql(r.conninfo, "SELECT count(*) FROM messages WHERE status = 'sent'") == [["2"]], 15,
                 what="2 sent rows in the delivery log")
        assert "event=queue_resumed schema=current" in r.read_log("dispatcher0")


def test_migrate_url_idempotent_all_files():
    db = pg_database(migrate=False)
    env_config = os.environ.pop("RELAY_CONFIG", None)
    try:
        first = db_migrate(db).stdout  # no -c, no config file needed with --url
        second = db_migrate(db).stdout
    finally:
        if env_config is not None:
            os.environ["RELAY_CONFIG"] = env_config
    files = schema_files()
    assert first.startswith(f"applied {len(files)} migration"), first
    assert second.startswith("schema up to date"), second
    names = [row[0] for row in psql(db, "SELECT name FROM schema_migrations ORDER BY version")]
    assert names == files, (names, files)  # every schema/*.sql, in order, once


def test_runtime_role_without_ddl_rights():
    owner = pg_database(migrate=False)
    role = "relay_rt_" + uuid.uuid4().hex[:8]
    psql(owner, f"CREATE ROLE {role} LOGIN")
    out = db_migrate(owner, "--grant", role).stdout
    assert f"granted {role}" in out, out
    runtime = owner + f" user={role}"
    with Relay({"database": {"conninfo": runtime}, "log": {"level": "info"}}, db=False) as r:
        r.conninfo = runtime
        os.makedirs(r.outbox, exist_ok=True)
        # the runtime role cannot migrate: a clear error with the hint
        fresh = pg_database(migrate=False)
        res = r.relayctl("db", "migrate", "--url", fresh + f" user={role}", check=False)
        assert res.returncode == 1 and "permission denied" in res.stderr and "--url" in res.stderr, res
        r.start_receiver()
        r.start_dispatcher()
        qid = send_mail_id(r.port)
        wait_for(lambda: len(r.outbox_files()) == 1, 20, what="delivery with the runtime role")
        wait_for(lambda: psql(owner, "SELECT count(*) FROM messages WHERE status = 'sent'") == [["1"]], 15,
                 what="the runtime role's log row")
        wait_for(lambda: psql(owner, "SELECT count(*) FROM heartbeats") != [["0"]], 15, what="a heartbeat row")
        assert "event=db_schema_old" not in r.read_log("dispatcher0")
        stats = r.relayctl("stats", check=False)
        assert stats.returncode == 0, stats
        # log --id --json carries the attempts, as the text form does
        wait_for(lambda: json.loads(r.relayctl("log", "--id", qid, "--json").stdout)[0].get("attempts"), 10,
                 what="attempts in log --id --json")
        row = json.loads(r.relayctl("log", "--id", qid, "--json").stdout)
        assert len(row) == 1 and row[0]["queue_id"] == qid, row
        assert [a["outcome"] for a in row[0]["attempts"]] == ["sent"], row
    denied = subprocess.run(["psql", "-X", "-d", runtime, "-c", "CREATE TABLE evil (x int)"],
                            capture_output=True, text=True)
    assert denied.returncode != 0 and "permission denied" in denied.stderr, denied


if __name__ == "__main__":
    run_tests([test_old_schema_keeps_mail_queued_until_migrated, test_migrate_url_idempotent_all_files,
               test_runtime_role_without_ddl_rights])
