"""A small week with hand-computed expectations, stored through the collector's real ingest path.

Week 2026-W45 (Monday 2 November 2026, UTC). Every reporting device is on and
fully active on Monday 09:00-11:00 (heartbeats every 10 minutes: 7,200 active
seconds each). Model parameters: crash recovery 180 s, hourly cost 60, Sales 90.

| device | site / department | events (Monday) | lost seconds (impact model v1) |
|---|---|---|---|
| P1 | Paris / Finance | hang outlook 2.0 09:10 300 s; crash outlook 1.0 09:30 | 300 hang + 180 crash |
| P2 | Paris / Finance | crash outlook 2.0 10:00 | 180 crash |
| P3 | Paris / Finance | crash outlook 2.0 10:00 | 180 crash |
| P4 | Paris / Sales | outage (no_link) 09:20-09:40; hang teams 09:30 300 s inside it | 1,200 connectivity_loss (the merged hang costs nothing more) |
| P5 | Paris / Sales | none (a hang in W44 for the trend) | 0 |
| L1-L5 | Lyon / Sales | outage (dns_failure) 10:00-10:10 each | 600 connectivity_loss each |
| N1 | Nice / Legal | slow_app outlook 2.0 10:30, 90 s, 60 s beyond the threshold | 60 slow_app |
| S1 | Paris / Finance | reported in W44 only: silent in W45 | |

Totals: lost 5,100 s = hang 300 + crash 540 + connectivity_loss 4,200 + slow_app 60;
active 11 x 7,200 = 79,200 s; 12 disruptions; cost Sales 4,200 s x 90/h = 105
+ others 900 s x 60/h = 15 = 120. Sites: Paris 2,040, Lyon 3,000, Nice 60
(one device: merged into "other"). Departments: Sales (7 devices) 4,200;
Finance (3) and Legal (1) merged into "other" 900. Previous week W44: P5's
hang of 300 s.
"""

from __future__ import annotations

from datetime import datetime, timezone

from contract import records

WEEK = "2026-W45"
MONDAY = datetime(2026, 11, 2, tzinfo=timezone.utc).timestamp()
PREV_MONDAY = MONDAY - 7 * 86400
NEXT_MONDAY = MONDAY + 7 * 86400
APPS = ["outlook", "teams"]
CONFIG = {
    "apps": APPS,
    "model": {"crash_recovery_s": 180.0, "hourly_cost": 60.0, "department_hourly_cost": {"Sales": 90.0}},
    "report": {"company": "Example Corp", "repeat_threshold": 2, "pseudonym_key": "test-key"},
}
DEVICES = {
    "device-P1": ("Paris", "Finance"), "device-P2": ("Paris", "Finance"), "device-P3": ("Paris", "Finance"),
    "device-P4": ("Paris", "Sales"), "device-P5": ("Paris", "Sales"),
    **{f"device-L{i}": ("Lyon", "Sales") for i in range(1, 6)},
    "device-N1": ("Nice", "Legal"),
}
SILENT = {"device-S1": ("Paris", "Finance")}

EXPECTED = {
    "lost_seconds": 5100.0,
    "active_seconds": 79200.0,
    "disruptions": 12,
    "devices": 11,
    "known_devices": 12,
    "cost": 120.0,
    "by_type": {"connectivity_loss": 4200.0, "crash": 540.0, "hang": 300.0, "slow_app": 60.0},
    "by_type_disruptions": {"connectivity_loss": 6, "crash": 3, "hang": 2, "slow_app": 1},
    "by_app": {"outlook": 900.0, "teams": 0.0},
    "by_site": {"Lyon": 3000.0, "Paris": 2040.0, "other": 60.0},
    "by_department": {"Sales": 4200.0, "other": 900.0},
    "heat_monday": {9: 1680.0, 10: 3420.0},
    "previous_lost_seconds": 300.0,
}


def _h(t: float, site: str, dept: str) -> dict:
    return records.Heartbeat(time=t, interval_s=600.0, active_s=600.0, os="linux", os_version="6.1",
                          agent_version="0.1.0", site=site, department=dept).to_wire()


def _working_morning(day: float, site: str, dept: str) -> list[dict]:
    """Heartbeats covering 09:00-11:00 of ``day`` (Unix seconds of 00:00), fully active."""
    return [_h(day + 9 * 3600 + k * 600, site, dept) for k in range(1, 13)]


def _ev(type_: str, app: str, t: float, duration: float = 0.0, **details) -> dict:
    active = duration if duration else None
    return records.Event(type=type_, app=app, start=t, duration_s=duration, active_s=active, details=details).to_wire()


def batches(only_week: bool = False) -> list[tuple[dict, float]]:
    """(batch, collector time of arrival) for the whole data set: W44, W45 and the Monday after (or W45 only)."""
    m = MONDAY
    at = lambda hh, mm=0: m + hh * 3600 + mm * 60  # noqa: E731
    events = {
        "device-P1": [_ev("hang", "outlook", at(9, 10), 300.0, app_version="2.0"),
                      _ev("crash", "outlook", at(9, 30), signal="SIGSEGV", app_version="1.0")],
        "device-P2": [_ev("crash", "outlook", at(10), signal="SIGSEGV", app_version="2.0")],
        "device-P3": [_ev("crash", "outlook", at(10), signal="SIGABRT", app_version="2.0")],
        "device-P4": [_ev("connectivity_loss", "network", at(9, 20), 1200.0, cause="no_link"),
                      _ev("hang", "teams", at(9, 30), 300.0)],
        "device-N1": [_ev("slow_app", "outlook", at(10, 30), 90.0, excess_s=60.0, app_version="2.0")],
        **{f"device-L{i}": [_ev("connectivity_loss", "network", at(10), 600.0, cause="dns_failure")] for i in range(1, 6)},
    }
    out = []
    if only_week:
        return [(records.make_batch(dev, events.get(dev, []), _working_morning(m, site, dept), now=m + 12 * 3600),
                 m + 12 * 3600) for dev, (site, dept) in DEVICES.items()]
    # the week before: P5 and the later-silent S1 report; P5 has a hang (the trend's previous week)
    for dev, (site, dept) in {"device-P5": DEVICES["device-P5"], **SILENT}.items():
        evs = [_ev("hang", "outlook", PREV_MONDAY + 9 * 3600 + 600, 300.0)] if dev == "device-P5" else []
        out.append((records.make_batch(dev, evs, _working_morning(PREV_MONDAY, site, dept), now=PREV_MONDAY + 12 * 3600),
                    PREV_MONDAY + 12 * 3600))
    for dev, (site, dept) in DEVICES.items():
        out.append((records.make_batch(dev, events.get(dev, []), _working_morning(m, site, dept), now=m + 12 * 3600),
                    m + 12 * 3600))
    # the Monday after (outside the week): a crash that must not count in W45
    p1 = DEVICES["device-P1"]
    out.append((records.make_batch("device-P1", [_ev("crash", "outlook", NEXT_MONDAY + 9.5 * 3600, app_version="2.0")],
                                _working_morning(NEXT_MONDAY, *p1), now=NEXT_MONDAY + 12 * 3600), NEXT_MONDAY + 12 * 3600))
    return out
