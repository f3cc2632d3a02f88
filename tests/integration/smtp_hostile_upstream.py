#!/usr/bin/python3
"""The smtp provider through the whole pipeline (receiver -> spool ->
dispatcher -> hostile upstream -> PostgreSQL) against misbehaving upstreams
(hostile_smtp.py). One relay, one provider per upstream, routed by sender
domain; bounces (DSNs) go to an outbox. What is proved:
- partial acceptance: 250 / 550 / 450 in one transaction -> the 250 one is
  delivered once, the 550 one bounced (one DSN naming 5.1.1), the 450 one
  retried alone in a new transaction (never re-sent to the delivered one);
- 452 4.5.3 too many recipients at RCPT 3: the first two delivered, the
  rest retried in a new transaction;
- 250 to DATA instead of 354: not counted as delivered (the message was
  never transferred), retried and delivered;
- connection closed right after the final dot: deferred, not lost; the
  attempt's response tells the operator a duplicate is possible;
- SIZE smaller than the message: failed without MAIL ever reaching the
  upstream, 552 5.3.4 in the log and in the DSN.
Short retry settings (min_backoff 1 s)."""
import json
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import make_relay, message, scalar, send, smtp_provider, sql, wait_for, wait_sql  # noqa: E402
from relaytest import free_port, run_tests, wait_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class Hostile:
    def __init__(self, script):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="relay-hostile-")
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "hostile_smtp.py"), "--port",
                                      str(self.port), "--dir", self.dir, "--script", json.dumps(script)],
                                     start_new_session=True)
        wait_port(self.port)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)

    def events(self):
        try:
            with open(os.path.join(self.dir, "events.jsonl")) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def delivered(self, sender=None):
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".json"):
                with open(os.path.join(self.dir, name)) as f:
                    m = json.load(f)
                if sender is None or m["mail_from"] == sender:
                    out.append(m["rcpts"])
        return out


def dsns(box):
    out = []
    for name in sorted(os.listdir(box)):
        if name.endswith(".eml"):
            with open(os.path.join(box, name), "rb") as f:
                out.append(f.read().decode("utf-8", "replace"))
    return out


def test_hostile_upstreams_end_to_end():
    ups = {
        "partial": Hostile({"rcpt": {"bad@x.test": "550 5.1.1 No such user", "later@x.test": ["450 4.2.1 Busy", "250 ok"]},
                            "max_rcpts": 2}),
        "data250": Hostile({"reply": {"DATA": ["250 2.0.0 whatever", "354 go ahead"]}}),
        "lostdot": Hostile({"reply": {"EOD": [{"action": "close"}, "250 2.0.0 queued"]}}),
        "small": Hostile({"ehlo": ["SIZE 300", "8BITMIME", "PIPELINING"]}),
    }
    providers = {n: smtp_provider(u.port, timeout="5s") for n, u in ups.items()}
    with make_relay() as r:
        box = r.outbox
        providers["box"] = {"type": "outbox", "directory": box}
        r.cfg["providers"] = providers
        r.cfg["routes"] = [{"sender": f"@{n}.test", "provider": n} for n in ups]
        r.cfg["default_provider"] = "box"  # bounces (null sender) land here
        r.write_config()
        try:
            r.start_receiver()
            r.start_dispatcher()
            m1_rcpts = ["good@x.test", "bad@x.test", "later@x.test"]
            m1 = send(r.port, "a@partial.test", m1_rcpts, message("a@partial.test", m1_rcpts, "partial"))
            m2_rcpts = [f"r{i}@y.test" for i in range(1, 5)]
            m2 = send(r.port, "b@partial.test", m2_rcpts, message("b@partial.test", m2_rcpts, "too many"))
            m3 = send(r.port, "c@data250.test", ["z@x.test"], message("c@data250.test", ["z@x.test"], "data 250"))
            m4 = send(r.port, "d@lostdot.test", ["z@x.test"], message("d@lostdot.test", ["z@x.test"], "lost dot"))
            big = "this line makes the message larger than the upstream's SIZE\r\n" * 20
            m5 = send(r.port, "e@small.test", ["z@x.test"], message("e@small.test", ["z@x.test"], "big", big))

            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{m1}'", "partial", timeout=20)
            assert ups["partial"].delivered("a@partial.test") == [["good@x.test"], ["later@x.test"]], \
                ups["partial"].delivered()
            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{m2}'", "sent", timeout=20)
            assert ups["partial"].delivered("b@partial.test") == [m2_rcpts[:2], m2_rcpts[2:]]
            codes = sql(r, f"SELECT outcome, code FROM attempts WHERE queue_id='{m2}' ORDER BY attempt_no")
            assert codes[0] == ["transient", "452"], codes

            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{m3}'", "sent", timeout=20)
            first = sql(r, f"SELECT outcome, response FROM attempts WHERE queue_id='{m3}' ORDER BY attempt_no LIMIT 1")
            assert first[0][0] == "transient" and "instead of 354" in first[0][1], first
            assert ups["data250"].delivered() == [["z@x.test"]]

            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{m4}'", "sent", timeout=20)
            first = sql(r, f"SELECT outcome, response FROM attempts WHERE queue_id='{m4}' ORDER BY attempt_no LIMIT 1")
            assert first[0][0] == "transient" and "duplicate is possible" in first[0][1], first

            wait_sql(r, f"SELECT status FROM messages WHERE queue_id='{m5}'", "failed", timeout=20)
            err = scalar(r, f"SELECT last_error FROM messages WHERE queue_id='{m5}'")
            assert "5.3.4" in err and "SIZE limit of 300" in err, err
            assert not [e for e in ups["small"].events() if e.get("cmd", "").startswith("MAIL")], ups["small"].events()

            # One DSN for bad@ (5.1.1), one for m5 (5.3.4); none for the deferred-then-sent ones.
            wait_for(lambda: len(dsns(box)) >= 2, 15, what="two DSNs in the outbox")
            texts = dsns(box)
            assert len(texts) == 2, texts
            bad = [t for t in texts if "Final-Recipient: rfc822; bad@x.test" in t]
            assert len(bad) == 1 and bad[0].count("Final-Recipient:") == 1 and "Status: 5.1.1" in bad[0], texts
            assert any("5.3.4" in t and "e@small.test" in t for t in texts), texts
        finally:
            for u in ups.values():
                u.stop()


if __name__ == "__main__":
    run_tests([test_hostile_upstreams_end_to_end])
