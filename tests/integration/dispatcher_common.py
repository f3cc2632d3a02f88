"""Helpers shared by the dispatcher_*.py integration scripts.

Does: builds a Relay whose dispatcher retries fast (min_backoff 1s), sends
mail through the real receiver reading back 'queued as <id>', runs SQL on
the test database, starts/stops real upstreams (aiosmtpd recorder
tests/integration/smtp_upstream.py, Postfix smtp-sink) and private
PostgreSQL servers.
Does not: fake anything: every peer is a real server process.
Fails: AssertionError with what was expected.
"""
import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time

import relaytest
from relaytest import Relay, free_port, psql, wait_for, wait_port  # noqa: F401

QUEUED_RE = re.compile(r"queued as ([0-9A-Za-z]+)")
HERE = os.path.dirname(os.path.abspath(__file__))
FAST = {"dispatcher": {"processes": 1, "max_in_flight": 16, "scan_interval": "1s", "sweep_interval": "1s",
                       "retry": {"min_backoff": "1s", "max_backoff": "2s", "max_lifetime": "1h", "jitter": 0.1}}}


def make_relay(overrides=None, db=True):
    r = Relay(FAST, db=db)
    relaytest._merge(r.cfg, overrides or {})
    r.write_config()
    os.makedirs(r.outbox, exist_ok=True)  # the outbox provider does not create it
    return r


@contextlib.contextmanager
def tmpfs(options, prefix="relay-tmpfs-"):
    """A tmpfs (mount -o OPTIONS, e.g. "size=4m") on a fresh directory,
    unmounted afterwards; skips the test when not root."""
    if os.geteuid() != 0:
        relaytest.skip("needs root to mount a tmpfs")
    mnt = tempfile.mkdtemp(prefix=prefix)
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", options, "tmpfs", mnt])
    try:
        yield mnt
    finally:
        subprocess.call(["umount", "-l", mnt])
        os.rmdir(mnt)


def fill(path):
    """Writes `path` until its filesystem is full; returns the bytes written."""
    n = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            n += os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    finally:
        os.close(fd)
    return n


def message(sender, rcpts, subject, body="test body\r\n", extra_headers=""):
    data = (f"From: <{sender}>\r\nTo: {', '.join('<%s>' % x for x in rcpts)}\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{os.urandom(6).hex()}@client.test>\r\n{extra_headers}\r\n{body}")
    return data.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def send(port, sender, rcpts, data, smtp=None):
    """One message via SMTP; returns the queue id from the 250 reply."""
    own = smtp is None
    s = smtp or smtplib.SMTP("127.0.0.1", port, timeout=30)
    try:
        if own:
            s.ehlo("client.test")
        code, reply = s.mail(sender)
        assert code == 250, (code, reply)
        for r in rcpts:
            code, reply = s.rcpt(r)
            assert code == 250, (code, reply)
        code, reply = s.data(data)
        assert code == 250, (code, reply)
        m = QUEUED_RE.search(reply.decode())
        assert m, f"no queue id in {reply!r}"
        return m.group(1)
    finally:
        if own:
            s.quit()


def sql(relay, query):
    return psql(relay.conninfo, query)


def scalar(relay, query):
    rows = sql(relay, query)
    return rows[0][0] if rows else None


def wait_sql(relay, query, expected, timeout=30):
    last = [None]

    def check():
        try:
            last[0] = scalar(relay, query)
        except subprocess.CalledProcessError:
            return False
        return last[0] == str(expected)
    try:
        wait_for(check, timeout, interval=0.2, what=query)
    except AssertionError:
        raise AssertionError(f"{query} -> {last[0]!r}, expected {expected!r}")


def spool_empty(relay):
    return all(not relay.spool_entries(s) for s in ("new", "active", "deferred"))


def dump_logs(relay):
    for p in relay.procs:
        print(f"--- {p.relay_name} ---\n{relay.read_log(p.relay_name)[-3000:]}")


class Upstream:
    """tests/integration/smtp_upstream.py (aiosmtpd) recording into a dir."""

    def __init__(self, port=None, args=()):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="relay-up-")
        atexit.register(shutil.rmtree, self.dir, True)
        self.args = list(args)
        self.proc = None

    def start(self, args=None):
        if args is not None:
            self.args = list(args)
        log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "smtp_upstream.py"), "--port",
                                      str(self.port), "--dir", self.dir, *self.args],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def messages(self):
        out = []
        for f in sorted(os.listdir(self.dir)):
            if f.endswith(".json"):
                try:
                    with open(os.path.join(self.dir, f)) as fh:
                        meta = json.load(fh)
                except ValueError:  # the recorder is still writing it
                    continue
                try:
                    with open(os.path.join(self.dir, f[:-5] + ".eml"), "rb") as fh:
                        meta["data"] = fh.read()
                except FileNotFoundError:  # not complete yet (older recorder order)
                    continue
                out.append(meta)
        return out


class SmtpSink:
    """Postfix smtp-sink on a loopback port; args like ['-r', 'RCPT']."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.proc = None

    def start(self, args=()):
        self.proc = subprocess.Popen([relaytest.postfix_tool("smtp-sink"), "-u", "nobody", *args, f"127.0.0.1:{self.port}", "256"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.port)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


def smtp_provider(port, **kw):
    p = {"type": "smtp", "host": "127.0.0.1", "port": port, "tls": "none", "verify_peer": False,
         "max_connections": 4, "timeout": "10s"}
    p.update(kw)
    return p
