"""collector.support.store and tickets: bounds, idempotence, and the join to devices by identity key."""

import time

import pytest
import sqlalchemy as sa

from collector.ingest import Ingestor
from collector.models import support_ticket_table
from collector.support.store import store_tickets
from collector.support.tickets import Ticket, problem
from contract.identity import identity_key
from tests.collector import batches
from tests.collector.conftest import make_config

SECRET = b"fleet-identity-key-for-tests"
NOW = time.time()


def ticket(ticket_id="INC1", **kw) -> Ticket:
    base = dict(source="itsm", ticket_id=ticket_id, opened_at=NOW - 3600, updated_at=NOW - 3000)
    return Ticket(**{**base, **kw})


def rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(support_ticket_table).order_by("ticket_id")).mappings()]


@pytest.mark.parametrize("change, reason", [
    (dict(ticket_id=""), "ticket id"),
    (dict(ticket_id="x" * 129), "ticket id"),
    (dict(ticket_id="a\nb"), "ticket id"),
    (dict(opened_at=float("nan")), "opened_at"),
    (dict(opened_at=0.0), "opened_at"),
    (dict(updated_at=NOW + 10 * 86400), "updated_at"),
    (dict(resolved_at=NOW - 7200), "resolved before"),
    (dict(channel="fax"), "channel"),
    (dict(category="c" * 129), "category"),
    (dict(site="Paris\x00"), "site"),
    (dict(host_key="not-a-key"), "host_key"),
    (dict(account_key="A" * 32), "account_key"),
])
def test_a_ticket_outside_its_bounds_is_refused_with_the_reason(change, reason):
    assert reason in problem(ticket(**change), NOW)
    assert problem(ticket(), NOW) is None


def test_stored_once_updated_when_changed_and_refused_records_counted(db_engine):
    with db_engine.begin() as conn:
        first = store_tickets(conn, [ticket("INC1"), ticket("INC2"), ticket("", channel="phone")], NOW)
    assert (first.inserted, first.updated, first.unchanged, first.skipped_total) == (2, 0, 0, 1)
    with db_engine.begin() as conn:
        again = store_tickets(conn, [ticket("INC1"), ticket("INC2", resolved_at=NOW - 600, updated_at=NOW - 600)], NOW)
    assert (again.inserted, again.updated, again.unchanged) == (0, 1, 1)
    before, after = again.changed[0]
    assert before["resolved_at"] is None and after["resolved_at"] == NOW - 600
    stored = rows(db_engine)
    assert [r["ticket_id"] for r in stored] == ["INC1", "INC2"]
    assert stored[1]["resolved_at"] == NOW - 600 and stored[1]["changed_at"] == NOW


def _device(engine, device_id, site, **names):
    keys = {f"{kind}_key": identity_key(SECRET, kind, name) for kind, name in names.items()}
    hb = batches.heartbeat(NOW - 60, site=site, **keys)
    Ingestor(engine, make_config(engine.url.render_as_string(hide_password=False)), hooks=[]).store_body(batches.body(batches.batch(heartbeats=[hb], device_id=device_id)), None)
    return keys


def test_a_ticket_joins_the_device_of_its_item_first_then_of_its_caller(db_engine):
    pc = _device(db_engine, "device-pc-0042", "Paris", host="PC-0042", account="jdoe")
    laptop = _device(db_engine, "device-lt-0007", "Lyon", host="LT-0007", account="asmith")
    with db_engine.begin() as conn:
        store_tickets(conn, [
            ticket("by-host", host_key=pc["host_key"], account_key=laptop["account_key"], site="Berlin"),
            ticket("by-caller", account_key=laptop["account_key"], site="Berlin"),
            ticket("nobody", account_key=identity_key(SECRET, "account", "ghost"), site="Berlin"),
        ], NOW)
    joined = {r["ticket_id"]: (r["device_id"], r["site"]) for r in rows(db_engine)}
    assert joined == {"by-host": ("device-pc-0042", "Paris"), "by-caller": ("device-lt-0007", "Lyon"),
                      "nobody": (None, "Berlin")}


def test_a_ticket_twice_in_one_call_is_stored_once_as_its_later_version(db_engine):
    with db_engine.begin() as conn:
        first = store_tickets(conn, [ticket("INC1", channel="phone"), ticket("INC1", channel="chat"),
                                     ticket("INC2")], NOW)
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 1)
    assert [(r["ticket_id"], r["channel"]) for r in rows(db_engine)] == [("INC1", "chat"), ("INC2", "other")]
    with db_engine.begin() as conn:
        again = store_tickets(conn, [ticket("INC1", channel="email"), ticket("INC1", channel="portal")], NOW)
    assert (again.inserted, again.updated, again.unchanged) == (0, 1, 1)
    assert rows(db_engine)[0]["channel"] == "portal"
    with db_engine.connect() as conn:  # the contacts counters count each ticket once, as first stored
        assert sorted(conn.execute(sa.text("SELECT channel, contacts FROM support_count"))) == [("chat", 1), ("other", 1)]
