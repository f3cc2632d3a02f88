#!/usr/bin/python3
"""contrib/systemd/relay.service is valid and sandboxed (issue 9, least
privilege) and runs relayctl as a notify service (issue 13: Type=notify,
NotifyAccess=main, a watchdog, ExecReload through `relayctl reload`, a
bounded number of restarts): `systemd-analyze verify` finds nothing (the programs are
replaced by /bin/true: they are not installed here), the sandbox keys are
present, and `systemd-analyze security --offline` rates the unit at most
2.5 (the unsandboxed unit rated 7.3). Skips when systemd-analyze is missing.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from relaytest import SRC, run_tests

UNIT = os.path.join(SRC, "contrib", "systemd", "relay.service")


def unit_copy(d):
    with open(UNIT) as f:
        text = f.read()
    path = os.path.join(d, "relay.service")
    with open(path, "w") as f:
        f.write(text.replace("/usr/local/bin/relayctl", "/bin/true"))
    return path, text


def test_verify_and_exposure():
    d = tempfile.mkdtemp(prefix="relay-unit-")
    try:
        path, text = unit_copy(d)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", path], capture_output=True, text=True,
                           timeout=60, cwd=d)
        assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
        for key in ["NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/spool/relay",
                    "PrivateTmp=yes", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "ProtectHome=yes",
                    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "User=relay",
                    "Type=notify", "NotifyAccess=main", "WatchdogSec=", "ExecReload=/usr/local/bin/relayctl reload",
                    "ExecStart=/usr/local/bin/relayctl run", "StartLimitBurst=", "KillMode=mixed"]:
            assert re.search("^" + re.escape(key), text, re.M), f"{key} missing from relay.service"
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", path], capture_output=True, text=True,
                           timeout=60, cwd=d)
        m = re.search(r"Overall exposure level for relay.service: ([0-9.]+)", r.stdout + r.stderr)
        assert m, r.stdout + r.stderr
        print(f"exposure {m.group(1)}")
        assert float(m.group(1)) <= 2.5, r.stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    if not shutil.which("systemd-analyze"):
        print("systemd_unit: SKIPPED: systemd-analyze is not installed (apt-get install systemd); "
              "the unit file was not checked")
        sys.exit(0)
    run_tests([test_verify_and_exposure])
