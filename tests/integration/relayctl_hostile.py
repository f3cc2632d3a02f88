#!/usr/bin/python3
"""relayctl and the daemons started as root, against a spool owned by an
unprivileged user (`nobody`), and what a hostile message or a local user
who can write to the spool could do to the operator (issue 9 items 9, 10
and least privilege):

- `relayctl queue requeue` as root writes an envelope the daemons (running
  as `nobody`) can read, and the dispatcher then delivers it;
- relayctl as root before the first start never creates the spool (the
  daemons create it for `user:`);
- the receiver binds a port below 1024 as root and then runs as `nobody`;
  the dispatcher runs as `nobody`; the receiver does not open provider
  credentials;
- symlinks planted in the spool are not followed by `queue show`;
- ESC sequences in Subject/From are shown escaped, never raw;
- `config check` refuses an open relay and warns when it is acknowledged.
Must run as root (skips otherwise).
"""
import os
import shutil
import pwd
import socket
import stat
import subprocess
import sys

from relaytest import RECEIVER, Relay, run_tests, wait_for, wait_port
from relayctl_common import send_mail_id

NOBODY = pwd.getpwnam("nobody")


def low_port():
    """A free loopback port below 1024 (binding it needs root)."""
    for port in range(900, 1020):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError("no free port below 1024")


def uid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError("no Uid line")


def owned_by_nobody(path):
    st = os.lstat(path)
    return st.st_uid == NOBODY.pw_uid and st.st_gid == NOBODY.pw_gid


def nobody_relay(overrides=None, port=None):
    r = Relay(_merge_user(overrides), db=False)
    os.chmod(r.dir, 0o755)  # mkdtemp made it 0700: nobody must reach the spool inside
    os.makedirs(r.outbox)
    os.chown(r.outbox, NOBODY.pw_uid, NOBODY.pw_gid)
    if port:
        r.port = port
        r.cfg["receiver"]["listeners"] = [{"address": f"127.0.0.1:{port}"}]
        r.write_config()
    return r


def _merge_user(overrides):
    o = {"user": "nobody"}
    o.update(overrides or {})
    return o


def test_daemons_drop_to_user_and_requeue_as_root_stays_readable():
    with nobody_relay(port=low_port()) as r:
        rec = r.start_receiver()
        wait_for(lambda: uid_of(rec.pid) == [NOBODY.pw_uid] * 4, 10, what="receiver running as nobody")
        assert "user=nobody" in r.read_log("receiver")
        for d in ["", "tmp", "data", "new", "active", "deferred", "hold", "failed", "corrupt", "recycle"]:
            assert owned_by_nobody(os.path.join(r.spool, d)), f"spool/{d} is not nobody's"
        qid = send_mail_id(r.port, sender="app@example.com")
        env = r.spool_path("new", qid)
        assert owned_by_nobody(env)
        # The entry failed once (as if the provider refused it): the operator requeues it as root.
        r.spool_move(qid, "new", "failed")
        out = r.relayctl("queue", "requeue", qid).stdout
        assert f"{qid}: requeued" in out, out
        st = os.lstat(env)
        assert (st.st_uid, st.st_gid) == (NOBODY.pw_uid, NOBODY.pw_gid), \
            f"requeued envelope is {st.st_uid}:{st.st_gid}, the daemons run as nobody"
        assert stat.S_IMODE(st.st_mode) & 0o400
        for name in os.listdir(os.path.join(r.spool, "tmp")):  # nothing root-owned left behind either
            assert owned_by_nobody(os.path.join(r.spool, "tmp", name))
        disp = r.start_dispatcher()
        wait_for(lambda: uid_of(disp.pid) == [NOBODY.pw_uid] * 4, 10, what="dispatcher running as nobody")
        wait_for(lambda: os.path.exists(os.path.join(r.outbox, qid + ".eml")), 20,
                 what="the requeued entry delivered by the dispatcher running as nobody")
        wait_for(lambda: r.spool_entries("new") == [] and r.spool_entries("active") == [], 10,
                 what="the delivered entry leaving the spool")


def cap_eff(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    raise AssertionError("no CapEff line")


def test_run_as_root_becomes_user_keeping_only_the_bind_capability():
    from relayctl_common import by_name, children_of
    with nobody_relay({"dispatcher": {"processes": 1}}, port=low_port()) as r:
        run = r.start_run()  # waits until the receiver listens on the port below 1024
        wait_for(lambda: uid_of(run.pid) == [NOBODY.pw_uid] * 4, 10, what="relayctl run as nobody")
        wait_for(lambda: len(by_name(children_of(run.pid), "relay-dispatcher")) == 1, 10, what="dispatcher")
        kids = children_of(run.pid)
        rec, disp = by_name(kids, "relay-receiver")[0], by_name(kids, "relay-dispatcher")[0]
        assert uid_of(rec) == [NOBODY.pw_uid] * 4 and uid_of(disp) == [NOBODY.pw_uid] * 4
        assert cap_eff(rec) == 1 << 10, hex(cap_eff(rec))  # CAP_NET_BIND_SERVICE only
        assert cap_eff(disp) == 0 and cap_eff(run.pid) == 0, (hex(cap_eff(disp)), hex(cap_eff(run.pid)))
        qid = send_mail_id(r.port)
        wait_for(lambda: os.path.exists(os.path.join(r.outbox, qid + ".eml")), 20, what="delivery")
        assert owned_by_nobody(os.path.join(r.outbox, qid + ".eml"))


def test_first_use_as_root_never_creates_the_spool():
    # relayctl does not create a spool (a wrong -c must not produce an empty
    # queue); the daemons create it, for `user:`.
    with nobody_relay() as r:
        assert not os.path.exists(r.spool)
        res = r.relayctl("queue", "list", check=False)
        assert res.returncode == 1 and "does not exist" in res.stderr, res
        assert "queue is empty" not in res.stdout
        assert not os.path.exists(r.spool)
        r.start_receiver()
        for d in ["", "new", "data", "tmp"]:
            assert owned_by_nobody(os.path.join(r.spool, d)), f"spool/{d} not nobody's"
        assert "queue is empty" in r.relayctl("queue", "list").stdout
    with Relay(db=False) as r:  # no `user:`: refuse rather than make a root-owned spool
        res = r.relayctl("queue", "list", check=False)
        assert res.returncode == 1
        assert "does not exist" in res.stderr, res.stderr
        assert not os.path.exists(r.spool)
    with nobody_relay({"user": "root"}) as r:  # spool of nobody's, but the config says root
        for d in ("", "new", "data"):
            os.makedirs(os.path.join(r.spool, d), exist_ok=True)
            os.chown(os.path.join(r.spool, d), NOBODY.pw_uid, NOBODY.pw_gid)
        res = r.relayctl("queue", "list", check=False)
        assert res.returncode == 1 and "belongs to nobody" in res.stderr, res.stderr


def test_planted_symlinks_are_not_followed_and_escapes_are_shown_escaped():
    victim_dir = "/root" if os.path.isdir("/root") else "/"
    with nobody_relay() as r:
        victim = os.path.join(r.dir, "victim.txt")
        with open(victim, "w") as f:
            f.write("Subject: ROOT-ONLY-SECRET\n\nsecret body\n")
        os.chmod(victim, 0o644)  # readable by nobody too: only O_NOFOLLOW keeps it out
        r.start_receiver()
        hostile = send_mail_id(r.port, sender="app@example.com",
                               subject="\x1b]0;pwned\x07\x1b[2J\x1b[31mred")
        plain = send_mail_id(r.port, sender="app@example.com", subject="plain")
        show = r.relayctl("queue", "show", hostile).stdout
        assert "\x1b" not in show and "\x07" not in show, repr(show)
        assert "Subject: \\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred" in show, show
        listing = r.relayctl("queue", "list").stdout
        assert "\x1b" not in listing
        # A local user who can write to the spool (here: nobody) swaps the
        # data file for a symlink to a root-only file.
        data = r.spool_path("data", plain, ".eml")
        os.unlink(data)
        os.symlink(victim, data)
        os.lchown(data, NOBODY.pw_uid, NOBODY.pw_gid)
        res = r.relayctl("queue", "show", plain, "--body", check=False)
        assert "ROOT-ONLY-SECRET" not in res.stdout + res.stderr, res.stdout
        assert "unreadable" in res.stdout, res.stdout
        # A symlinked envelope is not read either.
        env = r.spool_path("new", hostile)
        os.unlink(env)
        os.symlink(victim, env)
        res = r.relayctl("queue", "show", hostile, check=False)
        assert "ROOT-ONLY-SECRET" not in res.stdout + res.stderr
        # A bucket of a spool folder replaced by a symlink is refused, not followed.
        bucket = os.path.join(r.spool, "hold", "7f")
        if os.path.isdir(bucket):
            os.rmdir(bucket)
        os.symlink(victim_dir, bucket)
        res = r.relayctl("queue", "list", check=False)
        assert res.returncode == 1 and "hold/7f" in res.stderr, res.stdout + res.stderr
        os.unlink(bucket)
        # A spool folder replaced by a symlink is refused, not followed.
        hold = os.path.join(r.spool, "hold")
        shutil.rmtree(hold)
        os.symlink(victim_dir, hold)
        res = r.relayctl("queue", "list", check=False)
        assert res.returncode == 1 and "hold" in res.stderr, res.stdout + res.stderr


def test_receiver_does_not_open_provider_credentials():
    with Relay({"providers": {"m": {"type": "m365", "tenant_id": "t", "client_id": "c",
                                    "client_secret": "${file:/nonexistent/relay-secret}"}}}, db=False) as r:
        res = subprocess.run([RECEIVER, "-c", r.config_path, "--check"], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        r.start_receiver()  # and starts (reads no provider secret)
        assert "relay-secret" not in r.read_log("receiver")
        res = r.relayctl("config", "check", check=False)  # relayctl does need them: names the file
        assert res.returncode == 1 and "cannot read ${file:/nonexistent/relay-secret}" in res.stderr


def test_config_check_refuses_an_open_relay_and_warns_when_acknowledged():
    wide = {"receiver": {"listeners": [{"address": "0.0.0.0:2525"}], "auth": "off",
                         "client_networks": ["0.0.0.0/0", "::/0"]}}
    with Relay(wide, db=False) as r:
        res = r.relayctl("config", "check", check=False)
        assert res.returncode == 1, res.stdout
        assert f"{r.config_path}:" in res.stderr and "receiver.listeners[0].address" in res.stderr, res.stderr
        assert "open relay" in res.stderr and "allow_open_relay" in res.stderr
        res = subprocess.run([RECEIVER, "-c", r.config_path, "--check"], capture_output=True, text=True, timeout=30)
        assert res.returncode == 2 and "open relay" in res.stderr  # the daemon refuses too
        r.cfg["receiver"]["allow_open_relay"] = True
        r.write_config()
        res = r.relayctl("config", "check")
        assert "warning:" in res.stderr and "receiver.allow_open_relay" in res.stderr, res.stderr
        res = subprocess.run([RECEIVER, "-c", r.config_path, "--check"], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0 and "event=config_warning" in res.stderr and "open relay" in res.stderr
    with Relay({"receiver": {"client_networks": []}}, db=False) as r:
        res = r.relayctl("config", "check", check=False)
        assert res.returncode == 1 and "receiver.client_networks: expected at least one network" in res.stderr


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("relayctl_hostile: needs root (skipped)")
        sys.exit(0)
    run_tests([test_daemons_drop_to_user_and_requeue_as_root_stays_readable,
               test_run_as_root_becomes_user_keeping_only_the_bind_capability,
               test_first_use_as_root_never_creates_the_spool,
               test_planted_symlinks_are_not_followed_and_escapes_are_shown_escaped,
               test_receiver_does_not_open_provider_credentials,
               test_config_check_refuses_an_open_relay_and_warns_when_acknowledged])
