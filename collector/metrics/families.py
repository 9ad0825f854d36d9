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

from dataclasses import dataclass, field
from typing import Callable, Iterable

import sqlalchemy as sa
from prometheus_client.core import Metric
from sqlalchemy.engine import Connection

from collector import aggregates, impact
from collector.aggregates import discover, queries, support
from collector.config import CollectorConfig
from collector.labels import OTHER, Labels, min_group_size, top_versions, withhold_small
from collector.metrics.exposition import counter, gauge
from collector.models import (
    active_week_table, app_active_week_table, app_version_count_table, device_table, disruption_count_table,
    felt_count_table, felt_device_table, impact_total_table, lost_week_table, outage_count_table, support_count_table,
    support_source_table,
)
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

    def labels(self) -> Labels:
        """How this scrape exports the label values agents chose (built once, from :meth:`device_groups`)."""
        if self._labels is None:
            self._labels = Labels(self.config, [(*g[:4], g[5]) for g in self.device_groups()])
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
_DISRUPTIONS = _label_rows(disruption_count_table, ["type", "app", "site", "department", "os"], ["count"])
_LOST_TOTALS = _label_rows(impact_total_table, ["type", "app", "site", "department"], ["exported"],
                           impact_total_table.c.metric == "lost")
_ACTIVE_TOTALS = _label_rows(impact_total_table, ["site", "department"], ["exported"],
                             impact_total_table.c.metric == "active")
_FOCUS_TOTALS = _label_rows(impact_total_table, ["app", "site", "department"], ["exported"],
                            impact_total_table.c.metric == "focus")
_OUTAGES = _label_rows(outage_count_table, ["cause", "site", "department"], ["outages", "seconds"])
_APP_VERSIONS = _select(app_version_count_table, "app", "version", "type", "count")
_LOST_WEEK = _label_rows(lost_week_table, ["type", "app", "site", "department"], ["lost_s"])
_ACTIVE_WEEK = _label_rows(active_week_table, ["site", "department"], ["active_s"])
_APP_ACTIVE_WEEK = _select(app_active_week_table, "app", "active_s")
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
    """hinder_lost_seconds_total{type,app,site,department} and hinder_active_seconds_total{site,department}."""
    pairs, exported = ctx.labels().pairs, ctx.apps().exported
    yield counter("hinder_lost_seconds", "Working time lost to disruptions, by cause, after merging overlaps "
                  "(impact model); counted when the data arrives.", ["type", "app", "site", "department"],
                  _relabelled([r for r in ctx.label_rows(_LOST_TOTALS) if exported(r[1], r[0])], 1,
                              lambda r: (r[0], r[1], *pairs[r[2], r[3]])))
    yield counter("hinder_active_seconds", "Employee-active seconds reported by heartbeats.",
                  ["site", "department"], _relabelled(ctx.label_rows(_ACTIVE_TOTALS), 1, lambda r: pairs[r[0], r[1]]))


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
    """Trailing-week gauges by event time (the 7 UTC days ending today): lost and active seconds, scores.

    Read from the ``*_week`` tables the refresher keeps (one row per label
    set); right after midnight UTC they may still hold the day that just left
    the window until the next refresh (a few seconds).
    """
    pairs, exported = ctx.labels().pairs, ctx.apps().exported
    rows = _relabelled(ctx.label_rows(_LOST_WEEK), 1,  # a gauge: an executable no longer discovered counts as other
                       lambda r: (r[0], r[1] if exported(r[1], r[0]) else OTHER, *pairs[r[2], r[3]]))
    lost = [(*r[:4], r[4] if r[4] > 0 else 0.0) for r in rows]  # clamp the rounding residue of applied differences
    lost_by_group: dict[tuple[str, str], float] = {}
    lost_by_app: dict[str, float] = {}
    for _type, app, site, department, secs in lost:
        lost_by_group[site, department] = lost_by_group.get((site, department), 0.0) + secs
        lost_by_app[app] = lost_by_app.get(app, 0.0) + secs
    active, scores = [], []
    for site, department, secs in _relabelled(ctx.label_rows(_ACTIVE_WEEK), 1, lambda r: pairs[r[0], r[1]]):
        active.append((site, department, secs if secs > 0 else 0.0))
        value = impact.score(lost_by_group.get((site, department), 0.0), secs)
        if value is not None:
            scores.append((site, department, value))
    app_scores = []
    for app, secs in ctx.rows(_APP_ACTIVE_WEEK):
        if not exported(app):
            continue
        value = impact.score(lost_by_app.get(app, 0.0), secs)
        if value is not None:
            app_scores.append((app, value))
    yield gauge("hinder_week_lost_seconds", "Working time lost in the 7 UTC days ending today, by event time.",
                ["type", "app", "site", "department"], lost)
    yield gauge("hinder_week_active_seconds", "Employee-active seconds in the 7 UTC days ending today.",
                ["site", "department"], active)
    yield gauge("hinder_experience_score_ratio",
                "1 - lost / active time over the 7 UTC days ending today (impact model).",
                ["site", "department"], scores)
    yield gauge("hinder_app_experience_score_ratio", "1 - time lost to the app / active time of the devices on the "
                "days they reported the app, 7 UTC days ending today.", ["app"], app_scores)


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


FAMILIES: list[Family] = [devices, agent_versions, spool_dropped, disruptions, collector_info,
                          lost_and_active_totals, app_focus, connectivity_outages, app_version_disruptions,
                          week_figures, devices_disrupted, hourly_cost, support_contacts, support_week,
                          felt_vs_measured, folded_labels, support_sources]
