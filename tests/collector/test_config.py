"""Collector config: file, environment, flags; strict keys; extension tables; token checks."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from collector import config as config_mod
from collector.config import CollectorSettings, load_config, parse_config, require_tokens
from contract.settings import ConfigError, setting


def test_defaults():
    cfg = load_config(None, env={})
    s = cfg.collector
    assert (s.db, s.host, s.port, s.max_body_bytes) == ("sqlite:///hinder.db", "127.0.0.1", 8739, 5_000_000)
    assert s.silent_after_s == 180 and s.limits.max_events == 5000
    assert cfg.app_label("firefox") == "other"


def test_file_then_env_then_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('apps = ["firefox", "outlook"]\n[collector]\nport = 9000\nhost = "0.0.0.0"\n'
                    'db = "sqlite:///file.db"\nagent_tokens = ["from-file-1"]\nmax_events = 100\n')
    env = {"HINDER_AGENT_TOKEN": "env-token-1, env-token-2", "HINDER_ADMIN_TOKEN": "env-admin-1", "HINDER_DB": "sqlite:///env.db"}
    cfg = load_config(path, overrides={"port": 9100, "host": None}, env=env)
    s = cfg.collector
    assert (s.port, s.host, s.db) == (9100, "0.0.0.0", "sqlite:///env.db")
    assert s.agent_tokens == ["env-token-1", "env-token-2"] and s.admin_token == "env-admin-1"
    assert s.limits.max_events == 100
    assert cfg.app_label("outlook") == "outlook" and cfg.app_label("vim") == "other"


@pytest.mark.parametrize("data, message", [
    ({"collector": {"prot": 1}}, "collector.prot: unknown key (did you mean 'port'?)"),
    ({"collector": {"port": "x"}}, "collector.port: must be an integer"),
    ({"collector": {"port": 70000}}, "above the maximum"),
    ({"colector": {}}, "colector: unknown table (did you mean 'collector'?)"),
    ({"apps": "firefox"}, "apps: must be a list"),
    ({"apps": ["other"]}, "reserved"),
    ({"sites": ["Paris", 3]}, "sites: must be a list of names, e.g. sites = [\"Paris\", \"Lyon\"]"),
    ({"departments": ["Sales", "other"]}, "departments: 'other' is reserved for the values not listed"),
    ({"collector": {"top_versions": 0}}, "collector.top_versions"),
])
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(data, env={})


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[collector\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, env={})


def test_extension_tables_are_loaded_by_their_dataclass(monkeypatch):
    @dataclass
    class ModelSettings:
        recovery_s: float = setting(60.0, min=0)

    monkeypatch.setitem(config_mod.SECTIONS, "model", ModelSettings)
    assert parse_config({}, env={}).section("model").recovery_s == 60.0
    assert parse_config({"model": {"recovery_s": 5}}, env={}).section("model").recovery_s == 5.0
    with pytest.raises(ConfigError, match="model.recovry_s: unknown key"):
        parse_config({"model": {"recovry_s": 5}}, env={})
    monkeypatch.setitem(config_mod.SECTIONS, "report", "collector.config:CollectorSettings")  # lazy "module:Class"
    assert isinstance(parse_config({}, env={}).section("report"), CollectorSettings)


@pytest.mark.parametrize("agent, admin, ok", [
    (["agent-token-1"], "admin-token-1", True),
    ([], "admin-token-1", False),
    (["agent-token-1"], "", False),
    (["shared-token"], "shared-token", False),
    (["short"], "admin-token-1", False),
])
def test_tokens_are_required(agent, admin, ok):
    settings = CollectorSettings(agent_tokens=agent, admin_token=admin)
    if ok:
        require_tokens(settings)
    else:
        with pytest.raises(ConfigError, match="the collector needs"):
            require_tokens(settings)
