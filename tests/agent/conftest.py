"""Fixtures for the agent's tests."""

import pytest

from agent.config import ConfigError, load_config


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
