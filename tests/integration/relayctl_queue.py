#!/usr/bin/python3
"""`relayctl queue ...` on a real spool filled by the real receiver (no
dispatcher running, so entries stay put): list, show, hold, release,
requeue, flush, delete, for one id and for ALL, and the error cases.
"""
import json
import os

from relaytest import Relay, free_port, run_tests, wait_for
from relayctl_common import send_mail_id


def fill(r, n):
    r.start_receiver()
    return [send_mail_id(r.port, sender=f"app{i}@example.com", rcpts=(f"to{i}@example.org", "cc@example.org"),
                         subject=f"subject {i}") for i in range(n)]


def listing(r, state="all"):
    return json.loads(r.relayctl("queue", "list", "--state", state, "--json").stdout)


def test_list_and_show():
    with Relay(db=False) as r:
        ids = fill(r, 3)
        out = r.relayctl("queue", "list").stdout
        for i, qid in enumerate(ids):
            assert qid in out, out
            assert f"from=<app{i}@example.com>" in out
            assert f"to=<to{i}@example.org> pending" in out
        assert "in 3 entries." in out, out
        entries = listing(r)
        assert [e["id"] for e in entries] == ids  # oldest first
        assert all(e["state"] == "new" and e["attempts"] == 0 and e["size"] > 0 for e in entries)
        assert listing(r, "hold") == []
        show = r.relayctl("queue", "show", ids[1]).stdout
        assert "state:        new" in show, show
        assert "mail from:    <app1@example.com>" in show
        assert "Subject: subject 1" in show
        assert "test body" not in show  # headers only without --body
        assert "test body" in r.relayctl("queue", "show", ids[1], "--body").stdout


def test_hold_release_delete_one():
    with Relay(db=False) as r:
        ids = fill(r, 2)
        res = r.relayctl("queue", "hold", ids[0])
        assert f"{ids[0]}: held" in res.stdout
        assert r.spool_entries("hold") == [ids[0] + ".env"]
        assert r.spool_entries("new") == [ids[1] + ".env"]
        assert [e["id"] for e in listing(r, "hold")] == [ids[0]]
        r.relayctl("queue", "release", ids[0])
        assert r.spool_entries("hold") == []
        assert sorted(r.spool_entries("new")) == sorted(i + ".env" for i in ids)
        r.relayctl("queue", "delete", ids[0])
        assert r.spool_entries("new") == [ids[1] + ".env"]
        assert not os.path.exists(r.spool_path("data", ids[0], ".eml"))
        # deleting it again fails with exit 1 and says why
        res = r.relayctl("queue", "delete", ids[0], check=False)
        assert res.returncode == 1 and ids[0] in res.stderr, res


def test_all_and_requeue():
    with Relay(db=False) as r:
        ids = fill(r, 3)
        res = r.relayctl("queue", "hold", "ALL")
        assert "held 3 entries" in res.stdout, res.stdout
        assert len(r.spool_entries("hold")) == 3 and r.spool_entries("new") == []
        # requeue applies to deferred/failed only: held entries are untouched
        assert "requeued 0 entries" in r.relayctl("queue", "requeue", "ALL").stdout
        assert "requeued 0 entries" in r.relayctl("queue", "flush").stdout
        assert len(r.spool_entries("hold")) == 3
        r.relayctl("queue", "release", "ALL")
        assert len(r.spool_entries("new")) == 3
        res = r.relayctl("queue", "delete", "ALL")
        assert "deleted 3 entries" in res.stdout
        out = r.relayctl("queue", "list").stdout
        assert out.splitlines()[0] == "queue is empty" and "(local spool " in out.splitlines()[1], out
        assert not r.spool_data_files()


def test_requeue_failed_entry():
    # An entry in failed/ (as a dispatcher leaves it) goes back to new/ on requeue.
    with Relay(db=False) as r:
        ids = fill(r, 1)
        r.spool_move(ids[0], "new", "failed")
        assert [e["state"] for e in listing(r)] == ["failed"]
        res = r.relayctl("queue", "requeue", ids[0])
        assert f"{ids[0]}: requeued" in res.stdout
        assert r.spool_entries("new") == [ids[0] + ".env"]


def test_errors():
    with Relay(db=False) as r:
        fill(r, 1)
        res = r.relayctl("queue", "hold", "not-an-id", check=False)
        assert res.returncode == 2 and "not a queue id" in res.stderr, res  # a usage error
        res = r.relayctl("queue", "list", "--state", "bogus", check=False)
        assert res.returncode == 2 and "unknown state 'bogus'" in res.stderr, res
        res = r.relayctl("queue", "show", check=False)
        assert res.returncode == 2 and "usage:" in res.stderr, res
        res = r.relayctl("queue", "show", "0" * 20, check=False)
        assert res.returncode == 1, res


def test_flush_real_deferred_entry():
    """A dispatcher defers (upstream port closed); queue flush makes it try
    again at once (attempts 1 -> 2), queue hold parks it."""
    closed = free_port()
    cfg = {"providers": {"up": {"type": "smtp", "host": "127.0.0.1", "port": closed, "tls": "none", "timeout": "5s"}},
           "default_provider": "up", "dispatcher": {"processes": 1}}
    with Relay(cfg, db=False) as r:
        r.start_receiver()
        qid = send_mail_id(r.port)
        r.start_dispatcher()

        def deferred_with(n):
            e = listing(r, "deferred")
            return e if e and e[0]["attempts"] == n else None
        e = wait_for(lambda: deferred_with(1), 30, what="entry deferred")
        assert e[0]["id"] == qid and e[0]["last_error"], e
        text = r.relayctl("queue", "list", "--state", "deferred").stdout
        assert "next attempt" in text and "last error:" in text, text
        res = r.relayctl("queue", "flush")
        assert f"{qid}: requeued" in res.stdout and "requeued 1 entry" in res.stdout, res.stdout
        wait_for(lambda: deferred_with(2), 30, what="second attempt after flush")
        r.relayctl("queue", "hold", qid)
        assert [x["state"] for x in listing(r)] == ["hold"]


if __name__ == "__main__":
    run_tests([test_list_and_show, test_hold_release_delete_one, test_all_and_requeue, test_requeue_failed_entry,
               test_errors, test_flush_real_deferred_entry])
