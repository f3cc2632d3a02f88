#!/usr/bin/python3
"""Reloads as an unlucky operator makes them, under `relayctl run`:

- A SIGHUP storm: 100 SIGHUPs within about a second, each after an editor-style
  atomic replace of the config (write a temp file, rename it over the
  original), the last edit changing the greeting's host name. Afterwards
  relay is still up with the same children (no restart, no crash), the
  receiver greets with the last host name, `relayctl reload` still gets a
  verdict, and a message sent after the storm is delivered.
- A reload while a child is still starting (a slow dispatcher start, the
  next broken save renamed in right after the SIGHUP): the child is not
  killed (before the fix the forwarded SIGHUP hit it before it had a
  handler: event=child-exited signal=HUP, a start-up failure, and with
  max_start_failures 1 relay stopped); it gets the SIGHUP once it reports
  READY=1 and runs the accepted config, never the broken file.
"""
import json
import os
import signal
import time

from relaytest import DISPATCHER, Relay, run_tests, wait_for
from relayctl_common import alive, by_name, children_of, send_mail_id
from supervisor_common import greeting, start_run


def replace_config(r, cfg):
    tmp = r.config_path + ".tmp~"
    with open(tmp, "w") as f:
        json.dump(cfg, f, indent=2)
    os.rename(tmp, r.config_path)


def kids(p):
    c = children_of(p.pid)
    return sorted(by_name(c, "relay-receiver") + by_name(c, "relay-dispatcher"))


def test_sighup_storm_with_atomic_replaces():
    with Relay({"dispatcher": {"processes": 2}}, db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)
        p = start_run(r)
        wait_for(lambda: greeting(r.port) and len(kids(p)) == 3 and "event=ready" in r.read_log("run"), 15,
                 what="relay ready")
        before = kids(p)
        t0 = time.monotonic()
        for i in range(100):
            cfg = json.loads(json.dumps(r.cfg))
            cfg["receiver"]["hostname"] = f"storm{i}.test"
            replace_config(r, cfg)
            os.kill(p.pid, signal.SIGHUP)
            time.sleep(0.008)
        print(f"100 SIGHUPs in {time.monotonic() - t0:.2f}s")
        wait_for(lambda: "storm99.test" in (greeting(r.port) or ""), 15, what="the last edit applied")
        time.sleep(1)
        assert p.poll() is None, r.read_log("run")[-3000:]
        after = kids(p)
        assert after == before and all(alive(k) for k in after), (before, after, r.read_log("run")[-3000:])
        log = r.read_log("run")
        assert "event=child-exited" not in log, log[-3000:]
        rc = r.relayctl("reload", "--timeout", "20s", check=False)
        assert rc.returncode == 0, rc.stdout + rc.stderr
        qid = send_mail_id(r.port, subject="after the storm")
        wait_for(lambda: r.outbox_files(), 15, what=f"{qid} delivered after the storm")
        assert kids(p) == before


def slow_dispatcher(directory, delay):
    """The real dispatcher, started `delay` seconds late (a slow start-up:
    a big spool, a slow disk)."""
    path = os.path.join(directory, "slow-dispatcher.sh")
    with open(path, "w") as f:
        f.write(f'#!/bin/sh\nsleep {delay}\nexec "{DISPATCHER}" "$@"\n')
    os.chmod(path, 0o755)
    return path


def test_reload_while_a_child_starts():
    with Relay({"dispatcher": {"processes": 1}, "supervisor": {"max_start_failures": 1}}, db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)
        p = start_run(r, {"RELAY_DISPATCHER_BIN": slow_dispatcher(r.dir, 1.5)})
        wait_for(lambda: greeting(r.port), 10, what="receiver up (dispatcher still starting)")
        assert "event=child-ready child=dispatcher1" not in r.read_log("run")
        good = json.loads(json.dumps(r.cfg))
        good["receiver"]["hostname"] = "good.test"
        good["dispatcher"]["max_in_flight"] = 7
        replace_config(r, good)
        os.kill(p.pid, signal.SIGHUP)
        wait_for(lambda: "event=reload forwarded_to=" in r.read_log("run"), 5, what="reload accepted")
        with open(r.config_path + ".tmp~", "w") as f:  # an editor's next, broken save
            f.write("receiver: [this is: not, valid\n")
        os.rename(r.config_path + ".tmp~", r.config_path)
        wait_for(lambda: "event=child-ready child=dispatcher1" in r.read_log("run") or p.poll() is not None, 10,
                 what="dispatcher ready")
        wait_for(lambda: "reason=reloaded-during-start-up" in r.read_log("run") or p.poll() is not None, 5,
                 what="the reload forwarded once it was ready")
        time.sleep(0.5)
        log = r.read_log("run")
        assert p.poll() is None, log[-3000:]
        assert "event=child-exited" not in log, "a child died of the SIGHUP:\n" + log[-3000:]
        assert "good.test" in (greeting(r.port) or "")
        qid = send_mail_id(r.port, subject="after the reload")
        wait_for(lambda: r.outbox_files(), 15, what=f"{qid} delivered")


if __name__ == "__main__":
    run_tests([test_sighup_storm_with_atomic_replaces, test_reload_while_a_child_starts])
