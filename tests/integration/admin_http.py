#!/usr/bin/python3
"""admin_http (issue 12 item 1): `relayctl run` serves GET /metrics and
GET /healthz for the receiver and all dispatchers of the host.

- Pipeline: mail delivered to the outbox, mail refused at MAIL (sender not
  allowed), mail failed permanently by an smtp provider whose upstream
  (Postfix smtp-sink -f MAIL) answers 5xx: the counters move by exactly
  those amounts, the failed entry shows in relay_queue_entries, the output
  passes `promtool check metrics`; a kill -9'd dispatcher is restarted,
  counted in relay_process_restarts_total, and no counter goes down.
- /healthz: 503 naming the spool when a file cannot be created in tmp/,
  200 again after; "ok (delivery paused)" with the pause marker; 503 when
  no dispatcher runs (RELAY_DISPATCHER_BIN=/bin/false: every dispatcher
  dies at once); 503 naming the provider when its upstream rejects the
  credentials (aiosmtpd upstream, 535).
  As root (CI), relay runs under `user: nobody`, because root ignores mode
  bits: the chmod that makes tmp/ unwritable must bind the process that
  checks it. As another user, relay runs as that user.
- Hostile HTTP: unknown path 404, POST 405 with Allow, a 1 MB header is
  refused (431/413 or a close) without hurting the next request, a slow
  client sending a partial request neither blocks /healthz nor the
  supervisor's SIGTERM and is dropped by the server's timeout; a corrupt
  metrics file in the slot directory does not break the scrape.
"""
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import FAST, SmtpSink, Upstream, message, send, smtp_provider  # noqa: E402
from relayctl_common import by_name, children_of  # noqa: E402
from relaytest import RELAYCTL, Relay, _merge, free_port, run_tests, wait_for, wait_port  # noqa: E402

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def http(port, path, method="GET", timeout=5):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def scrape(port):
    status, body, headers = http(port, "/metrics")
    assert status == 200, (status, body)
    assert headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"), headers
    return body


def samples(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"bad exposition line {line!r}"
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def promtool_ok(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    # relay_client_secret_days_left keeps its agreed name (docs and alert
    # rules use it); promtool's unit lint about "days" is the one accepted
    # remark. A parse error or any other lint fails.
    remarks = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    other = [l for l in remarks if 'relay_client_secret_days_left use base unit "seconds" instead of "days"' not in l]
    assert not other, "promtool: " + "\n".join(remarks)


def relay_with_http(overrides=None, unprivileged=False):
    r = Relay(FAST, db=False)
    r.http_port = free_port()
    _merge(r.cfg, {"admin_http": {"listen": f"127.0.0.1:{r.http_port}"}, "dispatcher": {"processes": 2}})
    _merge(r.cfg, overrides or {})
    os.makedirs(r.outbox, exist_ok=True)
    if unprivileged and os.getuid() == 0:
        nobody = pwd.getpwnam("nobody")
        r.cfg["user"] = "nobody"
        os.chmod(r.dir, 0o755)
        for d in (r.spool, r.outbox):
            os.makedirs(d, exist_ok=True)
            os.chown(d, nobody.pw_uid, nobody.pw_gid)
    r.write_config()
    return r


def start(r, env=None):
    if env:
        os.environ.update(env)
    try:
        p = r.start([RELAYCTL, "run", "-c", r.config_path], "run", r.http_port)
        wait_port(r.port)
    finally:
        for k in env or {}:
            del os.environ[k]
    return p


def healthz(r):
    return http(r.http_port, "/healthz")[:2]


def wait_value(r, key, want, timeout=15):
    last = [None]

    def ok():
        last[0] = samples(scrape(r.http_port)).get(key, 0)
        return last[0] == want
    try:
        wait_for(ok, timeout, interval=0.2, what=key)
    except AssertionError:
        raise AssertionError(f"{key} = {last[0]}, expected {want}")


def test_pipeline_counters_and_promtool():
    sink = SmtpSink().start(["-f", "MAIL"])
    overrides = {"senders": {"allowed": ["@example.com"]},
                 "providers": {"sink": smtp_provider(sink.port)},
                 "routes": [{"sender": "bad@example.com", "provider": "sink"}]}
    with relay_with_http(overrides) as r:
        try:
            p = start(r)
            wait_for(lambda: healthz(r) == (200, "ok\n"), 15, what="healthz ok")
            # start() made one SMTP connection (wait_port): wait until it is published
            wait_value(r, 'relay_smtp_connections_total{result="accepted",reason="ok"}', 1)
            before = samples(scrape(r.http_port))
            assert before.get('relay_process_up{role="receiver",index="1"}') == 1, before
            assert before.get('relay_process_up{role="dispatcher",index="2"}') == 1, before
            for i in range(2):
                send(r.port, "app@example.com", ["to@example.org"], message("app@example.com", ["to@example.org"], f"ok {i}"))
            send(r.port, "bad@example.com", ["to@example.org"], message("bad@example.com", ["to@example.org"], "5xx"))
            with smtplib.SMTP("127.0.0.1", r.port, timeout=10) as s:
                s.ehlo("client.test")
                code, _ = s.mail("evil@elsewhere.test")
                assert code == 550, code
            # 2 delivered + the bounce (RFC 3464 DSN) to bad@example.com for the 5xx
            wait_for(lambda: len(r.outbox_files()) == 3 and len(r.spool_entries("failed")) == 1, 20, what="delivered+failed")
            dsns = [f for f in r.outbox_files() if b"report-type=delivery-status" in open(f, "rb").read()]
            assert len(dsns) == 1, r.outbox_files()

            def delta(key):
                return samples(scrape(r.http_port)).get(key, 0) - before.get(key, 0)
            want = {
                'relay_smtp_messages_total{result="accepted",reason="ok"}': 3,
                'relay_smtp_messages_total{result="refused",reason="sender_not_allowed"}': 1,
                'relay_smtp_connections_total{result="accepted",reason="ok"}': 4,
                'relay_deliveries_total{provider="outbox",outcome="sent"}': 3,
                'relay_deliveries_total{provider="sink",outcome="permanent"}': 1,
                'relay_delivery_duration_seconds_count{provider="outbox"}': 3,
                'relay_delivery_duration_seconds_bucket{provider="outbox",le="+Inf"}': 3,
            }
            wait_for(lambda: all(delta(k) == v for k, v in want.items()), 10, interval=0.3,
                     what="counters: " + str({k: delta(k) for k in want}))
            now = samples(scrape(r.http_port))
            assert now['relay_queue_entries{state="failed"}'] == 1, now
            assert now['relay_queue_oldest_age_seconds{state="failed"}'] >= 0
            assert now["relay_delivery_paused"] == 0
            assert now.get('relay_deliveries_total{provider="outbox",outcome="permanent"}', 0) == 0
            text = scrape(r.http_port)
            promtool_ok(text)
            # A dispatcher killed: restarted into its slot, counted, nothing goes down.
            d = by_name(children_of(p.pid), "relay-dispatcher")[0]
            os.kill(d, signal.SIGKILL)
            wait_value(r, 'relay_process_restarts_total{role="dispatcher"}', 1)
            wait_for(lambda: healthz(r) == (200, "ok\n"), 15, what="healthz ok after restart")
            after = samples(scrape(r.http_port))
            for k, v in now.items():
                if k.endswith("_total") or "_total{" in k:
                    assert after.get(k, 0) >= v, f"{k} went down: {v} -> {after.get(k)}"
            assert after['relay_process_up{role="dispatcher",index="1"}'] == 1
            assert after['relay_process_up{role="dispatcher",index="2"}'] == 1
        finally:
            sink.stop()


def test_healthz_spool_pause_and_hostile_http():
    with relay_with_http(unprivileged=True) as r:
        p = start(r)
        wait_for(lambda: healthz(r) == (200, "ok\n"), 15, what="healthz ok")
        tmp = os.path.join(r.spool, "tmp")
        os.chmod(tmp, 0o555)
        try:
            code, text = healthz(r)
            assert code == 503 and text == "spool not writable: tmp/: Permission denied\n", (code, text)
        finally:
            os.chmod(tmp, 0o755)
        assert healthz(r) == (200, "ok\n")
        os.makedirs(os.path.join(r.spool, "control"), exist_ok=True)
        marker = os.path.join(r.spool, "control", "dispatch-paused")
        open(marker, "w").close()
        assert healthz(r) == (200, "ok (delivery paused)\n"), healthz(r)
        assert samples(scrape(r.http_port))["relay_delivery_paused"] == 1
        os.unlink(marker)
        # Hostile HTTP.
        assert http(r.http_port, "/nope")[0] == 404
        assert http(r.http_port, "/metrics/../etc")[0] == 404
        code, _, headers = http(r.http_port, "/metrics", method="POST")
        assert code == 405 and "GET" in headers.get("Allow", ""), (code, headers)
        assert http(r.http_port, "/healthz", method="DELETE")[0] == 405
        big = socket.create_connection(("127.0.0.1", r.http_port), timeout=5)
        try:
            big.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        except OSError:
            pass  # the server may close while we still send
        reply = b""
        try:
            reply = big.recv(100)
        except OSError:
            pass
        big.close()
        assert reply == b"" or re.match(rb"HTTP/1\.[01] (431|413|414|400)", reply), reply
        slow = socket.create_connection(("127.0.0.1", r.http_port), timeout=30)
        slow.sendall(b"GET /metr")
        t0 = time.time()
        assert healthz(r) == (200, "ok\n")
        assert time.time() - t0 < 2, "healthz waited for the slow client"
        # A corrupt metrics file in the slot directory.
        mdir = os.path.join(r.spool, "run", "metrics")
        with open(os.path.join(mdir, "dispatcher-7"), "wb") as f:
            f.write(b"# relay metrics 1\nc relay_deliveries_total{provider=\"x\n 1\n\xff\xfe garbage {{{\n")
        with open(os.path.join(mdir, "receiver-3"), "wb") as f:
            f.write(os.urandom(4096))
        text = scrape(r.http_port)
        promtool_ok(text)
        s = samples(text)
        assert s['relay_metrics_files_skipped{what="file"}'] >= 1, s
        assert s['relay_metrics_files_skipped{what="line"}'] >= 2, s
        # The slow client is dropped by the server's 10 s timeout.
        slow.settimeout(20)
        try:
            got = slow.recv(100)
        except socket.timeout:
            got = None
        assert got is not None and (got == b"" or got.startswith(b"HTTP/1.1 408")), got
        assert time.time() - t0 < 16, "slow client was not dropped"
        # The supervisor stops promptly with a slow client connected.
        slow2 = socket.create_connection(("127.0.0.1", r.http_port), timeout=5)
        slow2.sendall(b"GET /")
        os.kill(p.pid, signal.SIGTERM)
        assert p.wait(20) == 0
        r.procs.remove(p)
        slow2.close()
        slow.close()


def test_healthz_no_dispatcher():
    with relay_with_http() as r:
        start(r, {"RELAY_DISPATCHER_BIN": "/bin/false"})
        wait_for(lambda: samples(scrape(r.http_port)).get('relay_process_up{role="receiver",index="1"}') == 1, 15,
                 what="receiver up")
        code, text = healthz(r)
        assert code == 503 and text == "no dispatcher running\n", (code, text)
        s = samples(scrape(r.http_port))
        assert s['relay_process_up{role="dispatcher",index="1"}'] == 0
        assert s['relay_process_up{role="dispatcher",index="2"}'] == 0


def test_healthz_provider_credentials_rejected():
    up = Upstream(args=["--require-auth", "u:right"])
    overrides = {"providers": {"upstream": smtp_provider(up.port, username="u", password="wrong")},
                 "default_provider": "upstream", "dispatcher": {"processes": 1}}
    with relay_with_http(overrides) as r:
        up.start()
        try:
            start(r)
            wait_for(lambda: healthz(r) == (200, "ok\n"), 15, what="healthz ok")
            send(r.port, "app@example.com", ["to@example.org"], message("app@example.com", ["to@example.org"], "auth"))
            wait_for(lambda: healthz(r)[0] == 503, 20, what="healthz 503")
            code, text = healthz(r)
            assert text.startswith("provider upstream fails authentication or configuration: "), text
            assert "credentials" in text and text.count("\n") == 1, text
            s = samples(scrape(r.http_port))
            assert s['relay_provider_config_error{provider="upstream"}'] == 1, s
            assert s['relay_deliveries_total{provider="upstream",outcome="transient"}'] >= 1, s
        finally:
            up.stop()


def test_healthz_storage_low_follows_reload():
    """Below receiver.limits.min_free_space the receiver answers MAIL 452
    4.3.1 and /healthz says so (503, a load balancer takes the host out);
    a reload that lowers the limit clears both."""
    with relay_with_http({"receiver": {"limits": {"min_free_space": "1TB"}}}) as r:
        os.makedirs(r.spool, exist_ok=True)
        st = os.statvfs(r.spool)
        if st.f_bavail * st.f_frsize >= 1 << 40:
            print("SKIP: more than 1 TB free here")
            return
        start(r)
        wait_for(lambda: healthz(r)[0] == 503 and "short of space" in healthz(r)[1], 15, what="healthz 503")
        code, text = healthz(r)
        assert text.startswith("spool short of space: ") and text.endswith(
            " MB free, receiver.limits.min_free_space is 1048576 MB (MAIL is answered 452 4.3.1)\n"), text
        with smtplib.SMTP("127.0.0.1", r.port, timeout=10) as c:
            c.ehlo("client.test")
            code, reply = c.mail("app@example.com")
            assert code == 452 and reply.startswith(b"4.3.1 "), (code, reply)
        r.cfg["receiver"]["limits"]["min_free_space"] = "1MB"
        r.write_config()
        r.relayctl("reload", "--timeout", "20s")
        wait_for(lambda: healthz(r) == (200, "ok\n"), 15, what="healthz ok after the reload")
        time.sleep(1.1)  # the receiver reads the free space at most once a second
        send(r.port, "app@example.com", ["to@example.org"], message("app@example.com", ["to@example.org"], "space"))


if __name__ == "__main__":
    run_tests([test_pipeline_counters_and_promtool, test_healthz_spool_pause_and_hostile_http,
               test_healthz_no_dispatcher, test_healthz_provider_credentials_rejected,
               test_healthz_storage_low_follows_reload])
