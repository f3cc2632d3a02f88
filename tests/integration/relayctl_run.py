#!/usr/bin/python3
"""`relayctl run`: the foreground supervisor with the real receiver and
dispatchers. Starts 1 receiver + N dispatchers, restarts kill -9'd children (at once: they had run),
refuses a SIGHUP with a broken config, forwards a good one, and on SIGTERM
stops the receiver first, then the dispatchers, exits 0 and leaves no child.
"""
import json
import os
import signal
import time

from relaytest import Relay, run_tests, wait_for, wait_port
from relayctl_common import alive, by_name, children_of, send_mail_id


def start(r):
    p = r.start_run()
    kids = wait_for(lambda: (lambda c: c if len(by_name(c, "relay-dispatcher")) == r.cfg["dispatcher"]["processes"]
                             and by_name(c, "relay-receiver") else None)(children_of(p.pid)),
                    10, what="receiver and dispatchers started")
    # children have read the config once they log this (tests rewrite it afterwards)
    n = r.cfg["dispatcher"]["processes"]
    wait_for(lambda: r.read_log("run").count("event=dispatcher_started") >= n, 15, what="dispatchers up")
    return p, kids


def stop_and_check(r, p, every_pid):
    os.kill(p.pid, signal.SIGTERM)
    rc = p.wait(40)
    assert rc == 0, f"relayctl run exited {rc}"
    left = [pid for pid in every_pid if alive(pid)]
    assert not left, f"children left after stop: {left}"
    log = r.read_log("run")
    assert "event=stopping signal=TERM" in log, log[-2000:]
    # receiver stopped before any dispatcher
    rstop = log.index("event=child-stopped child=receiver")
    dstop = log.index("event=child-stopped child=dispatcher")
    assert rstop < dstop, "dispatchers were stopped before the receiver"
    r.procs.remove(p)


def test_starts_restarts_and_stops():
    with Relay({"dispatcher": {"processes": 2}}) as r:
        os.makedirs(r.outbox, exist_ok=True)  # the outbox provider does not create it
        r.relayctl("db", "migrate")
        p, kids = start(r)
        seen = set(kids)
        d_old = by_name(kids, "relay-dispatcher")[0]
        os.kill(d_old, signal.SIGKILL)
        t0 = time.time()
        kids = wait_for(lambda: (lambda c: c if len(by_name(c, "relay-dispatcher")) == 2 and d_old not in c else None)(
            children_of(p.pid)), 10, what="dispatcher restarted")
        restart_s = time.time() - t0
        assert restart_s < 9, f"restart took {restart_s:.1f}s"  # policy itself: restart_in in the log
        seen |= set(kids)
        recv_old = by_name(kids, "relay-receiver")[0]
        os.kill(recv_old, signal.SIGKILL)
        kids = wait_for(lambda: (lambda c: c if by_name(c, "relay-receiver") and recv_old not in c else None)(
            children_of(p.pid)), 10, what="receiver restarted")
        seen |= set(kids)
        wait_port(r.port)
        log = r.read_log("run")
        assert "event=child-exited child=dispatcher" in log and "signal=KILL" in log, log[-2000:]
        assert "event=child-exited child=receiver" in log
        # the restarted pair still works end to end
        send_mail_id(r.port)
        wait_for(lambda: len(r.outbox_files()) == 1, 20, what="delivery after restarts")
        stop_and_check(r, p, seen)


def test_a_dispatcher_that_ran_restarts_at_once():
    with Relay({"dispatcher": {"processes": 1}}) as r:
        os.makedirs(r.outbox, exist_ok=True)  # the outbox provider does not create it
        p, kids = start(r)
        pids = set(kids)
        # kill the dispatcher three times, each after it was ready for a while:
        # it ran, so no back-off (start-up failures back off: supervisor_restart.py)
        for i in range(3):
            wait_for(lambda: r.read_log("run").count("event=child-ready child=dispatcher") > i, 15,
                     what=f"dispatcher ready {i + 1}")
            time.sleep(1.1)
            d = by_name(children_of(p.pid), "relay-dispatcher")[0]
            os.kill(d, signal.SIGKILL)
            wait_for(lambda: (lambda c: by_name(c, "relay-dispatcher") and d not in c)(children_of(p.pid)), 15,
                     what=f"restart {i + 1}")
            pids |= set(children_of(p.pid))
        log = r.read_log("run")
        delays = [int(l.split("restart_in=")[1].split("ms")[0]) for l in log.splitlines()
                  if "event=child-exited child=dispatcher" in l]
        assert delays == [0, 0, 0], delays
        stop_and_check(r, p, pids)


def test_sighup_checks_config_first():
    with Relay({"dispatcher": {"processes": 1}}) as r:
        os.makedirs(r.outbox, exist_ok=True)  # the outbox provider does not create it
        p, kids = start(r)
        good = open(r.config_path).read()
        with open(r.config_path, "w") as f:
            f.write(good.replace('"processes": 1', '"processes": "many"'))
        os.kill(p.pid, signal.SIGHUP)
        wait_for(lambda: "event=reload-refused" in r.read_log("run"), 10, what="reload refused")
        line = [l for l in r.read_log("run").splitlines() if "event=reload-refused" in l][0]
        assert r.config_path in line and "dispatcher.processes" in line, line
        time.sleep(0.5)
        assert set(children_of(p.pid)) == set(kids), "children changed after a refused reload"
        # a good config with 2 dispatchers: forwarded, and one more dispatcher
        cfg = json.loads(good)
        cfg["dispatcher"]["processes"] = 2
        with open(r.config_path, "w") as f:
            json.dump(cfg, f)
        os.kill(p.pid, signal.SIGHUP)
        wait_for(lambda: "event=reload forwarded_to=2 dispatchers=2" in r.read_log("run"), 10, what="reload")
        now = wait_for(lambda: (lambda c: c if len(by_name(c, "relay-dispatcher")) == 2 else None)(children_of(p.pid)),
                       10, what="second dispatcher")
        assert set(kids) <= set(now), "a reload restarted children instead of signalling them"
        stop_and_check(r, p, set(now))


def test_missing_config_exits_1():
    with Relay(db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)  # the outbox provider does not create it
        import subprocess
        from relaytest import RELAYCTL
        res = subprocess.run([RELAYCTL, "run", "-c", os.path.join(r.dir, "nope.yaml")], capture_output=True,
                             text=True, timeout=10)
        assert res.returncode == 1, res
        assert "nope.yaml" in res.stderr, res.stderr


def test_children_die_with_a_killed_supervisor():
    with Relay({"dispatcher": {"processes": 2}}, db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)  # the outbox provider does not create it
        p, kids = start(r)
        os.kill(p.pid, signal.SIGKILL)  # no orderly stop: PR_SET_PDEATHSIG does it
        p.wait(10)
        r.procs.remove(p)
        wait_for(lambda: not [k for k in kids if alive(k)], 40, what="children gone after supervisor SIGKILL")


if __name__ == "__main__":
    run_tests([test_starts_restarts_and_stops, test_a_dispatcher_that_ran_restarts_at_once,
               test_sighup_checks_config_first, test_children_die_with_a_killed_supervisor, test_missing_config_exits_1])
