#!/usr/bin/python3
"""`relayctl run` bounds a child's start-up (supervisor.start_timeout).

The dispatcher program is a wrapper (RELAY_DISPATCHER_BIN) that hangs
before it ever reports READY=1 (as a dispatcher blocked on a dead NFS spool
or a stuck name lookup would), either on its first start only or always.

- Hangs once: after start_timeout (2 s) the supervisor SIGKILLs the hung
  process (event=child-start-timeout), counts a start-up failure, starts it
  again after the 1 s back-off; the second start is the real dispatcher and
  relay reports READY=1 to systemd. Before the fix it waited forever and
  systemd never saw READY=1.
- Hangs always: with max_start_failures 2 `relayctl run` gives up and
  exits 1 without READY=1, leaving no hung process behind.
"""
import os
import stat
import time

from relaytest import DISPATCHER, Relay, run_tests, wait_for
from relayctl_common import alive
from supervisor_common import NotifySocket, start_run


def hanging_wrapper(directory, once):
    """A dispatcher program that hangs (no READY=1) on its first start, or
    on every start; writes its pid to hung.pid when it hangs."""
    path = os.path.join(directory, "hang-dispatcher.sh")
    marker = os.path.join(directory, "hung-once")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n")
        if once:
            f.write(f'if [ -e "{marker}" ]; then exec "{DISPATCHER}" "$@"; fi\ntouch "{marker}"\n')
        f.write(f'echo $$ > "{directory}/hung.pid"\nexec sleep 1000\n')
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def hung_pid(r):
    with open(os.path.join(r.dir, "hung.pid")) as f:
        return int(f.read())


def test_hung_dispatcher_is_killed_and_restarted():
    with Relay({"dispatcher": {"processes": 1}, "supervisor": {"start_timeout": "2s"}}, db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)
        ns = NotifySocket(r.dir)
        try:
            t0 = time.monotonic()
            p = start_run(r, {"NOTIFY_SOCKET": ns.path, "RELAY_DISPATCHER_BIN": hanging_wrapper(r.dir, once=True)})
            wait_for(lambda: ns.has("READY=1") or p.poll() is not None, 12, what="READY=1 after the hung start")
            took = time.monotonic() - t0
            print(f"READY=1 after {took:.1f}s")
            assert p.poll() is None, r.read_log("run")[-3000:]
            log = r.read_log("run")
            assert "event=child-start-timeout child=dispatcher1" in log, log[-3000:]
            assert "reason=start-up-timeout" in log, log[-3000:]
            assert not alive(hung_pid(r)), "the hung process was not killed"
            assert took >= 2.0, f"ready after {took:.1f}s: the timeout did not happen"
            assert any("hung during start-up" in t for t in ns.texts()), ns.texts()
        finally:
            ns.close()


def test_always_hanging_gives_up():
    over = {"dispatcher": {"processes": 1}, "supervisor": {"start_timeout": "1s", "max_start_failures": 2}}
    with Relay(over, db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)
        ns = NotifySocket(r.dir)
        try:
            p = start_run(r, {"NOTIFY_SOCKET": ns.path, "RELAY_DISPATCHER_BIN": hanging_wrapper(r.dir, once=False)})
            try:
                rc = p.wait(15)  # 1 s hang + 1 s back-off + 1 s hang, then the stop
            except Exception:
                raise AssertionError("relayctl run still waiting after 15 s:\n" + r.read_log("run")[-3000:])
            r.procs.remove(p)
            log = r.read_log("run")
            assert rc == 1, (rc, log[-3000:])
            assert not ns.has("READY=1"), ns.texts()
            assert log.count("event=child-start-timeout child=dispatcher1") == 2, log[-3000:]
            assert "event=child-failed child=dispatcher1" in log and "start_failures=2" in log, log[-3000:]
            assert not alive(hung_pid(r)), "a hung process was left behind"
        finally:
            ns.close()


if __name__ == "__main__":
    run_tests([test_hung_dispatcher_is_killed_and_restarted, test_always_hanging_gives_up])
