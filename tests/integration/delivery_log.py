#!/usr/bin/python3
"""relayctl log filters against real traffic (issue 12 item 2): messages go
through the real receiver and dispatcher to the outbox and to a real SMTP
upstream (aiosmtpd, refusing one recipient), PostgreSQL is real. One test
per filter, per-recipient state, hostile filter values (SQL metacharacters,
unicode, invalid dates: a clear error or correct rows, never SQL built from
the value) and an EXPLAIN check that each search uses an index.
The traffic is sent once and shared by the tests of this file.
"""
import atexit
import datetime
import json
import os
import signal

from relaytest import Relay, free_port, psql, run_tests, wait_for
from relayctl_common import send_mail_id

HERE = os.path.dirname(os.path.abspath(__file__))
_env = {}


def traffic():
    """Starts relay once and sends the shared messages; returns (relay, ids)."""
    if _env:
        return _env["r"], _env["ids"]
    up = free_port()
    cfg = {"providers": {"upstream": {"type": "smtp", "host": "127.0.0.1", "port": up, "tls": "none"}},
           "routes": [{"sender": "via-upstream@example.com", "provider": "upstream"}],
           # the filters below count exactly the five messages sent here, not
           # the bounces (DSNs) the failed ones would add (dispatcher_bounce.py)
           "dispatcher": {"bounces": False}}
    r = Relay(cfg)
    _env["r"] = r
    atexit.register(r.stop)  # whatever test fails, no process is left behind
    os.makedirs(r.outbox, exist_ok=True)
    r.relayctl("db", "migrate")
    d = os.path.join(r.dir, "upstream")
    os.makedirs(d)
    r.start(["/usr/bin/python3", os.path.join(HERE, "smtp_upstream.py"), "--port", str(up), "--dir", d,
             "--refuse-rcpt", "bad@example.org:550"], "upstream", up)
    r.start_run()
    ids = {
        "A": send_mail_id(r.port, sender="alice@example.com", rcpts=("Bob@Example.org",), subject="Invoice 100% paid"),
        "B": send_mail_id(r.port, sender="carol@example.com", rcpts=("dave@other.net",), subject="Grüße aus Köln"),
        "C": send_mail_id(r.port, sender="via-upstream@example.com", rcpts=("good@example.org", "bad@example.org"),
                          subject="mixed"),
        "D": send_mail_id(r.port, sender="via-upstream@example.com", rcpts=("bad@example.org",), subject="all bad"),
        "E": send_mail_id(r.port, sender="alice@example.com", rcpts=("x_y@example.org",), subject="under_score"),
    }
    _env["ids"] = ids

    def settled():
        rows = log_json(r, "--limit", "50")
        return len(rows) == 5 and all(x["status"] != "queued" for x in rows)
    wait_for(settled, 40, interval=0.3, what="5 messages finished in the delivery log")
    return r, ids


def log_json(r, *args):
    return json.loads(r.relayctl("log", "--json", *args).stdout)


def found(r, *args):
    """Letters of the shared messages that `relayctl log ARGS` returns."""
    ids = _env["ids"]
    by_id = {v: k for k, v in ids.items()}
    limit = () if "--limit" in args else ("--limit", "50")  # relayctl refuses an option given twice
    return sorted(by_id[x["queue_id"]] for x in log_json(r, *limit, *args))


def test_filter_to():
    r, _ = traffic()
    assert found(r, "--to", "bob@example.org") == ["A"]  # case-insensitive
    assert found(r, "--to", "@EXAMPLE.org") == ["A", "C", "D", "E"]  # a domain
    assert found(r, "--to", "bad@example.org") == ["C", "D"]
    res = r.relayctl("log", "--to", "nobody@example.net")
    assert res.stdout.strip() == "no deliveries logged that match", res.stdout


def test_filter_from():
    r, _ = traffic()
    assert found(r, "--from", "ALICE@example.com") == ["A", "E"]
    assert found(r, "--from", "via-upstream@example.com") == ["C", "D"]


def test_filter_status():
    r, _ = traffic()
    assert found(r, "--status", "failed") == ["D"]
    assert found(r, "--status", "partial") == ["C"]
    assert found(r, "--status", "sent") == ["A", "B", "E"]
    assert found(r, "--failed") == ["C", "D"]
    res = r.relayctl("log", "--status", "bounced", check=False)
    assert res.returncode == 2 and "--status wants sent, failed, partial or queued (got 'bounced')" in res.stderr, res


def test_filter_message_id():
    r, ids = traffic()
    mid = psql(r.conninfo, f"SELECT message_id FROM messages WHERE queue_id = '{ids['E']}'")[0][0]
    assert mid.endswith("@client.test"), mid
    assert found(r, "--message-id", mid) == ["E"]
    assert found(r, "--message-id", f"<{mid}>") == ["E"]


def test_filter_subject():
    r, _ = traffic()
    assert found(r, "--subject", "invoice") == ["A"]
    assert found(r, "--subject", "%") == ["A"]    # a literal %, not a wildcard
    assert found(r, "--subject", "_") == ["E"]    # a literal _, not "any character"
    assert found(r, "--subject", "Köln") == ["B"]  # unicode


def test_filter_provider():
    r, _ = traffic()
    assert found(r, "--provider", "upstream") == ["C", "D"]
    assert found(r, "--provider", "outbox") == ["A", "B", "E"]


def test_filter_since_until():
    r, _ = traffic()
    tomorrow = (datetime.datetime.utcnow() + datetime.timedelta(days=1)).strftime("%Y-%m-%d")
    assert found(r, "--since", "1h") == ["A", "B", "C", "D", "E"]
    assert found(r, "--since", tomorrow) == []
    assert found(r, "--until", "2000-01-01T00:00:00Z") == []
    assert found(r, "--until", tomorrow + "T00:00+02:00", "--since", "2000-01-01") == ["A", "B", "C", "D", "E"]
    assert found(r, "--to", "bad@example.org", "--since", "30m") == ["C", "D"]
    assert found(r, "--limit", "2") != []
    assert len(log_json(r, "--limit", "2")) == 2
    for bad in ("2026-02-30", "yesterday", "1h; DROP TABLE messages", "2026-13-01", "2026-01-01T25:00"):
        res = r.relayctl("log", "--since", bad, check=False)
        assert res.returncode == 2 and f"--since: '{bad}' is not a date" in res.stderr, (bad, res)


def test_recipient_state():
    r, ids = traffic()
    row = log_json(r, "--id", ids["C"])[0]
    states = {x["rcpt"]: x["state"] for x in row["recipients"]}
    assert states == {"good@example.org": "sent", "bad@example.org": "failed"}, row
    bad = [x for x in row["recipients"] if x["rcpt"] == "bad@example.org"][0]
    assert "550" in bad["reply"], bad
    text = r.relayctl("log", "--id", ids["C"]).stdout
    assert "bad@example.org (failed)" in text and "good@example.org (sent)" in text, text
    assert "recipients:" in text and "attempts:" in text and "550" in text, text
    listing = r.relayctl("log", "--to", "bad@example.org").stdout
    assert "bad@example.org (failed)" in listing, listing


def test_hostile_filter_values():
    r, _ = traffic()
    for opt in ("--from", "--to", "--subject", "--provider", "--message-id", "--id"):
        for value in ("x' OR '1'='1", "'; DROP TABLE messages; --", "\\", "é\"'$1", "🙂", "a%' --"):
            res = r.relayctl("log", "--json", opt, value, check=False)
            # An unknown --id exits 1 (as the text form does); a filter that
            # matches nothing is not an error.
            assert res.returncode == (1 if opt == "--id" else 0), (opt, value, res)
            assert json.loads(res.stdout) == [], (opt, value, res.stdout)
    assert psql(r.conninfo, "SELECT count(*) FROM messages") == [["5"]]
    res = r.relayctl("log", "--from", "a\x1bb", check=False)
    assert res.returncode == 2 and "without control characters" in res.stderr, res
    res = r.relayctl("log", "--limit", "1; SELECT 1", check=False)
    assert res.returncode == 2 and "--limit wants a number" in res.stderr, res
    res = r.relayctl("log", "--subject", "x" * 2000, check=False)
    assert res.returncode == 2 and "at most 998 bytes" in res.stderr, res


def test_explain_uses_indexes():
    """With sequential scans priced out (PGOPTIONS), no search may still
    need one on messages or recipients: every filter has an index."""
    r, _ = traffic()
    env_before = os.environ.get("PGOPTIONS")
    os.environ["PGOPTIONS"] = "-c enable_seqscan=off"
    try:
        for args in ([], ["--to", "bob@example.org"], ["--to", "@example.org"], ["--from", "alice@example.com"],
                     ["--status", "failed"], ["--failed"], ["--message-id", "x@y"], ["--subject", "voice"],
                     ["--provider", "outbox"], ["--since", "1h"], ["--until", "2000-01-01"], ["--id", "X"]):
            plan = r.relayctl("log", "--explain", *args).stdout
            for table in ("messages", "recipients"):
                assert f"Seq Scan on {table}" not in plan, (args, plan)
            assert "Index" in plan, (args, plan)
    finally:
        if env_before is None:
            del os.environ["PGOPTIONS"]
        else:
            os.environ["PGOPTIONS"] = env_before


def test_zz_stop():
    r, _ = traffic()
    run = [p for p in r.procs if p.relay_name == "run"][0]
    os.kill(run.pid, signal.SIGTERM)
    assert run.wait(40) == 0
    r.close()


if __name__ == "__main__":
    run_tests([test_filter_to, test_filter_from, test_filter_status, test_filter_message_id, test_filter_subject,
               test_filter_provider, test_filter_since_until, test_recipient_state, test_hostile_filter_values,
               test_explain_uses_indexes, test_zz_stop])
