"""The applications dashboard's rates per hour of use give exact figures: its queries run in promtool's evaluator.

Two collector replicas export the same counters (``max without (instance, pod)`` keeps one); over the hour
asked for, sap-gui is used 100 h and crashes 60 times, excel is used 50 h and never crashes, teams crashes but
reports no use (no rate: nothing to divide by). Network outages are not an application's lost time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

BOARD = Path(__file__).resolve().parents[2] / "grafana" / "dashboards" / "applications.json"
LABELS = 'site="Paris",department="Finance"'


def _expr(title: str) -> str:
    (panel,) = [p for p in json.loads(BOARD.read_text())["panels"] if p["title"] == title]
    return panel["targets"][0]["expr"].replace("$site", ".*").replace("$department", ".*").replace("$__range", "1h")


def _series(name: str, labels: str, per_minute: float) -> list[dict]:
    return [{"series": f'{name}{{{labels},{LABELS},instance="{i}"}}', "values": f"0+{per_minute}x60"}
            for i in ("a", "b")]


def _run(tmp_path: Path, cases: list[tuple[str, list[tuple[str, float]]]]) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus; scripts/test does it as root)")
    (tmp_path / "none.yml").write_text("groups: []\n")
    series = [*_series("hinder_app_focus_seconds_total", 'app="sap-gui"', 6000),
              *_series("hinder_app_focus_seconds_total", 'app="excel"', 3000),
              *_series("hinder_disruptions_total", 'type="crash",app="sap-gui",os="windows"', 1),
              *_series("hinder_disruptions_total", 'type="crash",app="teams",os="windows"', 1),
              *_series("hinder_lost_seconds_total", 'type="crash",app="sap-gui"', 60),
              *_series("hinder_lost_seconds_total", 'type="hang",app="excel"', 60),
              *_series("hinder_lost_seconds_total", 'type="connectivity_loss",app="sap-gui"', 600)]
    test = {"rule_files": ["none.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series,
        "promql_expr_test": [{"expr": expr, "eval_time": "60m",
                              "exp_samples": [{"labels": f'{{app="{app}"}}', "value": value} for app, value in want]}
                             for expr, want in cases]}]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    return subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)


def test_hours_of_use_and_rates_per_hour_of_use_are_exact(tmp_path):
    out = _run(tmp_path, [
        (_expr("Hours of use per application (range)"), [("sap-gui", 100), ("excel", 50)]),
        # 60 crashes in 100 h of use; excel used and never crashed: 0, not a gap
        (_expr("Crashes per 100 h of use (range)"), [("sap-gui", 60), ("excel", 0)]),
        # sap-gui: 60 min lost to crashes in 100 h = 0.6 min per hour; excel: 60 min to hangs in 50 h = 1.2
        (_expr("Lost minutes per hour of use (range)"), [("sap-gui", 0.6), ("excel", 1.2)]),
    ])
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_expected_figures_would_catch_a_wrong_rate(tmp_path):
    out = _run(tmp_path, [(_expr("Crashes per 100 h of use (range)"), [("sap-gui", 120), ("excel", 0)])])
    assert out.returncode != 0 and "exp" in out.stdout + out.stderr
