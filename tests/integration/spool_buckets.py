#!/usr/bin/python3
"""The hashed spool end to end: a dispatcher whose periodic scan is an hour
away still picks up every new entry at once (one uv_fs_event per bucket of
new/, entries sent in different seconds land in different buckets), and a
flat spool of the previous layout (entries directly in new/ and data/) is
migrated by the receiver's start and delivered.
"""
import os
import time

from dispatcher_common import make_relay, message, send, wait_for
from relaytest import run_tests, spool_bucket

SLOW_SCAN = {"dispatcher": {"scan_interval": "1h", "sweep_interval": "1h"}}


def test_watch_sees_every_bucket():
    r = make_relay(SLOW_SCAN, db=False)
    with r:
        r.start_receiver()
        r.start_dispatcher()
        wait_for(lambda: "event=dispatcher_started" in r.read_log("dispatcher0"), 10, what="dispatcher started")
        ids = []
        for i in range(3):  # 1.1 s apart: at least two buckets
            ids.append(send(r.port, "app@example.com", ["to@example.org"],
                            message("app@example.com", ["to@example.org"], f"watch {i}")))
            time.sleep(1.1)
        assert len({spool_bucket(q) for q in ids}) >= 2, ids
        wait_for(lambda: len(r.outbox_files()) == 3, 60, what="all three delivered without a scan")  # scans: 1 h
        assert "event=watch_failed" not in r.read_log("dispatcher0")


def test_flat_spool_is_migrated_and_delivered():
    r = make_relay(SLOW_SCAN, db=False)
    with r:
        r.start_receiver()  # makes a spool; then turn one entry back into the old, flat layout
        qid = send(r.port, "app@example.com", ["to@example.org"], message("app@example.com", ["to@example.org"], "flat"))
        r.stop()
        os.rename(r.spool_path("new", qid), os.path.join(r.spool, "new", qid + ".env"))
        os.rename(r.spool_path("data", qid, ".eml"), os.path.join(r.spool, "data", qid + ".eml"))
        r.start_receiver()  # its Spool::open migrates
        assert os.path.exists(r.spool_path("new", qid)) and os.path.exists(r.spool_path("data", qid, ".eml"))
        assert not os.path.exists(os.path.join(r.spool, "new", qid + ".env"))
        r.start_dispatcher()  # its start-up scan finds it in its bucket
        wait_for(lambda: len(r.outbox_files()) == 1, 10, what="migrated entry delivered")
        wait_for(lambda: not r.spool_data_files(), 10, what="entry finished (data removed)")


if __name__ == "__main__":
    run_tests([test_watch_sees_every_bucket, test_flat_spool_is_migrated_and_delivered])
