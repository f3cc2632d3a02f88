"""Helpers for the scale-out tests (cluster.py, scale_out.py; docs/scale-out.md).

Does: builds relay "hosts" on this machine that share one PostgreSQL
database, each with its own spool, SMTP port, admin_http port and
cluster.host_name, started with the real `relayctl run`; kills a host the
way a crash does (SIGKILL to the supervisor and every child at once: the
children run in process groups of their own); reads /healthz; starts a
real HAProxy in front of hosts with a generated config (skip when haproxy
is not installed).
Does not: fake any relay part; only Microsoft's endpoints are faked
(fake_graph.py), by the callers.
"""
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import relaytest
from dispatcher_common import FAST
from relaytest import Relay, free_port, wait_for, wait_port


def make_host(name, conninfo, overrides=None, heartbeat="1s"):
    """A Relay named `name` using the shared database `conninfo`."""
    r = Relay(FAST, db=False)
    r.conninfo = conninfo
    r.http_port = free_port()
    relaytest._merge(r.cfg, {"database": {"conninfo": conninfo},
                             "admin_http": {"listen": f"127.0.0.1:{r.http_port}"},
                             "cluster": {"host_name": name, "heartbeat_interval": heartbeat}})
    relaytest._merge(r.cfg, overrides or {})
    r.write_config()
    os.makedirs(r.outbox, exist_ok=True)
    r.name = name
    return r


def start_host(r, name="run"):
    """relayctl run for host r; returns once SMTP and /healthz answer."""
    p = r.start([relaytest.RELAYCTL, "run", "-c", r.config_path], name, r.port)
    wait_for(lambda: healthz(r)[0] == 200, 20, 0.1, f"{r.name} /healthz 200")
    return p


def descendants(pid):
    """pid and every process below it (from /proc), children first listed last."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def crash_host(r, proc):
    """kill -9 of relayctl run and all its children at the same moment (a
    host that loses power): nothing gets to drain or release anything."""
    pids = descendants(proc.pid)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(10)
    for p in pids[1:]:
        wait_for(lambda: not os.path.exists(f"/proc/{p}") or _zombie(p), 10, 0.02, f"pid {p} gone")
    r.procs = [x for x in r.procs if x is not proc]


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def healthz(r, timeout=2.0):
    """(status, body) of GET /healthz on host r; (0, error) when refused."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{r.http_port}/healthz", timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


class HAProxy:
    """A real HAProxy (mode tcp, httpchk GET /healthz on each host's admin
    port) on a free loopback port, config generated like
    contrib/haproxy/haproxy.cfg but with fast checks."""

    def __init__(self, hosts, directory):
        exe = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
        if not exe:
            relaytest.skip("haproxy not installed (contrib/install-deps.sh test installs it)")
        self.port = free_port()
        self.cfg = os.path.join(directory, "haproxy.cfg")
        servers = "\n".join(f"    server {h.name} 127.0.0.1:{h.port} check port {h.http_port}" for h in hosts)
        with open(self.cfg, "w") as f:
            f.write(f"""global
    maxconn 512
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 1s
    retries 3
    option redispatch
frontend smtp_in
    bind 127.0.0.1:{self.port}
    default_backend relay_hosts
backend relay_hosts
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 300ms fall 2 rise 2
{servers}
""")
        self.log = open(os.path.join(directory, "haproxy.log"), "ab")
        self.proc = subprocess.Popen([exe, "-db", "-f", self.cfg], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_port(self.port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def wait_until(pred, timeout, what):
    return wait_for(pred, timeout, 0.05, what)


def now():
    return time.monotonic()
