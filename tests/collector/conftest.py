"""Fixtures of the collector tests: an in-process app on a migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN

AGENT = {"Authorization": f"Bearer {AGENT_TOKEN}", "Content-Type": "application/json"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TABLES = ("device", "event", "heartbeat", "disruption_count")


def make_config(db_url: str = "sqlite://", apps=("firefox",), **collector):
    """A collector config with the test tokens."""
    from collector.config import parse_config

    overrides = {"db": db_url, "agent_tokens": [AGENT_TOKEN], "admin_token": ADMIN_TOKEN, **collector}
    return parse_config({"apps": list(apps)}, overrides=overrides, env={})


def table_counts(engine) -> dict[str, int]:
    """Rows per collector table: the 'nothing was stored' check."""
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in TABLES}


@dataclass
class Api:
    """An in-process collector app and its database."""

    client: TestClient
    engine: sa.engine.Engine
    config: object

    def post(self, content, headers=None, path="/api/v1/events"):
        return self.client.post(path, content=content, headers=AGENT if headers is None else headers)

    def counts(self) -> dict[str, int]:
        return table_counts(self.engine)


def make_api(engine, config) -> Api:
    """An in-process app (no retention thread) on ``engine``."""
    from collector.api.app import create_app

    return Api(TestClient(create_app(config, engine, background_jobs=False)), engine, config)


@pytest.fixture
def api_factory(db_engine, db_url):
    """Build an in-process app on the test database with config overrides."""
    return lambda **collector: make_api(db_engine, make_config(db_url, **collector))


@pytest.fixture
def api(api_factory) -> Api:
    """The app with default settings."""
    return api_factory()
