"""Fixtures for the agent's tests."""

import pytest

from agent.config import load_config
from contract.settings import ConfigError
from tests._pki import TestCA


@pytest.fixture
def config_error(tmp_path):
    """Load an agent config given as TOML text and return the ConfigError's message (fails if it loads)."""

    def _load(text: str) -> str:
        path = tmp_path / "agent.toml"
        path.write_text(text)
        with pytest.raises(ConfigError) as exc:
            load_config(path, env={})
        return str(exc.value)

    return _load


@pytest.fixture
def enterprise_ca(tmp_path):
    """A private CA and a server certificate for 127.0.0.1 signed by it (made with the openssl CLI)."""
    ca = TestCA(tmp_path / "ca")
    return ca.pem, ca.issue()
