"""Helpers shared by the relayctl_*.py integration scripts.

Does: finds the children of a `relayctl run` process through /proc, sends
mail with smtplib and returns the receiver's queue id, waits on relayctl
JSON output. Does not: start anything by itself (relaytest.Relay does).
"""
import json
import os
import re
import smtplib

from relaytest import wait_for

QUEUED_RE = re.compile(r"queued as ([0-9A-Za-z]+)")


def children_of(pid):
    """{pid: program basename} of the live (non-zombie) children of pid."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            state, ppid = fields[0], int(fields[1])
            if ppid != pid or state == "Z":
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0].decode()
            out[int(d)] = os.path.basename(argv0)
        except (OSError, ValueError):
            continue
    return out


def by_name(children, name):
    return sorted(p for p, n in children.items() if n == name)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2:].split()[0] != "Z"
    except OSError:
        return False


def send_mail_id(port, sender="app@example.com", rcpts=("to@example.org",), subject="hello", body="test body\n"):
    """Like send_mail but speaks DATA by hand to read 'queued as <id>'."""
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as s:
        s.ehlo("client.test")
        code, reply = s.mail(sender)
        assert code == 250, (code, reply)
        for r in rcpts:
            code, reply = s.rcpt(r)
            assert code == 250, (code, reply)
        data = (f"From: <{sender}>\r\nTo: {', '.join('<%s>' % r for r in rcpts)}\r\n"
                f"Subject: {subject}\r\nMessage-ID: <{os.urandom(6).hex()}@client.test>\r\n\r\n{body}")
        data = data.replace("\r\n", "\n").replace("\n", "\r\n")
        code, reply = s.data(data.encode())
        assert code == 250, (code, reply)
        m = QUEUED_RE.search(reply.decode())
        assert m, f"no queue id in {reply!r}"
        return m.group(1)


def relayctl_json(relay, *args):
    r = relay.relayctl(*args, "--json")
    return json.loads(r.stdout)


def wait_stats(relay, pred, timeout=30, what="stats"):
    last = {}

    def check():
        nonlocal last
        r = relay.relayctl("stats", "--json", check=False)
        try:
            last = json.loads(r.stdout)
        except ValueError:
            return False
        return pred(last)
    try:
        wait_for(check, timeout, interval=0.3, what=what)
    except AssertionError:
        raise AssertionError(f"timed out waiting for {what}; last stats: {last}")
    return last
