"""What every polled connector must do, checked against each connector's fake ITSM (tests/collector/support/itsm.py).

A test module gives a fake: ``records`` (the source's tickets in its own
format), ``secret`` (the credential it accepts), ``handler`` (its API: paging,
auth), ``change(ticket_id, when=None)`` (the ticket is changed in the source: a
new modification time, ``when`` or shortly before the tests' now, and priority) and ``malformed()`` (a record without a
readable opening time, skipped for ``bad_reason``). ``make(url, secret)`` builds the connector.
"""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from collector.models import support_source_table, support_ticket_table
from collector.support.config import SourceSettings, SupportSettings
from collector.support.sources import base
from collector.support.sources.base import poll
from tests.collector.support.itsm import serve

SECRET_ENV = "HINDER_TEST_ITSM_SECRET"
WRONG = "wrong-secret-0123456789"


@pytest.fixture
def fast_retries(monkeypatch):
    """Retries without the production waits."""
    monkeypatch.setattr(base, "RETRY_DELAYS_S", (0.01, 0.01, 0.01))


@pytest.fixture
def engine(tmp_path):
    """A migrated SQLite database (the connector tests that need not run on both backends)."""
    from collector.db import make_engine
    from collector.migrations import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'hinder.db'}", busy_timeout_s=2.0)
    upgrade(engine)
    yield engine
    engine.dispose()


def make_connector(cls, url: str, secret: str, monkeypatch, identity: bytes | None = None, **settings):
    """A connector of ``cls`` for the fake at ``url``, its secret in an environment variable."""
    monkeypatch.setenv(SECRET_ENV, secret)
    source = SourceSettings(name=f"{cls.kind}-test", kind=cls.kind, url=url, secret_env=SECRET_ENV,
                            **{"page_size": 2, **settings})
    return cls(source, SupportSettings(sources=[source]), identity_secret=identity)


def stored(engine, source: str) -> dict[str, dict]:
    """The stored tickets of a source by ticket id."""
    t = support_ticket_table.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(support_ticket_table).where(t.source == source)).mappings().all()
    return {r["ticket_id"]: dict(r) for r in rows}


def source_row(engine, name: str) -> dict:
    """The source's health row."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(support_source_table).where(support_source_table.c.name == name))
                    .mappings().one())


def all_ids(fake) -> set[str]:
    return {fake.id_of(r) for r in fake.records}


def check_pages(fake, make, engine, now: float) -> None:
    """Several pages read in order: every ticket stored once, the cursor at the newest change."""
    with serve(fake.handler) as server:
        connector = make(server.url, fake.secret)
        result = poll(engine, connector, now)
        assert result.error is None, result.error
        assert result.pages >= 3 and result.stored.inserted == len(fake.records), result
        assert set(stored(engine, connector.settings.name)) == all_ids(fake)
        row = source_row(engine, connector.settings.name)
        assert row["cursor"] and row["failures_total"] == 0 and row["last_success"] == now
        again = poll(engine, connector, now)
        assert again.stored.inserted == 0 and again.stored.updated == 0 and again.error is None


def check_wrong_credentials(fake, make, engine, now: float, caplog) -> None:
    """Refused credentials: a counted failure, nothing stored, the secret nowhere."""
    caplog.set_level(logging.DEBUG)
    with serve(fake.handler) as server:
        connector = make(server.url, WRONG)
        result = poll(engine, connector, now)
    assert result.error and "credentials" in result.error
    assert WRONG not in result.error and WRONG not in caplog.text and fake.secret not in caplog.text
    assert stored(engine, connector.settings.name) == {}
    row = source_row(engine, connector.settings.name)
    assert row["failures_total"] == 1 and row["cursor"] is None and WRONG not in (row["last_error"] or "")


def check_update(fake, make, engine, now: float) -> None:
    """A ticket changed after it was read is updated, not doubled."""
    with serve(fake.handler) as server:
        connector = make(server.url, fake.secret)
        poll(engine, connector, now - 3600)
        first = fake.id_of(fake.records[0])
        before = stored(engine, connector.settings.name)[first]
        fake.change(first)
        result = poll(engine, connector, now)
    assert result.error is None and result.stored.updated == 1 and result.stored.inserted == 0, result
    after = stored(engine, connector.settings.name)
    assert len(after) == len(fake.records) and after[first]["priority"] != before["priority"]
    assert after[first]["updated_at"] > before["updated_at"]


def check_down(fake, make, engine, now: float) -> None:
    """Down for a while: retried, the failure recorded, the cursor kept; nothing lost or doubled once it is back."""
    with serve(fake.handler) as server:
        connector = make(server.url, fake.secret)
        server.failures = 2  # two 503s: the retries get through
        assert poll(engine, connector, now - 7200).error is None
        name = connector.settings.name
        fake.change(fake.id_of(fake.records[0]))
        fake.change(fake.id_of(fake.records[-1]))
        cursor = source_row(engine, name)["cursor"]
        server.down = True
        sent = len(server.requests)
        result = poll(engine, connector, now - 3600)
        assert result.error and "503" in result.error
        assert len(server.requests) - sent >= len(base.RETRY_DELAYS_S) + 1  # retried before giving up
        row = source_row(engine, name)
        assert row["failures_total"] == 1 and row["cursor"] == cursor and row["last_error"] == result.error
        server.down = False
        result = poll(engine, connector, now)
    assert result.error is None and result.stored.inserted == 0 and result.stored.updated == 2, result
    assert set(stored(engine, name)) == all_ids(fake)
    assert source_row(engine, name)["last_error"] is None


def check_down_mid_poll(fake, make, engine, now: float) -> None:
    """Down after the first page of the first poll: what was read is kept, the rest read once it is back."""
    with serve(fake.handler) as server:
        connector = make(server.url, fake.secret)
        fake.fail_after(server, pages=1)
        result = poll(engine, connector, now)
        assert result.error and result.pages <= 1, result
        fake.fail_after(server, pages=None)
        server.down = False
        result = poll(engine, connector, now)
    assert result.error is None, result.error
    assert set(stored(engine, connector.settings.name)) == all_ids(fake)


def check_malformed(fake, make, engine, now: float) -> None:
    """A record without a readable opening time is counted and skipped with its reason; the others are kept."""
    fake.records.append(fake.malformed())
    with serve(fake.handler) as server:
        connector = make(server.url, fake.secret)
        result = poll(engine, connector, now)
    assert result.error is None and list(result.stored.skipped.values()) == [1], result
    assert fake.bad_reason in next(iter(result.stored.skipped))
    assert len(stored(engine, connector.settings.name)) == len(fake.records) - 1
    assert source_row(engine, connector.settings.name)["skipped_total"] == 1


def check_time_ahead(fake, make, engine, now: float) -> None:
    """A modification time far ahead of the collector's clock (refused) does not move the cursor past the tickets
    changed until then."""
    with serve(fake.handler) as server:
        connector = make(server.url, fake.secret)
        fake.change(fake.id_of(fake.records[0]), when=now + 10 * 86400)
        first = poll(engine, connector, now - 3600)
        assert first.error is None and first.stored.skipped_total == 1, first
        late = fake.id_of(fake.records[1])
        before = stored(engine, connector.settings.name)[late]
        fake.change(late)
        result = poll(engine, connector, now)
    assert result.error is None, result.error
    assert stored(engine, connector.settings.name)[late]["updated_at"] > before["updated_at"]


def check_config(cls, **source) -> None:
    """A ``[[support.sources]]`` entry of the connector's kind loads from the collector config and builds it."""
    from collector.config import parse_config
    from collector.support.sources import connector_class

    table = {"name": f"{cls.kind}-main", "kind": cls.kind, "secret_env": SECRET_ENV, **source}
    support = parse_config({"support": {"sources": [table]}}, env={}).section("support")
    assert connector_class(cls.kind) is cls
    connector = cls(support.sources[0], support)
    assert connector.settings.url == source["url"] and connector.field_map["id"]


class Fake:
    """What the fakes share: their records and going down after a number of pages (:func:`check_down_mid_poll`)."""

    def __init__(self, records: list):
        self.records = records
        self.server = None
        self.down_after: int | None = None

    def fail_after(self, server, pages: int | None) -> None:
        """Take ``server`` down once it has answered ``pages`` more pages (None: stay up)."""
        self.server, self.down_after = server, pages

    def page_served(self) -> None:
        """Called by the handler for every page of tickets it answers."""
        if self.down_after is not None:
            self.down_after -= 1
            if self.down_after <= 0:
                self.server.down = True


class Common:
    """The checks every polled connector must pass, as tests: a connector's test module subclasses it
    (``class TestCommon(scenarios.Common): now = NOW``) beside its ``fake``, ``make`` and ``engine`` fixtures."""

    now: float

    def credentials(self, make):
        """How a test builds the connector with a given secret (a source whose secret holds more overrides it)."""
        return make

    def test_wrong_credentials(self, fake, make, engine, caplog):
        check_wrong_credentials(fake, self.credentials(make), engine, self.now, caplog)

    def test_changed_ticket_is_updated(self, fake, make, engine):
        check_update(fake, make, engine, self.now)

    def test_down_for_a_while(self, fake, make, engine):
        check_down(fake, make, engine, self.now)

    def test_down_mid_poll(self, fake, make, engine):
        check_down_mid_poll(fake, make, engine, self.now)

    def test_malformed_record(self, fake, make, engine):
        check_malformed(fake, make, engine, self.now)

    def test_time_ahead_of_the_clock(self, fake, make, engine):
        check_time_ahead(fake, make, engine, self.now)
