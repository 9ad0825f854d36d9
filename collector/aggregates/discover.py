"""Discovered applications: the uncatalogued executables that lose the most time get their own app label.

Without a catalogue every application would be ``other``. The collector keeps
a bounded set of uncatalogued executables (the ``app`` of an event type whose
``app`` names an application, ``contract.events``) in the ``discovered_app``
table, at most ``[collector] discovered_apps``; /metrics exports them by name
beside the catalogued applications, everything else stays ``other``. The set
lives in the database, so every replica labels and exports alike:

- **Admitted on arrival** (:func:`admit`, at ingest): while the set has room,
  the executable of a new disruption joins it at once, so the first crash of
  an unknown program is counted under its name.
- **Chosen by lost time** (:func:`rediscover`, by the refresher every few
  seconds): the room is filled with the executables that lost the most time
  over the trailing week (``app_lost_week``), and the member that lost the
  least is replaced by an outsider that lost :data:`HYSTERESIS` times more
  (so two executables of about the same weight do not take turns); one
  admitted on arrival whose lost time is not counted yet keeps its place for
  :data:`GRACE_S`.
- **A label is decided once.** Disruptions are counted under the label of
  their arrival; lost time under the label of the hour's first roll-up, kept
  on its ``lost_hourly`` row and reused when the hour is recomputed, so time
  never moves from one label to another and every exported counter only
  grows. An executable's time before it was discovered stays in ``other``;
  its own counters start at 0. One that leaves the set stops being exported
  (its series end; they resume where they stopped if it comes back) and its
  later time goes to ``other``.

A catalogued name always wins, and the raw name of a catalogued application
(``OUTLOOK.EXE`` for ``outlook``) is never discovered. Ingest reads the set
through a per-process cache of :data:`CACHE_S` seconds; the refresher and
/metrics read it from the table.
"""

from __future__ import annotations

import time
import weakref
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import impact
from collector.config import OTHER_APP, CollectorConfig
from collector.db import insert, is_sqlite
from collector.models import app_lost_week_table, discovered_app_table
from contract.events import names

APP_TYPES = frozenset(names(of_app=True))  # the types whose app is an executable that can be discovered
CACHE_S = 5.0  # how long ingest keeps the set it read
HYSTERESIS = 1.25  # an outsider replaces the lightest member only when it lost this many times more
GRACE_S = 60.0  # a member whose lost time is not counted yet (the refresher's backlog) keeps its place this long
_NOT_APPS = frozenset({"", OTHER_APP, "unknown"})  # what an agent sends when it knows no executable
_LOCK_KEY = 0x686E64646973  # PostgreSQL advisory lock: one writer of the set at a time


class AppLabels:
    """How applications are labelled at one moment: catalogued name, discovered executable, else ``other``."""

    def __init__(self, config: CollectorConfig, discovered: Iterable[str]):
        self.config = config
        self.limit = config.collector.discovered_apps
        self.catalogued = frozenset(config.apps)
        self.reserved = frozenset(a.lower().removesuffix(".exe") for a in config.apps)
        self.discovered = frozenset(a for a in discovered if self.discoverable(a))

    def discoverable(self, app: str) -> bool:
        """Whether a raw name may become a label: neither catalogued nor a catalogued application's raw name."""
        return (app not in _NOT_APPS and app not in self.catalogued
                and app.lower().removesuffix(".exe") not in self.reserved)

    def label(self, event_type: str, app: str) -> str:
        """The app label of an event: a ticket's channel, the catalogued name, the discovered executable, or
        ``other``."""
        if event_type == impact.TICKET or app in self.catalogued:
            return app
        return self.name(app) if event_type in APP_TYPES else OTHER_APP

    def name(self, app: str) -> str:
        """The label of an application (the ``app`` of a type that names one): catalogued, discovered, or other."""
        return app if app in self.catalogued or app in self.discovered else OTHER_APP

    def exported(self, app: str, event_type: str = "") -> bool:
        """Whether /metrics exports a stored app label now (a discovered executable that left the set is not)."""
        return event_type == impact.TICKET or app == OTHER_APP or app in self.catalogued or app in self.discovered

    @property
    def room(self) -> int:
        """How many more executables may be discovered."""
        return self.limit - len(self.discovered)


def read(conn: Connection) -> list[str]:
    """The discovered executables, as stored."""
    return list(conn.execute(sa.select(discovered_app_table.c.app)).scalars())


_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> (monotonic time read, AppLabels)


def current(conn: Connection, config: CollectorConfig) -> AppLabels:
    """The labels as this process last read them (at most :data:`CACHE_S` seconds ago): ingest's view."""
    now = time.monotonic()
    hit = _cache.get(conn.engine)
    if hit is None or now - hit[0] > CACHE_S or hit[1].config is not config:
        hit = _cache[conn.engine] = (now, AppLabels(config, read(conn)))
    return hit[1]


def _lock(conn: Connection) -> None:
    """Serialize writers of the set until commit (SQLite's write transaction already does)."""
    if not is_sqlite(conn):
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))


def admit(conn: Connection, labels: AppLabels, weights: dict[str, float], now: float) -> AppLabels:
    """Discover the executables of ``weights`` (name -> weight) while the set has room, heaviest first (ties by
    name); return the labels after. Reads the set again under the lock: another replica may have filled it."""
    if labels.room <= 0 or not weights:
        return labels
    _lock(conn)
    fresh = AppLabels(labels.config, read(conn))
    new = sorted((a for a in weights if a not in fresh.discovered and fresh.discoverable(a)),
                 key=lambda a: (-weights[a], a))[:max(fresh.room, 0)]
    if new:
        conn.execute(insert(conn, discovered_app_table).on_conflict_do_nothing(),
                     [{"app": a, "since": now} for a in new])
        fresh = AppLabels(labels.config, [*fresh.discovered, *new])
    _cache[conn.engine] = (time.monotonic(), fresh)
    return fresh


def _choose(conn: Connection, config: CollectorConfig, now: float) -> tuple[list[str], dict[str, float]]:
    """The set as stored, and the set as the trailing week's lost time chooses it (see :func:`rediscover`)."""
    d = discovered_app_table.c
    since = dict(conn.execute(sa.select(d.app, d.since)).all())
    stored = list(since)
    labels = AppLabels(config, ())
    w = app_lost_week_table.c
    kept = {a: 0.0 for a in stored if labels.discoverable(a)}
    for app, lost_s in conn.execute(sa.select(w.app, w.lost_s).where(w.app.in_(list(kept)))):
        kept[app] = lost_s
    if len(kept) > labels.limit:
        kept = dict(sorted(kept.items(), key=lambda kv: (-kv[1], kv[0]))[:labels.limit])
    heaviest = conn.execute(sa.select(w.app, w.lost_s).where(w.lost_s > 0).order_by(w.lost_s.desc(), w.app)
                            .limit(2 * labels.limit + len(config.apps) + 16))
    for app, lost_s in heaviest:
        if app in kept or not labels.discoverable(app):
            continue
        if len(kept) < labels.limit:
            kept[app] = lost_s
            continue
        # a member admitted on arrival whose lost time the refresher has not counted yet is not the lightest
        replaceable = [a for a in kept if kept[a] > 0 or since.get(a, now) <= now - GRACE_S]
        if not replaceable:
            break
        lightest = min(replaceable, key=lambda a: (kept[a], a))
        if lost_s <= HYSTERESIS * kept[lightest]:
            break  # the outsiders come heaviest first: none further replaces it either
        del kept[lightest]
        kept[app] = lost_s
    return stored, kept


def settled(conn: Connection, config: CollectorConfig, now: float) -> bool:
    """Whether :func:`rediscover` would change nothing now: read only, so that the refresher takes the write
    lock (which ingest waits for on SQLite) only when the set changes."""
    stored, kept = _choose(conn, config, now)
    return set(stored) == set(kept)


def rediscover(conn: Connection, config: CollectorConfig, now: float) -> AppLabels:
    """Recompute the set from the trailing week's lost time (the refresher): fill the room with the heaviest
    executables, replace the lightest member by an outsider that lost :data:`HYSTERESIS` times more, drop the
    names catalogued since. Writes only what changed."""
    _lock(conn)
    stored, kept = _choose(conn, config, now)
    d = discovered_app_table.c
    gone, new = set(stored) - set(kept), sorted(set(kept) - set(stored))
    if gone:
        conn.execute(discovered_app_table.delete().where(d.app.in_(sorted(gone))))
    if new:
        conn.execute(insert(conn, discovered_app_table).on_conflict_do_nothing(),
                     [{"app": a, "since": now} for a in new])
    labels = AppLabels(config, kept)
    if gone or new:  # this process's ingest sees the change at once, the other replicas within CACHE_S
        _cache[conn.engine] = (time.monotonic(), labels)
    return labels


def folded(conn: Connection, labels: AppLabels) -> int:
    """How many distinct uncatalogued executables lost time in the trailing week without being discovered (all
    that lost time, less the named ones looked up by key: a scrape reads no name it does not need)."""
    w = app_lost_week_table.c
    count = sa.select(sa.func.count()).where(w.lost_s > 0)
    named = sorted(_NOT_APPS | labels.catalogued | labels.discovered)
    n = conn.execute(count).scalar_one() - conn.execute(count.where(w.app.in_(named))).scalar_one()
    if labels.reserved:  # the raw names of catalogued applications, in any case
        variants = sorted(labels.reserved | {r + ".exe" for r in labels.reserved})
        n -= conn.execute(count.where(sa.func.lower(w.app).in_(variants), w.app.not_in(named))).scalar_one()
    return n
