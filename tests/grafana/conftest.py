"""Fixtures for the simulator's tests."""

import pytest

from tests.conftest import CollectorProcess, free_port


@pytest.fixture(scope="session")
def real_collector(tmp_path_factory):
    """One real collector for the simulator tests that send (each uses its own seed, so their devices do not mix)."""
    workdir = tmp_path_factory.mktemp("simulate")
    proc = CollectorProcess(port=free_port(), db=f"sqlite:///{workdir / 'hinder.db'}", workdir=workdir, args=[])
    try:
        yield proc.start()
    finally:
        proc.kill()
