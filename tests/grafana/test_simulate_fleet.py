"""The simulated fleet: reproducible, valid on the wire, and shaped like a real fleet."""

from __future__ import annotations

import tomllib
from collections import Counter
from datetime import datetime, timezone

import pytest

from contract.check import ContractError, validate_batch
from contract.records import id_time, parse_time
from hinder.simulate.fleet import APPS, FLAKY_WIFI_SITE, OUTAGE_SITE, SITES, Fleet, Records
from hinder.simulate.sender import chunk_batches

END = datetime(2026, 11, 20, 17, 0, tzinfo=timezone.utc).timestamp()  # a Friday afternoon


def _batches(fleet: Fleet, dev) -> list[dict]:
    """One device's history as the wire batches `hinder simulate` sends."""
    return list(chunk_batches(dev.device_id, *fleet.records(dev)))


@pytest.fixture(scope="module")
def fleet():
    return Fleet(devices=160, days=14, seed=7, end=END, heartbeat_s=900)


@pytest.fixture(scope="module")
def records(fleet):
    """device -> Records, validated records of every batch (times as Unix seconds)."""
    out = {}
    for dev in fleet.devices:
        sections = {name: [] for name in Records._fields}
        for batch in _batches(fleet, dev):
            valid = validate_batch(batch, now=parse_time(batch["sent_at"]) + 1)  # as if sent then, right after
            assert valid["device_id"] == dev.device_id
            for name, section in sections.items():
                section += valid.get(name, [])
        out[dev.device_id] = Records(**sections)
    return out


def _all_events(records):
    return [e for r in records.values() for e in r.events]


def test_same_seed_gives_identical_batches_and_ids():
    a, b = Fleet(25, 3, seed=11, end=END), Fleet(25, 3, seed=11, end=END)
    batches = [_batches(a, d) for d in a.devices]
    assert batches == [_batches(b, d) for d in b.devices]
    assert all(any(batch.get(section) for d in batches for batch in d) for section in ("feedback", "usage"))
    c = Fleet(25, 3, seed=12, end=END)
    ids = lambda f: {e["id"] for d in f.devices for e in f.records(d)[0]}  # noqa: E731
    assert ids(a) and not ids(a) & ids(c)


def test_ids_are_unique_uuid7_at_the_record_time(records):
    seen = set()
    for events, heartbeats, *_ in records.values():
        for rec, ts in [(e, e["start"]) for e in events] + [(h, h["time"]) for h in heartbeats]:
            assert rec["id"] not in seen
            seen.add(rec["id"])
            assert abs(id_time(rec["id"]) - ts) < 0.002
    assert len(seen) > 10_000


def test_every_type_and_detail_the_dashboards_need_is_present(records):
    events = _all_events(records)
    types = Counter(e["type"] for e in events)
    for t in ("crash", "hang", "slow_app", "slow_system", "connectivity_loss", "connectivity_degraded",
              "app_unavailable", "abnormal_exit", "unexpected_shutdown"):
        assert types[t] > 0, t
    for e in events:
        if e["type"] in ("slow_app", "slow_system", "connectivity_degraded"):
            assert 0 < e["details"]["excess_s"] <= max(e["duration_s"], e["details"]["excess_s"])
        if e["type"] == "connectivity_loss":
            assert e["details"]["cause"] and e["details"]["interface_kind"] in ("wifi", "wired", "vpn")
        if e["type"] == "hang":
            assert e["duration_s"] >= 5
    assert {e["app"] for e in events} >= {a.name for a in APPS} | {"system", "network"}
    assert any(e["app"] not in {a.name for a in APPS} | {"system", "network"} for e in events)  # "other"


def test_event_activity_agrees_with_heartbeats(records):
    """An event's active seconds never exceed what the heartbeats covering it report."""
    checked = 0
    for events, heartbeats, *_ in records.values():
        intervals = [(h["time"] - h["interval_s"], h["time"], h["active_s"]) for h in heartbeats]
        for e in events:
            assert 0 <= e["active_s"] <= e["duration_s"] + 1e-6
            end = e["start"] + e["duration_s"]
            covering = sum(a for s, t, a in intervals if t > e["start"] and s < end)
            assert e["active_s"] <= covering + 1e-3
            checked += e["duration_s"] > 0
        for h in heartbeats:
            assert 0 <= h["active_s"] <= h["interval_s"]
    assert checked > 100


def test_weekends_and_nights_are_quiet(fleet, records):
    by_weekday, by_hour = Counter(), Counter()
    for dev in fleet.devices:
        events, heartbeats, *_ = records[dev.device_id]
        offset = dev.site.utc_offset_h * 3600
        for h in heartbeats:
            local = datetime.fromtimestamp(h["time"] + offset, tz=timezone.utc)
            by_weekday["weekend" if local.weekday() >= 5 else "weekday"] += h["active_s"]
            by_hour[local.hour] += h["active_s"]
    # two weekend days and ten weekdays in 14 days: per day, weekends are a small fraction
    assert by_weekday["weekend"] / 2 < 0.1 * by_weekday["weekday"] / 10
    assert by_hour[3] == 0 and by_hour[10] > 0
    assert by_hour[12] < 0.7 * by_hour[10]  # the lunch dip


def test_flaky_wifi_site_loses_connectivity_more_often(fleet, records):
    losses, devices = Counter(), Counter()
    for dev in fleet.devices:
        devices[dev.site.name] += 1
        losses[dev.site.name] += sum(1 for e in records[dev.device_id][0]
                                     if e["type"] == "connectivity_loss" and e["details"]["cause"] == "no_link")
    per_device = {s.name: losses[s.name] / devices[s.name] for s in SITES if devices[s.name]}
    others = max(v for k, v in per_device.items() if k != FLAKY_WIFI_SITE)
    assert per_device[FLAKY_WIFI_SITE] > 4 * others


def test_site_outage_hits_the_whole_site_at_once(fleet, records):
    outage = next(o for o in fleet.outages if o.kind == "site")
    assert outage.target == OUTAGE_SITE
    on_site = [d for d in fleet.devices if d.site.name == OUTAGE_SITE]
    hit = [d for d in on_site if any(e["type"] == "connectivity_loss" and abs(e["start"] - outage.start) < 30
                                     for e in records[d.device_id][0])]
    powered = [d for d in on_site if any(h["time"] - h["interval_s"] <= outage.start <= h["time"]
                                         for h in records[d.device_id][1])]
    assert len(powered) >= 5 and len(hit) >= 0.9 * len(powered)
    assert not any(e["type"] == "connectivity_loss" and abs(e["start"] - outage.start) < 30
                   and e["details"]["cause"] == "internet_unreachable"
                   for d in fleet.devices if d.site.name != OUTAGE_SITE for e in records[d.device_id][0])


def test_bad_version_crashes_much_more(fleet, records):
    crashes, hours = Counter(), Counter()
    for dev in fleet.devices:
        version = dev.apps.get("teams")
        if version is None:
            continue
        events, heartbeats, *_ = records[dev.device_id]
        crashes[version] += sum(1 for e in events if e["type"] == "crash" and e["app"] == "teams")
        hours[version] += sum(h["active_s"] for h in heartbeats) / 3600
    rate = {v: crashes[v] / hours[v] for v in hours}
    assert rate["24.1.100"] > 3 * rate["24.2.300"]


def test_silent_agents_stop_reporting(fleet, records):
    silent = [d for d in fleet.devices if d.silent_from is not None]
    assert silent
    for dev in silent:
        events, heartbeats, *_ = records[dev.device_id]
        assert all(h["time"] <= dev.silent_from for h in heartbeats)
        assert all(e["start"] < dev.silent_from for e in events)


def test_live_batches_are_valid_and_recent(fleet):
    now = END
    batches = [b for d in fleet.devices if (b := fleet.live_batch(d, now, 15.0, 0))]
    assert len(batches) > 100
    events = [e for b in batches for e in validate_batch(b, now=now)["events"]]
    assert events and all(now - 15 <= e["start"] <= now for e in events)
    assert [fleet.live_batch(d, now, 15.0, 0) for d in fleet.devices[:5]] == [fleet.live_batch(d, now, 15.0, 0) for d in fleet.devices[:5]]


def test_three_live_rounds_of_a_small_fleet_cover_the_live_panels():
    """The dashboard test sends three live rounds of this fleet; its "now" panels need these types."""
    fleet = Fleet(40, 2, seed=5, end=END)
    types = Counter(e["type"] for r in range(3) for d in fleet.devices if (b := fleet.live_batch(d, END, 60.0, r))
                    for e in b["events"])
    assert types["connectivity_loss"] >= 2 and types["crash"] + types["hang"] >= 2, types


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="days"):
        Fleet(10, 40, end=END)
    with pytest.raises(ValueError, match="devices"):
        Fleet(0, 1, end=END)
    fleet = Fleet(3, 1, end=END)
    with pytest.raises(ContractError):  # the validator really checks what the simulator sends
        validate_batch(_batches(fleet, fleet.devices[0])[0], now=END + 40 * 86400)


def test_apps_toml_lists_every_simulated_app():
    assert tomllib.loads(Fleet.apps_toml())["apps"] == [a.name for a in APPS]


def test_event_scale_multiplies_disruptions_not_heartbeats():
    base, busy = Fleet(20, 4, seed=2, end=END), Fleet(20, 4, seed=2, end=END, event_scale=4)
    count = lambda f, i: sum(len(f.records(d)[i]) for d in f.devices)  # noqa: E731
    assert [busy.records(d)[1] for d in busy.devices] == [base.records(d)[1] for d in base.devices]
    assert 3 * count(base, 0) < count(busy, 0) < 5 * count(base, 0)


def test_unexpected_shutdowns_leave_a_gap_in_the_heartbeats(records):
    shutdowns = 0
    for events, heartbeats, *_ in records.values():
        for e in (e for e in events if e["type"] == "unexpected_shutdown"):
            shutdowns += 1
            down, back = e["start"], e["start"] + e["duration_s"]
            assert 60 <= e["duration_s"] <= 600 and e["active_s"] == 0
            assert parse_time(e["details"]["boot_time"]) == pytest.approx(back, abs=0.01)
            assert not [h for h in heartbeats if h["time"] - h["interval_s"] < back - 0.01 and h["time"] > down + 0.01]
            assert any(abs(h["time"] - down) < 0.01 for h in heartbeats)  # the last sign of life
    assert shutdowns >= 3


def _local(dev, ts: float) -> datetime:
    return datetime.fromtimestamp(ts + dev.site.utc_offset_h * 3600, tz=timezone.utc)


def test_focus_per_hour_fits_the_active_time_the_heartbeats_report(fleet, records):
    checked = 0
    for dev in fleet.devices:
        _, heartbeats, _, usage = records[dev.device_id]
        focus = Counter()
        for u in usage:
            assert u["interval_s"] == 3600 and u["start"] % 3600 == 0 and 0 < u["focus_s"]
            focus[u["start"]] += u["focus_s"]
        assert len(focus) * len(dev.focus) >= len(usage)  # one total per app and hour
        for hour, seconds in focus.items():
            # what the heartbeats allow in the hour: each one's active seconds, at most its overlap with the hour
            active = sum(min(h["active_s"], min(h["time"], hour + 3600) - max(h["time"] - h["interval_s"], hour))
                         for h in heartbeats if h["time"] > hour and h["time"] - h["interval_s"] < hour + 3600)
            assert seconds <= min(3600, active + 0.01), (dev.device_id, hour)
            checked += 1
    assert checked > 10_000


def test_the_worst_app_per_hour_of_use_is_not_the_one_with_most_crashes(records):
    crashes, hours = Counter(), Counter()
    for r in records.values():
        crashes.update(e["app"] for e in r.events if e["type"] == "crash")
        for u in r.usage:
            hours[u["app"]] += u["focus_s"] / 3600
    per_100h = {app: 100 * crashes[app] / hours[app] for app in hours if app != "other"}
    worst, runner_up = sorted(per_100h, key=per_100h.get, reverse=True)[:2]
    assert worst == "sap-gui" and per_100h[worst] > 1.4 * per_100h[runner_up], per_100h
    assert max(crashes, key=crashes.get) == "teams"  # in total, the most used app crashes most
    # the well-behaved apps crash at about the same rate per hour of use, however much they are used
    calm = [per_100h[a] for a in ("outlook", "excel", "chrome", "word") if hours[a] > 300]
    assert len(calm) >= 3 and max(calm) < 2.5 * min(calm), per_100h


def test_answers_follow_significant_disruptions_of_the_same_device(fleet, records):
    answers = Counter()
    for dev in fleet.devices:
        events, heartbeats, feedback, _ = records[dev.device_id]
        by_id = {e["id"]: e for e in events}
        days = Counter(_local(dev, f["time"]).date() for f in feedback)
        assert max(days.values(), default=0) <= 1  # at most one question per device and day
        for f in feedback:
            event = by_id[f["event_id"]]  # an event of the same device
            end = event["start"] + event["duration_s"]
            assert 2 <= f["time"] - end <= 20  # a little after it ended
            assert f["time"] < fleet.end and (dev.silent_from is None or f["time"] < dev.silent_from)
            local = _local(dev, f["time"])
            assert local.weekday() < 5 and 8 <= local.hour < 18  # the agent's default working hours
            assert (event["type"] == "crash" and event["app"] in {a.name for a in APPS}
                    or event["type"] == "hang" and event["duration_s"] >= 30
                    or event["type"] == "connectivity_loss" and event["duration_s"] >= 300), event
            assert event["active_s"] > 0 if event["duration_s"] else any(  # the employee was at the device
                h["active_s"] > 0 and h["time"] - h["interval_s"] < event["start"] <= h["time"] + 60 for h in heartbeats)
            kind = "crash" if event["type"] == "crash" else "short_hang" if event["type"] == "hang" and \
                event["duration_s"] < 120 else "other"
            answers[kind, f["answer"]] += 1
    total = sum(answers.values())
    assert total > 200 and 0.2 < sum(n for (_, a), n in answers.items() if a == "unanswered") / total < 0.4

    def share(kind, *names):
        said = sum(n for (k, a), n in answers.items() if k == kind and a != "unanswered")
        return sum(answers[kind, a] for a in names) / said

    assert share("crash", "lost_work", "over_15_minutes") > 0.45 > share("short_hang", "lost_work", "over_15_minutes")
    assert share("short_hang", "none", "few_minutes") > 0.7 > share("crash", "none", "few_minutes")


def test_a_device_is_asked_on_most_working_days_with_a_significant_disruption(fleet, records):
    """The pulse is on in the simulated fleet: most device-days with an eligible disruption bring one answer."""
    asked = sum(len(r.feedback) for r in records.values())
    assert asked > 0.5 * len(fleet.devices) * 10 * 0.5  # ten weekdays; half of the device-days have one
