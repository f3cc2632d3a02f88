#!/usr/bin/python3
"""relayctl's database and end-to-end tools against the real receiver,
dispatcher and PostgreSQL: db migrate (twice), stats and log after real
mail (counts must match what was sent and what failed), send-test through
the outbox provider, config check error output, secrets from the config.
"""
import datetime
import json
import os
import signal
import subprocess

from relaytest import Relay, RELAYCTL, free_port, psql, run_tests, wait_for
from relayctl_common import send_mail_id

HERE = os.path.dirname(os.path.abspath(__file__))


def test_migrate_twice():
    with Relay(migrate=False) as r:
        os.makedirs(r.outbox, exist_ok=True)  # the outbox provider does not create it
        first = r.relayctl("db", "migrate")
        assert first.stdout.startswith("applied "), first.stdout
        second = r.relayctl("db", "migrate")
        assert second.stdout.startswith("schema up to date (version "), second.stdout
        version = first.stdout.rsplit("version ", 1)[1].strip()
        assert second.stdout.strip().endswith(f"(version {version})"), (first.stdout, second.stdout)
        tables = {row[0] for row in psql(r.conninfo, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"messages", "attempts", "heartbeats", "secret_status"} <= tables, tables
        # an unreachable database: exit 1 and libpq's reason
        r.cfg["database"]["conninfo"] = "host=/nonexistent-relay-socket dbname=x user=postgres"
        r.write_config()
        res = r.relayctl("db", "migrate", check=False)
        assert res.returncode == 1 and "relayctl: db migrate:" in res.stderr, res


def test_stats_and_log_match_what_was_sent():
    up = free_port()
    cfg = {"providers": {"upstream": {"type": "smtp", "host": "127.0.0.1", "port": up, "tls": "none"}},
           "routes": [{"sender": "via-upstream@example.com", "provider": "upstream"}],
           "dispatcher": {"processes": 2}}
    with Relay(cfg) as r:
        os.makedirs(r.outbox, exist_ok=True)  # the outbox provider does not create it
        r.relayctl("db", "migrate")
        # start the upstream on the port written in the config
        d = os.path.join(r.dir, "upstream")
        os.makedirs(d)
        r.start(["/usr/bin/python3", os.path.join(HERE, "smtp_upstream.py"), "--port", str(up), "--dir", d,
                 "--refuse-rcpt", "bad@example.org:550"], "upstream", up)
        run = r.start_run()
        sent_ids = [send_mail_id(r.port, sender=f"app{i}@example.com", subject=f"m{i}") for i in range(5)]
        sent_ids.append(send_mail_id(r.port, sender="via-upstream@example.com", rcpts=("good@example.org",)))
        bad_id = send_mail_id(r.port, sender="via-upstream@example.com", rcpts=("bad@example.org",))
        wait_for(lambda: len(r.outbox_files()) == 5, 30, what="5 messages in the outbox")
        s = {}

        def done():
            nonlocal s
            s = json.loads(r.relayctl("stats", "--json", check=False).stdout or "{}")
            # The dispatcher makes its records durable before it finishes the
            # spool entry (a record is never lost), so the database can show
            # the failure a moment before the entry reaches failed/.
            q = s.get("queue", {})
            return (s.get("sent") == 6 and s.get("failed") == 1 and q.get("active") == 0
                    and q.get("new") == 0 and q.get("failed") == 1)
        try:
            wait_for(done, 40, interval=0.3, what="stats sent=6 failed=1, spool settled")
        except AssertionError:
            raise AssertionError(f"stats: {s}")
        assert s["sent_24h"] == 6 and s["failed_24h"] == 1, s
        assert s["attempts_all"] == 7 and s["errors_all"] == 1, s
        assert abs(s["error_rate_all"] - 1 / 7) < 0.001, s
        assert s["last_error"]["queue_id"] == bad_id, s
        assert "550" in s["last_error"]["text"], s
        assert s["queue"]["new"] == 0 and s["queue"]["active"] == 0 and s["queue"]["failed"] == 1, s
        assert s["queued"] == 0 and s["oldest_queued_s"] is None, s
        # dispatchers write a heartbeat row every 10 s
        s = wait_for(lambda: (lambda x: x if x.get("live_processes", 0) >= 1 else None)(
            json.loads(r.relayctl("stats", "--json").stdout)), 15, interval=0.5, what="a live heartbeat")
        assert s["uptime_s"] is not None and 0 <= s["uptime_s"] < 120, s
        text = r.relayctl("stats").stdout
        assert "sent:                6 (24h: 6)" in text, text
        # log: every message, newest first, with its status
        rows = json.loads(r.relayctl("log", "--json", "--limit", "50").stdout)
        assert sorted(x["queue_id"] for x in rows) == sorted(sent_ids + [bad_id]), rows
        assert {x["queue_id"]: x["status"] for x in rows}[bad_id] == "failed"
        failed = json.loads(r.relayctl("log", "--failed", "--json").stdout)
        assert [x["queue_id"] for x in failed] == [bad_id], failed
        one = r.relayctl("log", "--id", bad_id).stdout
        assert bad_id in one and "attempts:" in one and "permanent" in one and "550" in one, one
        assert len(json.loads(r.relayctl("log", "--json", "--limit", "2").stdout)) == 2
        res = r.relayctl("log", "--id", "0" * 20, check=False)
        assert res.returncode == 1 and "not in the delivery log" in res.stdout, res
        os.kill(run.pid, signal.SIGTERM)
        assert run.wait(40) == 0


def test_send_test_end_to_end():
    with Relay({"senders": {"default_sender": "relay@example.com"}}) as r:
        os.makedirs(r.outbox, exist_ok=True)  # the outbox provider does not create it
        r.relayctl("db", "migrate")
        r.start_run()
        res = r.relayctl("send-test", "--to", "someone@example.org", "--timeout", "30s", check=False)
        assert res.returncode == 0, res
        assert ": sent (provider=outbox" in res.stdout, res.stdout
        qid = res.stdout.split(":")[0]
        files = r.outbox_files()
        assert len(files) == 1, files
        body = open(files[0], errors="replace").read()
        assert "Subject: relay send-test" in body and "From: <relay@example.com>" in body, body[:500]
        status = psql(r.conninfo, f"SELECT status FROM messages WHERE queue_id = '{qid}'")
        assert status == [["sent"]], status


def test_send_test_without_dispatcher_times_out():
    with Relay() as r:
        os.makedirs(r.outbox, exist_ok=True)  # the outbox provider does not create it
        r.relayctl("db", "migrate")
        r.start_receiver()
        # --timeout also bounds the SMTP conversation (incl. the receiver's fsync): not too short
        res = r.relayctl("send-test", "--to", "someone@example.org", "--timeout", "5s", check=False)
        assert res.returncode == 1, res
        assert "accepted by" in res.stdout and "no outcome within 5 s" in res.stdout, res.stdout
        res = r.relayctl("send-test", check=False)
        assert res.returncode == 2 and "--to ADDR is required" in res.stderr, res


def test_config_check_names_file_line_key():
    with Relay(db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)  # the outbox provider does not create it
        ok = r.relayctl("config", "check")
        assert ok.stdout.startswith(f"OK: {r.config_path}"), ok.stdout
        bad = os.path.join(r.dir, "bad.yaml")
        with open(bad, "w") as f:
            f.write("receiver:\n  hostname: relay.test\n  limits:\n    max_message_size: 35 parsecs\n"
                    f"spool:\n  directory: {r.spool}\n")
        res = subprocess.run([RELAYCTL, "-c", bad, "config", "check"], capture_output=True, text=True, timeout=20)
        assert res.returncode == 1, res
        assert f"{bad}:4:" in res.stderr and "receiver.limits.max_message_size" in res.stderr, res.stderr
        assert res.stdout == "", res.stdout
        with open(bad, "w") as f:
            f.write("receiver:\n  hostname: relay.test\nspool:\n  directory: /tmp\n  colour: blue\n")
        res = subprocess.run([RELAYCTL, "config", "check", "-c", bad], capture_output=True, text=True, timeout=20)
        assert res.returncode == 1 and f"{bad}:5:" in res.stderr and "spool.colour" in res.stderr, res.stderr
        # $RELAY_CONFIG is the default
        env = dict(os.environ, RELAY_CONFIG=r.config_path)
        res = subprocess.run([RELAYCTL, "config", "check"], capture_output=True, text=True, timeout=20, env=env)
        assert res.returncode == 0 and r.config_path in res.stdout, res


def test_secrets_from_config():
    soon = (datetime.date.today() + datetime.timedelta(days=5)).isoformat()
    later = (datetime.date.today() + datetime.timedelta(days=200)).isoformat()
    m365 = {"type": "m365", "tenant_id": "t", "client_id": "c", "client_secret": "s",
            "login_url": "http://127.0.0.1:1", "graph_url": "http://127.0.0.1:1"}
    with Relay({"providers": {"m1": dict(m365, client_secret_expires=soon),
                              "m2": dict(m365, client_secret_expires=later)}}) as r:
        res = r.relayctl("secrets", "--json", check=False)
        assert res.returncode == 1, res  # one is inside its warning window
        rows = {x["provider"]: x for x in json.loads(res.stdout)}
        assert rows["m1"]["state"] == "warning" and rows["m1"]["days_left"] == 5, rows
        assert rows["m2"]["state"] == "ok" and rows["m2"]["days_left"] == 200, rows
        text = r.relayctl("secrets", check=False).stdout
        assert "WARNING" in text and soon in text, text


def test_hash_password_and_send_test_with_auth():
    """hash-password output works as receiver.users[].password_hash; send-test
    authenticates with --user and --password-file or $RELAY_SEND_TEST_PASSWORD,
    never a password in argv."""
    h = subprocess.run([RELAYCTL, "hash-password"], input="correct horse\n", capture_output=True, text=True,
                       timeout=20)
    assert h.returncode == 0 and h.stdout.startswith("$pbkdf2-sha256$"), h
    users = [{"name": "scanner", "password_hash": h.stdout.strip()}]
    with Relay({"receiver": {"auth": "required", "users": users}}) as r:
        os.makedirs(r.outbox, exist_ok=True)  # the outbox provider does not create it
        r.relayctl("db", "migrate")
        r.start_run()
        pw = os.path.join(r.dir, "pw")
        with open(pw, "w") as f:
            f.write("correct horse\n")
        res = r.relayctl("send-test", "--to", "a@example.org", "--user", "scanner", "--password-file", pw,
                         "--timeout", "30s", check=False)
        assert res.returncode == 0 and ": sent (" in res.stdout, res
        # The environment works too; a wrong password is the upstream's 535.
        res = subprocess.run([RELAYCTL, "-c", r.config_path, "send-test", "--to", "a@example.org", "--user", "scanner",
                              "--timeout", "10s"], capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, RELAY_SEND_TEST_PASSWORD="wrong"), stdin=subprocess.DEVNULL)
        assert res.returncode == 1 and "535" in res.stderr, res
        # A password in argv (visible in ps) is refused; nothing is sent.
        res = r.relayctl("send-test", "--to", "a@example.org", "--user", "scanner", "--password", "correct horse",
                         check=False)
        assert res.returncode == 2 and "--password-file" in res.stderr and "correct horse" not in res.stderr, res
        # --user without any password source and no terminal: a clear error.
        res = subprocess.run([RELAYCTL, "-c", r.config_path, "send-test", "--to", "a@example.org", "--user", "scanner"],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                             env={k: v for k, v in os.environ.items() if k != "RELAY_SEND_TEST_PASSWORD"})
        assert res.returncode == 1 and "needs a password" in res.stderr, res
        assert len(r.outbox_files()) == 1


def test_provider_test():
    closed = free_port()
    with Relay({"providers": {"up": {"type": "smtp", "host": "127.0.0.1", "port": closed, "tls": "none",
                                     "timeout": "5s"}}}, db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)
        res = r.relayctl("provider", "test", "outbox")
        assert res.stdout.startswith("outbox (outbox): OK"), res.stdout
        res = r.relayctl("provider", "test", "up", check=False)
        assert res.returncode == 1 and res.stdout.startswith("up (smtp): FAILED"), res
        res = r.relayctl("provider", "test", check=False)  # all: one fails
        assert res.returncode == 1 and "outbox (outbox): OK" in res.stdout and "up (smtp): FAILED" in res.stdout, res
        res = r.relayctl("provider", "test", "nosuch", check=False)
        assert res.returncode == 1 and "no provider named 'nosuch'" in res.stderr, res


if __name__ == "__main__":
    run_tests([test_migrate_twice, test_stats_and_log_match_what_was_sent, test_send_test_end_to_end,
               test_send_test_without_dispatcher_times_out, test_config_check_names_file_line_key,
               test_secrets_from_config, test_hash_password_and_send_test_with_auth, test_provider_test])
