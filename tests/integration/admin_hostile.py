#!/usr/bin/python3
"""relayctl's arguments and -c file as a hostile or careless operator gives
them (no daemon, no database; a few seconds).

- Usage errors exit 2 and name the bad argument: `-c ""` (was: silently
  /etc/relay/relay.yaml), an unknown global option, an option given twice
  with two values (was: the last one won), a malformed queue id ('../x', a
  path, unicode, a control byte shown escaped, one bad id among 10,000;
  was: exit 1 after loading the config), a command group alone.
- Failures exit 1 and name the file: -c a FIFO (must not hang), a
  directory, a missing file, /dev/zero, a file over 1 MB, a file with a
  second YAML document.
- A reader that goes away (`relayctl config keys | head -1`): exit 0 and
  nothing on stderr, whether SIGPIPE is inherited as default or ignored
  (was: abort with 'terminate called ... Broken pipe' when ignored).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from relaytest import RELAYCTL, run_tests  # noqa: E402


def ctl(*args, timeout=10):
    return subprocess.run([RELAYCTL, *args], capture_output=True, text=True, timeout=timeout)


DIRS = []


def config_dir():
    d = tempfile.mkdtemp(prefix="relay-admin-hostile-")
    DIRS.append(d)
    spool = os.path.join(d, "spool")
    for s in ("new", "tmp", "data", "active", "deferred", "hold", "failed", "corrupt"):
        os.makedirs(os.path.join(spool, s))
    path = os.path.join(d, "relay.yaml")
    with open(path, "w") as f:
        f.write(f"spool: {{directory: {spool}}}\nproviders:\n  outbox: {{type: outbox, directory: {d}/out}}\n")
    return d, path


def test_usage_errors_exit_2_and_name_the_argument():
    d, cfg = config_dir()
    res = ctl("-c", "", "config", "check")
    assert res.returncode == 2 and "-c needs a file name" in res.stderr, res
    res = ctl("--config=", "config", "check")
    assert res.returncode == 2 and "needs a file name" in res.stderr, res
    res = ctl(f"-c{cfg}", "config", "check")
    assert res.returncode == 0 and res.stdout.startswith("OK: "), res
    res = ctl("-c", cfg, "--", "config", "check")
    assert res.returncode == 0, res
    res = ctl("--bogus\x1b[31m", "queue", "list")
    assert res.returncode == 2 and "unknown option --bogus\\x1b[31m" in res.stderr, res
    res = ctl("-c", cfg, "queue", "list", "--state", "new", "--state", "hold")
    assert res.returncode == 2 and "option --state given twice ('new' and 'hold')" in res.stderr, res
    assert ctl("-c", cfg, "queue", "list", "--json", "--json").returncode == 0
    res = ctl("-c", cfg, "queue")
    assert res.returncode == 2 and "'queue' needs a subcommand" in res.stderr and "queue list" in res.stderr, res
    for bad in ("../../etc/passwd", "/etc/passwd", "a/b", "é日本", "ALL/", "0" * 19 + "/"):
        res = ctl("-c", cfg, "queue", "hold", bad)
        assert res.returncode == 2 and f"'{bad}' is not a queue id" in res.stderr, (bad, res)
        res = ctl("-c", cfg, "queue", "show", bad)
        assert res.returncode == 2 and f"'{bad}' is not a queue id" in res.stderr, (bad, res)
    res = ctl("-c", cfg, "queue", "delete", "ab\x01c")
    assert res.returncode == 2 and "'ab\\x01c' is not a queue id" in res.stderr, res
    ids = ["0" * 20] * 9999 + ["../x"]
    res = ctl("-c", cfg, "queue", "hold", *ids)
    assert res.returncode == 2 and "'../x' is not a queue id (ALL stands alone)" in res.stderr, res
    # A well-formed id that is not there is a failure, not a usage error.
    res = ctl("-c", cfg, "queue", "show", "0" * 20)
    assert res.returncode == 1 and "not in the spool" in res.stderr, res
    # Ids are checked before the config: a usage error even with a wrong -c.
    res = ctl("-c", "/nonexistent/relay.yaml", "queue", "release", "../x")
    assert res.returncode == 2, res


def test_config_file_that_is_not_one_fails_fast_with_its_name():
    d, cfg = config_dir()
    fifo = os.path.join(d, "fifo.yaml")
    os.mkfifo(fifo)
    big = os.path.join(d, "big.yaml")
    with open(big, "w") as f:
        f.truncate(1 << 30)  # sparse: nothing is read
    two = os.path.join(d, "two.yaml")
    with open(cfg) as src, open(two, "w") as f:
        f.write(src.read() + "---\nlog: {level: debug}\n")
    cases = [(fifo, "not a regular file"), (d, "is a directory"), ("/nonexistent/r.yaml", "No such file"),
             ("/dev/zero", "not a regular file"), (big, "is larger than 1 MB"),
             (two, "two.yaml:4: a second YAML document starts here")]
    for path, why in cases:
        t0 = time.time()
        res = ctl("-c", path, "config", "check")
        assert res.returncode == 1 and why in res.stderr, (path, res)
        assert time.time() - t0 < 5, path


def test_a_reader_that_goes_away_ends_the_command_quietly():
    for ignore in (False, True):
        def pre():
            signal.signal(signal.SIGPIPE, signal.SIG_IGN if ignore else signal.SIG_DFL)
        p = subprocess.Popen([RELAYCTL, "config", "keys"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=pre)
        p.stdout.close()  # `| head -0`
        err = p.stderr.read()
        rc = p.wait(10)
        assert rc == 0 and err == b"", (ignore, rc, err)
    # The shell's own pipe: the same, and head gets its line.
    out = subprocess.run(["bash", "-o", "pipefail", "-c", f"'{RELAYCTL}' config keys | head -1"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stdout.startswith("KEY") and out.stderr == "", out


if __name__ == "__main__":
    try:
        run_tests([test_usage_errors_exit_2_and_name_the_argument,
                   test_config_file_that_is_not_one_fails_fast_with_its_name,
                   test_a_reader_that_goes_away_ends_the_command_quietly])
    finally:
        for d in DIRS:
            shutil.rmtree(d, ignore_errors=True)
