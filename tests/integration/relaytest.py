"""Shared harness for relay's integration tests (real binaries, real peers).

Run with Debian's /usr/bin/python3 (it has aiosmtpd). Every test gets its own
temporary directory, spool, outbox and PostgreSQL database; nothing listens
on anything but loopback.

    from relaytest import Relay, pg_database, free_port, wait_for
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

SRC = os.environ.get("RELAY_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("RELAY_BUILD") or os.path.join(SRC, "build")

RECEIVER = os.path.join(BUILD, "receiver", "relay-receiver")
DISPATCHER = os.path.join(BUILD, "dispatcher", "relay-dispatcher")
RELAYCTL = os.path.join(BUILD, "admin-cli", "relayctl")


_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def spool_bucket(qid):
    """The spool bucket ("00".."ff") of a queue id: its milliseconds >> 10,
    modulo 256 (spool/layout.hpp). Entries sit in <state>/<bucket>/."""
    n = 0
    for c in qid[:10]:
        n = n * 32 + _B32.index(c)
    return "%02x" % (((n >> 2) >> 10) % 256)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_port(port, host="127.0.0.1", timeout=10.0):
    def up():
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            return False
    wait_for(up, timeout, what=f"port {host}:{port}")


SKIP_EXIT = 77  # ctest SKIP_RETURN_CODE (cmake/RelayTest.cmake)


class Skip(Exception):
    """Raised by a test that cannot run here; run_tests reports it as SKIP and
    the script exits 77, which ctest shows as skipped, never as passed."""


def skip(why):
    raise Skip(why)


_pg_server = None


def pg_server():
    """conninfo of a running PostgreSQL: $RELAY_TEST_PG (set by contrib/test.sh)
    or a private one started for this process (stopped at exit). Without
    either (no PostgreSQL installed) the calling test is skipped."""
    global _pg_server
    if os.environ.get("RELAY_TEST_PG"):
        return os.environ["RELAY_TEST_PG"]
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        skip("RELAY_TEST_PG unset and no PostgreSQL server installed: needs PostgreSQL")
    if _pg_server is None:
        d = tempfile.mkdtemp(prefix="relay-pg-")
        out = subprocess.check_output(["bash", os.path.join(SRC, "contrib", "pg-test-server.sh"), "start", d], text=True)
        import atexit
        atexit.register(lambda: subprocess.call(["bash", os.path.join(SRC, "contrib", "pg-test-server.sh"), "stop", d]))
        _pg_server = out.strip().splitlines()[-1]
    return _pg_server


def psql(conninfo, sql):
    """Runs SQL with psql, returns rows as lists of strings (tab-separated)."""
    out = subprocess.check_output(["psql", "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql],
                                  text=True)
    return [line.split("\t") for line in out.splitlines() if line != ""]


def pg_database(migrate=True):
    """A fresh database, migrated with `relayctl db migrate --url` (the
    daemons never migrate) unless migrate=False; returns its conninfo."""
    base = pg_server()
    name = "t_" + uuid.uuid4().hex[:12]
    psql(base, f"CREATE DATABASE {name}")
    parts = [p for p in base.split() if not p.startswith("dbname=")]
    conninfo = " ".join(parts + [f"dbname={name}"])
    if migrate:
        db_migrate(conninfo)
    return conninfo


def db_migrate(conninfo, *extra):
    """`relayctl db migrate --url CONNINFO [extra...]`; raises on failure."""
    r = subprocess.run([RELAYCTL, "db", "migrate", "--url", conninfo, *extra], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"relayctl db migrate exited {r.returncode}: {r.stdout}{r.stderr}")
    return r


def postfix_tool(name):
    """Path of a Postfix test tool (smtp-sink, smtp-source): from the
    directory contrib/install-deps.sh extracted them into when another MTA
    keeps the postfix package out ($RELAY_POSTFIX_TOOLS, else
    <src>/var/postfix-tools/bin), else PATH, else /usr/sbin."""
    root = os.environ.get("RELAY_POSTFIX_TOOLS") or os.path.join(SRC, "var", "postfix-tools")
    dirs = [os.path.join(root, "bin")]
    for d in dirs + os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin"]:
        if d and os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    skip(f"{name} not found: run contrib/install-deps.sh test")


class Relay:
    """A relay installation in a temp dir: config, spool, outbox, processes.

    cfg overrides are merged into a default config (outbox provider, one plain
    listener on a free port, database = a fresh PostgreSQL database if db=True).
    """

    def __init__(self, overrides=None, db=True, keep=False, migrate=True):
        self.dir = tempfile.mkdtemp(prefix="relay-test-")
        self.keep = keep or os.environ.get("RELAY_KEEP_TEST_DIRS") == "1"
        self.port = free_port()
        self.spool = os.path.join(self.dir, "spool")
        self.outbox = os.path.join(self.dir, "outbox")
        self.conninfo = pg_database(migrate=migrate) if db else ""
        self.cfg = {
            "receiver": {"hostname": "relay.test", "listeners": [{"address": f"127.0.0.1:{self.port}"}]},
            "spool": {"directory": self.spool},
            "dispatcher": {"processes": 1},
            "database": {"conninfo": self.conninfo},
            "providers": {"outbox": {"type": "outbox", "directory": self.outbox}},
            "default_provider": "outbox",
            "log": {"level": "debug"},
        }
        _merge(self.cfg, overrides or {})
        self.config_path = os.path.join(self.dir, "relay.yaml")
        self.write_config()
        self.procs = []

    def write_config(self):
        # JSON is YAML; keeps the harness free of a YAML library.
        with open(self.config_path, "w") as f:
            json.dump(self.cfg, f, indent=2)

    def log_path(self, name):
        return os.path.join(self.dir, name + ".log")

    def start(self, argv, name, port=None):
        log = open(self.log_path(name), "ab")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        p.relay_name = name
        self.procs.append(p)
        if port:
            try:
                wait_port(port)
            except AssertionError:
                raise AssertionError(f"{name} did not listen on {port}; log:\n" + self.read_log(name))
        return p

    def start_receiver(self):
        return self.start([RECEIVER, "-c", self.config_path], "receiver", self.port)

    def start_dispatcher(self, n=0):
        return self.start([DISPATCHER, "-c", self.config_path], f"dispatcher{n}")

    def start_run(self):
        return self.start([RELAYCTL, "run", "-c", self.config_path], "run", self.port)

    def relayctl(self, *args, check=True):
        r = subprocess.run([RELAYCTL, "-c", self.config_path, *args], capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"relayctl {' '.join(args)} exited {r.returncode}: {r.stdout}{r.stderr}")
        return r

    def read_log(self, name):
        try:
            with open(self.log_path(name), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def spool_entries(self, state):
        """Envelope file names in a state directory, all buckets."""
        d = os.path.join(self.spool, state)
        out = []
        for _, _, files in os.walk(d):
            out += [f for f in files if f.endswith(".env")]
        return sorted(out)

    def spool_path(self, state, qid, ext=".env"):
        """Where an entry's file sits: <spool>/<state>/<bucket>/<qid><ext>."""
        return os.path.join(self.spool, state, spool_bucket(qid), qid + ext)

    def spool_move(self, qid, src, dst):
        """Moves an entry's envelope between state directories behind the
        spool's back (as a crashed or foreign process might), making the
        target bucket (owned like its state directory) when needed."""
        d = os.path.dirname(self.spool_path(dst, qid))
        if not os.path.isdir(d):
            os.mkdir(d, 0o750)
            st = os.stat(os.path.dirname(d))
            os.chown(d, st.st_uid, st.st_gid)
        os.rename(self.spool_path(src, qid), self.spool_path(dst, qid))

    def spool_data_files(self):
        out = []
        for _, _, files in os.walk(os.path.join(self.spool, "data")):
            out += [f for f in files if f.endswith(".eml")]
        return out

    def outbox_files(self):
        if not os.path.isdir(self.outbox):
            return []
        return sorted(os.path.join(self.outbox, f) for f in os.listdir(self.outbox) if f.endswith(".eml"))

    def stop(self, sig=signal.SIGTERM, timeout=15):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []

    def close(self, ok=True):
        self.stop()
        if ok and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"test dir kept: {self.dir}", file=sys.stderr)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            for p in list(self.procs):
                sys.stderr.write(f"--- log of {p.relay_name} (tail) ---\n{self.read_log(p.relay_name)[-4000:]}\n")
        self.close(ok=exc_type is None)
        return False


def _merge(dst, src):
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v


def run_tests(tests):
    """Minimal runner: runs each test function, prints 'N passed, N failed,
    N skipped'; exits 1 on any failure, else 77 when a test was skipped."""
    only = sys.argv[1:]
    passed = failed = skipped = 0
    for t in tests:
        if only and t.__name__ not in only:
            continue
        t0 = time.time()
        try:
            t()
            passed += 1
            print(f"PASS {t.__name__} ({time.time() - t0:.1f}s)", flush=True)
        except Skip as e:
            skipped += 1
            print(f"SKIP {t.__name__}: {e}", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            import traceback
            traceback.print_exc()
            print(f"FAIL {t.__name__}: {e}", flush=True)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(1 if failed else SKIP_EXIT if skipped else 0)
