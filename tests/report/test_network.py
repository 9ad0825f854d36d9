"""The connectivity section's network line: outages by interface, Wi-Fi signal bands and blips, from the data set
stored through the real ingest (SQLite and PostgreSQL), and small groups withheld."""

from __future__ import annotations

import pytest

from collector.report.assemble import WeekFacts, _network
from collector.report import fmt
from collector.report.build import build_report
from collector.report.render import render
from tests.report import dataset as ds
from tests.report.conftest import synthetic_week


def test_the_week_network_figures(filled, config):
    n = build_report(filled, config, ds.WEEK)["connectivity"]["network"]
    want = ds.NETWORK
    assert [(k["interface_kind"], k["outages"], k["outage_seconds"]) for k in n["by_interface"]] == want["by_interface"]
    assert (n["wifi_devices"], n["wifi_seconds"], n["blips"], n["blip_devices"]) == \
        (want["wifi_devices"], want["wifi_seconds"], want["blips"], want["blip_devices"])
    assert n["wifi_shares"] == pytest.approx(want["wifi_shares"])
    md = render(build_report(filled, config, ds.WEEK), "md").decode()
    assert ("Network quality. Wi-Fi: 40% of the working time on Wi-Fi had a poor signal (below -80 dBm: connections "
            "break), 20% a fair one (-80 to -67 dBm: calls suffer); outages: 5 wired, 1 on Wi-Fi; 12 blips (drops too "
            "short to count as outages) on 1 device.") in md


def test_a_small_wifi_group_is_withheld():
    f = synthetic_week("2026-W47")
    f.network = [(f"device-0{i}", "signal", "poor", 6, 3600.0) for i in range(4)]  # 4 devices on Wi-Fi, 5 needed
    n = _network(f, 5)
    assert n["wifi_withheld"] and n["wifi_shares"] is None and n["wifi_devices"] == 4
    f.network.append(("device-05", "signal", "good", 6, 3600.0))
    assert _network(f, 5)["wifi_shares"] == {"good": 0.2, "fair": 0.0, "poor": 0.8}


def test_a_week_without_readings_says_so():
    n = _network(WeekFacts(week="2026-W47"), 5)
    assert fmt.network_summary(n, 5) == "no reading of the interface in use, the Wi-Fi signal or blips this week."
