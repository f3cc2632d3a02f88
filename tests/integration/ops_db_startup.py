#!/usr/bin/python3
"""PostgreSQL unusable when the dispatcher starts: nothing listens on the
configured port, or the role does not exist (a mistyped user: the server
refuses the login, as for a wrong password). Either way the dispatcher
starts, says why the database is unusable (event=db_unavailable, warn, for
a server it cannot reach; event=db_login_refused, error, naming what to fix,
for a server that refused the login; both with libpq's reason), delivers the mail anyway and journals the outcome; a
dispatcher started with the corrected conninfo replays the journal, so the
delivery log row is not lost."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import make_relay, message, scalar, send, wait_for  # noqa: E402
from relaytest import free_port, pg_database, run_tests  # noqa: E402


def check(conninfo_of, reason_part, event):
    good = pg_database()
    with make_relay({"database": {"conninfo": conninfo_of(good)}}, db=False) as r:
        r.conninfo = good
        r.start_receiver()
        r.start_dispatcher(0)
        qid = send(r.port, "a@example.com", ["b@example.org"], message("a@example.com", ["b@example.org"], "db down"))
        wait_for(lambda: r.outbox_files(), 10, what="delivered without a database")
        wait_for(lambda: f"event={event} " in r.read_log("dispatcher0"), 10, what=f"{event} logged")
        line = [l for l in r.read_log("dispatcher0").splitlines() if f"event={event} " in l][0]
        assert reason_part in line, line
        other = "db_unavailable" if event == "db_login_refused" else "db_login_refused"
        assert f"event={other} " not in r.read_log("dispatcher0")
        r.stop()
        assert scalar(r, f"select count(*) from messages where queue_id='{qid}'") == "0"
        r.cfg["database"]["conninfo"] = good
        r.write_config()
        r.start_dispatcher(1)
        wait_for(lambda: scalar(r, f"select count(*) from messages where queue_id='{qid}' and status='sent'") == "1",
                 15, what="the journaled row replayed")
        assert "event=journal_replay ok=true" in r.read_log("dispatcher1")


def test_unreachable_at_start():
    check(lambda good: f"host=127.0.0.1 port={free_port()} dbname=relay connect_timeout=2", "Connection refused", "db_unavailable")


def test_login_refused_at_start():
    check(lambda good: good + " user=nosuchrole", 'role \\"nosuchrole\\" does not exist', "db_login_refused")


if __name__ == "__main__":
    run_tests([test_unreachable_at_start, test_login_refused_at_start])
