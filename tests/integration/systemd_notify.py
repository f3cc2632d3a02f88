#!/usr/bin/python3
"""`relayctl run` under systemd's notify protocol, and `relayctl reload`
(issue 13 items 1 and 2). The test binds the NOTIFY_SOCKET itself and
reads each message with its sender's pid.

- READY=1 arrives once, from the supervisor, only when the listen port
  accepts connections and every dispatcher has started; children never
  write to the service manager's socket.
- WATCHDOG_USEC set: WATCHDOG=1 pings at half the interval.
- A reload is framed by RELOADING=1 ... READY=1; SIGTERM says STOPPING=1.
- `relayctl reload` with a broken file exits 1 naming FILE:LINE: KEY and
  signals nothing; with a good file exits 0; with a changed [restart] key
  the supervisor refuses it and relayctl reports that refusal (exit 1).
"""
import json
import os
import signal
import socket
import subprocess
import time

from relaytest import RELAYCTL, Relay, run_tests, wait_for
from relayctl_common import by_name, children_of
from supervisor_common import NotifySocket, greeting, start_run


def port_accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_ready_only_when_serving():
    with Relay({"dispatcher": {"processes": 2}}, db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)
        ns = NotifySocket(r.dir)
        p = start_run(r, {"NOTIFY_SOCKET": ns.path})
        accepted_at_ready = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and accepted_at_ready is None:
            for _, pid, text in ns.poll():
                if "READY=1" in text.split("\n"):
                    # checked the moment READY=1 is read: listeners must be bound by now
                    accepted_at_ready = port_accepts(r.port)
                    log = r.read_log("run")
            time.sleep(0.005)
        assert accepted_at_ready is not None, "no READY=1 within 15 s: " + repr(ns.texts())
        assert accepted_at_ready, "READY=1 before the listen port accepted connections"
        assert log.count("event=dispatcher_started") == 2, "READY=1 before both dispatchers started"
        time.sleep(0.5)
        msgs = ns.poll()
        assert {pid for _, pid, _ in msgs} == {p.pid}, f"messages from children: {msgs}"
        assert sum("READY=1" in t.split("\n") for t in ns.texts()) == 1
        assert any(t.startswith("STATUS=") or "\nSTATUS=" in t for t in ns.texts())
        ns.close()


def test_watchdog_pings():
    with Relay({"dispatcher": {"processes": 1}}, db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)
        ns = NotifySocket(r.dir)
        p = start_run(r, {"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "400000"})
        wait_for(lambda: ns.has("READY=1"), 15, what="READY=1")
        t0 = time.monotonic()
        time.sleep(2.0)
        pings = [t for t, pid, text in ns.poll() if text == "WATCHDOG=1" and t >= t0 and pid == p.pid]
        print(f"{len(pings)} pings in 2 s")
        assert 6 <= len(pings) <= 14, f"{len(pings)} WATCHDOG=1 pings in 2 s at WATCHDOG_USEC=400ms"
        # reload framed by RELOADING=1 / READY=1, then STOPPING=1
        n = len(ns.poll())
        os.kill(p.pid, signal.SIGHUP)
        wait_for(lambda: any("READY=1" in m[2].split("\n") for m in ns.poll()[n:]), 10, what="READY=1 after reload")
        after = [m[2] for m in ns.poll()[n:] if m[2] != "WATCHDOG=1"]
        assert after[0].startswith("RELOADING=1") and "MONOTONIC_USEC=" in after[0], after
        os.kill(p.pid, signal.SIGTERM)
        assert p.wait(30) == 0
        r.procs.remove(p)
        assert ns.has("STOPPING=1"), ns.texts()
        ns.close()


def reload(r, timeout="10s"):
    return subprocess.run([RELAYCTL, "-c", r.config_path, "reload", "--timeout", timeout], capture_output=True,
                          text=True, timeout=30)


def test_relayctl_reload_verdicts():
    with Relay({"dispatcher": {"processes": 1}}, db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)
        p = start_run(r)
        wait_for(lambda: greeting(r.port) and r.read_log("run").count("event=dispatcher_started") >= 1, 15,
                 what="relay up")
        good = json.loads(json.dumps(r.cfg))
        # broken: refused before any signal, naming file:line:key
        r.cfg["dispatcher"]["processes"] = "many"
        r.write_config()
        line = [i + 1 for i, l in enumerate(open(r.config_path)) if '"processes"' in l][0]
        res = reload(r)
        assert res.returncode == 1, res
        assert f"{r.config_path}:{line}: dispatcher.processes" in res.stderr, res.stderr
        assert "event=reload" not in r.read_log("run"), "a broken config was signalled"
        # good: one more dispatcher, exit 0 after the supervisor's verdict
        good["dispatcher"]["processes"] = 2
        r.cfg = good
        r.write_config()
        res = reload(r)
        assert res.returncode == 0, res
        assert "event=reload forwarded_to=2 dispatchers=2" in r.read_log("run")
        wait_for(lambda: len(by_name(children_of(p.pid), "relay-dispatcher")) == 2, 10, what="second dispatcher")
        # valid file, but a [restart] key changed: the supervisor refuses, relayctl says so
        r.cfg["receiver"]["listeners"] = [{"address": "127.0.0.1:1"}]
        r.write_config()
        res = reload(r)
        assert res.returncode == 1, res
        assert "reload refused" in res.stderr and "receiver.listeners" in res.stderr, res.stderr
        assert greeting(r.port), "the running receiver was disturbed by a refused reload"
        os.kill(p.pid, signal.SIGTERM)
        assert p.wait(30) == 0
        r.procs.remove(p)
        res = reload(r)
        assert res.returncode == 1 and "no running" in res.stderr, res


if __name__ == "__main__":
    run_tests([test_ready_only_when_serving, test_watchdog_pings, test_relayctl_reload_verdicts])
