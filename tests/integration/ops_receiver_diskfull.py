#!/usr/bin/python3
"""The receiver with its spool disk full (tmpfs mounted here; needs root).

- The disk fills up in the middle of DATA (the first half of the body was
  written): the end of data is answered with a 4xx (the client keeps the
  message and retries), nothing partial is left in tmp/, data/ or new/, and
  the session goes on (RSET works).
- While the disk stays full, a new message is refused with a 4xx too.
- When space comes back, the same client's next message is accepted with
  250 and delivered; the spool holds exactly the accepted messages.
The reply is "452 4.3.1 Error: insufficient system storage" (RFC 3463 "mail
system full"): the spool said ENOSPC. (min_free_space is 0 there, so the
disk really fills.)
- receiver.limits.min_free_space: MAIL is answered 452 4.3.1 while the
  filesystem has less than that free (or less than that plus 1.5 x SIZE),
  and 250 again once the space is back; a session is never closed for it.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import fill, make_relay, tmpfs, wait_for  # noqa: E402
from relaytest import run_tests  # noqa: E402


class Smtp:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.f = self.s.makefile("rb")
        assert self.line().startswith("220")

    def line(self):
        line = self.f.readline()
        while len(line) >= 4 and line[3:4] == b"-":
            line = self.f.readline()
        return line.decode(errors="replace").strip()

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.line()

    def close(self):
        self.s.close()


def files_under(spool, state):
    out = []
    for _, _, names in os.walk(os.path.join(spool, state)):
        out += names
    return out


def begin(c, subject):
    for cmd, want in [("MAIL FROM:<app@example.com>", "250"), ("RCPT TO:<to@example.org>", "250"),
                      ("DATA", "354")]:
        got = c.cmd(cmd)
        assert got.startswith(want), (cmd, got)
    c.s.sendall(f"From: <app@example.com>\r\nTo: <to@example.org>\r\nSubject: {subject}\r\n\r\n".encode())


def test_disk_full_mid_data():
    with tmpfs("size=4m", prefix="relay-ops-tmpfs-") as mnt:
        spool = os.path.join(mnt, "spool")
        with make_relay({"receiver": {"limits": {"min_free_space": 0}}, "spool": {"directory": spool}}, db=False) as r:
            r.spool = spool
            r.start_receiver()
            c = Smtp(r.port)
            assert c.cmd("EHLO client.test").startswith("250")
            begin(c, "half written when the disk filled")
            chunk = ("x" * 998 + "\r\n").encode()
            c.s.sendall(chunk * 256)  # ~256 KB
            filler = os.path.join(mnt, "filler")
            fill(filler)
            c.s.sendall(chunk * 2048 + b".\r\n")  # ~2 MB more: cannot fit
            got = c.line()
            print("end of DATA on a full disk:", got)
            assert got.startswith("452 4.3.1"), got
            assert c.cmd("RSET").startswith("250")
            begin(c, "while full")
            c.s.sendall(chunk * 2048 + b".\r\n")
            got2 = c.line()
            assert got2.startswith("452 4.3.1"), got2
            for state in ("tmp", "data", "new"):
                assert not files_under(spool, state), (state, files_under(spool, state))
            os.unlink(filler)
            assert c.cmd("RSET").startswith("250")
            begin(c, "after space came back")
            c.s.sendall(b"fits now\r\n.\r\n")
            got3 = c.line()
            assert got3.startswith("250"), got3
            c.cmd("QUIT")
            c.close()
            assert len(files_under(spool, "new")) == 1 and len(files_under(spool, "data")) == 1
            assert not files_under(spool, "tmp")
            r.start_dispatcher()
            wait_for(lambda: len(r.outbox_files()) == 1, 10, what="the accepted message delivered")
            with open(r.outbox_files()[0], "rb") as f:
                assert b"after space came back" in f.read()


def test_min_free_space_refuses_mail():
    with tmpfs("size=16m", prefix="relay-ops-tmpfs-") as mnt:
        spool = os.path.join(mnt, "spool")
        mib = 1 << 20
        with make_relay({"receiver": {"limits": {"min_free_space": "4MB"}}, "spool": {"directory": spool}},
                        db=False) as r:
            r.spool = spool
            r.start_receiver()
            c = Smtp(r.port)
            assert c.cmd("EHLO client.test").startswith("250")
            st = os.statvfs(mnt)
            free = st.f_bavail * st.f_frsize
            # SIZE: the largest that fits is (free - 4 MiB) / 1.5; 256 KiB on either side.
            fits = int((free - 4 * mib) / 1.5) - 256 * 1024
            too_big = int((free - 4 * mib) / 1.5) + 256 * 1024
            got = c.cmd(f"MAIL FROM:<app@example.com> SIZE={too_big}")
            assert got.startswith("452 4.3.1"), (free, too_big, got)
            got = c.cmd(f"MAIL FROM:<app@example.com> SIZE={fits}")
            assert got.startswith("250"), (free, fits, got)
            assert c.cmd("RSET").startswith("250")
            # Leave 2 MiB free: below min_free_space, plain MAIL is refused.
            filler = os.path.join(mnt, "filler")
            with open(filler, "wb") as f:
                f.write(b"\0" * (free - 2 * mib))
            time.sleep(1.2)  # the receiver reads the free space at most once a second
            got = c.cmd("MAIL FROM:<app@example.com>")
            assert got == "452 4.3.1 Error: insufficient system storage", got
            for _ in range(20):  # never counted as a client error: no 421, no close
                assert c.cmd("MAIL FROM:<app@example.com>").startswith("452 4.3.1")
            os.unlink(filler)
            time.sleep(1.2)
            begin(c, "after min_free_space was back")
            c.s.sendall(b"fits now\r\n.\r\n")
            got = c.line()
            assert got.startswith("250"), got
            c.cmd("QUIT")
            c.close()
            assert len(files_under(spool, "new")) == 1
            log = r.read_log("receiver")
            assert "event=refused reason=storage_low" in log, log[-2000:]


if __name__ == "__main__":
    run_tests([test_disk_full_mid_data, test_min_free_space_refuses_mail])
