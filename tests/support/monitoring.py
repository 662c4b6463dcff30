"""The monitoring files in ``cluster/monitoring`` as the tests read them: the alert rules, the
dashboard, the PromQL in both, and where ``promtool`` is."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent.parent
MONITORING = ROOT / "cluster" / "monitoring"
RULES = MONITORING / "alerts.yaml"
RULE_TESTS = MONITORING / "alerts.test.yaml"
DASHBOARD = MONITORING / "dashboard.json"

# Grafana's range variables, replaced by a plain range so that promtool can parse the query.
_GRAFANA_RANGES = re.compile(r"\$__(rate_interval|interval|range)")
_SERIES = re.compile(r"\b(ray_[a-z0-9_]+)\b")


def promtool() -> Path | None:
    """``promtool`` from PATH, ``$PROMTOOL``, or unpacked by ``scripts/dev.sh`` under .local/."""
    for candidate in (os.environ.get("PROMTOOL"), shutil.which("promtool")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    local = ROOT / ".local" / "prometheus" / "usr" / "bin" / "promtool"
    return local if local.is_file() else None


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_queries() -> list[str]:
    """Every PromQL query of the dashboard's panels, with Grafana's variables filled in."""
    return [
        _GRAFANA_RANGES.sub("5m", target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def series_names(queries: list[str]) -> set[str]:
    """The exported series (``ray_...``) that these queries read."""
    return {name for query in queries for name in _SERIES.findall(query)}


def queried_series() -> set[str]:
    """Every series that the alert rules or the dashboard read."""
    return series_names([r["expr"] for r in rules()] + dashboard_queries())
