#!/usr/bin/python3
"""Crash test: relay-receiver is SIGKILLed at random moments while clients
send mail over several connections, restarted, several rounds.

Afterwards every message for which a client read `250 ... queued as <id>`
must be in the spool: new/<id>.env parses (end-line checksum ok), its size
and data-crc32 match data/<id>.eml, and the data holds the unique token that
was sent in that message. Entries the receiver committed but never
acknowledged are allowed (at-least-once); half-written entries in new/ are
not. Seeded from $RELAY_KILL9_SEED (printed) so a failure can be replayed.
"""
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from receiver_common import Smtp, entry, make_relay, spool_ids, start  # noqa: E402
from relaytest import run_tests  # noqa: E402

CLIENTS = 4
ROUNDS = int(os.environ.get("RELAY_KILL9_ROUNDS", "8"))


class Client(threading.Thread):
    """Sends messages until stopped, reconnecting after every failure;
    records (token, queue id) for every 250."""

    def __init__(self, r, n, stop, rng_seed):
        super().__init__(daemon=True)
        self.r, self.n, self.stop = r, n, stop
        self.rng = random.Random(rng_seed)
        self.acked = []          # (token, qid)
        self.failures = 0
        self.seq = 0

    def message(self, token):
        filler = (b"lorem ipsum dolor sit amet " * 3 + b"\r\n") * self.rng.randint(1, 300)
        return (f"From: <c{self.n}@example.com>\r\nTo: <x@example.com>\r\nSubject: kill9 {token}\r\n\r\n"
                f"TOKEN {token}\r\n").encode() + filler + f"END {token}\r\n".encode()

    def run(self):
        while not self.stop.is_set():
            try:
                with Smtp(self.r.port, timeout=5) as c:
                    if c.greeting.code != 220:
                        raise OSError(f"greeting {c.greeting}")
                    c.ehlo()
                    for _ in range(self.rng.randint(1, 8)):
                        if self.stop.is_set():
                            break
                        self.seq += 1
                        token = f"k9-{self.n}-{self.seq}-{self.rng.getrandbits(48):012x}"
                        rep = c.send_mail(f"c{self.n}@example.com", ["x@example.com"], self.message(token))
                        if rep.code == 250:
                            qid = rep.qid()
                            assert qid, f"250 without a queue id: {rep}"
                            self.acked.append((token, qid))
                    c.cmd("QUIT")
            except AssertionError as e:
                if "250 without a queue id" in str(e):
                    raise
                self.failures += 1
                time.sleep(0.02)
            except (OSError, EOFError):
                self.failures += 1
                time.sleep(0.02)


def test_kill9_rounds():
    seed = int(os.environ.get("RELAY_KILL9_SEED", str(int(time.time()))))
    print(f"RELAY_KILL9_SEED={seed}", flush=True)
    rng = random.Random(seed)
    with make_relay({"log": {"level": "info"}}) as r:
        proc = start(r)
        stop = threading.Event()
        clients = [Client(r, i, stop, rng.getrandbits(32)) for i in range(CLIENTS)]
        for c in clients:
            c.start()
        kills = 0
        for rnd in range(ROUNDS):
            time.sleep(rng.uniform(0.3, 2.0))
            assert proc.poll() is None, f"receiver exited on its own before round {rnd}: {proc.returncode}"
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            kills += 1
            r.procs.remove(proc)
            time.sleep(rng.uniform(0.0, 0.3))
            proc = start(r)
        time.sleep(1.0)
        # keep sending until enough messages were acknowledged (not a throughput race)
        deadline = time.time() + 60
        while sum(len(c.acked) for c in clients) < 50 and time.time() < deadline:
            time.sleep(0.1)
        stop.set()
        for c in clients:
            c.join(15)
        assert all(not c.is_alive() for c in clients), "client threads hung"
        acked = [a for c in clients for a in c.acked]
        print(f"kills={kills} acked={len(acked)} client_failures={sum(c.failures for c in clients)} "
              f"spooled={len(spool_ids(r))}", flush=True)
        assert len(acked) >= 50, f"only {len(acked)} messages acknowledged; the test proved little"
        assert len({q for _, q in acked}) == len(acked), "a queue id was acknowledged twice"
        lost = []
        for token, qid in acked:
            try:
                _, data = entry(r, qid)
                assert f"TOKEN {token}\r\n".encode() in data and data.endswith(f"END {token}\r\n".encode()), \
                    f"{qid}: data does not hold its token {token}"
            except AssertionError as e:
                lost.append(str(e))
        assert not lost, f"{len(lost)} acknowledged messages lost or damaged, e.g. {lost[:5]}"
        # nothing half-written is visible in new/, acknowledged or not
        for qid in spool_ids(r):
            entry(r, qid)
        # the restarted receiver still works normally
        with Smtp(r.port) as c:
            c.ehlo()
            rep = c.send_mail("a@example.com", ["b@example.com"], b"Subject: after\r\n\r\nafter\r\n")
            assert rep.code == 250, rep


if __name__ == "__main__":
    run_tests([test_kill9_rounds])
