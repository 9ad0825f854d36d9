"""Label values an agent chooses, bounded before they leave the collector; groups under the minimum size merged.

An agent chooses its site, department, OS and agent version (heartbeat) and
its applications' versions (``details.app_version``). The database keeps them
as sent (per-device detail), but every surface that leaves the collector
exports only:

- sites and departments of the configured ``sites``/``departments`` lists,
  or, where no list is configured, the ``max_label_values`` reported by the
  most devices; OS and agent versions likewise by devices; versions of each
  catalogued or discovered application (:mod:`collector.aggregates.discover`),
  the ``top_versions`` with the most disruptions.
  Everything else is ``other``: an agent cannot add a series by inventing a
  value, only move its own device between named values and ``other``.
- groups of people of at least ``[report] min_group_size`` devices, by the
  rule the weekly report applies (:func:`merge_small`), to every (site,
  department) pair /metrics exports: a pair with fewer devices becomes (site,
  ``other``), and that group, if still too small, (``other``, ``other``);
  within each group an OS with fewer devices becomes ``other`` (and every OS
  of the group, if its ``other`` would still be too small).

Hardware models and OS builds (the device cohorts) follow the same two rules
in their own families (:class:`Cohorts`): named among the most reported,
small (model, build) groups folded.

Group sizes are the devices the collector knows (the device table, each
under its latest labels), so a label set that no device holds any more (a
device moved to another site) is folded too: each device counts under one
label set at a time.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from typing import Callable, Hashable, Iterable, TypeVar

from collector.aggregates import UNKNOWN_VERSION
from collector.config import OTHER_APP, CollectorConfig
from collector.report.config import ReportSettings

OTHER = OTHER_APP  # the one name of everything folded: applications, sites, departments, OS, versions
FOLDED_LABELS = ("site", "department", "os", "agent_version", "app_version")

G = TypeVar("G", bound=Hashable)


def merge_small(sizes: dict[G, int], min_size: int, parent: Callable[[G], G] = lambda _group: OTHER) -> dict[G, G]:
    """Map each group to itself, or to its parent (``other``) when it has fewer than ``min_size`` devices.

    A lone small group is still merged, so no group under the size is ever
    shown by name; "other" says only how many groups it holds.
    """
    return {g: (g if n >= min_size else parent(g)) for g, n in sizes.items()}


def withhold_small(sizes: dict[G, int], min_size: int, start: Iterable[G] = (),
                   together: Callable[[set[G]], int] | None = None) -> set[G]:
    """The groups whose people's answers must not be told apart: those with 1 to ``min_size - 1`` members, the
    ``start`` groups (where they go), and, while these together have some members but fewer than ``min_size``,
    the next smallest group with members (ties by name). Else the withheld groups' sum, their ``other`` or the
    totals minus the groups shown, would tell a small group's answers. ``together`` counts the members of several
    groups (default: the sum of their sizes, for groups no member is in twice)."""
    together = together or (lambda groups: sum(sizes[g] for g in groups))
    withheld = {g for g, n in sizes.items() if 0 < n < min_size} | (set(start) & sizes.keys())
    while 0 < together(withheld) < min_size:
        rest = sorted((g for g, n in sizes.items() if n and g not in withheld), key=str)
        if not rest:
            break
        withheld.add(min(rest, key=sizes.__getitem__))
    return withheld


def min_group_size(config: CollectorConfig) -> int:
    """The smallest group of devices any surface shows by name (``[report] min_group_size``)."""
    return (config.sections.get("report") or ReportSettings()).min_group_size


def top(weights: dict[str, float], n: int) -> set[str]:
    """The ``n`` values of largest weight (ties by name, so every replica names the same)."""
    if len(weights) <= n:
        return set(weights)
    cut = heapq.nlargest(n, weights.values())[-1]
    above = {v for v, w in weights.items() if w > cut}
    return above | set(sorted(v for v, w in weights.items() if w == cut)[:n - len(above)])


class _Memo(dict):
    """A mapping computed on first use of each key (the scrape looks the same label sets up in every family)."""

    def __init__(self, compute: Callable):
        super().__init__()
        self.compute = compute

    def __missing__(self, key):
        value = self[key] = self.compute(*key) if isinstance(key, tuple) else self.compute(key)
        return value


def _sum_into(sizes: dict, key, n: int) -> None:
    sizes[key] = sizes.get(key, 0) + n


class Labels:
    """How one scrape exports each agent-chosen label, from the devices' label sets.

    ``devices`` holds (site, department, os, agent_version, devices) per
    distinct label set of the device table. :attr:`named` holds the values of
    each exported by name before the group rule (configured, or the
    ``max_label_values`` held by the most devices). Look labels up in the mappings
    (computed on first use of each key): ``pairs[site, department]`` and
    ``cells[site, department, os]`` where groups of people are shown,
    ``sites[site]`` for families labelled by site alone, ``os[os]`` and
    ``agent_versions[version]`` where no group of people is shown.
    """

    def __init__(self, config: CollectorConfig, devices: Iterable[tuple[str, str, str, str, int]],
                 cohorts: Iterable[tuple[str, str, int]] = ()):
        k = min_group_size(config)
        self._devices = devices = list(devices)
        limit = config.collector.max_label_values
        weights: list[dict[str, int]] = [defaultdict(int) for _ in range(4)]
        for *values, n in devices:
            for w, value in zip(weights, values):
                w[value] += n
        # per label of FOLDED_LABELS[:4]: the values exported by name before the group rule
        self.named = [set(config.sites) or top(weights[0], limit), set(config.departments) or top(weights[1], limit),
                      top(weights[2], limit), top(weights[3], limit)]
        self.unlisted = any(not named.issuperset(w) for named, w in zip(self.named, weights))  # values beyond named
        self.os = _Memo(lambda os_name: os_name if os_name in self.named[2] else OTHER)
        self.agent_versions = _Memo(lambda version: version if version in self.named[3] else OTHER)
        # (site, department) pairs: too small -> (site, other) -> (other, other)
        bounded = _Memo(lambda site, department: (site if site in self.named[0] else OTHER,
                                                  department if department in self.named[1] else OTHER))
        pairs: dict[tuple[str, str], int] = {}
        for site, department, _os, _version, n in devices:
            _sum_into(pairs, bounded[site, department], n)
        first = merge_small(pairs, k, lambda p: (p[0], OTHER))
        grouped: dict[tuple[str, str], int] = {}
        for pair, n in pairs.items():
            _sum_into(grouped, first[pair], n)
        second = merge_small(grouped, k, lambda _p: (OTHER, OTHER))
        self._groups = set(second.values())

        def pair_of(site: str, department: str) -> tuple[str, str]:
            b = bounded[site, department]
            return second.get(first.get(b, (b[0], OTHER)), (OTHER, OTHER))  # a pair no device holds: folded

        self.pairs = _Memo(pair_of)
        # OS within each exported pair: too small -> other; a group whose other is still too small: all other
        cells: dict[tuple[tuple[str, str], str], int] = {}
        for site, department, os_name, _version, n in devices:
            _sum_into(cells, (self.pairs[site, department], self.os[os_name]), n)
        named_os = merge_small(cells, k, lambda c: (c[0], OTHER))
        rest: dict[tuple[str, str], int] = {}
        for cell, n in cells.items():
            if named_os[cell][1] == OTHER:
                _sum_into(rest, cell[0], n)
        os_hidden = {group for group, n in rest.items() if n < k}

        def cell_of(site: str, department: str, os_name: str) -> tuple[str, str, str]:
            group = self.pairs[site, department]
            if group in os_hidden:
                return (*group, OTHER)
            return (*group, named_os.get((group, self.os[os_name]), (group, OTHER))[1])

        self.cells = _Memo(cell_of)
        site_names = merge_small(_site_sizes(pairs), k)
        self.sites = _Memo(lambda site: site_names.get(bounded[site, OTHER][0], OTHER))
        self.cohorts = Cohorts(list(cohorts), limit, k)

    def departments(self) -> set[str]:
        """The departments exported by name."""
        return {department for _site, department in self._groups} - {OTHER}

    def folded(self) -> tuple[list[tuple], list[tuple]]:
        """(label, reason, distinct values) and (label, reason, devices) exported as ``other`` although not sent
        as ``other``, among the devices these labels were built from; reason ``unlisted`` (not configured, or
        beyond the most reported) or ``small_group``."""
        keys = [(label, reason) for label in FOLDED_LABELS[:4] for reason in ("small_group", "unlisted")]
        values: dict[tuple[str, str], set] = {key: set() for key in keys}
        counts: dict[tuple[str, str], int] = dict.fromkeys(keys, 0)
        for site, department, os_name, version, n in self._devices:
            exported = (*self.cells[site, department, os_name], self.agent_versions[version])
            for i, (raw, label) in enumerate(zip((site, department, os_name, version), exported)):
                if label == OTHER and raw != OTHER:
                    key = (FOLDED_LABELS[i], "unlisted" if raw not in self.named[i] else "small_group")
                    values[key].add(raw)
                    counts[key] += n
        return [(*key, len(v)) for key, v in values.items()], [(*key, n) for key, n in counts.items()]


# A cohort too small goes to its model's other builds, else to its build's other models (never one with an other)
_COHORT_FOLDS = (lambda p: (p[0], OTHER) if p[0] != OTHER else None,
                 lambda p: (OTHER, p[1]) if p[1] != OTHER else None)


class Cohorts:
    """How /metrics exports devices' cohorts (hardware model as ``collector.aggregates.model_name`` names it, OS
    build), from (model, build, devices) per distinct cohort of the device table.

    Each of the two is named only among the ``limit`` held by the most devices (else ``other``); then a (model,
    build) pair of fewer than ``k`` devices becomes (model, ``other``), if that group is still too small (``other``,
    build), and else (``other``, ``other``): so a model and a build held by enough devices both stay visible.
    Look pairs up in :attr:`pairs` (computed on first use; a pair no device holds folds by the same rule).
    """

    def __init__(self, cohorts: list[tuple[str, str, int]], limit: int, k: int):
        self._cohorts = cohorts
        models: dict[str, int] = defaultdict(int)
        builds: dict[str, int] = defaultdict(int)
        for model, build, n in cohorts:
            models[model] += n
            builds[build] += n
        self.named = (top(models, limit), top(builds, limit))
        bounded = _Memo(lambda model, build: (model if model in self.named[0] else OTHER,
                                              build if build in self.named[1] else OTHER))
        sizes: dict[tuple[str, str], int] = {}
        for model, build, n in cohorts:
            _sum_into(sizes, bounded[model, build], n)
        shown = {p for p, n in sizes.items() if n >= k}
        rest = {p: n for p, n in sizes.items() if p not in shown}
        for fold in _COHORT_FOLDS:
            groups: dict[tuple[str, str], int] = {}
            for p, n in [*rest.items(), *((p, sizes[p]) for p in shown if p in sizes)]:
                if fold(p) is not None and (p in rest or fold(p) == p):
                    _sum_into(groups, fold(p), n)
            big = {g for g, n in groups.items() if n >= k}
            shown |= big
            rest = {p: n for p, n in rest.items() if fold(p) not in big}

        def pair_of(model: str, build: str) -> tuple[str, str]:
            p = bounded[model, build]
            for group in (p, *(fold(p) for fold in _COHORT_FOLDS)):
                if group in shown:
                    return group
            return OTHER, OTHER

        self.pairs = _Memo(pair_of)

    def folded(self) -> tuple[list[tuple], list[tuple]]:
        """As :meth:`Labels.folded`, for the labels hw_model and os_build."""
        keys = [(label, reason) for label in ("hw_model", "os_build") for reason in ("small_group", "unlisted")]
        values: dict[tuple[str, str], set] = {key: set() for key in keys}
        counts: dict[tuple[str, str], int] = dict.fromkeys(keys, 0)
        for model, build, n in self._cohorts:
            for i, (raw, label) in enumerate(zip((model, build), self.pairs[model, build])):
                if label == OTHER and raw != OTHER:
                    key = (keys[2 * i][0], "unlisted" if raw not in self.named[i] else "small_group")
                    values[key].add(raw)
                    counts[key] += n
        return [(*key, len(v)) for key, v in values.items()], [(*key, n) for key, n in counts.items()]


def _site_sizes(pairs: dict[tuple[str, str], int]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for (site, _department), n in pairs.items():
        _sum_into(sizes, site, n)
    return sizes


def top_versions(rows: Iterable[tuple[str, str, str, int]], n: int) -> tuple[list[tuple[str, str, str, int]], int]:
    """Disruptions by (app, version, type), each app's ``n`` versions with the most disruptions by name and the
    rest as ``other``; and how many distinct versions were folded."""
    rows = list(rows)
    per_app: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for app, version, _type, count in rows:
        if version != UNKNOWN_VERSION:
            per_app[app][version] += count
    named = {app: top(versions, n) for app, versions in per_app.items()}
    out: dict[tuple[str, str, str], int] = defaultdict(int)
    for app, version, etype, count in rows:
        kept = version == UNKNOWN_VERSION or version in named[app]
        out[(app, version if kept else OTHER, etype)] += count
    folded = sum(len(versions) - len(named[app]) for app, versions in per_app.items())
    return [(*key, count) for key, count in out.items()], folded
