"""The simulated service desk: tickets that follow the fleet's disruptions, joined to its devices by identity key."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from collector.db import make_engine
from collector.models import device_table, support_ticket_table
from collector.support.config import SupportSettings
from collector.support.generic import read_tickets
from contract.identity import identity_key
from contract.records import parse_time
from hinder.simulate.fleet import CHANNEL_MIX, TICKET_CAUSES, Fleet, names
from tests.conftest import SUPPORT_TOKEN, hinder_env

END = datetime(2026, 11, 20, 17, 0, tzinfo=timezone.utc).timestamp()  # a Friday afternoon
SECRET = b"fleet-identity-key-for-tests-0001"


@pytest.fixture(scope="module")
def fleet():
    return Fleet(devices=300, days=14, seed=11, end=END, heartbeat_s=900, identity_secret=SECRET)


@pytest.fixture(scope="module")
def stream(fleet):
    """device -> (events, tickets)."""
    out = {}
    for dev in fleet.devices:
        events = fleet.records(dev).events
        out[dev.device_id] = (events, fleet.tickets(dev, events))
    return out


def test_tickets_are_reproducible_and_readable_as_the_webhook_reads_them(fleet, stream):
    dev = fleet.devices[5]
    again = Fleet(devices=300, days=14, seed=11, end=END, heartbeat_s=900, identity_secret=SECRET)
    assert again.tickets(dev, again.records(dev)[0]) == stream[dev.device_id][1]
    tickets = [t for _, ts in stream.values() for t in ts] + fleet.stranger_tickets()
    body = "\n".join(__import__("json").dumps(t) for t in tickets).encode()
    read = read_tickets(body, "jsonl", "webhook", SupportSettings(), SECRET, now=END)
    assert not read.skipped, read.problems
    assert len(read.tickets) == len(tickets) == len({t["id"] for t in tickets})
    assert {t.channel for t in read.tickets} == {"phone", "email", "portal", "chat", "walk_in"}


def test_channel_mix_work_stopping_and_resolution(stream):
    tickets = [t for _, ts in stream.values() for t in ts]
    assert 100 <= len(tickets) <= 1500, len(tickets)  # about one ticket per employee and month
    share = Counter(t["channel"] for t in tickets)
    for channel, expected in CHANNEL_MIX:
        assert abs(share[channel] / len(tickets) - expected) < 0.08, share
    stopping = [t for t in tickets if t["priority"] == "P1"]
    assert 0.05 < len(stopping) / len(tickets) < 0.6
    resolved = [t for t in stopping if t["resolved_at"]]
    waits = [parse_time(t["resolved_at"]) - parse_time(t["opened_at"]) for t in resolved]
    assert waits and all(1800 <= w <= 6 * 3600 for w in waits)
    assert all(parse_time(t["opened_at"]) < END for t in tickets)


def test_tickets_follow_disruptions_more_for_longer_and_repeated_ones(stream):
    followed, background = 0, 0
    causes = Counter()
    for events, tickets in stream.values():
        ends = [(parse_time(e["start"]) + e["duration_s"], e["type"]) for e in events if e["type"] in TICKET_CAUSES]
        for t in tickets:
            opened = parse_time(t["opened_at"])
            before = [kind for end, kind in ends if 0 <= opened - end <= 2 * 3600]
            if t["category"] in ("Software", "Network", "Application", "Hardware"):
                assert before, t
                followed += 1
                causes.update(before[-1:])
            else:
                background += 1
    assert followed > 3 * background > 0
    assert {"crash", "connectivity_loss"} <= set(causes)
    # a long outage is reported far more often than a short one
    by_length = {True: [0, 0], False: [0, 0]}
    for events, tickets in stream.values():
        opened = [parse_time(t["opened_at"]) for t in tickets]
        for e in events:
            if e["type"] == "connectivity_loss" and e["duration_s"] >= 120:
                end = parse_time(e["start"]) + e["duration_s"]
                long = e["duration_s"] >= 900
                by_length[long][0] += 1
                by_length[long][1] += any(0 <= o - end <= 2 * 3600 for o in opened)
    assert by_length[True][1] / by_length[True][0] > by_length[False][1] / by_length[False][0]


def test_heartbeats_carry_the_keys_the_tickets_name(fleet):
    dev = fleet.devices[0]
    heartbeats = fleet.records(dev).heartbeats
    assert heartbeats[0]["host_key"] == identity_key(SECRET, "host", names(dev)["host"])
    assert heartbeats[0]["account_key"] == identity_key(SECRET, "account", names(dev)["account"])
    assert "host_key" not in Fleet(2, 1, seed=11, end=END).records(Fleet(2, 1, seed=11, end=END).devices[0])[1][0]
    strangers = fleet.stranger_tickets()
    accounts = {names(d)["account"] for d in fleet.devices}
    assert strangers and not {t["account"] for t in strangers} & accounts


def test_simulate_sends_tickets_that_join_the_devices(collector_factory, tmp_path):
    key = tmp_path / "identity.key"
    key.write_bytes(SECRET)
    collector = collector_factory(config=f'[support]\nidentity_key_file = "{key}"\n',
                                  env={"HINDER_SUPPORT_TOKEN": SUPPORT_TOKEN})
    out = subprocess.run(
        [sys.executable, "-m", "hinder", "simulate", "--collector", collector.url, "--devices", "60", "--days", "7",
         "--seed", "12", "--identity-key-file", str(key)],
        capture_output=True, text=True, timeout=300,
        env=hinder_env(HINDER_AGENT_TOKEN=collector.agent_token, HINDER_SUPPORT_TOKEN=SUPPORT_TOKEN))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "service-desk tickets" in out.stdout, out.stdout
    engine = make_engine(collector.db)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(support_ticket_table)).mappings().all()
        keyed = conn.execute(sa.select(sa.func.count()).where(device_table.c.host_key.is_not(None))).scalar_one()
    engine.dispose()
    assert rows and keyed == 60
    joined = [r for r in rows if r["device_id"]]
    strangers = [r for r in rows if r["ticket_id"].startswith("SIM-12-X-")]
    assert len(joined) == len(rows) - len(strangers) > 0
    assert all(r["device_id"] is None and r["account_key"] for r in strangers)
    assert all(r["device_id"].startswith("sim-12-") for r in joined)
