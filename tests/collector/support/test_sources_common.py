"""What holds for every registered connector, whatever its API."""

import pytest

from collector.support.config import SourceSettings, SupportSettings
from collector.support.sources import KINDS, connector_class
from collector.support.sources.base import poll
from tests.collector.support.scenarios import engine, fast_retries, source_row, stored  # noqa: F401 (fixtures)


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_secret_is_a_failed_poll_that_names_the_variable(kind, engine, fast_retries, monkeypatch):  # noqa: F811
    monkeypatch.delenv("HINDER_TEST_UNSET_SECRET", raising=False)
    source = SourceSettings(name=f"{kind}-nosecret", kind=kind, url="http://127.0.0.1:9",
                            user="svc", secret_env="HINDER_TEST_UNSET_SECRET")
    connector = connector_class(kind)(source, SupportSettings(sources=[source]))
    result = poll(engine, connector, now=2_000_000_000.0)
    assert "HINDER_TEST_UNSET_SECRET is not set" in result.error
    row = source_row(engine, source.name)
    assert row["failures_total"] == 1 and row["cursor"] is None and "not set" in row["last_error"]
    assert stored(engine, source.name) == {}
