"""Helpers shared by the m365_pipeline*.py integration scripts.

Does: builds a whole relay pipeline around one `type: m365` provider:
fake_graph.py (token endpoint + Graph over HTTPS with a test CA, in this
process) as the only fake, the real relay-receiver and relay-dispatcher with
a fast retry policy, a fresh PostgreSQL database from the harness. Messages
go in through SMTP (smtplib), outcomes are read back from the fake, the
spool and PostgreSQL (psql).
Does not: fake anything but Microsoft's endpoints.
Fails: AssertionError with what was expected; process logs are printed by
Relay.__exit__ when a test fails.
"""
import atexit
import email
import email.policy
import os
import shutil
import tempfile
import time

from dispatcher_common import make_relay, message, scalar, send, sql, wait_sql  # noqa: F401
from fake_graph import FakeGraph
from relaytest import wait_for  # noqa: F401

# One test CA for every fake of the run (openssl key generation is slow).
CA_DIR = tempfile.mkdtemp(prefix="relay-m365p-ca-")
atexit.register(shutil.rmtree, CA_DIR, True)

SENDERS = {"allowed": ["@example.com"], "default_sender": "relay@example.com", "policy": "reject"}


def today_plus(days):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + days * 86400))


class Pipeline:
    """Fake Graph + Relay (receiver, dispatcher, database) wired to it.

    prov: m365 provider settings on top of the fake's; fake_kw: FakeGraph
    arguments; senders: senders: block; overrides: more config.
    """

    def __init__(self, prov=None, fake_kw=None, senders=None, overrides=None):
        self.fg = FakeGraph(CA_DIR, **(fake_kw or {})).start()
        p = self.fg.provider_config(rate_per_minute=0, timeout="20s")
        p.update(prov or {})
        cfg = {"providers": {"m365": p}, "default_provider": "m365", "senders": senders or dict(SENDERS)}
        for k, v in (overrides or {}).items():
            cfg[k] = v
        self.r = make_relay(cfg)

    def start(self, receiver=True, dispatcher=True):
        if receiver:
            self.r.start_receiver()
        if dispatcher:
            self.r.start_dispatcher()
        return self

    def send(self, sender, rcpts, data):
        return send(self.r.port, sender, rcpts, data)

    def wait_sent(self, n, timeout=30):
        wait_for(lambda: len(self.fg.sent) >= n, timeout, interval=0.05, what=f"{n} message(s) at the fake Graph")
        return self.fg.sent

    def spooled(self, qid):
        """The message bytes as the receiver spooled them."""
        with open(self.r.spool_path("data", qid, ".eml"), "rb") as f:
            return f.read()

    def status(self, qid):
        return scalar(self.r, f"SELECT status FROM messages WHERE queue_id='{qid}'")

    def attempts(self, qid):
        """[(attempt_no, outcome, code, enhanced, response, started_at epoch)] in order."""
        rows = sql(self.r, "SELECT attempt_no, outcome, code, enhanced, response,"
                           f" extract(epoch FROM started_at) FROM attempts WHERE queue_id='{qid}' ORDER BY attempt_no")
        return [(int(a), o, int(c), e, t, float(s)) for a, o, c, e, t, s in rows]

    def log(self, name="dispatcher0"):
        return self.r.read_log(name)

    def relayctl(self, *args):
        return self.r.relayctl(*args, check=False)

    def close(self, ok):
        try:
            self.fg.stop()
        finally:
            if not ok:
                for p in list(self.r.procs):
                    print(f"--- log of {p.relay_name} (tail) ---\n{self.r.read_log(p.relay_name)[-4000:]}")
            self.r.close(ok=ok)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(exc_type is None)
        return False


def parse(mime):
    return email.message_from_bytes(mime, policy=email.policy.default)


def added_header_names(spooled, got):
    """`got` must be `spooled` with header lines added on top only; returns
    the added header names in order."""
    assert got.endswith(spooled), "message changed below the added headers"
    head = got[: len(got) - len(spooled)].decode()
    names = []
    for line in head.split("\r\n"):
        if line and line[0] not in " \t":
            names.append(line.split(":", 1)[0])
    return names
