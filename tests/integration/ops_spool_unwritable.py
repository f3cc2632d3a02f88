#!/usr/bin/python3
"""A spool the daemons cannot write to stops them at start with a clear
error naming the directory (needs root: mount, `user: nobody`).

- spool on a read-only filesystem (tmpfs remounted ro): relay-receiver and
  relay-dispatcher exit 1 naming <spool>/tmp and "Read-only file system";
  `relayctl run` gives up (max_start_failures 1) and exits 1 without
  READY=1. Before the fix both started, the receiver answered 451 to every
  message and systemd saw relay ready.
- tmp/ left owned by root (0755) while the daemons run as `user: nobody`:
  both exit 1 naming <spool>/tmp and "Permission denied" (before: started,
  451 for every message).
- an already-wrong owner of the spool root keeps its own message (chown
  hint), checked once more here.
"""
import os
import subprocess

from relaytest import DISPATCHER, RECEIVER, Relay, run_tests, skip
from dispatcher_common import tmpfs
from supervisor_common import NotifySocket, start_run


def run_daemon(prog, r):
    p = subprocess.run([prog, "-c", r.config_path], capture_output=True, text=True, timeout=10)
    return p.returncode, p.stdout + p.stderr


DIRS = ("tmp", "data", "new", "active", "deferred", "hold", "failed", "corrupt", "recycle")


def make_tree(spool, uid=0):
    """The spool tree as a previous start left it."""
    for d in ("",) + DIRS:
        os.makedirs(os.path.join(spool, d), mode=0o750, exist_ok=True)
        os.chown(os.path.join(spool, d), uid, uid)


def test_read_only_filesystem():
    with tmpfs("size=4m", prefix="relay-ops-ro-") as mnt:
        spool = os.path.join(mnt, "spool")
        make_tree(spool)
        with Relay({"spool": {"directory": spool}, "supervisor": {"max_start_failures": 1}}, db=False) as r:
            os.makedirs(r.outbox, exist_ok=True)
            subprocess.check_call(["mount", "-o", "remount,ro", mnt])
            for prog in (RECEIVER, DISPATCHER):
                rc, out = run_daemon(prog, r)
                print(os.path.basename(prog), rc, out.strip().splitlines()[-1:])
                assert rc == 1, (prog, rc, out)
                assert os.path.join(spool, "tmp") in out and "Read-only file system" in out, out
            ns = NotifySocket(r.dir)
            try:
                p = start_run(r, {"NOTIFY_SOCKET": ns.path})
                assert p.wait(15) == 1, r.read_log("run")[-3000:]
                r.procs.remove(p)
                assert not ns.has("READY=1"), ns.texts()
                assert "Read-only file system" in r.read_log("run")
            finally:
                ns.close()


def test_tmp_owned_by_root_while_running_as_nobody():
    if os.geteuid() != 0:
        skip("needs root for user: nobody")
    with Relay({"user": "nobody"}, db=False) as r:
        os.chmod(r.dir, 0o755)
        os.makedirs(r.outbox, exist_ok=True)
        os.chown(r.outbox, 65534, 65534)
        make_tree(r.spool, 65534)
        tmp = os.path.join(r.spool, "tmp")
        os.chown(tmp, 0, 0)
        os.chmod(tmp, 0o755)
        for prog in (RECEIVER, DISPATCHER):
            rc, out = run_daemon(prog, r)
            print(os.path.basename(prog), rc, out.strip().splitlines()[-1:])
            assert rc == 1, (prog, rc, out)
            assert tmp in out and "Permission denied" in out, out
        os.chown(r.spool, 0, 0)
        rc, out = run_daemon(RECEIVER, r)
        assert rc == 1 and "chown" in out, out


if __name__ == "__main__":
    run_tests([test_read_only_filesystem, test_tmp_owned_by_root_while_running_as_nobody])
