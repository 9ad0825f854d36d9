"""Prometheus rules: promtool accepts them and their unit tests pass, covering every alert both ways."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROM_DIR = Path(__file__).resolve().parents[2] / "grafana" / "prometheus"
RULES = PROM_DIR / "rules.yml"
RULES_TEST = PROM_DIR / "rules_test.yml"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus; scripts/test does it as root)")
    return path


def test_promtool_check_rules():
    out = subprocess.run([_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_promtool_rule_unit_tests_pass():
    out = subprocess.run([_promtool(), "test", "rules", str(RULES_TEST)], capture_output=True, text=True,
                         timeout=300, cwd=PROM_DIR)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_is_tested_firing_and_not_firing():
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    cases = [c for t in yaml.safe_load(RULES_TEST.read_text())["tests"] for c in t.get("alert_rule_test", [])]
    firing = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert len(alerts) >= 4
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested not firing"


def test_recording_rules_follow_the_naming_convention_and_are_tested():
    records = [r["record"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "record" in r]
    for name in records:
        level, metric, ops = name.split(":")
        assert level and metric.startswith("hinder_") and ops, name
    tested = {c["expr"] for t in yaml.safe_load(RULES_TEST.read_text())["tests"] for c in t.get("promql_expr_test", [])}
    lost = [r for r in records if "lost_seconds" in r]
    assert {"app:hinder_lost_seconds:rate1h", "site:hinder_lost_seconds:rate1h",
            "department:hinder_lost_seconds:rate1h"} <= set(lost)
    assert set(lost) <= tested


def test_example_prometheus_config_is_valid_and_loads_the_rules():
    config = PROM_DIR / "prometheus.yml"
    out = subprocess.run([_promtool(), "check", "config", str(config)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert yaml.safe_load(config.read_text())["rule_files"] == ["rules.yml"]
