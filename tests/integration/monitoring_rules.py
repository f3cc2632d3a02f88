#!/usr/bin/python3
"""contrib/monitoring is usable as shipped: the Prometheus alert rules pass
`promtool check rules`, their unit tests (relay-alerts.test.yml: each alert
fires on the series it is about, at the time it should, and stays quiet
otherwise) pass `promtool test rules`, and the Grafana dashboard is JSON
whose every query is valid PromQL over relay's metric names. Each check is
also run on a broken copy to show that it fails. When docs/metrics.md
exists (the metrics engineer's list), every relay_* name used here must be
documented there. promtool comes from Debian's `prometheus` package
(contrib/install-deps.sh).
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

from relaytest import SRC, run_tests

MON = os.path.join(SRC, "contrib", "monitoring")
RULES = os.path.join(MON, "relay-alerts.yml")
DASHBOARD = os.path.join(MON, "relay-dashboard.json")
# The metric names of the metrics endpoint (admin_http.listen /metrics): the list
# and docs/metrics.md.
METRICS = {
    "relay_smtp_connections_total", "relay_smtp_messages_total", "relay_queue_entries",
    "relay_queue_oldest_age_seconds", "relay_deliveries_total", "relay_delivery_duration_seconds",
    "relay_token_requests_total", "relay_token_failures_total", "relay_client_secret_days_left",
    "relay_journal_backlog_records", "relay_process_up", "relay_process_restarts_total", "relay_delivery_paused",
    # added by the metrics engineer (docs/metrics.md):
    "relay_provider_config_error", "relay_metrics_files_skipped",
}


def promtool(*args, cwd=None):
    exe = shutil.which("promtool")
    assert exe, "promtool not found: install Debian's prometheus package (contrib/install-deps.sh)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def copy_monitoring():
    d = tempfile.mkdtemp(prefix="relay-mon-")
    for name in os.listdir(MON):
        shutil.copy(os.path.join(MON, name), d)
    return d


def edit(path, old, new):
    with open(path) as f:
        text = f.read()
    assert old in text, f"{old!r} not in {path}"
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


def metric_names(expr):
    """relay_* names in a PromQL expression (histogram series mapped to the family)."""
    names = set(re.findall(r"\brelay_[a-z_]+", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", n) if n.startswith("relay_delivery_duration_seconds") else n
            for n in names}


def dashboard_exprs(dash):
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["expr"]))
    return out


def test_rules_check():
    r = promtool("check", "rules", RULES)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout, r.stdout
    d = copy_monitoring()
    try:
        edit(os.path.join(d, "relay-alerts.yml"), "relay_client_secret_days_left < 14", "relay_client_secret_days_left < ")
        r = promtool("check", "rules", os.path.join(d, "relay-alerts.yml"))
        assert r.returncode != 0, "promtool accepted a broken expression"
    finally:
        shutil.rmtree(d)


def test_rules_unit_tests():
    r = promtool("test", "rules", "relay-alerts.test.yml", cwd=MON)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    # Every alert of the rules file is exercised by at least one test case.
    with open(RULES) as f:
        alerts = set(re.findall(r"^\s+- alert: (\w+)", f.read(), re.M))
    with open(os.path.join(MON, "relay-alerts.test.yml")) as f:
        tested = set(re.findall(r"alertname: (\w+)", f.read()))
    untested = alerts - tested
    assert not untested, f"alerts without a promtool test: {sorted(untested)}"
    # A rule that drifts (threshold 14 -> 5 days) fails its test.
    d = copy_monitoring()
    try:
        edit(os.path.join(d, "relay-alerts.yml"), "relay_client_secret_days_left < 14", "relay_client_secret_days_left < 5")
        r = promtool("test", "rules", "relay-alerts.test.yml", cwd=d)
        assert r.returncode != 0 and "RelayClientSecretExpiresSoon" in r.stdout + r.stderr, r.stdout
    finally:
        shutil.rmtree(d)


def check_dashboard_queries(exprs, workdir):
    """Runs every query through promtool as a recording rule (Grafana's
    $__rate_interval becomes 5m). Returns promtool's result."""
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, (_, e) in enumerate(exprs):
        lines.append(f"      - record: dashboard:query{i}")
        lines.append("        expr: " + json.dumps(e.replace("$__rate_interval", "5m")))
    path = os.path.join(workdir, "dashboard-queries.yml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return promtool("check", "rules", path)


def test_dashboard():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    assert dash["title"] and dash["uid"] and dash["panels"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    exprs = dashboard_exprs(dash)
    assert len(exprs) >= 10, exprs
    used = set()
    for title, e in exprs:
        names = metric_names(e)
        assert names, f"panel {title!r} queries no relay metric: {e}"
        unknown = names - METRICS
        assert not unknown, f"panel {title!r} uses unknown metrics {unknown}"
        used |= names
    assert used == METRICS, f"metrics without a panel: {sorted(METRICS - used)}"
    d = tempfile.mkdtemp(prefix="relay-dash-")
    try:
        r = check_dashboard_queries(exprs, d)
        assert r.returncode == 0, r.stdout + r.stderr
        r = check_dashboard_queries(exprs + [("broken", "sum by (provider (rate(relay_deliveries_total[5m]))")], d)
        assert r.returncode != 0, "a broken query passed the check"
    finally:
        shutil.rmtree(d)


def test_names_match_metrics_doc():
    with open(RULES) as f:
        used = metric_names(f.read())
    with open(DASHBOARD) as f:
        used |= metric_names(f.read())
    assert used <= METRICS, sorted(used - METRICS)
    doc = os.path.join(SRC, "docs", "metrics.md")
    if not os.path.exists(doc):
        print("note: docs/metrics.md not present; names checked against the issue's list only")
        return
    with open(doc) as f:
        documented = metric_names(f.read())
    assert used <= documented, f"used but not in docs/metrics.md: {sorted(used - documented)}"


def test_install_deps_has_promtool():
    with open(os.path.join(SRC, "contrib", "install-deps.sh")) as f:
        assert re.search(r"^\s+.*\bprometheus\b", f.read(), re.M), "prometheus missing from install-deps.sh PKGS"


if __name__ == "__main__":
    run_tests([test_rules_check, test_rules_unit_tests, test_dashboard, test_names_match_metrics_doc,
               test_install_deps_has_promtool])
