#!/usr/bin/python3
"""`relayctl run` restart policy and accepted config (issue 13 item 2).

- A receiver kill -9'd three times within ten seconds is back, accepting
  SMTP, within 2 s each time (it had run: no back-off; the old policy
  waited 1, 2, then 4 s).
- With the listen port taken, the receiver never starts: `relayctl run`
  gives up after supervisor.max_start_failures and exits 1 (it used to
  retry forever), and never says READY=1.
- A refused edit (broken file, SIGHUP refused) and then a crash: the
  receiver comes back on the config the supervisor accepted, not the file
  (it used to re-read the file and fail to start).
- A reload raising receiver.limits.shutdown_grace from 1 s to 12 s: on
  SIGTERM a DATA still open after 8 s completes with 250 (the supervisor
  used to SIGKILL at the old 1 s + 5 s).
"""
import json
import os
import signal
import socket
import time

from relaytest import Relay, run_tests, wait_for
from relayctl_common import alive, by_name, children_of
from supervisor_common import NotifySocket, greeting, start_run


def receiver_of(p):
    kids = by_name(children_of(p.pid), "relay-receiver")
    return kids[0] if kids else None


def wait_serving(r, p, timeout=10):
    wait_for(lambda: greeting(r.port) and receiver_of(p), timeout, what="receiver serving")
    return receiver_of(p)


def test_killed_receiver_is_back_within_2s():
    with Relay({"dispatcher": {"processes": 1}}, db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)
        p = start_run(r)
        pid = wait_serving(r, p)
        t_first = time.monotonic()
        for i in range(3):
            time.sleep(1.2)  # it served for a moment: it "ran"
            os.kill(pid, signal.SIGKILL)
            t0 = time.monotonic()
            wait_for(lambda: (lambda q: q and q != pid)(receiver_of(p)) and greeting(r.port, 0.5), 5,
                     what=f"receiver back after kill {i + 1}")
            took = time.monotonic() - t0
            print(f"kill {i + 1}: serving again after {took:.2f}s")
            assert took < 2.0, f"kill {i + 1}: clients refused for {took:.1f}s"
            pid = receiver_of(p)
        assert time.monotonic() - t_first < 10
        log = r.read_log("run")
        assert log.count("event=child-exited child=receiver") == 3, log[-3000:]
        assert "ready=yes restart_in=0ms" in log, log[-3000:]


def test_port_taken_gives_up_without_ready():
    with Relay({"dispatcher": {"processes": 1}, "supervisor": {"max_start_failures": 3}}, db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)
        squat = socket.socket()
        squat.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squat.bind(("127.0.0.1", r.port))
        squat.listen(1)
        ns = NotifySocket(r.dir)
        try:
            t0 = time.monotonic()
            p = start_run(r, {"NOTIFY_SOCKET": ns.path})
            try:
                rc = p.wait(20)  # 3 start-ups with 1 s + 2 s between them
            except Exception:
                raise AssertionError("relayctl run still retrying after 20 s:\n" + r.read_log("run")[-3000:])
            r.procs.remove(p)
            print(f"exited {rc} after {time.monotonic() - t0:.1f}s")
            assert rc != 0, "gave up but exited 0"
            assert not ns.has("READY=1"), ns.texts()
            assert ns.has("STOPPING=1"), ns.texts()
            log = r.read_log("run")
            assert "event=child-failed child=receiver" in log and "start_failures=3" in log, log[-3000:]
            delays = [l.split("restart_in=")[1].split(" ")[0] for l in log.splitlines()
                      if "event=child-exited child=receiver" in l]
            assert delays == ["1000ms", "2000ms"], delays  # start-up failures back off
            assert not [k for k in children_of(p.pid)], "children left behind"
        finally:
            squat.close()
            ns.close()


def test_refused_edit_then_crash_keeps_accepted_config():
    with Relay({"dispatcher": {"processes": 1}}, db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)
        p = start_run(r)
        pid = wait_serving(r, p)
        assert "relay.test" in greeting(r.port)
        cfg = json.loads(json.dumps(r.cfg))
        cfg["receiver"]["hostname"] = "edited.test"
        cfg["dispatcher"]["processes"] = "many"  # refused
        with open(r.config_path, "w") as f:
            json.dump(cfg, f, indent=2)
        os.kill(p.pid, signal.SIGHUP)
        wait_for(lambda: "event=reload-refused" in r.read_log("run"), 10, what="reload refused")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: (lambda q: q and q != pid)(receiver_of(p)) and greeting(r.port), 10,
                 what="receiver back on the accepted config")
        g = greeting(r.port)
        assert "relay.test" in g and "edited" not in g, g
        # and a dispatcher restarted now also runs (the file would stop it)
        d = by_name(children_of(p.pid), "relay-dispatcher")[0]
        os.kill(d, signal.SIGKILL)
        wait_for(lambda: (lambda ds: ds and ds[0] != d)(by_name(children_of(p.pid), "relay-dispatcher")), 10,
                 what="dispatcher restarted")
        time.sleep(1.5)
        nd = by_name(children_of(p.pid), "relay-dispatcher")
        assert nd and nd[0] != d and alive(nd[0]), "restarted dispatcher died (it read the refused file?)"


def smtp_line(f):
    line = f.readline()
    while len(line) >= 4 and line[3:4] == b"-":
        line = f.readline()
    return line.decode(errors="replace")


def test_reloaded_shutdown_grace_is_honoured():
    over = {"dispatcher": {"processes": 1}, "receiver": {"limits": {"shutdown_grace": "1s", "min_data_rate": 0}}}
    with Relay(over, db=False) as r:
        os.makedirs(r.outbox, exist_ok=True)
        p = start_run(r)
        wait_serving(r, p)
        r.cfg["receiver"]["limits"]["shutdown_grace"] = "12s"
        r.write_config()
        os.kill(p.pid, signal.SIGHUP)
        wait_for(lambda: "event=reload forwarded_to=" in r.read_log("run")
                 and "event=reloaded (listener" in r.read_log("run"), 10, what="reload")
        s = socket.create_connection(("127.0.0.1", r.port), timeout=30)
        f = s.makefile("rb")
        assert smtp_line(f).startswith("220")
        for cmd, want in [(b"EHLO c.test", "250"), (b"MAIL FROM:<a@example.com>", "250"),
                          (b"RCPT TO:<b@example.org>", "250"), (b"DATA", "354")]:
            s.sendall(cmd + b"\r\n")
            got = smtp_line(f)
            assert got.startswith(want), (cmd, got)
        s.sendall(b"From: <a@example.com>\r\nTo: <b@example.org>\r\nSubject: slow\r\n\r\npart one\r\n")
        os.kill(p.pid, signal.SIGTERM)
        time.sleep(8)  # past the old bound: 1 s grace + 5 s
        s.sendall(b"part two\r\n.\r\n")
        got = smtp_line(f)
        assert got.startswith("250"), f"DATA cut off after SIGTERM: {got!r}\n" + r.read_log("run")[-2000:]
        s.close()
        assert p.wait(30) == 0
        r.procs.remove(p)


if __name__ == "__main__":
    run_tests([test_killed_receiver_is_back_within_2s, test_port_taken_gives_up_without_ready,
               test_refused_edit_then_crash_keeps_accepted_config, test_reloaded_shutdown_grace_is_honoured])
