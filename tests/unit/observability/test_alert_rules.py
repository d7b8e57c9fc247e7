"""infra/prometheus/alerts.yml: well-formed rules over metrics the worker really exports.

The metric-name check always runs (it needs nothing but Python); the promtool checks need the
pinned promtool that `make test` builds once into the cache, and fail, never skip, without it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamapp.observability.metrics import Metrics

REPO = Path(__file__).resolve().parents[3]
RULES = REPO / "infra/prometheus/alerts.yml"
RULE_TESTS = REPO / "infra/prometheus/alerts_test.yml"
PROMTOOL = REPO / "infra/prometheus/promtool.py"
ALERTS = {
    "StreamappConsumerLagGrowing",
    "StreamappFreshnessOverSLO",
    "StreamappDLQRate",
    "StreamappCircuitBreakerOpen",
    "StreamappSinkCommitsFailing",
    "StreamappGapDetected",
    "StreamappWorkerRestarting",
    "StreamappSourceSlotLagHigh",
    "StreamappSourceSlotLagGrowing",
}

# PromQL words that look like metric names: operators, modifiers, literals
KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"bool", "offset", "inf", "nan"}
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, aggregations, label names,
    strings, durations and keywords left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values, format strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery durations
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    words = re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?", text)
    return {m[1] for m in words if m[2] is None and m[1].lower() not in KEYWORDS}


def exported() -> set[str]:
    """Every series name a worker's /metrics can hold (``_total``, ``_bucket``... included)."""
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        for suffix in ("_total", "_created", "_bucket", "_count", "_sum"):
            names.add(family.name + suffix)
    return names


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            "max by (slot) (streamapp_source_slot_lag_bytes) > 1073741824",
            {"streamapp_source_slot_lag_bytes"},
        ),
        (
            'sum by (topic) (rate(x_total{topic=~"a.*", job="w"}[5m])) and on (job) y',
            {"x_total", "y"},
        ),
        ("changes(process_start_time_seconds[15m]) > 2", {"process_start_time_seconds"}),
        ("histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))", {"h_bucket"}),
        ("a offset 5m > bool 1e9 or vector(0)", {"a"}),
        ("min_over_time(g[30m:1m]) > Inf", {"g"}),
    ],
)
def test_metric_names_are_found_in_expressions(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_every_expression_uses_metrics_the_worker_exports() -> None:
    known = exported()
    assert "process_start_time_seconds" in known  # the process collector is registered
    for rule in rules():
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, f"{rule['alert']}: {sorted(unknown)} not in observability/metrics.py"


def test_a_misspelt_metric_is_caught() -> None:
    unknown = metric_names("max by (slot) (streamapp_source_slot_lag) > 1") - exported()
    assert unknown == {"streamapp_source_slot_lag"}


def test_every_alert_is_there_with_severity_summary_and_runbook() -> None:
    assert {r["alert"] for r in rules()} == ALERTS
    for rule in rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["runbook"].strip(), rule["alert"]


def test_every_alert_has_a_promtool_unit_test_that_fires_it() -> None:
    doc = yaml.safe_load(RULE_TESTS.read_text())
    fired = {
        case["alertname"]
        for test in doc["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for test in doc["tests"]
        for case in test.get("alert_rule_test", [])
        if not case.get("exp_alerts")
    }
    assert fired == ALERTS and quiet == ALERTS


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = subprocess.run(
        [sys.executable, str(PROMTOOL), "--installed"], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        pytest.fail(
            "promtool is not installed: `make check-alerts` (or `make test`) builds it once "
            f"into the cache ({found.stderr.strip()})",
            pytrace=False,
        )
    return subprocess.run(
        [found.stdout.strip(), *args], capture_output=True, text=True, check=False, cwd=REPO
    )


def test_promtool_check_rules_accepts_the_rules() -> None:
    done = _promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    done = _promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
