#!/usr/bin/python3
"""Disk full in the dispatcher: the spool lives on a small tmpfs (mounted by
this test; needs root, skipped otherwise). A message to two recipients is
delivered to one and deferred for the other while the filesystem is full,
so writing the new recipient states fails with ENOSPC. The entry must stay
claimed with its progress (event=spool_retry) and the delivered recipient
must never get the message again, before or after space comes back."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import Upstream, fill, make_relay, message, send, smtp_provider, wait_for  # noqa: E402
from relaytest import run_tests  # noqa: E402


def deliveries_to(up, addr):
    return sum(1 for m in up.messages() if addr in m.get("rcpts", []))


def test_enospc_on_envelope_rewrite_never_resends_delivered():
    if os.geteuid() != 0:
        print("SKIP: needs root to mount a tmpfs")
        return
    mnt = tempfile.mkdtemp(prefix="relay-tmpfs-")
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt])
    up = Upstream(args=["--refuse-rcpt", "later@x.org:450"]).start()
    try:
        with make_relay({"receiver": {"limits": {"min_free_space": 0}}, "spool": {"directory": os.path.join(mnt, "spool")},
                         "providers": {"up": smtp_provider(up.port)}, "default_provider": "up",
                         "dispatcher": {"journal": os.path.join(tempfile.mkdtemp(), "journal")}}) as r:
            del r.cfg["providers"]["outbox"]
            r.write_config()
            r.spool = os.path.join(mnt, "spool")
            r.start_receiver()
            qid = send(r.port, "app@example.com", ["ok@x.org", "later@x.org"],
                       message("app@example.com", ["ok@x.org", "later@x.org"], "disk full"))
            filler = os.path.join(mnt, "filler")
            fill(filler)
            r.start_dispatcher()
            wait_for(lambda: deliveries_to(up, "ok@x.org") == 1, 20, what="first delivery to ok@")
            wait_for(lambda: "event=spool_retry" in r.read_log("dispatcher0"), 10, what="spool write retried")
            assert r.spool_entries("active") == [qid + ".env"], r.spool_entries("active")
            time.sleep(4)  # sweeps at 1 s: nothing may take the entry back to new/ meanwhile
            assert deliveries_to(up, "ok@x.org") == 1
            assert r.spool_entries("active") == [qid + ".env"] and not r.spool_entries("new")
            os.unlink(filler)  # space again
            wait_for(lambda: r.read_log("dispatcher0").count("event=attempt") >= 2, 40,
                     what="the deferred recipient retried")
            time.sleep(1)
            assert deliveries_to(up, "ok@x.org") == 1, [m.get("rcpts") for m in up.messages()]
            log = r.read_log("dispatcher0")
            retries = [l for l in log.splitlines() if "event=attempt" in l and qid in l]
            assert "rcpts=1" in retries[1], retries  # only later@ was tried again
            print(f"ENOSPC: {log.count('event=spool_retry')} write retries, ok@ delivered once")
    finally:
        up.stop()
        subprocess.call(["umount", "-l", mnt])
        os.rmdir(mnt)


if __name__ == "__main__":
    run_tests([test_enospc_on_envelope_rewrite_never_resends_delivered])
