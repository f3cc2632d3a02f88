#!/usr/bin/python3
"""kill -9 of dispatchers in a loop while ~2000 messages flow through the
real receiver and two dispatchers (outbox provider, PostgreSQL): every
message answered 250 is delivered at least once; duplicates (a dispatcher
killed after the provider accepted, before the spool was updated) are
counted from the dispatchers' attempt logs and printed."""
import collections
import os
import random
import re
import signal
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import make_relay, message, scalar, send, spool_empty, wait_for  # noqa: E402
from relaytest import run_tests  # noqa: E402

TOTAL = int(os.environ.get("RELAY_KILL9_MESSAGES", "2000"))
SENDERS = 4
SENT_RE = re.compile(r"info: (\S+) event=attempt .* outcome=sent ")


def test_kill9_dispatchers_at_least_once():
    with make_relay({"dispatcher": {"max_in_flight": 32}}) as r:
        r.start_receiver()
        procs = {0: r.start_dispatcher(0), 1: r.start_dispatcher(1)}
        ids, lock = [], threading.Lock()

        def sender(k):
            with smtplib.SMTP("127.0.0.1", r.port, timeout=30) as s:
                s.ehlo("client.test")
                for i in range(TOTAL // SENDERS):
                    qid = send(r.port, "app@example.com", ["to@example.org"],
                               message("app@example.com", ["to@example.org"], f"k9 {k}-{i}"), smtp=s)
                    with lock:
                        ids.append(qid)
        threads = [threading.Thread(target=sender, args=(k,)) for k in range(SENDERS)]
        for t in threads:
            t.start()
        kills = 0
        rnd = random.Random(9)
        deadline = time.time() + 120
        while time.time() < deadline:
            sending = any(t.is_alive() for t in threads)
            if not sending and len(r.outbox_files()) >= TOTAL:
                break
            if sending or kills < 10:
                time.sleep(rnd.uniform(0.2, 0.6))
                n = rnd.choice([0, 1])
                os.killpg(procs[n].pid, signal.SIGKILL)
                procs[n].wait()
                kills += 1
                procs[n] = r.start_dispatcher(n)
            else:
                time.sleep(0.2)
        for t in threads:
            t.join()
        assert len(ids) == TOTAL
        wait_for(lambda: spool_empty(r), 60, what="empty spool")
        delivered = {os.path.basename(f)[:-4] for f in r.outbox_files()}
        missing = set(ids) - delivered
        assert not missing, f"{len(missing)} accepted messages never delivered: {sorted(missing)[:5]}"
        counts = collections.Counter()
        for n in (0, 1):
            for line in r.read_log(f"dispatcher{n}").splitlines():
                m = SENT_RE.search(line)
                if m:
                    counts[m.group(1)] += 1
        dups = sum(c - 1 for c in counts.values() if c > 1)
        assert set(counts) >= set(ids), "a delivery is missing from the dispatcher logs"
        db_dups = scalar(r, "SELECT count(*) - count(DISTINCT queue_id) FROM attempts WHERE outcome='sent'")
        print(f"kill9: messages={TOTAL} kills={kills} delivered_at_least_once={len(delivered & set(ids))} "
              f"duplicates={dups} (messages delivered twice or more: {sum(1 for c in counts.values() if c > 1)}; "
              f"duplicate sent rows in the database: {db_dups})")


if __name__ == "__main__":
    run_tests([test_kill9_dispatchers_at_least_once])
