"""Turn one week's facts (small grouped rows from the database) into the report dict.

Pure computation, no database: :mod:`collector.report.build` loads the facts
through the impact model's aggregates and hands them here. Lost seconds are
the impact model's (overlaps merged, only active time, attributed to one cause
per moment), so every sum here is a plain sum that agrees with /metrics.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from collector import calibration, impact
from collector.aggregates import changes as change_figures, network
from collector.labels import OTHER as OTHER_GROUP, merge_small, top, withhold_small
from collector.report import fmt
from collector.report.config import ReportSettings
from collector.report.findings import ISSUES_BELOW, findings, iceberg
from collector.support.tickets import CHANNELS
from contract import events
from contract.answers import ANSWERS, BUTTONS, BY_NAME as BY_ANSWER, UNANSWERED

SCHEMA = 1
VERSION_BLAME_SHARE = 0.6  # a version is to blame when it has this share of its app's disruptions ...
VERSION_BLAME_MIN = 3  # ... and at least this many of them
TOP_CAUSES = 10
WORST_SITES = 5
OUTAGE_TYPE = "connectivity_loss"
# Disruptions that belong to an application (the others concern the machine or the network).
APP_TYPES = events.names(of_app=True)
# The causes agents measure (impact model v1): the support causes are left out of the iceberg's lost time.
MEASURED_TYPES = events.names(support=False)
TOP_CATEGORIES = 5
UNCATEGORIZED = "(no category)"
# Failures whose versions are compared to find a version to blame (slowness is left out: it is mostly the network's).
VERSION_TYPES = events.names(versioned=True)
ANSWER_ORDER = {a.name: -i for i, a in enumerate(ANSWERS)}  # ties between answers' shares: the milder answer first


@dataclass
class WeekFacts:
    """What the database says about one week, grouped by SQL (``collector.report.build`` fills it).

    The trend's earlier weeks fill only the figures the trend needs (devices,
    active, impacted, lost, disruptions, known_devices); the report's own week fills all.
    """

    week: str
    devices: dict[str, tuple[str, str]] = field(default_factory=dict)  # reporting device -> (site, department)
    known_devices: int = 0  # devices registered before the week ended
    active: dict[str, float] = field(default_factory=dict)  # device -> active seconds
    impacted: dict[str, float] = field(default_factory=dict)  # device -> active seconds of its impacted hours
    lost: list[tuple[str, str, float]] = field(default_factory=list)  # (device, type, lost seconds)
    disruptions: list[tuple[str, str, int]] = field(default_factory=list)  # (device, type, count)
    heat: list[list[float]] = field(default_factory=lambda: [[0.0] * 24 for _ in range(7)])  # [weekday][hour] lost s
    versions: list[tuple[str, str, int]] = field(default_factory=list)  # (app, version, failures of VERSION_TYPES)
    outages: list[tuple[str, str, int, float]] = field(default_factory=list)  # (device, cause, outages, offline s)
    # network quality (collector.aggregates.network): (device, measure, label, count, seconds)
    network: list[tuple[str, str, str, int, float]] = field(default_factory=list)
    apps: list[tuple[str, str, float, int]] = field(default_factory=list)  # (app label, type, lost s, disruptions)
    app_devices: dict[str, int] = field(default_factory=dict)  # app label -> devices with disruptions of APP_TYPES
    device_apps: dict[str, dict[str, int]] = field(default_factory=dict)  # repeat device listed -> app -> disruptions
    app_focus: dict[str, float] = field(default_factory=dict)  # app label -> counted focus seconds (hours of use)
    # app label -> (active seconds of the devices on the days they reported it, of the hours its lost time impacted)
    app_active: dict[str, tuple[float, float]] = field(default_factory=dict)
    other_apps: int = 0  # uncatalogued executables with disruptions the week's app label "other" holds
    # service-desk tickets opened in the week: (device or None, opened_at, resolved_at, channel, category,
    # work_stopping, site, department, type of the measured disruption it followed or None, its app label or None)
    tickets: list[tuple] = field(default_factory=list)
    tickets_stored: bool = False  # any ticket ever stored: a service desk is connected
    ticket_window_s: float = 0.0  # [support] ticket_after_disruption_s
    # the pulse's answers to questions shown in the week: (device, (site, department), type, app label, answer,
    # the model's lost seconds of the event alone)
    answers: list[tuple] = field(default_factory=list)
    pending_device_days: int = 0  # device-days the refresher had not recomputed yet when the facts were read
    # device -> (hardware model, OS build, CPU class, memory bytes): its cohort as its latest heartbeat gives it
    cohorts: dict[str, tuple[str, str, str, int]] = field(default_factory=dict)
    waits: list[tuple[str, str, float, float]] = field(default_factory=list)  # (device, boot|logon, waited s, beyond s)
    # the changes to tell of: (subject's name, its figures as of the week's end); [changes] settings
    changes: list[tuple[str, change_figures.Effect]] = field(default_factory=list)
    change_settings: change_figures.ChangeSettings = field(default_factory=change_figures.ChangeSettings)
    derived: dict = field(default_factory=dict, repr=False, compare=False)  # sums computed once from the rows


@dataclass
class Model:
    """What the report needs from the impact model: its identity and its formulas."""

    version: str
    parameters: dict
    currency: str
    cost: Callable[[float, str], float]  # (lost seconds, department) -> money
    score: Callable[[float, float, float], float | None]  # (lost, impacted, active s) -> 0..100, None without active
    contact_s: Callable[[str], float]  # channel -> the employee's seconds one service-desk contact takes
    recovery_s: Callable[[str, str], float]  # (RECOVERY type, app) -> the recovery time the model charges
    notes: list[str] = field(default_factory=list)


def pseudonym(device_id: str, key: bytes) -> str:
    """A short keyed hash of a device id: stable for one key, not reversible without it."""
    return "d-" + hmac.new(key, device_id.encode(), hashlib.sha256).hexdigest()[:10]


def _per_device(f: WeekFacts) -> tuple[dict[str, float], dict[str, int]]:
    """Lost seconds and disruptions per device (one pass over the rows, kept for the other sections; read only)."""
    if "per_device" not in f.derived:
        lost: dict[str, float] = defaultdict(float)
        count: dict[str, int] = defaultdict(int)
        for dev, _t, s in f.lost:
            lost[dev] += s
        for dev, _t, n in f.disruptions:
            count[dev] += n
        f.derived["per_device"] = (dict(lost), dict(count))
    return f.derived["per_device"]


def week_totals(f: WeekFacts, model: Model) -> dict:
    """The headline totals of one week."""
    per_device, count = _per_device(f)
    lost = sum(per_device.values())
    active = sum(f.active.values())
    impacted = sum(f.impacted.values())
    scores = [model.score(per_device.get(dev, 0.0), f.impacted.get(dev, 0.0), a) for dev, a in f.active.items()]
    by_dept: dict[str, float] = defaultdict(float)
    for dev, s in per_device.items():
        by_dept[_group(f, dev)[1]] += s
    devices = len(f.devices)
    return {
        "lost_seconds": lost,
        "lost_hours": lost / 3600,
        "cost": sum(model.cost(s, d) for d, s in by_dept.items()),
        "disruptions": sum(count.values()),
        "devices": devices,
        "devices_affected": sum(1 for s in per_device.values() if s > 0),
        "active_seconds": active,
        "lost_hours_per_employee": lost / 3600 / devices if devices else 0.0,
        "impacted_seconds": impacted,
        "experience_score": model.score(lost, impacted, active),
        "productivity_loss": _loss(lost, active),
        # Nexthink's "employees with issues": a device whose own score is below ISSUES_BELOW
        "employees_with_issues": sum(1 for v in scores if v is not None and v < ISSUES_BELOW),
        "employees_scored": sum(1 for v in scores if v is not None),
    }


def _loss(lost_s: float, active_s: float) -> float | None:
    """The productivity loss 0..100: the share of active time lost (not the experience score)."""
    ratio = impact.loss_ratio(lost_s, active_s)
    return None if ratio is None else 100.0 * ratio


def _group(f: WeekFacts, dev: str) -> tuple[str, str]:
    return f.devices.get(dev, ("unknown", "unknown"))


def assemble(weeks: list[WeekFacts], model: Model, settings: ReportSettings, period: dict, generated_at: str) -> dict:
    """The report dict for the last of ``weeks`` (oldest first; the others give the trend)."""
    f = weeks[-1]
    totals = week_totals(f, model)
    history = [week_totals(w, model) for w in weeks[:-1]]
    previous = history[-1] if history else week_totals(WeekFacts(week=""), model)
    trend = [{"week": w.week, **_trend_point(t)} for w, t in zip(weeks, [*history, totals])]
    report = {
        "schema": SCHEMA,
        "title": "Weekly IT impact report",
        "week": f.week,
        "period": period,
        "generated_at": generated_at,
        "company": settings.company,
        "currency": model.currency,
        "model_version": model.version,
        "model_parameters": model.parameters,
        "min_group_size": settings.min_group_size,
        "totals": totals,
        "previous": {"week": weeks[-2].week if len(weeks) > 1 else "", **previous},
        "trend": trend,
        "headline": _headline(totals, previous),
        "by_type": _by_type(f, model, totals["lost_seconds"]),
        "by_app": _by_app(f, totals["lost_seconds"], settings, model),
        "app_use": _app_use(f, settings),
        "by_site": _by_group(f, model, 0, "site", settings.min_group_size),
        "by_department": _by_group(f, model, 1, "department", settings.min_group_size),
        "connectivity": _connectivity(f, settings.min_group_size),
        "support": _support(f, model, settings),
        "felt": _felt(f, model, settings.min_group_size),
        "cohorts": _cohorts(f, settings),
        "changes": _changes(f, settings.min_group_size),
        "heatmap": {"days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], "hours": list(range(24)),
                    "lost_seconds": f.heat},
    }
    report["repeat_devices"], repeat_total = _repeat_devices(f, settings)
    report["method"] = _method(f, model, settings, repeat_total, report["app_use"])
    report["findings"] = findings(report)
    report["support"]["summary"] = iceberg(report["support"])
    return report


_TREND_KEYS = ("lost_hours", "cost", "lost_hours_per_employee", "experience_score", "devices_affected")


def _trend_point(t: dict) -> dict:
    return {k: t[k] for k in _TREND_KEYS}


def _headline(now: dict, prev: dict) -> list[dict]:
    spec = [
        ("lost_hours", "Hours lost", "hours", "lower"),
        ("cost", "Cost of lost time", "money", "lower"),
        ("lost_hours_per_employee", "Hours lost per employee", "hours", "lower"),
        ("experience_score", "Experience score", "score", "higher"),
        ("devices_affected", "Employees affected", "count", "lower"),
    ]
    out = []
    for key, label, unit, better in spec:
        value, before = now[key], prev[key]
        has_prev = prev["devices"] > 0 and before is not None and value is not None
        diff = value - before if has_prev else None
        out.append({
            "key": key, "label": label, "unit": unit, "better": better, "value": value,
            "previous": before if prev["devices"] > 0 else None, "change": diff,
            "change_pct": diff / before if has_prev and before else None,
        })
    return out


def _by_type(f: WeekFacts, model: Model, total: float) -> list[dict]:
    lost: dict[str, float] = defaultdict(float)
    dept_lost: dict[tuple[str, str], float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    devices: dict[str, set] = defaultdict(set)
    for dev, t, s in f.lost:
        lost[t] += s
        dept_lost[t, _group(f, dev)[1]] += s
    for dev, t, n in f.disruptions:
        count[t] += n
        devices[t].add(dev)
    cost: dict[str, float] = defaultdict(float)
    for (t, d), s in dept_lost.items():
        cost[t] += model.cost(s, d)
    rows = [{"type": t, "lost_seconds": lost[t], "lost_hours": lost[t] / 3600, "share": lost[t] / total if total else 0.0,
             "cost": cost[t], "disruptions": count[t], "devices": len(devices[t])} for t in set(lost) | set(count)]
    return sorted(rows, key=lambda r: (-r["lost_seconds"], -r["disruptions"], r["type"]))


def _app_sums(f: WeekFacts) -> tuple[dict[str, float], dict[str, int]]:
    """Lost seconds and disruptions of APP_TYPES per application label."""
    lost: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for a, _t, s, n in f.apps:
        lost[a] += max(s, 0.0)
        count[a] += n
    return lost, count


def enough_use(focus_s: float, min_focus_hours: float) -> bool:
    """Whether an application was used long enough in the week for its rates per hour of use to mean something."""
    return focus_s > 0 and focus_s >= min_focus_hours * 3600


def use_rates(focus_s: float, disruptions: int, lost_s: float, min_focus_hours: float) -> dict:
    """An application's hours of use in the week and its rates per hour of use: disruptions per 100 h and lost
    minutes per hour, None when it was used less than ``min_focus_hours`` (too little use to compare)."""
    enough = enough_use(focus_s, min_focus_hours)
    hours = focus_s / 3600
    return {"focus_seconds": focus_s, "focus_hours": hours, "enough_use": enough,
            "disruptions_per_100h": 100 * disruptions / hours if enough else None,
            "lost_minutes_per_hour": lost_s / 60 / hours if enough else None}


def _app_use(f: WeekFacts, settings: ReportSettings) -> dict:
    """The fleet's hours of use, and the sums over the applications used enough to be rated (what each one is
    compared with)."""
    lost, count = _app_sums(f)
    rated = [a for a, s in f.app_focus.items() if enough_use(s, settings.min_focus_hours)]
    return {"focus_seconds": sum(f.app_focus.values()), "min_focus_hours": settings.min_focus_hours,
            "rated_apps": len(rated), "rated_focus_seconds": sum(f.app_focus[a] for a in rated),
            "rated_disruptions": sum(count.get(a, 0) for a in rated),
            "rated_lost_seconds": sum(lost.get(a, 0.0) for a in rated)}


def _by_app(f: WeekFacts, total: float, settings: ReportSettings, model: Model) -> list[dict]:
    lost: dict[str, float] = defaultdict(float)
    by_cause: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    count: dict[str, int] = defaultdict(int)
    count_cause: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for a, t, s, n in f.apps:
        if s > 0:
            lost[a] += s
            by_cause[a][t] += s
        if n:
            count[a] += n
            count_cause[a][t] += n
    devices = f.app_devices
    versions: dict[str, list] = defaultdict(list)
    for a, v, n in f.versions:
        versions[a].append({"version": v, "disruptions": n})
    rows = []
    for a in set(lost) | set(count) | {a for a, s in f.app_focus.items() if s > 0}:
        causes = by_cause[a] if lost[a] > 0 else count_cause[a]
        main = max(sorted(causes), key=lambda t: causes[t]) if causes else None
        vs = sorted(versions[a], key=lambda v: (-v["disruptions"], v["version"]))
        n_versioned = sum(v["disruptions"] for v in vs)
        blame = vs[0] if vs and vs[0]["disruptions"] >= VERSION_BLAME_MIN and len(vs) > 1 \
            and vs[0]["disruptions"] >= VERSION_BLAME_SHARE * n_versioned else None
        rows.append({
            "app": a, "lost_seconds": lost[a], "lost_hours": lost[a] / 3600, "share": lost[a] / total if total else 0.0,
            "disruptions": count[a], "devices": devices.get(a, 0),
            "main_cause": main, "main_cause_share": (causes[main] / sum(causes.values())) if main and sum(causes.values()) else None,
            "version": blame["version"] if blame else None,
            "version_share": blame["disruptions"] / n_versioned if blame else None,
            "versions": vs,
            **use_rates(f.app_focus.get(a, 0.0), count[a], lost[a], settings.min_focus_hours),
            "experience_score": model.score(lost[a], f.app_active[a][1], f.app_active[a][0]) if a in f.app_active else None,
            "executables": f.other_apps if a == OTHER_GROUP else None,  # how many executables "other" holds
        })
    rows.sort(key=lambda r: (-r["lost_seconds"], -r["disruptions"], -r["focus_seconds"], r["app"]))
    named = [r for r in rows if r["app"] != OTHER_GROUP][:settings.top_apps]
    return named + [r for r in rows if r["app"] == OTHER_GROUP]  # other last: what is left, never the lead


def _by_group(f: WeekFacts, model: Model, idx: int, key: str, min_size: int) -> list[dict]:
    sizes: dict[str, int] = defaultdict(int)
    for labels in f.devices.values():
        sizes[labels[idx]] += 1
    name = merge_small(sizes, min_size)
    rows: dict[str, dict] = {}

    def row(dev: str) -> dict:
        g = name.get(_group(f, dev)[idx], OTHER_GROUP)
        if g not in rows:
            rows[g] = {key: g, "devices": 0, "active_seconds": 0.0, "impacted_seconds": 0.0, "lost_seconds": 0.0,
                       "cost": 0.0, "disruptions": 0, "groups": set()}
        return rows[g]

    for dev, labels in f.devices.items():
        r = row(dev)
        r["devices"] += 1
        r["groups"].add(labels[idx])
    lost, count = _per_device(f)
    for dev in set(f.active) | set(lost) | set(count):
        r = row(dev)
        r["active_seconds"] += f.active.get(dev, 0.0)
        r["impacted_seconds"] += f.impacted.get(dev, 0.0)
        r["lost_seconds"] += lost.get(dev, 0.0)
        r["cost"] += model.cost(lost.get(dev, 0.0), _group(f, dev)[1])
        r["disruptions"] += count.get(dev, 0)
    for r in rows.values():
        r["groups"] = len(r["groups"])  # how many groups "other" holds; never their names
        r["lost_hours"] = r["lost_seconds"] / 3600
        r["lost_seconds_per_device"] = r["lost_seconds"] / r["devices"] if r["devices"] else 0.0
        r["experience_score"] = model.score(r["lost_seconds"], r["impacted_seconds"], r["active_seconds"])
        r["productivity_loss"] = _loss(r["lost_seconds"], r["active_seconds"])
    return sorted(rows.values(), key=lambda r: (r[key] == OTHER_GROUP, -r["lost_seconds"], r[key]))


def _connectivity(f: WeekFacts, min_size: int) -> dict:
    sizes: dict[str, int] = defaultdict(int)
    for site, _d in f.devices.values():
        sizes[site] += 1
    name = merge_small(sizes, min_size)
    site_of = {dev: name.get(_group(f, dev)[0], OTHER_GROUP) for dev in f.devices}
    causes: dict[str, list] = defaultdict(lambda: [0, 0.0])
    sites: dict[str, list] = defaultdict(lambda: [0, 0.0, 0.0])
    devices = set()
    for dev, cause, n, offline in f.outages:
        devices.add(dev)
        causes[cause][0] += n
        causes[cause][1] += offline
        sites[site_of.get(dev, OTHER_GROUP)][0] += n
        sites[site_of.get(dev, OTHER_GROUP)][1] += offline
    lost = 0.0
    for dev, t, s in f.lost:
        if t == OUTAGE_TYPE:
            lost += s
            sites[site_of.get(dev, OTHER_GROUP)][2] += s
    by_cause = sorted(({"cause": c, "outages": v[0], "outage_seconds": v[1]} for c, v in causes.items()),
                      key=lambda r: (-r["outage_seconds"], -r["outages"], r["cause"]))
    site_size: dict[str, int] = defaultdict(int)
    for s, n in sizes.items():
        site_size[name[s]] += n
    worst = sorted(({"site": s, "outages": v[0], "outage_seconds": v[1], "lost_seconds": v[2], "devices": site_size[s],
                     "lost_seconds_per_device": v[2] / site_size[s] if site_size[s] else 0.0}
                    for s, v in sites.items() if v[0] or v[2]),
                   key=lambda r: (-r["lost_seconds_per_device"], -r["outage_seconds"], r["site"]))
    return {
        "outages": sum(v[0] for v in causes.values()),
        "outage_seconds": sum(v[1] for v in causes.values()),
        "lost_seconds": lost,
        "devices": len(devices),
        "by_cause": by_cause[:TOP_CAUSES],
        "worst_sites": worst[:WORST_SITES],
        "network": _network(f, min_size),
    }


def _network(f: WeekFacts, min_size: int) -> dict:
    """Outages by the interface in use, the share of working time on Wi-Fi per signal band (withheld when fewer
    than ``min_size`` devices read a signal), and blips (outages too short to report)."""
    kinds: dict[str, list] = defaultdict(lambda: [0, 0.0])
    bands: dict[str, float] = dict.fromkeys(network.BANDS, 0.0)
    wifi_devices, blip_devices, blips = set(), set(), 0
    for dev, measure, label, n, seconds in f.network:
        if measure == network.OUTAGE:
            kinds[label][0] += n
            kinds[label][1] += seconds
        elif measure == network.SIGNAL and label in bands:
            bands[label] += seconds
            wifi_devices.add(dev)
        elif measure == network.BLIP and n:
            blips += n
            blip_devices.add(dev)
    wifi_s = sum(bands.values())
    withheld = len(wifi_devices) < min_size
    return {
        "by_interface": sorted(({"interface_kind": k, "outages": v[0], "outage_seconds": v[1]} for k, v in kinds.items()),
                               key=lambda r: (-r["outages"], -r["outage_seconds"], r["interface_kind"])),
        "wifi_devices": len(wifi_devices),
        "wifi_seconds": wifi_s,
        "wifi_withheld": withheld,
        "wifi_shares": None if withheld or not wifi_s else {b: s / wifi_s for b, s in bands.items()},
        "blips": blips,
        "blip_devices": len(blip_devices),
    }


def _support(f: WeekFacts, model: Model, settings: ReportSettings) -> dict:
    """The service desk against the measured lost time: contacts, what they followed, and what never reached it."""
    measured = set(MEASURED_TYPES)
    raised = {t[0] for t in f.tickets if t[0]}  # devices whose user raised a ticket this week
    lost: dict[str, float] = defaultdict(float)
    quiet: dict[str, float] = defaultdict(float)  # ... lost on devices that raised none
    for dev, etype, secs in f.lost:
        if etype in measured:
            lost[etype] += secs
            if dev not in raised:
                quiet[etype] += secs
    channels: dict[str, list] = {c: [0, 0.0] for c in CHANNELS}
    apps: dict[str, int] = defaultdict(int)
    for t in f.tickets:
        c = channels.setdefault(t[3], [0, 0.0])  # a channel unknown to this version: shown, not refused
        c[0] += 1
        c[1] += model.contact_s(t[3])
        if t[9]:
            apps[t[9]] += 1
    joined = sum(1 for t in f.tickets if t[0])
    followed = sum(1 for t in f.tickets if t[8])
    total_lost, total_quiet = sum(lost.values()), sum(quiet.values())
    devices = len(f.devices)
    return {
        "connected": f.tickets_stored,
        "tickets": len(f.tickets),
        "devices": devices,
        "tickets_per_100_devices": 100 * len(f.tickets) / devices if devices else None,
        "contact_seconds": sum(c[1] for c in channels.values()),
        "by_channel": [{"channel": c, "tickets": n, "contact_seconds": secs} for c, (n, secs) in channels.items() if n],
        "joined": joined,
        "after_disruption": followed,
        "after_disruption_share": followed / joined if joined else None,
        "window_seconds": f.ticket_window_s,
        "lost_seconds": total_lost,
        "lost_without_ticket_seconds": total_quiet,
        "lost_without_ticket_share": total_quiet / total_lost if total_lost else None,
        "by_type": sorted(({"type": t, "lost_seconds": s, "lost_without_ticket_seconds": quiet[t],
                            "lost_without_ticket_share": quiet[t] / s} for t, s in lost.items() if s > 0),
                          key=lambda r: (-r["lost_seconds"], r["type"])),
        "by_site": _support_groups(f, model, raised, 0, "site", settings.min_group_size),
        "by_department": _support_groups(f, model, raised, 1, "department", settings.min_group_size),
        "by_app": [{"app": a, "tickets": n} for a, n in sorted(apps.items(), key=lambda x: (-x[1], x[0]))
                   ][:settings.top_apps],
        "categories": _categories(f),
    }


def _support_groups(f: WeekFacts, model: Model, raised: set[str], idx: int, key: str, min_size: int) -> list[dict]:
    """The support figures per site (idx 0) or department (1): a ticket joined to a device reporting this week
    counts in that device's group, any other in the group the ticket names; small groups merged."""
    sizes: dict[str, int] = defaultdict(int)
    for labels in f.devices.values():
        sizes[labels[idx]] += 1
    name = merge_small(sizes, min_size)
    rows: dict[str, dict] = {}

    def row(label: str) -> dict:
        g = name.get(label, OTHER_GROUP)
        if g not in rows:
            rows[g] = {key: g, "devices": 0, "tickets": 0, "contact_seconds": 0.0, "joined": 0, "after_disruption": 0,
                       "lost_seconds": 0.0, "lost_without_ticket_seconds": 0.0}
        return rows[g]

    for labels in f.devices.values():
        row(labels[idx])["devices"] += 1
    for t in f.tickets:
        r = row(f.devices[t[0]][idx] if t[0] in f.devices else (t[6], t[7])[idx])
        r["tickets"] += 1
        r["contact_seconds"] += model.contact_s(t[3])
        r["joined"] += bool(t[0])
        r["after_disruption"] += bool(t[8])
    measured = set(MEASURED_TYPES)
    for dev, etype, secs in f.lost:
        if etype in measured:
            r = row(_group(f, dev)[idx])
            r["lost_seconds"] += secs
            if dev not in raised:
                r["lost_without_ticket_seconds"] += secs
    for r in rows.values():
        r["tickets_per_100_devices"] = 100 * r["tickets"] / r["devices"] if r["devices"] else None
        r["after_disruption_share"] = r["after_disruption"] / r["joined"] if r["joined"] else None
        r["lost_without_ticket_share"] = (r["lost_without_ticket_seconds"] / r["lost_seconds"]
                                          if r["lost_seconds"] else None)
    return sorted((r for r in rows.values() if r["tickets"] or r["lost_seconds"]),
                  key=lambda r: (r[key] == OTHER_GROUP, -r["tickets"], -r["lost_seconds"], r[key]))


def _categories(f: WeekFacts) -> list[dict]:
    """The ticket categories that hurt most: by work-stopping tickets, then tickets; with the median time to
    resolve of those resolved."""
    cats: dict[str, list] = defaultdict(lambda: [0, 0, []])
    for t in f.tickets:
        c = cats[t[4] or UNCATEGORIZED]
        c[0] += 1
        c[1] += bool(t[5])
        if t[2] is not None:
            c[2].append(t[2] - t[1])
    rows = [{"category": name, "tickets": n, "work_stopping": stopping, "resolved": len(times),
             "median_resolve_seconds": statistics.median(times) if times else None}
            for name, (n, stopping, times) in cats.items()]
    rows.sort(key=lambda r: (-r["work_stopping"], -r["tickets"], r["category"]))
    return rows[:TOP_CATEGORIES]


def _felt(f: WeekFacts, model: Model, min_size: int) -> dict:
    """What employees felt: the pulse's questions and answers per application and type, site and department, the
    model's lost time of the same disruptions beside them, and the recovery times the answers would propose.

    A group is shown by name only with answers from at least ``min_size`` distinct devices: else (type, app)
    merges into (type, other), then (other, other); a site or department into other. A group still under the
    size keeps its counts and withholds what its people said (and so does the next smallest group, where the
    totals would otherwise tell it)."""
    rows = f.answers
    overall = _felt_groups([((), dev, answer, m) for dev, _l, _t, _a, answer, m in rows], min_size)
    totals = overall[0] if overall else _felt_row((), [], False)
    del totals["group"]
    by_app = []
    for r in _felt_groups([((t, a), dev, answer, m) for dev, _l, t, a, answer, m in rows], min_size,
                          lambda g: (g[0], OTHER_GROUP), lambda _g: (OTHER_GROUP, OTHER_GROUP)):
        (etype, app) = group = r.pop("group")
        by_app.append({"type": etype, "app": app, **r, "text": _felt_text(group, r)})
    proposals = calibration.propose([(dev, t, a, answer) for dev, _l, t, a, answer, _m in rows], model.recovery_s,
                                    min_size)
    return {
        **totals,
        "answer_labels": {a.name: a.label for a in BUTTONS},
        "answer_felt_seconds": {a.name: a.felt_s for a in BUTTONS},
        "by_app": by_app,
        "by_site": _felt_by(rows, 0, "site", min_size),
        "by_department": _felt_by(rows, 1, "department", min_size),
        "calibration": [{"type": p.type, "app": p.app, "setting": p.setting, "recovery_seconds": p.recovery_s,
                         "current_seconds": p.current_s, "answers": p.answers, "devices": p.devices}
                        for p in proposals],
        "calibration_min_answers": calibration.MIN_ANSWERS,
    }


def _felt_by(rows: list[tuple], idx: int, key: str, min_size: int) -> list[dict]:
    groups = _felt_groups([(labels[idx], dev, answer, m) for dev, labels, _t, _a, answer, m in rows], min_size,
                          lambda _g: OTHER_GROUP)
    return [{key: r.pop("group"), **r} for r in groups]


def _felt_groups(items: list[tuple], min_size: int, *parents: Callable) -> list[dict]:
    """Items (group, device, answer, model seconds) merged into each ``parent`` in turn while a group has answers
    from fewer than ``min_size`` devices; one row per resulting group, the most asked first, ``other`` last."""
    for parent in parents:
        name = merge_small({g: len(d) for g, d in _answering(items).items()}, min_size, parent)
        items = [(name[group], dev, answer, m) for group, dev, answer, m in items]
    grouped: dict = defaultdict(list)
    for group, dev, answer, m in items:
        grouped[group].append((dev, answer, m))
    answering = _answering(items)
    # what a group under the size said is withheld, and the next smallest group's while the totals would tell it
    withheld = withhold_small({g: len(d) for g, d in answering.items()}, min_size,
                              together=lambda groups: len(set().union(*(answering[g] for g in groups))))
    out = [_felt_row(g, members, g not in withheld) for g, members in grouped.items()]
    return sorted(out, key=lambda r: (OTHER_GROUP in (r["group"] if isinstance(r["group"], tuple) else (r["group"],)),
                                      -r["questions"], str(r["group"])))


def _answering(items: list[tuple]) -> dict:
    """Group -> the devices that answered in it (a button clicked), from items (group, device, answer, ...)."""
    out: dict = defaultdict(set)
    for group, dev, answer, *_ in items:
        out[group].update([dev] if answer != UNANSWERED else [])
    return out


def _felt_row(group, members: list, shown: bool) -> dict:
    """One group's figures from its (device, answer, model seconds); what its people said only if ``shown``."""
    answered = [(dev, answer, m) for dev, answer, m in members if answer != UNANSWERED]
    devices = len({dev for dev, _a, _m in answered})
    shown = shown and bool(answered)
    counts = {a.name: sum(1 for _d, answer, _m in answered if answer == a.name) for a in BUTTONS}
    return {
        "group": group,
        "questions": len(members),
        "answered": len(answered) if shown else None,
        "answer_rate": len(answered) / len(members) if shown else None,
        "devices": devices if shown else None,
        "withheld": not shown,
        "shares": {k: n / len(answered) for k, n in counts.items()} if shown else None,
        "model_seconds_each": sum(m for _d, _a, m in members) / len(members) if members else None,
        "felt_seconds_each": (sum(BY_ANSWER[a].felt_s for _d, a, _m in answered) / len(answered)) if shown else None,
    }


def _felt_text(group: tuple[str, str], r: dict) -> str:
    """The comparison in words, e.g. "Crashes of SAP GUI: the model counts 3 min each; people who answered said
    'More than 15 minutes' 60% of the time (they felt 17 min on average; 12 answers from 8 people)."."""
    etype, app = group
    what = fmt.type_label(etype) if etype != OTHER_GROUP else "Other disruptions"
    if etype != OTHER_GROUP and (events.BY_NAME[etype].of_app if etype in events.BY_NAME else False):
        what += " of other applications" if app == OTHER_GROUP else f" of {app}"
    said = f"{what}: the model counts {fmt.minutes(r['model_seconds_each'])} each"
    if r["withheld"]:
        return f"{said}; too few people answered to say what they felt."
    top = max(sorted(r["shares"]), key=lambda k: (r["shares"][k], ANSWER_ORDER[k]))
    return (f"{said}; people who answered said '{BY_ANSWER[top].label}' {fmt.pct(r['shares'][top])} of the time "
            f"(they felt {fmt.minutes(r['felt_seconds_each'])} on average; {r['answered']} answers from "
            f"{r['devices']} people).")


def _changes(f: WeekFacts, min_size: int) -> dict:
    """The changes first seen in the week (or in the window before it, whose after-windows end in it): devices
    that moved, disruptions and lost time per active hour before and after their move, and the verdict, in words.
    Fewer than ``min_size`` compared devices are not judged."""
    cs = f.change_settings
    rows = []
    for name, e in f.changes:
        before, after = e.rate("before"), e.rate("after")
        rows.append({
            "kind": e.kind, "subject": name, "version": e.value, "first_seen": _iso_time(e.first_seen), "adopters": e.adopters,
            "devices": e.devices, "before_active_hours": e.before_active_s / 3600,
            "after_active_hours": e.after_active_s / 3600, "before_disruptions": e.before_disruptions,
            "after_disruptions": e.after_disruptions,
            "before_per_100h": None if before is None else 100 * before,
            "after_per_100h": None if after is None else 100 * after,
            "before_lost_minutes_per_hour": _per_minute(e.rate("before", "lost_s")),
            "after_lost_minutes_per_hour": _per_minute(e.rate("after", "lost_s")),
            "ratio": e.ratio(), "p_value": e.p_value, "verdict": e.verdict,
            "verdict_text": change_figures.VERDICT_TEXT[e.verdict],
            "text": _change_text(name, e, min_size, cs),
        })
    return {"window_days": cs.window_days, "min_active_hours": cs.min_active_hours, "significance": cs.significance,
            "rows": rows, "empty": "No application version or OS build was new to the fleet this week or the "
                                   f"{cs.window_days:g} days before."}


def _iso_time(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _per_minute(rate_s: float | None) -> float | None:
    return None if rate_s is None else rate_s / 60


def _change_text(name: str, e: change_figures.Effect, min_size: int, cs: change_figures.ChangeSettings) -> str:
    """One change in words, e.g. "Failures of SAP GUI per 100 active hours: 10.0 before 7.70, 20.1 after, on 38
    devices: worse, not noise (p = 0.0001)."."""
    what = f"Failures of {name}" if e.kind == change_figures.APP_VERSION else "Disruptions"
    version = e.value if e.kind == change_figures.APP_VERSION else f"OS build {e.value}"
    before, after = e.rate("before"), e.rate("after")
    if e.verdict == change_figures.EARLY:
        hours = min(e.before_active_s, e.after_active_s) / 3600
        return (f"{version}{'' if e.kind == change_figures.OS_BUILD else f' of {name}'}: {e.adopters} devices moved "
                f"to it; too early or too few devices to judge ({e.devices} devices active before and after, "
                f"{hours:.0f} active hours on the thinner side; at least {min_size} devices and "
                f"{cs.min_active_hours:g} h each side are needed).")
    verdict = {change_figures.WORSE: "worse, not noise", change_figures.BETTER: "better, not noise",
               change_figures.UNCLEAR: "no clear change, the difference could be chance"}[e.verdict]
    return (f"{what} per 100 active hours: {100 * before:.2f} before {version}, {100 * after:.2f} after, on "
            f"{e.devices} devices: {verdict} ({'p < 0.001' if e.p_value < 0.001 else f'p = {e.p_value:.2g}'}).")


def repeat_ranking(f: WeekFacts, settings: ReportSettings) -> list[str]:
    """The devices with repeated problems, worst first (the report lists the first ``settings.repeat_devices``)."""
    lost, count = _per_device(f)
    repeat = [d for d, n in count.items() if n >= settings.repeat_threshold]
    return sorted(repeat, key=lambda d: (-lost.get(d, 0.0), -count[d], d))


def _repeat_devices(f: WeekFacts, settings: ReportSettings) -> tuple[list[dict], int]:
    lost, count = _per_device(f)
    cause: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for dev, t, n in f.disruptions:
        cause[dev][t] += n
    repeat = repeat_ranking(f, settings)
    key = settings.pseudonym_key.encode() or secrets.token_bytes(16)
    sizes: tuple[dict[str, int], dict[str, int]] = (defaultdict(int), defaultdict(int))
    for site, dept in f.devices.values():
        sizes[0][site] += 1
        sizes[1][dept] += 1
    site_name, dept_name = (merge_small(s, settings.min_group_size) for s in sizes)
    out = []
    for d in repeat[: settings.repeat_devices]:
        site, dept = _group(f, d)
        out.append({
            "device": pseudonym(d, key),
            "site": site_name.get(site, OTHER_GROUP), "department": dept_name.get(dept, OTHER_GROUP),
            "disruptions": count[d], "lost_seconds": lost.get(d, 0.0),
            "main_cause": max(sorted(cause[d]), key=lambda t: cause[d][t]),
            "main_app": max(sorted(f.device_apps[d]), key=f.device_apps[d].get) if f.device_apps.get(d) else None,
        })
    return out, len(repeat)


def _method(f: WeekFacts, model: Model, settings: ReportSettings, repeat_total: int, app_use: dict) -> dict:
    known = max(f.known_devices, len(f.devices))
    notes = [
        "Lost time counts only while the employee was active at the device; overlapping disruptions on one device "
        "are merged and each moment is attributed to one cause, so the figures by type add up to the total.",
        "Employees are counted as reporting devices (one device per employee).",
        f"Week boundaries and the heat map are in the {settings.timezone} time zone, to the hour; application "
        "versions and connectivity outages are counted by UTC day of their start.",
        f"Hours of use are the employees' focused time in each application (the foreground window's): "
        f"{app_use['focus_seconds'] / 3600:,.1f} h across the fleet this week, by UTC day of each period's start. "
        "A device counts at most its active time of each day, as its heartbeats show it. Rates per hour of use "
        f"are shown for applications used at least {app_use['min_focus_hours']:g} h in the week.",
        *model.notes,
    ]
    if not settings.pseudonym_key:
        notes.append("Device pseudonyms are keyed with a new random key for every report; set report.pseudonym_key "
                     "to keep them stable from week to week.")
    if f.pending_device_days:
        notes.append(f"{f.pending_device_days} device-days received shortly before the report was built were still "
                     "being computed and may be missing from these figures.")
    return {
        "model_version": model.version,
        "parameters": model.parameters,
        "reporting_devices": len(f.devices),
        "known_devices": known,
        "silent_devices": known - len(f.devices),
        "coverage": len(f.devices) / known if known else None,
        "repeat_threshold": settings.repeat_threshold,
        "repeat_devices_total": repeat_total,
        "min_group_size": settings.min_group_size,
        "pending_device_days": f.pending_device_days,
        "focus_seconds": app_use["focus_seconds"],
        "min_focus_hours": app_use["min_focus_hours"],
        "notes": notes,
    }


# ------------------------------------------------------------ device cohorts

TOP_COHORTS = 15  # named rows of each cohort table (those of the most devices); the rest are other
MEMORY_CLASSES = ((8, "< 8 GiB"), (16, "8-15 GiB"), (32, "16-31 GiB"), (math.inf, ">= 32 GiB"))  # upper bound in GiB
UNKNOWN = "unknown"


def memory_class(memory_bytes: int) -> str:
    """The memory class of a device: its memory to the nearest GiB (what is usable is a little under what is
    installed) in one of :data:`MEMORY_CLASSES`, ``unknown`` when not read (0)."""
    if memory_bytes <= 0:
        return UNKNOWN
    gib = round(memory_bytes / 2**30)
    return next(label for bound, label in MEMORY_CLASSES if gib < bound)


def waits_summary(seconds: list[float], slow: int, lost_s: float) -> dict:
    """Boots or sign-ins: how many, the median and 90th percentile of their waits, the share beyond the
    threshold, the time lost beyond it."""
    n = len(seconds)
    return {"count": n, "median_seconds": statistics.median(seconds) if n else None,
            "p90_seconds": (statistics.quantiles(seconds, n=10, method="inclusive")[-1] if n > 1 else
                            seconds[0] if n else None),
            "slow_share": slow / n if n else None, "lost_seconds": lost_s}


_COHORT_KEYS = {"by_model": ("hw_model", lambda c: c[0]), "by_os_build": ("os_build", lambda c: c[1]),
                "by_memory": ("memory", lambda c: memory_class(c[3]))}


def _cohorts(f: WeekFacts, settings: ReportSettings) -> dict:
    """Lost time, disruptions and the waits of boots and sign-ins per hardware model, OS build and memory class
    (each device's latest), the worst per device first; groups of fewer than ``min_group_size`` reporting devices,
    and those beyond the :data:`TOP_COHORTS` of the most devices, merged into other."""
    cohort = {dev: f.cohorts.get(dev, (UNKNOWN, UNKNOWN, UNKNOWN, 0)) for dev in
              {*f.devices, *f.active, *_per_device(f)[0], *_per_device(f)[1], *(w[0] for w in f.waits)}}
    waits: dict[str, list] = {stage: [[], 0, 0.0] for stage in events.ROUTINE_TYPES}
    for _dev, stage, secs, beyond in f.waits:
        waits[stage][0].append(secs)
        waits[stage][1] += beyond > 0
    for _dev, etype, secs in f.lost:
        if etype in waits:
            waits[etype][2] += secs
    out: dict = {"waits": {stage: waits_summary(*w) for stage, w in waits.items()}, "top": TOP_COHORTS}
    for table, (key, of) in _COHORT_KEYS.items():
        out[table] = _cohort_rows(f, settings, key, {dev: of(c) for dev, c in cohort.items()},
                                  {dev: c[2] for dev, c in cohort.items()} if table == "by_model" else None)
    return out


def _cohort_rows(f: WeekFacts, settings: ReportSettings, key: str, group_of: dict[str, str],
                 cpu_of: dict[str, str] | None) -> list[dict]:
    sizes: dict[str, int] = defaultdict(int)
    for dev in f.devices:
        sizes[group_of[dev]] += 1
    named = merge_small(sizes, settings.min_group_size)
    kept = top({g: n for g, n in sizes.items() if named[g] == g}, TOP_COHORTS)
    rows: dict[str, dict] = {}

    def row(dev: str) -> dict:
        g = group_of[dev] if group_of[dev] in kept else OTHER_GROUP
        if g not in rows:
            rows[g] = {key: g, "devices": 0, "groups": set(), "lost_seconds": 0.0, "active_seconds": 0.0,
                       "disruptions": 0, "waits": {stage: [[], 0, 0.0] for stage in events.ROUTINE_TYPES},
                       "cpu": defaultdict(int)}
        return rows[g]

    for dev in f.devices:
        r = row(dev)
        r["devices"] += 1
        r["groups"].add(group_of[dev])
        if cpu_of is not None:
            r["cpu"][cpu_of[dev]] += 1
    lost, count = _per_device(f)
    for dev in group_of:
        r = row(dev)
        r["lost_seconds"] += lost.get(dev, 0.0)
        r["active_seconds"] += f.active.get(dev, 0.0)
        r["disruptions"] += count.get(dev, 0)
    for dev, stage, secs, beyond in f.waits:
        w = row(dev)["waits"][stage]
        w[0].append(secs)
        w[1] += beyond > 0
    for dev, etype, secs in f.lost:
        if etype in events.ROUTINE_TYPES:
            row(dev)["waits"][etype][2] += secs
    out = []
    for r in rows.values():
        n, hours = r["devices"], r["active_seconds"] / 3600
        enough = enough_use(r["active_seconds"], settings.min_focus_hours)
        cpu, waits = r.pop("cpu"), r.pop("waits")
        out.append({**r, "groups": len(r["groups"]), "lost_hours": r["lost_seconds"] / 3600,
                    "lost_seconds_per_device": r["lost_seconds"] / n if n else 0.0,
                    "disruptions_per_device": r["disruptions"] / n if n else 0.0,
                    "disruptions_per_100h": 100 * r["disruptions"] / hours if enough else None,
                    **{stage: waits_summary(*w) for stage, w in waits.items()},
                    **({"cpu_class": max(sorted(cpu), key=cpu.get) if cpu else None} if cpu_of is not None else {})})
    return sorted(out, key=lambda r: (r[key] == OTHER_GROUP, -r["lost_seconds_per_device"], r[key]))
