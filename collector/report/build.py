"""Compute the weekly report dict from the collector database, reading only.

Every figure comes through the impact model's queries
(:mod:`collector.aggregates.queries`): lost and active time from its hourly
aggregates, the same figures /metrics exports, so the report and Prometheus
agree; application versions and the causes and durations of connectivity
outages, and the hours of use per application, from the per-day counts ingest
keeps; which devices were known from the device table. Applications are named as the week's own figures
say (:func:`_load_apps`: catalogued, then the uncatalogued executables that lost the most time that week),
which may differ from the names /metrics exported during the week. Costs and scores use the model's own formulas
(``collector.impact.cost`` and ``score_of`` the version shown). Building a report never writes:
it reads what the collectors' refresher has computed, and says in its method
section how many device-days were still waiting to be recomputed. Each query
is grouped in SQL; docs/report.md ("Performance") says what that costs at
10,000 devices.
"""

from __future__ import annotations

import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Callable, Iterator

from sqlalchemy.engine import Connection, Engine

from collector import aggregates, impact
from collector.aggregates import changes, discover, felt, queries, support
from collector.config import CollectorConfig
from collector.db import is_sqlite
from collector.labels import top
from collector.report import ReportError
from collector.report.assemble import APP_TYPES, VERSION_TYPES, Model, WeekFacts, assemble, repeat_ranking
from collector.report.week import last_complete_week, parse_week, previous_weeks, week_bounds, week_label
from contract.events import EVENT_TYPES

TREND_WEEKS = 4
MMAP_BYTES = 1 << 30  # SQLite caps it at its compile-time maximum


def model_of(cfg: impact.ModelConfig, version: str = impact.MODEL_VERSION) -> Model:
    """The report's view of the impact model shown under ``version``: version, parameters, cost and score (0..100)."""

    def score(lost_s: float, impacted_s: float, active_s: float) -> float | None:
        value = impact.score_of(version, lost_s, impacted_s, active_s)
        return None if value is None else 100.0 * value

    return Model(version=cfg.versioned(version), parameters=cfg.parameters(version), currency=cfg.currency,
                 cost=lambda lost_s, department: impact.cost(lost_s, department, cfg), score=score,
                 contact_s=cfg.contact_s, recovery_s=cfg.recovery_s, notes=[score_note(cfg, version)])


def score_note(cfg: impact.ModelConfig, version: str) -> str:
    """How the experience score of figures shown under ``version`` is computed, in words."""
    if version in ("1", "2"):
        return (f"Experience score (model version {version}): 100 x (1 - lost / active time); the productivity loss "
                "is the same ratio, lost / active.")
    return (f"Experience score (model version {version}): the share of the employees' active time outside the "
            f"device-hours in which disruptions cost {cfg.impacted_hour_lost_s:g} s or more "
            "(impacted_hour_lost_s); an application's, outside the hours its own lost time reached that, over the "
            "active time of the devices on the UTC days they reported it. The productivity loss is lost / active "
            "time.")


def build_report(engine: Engine, config: CollectorConfig, week: str | None = None, now: float | None = None,
                 model: str = impact.MODEL_VERSION) -> dict:
    """The report dict for ISO week ``week`` (default: the last complete week) from the database, under impact
    model version ``model`` (version 1: without the support cause's types).

    Reads the week, and the trend's earlier weeks on a second connection.
    """
    if model not in impact.MODEL_VERSIONS:
        raise ReportError(f"model version {model!r}: expected one of {', '.join(impact.MODEL_VERSIONS)}")
    settings = config.section("report")
    zone = settings.zone
    week = week if week is not None else last_complete_week(datetime.fromtimestamp(now, timezone.utc) if now else None, zone)
    monday = parse_week(week)
    model_cfg = aggregates.model_config(config)

    def weeks_of(mondays: list[date]) -> list[WeekFacts]:
        with engine.connect() as conn, _mapped(conn):
            facts = [_week_facts(conn, config, zone, m, full=(m == monday), model=model) for m in mondays]
            if monday in mondays:
                facts[-1].pending_device_days = queries.pending(conn)
            return facts

    with ThreadPoolExecutor(1) as pool:
        # the trend's earlier weeks on a second connection meanwhile (the driver lets go of the GIL as it reads)
        earlier = pool.submit(weeks_of, previous_weeks(monday, TREND_WEEKS - 1))
        this_week = weeks_of([monday])
        weeks = [*earlier.result(), *this_week]
    ws, we = week_bounds(monday, zone)
    period = {"start": _iso(ws), "end": _iso(we), "last_day": (monday + timedelta(days=6)).isoformat(),
              "timezone": settings.timezone}
    generated = _iso(time.time() if now is None else now)
    return assemble(weeks, model_of(model_cfg, model), settings, period, generated)


@contextmanager
def _mapped(conn: Connection) -> Iterator[None]:
    """On SQLite, read the file through a memory map while the report runs: mapped pages cost no system call
    each, and the week's rows are scattered over a file of many weeks."""
    if not is_sqlite(conn):
        yield
        return
    before = conn.exec_driver_sql("PRAGMA mmap_size").scalar()
    conn.exec_driver_sql(f"PRAGMA mmap_size={MMAP_BYTES}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA mmap_size={int(before or 0)}")


def _week_facts(conn: Connection, config: CollectorConfig, zone: tzinfo, monday: date, full: bool,
                model: str) -> WeekFacts:
    """What the report needs of one week (in ``zone``) under model version ``model``; ``full=False`` skips what
    only the report's own week shows."""
    ws, we = week_bounds(monday, zone)
    f = WeekFacts(week=week_label(monday))
    apps = _load_apps(conn, config, ws, we, f, model) if full else None
    _load_model_figures(conn, ws, we, f, apps.name if apps else None, model)
    f.known_devices = len(queries.known_devices(conn, ws, we) | set(f.devices))
    if apps:
        _load_heat_map(conn, monday, zone, ws, we, f, model)
        _load_app_figures(conn, config, apps, ws, we, f, model)
        f.outages = [(dev, cause, int(n), float(seconds or 0.0))
                     for dev, cause, n, seconds in queries.outages_by_device(conn, ws, we)]
        f.network = [(dev, measure, label, int(n), float(seconds or 0.0))
                     for dev, measure, label, n, seconds in queries.network_by_device(conn, ws, we)]
        _load_support(conn, config, apps, ws, we, f)
        _load_answers(conn, config, apps, ws, we, f)
        f.cohorts = {row[0]: row[1:] for row in queries.cohorts(conn)}
        f.waits = queries.waits(conn, ws, we)
        f.changes, f.change_settings = changes.in_period(conn, config, ws, we), changes.settings_of(config)
        named = sorted(apps.catalogued | apps.discovered)
        if named:
            f.versions = [(app, version, int(n))
                          for app, version, n in queries.versions(conn, ws, we, VERSION_TYPES, named)]
    return f


def _load_apps(conn: Connection, config: CollectorConfig, ws: float, we: float, f: WeekFacts,
               model: str) -> discover.AppLabels:
    """How the week's report names applications, returned: catalogued names, and the week's own ``[collector]
    discovered_apps`` uncatalogued executables that lost the most time (from the per-device rows, whatever
    /metrics exported); the rest is ``other``, ``f.other_apps`` executables. Fills ``f.apps``: lost time and
    disruptions per application label and type."""
    rows = queries.lost_by(conn, ws, we, ["type", "app"], where={"type": APP_TYPES}, model=model)
    labels = discover.AppLabels(config, ())
    lost: dict[str, float] = defaultdict(float)
    for _etype, app, lost_s, n in rows:
        if (lost_s > 0 or n) and labels.discoverable(app):
            lost[app] += max(float(lost_s), 0.0)
    named = top(lost, config.collector.discovered_apps) if config.collector.discovered_apps else set()
    f.other_apps = len(lost) - len(named)
    labels = discover.AppLabels(config, named)
    sums: dict[tuple[str, str], list] = {}
    for etype, app, lost_s, n in rows:
        acc = sums.setdefault((labels.name(app), etype), [0.0, 0])
        acc[0] += float(lost_s)
        acc[1] += int(n)
    f.apps = [(app, etype, lost_s, n) for (app, etype), (lost_s, n) in sorted(sums.items())]
    return labels


def _load_model_figures(conn: Connection, ws: float, we: float, f: WeekFacts,
                        label_of: Callable[[str], str] | None, model: str) -> None:
    """Fill the devices, lost, disruption and active figures of ``f`` from the impact model's hourly aggregates.

    Lost seconds and disruptions per device and type, and active seconds per
    device and labels. Given ``label_of`` (the application label function),
    also the devices per application: the same scan gives each device's
    distinct applications with disruptions. Each reporting device gets the
    site and department the aggregates recorded, the pair with the most
    active time if the device moved during the week.
    """
    apps_of: dict[str, set[str]] = defaultdict(set)  # device -> raw applications with disruptions of APP_TYPES
    seen = set()
    for dev, etype, lost_s, n, *apps in queries.lost_by(conn, ws, we, ["device_id", "type"], where={"type": EVENT_TYPES},
                                                         apps_of=APP_TYPES if label_of else (), model=model):
        seen.add(dev)
        if lost_s > 0:
            f.lost.append((dev, etype, float(lost_s)))
        if n:
            f.disruptions.append((dev, etype, int(n)))
        if apps and apps[0]:
            apps_of[dev].update(queries.split_apps(apps[0]))
    if label_of:
        app_devices: dict[str, int] = defaultdict(int)
        for apps in apps_of.values():
            for label in {label_of(a) for a in apps}:
                app_devices[label] += 1
        f.app_devices = dict(app_devices)
    pairs: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for dev, site, department, active_s, impacted_s in queries.active_by(conn, ws, we,
                                                                         ["device_id", "site", "department"]):
        pairs[dev][(site, department)] = float(active_s)
        if active_s > 0:
            f.active[dev] = f.active.get(dev, 0.0) + float(active_s)
            f.impacted[dev] = f.impacted.get(dev, 0.0) + float(impacted_s)
    # A device's lost and active rows of one day carry the same labels (one refresh computes both), and an
    # active pair always outweighs one with lost rows only: those count only for devices without active time.
    no_active = sorted(seen - set(pairs))
    for chunk in range(0, len(no_active), 1000):
        for dev, site, department, _lost, _n in queries.lost_by(conn, ws, we, ["device_id", "site", "department"],
                                                                where={"device_id": no_active[chunk:chunk + 1000]},
                                                                model=model):
            pairs[dev].setdefault((site, department), 0.0)
    f.devices = {dev: max(sorted(p), key=lambda k: p[k]) for dev, p in pairs.items()}


def _load_heat_map(conn: Connection, monday: date, zone: tzinfo, ws: float, we: float, f: WeekFacts,
                   model: str) -> None:
    """Lost time by weekday and hour of the day in the report's time zone, from the label rollup."""
    for hour, lost_s, _n in queries.lost_by_label(conn, ws, we, ["hour"], model=model):
        local = datetime.fromtimestamp(hour, zone)
        day = (local.date() - monday).days
        if 0 <= day < 7:
            f.heat[day][local.hour] += float(lost_s)


def _load_app_figures(conn: Connection, config: CollectorConfig, apps: discover.AppLabels, ws: float, we: float,
                      f: WeekFacts, model: str) -> None:
    """Application figures: the active and impacted time each application label's score divides (UTC days, as
    /metrics: an uncatalogued executable has a score where /metrics labelled it too), hours of use per application
    label, and the applications (labelled as the week's ``apps``) of the repeat devices listed."""
    f.app_active = {app: (float(active_s), float(impacted_s))
                    for app, active_s, impacted_s in queries.app_active_by(conn, ws, we)}
    for app, focus_s in queries.focus_by(conn, ws, we, ["app"]):
        label = config.app_label(app)  # a name no longer catalogued: other
        f.app_focus[label] = f.app_focus.get(label, 0.0) + float(focus_s)
    settings = config.section("report")
    listed = repeat_ranking(f, settings)[:settings.repeat_devices]
    for dev, etype, app, _lost, n in queries.lost_by(conn, ws, we, ["device_id", "type", "app"],
                                                     where={"device_id": listed}, model=model):
        if n:
            counts = f.device_apps.setdefault(dev, {})
            label = apps.label(etype, app)
            counts[label] = counts.get(label, 0) + int(n)


def _load_support(conn: Connection, config: CollectorConfig, apps: discover.AppLabels, ws: float, we: float,
                  f: WeekFacts) -> None:
    """The tickets opened in the week, each with the measured disruption it followed (its application labelled)."""
    f.tickets_stored = support.any_ticket(conn)
    f.ticket_window_s = config.section("support").ticket_after_disruption_s
    f.tickets = [(*t[:-1], t.cause.type if t.cause else None,
                  apps.label(t.cause.type, t.cause.app) if t.cause and t.cause.app else None)
                 for t in support.tickets_opened(conn, ws, we, f.ticket_window_s)]


def _load_answers(conn: Connection, config: CollectorConfig, apps: discover.AppLabels, ws: float, we: float,
                  f: WeekFacts) -> None:
    """The pulse's answers to questions shown in the week, joined to their events (the application labelled)."""
    f.answers = [(a.device_id, f.devices.get(a.device_id, (a.site, a.department)), a.type,
                  apps.label(a.type, a.app), a.answer, a.model_s)
                 for a in felt.answers_in(conn, ws, we, aggregates.model_config(config))]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


