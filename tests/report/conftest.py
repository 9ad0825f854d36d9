"""Fixtures of the report tests: a report dict from a known synthetic week, and image checks."""

from __future__ import annotations

import shutil
import zlib
from collections import Counter

import pytest

from collector.impact import ModelConfig
from collector.report.assemble import WeekFacts, assemble, repeat_ranking
from collector.report.build import model_of
from collector.report.config import ReportSettings
from tests.report import dataset

PERIOD = {"start": "2026-11-16T00:00:00Z", "end": "2026-11-23T00:00:00Z", "last_day": "2026-11-22", "timezone": "UTC"}


def synthetic_week(week: str, scale: float = 1.0, settings: ReportSettings = ReportSettings()) -> WeekFacts:
    """A week of 13 devices: Paris (6), Lyon (5) and Nice (2, below the group size), in the shape
    ``collector.report.build`` gives (per device and type; per application label only where grouped by it)."""
    f = WeekFacts(week=week, known_devices=14)
    layout = [("Paris", "Finance")] * 3 + [("Paris", "Sales")] * 3 + [("Lyon", "Sales")] * 5 + [("Nice", "Legal")] * 2
    apps: dict[tuple[str, str], list] = {}  # (app, type) -> [lost s, disruptions]
    per_device: dict[str, dict[str, int]] = {}  # device -> app -> disruptions
    for i, labels in enumerate(layout):
        dev = f"device-{i:02d}"
        f.devices[dev] = labels
        f.active[dev] = 30 * 3600.0
        for etype, app, n, lost in (("crash", "outlook", 3 if i % 2 else 6, 600.0), ("hang", "teams", 1, 120.0)):
            f.disruptions.append((dev, etype, n))
            f.lost.append((dev, etype, lost * scale))
            acc = apps.setdefault((app, etype), [0.0, 0])
            acc[0] += lost * scale
            acc[1] += n
            per_device.setdefault(dev, {})[app] = n
        f.impacted[dev] = 2 * 3600.0  # model v3: the crashes' hour and the hang's are impacted
    for i in range(6, 11):  # Lyon loses its network
        f.impacted[f"device-{i:02d}"] += 2 * 3600.0  # in two more hours
        f.disruptions.append((f"device-{i:02d}", "connectivity_loss", 2))
        f.lost.append((f"device-{i:02d}", "connectivity_loss", 900.0 * scale))
        f.outages.append((f"device-{i:02d}", "wifi", 2, 1800.0))
        f.network += [(f"device-{i:02d}", "outage", "wifi", 2, 1800.0), (f"device-{i:02d}", "blip", "", 9, 0.0)]
    for i, band in enumerate(["good"] * 6 + ["fair"] * 4 + ["poor"] * 3):
        f.network.append((f"device-{i:02d}", "signal", band, 180, 30 * 3600.0))
    f.apps = [(app, etype, lost, n) for (app, etype), (lost, n) in apps.items()]
    f.app_active = {"outlook": (13 * 30 * 3600.0, 13 * 3600.0), "teams": (13 * 30 * 3600.0, 13 * 3600.0)}
    f.app_devices = dict(Counter(app for apps in per_device.values() for app in apps))
    f.device_apps = {dev: per_device[dev] for dev in repeat_ranking(f, settings)[:settings.repeat_devices]}
    f.versions = [("outlook", "16.0.2", 50), ("outlook", "16.0.1", 8), ("teams", "1.5", 13)]
    f.heat[0][9] = sum(x[2] for x in f.lost) * 0.6
    f.heat[2][14] = sum(x[2] for x in f.lost) * 0.4
    return f


def synthetic_report(empty: bool = False, **settings) -> dict:
    report_settings = ReportSettings(**{"company": "Example Corp", **settings})
    weeks = [WeekFacts(week=f"2026-W{n}") if empty else synthetic_week(f"2026-W{n}", 1 + (n - 44) / 10, report_settings)
             for n in (44, 45, 46, 47)]
    return assemble(weeks, model_of(ModelConfig(hourly_cost=60.0)), report_settings, PERIOD, "2026-11-23T06:00:00Z")


@pytest.fixture
def config(db_url):
    from collector.config import parse_config

    return parse_config(dataset.CONFIG, overrides={"db": db_url}, env={})


def store_dataset(engine, config, only_week: bool = False, refresh_at: float | None = None,
                  tickets: bool = False) -> None:
    """Store the hand-computed data set through the collector's ingest, as agents would send it, then (with
    ``tickets``) its service-desk tickets through ``store_tickets``, as a source would: they add the support cause
    of model version 2 to the hand-computed figures. ``refresh_at``: the refresher's clock (the trailing week of
    the gauges ends that day)."""
    from collector.aggregates import marks, model_config
    from collector.aggregates.refresh import refresh
    from collector.db import write_transaction
    from collector.ingest import Ingestor
    from collector.support.store import store_tickets

    ingestor = Ingestor(engine, config, hooks=[marks.on_ingest])
    for batch, now in dataset.batches(only_week):
        ingestor.store(batch, now=now)
    if tickets:
        with write_transaction(engine) as conn:
            stored = store_tickets(conn, dataset.tickets(), now=dataset.NEXT_MONDAY + 12 * 3600,
                                   model=model_config(config))
        assert stored.inserted == len(dataset.tickets()), stored.skipped
    refresh(engine, config, now=refresh_at)


@pytest.fixture
def filled(db_engine, config):
    """A database (SQLite and PostgreSQL) holding the data set."""
    store_dataset(db_engine, config)
    return db_engine


@pytest.fixture
def filled_with_tickets(db_engine, config):
    """A database (SQLite and PostgreSQL) holding the data set and its service-desk tickets."""
    store_dataset(db_engine, config, tickets=True)
    return db_engine


@pytest.fixture
def sqlite_filled(tmp_path) -> str:
    """The URL of a SQLite file holding the data set (for tests of the command line)."""
    from collector.config import parse_config
    from collector.db import make_engine
    from collector.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'report.db'}"
    engine = make_engine(url)
    upgrade(engine)
    store_dataset(engine, parse_config(dataset.CONFIG, overrides={"db": url}, env={}))
    engine.dispose()
    return url


@pytest.fixture
def report() -> dict:
    return synthetic_report()


@pytest.fixture
def empty_report() -> dict:
    return synthetic_report(empty=True)


def need_chromium() -> None:
    from collector.report import ReportError
    from collector.report.chromium import find_chromium

    try:
        find_chromium()
    except ReportError as exc:
        pytest.skip(str(exc))


def need_poppler() -> None:
    if not (shutil.which("pdftoppm") and shutil.which("pdfinfo")):
        pytest.skip("poppler-utils (pdftoppm, pdfinfo) is not installed (Debian: apt-get install poppler-utils)")


def png_rows(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the (filtered) scanlines of an 8-bit PNG: enough to tell a blank image."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
            assert body[8] == 8, "expected 8-bit samples"
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[body[9]]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    assert len(raw) == stride * height, "truncated image data"
    return width, height, [raw[i * stride:(i + 1) * stride] for i in range(height)]


def ppm_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and RGB bytes of a binary PPM (P6) as pdftoppm writes it."""
    parts = data.split(maxsplit=4)
    assert parts[0] == b"P6", "not a binary PPM"
    return int(parts[1]), int(parts[2]), parts[4][-int(parts[1]) * int(parts[2]) * 3:]


def count_colour(rgb: bytes, colour: tuple[int, int, int], tolerance: int = 40) -> int:
    """Pixels within ``tolerance`` (per channel) of ``colour``."""
    r0, g0, b0 = colour
    return sum(1 for i in range(0, len(rgb), 3)
               if abs(rgb[i] - r0) <= tolerance and abs(rgb[i + 1] - g0) <= tolerance and abs(rgb[i + 2] - b0) <= tolerance)
