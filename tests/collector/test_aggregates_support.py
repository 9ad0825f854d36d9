"""Service-desk tickets in the stored figures: store_tickets marks, refresh recomputes, on SQLite and PostgreSQL.

Every state is checked against the model run from scratch on everything stored (events, heartbeats, tickets),
so a ticket that is updated, moved or stored before its device's heartbeats never doubles nor goes missing.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from collector import aggregates, impact
from collector.aggregates import queries
from collector.aggregates.marks import support_ticket
from collector.aggregates.refresh import refresh, to_disruption
from collector.aggregates import marks
from collector.db import write_transaction
from collector.ingest import Ingestor
from collector.models import event_table, heartbeat_table, support_ticket_table
from collector.support import store as support_store
from collector.support.store import store_tickets
from collector.support.tickets import Ticket
from contract.identity import identity_key
from tests.collector import test_aggregates
from tests.collector.test_aggregates import NOW, assert_consistent, beats, event, rows, store

setup = test_aggregates.setup  # the fixture: an engine, a config and an Ingestor with the marks hook

H = int(NOW // 3600 * 3600) - 3 * 86400  # an hour boundary three days ago
A, B = "device-aaaa-0001", "device-bbbb-0002"
SECRET = b"identity key of the test fleet!!"
KEY = {A: identity_key(SECRET, "host", "pc-a"), B: identity_key(SECRET, "host", "pc-b")}


def busy(device, start, end, active):
    """One-minute heartbeats of a device with ``active`` seconds each, carrying its host key (as its agent does)."""
    return [{**hb, "host_key": KEY[device]} for hb in beats(start, end, active)]


def known(ingestor, device):
    """The device, known by its host key from a heartbeat long before the tickets."""
    store(ingestor, device, heartbeats=busy(device, H - 2 * 86400, H - 2 * 86400 + 60, 30.0))


def ticket(device=A, channel="phone", opened=H + 3600, resolved=None, work_stopping=False, ticket_id="INC1"):
    return Ticket(source="desk", ticket_id=ticket_id, opened_at=opened, updated_at=opened, resolved_at=resolved,
                  channel=channel, work_stopping=work_stopping, host_key=KEY[device])


def keep(engine, config, *tickets):
    with write_transaction(engine) as conn:
        out = store_tickets(conn, list(tickets), now=NOW, model=aggregates.model_config(config))
    refresh(engine, config, now=NOW)
    return out


def from_scratch(engine, config, device):
    """The device's lost seconds by (hour, type, app), the model run on everything stored for it."""
    with engine.connect() as conn:
        e, h, t = event_table.c, heartbeat_table.c, support_ticket_table.c
        evs = [to_disruption(r) for r in conn.execute(sa.select(
            e.id, e.type, e.app, e.start, e.duration_s, e.active_s, e.details).where(e.device_id == device)).mappings()]
        hbs = [impact.Interval(*r) for r in conn.execute(
            sa.select(h.time, h.interval_s, h.active_s).where(h.device_id == device))]
        tks = [support_ticket(r) for r in conn.execute(sa.select(support_ticket_table).where(
            t.device_id == device)).mappings()]
    return impact.device_hours(evs, hbs, aggregates.model_config(config), tickets=tks).lost


def stored(engine, device):
    return {(hr, ty, a): v for hr, ty, a, v in rows(
        engine, f"SELECT hour, type, app, lost_s FROM lost_hourly WHERE device_id = '{device}' AND lost_s > 0")}


def assert_current(engine, config, *devices):
    for device in devices:
        expected, got = from_scratch(engine, config, device), stored(engine, device)
        assert got.keys() == {k for k, v in expected.items() if v > 1e-9}, device
        for key, value in got.items():
            assert value == pytest.approx(expected[key], abs=1e-6), (device, key)
    assert_consistent(engine, config)


def support_lost(engine, device):
    out = {}
    for (_h, ty, a), v in stored(engine, device).items():
        if ty in impact.SUPPORT_TYPES:
            out[(ty, a)] = out.get((ty, a), 0.0) + v
    return out


def test_an_updated_ticket_changes_the_figures_without_doubling(setup):
    engine, config, ingestor = setup
    known(ingestor, A)
    store(ingestor, A, heartbeats=busy(A, H, H + 6 * 3600, 30.0))  # half active
    assert keep(engine, config, ticket()).inserted == 1
    assert support_lost(engine, A) == pytest.approx({("support", "phone"): 300.0})  # 600 s x 0.5
    assert_current(engine, config, A)
    # the label rollups (and /metrics) keep the channel, a bounded set, as the app label
    assert rows(engine, "SELECT type, app, lost_s FROM lost_rollup WHERE type = 'support'") == [("support", "phone", 300.0)]
    # the desk calls it a chat that stopped work, resolved two hours later: 720 x 0.5 + (7200 - 720) x 0.5
    changed = ticket(channel="chat", resolved=H + 3 * 3600, work_stopping=True)
    assert keep(engine, config, changed).updated == 1
    assert support_lost(engine, A) == pytest.approx({("support", "chat"): 3600.0})
    assert_current(engine, config, A)
    assert keep(engine, config, changed).unchanged == 1  # read again: nothing doubles
    assert support_lost(engine, A) == pytest.approx({("support", "chat"): 3600.0})
    # reopened later in the day: its old hours are recomputed without it
    keep(engine, config, ticket(channel="chat", opened=H + 4 * 3600, resolved=H + 5 * 3600, work_stopping=True))
    assert support_lost(engine, A) == pytest.approx({("support", "chat"): 1800.0})
    assert {hr for hr, ty, _a in stored(engine, A) if ty == "support"} == {H + 4 * 3600}
    assert_current(engine, config, A)


def test_a_ticket_stored_before_or_after_the_heartbeats_gives_the_same_figures(setup):
    engine, config, ingestor = setup
    known(ingestor, A)
    known(ingestor, B)
    # A: the ticket first (no heartbeats yet at its time: it costs nothing), then the heartbeats
    keep(engine, config, ticket(A, resolved=H + 3 * 3600, work_stopping=True))
    assert support_lost(engine, A) == {}
    store(ingestor, A, heartbeats=busy(A, H, H + 6 * 3600, 30.0))
    refresh(engine, config, now=NOW)
    # B: the heartbeats first, then the ticket
    store(ingestor, B, heartbeats=busy(B, H, H + 6 * 3600, 30.0))
    refresh(engine, config, now=NOW)
    keep(engine, config, ticket(B, resolved=H + 3 * 3600, work_stopping=True, ticket_id="INC2"))
    assert support_lost(engine, A) == pytest.approx({("support", "phone"): 300.0 + 3300.0})
    assert support_lost(engine, B) == support_lost(engine, A)
    assert_current(engine, config, A, B)


def test_a_ticket_that_moves_to_another_device_leaves_the_first(setup):
    engine, config, ingestor = setup
    for device in (A, B):
        known(ingestor, device)
        store(ingestor, device, heartbeats=busy(device, H, H + 3 * 3600, 60.0))
    keep(engine, config, ticket(A))
    keep(engine, config, ticket(B))  # the configuration item was corrected
    assert support_lost(engine, A) == {}
    assert support_lost(engine, B) == pytest.approx({("support", "phone"): 600.0})
    assert_current(engine, config, A, B)


def test_a_session_arriving_later_replaces_a_remote_ticket_contact(setup):
    engine, config, ingestor = setup
    known(ingestor, A)
    store(ingestor, A, heartbeats=busy(A, H, H + 4 * 3600, 60.0))
    keep(engine, config, ticket(channel="remote", resolved=H + 3 * 3600))
    assert support_lost(engine, A) == pytest.approx({("support", "remote"): 900.0})
    # the agent's backlog brings a 12-minute session, 90 minutes after the ticket was opened (another hour)
    store(ingestor, A, [event("support_session", app="teamviewer", start=H + 9000, duration_s=720.0)])
    refresh(engine, config, now=NOW)
    assert support_lost(engine, A) == pytest.approx({("support_session", "teamviewer"): 720.0})
    assert_current(engine, config, A)



def test_a_session_days_after_a_long_open_remote_ticket_was_opened_is_still_its_contact(setup):
    engine, config, ingestor = setup
    known(ingestor, A)
    store(ingestor, A, heartbeats=busy(A, H, H + 3600 * 2, 60.0))
    keep(engine, config, ticket(channel="remote", opened=H, resolved=H + 2 * 86400))
    assert support_lost(engine, A) == pytest.approx({("support", "remote"): 900.0})
    later = H + 86400 + 3600
    store(ingestor, A, [event("support_session", app="teamviewer", start=later, duration_s=600.0)],
          busy(A, later - 600, later + 1200, 60.0))
    refresh(engine, config, now=NOW)
    assert support_lost(engine, A) == pytest.approx({("support_session", "teamviewer"): 600.0})
    assert_current(engine, config, A)


def test_the_support_types_are_left_out_under_version_1(setup):
    engine, config, ingestor = setup
    known(ingestor, A)
    store(ingestor, A, [event("hang", app="firefox", start=H + 600, duration_s=300.0, active_s=300.0)],
          busy(A, H, H + 3 * 3600, 60.0))
    keep(engine, config, ticket(opened=H + 1800))
    with engine.connect() as conn:
        v2 = {t: s for t, s, _n in queries.lost_by(conn, H, H + 86400, ["type"])}
        v1 = {t: s for t, s, _n in queries.lost_by(conn, H, H + 86400, ["type"], model="1")}
        labels_v1 = {t for _h, t, _s, _n in queries.lost_by_label(conn, H, H + 86400, ["hour", "type"], model="1")}
    assert v2 == pytest.approx({"hang": 300.0, "support": 600.0})
    assert v1 == pytest.approx({"hang": 300.0})
    assert labels_v1 == {"hang"}


def test_marks_without_the_model_settings_cover_the_widest_span(setup):
    engine, config, ingestor = setup
    known(ingestor, A)
    store(ingestor, A, heartbeats=busy(A, H, H + 3 * 3600, 60.0))
    refresh(engine, config, now=NOW)
    with write_transaction(engine) as conn:
        store_tickets(conn, [ticket(work_stopping=True)], now=NOW)  # open: may wait up to the widest cap
        marked = conn.execute(sa.text("SELECT day, first_hour, last_hour FROM impact_dirty")).all()
    assert marked[0][1] == H + 3600
    last = max(r[2] for r in marked)
    assert last >= H + 3600 + impact.MAX_CONTACT_S + impact.MAX_WAIT_CAP_S - 3600
    refresh(engine, config, now=NOW)
    assert_current(engine, config, A)


def test_a_ticket_joined_later_by_the_device_s_new_keys_counts_for_it(setup):
    engine, config, _ = setup
    ingestor = Ingestor(engine, config, hooks=[marks.on_ingest, support_store.on_ingest])  # as the collector's
    keep(engine, config, ticket(A, "phone", opened=H + 3600))  # the device has never sent its keys: joined to none
    store(ingestor, A, heartbeats=beats(H, H + 3 * 3600, 60.0))  # it reports, still without keys
    refresh(engine, config, now=NOW)
    assert not any(ty == "support" for _h, ty, _a in stored(engine, A))
    store(ingestor, A, heartbeats=busy(A, H + 3 * 3600, H + 3 * 3600 + 60, 60.0))  # now with its host key
    refresh(engine, config, now=NOW)
    assert stored(engine, A)[(H + 3600, "support", "phone")] == pytest.approx(600.0)  # the phone contact, fully active
    assert_current(engine, config, A)
