"""Alert rules and the Grafana dashboard against the real promtool (Debian's `prometheus` package):
the rules parse and pass their unit tests; every dashboard query parses as PromQL; every metric the
rules and the dashboard name exists in the server's catalogue (a renamed metric fails here)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tinyfleet.server.metrics import METRICS

REPO = Path(__file__).resolve().parents[2]
PROM = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "tinyfleet.json"
_NAME = re.compile(r"\btinyfleet_[a-z0-9_]+")


def _promtool(*args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail("promtool not found: `make setup` installs Debian's prometheus package")
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def _known(name: str) -> bool:
    if name in METRICS:
        return True
    for suffix in ("_bucket", "_count", "_sum", "_created"):
        base = name.removesuffix(suffix)
        if base != name and METRICS.get(base, ("",))[0] == "histogram":
            return True
    return False


def _queries() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]


def test_alert_rules_pass_promtool() -> None:
    r = _promtool("check", "rules", "rules.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    r = _promtool("test", "rules", "rules_test.yml")
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    rules = yaml.safe_load((PROM / "rules.yml").read_text())
    tested = (PROM / "rules_test.yml").read_text()
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert f"alertname: {rule['alert']}" in tested, f"{rule['alert']} has no promtool test"
            for name in _NAME.findall(rule["expr"]):
                assert _known(name), f"{rule['alert']}: unknown metric {name}"


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    queries = _queries()
    assert len(queries) >= 15
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:query_{i}", "expr": q} for i, (_t, q) in enumerate(queries)],
            }
        ]
    }
    (tmp_path / "dashboard_rules.yml").write_text(yaml.safe_dump(rules))
    r = _promtool("check", "rules", "dashboard_rules.yml", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    for title, q in queries:
        names = _NAME.findall(q)
        assert names or "up{" in q, f"{title}: queries nothing of tinyfleet"
        for name in names:
            assert _known(name), f"{title}: unknown metric {name}"


def test_dashboard_uses_the_provisioned_datasource() -> None:
    ds = yaml.safe_load(
        (REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uid = ds["datasources"][0]["uid"]
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        assert p["datasource"]["uid"] == uid
        assert all(t["datasource"]["uid"] == uid for t in p["targets"])
