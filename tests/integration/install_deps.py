#!/usr/bin/python3
"""contrib/install-deps.sh keeps another MTA (issue 13 item 4).

"A Debian 12 with exim4 installed keeps exim4 after the quickstart and the
test command": the dependency step runs in simulation (RELAY_DEPS_SIMULATE=1,
apt-get -s) against a copy of this machine's dpkg status in which exim4 is
installed and postfix is not. Asserted: no `Remv` of anything; the run
command plans no test tool and no postfix; the test command plans no
postfix package but unpacks it. A control shows the fixture is real:
`apt-get -s install postfix` on the same status would remove exim4 (what
the old script's `apt-get -y install postfix` did).

Simulation only: nothing is installed, and no network is used (apt's
package lists must be present; the test is skipped without them).
"""
import os
import re
import subprocess
import tempfile

from relaytest import SRC, run_tests, skip

SCRIPT = os.path.join(SRC, "contrib", "install-deps.sh")
EXIM = ["exim4", "exim4-base", "exim4-config", "exim4-daemon-light"]
DROP = ("postfix", "libuv1-dev", "swaks")
KEEP_FIELDS = ("Package", "Version", "Architecture", "Maintainer", "Provides", "Conflicts", "Replaces", "Breaks",
               "Multi-Arch", "Source", "Installed-Size", "Priority", "Section")


def stanzas(text):
    return [s for s in text.split("\n\n") if s.strip()]


def field(stanza, name):
    m = re.search(rf"^{name}: (.*)$", stanza, re.M)
    return m.group(1) if m else None


def fake_admindir():
    """This machine's dpkg status minus postfix and one runtime and one test
    package (so both commands have something to plan), plus exim4 'install
    ok installed' (its dependencies dropped: only its conflicts matter)."""
    shown = subprocess.run(["apt-cache", "show", "--no-all-versions", *EXIM], capture_output=True, text=True)
    if shown.returncode != 0 or "Package: exim4-daemon-light" not in shown.stdout:
        skip("apt has no package lists with exim4 (run apt-get update)")
    d = tempfile.mkdtemp(prefix="relay-fake-dpkg-")
    for sub in ("updates", "info"):
        os.makedirs(os.path.join(d, sub))
    with open("/var/lib/dpkg/status") as f:
        real = [s for s in stanzas(f.read()) if field(s, "Package") not in DROP]
    fake = []
    for s in stanzas(shown.stdout):
        lines = [ln for ln in s.splitlines() if ln.split(":", 1)[0] in KEEP_FIELDS]
        lines.insert(1, "Status: install ok installed")
        fake.append("\n".join(lines) + "\nDescription: fake exim4 for install_deps.py")
    with open(os.path.join(d, "status"), "w") as f:
        f.write("\n\n".join(real + fake) + "\n")
    return d


def simulate(admindir, mode, tools):
    env = dict(os.environ, RELAY_DEPS_SIMULATE="1", RELAY_DPKG_ADMINDIR=admindir, RELAY_POSTFIX_TOOLS=tools)
    r = subprocess.run(["bash", SCRIPT, mode], capture_output=True, text=True, env=env, timeout=300)
    return r.returncode, r.stdout + r.stderr


def test_exim4_is_kept():
    d = fake_admindir()
    tools = tempfile.mkdtemp(prefix="relay-fake-tools-")
    # Control: installing the postfix package here would replace exim4.
    ctl = subprocess.run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "-o", f"Dir::State::status={d}/status",
                          "install", "--no-install-recommends", "postfix"], capture_output=True, text=True)
    assert re.search(r"^Remv exim4", ctl.stdout, re.M), "fixture: postfix should conflict with exim4\n" + ctl.stdout

    rc, out = simulate(d, "test", tools)
    print(out)
    assert rc == 0, out
    assert not re.search(r"^Remv ", out, re.M), "the test command would remove a package:\n" + out
    assert not re.search(r"^Inst postfix ", out, re.M), "the test command would install the postfix package"
    assert f"would unpack postfix into {tools}" in out, out
    assert re.search(r"^Inst swaks ", out, re.M) and re.search(r"^Inst libuv1-dev ", out, re.M), out

    rc, out = simulate(d, "run", tools)
    print(out)
    assert rc == 0, out
    assert not re.search(r"^Remv ", out, re.M), "the run command would remove a package:\n" + out
    for tool in ("postfix", "swaks", "msmtp", "python3-aiosmtpd", "clang", "doctest-dev", "haproxy", "prometheus"):
        assert not re.search(rf"^Inst {re.escape(tool)} ", out, re.M), f"the run command installs {tool}:\n{out}"
    assert "unpack postfix" not in out
    assert re.search(r"^Inst libuv1-dev ", out, re.M), out


def test_lists_are_split():
    """run = runtime and build only; test = run + test tools (the shell
    arrays, read by bash itself)."""
    out = subprocess.run(["bash", "-c", f'eval "$(sed -n "/^RUN_PKGS=(/,/^)/p;/^TEST_PKGS=(/,/^)/p" {SCRIPT})";'
                                        ' echo "${RUN_PKGS[*]}"; echo "${TEST_PKGS[*]}"'],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    run, test = set(out[0].split()), set(out[1].split())
    assert {"libpq-dev", "postgresql", "libmicrohttpd-dev", "libsystemd-dev", "cmake"} <= run, run
    assert {"swaks", "python3-aiosmtpd", "prometheus", "haproxy", "clang", "doctest-dev"} <= test, test
    assert not (run & test), run & test
    assert "postfix" not in run | test  # handled apart: package or unpacked


if __name__ == "__main__":
    run_tests([test_exim4_is_kept, test_lists_are_split])
