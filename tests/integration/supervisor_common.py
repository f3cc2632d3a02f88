"""Helpers for the supervisor_*.py / systemd_notify.py scripts.

Does: starts `relayctl run` with a chosen environment, binds a unix datagram
socket that plays systemd's NOTIFY_SOCKET (recording each message with the
sender's pid, as SO_PASSCRED shows it), reads an SMTP greeting.
Does not: fake the supervisor or its children: they are the real binaries.
"""
import os
import socket
import struct
import subprocess
import time

from relaytest import RELAYCTL


class NotifySocket:
    """A NOTIFY_SOCKET for relayctl run: messages as (monotonic time, pid, text)."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.msgs = []

    def poll(self):
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except BlockingIOError:
                return self.msgs
            pid = 0
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", payload[:12])[0]
            self.msgs.append((time.monotonic(), pid, data.decode(errors="replace")))

    def texts(self):
        return [m[2] for m in self.poll()]

    def has(self, field):
        return any(field in t.split("\n") for t in self.texts())

    def close(self):
        self.sock.close()


def start_run(r, env_extra=None, name="run"):
    """relayctl run for Relay r with extra environment; registered in r.procs."""
    env = dict(os.environ)
    env.update(env_extra or {})
    log = open(r.log_path(name), "ab")
    p = subprocess.Popen([RELAYCTL, "run", "-c", r.config_path], stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True, env=env)
    p.relay_name = name
    r.procs.append(p)
    return p


def greeting(port, timeout=1.0):
    """The 220 line of a fresh SMTP connection, or None when refused/closed."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = s.recv(512).decode(errors="replace")
            return data if data.startswith("220") else None
    except OSError:
        return None
