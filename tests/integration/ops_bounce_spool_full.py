#!/usr/bin/python3
"""A bounce (DSN) whose spool write fails is not lost.

The spool sits on a tmpfs with few inodes (mounted here; needs root, else
skipped). A message to a recipient the upstream refuses with 550 fails
permanently while the filesystem has one free inode: rewriting the failed
envelope fits (it replaces the old one), queueing the DSN (data + envelope:
two new files) does not (ENOSPC).

Before the fix the entry went to failed/ and its DSN was dropped with one
log line (event=bounce_error): the sender never learnt. Now the DSN is
queued before the entry is failed; a spool error leaves the entry claimed
in active/ (event=spool_retry, reason names the bounce) and, once inodes
are free again, the DSN is queued and delivered, exactly once, and the
entry is in failed/.

The configuration-error notice (a wrong SMTP password upstream) is raised
once per state change; when the spool cannot take it, it is kept and
retried once space returns (before: event=config_notice result=error, and
never sent).
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import Upstream, make_relay, message, send, smtp_provider, wait_for  # noqa: E402
from relaytest import run_tests, skip  # noqa: E402

SENDER = "app@example.com"
BAD = "bad@example.org"


def fill_inodes(directory):
    """Creates empty files until the filesystem has no inode left."""
    os.makedirs(directory, exist_ok=True)
    n = 0
    try:
        while True:
            os.close(os.open(os.path.join(directory, str(n)), os.O_CREAT | os.O_WRONLY, 0o600))
            n += 1
    except OSError:
        pass
    return n


def make_buckets(spool, states):
    """Every bucket of these state directories, so that a rename into one
    never needs a new directory (an inode) of its own."""
    for state in states:
        for b in range(256):
            os.makedirs(os.path.join(spool, state, "%02x" % b), mode=0o750, exist_ok=True)


def dsns(up):
    return [m for m in up.messages() if m["mail_from"] in ("", "<>")]


def test_dsn_not_lost_when_spool_is_out_of_inodes():
    if os.geteuid() != 0:
        skip("needs root to mount a tmpfs")
    mnt = tempfile.mkdtemp(prefix="relay-ops-tmpfs-")
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=16m,nr_inodes=4096", "tmpfs", mnt])
    up = Upstream(args=["--refuse-rcpt", f"{BAD}:550"]).start()
    spool = os.path.join(mnt, "spool")
    try:
        over = {"receiver": {"limits": {"min_free_space": 0}}, "spool": {"directory": spool}, "providers": {"up": smtp_provider(up.port)},
                "default_provider": "up", "dispatcher": {"journal": os.path.join(tempfile.mkdtemp(), "journal")}}
        with make_relay(over, db=False) as r:
            del r.cfg["providers"]["outbox"]
            r.write_config()
            r.spool = spool
            r.start_receiver()
            r.relayctl("dispatch", "pause")  # the dispatcher must not act before the disk is full
            r.start_dispatcher()
            wait_for(lambda: "event=dispatch_paused" in r.read_log("dispatcher0"),
                     10, what="dispatcher started paused")
            qid = send(r.port, SENDER, [BAD], message(SENDER, [BAD], "refused"))
            make_buckets(spool, ["data", "active", "failed", "deferred"])
            fill_inodes(os.path.join(mnt, "fill"))
            r.relayctl("dispatch", "resume")  # removes the marker: one inode free
            wait_for(lambda: "event=spool_retry" in r.read_log("dispatcher0")
                     or "event=bounce_error" in r.read_log("dispatcher0"), 15, what="the failed entry finished")
            log = r.read_log("dispatcher0")
            assert "event=bounce_error" not in log, "the DSN was dropped:\n" + log[-3000:]
            assert "bounce not queued" in log, log[-3000:]
            assert r.spool_entries("active") == [qid + ".env"], r.spool_entries("active")
            assert not r.spool_entries("failed"), "failed/ before its DSN was queued"
            subprocess.check_call(["rm", "-rf", os.path.join(mnt, "fill")])  # space again
            wait_for(lambda: dsns(up), 15, what="the DSN delivered after space came back")
            wait_for(lambda: r.spool_entries("failed") == [qid + ".env"], 10, what="the original in failed/")
            wait_for(lambda: not r.spool_entries("new") and not r.spool_entries("active"), 10, what="queue empty")
            assert len(dsns(up)) == 1, f"{len(dsns(up))} DSNs"
            assert BAD in dsns(up)[0]["data"].decode(errors="replace")
            log = r.read_log("dispatcher0")
            assert "event=bounce_queued" in log, log[-3000:]
            print(f"ENOSPC: {log.count('event=spool_retry')} retries, then one DSN")
    finally:
        up.stop()
        subprocess.call(["umount", "-l", mnt])
        os.rmdir(mnt)


def test_config_notice_retried_when_spool_is_out_of_inodes():
    """The configuration-error notice (wrong SMTP password upstream) is
    raised once per state change; when the spool cannot take it, it is
    retried after space returns (old code: event=config_notice
    result=error, never sent)."""
    if os.geteuid() != 0:
        skip("needs root to mount a tmpfs")
    mnt = tempfile.mkdtemp(prefix="relay-ops-tmpfs-")
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=16m,nr_inodes=4096", "tmpfs", mnt])
    up = Upstream(args=["--require-auth", "u:right"]).start()
    spool = os.path.join(mnt, "spool")
    try:
        over = {"receiver": {"limits": {"min_free_space": 0}}, "spool": {"directory": spool},
                "providers": {"up": smtp_provider(up.port, username="u", password="wrong")},
                "default_provider": "up",
                "dispatcher": {"journal": os.path.join(tempfile.mkdtemp(), "journal"),
                               "failure_notice_to": "ops@example.org"}}
        with make_relay(over, db=False) as r:
            del r.cfg["providers"]["outbox"]
            r.write_config()
            r.spool = spool
            r.start_receiver()
            r.relayctl("dispatch", "pause")
            r.start_dispatcher()
            wait_for(lambda: "event=dispatch_paused" in r.read_log("dispatcher0"), 10, what="dispatcher paused")
            send(r.port, SENDER, ["to@example.org"], message(SENDER, ["to@example.org"], "held"))
            make_buckets(spool, ["data", "active", "failed", "deferred"])
            fill_inodes(os.path.join(mnt, "fill"))
            r.relayctl("dispatch", "resume")
            wait_for(lambda: "event=config_notice" in r.read_log("dispatcher0"), 15, what="the notice tried")
            log = r.read_log("dispatcher0")
            assert "result=error" in log, log[-3000:]
            subprocess.check_call(["rm", "-rf", os.path.join(mnt, "fill")])
            wait_for(lambda: "event=config_notice provider=up" in r.read_log("dispatcher0")
                     and "result=queued to=<ops@example.org>" in r.read_log("dispatcher0"), 15,
                     what="the notice queued after space came back")
            assert r.read_log("dispatcher0").count("result=queued") == 1
    finally:
        up.stop()
        subprocess.call(["umount", "-l", mnt])
        os.rmdir(mnt)


if __name__ == "__main__":
    run_tests([test_dsn_not_lost_when_spool_is_out_of_inodes, test_config_notice_retried_when_spool_is_out_of_inodes])
