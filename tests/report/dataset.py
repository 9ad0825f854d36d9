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

Model version 3: 10 of the 22 active device-hours are impacted (60 s lost or more): score 54.5 (EXPECTED).

Totals: lost 5,100 s = hang 300 + crash 540 + connectivity_loss 4,200 + slow_app 60;
active 11 x 7,200 = 79,200 s; 12 disruptions; cost Sales 4,200 s x 90/h = 105
+ others 900 s x 60/h = 15 = 120. Sites: Paris 2,040, Lyon 3,000, Nice 60
(one device: merged into "other"). Departments: Sales (7 devices) 4,200;
Finance (3) and Legal (1) merged into "other" 900. Previous week W44: P5's
hang of 300 s.

Service-desk tickets (stored through ``store_tickets``, joined by the identity
keys the devices' heartbeats carry; window 4 h; contact time: the defaults of
the model's support_contact_s):

| ticket | joined to | channel | opened | category | resolved after | follows |
|---|---|---|---|---|---|---|
| T1 | P1 (host) | phone, priority 1 (work-stopping) | Mon 09:45 | Email | 2 h | hang outlook (300 s > crash 180 s) |
| T2 | L1 (account) | chat | Mon 10:30 | Network | 20 min | connectivity_loss |
| T3 | P5 (host) | portal | Tue 09:00 | Email | open | nothing (P5 lost nothing) |
| T4 | none: Lyon / Sales as it says | email | Mon 14:00 | Access | 1 h | (not joined) |
| T5 | none: Marseille (no device: other) | walk_in | Wed 11:00 | (none) | open | (not joined) |
| T7 | P3 (host) | email | Mon 15:00 | Email | 30 min | nothing: P3's crash hour ended exactly 4 h before |
| T6 | P2 | phone | W44 | Email | | outside the week |

Expectations in SUPPORT below (by hand): 6 tickets, 54.5 per 100 of the 11 devices; contact time 3,120 s (the model's default contact times);
2 of the 4 joined tickets followed a disruption; devices that raised a ticket: P1, P3, P5, L1, whose measured
lost time is 480 + 180 + 0 + 600 = 1,260 s, so 3,840 of 5,100 s (75.3%) never reached the service desk.
"""

from __future__ import annotations

from datetime import datetime, timezone

from collector.support.tickets import Ticket
from contract import records
from contract.identity import identity_key

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
IDENTITY_SECRET = b"dataset-identity-key-0123456789"
ACCOUNTS = {"device-L1": "CORP\\lyon.one"}  # the device whose ticket names its caller only

SUPPORT = {
    "tickets": 6, "joined": 4, "after_disruption": 2, "contact_seconds": 3120.0,
    "tickets_per_100_devices": 600 / 11,
    "lost_seconds": 5100.0, "lost_without_ticket_seconds": 3840.0,
    "by_type": {"connectivity_loss": 3600 / 4200, "crash": 180 / 540, "hang": 0.0, "slow_app": 1.0},
    "by_channel": {"phone": (1, 600.0), "chat": (1, 720.0), "portal": (1, 300.0), "email": (2, 600.0),
                   "walk_in": (1, 900.0)},
    # site -> devices, tickets, contact s, joined, after a disruption, lost s, lost without a ticket s
    "by_site": {"Paris": (5, 3, 1200.0, 3, 1, 2040.0, 1380.0), "Lyon": (5, 2, 1020.0, 1, 1, 3000.0, 2400.0),
                "other": (1, 1, 900.0, 0, 0, 60.0, 60.0)},
    "by_department": {"Sales": (7, 3, 1320.0, 2, 1, 4200.0, 3600.0), "other": (4, 3, 1800.0, 2, 1, 900.0, 240.0)},
    # category -> tickets, work-stopping, resolved, median seconds to resolve
    "categories": [("Email", 3, 1, 2, 4500.0), ("(no category)", 1, 0, 0, None), ("Access", 1, 0, 1, 3600.0),
                   ("Network", 1, 0, 1, 1200.0)],
    "by_app": {"outlook": 1},
}

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
    # model version 3: device-hours with 60 s lost or more (every device is active 09:00-11:00): P1 at 09:00
    # (480 s), P2 and P3 at 10:00 (180 s), P4 at 09:00 (1,200 s), L1-L5 at 10:00 (600 s), N1 at 10:00 (60 s,
    # exactly the threshold): 10 of the 22 active hours
    "impacted_seconds": 36000.0,
    "score": 100 * (1 - 36000 / 79200),
    "score_by_site": {"Paris": 100 * (1 - 14400 / 36000), "Lyon": 50.0, "other": 50.0},
    "score_by_department": {"Sales": 100 * (1 - 21600 / 50400), "other": 50.0},
    # by application (its own lost time; the devices on the days they reported it): outlook on P1-P3 and N1, each
    # one hour of two impacted; teams only P4's hang merged into the outage (0 s); other, the outages
    "score_by_app": {"outlook": 50.0, "teams": 100.0},
    "employees_with_issues": 10,
}


def _key(kind: str, name: str | None) -> str | None:
    return identity_key(IDENTITY_SECRET, kind, name) if name else None


# Network quality: the Lyon devices' heartbeats read a Wi-Fi signal (L1 and L2 poor, L3 fair, L4 and L5 good: of
# their 5 x 7,200 working seconds 40% poor, 20% fair); their outages name the wired interface, P4's Wi-Fi; L1's
# agent counts one blip more in each heartbeat (12 in the week).
WIFI_DBM = {"device-L1": -85.0, "device-L2": -81.0, "device-L3": -72.0, "device-L4": -60.0, "device-L5": -67.0}
NETWORK = {"by_interface": [("wired", 5, 3000.0), ("wifi", 1, 1200.0)], "wifi_devices": 5, "wifi_seconds": 36000.0,
           "wifi_shares": {"good": 0.4, "fair": 0.2, "poor": 0.4}, "blips": 12, "blip_devices": 1}


def _h(t: float, site: str, dept: str, dev: str, details: dict | None = None) -> dict:
    return records.Heartbeat(time=t, interval_s=600.0, active_s=600.0, os="linux", os_version="6.1",
                             agent_version="0.1.0", site=site, department=dept, host_key=_key("host", dev),
                             account_key=_key("account", ACCOUNTS.get(dev)), details=details or {}).to_wire()


def _working_morning(day: float, site: str, dept: str, dev: str) -> list[dict]:
    """Heartbeats covering 09:00-11:00 of ``day`` (Unix seconds of 00:00), fully active (with the Lyon devices'
    Wi-Fi signal, and L1's running count of blips)."""
    def details(k: int) -> dict:
        out = {"wifi_signal_dbm": WIFI_DBM[dev]} if dev in WIFI_DBM else {}
        return {**out, "connectivity_blips_total": k} if dev == "device-L1" else out

    return [_h(day + 9 * 3600 + k * 600, site, dept, dev, details(k)) for k in range(1, 13)]


def tickets() -> list[Ticket]:
    """The service-desk tickets of the table above, as a source would hand them over."""
    at = lambda day, hh, mm=0: MONDAY + day * 86400 + hh * 3600 + mm * 60  # noqa: E731

    def ticket(tid, opened, channel, category, resolved_after=None, host=None, account=None, **more):
        return Ticket(source="import", ticket_id=tid, opened_at=opened, updated_at=opened + 60,
                      resolved_at=opened + resolved_after if resolved_after is not None else None, channel=channel,
                      category=category, host_key=_key("host", host), account_key=_key("account", account), **more)

    return [
        ticket("T1", at(0, 9, 45), "phone", "Email", 7200, host="device-P1", priority="1", work_stopping=True),
        ticket("T2", at(0, 10, 30), "chat", "Network", 1200, account="lyon.one@corp.example"),
        ticket("T3", at(1, 9), "portal", "Email", host="DEVICE-P5.corp.example"),
        ticket("T4", at(0, 14), "email", "Access", 3600, host="pc-unknown", site="Lyon", department="Sales"),
        ticket("T5", at(2, 11), "walk_in", "", site="Marseille"),
        ticket("T7", at(0, 15), "email", "Email", 1800, host="device-P3"),
        ticket("T6", at(-7, 10), "phone", "Email", 600, host="device-P2"),
    ]


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
        "device-P4": [_ev("connectivity_loss", "network", at(9, 20), 1200.0, cause="no_link", interface_kind="wifi"),
                      _ev("hang", "teams", at(9, 30), 300.0)],
        "device-N1": [_ev("slow_app", "outlook", at(10, 30), 90.0, excess_s=60.0, app_version="2.0")],
        **{f"device-L{i}": [_ev("connectivity_loss", "network", at(10), 600.0, cause="dns_failure",
                                interface_kind="wired")] for i in range(1, 6)},
    }
    out = []
    if only_week:
        return [(records.make_batch(dev, events.get(dev, []), _working_morning(m, site, dept, dev), now=m + 12 * 3600),
                 m + 12 * 3600) for dev, (site, dept) in DEVICES.items()]
    # the week before: P5 and the later-silent S1 report; P5 has a hang (the trend's previous week)
    for dev, (site, dept) in {"device-P5": DEVICES["device-P5"], **SILENT}.items():
        evs = [_ev("hang", "outlook", PREV_MONDAY + 9 * 3600 + 600, 300.0)] if dev == "device-P5" else []
        out.append((records.make_batch(dev, evs, _working_morning(PREV_MONDAY, site, dept, dev), now=PREV_MONDAY + 12 * 3600),
                    PREV_MONDAY + 12 * 3600))
    for dev, (site, dept) in DEVICES.items():
        out.append((records.make_batch(dev, events.get(dev, []), _working_morning(m, site, dept, dev),
                                       now=m + 12 * 3600),
                    m + 12 * 3600))
    # the Monday after (outside the week): a crash that must not count in W45
    p1 = DEVICES["device-P1"]
    out.append((records.make_batch("device-P1", [_ev("crash", "outlook", NEXT_MONDAY + 9.5 * 3600, app_version="2.0")],
                                _working_morning(NEXT_MONDAY, *p1, "device-P1"), now=NEXT_MONDAY + 12 * 3600), NEXT_MONDAY + 12 * 3600))
    return out
