#!/usr/bin/python3
"""contrib/pg-test-server.sh (the quickstart's and the tests' private
PostgreSQL, trust authentication) never follows a planted symlink nor takes
over a directory someone else made, and keeps its directories and socket
private (mode 0700), so no other local user can reach the socket and become
the database superuser (issue 9 item 11). Needs root (skips otherwise).
"""
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile

from relaytest import SRC, run_tests

SCRIPT = os.path.join(SRC, "contrib", "pg-test-server.sh")
NOBODY = pwd.getpwnam("nobody")


def pg(*args):
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, timeout=120)


def test_planted_symlink_is_refused_and_its_target_untouched():
    base = tempfile.mkdtemp(prefix="relay-pgpriv-")
    try:
        victim = os.path.join(base, "victim")
        os.makedirs(victim)
        os.chmod(victim, 0o755)
        planted = os.path.join(base, "relay-quickstart")
        os.symlink(victim, planted)
        for args in (["start", planted], ["start", os.path.join(base, "data"), planted]):
            r = pg(*args)
            assert r.returncode != 0 and "symlink" in r.stderr, r.stderr
            st = os.stat(victim)
            assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o755), "the symlink's target was chowned/chmodded"
            assert os.listdir(victim) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_someone_elses_directory_is_refused():
    base = tempfile.mkdtemp(prefix="relay-pgpriv-")
    try:
        foreign = os.path.join(base, "sock")
        os.makedirs(foreign)
        os.chown(foreign, NOBODY.pw_uid, NOBODY.pw_gid)
        os.chmod(foreign, 0o777)
        r = pg("start", os.path.join(base, "data"), foreign)
        assert r.returncode != 0 and "belongs to uid" in r.stderr, r.stderr
        assert os.stat(foreign).st_uid == NOBODY.pw_uid
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_fresh_directories_are_private():
    base = tempfile.mkdtemp(prefix="relay-pgpriv-")
    os.chmod(base, 0o755)
    d, sock = os.path.join(base, "pg"), os.path.join(base, "sock")
    try:
        r = pg("start", d, sock)
        assert r.returncode == 0, r.stderr
        assert f"host={sock}" in r.stdout
        for p in (d, sock):
            st = os.lstat(p)
            assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700, (p, oct(st.st_mode))
            assert pwd.getpwuid(st.st_uid).pw_name == "postgres"
        st = os.lstat(os.path.join(sock, ".s.PGSQL.5432"))
        assert stat.S_IMODE(st.st_mode) & 0o077 == 0, oct(st.st_mode)
        # Another local user cannot even reach the socket.
        other = subprocess.run(["runuser", "-u", "nobody", "--", "psql", "-X", "-At", "-h", sock, "-U", "postgres",
                                "-d", "postgres", "-c", "select 1"], capture_output=True, text=True, timeout=30)
        assert other.returncode != 0, other.stdout
    finally:
        pg("stop", d)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("pg_private_dir: needs root (skipped)")
        sys.exit(0)
    run_tests([test_planted_symlink_is_refused_and_its_target_untouched, test_someone_elses_directory_is_refused,
               test_fresh_directories_are_private])
