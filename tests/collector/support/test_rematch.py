"""Tickets that arrived before their device sent its identity keys are joined when it does (ingest -> rematch)."""

from __future__ import annotations

import time

import sqlalchemy as sa

from collector.db import write_transaction
from collector.ingest import Ingestor
from collector.models import support_ticket_table
from collector.support import store as support_store
from collector.support.store import store_tickets
from collector.support.tickets import Ticket
from contract.identity import identity_key
from tests.collector.batches import batch, heartbeat
from tests.collector.conftest import make_config

SECRET = b"fleet-identity-key-for-tests-0001"
HOST = identity_key(SECRET, "host", "PC-0042")
ACCOUNT = identity_key(SECRET, "account", "jdoe")


def _ticket(ticket_id: str, opened_at: float, **kw) -> Ticket:
    return Ticket(source="webhook", ticket_id=ticket_id, opened_at=opened_at, updated_at=opened_at,
                  site="Lyon", department="Finance", **kw)


def _rows(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {r["ticket_id"]: dict(r) for r in conn.execute(sa.select(support_ticket_table)).mappings()}


def test_a_device_sending_keys_gets_its_earlier_tickets(db_engine, db_url):
    now = time.time()
    config = make_config(db_url)
    seen: list = []

    def rejoined(conn, b):  # what the support hook joins, seen from inside the ingest transaction
        before = {r["ticket_id"]: dict(r) for r in conn.execute(sa.select(support_ticket_table)).mappings()}
        support_store.on_ingest(conn, b)
        after = {r["ticket_id"]: dict(r) for r in conn.execute(sa.select(support_ticket_table)).mappings()}
        seen.append([(before[k], after[k]) for k in after if after[k] != before[k]])

    ingestor = Ingestor(db_engine, config, hooks=[rejoined])
    with write_transaction(db_engine) as conn:
        stored = store_tickets(conn, [
            _ticket("by-host", now - 3600, host_key=HOST),
            _ticket("by-account", now - 7200, account_key=ACCOUNT),
            _ticket("someone-else", now - 3600, account_key=identity_key(SECRET, "account", "other")),
            _ticket("too-old", now - config.collector.max_age_s - 3600, host_key=HOST),
        ], now)
    assert stored.inserted == 4 and all(r["device_id"] is None for r in _rows(db_engine).values())

    ingestor.store(batch(heartbeats=[heartbeat(now - 60, site="Paris", department="Sales")]), now)  # no keys yet
    assert seen == [[]]
    ingestor.store(batch(heartbeats=[heartbeat(now - 30, site="Paris", department="Sales", host_key=HOST,
                                               account_key=ACCOUNT)]), now)
    pairs = seen[-1]
    assert sorted(after["ticket_id"] for _, after in pairs) == ["by-account", "by-host"]
    for before, after in pairs:
        assert before["device_id"] is None and before["site"] == "Lyon"
        assert (after["device_id"], after["site"], after["department"], after["changed_at"]) == (
            "device-0001", "Paris", "Sales", now)
    rows = _rows(db_engine)
    assert rows["by-host"]["device_id"] == rows["by-account"]["device_id"] == "device-0001"
    assert rows["someone-else"]["device_id"] is None and rows["too-old"]["device_id"] is None
    assert rows["by-host"]["site"] == "Paris"

    # the same keys again: nothing to join, no work
    ingestor.store(batch(heartbeats=[heartbeat(now - 10, host_key=HOST, account_key=ACCOUNT)]), now)
    assert seen[-1] == []
    # a ticket arriving now is joined at once by store_tickets
    with write_transaction(db_engine) as conn:
        store_tickets(conn, [_ticket("later", now - 5, account_key=ACCOUNT)], now)
    assert _rows(db_engine)["later"]["device_id"] == "device-0001"
