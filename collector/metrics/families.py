"""What /metrics exports from the database: one function per metric family, listed in :data:`FAMILIES`.

A family function takes a :class:`ScrapeContext` and yields rows-based
families (:func:`~collector.metrics.exposition.counter`,
:func:`~collector.metrics.exposition.gauge`). All read small tables only
(devices, counters kept up to date at ingest, the impact model's rollups),
never the events, so every replica exports the same numbers and a scrape
stays fast as history grows. Every label value an agent chose goes through
the scrape's :class:`~collector.labels.Labels` (bounded, small groups merged)
before it is exported. Extensions append their families to FAMILIES.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

import sqlalchemy as sa
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString
from sqlalchemy.engine import Connection

from collector import aggregates, impact
from collector.aggregates import changes as change_figures, discover, queries, support
from collector.aggregates.marks import WAIT_BUCKETS_S
from collector.config import CollectorConfig
from collector.labels import OTHER, Labels, min_group_size, top_versions, withhold_small
from collector.metrics.exposition import counter, gauge
from collector.models import (
    active_week_table, app_active_week_table, app_version_count_table, device_table, device_week_table,
    disruption_count_table, felt_count_table, felt_device_table, impact_total_table, lost_week_table,
    outage_count_table, support_count_table, support_source_table, wait_count_table,
)
from collector.aggregates import network
from collector.models import network_count_table, network_device_table
from contract import __version__
from contract.answers import BUTTONS, UNANSWERED

# Labels of hinder_collector_info; the impact model sets "model_version".
INFO_LABELS: dict[str, str] = {"version": __version__, "model_version": impact.MODEL_VERSION}


@dataclass
class ScrapeContext:
    """What a metric family function gets: an open read connection, the config, the scrape time."""

    conn: Connection
    config: CollectorConfig
    now: float
    _named: dict[str, list[str]] | None = field(default=None, init=False, repr=False)
    _device_groups: list[tuple] | None = field(default=None, init=False, repr=False)
    _labels: Labels | None = field(default=None, init=False, repr=False)
    _versions: tuple[list[tuple], int] | None = field(default=None, init=False, repr=False)
    _cohort_groups: list[tuple] | None = field(default=None, init=False, repr=False)
    _apps: discover.AppLabels | None = field(default=None, init=False, repr=False)

    def label_rows(self, statements: _LabelRows) -> list[tuple]:
        """The rows of a label table: bounded in SQL when devices report values beyond those named, else as
        stored (cheaper); either way the families fold them through :meth:`labels`."""
        labels = self.labels()
        if not labels.unlisted:
            return self.rows(statements.stored)
        if self._named is None:
            self._named = {param: sorted(values) for param, values in zip(_BOUNDED.values(), labels.named)}
        return self.rows(statements.bounded, self._named)

    def device_groups(self) -> list[tuple]:
        """(site, department, os, agent_version, reporting, devices, spool_dropped) per label set.

        One grouped scan of the device table, shared by every family that
        counts devices (read once per scrape, on first use).
        """
        if self._device_groups is None:
            self._device_groups = self.rows(_DEVICE_GROUPS, {"since": self.now - self.config.collector.silent_after_s})
        return self._device_groups

    def cohort_groups(self) -> list[tuple]:
        """(hw_model as ``aggregates.model_name`` names it, os_build, devices, week lost s, week active s, week
        disruptions) per distinct cohort of the device table (read once per scrape, on first use)."""
        if self._cohort_groups is None:
            self._cohort_groups = [(aggregates.model_name(vendor, model), *rest)
                                   for vendor, model, *rest in self.rows(_COHORT_GROUPS)]
        return self._cohort_groups

    def labels(self) -> Labels:
        """How this scrape exports the label values agents chose (built once, from :meth:`device_groups` and
        :meth:`cohort_groups`)."""
        if self._labels is None:
            self._labels = Labels(self.config, [(*g[:4], g[5]) for g in self.device_groups()],
                                  [g[:3] for g in self.cohort_groups()])
        return self._labels

    def versions(self) -> tuple[list[tuple], int]:
        """Disruptions by (app, version, type) of the applications exported now (catalogued or discovered), the
        top versions of each app by name; and how many were folded."""
        if self._versions is None:
            exported = self.apps().exported
            self._versions = top_versions([r for r in self.rows(_APP_VERSIONS) if exported(r[0])],
                                          self.config.collector.top_versions)
        return self._versions

    def apps(self) -> discover.AppLabels:
        """The application labels exported now: catalogued, discovered (``discovered_app``, read once per
        scrape), other. A stored label outside them (an executable no longer discovered) is not exported: its
        counters stop rather than move into ``other`` (collector.aggregates.discover)."""
        if self._apps is None:
            self._apps = discover.AppLabels(self.config, discover.read(self.conn))
        return self._apps

    def rows(self, statement: sa.Executable, params: dict | None = None) -> list[tuple]:
        """All rows of a statement as the driver's plain tuples.

        Not SQLAlchemy ``Row`` objects: those stay tracked by the garbage
        collector, and tens of thousands of them alive during a scrape get
        promoted to the oldest generation and trigger a full collection of
        the server's heap every few scrapes (tens of milliseconds each).
        Tuples of plain values are untracked at the first young collection.
        """
        result = self.conn.execute(statement, params)
        try:
            return result.cursor.fetchall()
        finally:
            result.close()


Family = Callable[[ScrapeContext], Iterable[Metric]]


def _select(table: sa.Table, *columns: str) -> sa.Select:
    return sa.select(*(table.c[c] for c in columns))


def _relabelled(rows: Iterable[tuple], n_values: int, relabel: Callable[[tuple], tuple]) -> list[tuple]:
    """Rows of label values then ``n_values`` values, their labels mapped by ``relabel`` (given the whole row) and
    the values summed per resulting label set (folding several label sets into one)."""
    if n_values == 1:  # most families: one value, summed without lists
        sums: dict[tuple, float] = {}
        for row in rows:
            key = relabel(row)
            sums[key] = sums.get(key, 0) + row[-1]
        return [(*key, value) for key, value in sums.items()]
    out: dict[tuple, list] = {}
    for row in rows:
        key = relabel(row)
        acc = out.get(key)
        if acc is None:
            out[key] = list(row[-n_values:])
        else:
            for i, value in enumerate(row[-n_values:]):
                acc[i] += value
    return [(*key, *values) for key, values in out.items()]


# The label columns an agent chooses, each bounded in SQL to the values named in the bind parameter of that name
# (else "other"; ScrapeContext.label_rows): however many values agents sent, a scrape reads bounded rows.
_BOUNDED = {"site": "sites", "department": "departments", "os": "os_names"}  # in the order of Labels.named
_NAMED = {column: sa.bindparam(param, expanding=True) for column, param in _BOUNDED.items()}


@dataclass(frozen=True)
class _LabelRows:
    """Two statements reading the same label rows: as stored, and summed with the agent-chosen labels bounded in
    SQL (what a scrape runs when devices report values beyond those named: then it reads bounded rows only)."""

    stored: sa.Select
    bounded: sa.Select


def _label_rows(table: sa.Table, labels: list[str], values: list[str], where: sa.ColumnElement | None = None):
    """The rows of ``labels`` then ``values`` (column names) of a label table, as stored and bounded."""
    stored = sa.select(*[table.c[c] for c in labels + values])
    inner = sa.select(*[(sa.case((table.c[c].in_(_NAMED[c]), table.c[c]), else_=sa.literal(OTHER, sa.String))
                         if c in _NAMED else table.c[c]).label(c) for c in labels], *[table.c[v] for v in values])
    if where is not None:
        stored, inner = stored.where(where), inner.where(where)
    inner = inner.subquery()
    keys = [inner.c[c] for c in labels]
    bounded = sa.select(*keys, *[sa.func.sum(inner.c[v]) for v in values]).group_by(*keys)
    return _LabelRows(stored, bounded)


# Statements built once: building a SQLAlchemy expression costs more than running it on these tables.
_dc = device_table.c
_DEVICE_GROUPS = (
    sa.select(_dc.site, _dc.department, _dc.os, _dc.agent_version,
              sa.func.sum(sa.case((_dc.last_seen >= sa.bindparam("since"), 1), else_=0)), sa.func.count(),
              sa.func.sum(sa.cast(_dc.spool_dropped_total, sa.Float)))  # a float sum: 64-bit counts never overflow it
    .group_by(_dc.site, _dc.department, _dc.os, _dc.agent_version)
)
_dw = device_week_table.c
_COHORT_GROUPS = (  # the devices of each cohort and their trailing week (devices without one: zeros)
    sa.select(_dc.hw_vendor, _dc.hw_model, _dc.os_build, sa.func.count(),
              sa.func.coalesce(sa.func.sum(_dw.lost_s), 0.0), sa.func.coalesce(sa.func.sum(_dw.active_s), 0.0),
              sa.func.coalesce(sa.func.sum(_dw.disruptions), 0))
    .select_from(device_table.outerjoin(device_week_table, _dw.device_id == _dc.id))
    .group_by(_dc.hw_vendor, _dc.hw_model, _dc.os_build)
)
_WAITS = _select(wait_count_table, "type", "hw_model", "os_build", "le", "count", "seconds", "slow")
_DISRUPTIONS = _label_rows(disruption_count_table, ["type", "app", "site", "department", "os"], ["count"])
_LOST_TOTALS = _label_rows(impact_total_table, ["type", "app", "site", "department"], ["exported"],
                           impact_total_table.c.metric == "lost")
_ACTIVE_TOTALS = _label_rows(impact_total_table, ["site", "department"], ["exported"],
                             impact_total_table.c.metric == "active")
_IMPACTED_TOTALS = _label_rows(impact_total_table, ["site", "department"], ["exported"],
                               impact_total_table.c.metric == "impacted")
_FOCUS_TOTALS = _label_rows(impact_total_table, ["app", "site", "department"], ["exported"],
                            impact_total_table.c.metric == "focus")
_OUTAGES = _label_rows(outage_count_table, ["cause", "site", "department"], ["outages", "seconds"])
_APP_VERSIONS = _select(app_version_count_table, "app", "version", "type", "count")
_LOST_WEEK = _label_rows(lost_week_table, ["type", "app", "site", "department"], ["lost_s"])
_ACTIVE_WEEK = _label_rows(active_week_table, ["site", "department"], ["active_s", "impacted_s"])
_APP_ACTIVE_WEEK = _select(app_active_week_table, "app", "active_s", "impacted_s")
_SUPPORT_COUNTS = _label_rows(support_count_table, ["channel", "site", "department"], ["contacts"])
_FELT_COUNTS = _label_rows(felt_count_table, ["answer", "type", "app", "site", "department"],
                           ["questions", "model_lost_s", "felt_s"])
_fd = felt_device_table.c
_FELT_DEVICES = sa.select(_fd.site, _fd.department, sa.func.count()).group_by(_fd.site, _fd.department)


def devices(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_devices{state,site,department,os}: devices reporting or silent (no heartbeat for silent_after_s)."""
    counts: dict[tuple[str, str, str], list[int]] = {}
    cells = ctx.labels().cells
    for site, department, os_name, _version, reporting, n, _dropped in ctx.device_groups():
        acc = counts.setdefault(cells[site, department, os_name], [0, 0])
        acc[0] += int(reporting or 0)
        acc[1] += n
    rows = []
    for (site, department, os_name), (reporting, n) in counts.items():
        rows.append(("reporting", site, department, os_name, reporting))
        rows.append(("silent", site, department, os_name, n - reporting))
    yield gauge("hinder_devices", "Devices by state: reporting (heartbeat within silent_after_s) or silent.",
                ["state", "site", "department", "os"], rows)


def agent_versions(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_agent_versions{agent_version,os}: devices per agent version."""
    counts: dict[tuple[str, str], int] = {}
    labels = ctx.labels()
    for _site, _department, os_name, version, _reporting, n, _dropped in ctx.device_groups():
        key = (labels.agent_versions[version], labels.os[os_name])
        counts[key] = counts.get(key, 0) + n
    yield gauge("hinder_agent_versions", "Devices per agent version.", ["agent_version", "os"],
                [(*key, n) for key, n in sorted(counts.items())])


def spool_dropped(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_agent_spool_dropped_records_total{site}: records agents dropped from full spools (latest totals)."""
    dropped: dict[str, int] = {}
    pairs = ctx.labels().pairs
    for site, department, _os, _version, _reporting, _n, n_dropped in ctx.device_groups():
        site = pairs[site, department][0]
        dropped[site] = dropped.get(site, 0) + int(n_dropped or 0)
    yield counter("hinder_agent_spool_dropped_records",
                  "Records the agents dropped because their spool was full, from their latest heartbeats.",
                  ["site"], sorted(dropped.items()))


def disruptions(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_disruptions_total{type,app,site,department,os}: disruptions stored, counted at ingest."""
    cells, exported = ctx.labels().cells, ctx.apps().exported
    yield counter("hinder_disruptions", "Disruptions received, by type, application and device labels.",
                  ["type", "app", "site", "department", "os"],
                  _relabelled([r for r in ctx.label_rows(_DISRUPTIONS) if exported(r[1], r[0])], 1,
                              lambda r: (r[0], r[1], *cells[r[2], r[3], r[4]])))


def collector_info(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_collector_info{version,model_version} = 1."""
    labels = {**INFO_LABELS, "model_version": aggregates.model_config(ctx.config).version}
    yield gauge("hinder_collector_info", "The collector's version and impact model version.", list(labels),
                [(*labels.values(), 1)])


# ---------------------------------------------------- impact model families
# All read small tables kept by collector.aggregates (totals per label set,
# label sums of the trailing week), never the per-device rows.

def lost_and_active_totals(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_lost_seconds_total{type,app,site,department}, hinder_active_seconds_total{site,department} and
    hinder_impacted_seconds_total{site,department}."""
    pairs, exported = ctx.labels().pairs, ctx.apps().exported
    yield counter("hinder_lost_seconds", "Working time lost to disruptions, by cause, after merging overlaps "
                  "(impact model); counted when the data arrives.", ["type", "app", "site", "department"],
                  _relabelled([r for r in ctx.label_rows(_LOST_TOTALS) if exported(r[1], r[0])], 1,
                              lambda r: (r[0], r[1], *pairs[r[2], r[3]])))
    yield counter("hinder_active_seconds", "Employee-active seconds reported by heartbeats.",
                  ["site", "department"], _relabelled(ctx.label_rows(_ACTIVE_TOTALS), 1, lambda r: pairs[r[0], r[1]]))
    yield counter("hinder_impacted_seconds", "Employee-active seconds of the device-hours whose lost time reached "
                  "the impact model's impacted_hour_lost_s (the experience score's numerator).",
                  ["site", "department"],
                  _relabelled(ctx.label_rows(_IMPACTED_TOTALS), 1, lambda r: pairs[r[0], r[1]]))


def app_focus(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_app_focus_seconds_total{app,site,department}: the employees' counted focus time per application
    (catalogued name or ``other``): the denominator of every rate per hour of use."""
    pairs, app_label = ctx.labels().pairs, ctx.config.app_label  # a name no longer catalogued: other
    yield counter("hinder_app_focus_seconds", "Employees' focused time in each application (the foreground "
                  "window's), at most the period's length and the device's active time per period; counted when "
                  "the totals arrive.", ["app", "site", "department"],
                  _relabelled(ctx.label_rows(_FOCUS_TOTALS), 1, lambda r: (app_label(r[0]), *pairs[r[1], r[2]])))


def connectivity_outages(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_connectivity_outages_total and hinder_connectivity_outage_seconds_total{cause,site,department}."""
    pairs = ctx.labels().pairs
    rows = _relabelled(ctx.label_rows(_OUTAGES), 2, lambda r: (r[0], *pairs[r[1], r[2]]))
    labels = ["cause", "site", "department"]
    yield counter("hinder_connectivity_outages", "Connectivity outages received, by cause.", labels,
                  [r[:4] for r in rows])
    yield counter("hinder_connectivity_outage_seconds",
                  "Wall-clock duration of the connectivity outages received, by cause.", labels,
                  [(*r[:3], r[4]) for r in rows])


def app_version_disruptions(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_app_version_disruptions_total{app,version,type}: catalogued and discovered applications, their top
    versions."""
    yield counter("hinder_app_version_disruptions", "Disruptions of catalogued and discovered applications, by "
                  "version (the versions with the most disruptions, the rest as other).", ["app", "version", "type"],
                  ctx.versions()[0])


def week_figures(ctx: ScrapeContext) -> Iterable[Metric]:
    """Trailing-week gauges by event time (the 7 UTC days ending today): lost, active and impacted seconds, scores.

    Read from the ``*_week`` tables the refresher keeps (one row per label
    set); right after midnight UTC they may still hold the day that just left
    the window until the next refresh (a few seconds). The scores are the
    impact model's (version 3: the share of active time outside impacted
    device-hours, ``impact.score``).
    """
    pairs, exported = ctx.labels().pairs, ctx.apps().exported
    rows = _relabelled(ctx.label_rows(_LOST_WEEK), 1,  # a gauge: an executable no longer discovered counts as other
                       lambda r: (r[0], r[1] if exported(r[1], r[0]) else OTHER, *pairs[r[2], r[3]]))
    lost = [(*r[:4], r[4] if r[4] > 0 else 0.0) for r in rows]  # clamp the rounding residue of applied differences
    active, impacted, scores = [], [], []
    for site, department, secs, hit in _relabelled(ctx.label_rows(_ACTIVE_WEEK), 2, lambda r: pairs[r[0], r[1]]):
        secs, hit = max(secs, 0.0), min(max(hit, 0.0), max(secs, 0.0))
        active.append((site, department, secs))
        impacted.append((site, department, hit))
        value = impact.score(hit, secs)
        if value is not None:
            scores.append((site, department, value))
    app_scores = []
    for app, secs, hit in ctx.rows(_APP_ACTIVE_WEEK):
        if not exported(app):
            continue
        value = impact.score(min(max(hit, 0.0), secs), secs)
        if value is not None:
            app_scores.append((app, value))
    yield gauge("hinder_week_lost_seconds", "Working time lost in the 7 UTC days ending today, by event time.",
                ["type", "app", "site", "department"], lost)
    yield gauge("hinder_week_active_seconds", "Employee-active seconds in the 7 UTC days ending today.",
                ["site", "department"], active)
    yield gauge("hinder_week_impacted_seconds", "Employee-active seconds in the 7 UTC days ending today of the "
                "device-hours whose lost time reached the impact model's impacted_hour_lost_s.",
                ["site", "department"], impacted)
    yield gauge("hinder_experience_score_ratio",
                "Share of the active time in the 7 UTC days ending today outside impacted device-hours "
                "(impact model version 3).", ["site", "department"], scores)
    yield gauge("hinder_app_experience_score_ratio", "Share of the active time of the devices on the days they "
                "reported the app outside the device-hours the app's own lost time impacted, 7 UTC days ending "
                "today (impact model version 3).", ["app"], app_scores)


def devices_disrupted(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_devices_disrupted{type,site}: devices with a disruption going on or started in the last 15 minutes."""
    sites = ctx.labels().sites
    yield gauge("hinder_devices_disrupted", "Devices with a disruption going on or started in the last 15 minutes.",
                ["type", "site"], _relabelled(queries.devices_disrupted(ctx.conn, ctx.now), 1,
                                              lambda r: (r[0], sites[r[1]])))


def hourly_cost(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_hourly_cost{department,currency}: the configured cost of one hour of work."""
    cfg = aggregates.model_config(ctx.config)
    departments = ctx.labels().departments() | set(cfg.department_hourly_cost)
    yield gauge("hinder_hourly_cost", "Configured cost of one hour of work, per department "
                "(multiply lost hours by it for the cost).", ["department", "currency"],
                [(department, cfg.currency, cfg.hourly_cost_for(department)) for department in sorted(departments)])


# ------------------------------------------------------ service-desk families
# Contacts counted when a ticket is first stored (support_count); the trailing week's tickets and the measured
# lost time of the devices that raised one (collector.aggregates.support), read per ticketed device only.

def support_contacts(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_support_contacts_total and hinder_support_contact_seconds_total{channel,site,department}."""
    pairs = ctx.labels().pairs
    model = aggregates.model_config(ctx.config)
    rows = _relabelled(ctx.label_rows(_SUPPORT_COUNTS), 1, lambda r: (r[0], *pairs[r[1], r[2]]))
    labels = ["channel", "site", "department"]
    yield counter("hinder_support_contacts", "Service-desk tickets opened, by channel and the labels of the device "
                  "they were traced to (else their own); counted when first stored.", labels, rows)
    yield counter("hinder_support_contact_seconds", "Employees' time spent contacting the service desk: tickets "
                  "times their channel's contact time (impact model).", labels,
                  [(*r[:3], r[3] * model.contact_s(r[0])) for r in rows])


def support_week(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_week_support_tickets{site,department,after_disruption} and
    hinder_week_lost_without_ticket_seconds{type,site,department}: the iceberg over the 7 UTC days ending today."""
    start, end = aggregates.week_window(ctx.now)
    pairs = ctx.labels().pairs
    counts: dict[tuple[str, str, str], int] = {}
    for t in support.tickets_opened(ctx.conn, start, end, ctx.config.section("support").ticket_after_disruption_s):
        key = (*pairs[t.site, t.department], "unknown" if not t.device_id else "yes" if t.cause else "no")
        counts[key] = counts.get(key, 0) + 1
    measured = set(support.MEASURED_TYPES)
    quiet: dict[tuple[str, str, str], float] = {}
    for etype, _app, site, department, secs in ctx.label_rows(_LOST_WEEK):
        if etype in measured:
            key = (etype, *pairs[site, department])
            quiet[key] = quiet.get(key, 0.0) + secs
    for etype, site, department, secs in support.lost_of_ticketed_devices(ctx.conn, start, end):
        key = (etype, *pairs[site, department])
        quiet[key] = quiet.get(key, 0.0) - secs
    yield gauge("hinder_week_support_tickets", "Service-desk tickets opened in the 7 UTC days ending today, by "
                "whether their device lost time to a measured disruption shortly before ([support] "
                "ticket_after_disruption_s): yes, no, or unknown (not traced to a device).",
                ["site", "department", "after_disruption"], [(*key, n) for key, n in sorted(counts.items())])
    yield gauge("hinder_week_lost_without_ticket_seconds", "Working time lost to measured disruptions in the 7 UTC "
                "days ending today on devices that raised no service-desk ticket in those days.",
                ["type", "site", "department"], [(*key, max(secs, 0.0)) for key, secs in sorted(quiet.items())])


def folded_labels(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_folded_label_values{label,reason} and hinder_folded_devices{label,reason}: what /metrics exports as
    ``other`` (collector.labels): values not configured or beyond the most reported, or groups under the minimum
    size."""
    values, devices_folded = ctx.labels().folded()
    values.append(("app_version", "unlisted", ctx.versions()[1]))
    cohort_values, cohort_devices_folded = ctx.labels().cohorts.folded()
    values += cohort_values
    devices_folded += cohort_devices_folded
    values.append(("app", "unlisted", discover.folded(ctx.conn, ctx.apps())))
    yield gauge("hinder_folded_label_values", "Distinct label values agents sent that /metrics exports as other: "
                "not configured or beyond the most reported (unlisted), or in a group under the minimum size.",
                ["label", "reason"], values)
    yield gauge("hinder_folded_devices", "Devices whose label /metrics exports as other, by label and reason.",
                ["label", "reason"], devices_folded)


_FELT_MINUTES = ", ".join(f"{a.name} {a.felt_s / 60:g} min" for a in BUTTONS)


def felt_vs_measured(ctx: ScrapeContext) -> Iterable[Metric]:
    """The pulse (collector.aggregates.felt): hinder_pulse_questions_total{type,app,site,department} and, by
    ``answer`` too, hinder_pulse_answers_total, hinder_pulse_model_lost_seconds_total (the model's lost time of
    those events alone) and hinder_pulse_felt_seconds_total (what the answers stand for, contract.answers).

    Beyond the fleet's group rule (:class:`~collector.labels.Labels`), a pair whose answers come from fewer than
    ``[report] min_group_size`` devices (``felt_device``) is exported as (other, other), and so are the next
    smallest pairs while that group would hold too few (:func:`~collector.labels.withhold_small`); if it still
    does, its answer-labelled series are left out. Questions fold alike: answered / asked stays one division."""
    pairs, exported = ctx.labels().pairs, ctx.apps().exported  # an app no longer labelled: its counters stop
    known: dict[tuple[str, str], int] = {}  # devices per pair, each in one pair only: several pairs' add up
    for site, department, n in ctx.rows(_FELT_DEVICES):
        key = pairs[site, department]
        known[key] = known.get(key, 0) + n
    rows = _relabelled([r for r in ctx.label_rows(_FELT_COUNTS) if exported(r[2], r[1])], 3,
                       lambda r: (r[0], r[1], r[2], *pairs[r[3], r[4]]))
    # answers whose devices are no longer known there (expired, moved, counted before m0014) count one device
    # at least, and nothing more (they may be the known devices of another pair)
    answered = {r[3:5] for r in rows if r[0] != UNANSWERED and r[5] > 0}
    sizes = {g: max(known.get(g, 0), int(g in answered)) for g in known.keys() | {r[3:5] for r in rows}}

    def together(groups: set) -> int:
        return max(sum(known.get(g, 0) for g in groups), int(not answered.isdisjoint(groups)))

    k, folded = min_group_size(ctx.config), (OTHER, OTHER)
    withheld = withhold_small(sizes, k, start=[folded], together=together)
    rows = _relabelled(rows, 3, lambda r: (*r[:3], *(folded if r[3:5] in withheld else r[3:5])))
    asked: dict[tuple, int] = {}
    for row in rows:
        asked[row[1:5]] = asked.get(row[1:5], 0) + row[5]
    if 0 < together(withheld) < k:  # the whole fleet's answers come from too few devices
        rows = [r for r in rows if r[3:5] != folded]
    labels = ["answer", "type", "app", "site", "department"]
    yield counter("hinder_pulse_questions", "Pulse questions asked about a measured disruption (answered or not), "
                  "counted once both the question and its disruption are stored.", labels[1:],
                  [(*key, n) for key, n in sorted(asked.items())])
    yield counter("hinder_pulse_answers", "Pulse questions by answer (unanswered: shown, no answer came).", labels,
                  [r[:6] for r in rows])
    yield counter("hinder_pulse_model_lost_seconds", "The impact model's lost time of the disruptions asked about, "
                  "each counted alone with the employee active, by the answer given.", labels,
                  [(*r[:5], r[6]) for r in rows])
    yield counter("hinder_pulse_felt_seconds", "The lost time the employees' answers stand for (an assumption per "
                  f"answer: {_FELT_MINUTES}).", labels,
                  [(*r[:5], r[7]) for r in rows])


_SUPPORT_SOURCES = _select(support_source_table, "name", "last_success", "last_error", "failures_total",
                           "fetched_total", "skipped_total")


def support_sources(ctx: ScrapeContext) -> Iterable[Metric]:
    """The health of each configured service-desk source (support_source): hinder_support_source_up,
    hinder_support_source_last_success_timestamp_seconds, hinder_support_source_failures_total,
    hinder_support_records_fetched_total and hinder_support_records_skipped_total, by ``source`` (configured names
    only: a source removed from the config is no longer exported)."""
    configured = [s.name for s in ctx.config.section("support").sources]
    stored = {row[0]: row[1:] for row in ctx.rows(_SUPPORT_SOURCES) if row[0] in configured}
    up, last, failures, fetched, skipped = [], [], [], [], []
    for name in configured:
        last_success, last_error, n_failures, n_fetched, n_skipped = stored.get(name, (None, None, 0, 0, 0))
        up.append((name, int(last_success is not None and last_error is None)))
        if last_success is not None:
            last.append((name, last_success))
        failures.append((name, n_failures))
        fetched.append((name, n_fetched))
        skipped.append((name, n_skipped))
    yield gauge("hinder_support_source_up", "1 if the last poll of the service-desk source succeeded, else 0.",
                ["source"], up)
    yield gauge("hinder_support_source_last_success_timestamp_seconds",
                "When the last poll of the service-desk source succeeded (Unix time).", ["source"], last)
    yield counter("hinder_support_source_failures", "Polls of the service-desk source that failed (unreachable, "
                  "refused the credentials, or not answering records).", ["source"], failures)
    yield counter("hinder_support_records_fetched", "Records read from the service-desk source.", ["source"], fetched)
    yield counter("hinder_support_records_skipped", "Records of the service-desk source refused (unreadable or out "
                  "of bounds; the collector log names the reasons).", ["source"], skipped)


_NETWORK = _label_rows(network_count_table, ["measure", "label", "site"], ["count", "seconds"])
_nd = network_device_table.c
_WIFI_DEVICES = (sa.select(_nd.site, _nd.band, sa.func.count())
                 .select_from(network_device_table.join(device_table, _nd.device_id == _dc.id))
                 .where(_nd.band != "", _dc.last_seen >= sa.bindparam("since")).group_by(_nd.site, _nd.band))


def network_quality(ctx: ScrapeContext) -> Iterable[Metric]:
    """What the connectivity sensor measures beyond outages' causes (collector.aggregates.network):
    hinder_connectivity_outages_by_interface_total and hinder_connectivity_outage_seconds_by_interface_total
    {interface_kind,site}, hinder_wifi_signal_seconds_total{band,site}, hinder_connectivity_blips_total{site},
    hinder_wifi_devices{band,site}."""
    sites = ctx.labels().sites
    rows = _relabelled(ctx.label_rows(_NETWORK), 2, lambda r: (r[0], r[1], sites[r[2]]))
    of = {m: sorted((label, site, n, s) for measure, label, site, n, s in rows if measure == m)
          for m in (network.OUTAGE, network.SIGNAL, network.BLIP)}
    yield counter("hinder_connectivity_outages_by_interface", "Connectivity outages received, by the interface in "
                  "use (wired, wifi, vpn, unknown).", ["interface_kind", "site"],
                  [(k, site, n) for k, site, n, _s in of[network.OUTAGE]])
    yield counter("hinder_connectivity_outage_seconds_by_interface", "Wall-clock duration of the connectivity "
                  "outages received, by the interface in use.", ["interface_kind", "site"],
                  [(k, site, s) for k, site, _n, s in of[network.OUTAGE]])
    yield counter("hinder_wifi_signal_seconds", "Employee-active seconds on Wi-Fi by signal band (good from -67 dBm, "
                  "fair down to -80 dBm, poor below), from the heartbeats' latest signal reading.", ["band", "site"],
                  [(band, site, s) for band, site, _n, s in of[network.SIGNAL]])
    yield counter("hinder_connectivity_blips", "Connectivity outages too short to report (blips), from the agents' "
                  "running counts.", ["site"], [(site, n) for _l, site, n, _s in of[network.BLIP]])
    now: dict[tuple[str, str], int] = {}
    for site, band, n in ctx.rows(_WIFI_DEVICES, {"since": ctx.now - ctx.config.collector.silent_after_s}):
        key = (band, sites[site])
        now[key] = now.get(key, 0) + n
    yield gauge("hinder_wifi_devices", "Reporting devices on Wi-Fi by the signal band of their newest heartbeat.",
                ["band", "site"], [(*key, n) for key, n in sorted(now.items())])
# ------------------------------------------------------------ device cohorts
# Hardware model and OS build, bounded and folded by collector.labels.Cohorts; new families rather than labels on
# the existing ones, so that the series of those do not multiply by the cohorts.

_COHORT = ["hw_model", "os_build"]


def cohorts(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_cohort_devices{hw_model,os_build} and, over the 7 UTC days ending today,
    hinder_cohort_week_lost_seconds, hinder_cohort_week_active_seconds and hinder_cohort_week_disruptions: the
    devices of each cohort (their current one) and their figures (``device_week``)."""
    pairs = ctx.labels().cohorts.pairs
    rows = _relabelled(ctx.cohort_groups(), 4, lambda r: pairs[r[0], r[1]])
    yield gauge("hinder_cohort_devices", "Devices by hardware model and OS build (from their latest heartbeat).",
                _COHORT, [r[:3] for r in rows])
    yield gauge("hinder_cohort_week_lost_seconds", "Working time lost in the 7 UTC days ending today, by the "
                "devices' hardware model and OS build (their current ones).", _COHORT,
                [(*r[:2], max(r[3], 0.0)) for r in rows])  # clamp the rounding residue of applied differences
    yield gauge("hinder_cohort_week_active_seconds", "Employee-active seconds in the 7 UTC days ending today, by "
                "the devices' hardware model and OS build.", _COHORT, [(*r[:2], max(r[4], 0.0)) for r in rows])
    yield gauge("hinder_cohort_week_disruptions", "Disruptions that started in the 7 UTC days ending today, by "
                "the devices' hardware model and OS build.", _COHORT, [(*r[:2], max(r[5], 0)) for r in rows])


def startup_waits(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_startup_duration_seconds{stage,hw_model,os_build} (a histogram) and
    hinder_startup_slow_total{stage,hw_model,os_build}: every boot and sign-in the agents measured, by the
    device's cohort when it arrived (``wait_count``)."""
    pairs = ctx.labels().cohorts.pairs
    rows = _relabelled(ctx.rows(_WAITS), 3, lambda r: (r[0], *pairs[r[1], r[2]], r[3]))
    series: dict[tuple, dict[float, list]] = defaultdict(dict)
    for stage, model, build, le, n, seconds, slow in rows:
        series[stage, model, build][le] = [n, seconds, slow]
    labels = ["stage", *_COHORT]
    histogram = HistogramMetricFamily(
        "hinder_startup_duration_seconds", "How long employees waited: boot (power-on to the sign-in screen) and "
        "logon (credentials to a usable desktop), by the device's hardware model and OS build when it arrived.",
        labels=labels)
    slow_rows = []
    for key in sorted(series):
        buckets, total = [], 0
        for le in sorted({*series[key], *WAIT_BUCKETS_S}):
            total += series[key].get(le, (0,))[0]
            buckets.append((floatToGoString(le), total))
        histogram.add_metric(list(key), buckets, sum(v[1] for v in series[key].values()))
        slow_rows.append((*key, sum(v[2] for v in series[key].values())))
    yield histogram
    yield counter("hinder_startup_slow", "Boots and sign-ins that took longer than the agent's threshold (each "
                  "one's time beyond it is lost time, type boot or logon).", labels, slow_rows)


def changes(ctx: ScrapeContext) -> Iterable[Metric]:
    """The fleet's recent changes (collector.aggregates.changes), by ``kind`` (app_version, os_build), ``subject``
    (the application's label, or os) and ``version``: hinder_change_first_seen_timestamp_seconds,
    hinder_change_devices, and, once at least ``[report] min_group_size`` devices were active before and after
    their move, hinder_change_disruption_rate_ratio, hinder_change_lost_time_ratio and hinder_change_significant.
    At most ``[changes] exported`` changes, the most recently first seen; none of an application folded into
    ``other``."""
    k = min_group_size(ctx.config)
    first, adopters, ratio, lost_ratio, significant = [], [], [], [], []
    for subject, e in change_figures.recent(ctx.conn, ctx.config, ctx.now, ctx.apps()):
        labels = (e.kind, subject, e.value)
        first.append((*labels, e.first_seen))
        adopters.append((*labels, e.adopters))
        if e.verdict is None or e.devices < k:
            continue
        significant.append((*labels, int(e.verdict in (change_figures.WORSE, change_figures.BETTER))))
        for rows, what in ((ratio, "disruptions"), (lost_ratio, "lost_s")):
            value = e.ratio(what)
            if value is not None:
                rows.append((*labels, value))
    names = ["kind", "subject", "version"]
    yield gauge("hinder_change_first_seen_timestamp_seconds", "When a version of an application or an OS build "
                "was first seen in the fleet (Unix time; a change once enough devices moved to it).", names, first)
    yield gauge("hinder_change_devices", "Devices that moved to the version or build from another one.", names,
                adopters)
    yield gauge("hinder_change_disruption_rate_ratio", "Disruptions (of an application version: its failures, "
                "crashes, hangs, unavailability, abnormal exits) per active hour after each device's move over "
                "before it ([changes] window_days each side), on the devices active on both sides.", names, ratio)
    yield gauge("hinder_change_lost_time_ratio", "Lost time per active hour after each device's move over before "
                "it, on the devices active on both sides.", names, lost_ratio)
    yield gauge("hinder_change_significant", "1 when the disruption rates before and after the change differ beyond "
                "chance (enough devices and active hours, p below [changes] significance), else 0.", names,
                significant)


FAMILIES: list[Family] = [devices, agent_versions, spool_dropped, disruptions, collector_info,
                          lost_and_active_totals, app_focus, connectivity_outages, app_version_disruptions,
                          week_figures, devices_disrupted, hourly_cost, support_contacts, support_week,
                          felt_vs_measured, folded_labels, support_sources, network_quality, cohorts, startup_waits,
                          changes]
