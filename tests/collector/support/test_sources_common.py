"""What holds for every registered connector, whatever its API."""

import pytest

from collector.support.config import SourceSettings, SupportSettings
from collector.support.sources import KINDS, connector_class
from collector.support.sources.base import parse_source_time, poll
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


@pytest.mark.parametrize("value", [10**400, 1e308 * 10, float("nan"), "9" * 400, "1e999", {"a": 1}, True])
def test_a_time_no_clock_can_hold_is_a_refused_record_not_a_crash(value):
    with pytest.raises(ValueError, match="not a time"):
        parse_source_time(value)


def test_unix_times_as_numbers_or_text():
    assert parse_source_time(1_796_000_000) == parse_source_time("1796000000") == 1_796_000_000.0
    assert parse_source_time(1_796_000_000_500) == parse_source_time("1796000000500") == 1_796_000_000.5
