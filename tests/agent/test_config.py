"""Agent configuration: file, environment and flags; every bad key is named."""

import pytest

from agent.catalogue import App, Catalogue
from agent.config import load_config


def _write(tmp_path, text):
    p = tmp_path / "agent.toml"
    p.write_text(text)
    return p


def test_defaults_without_file():
    cfg = load_config(env={})
    assert cfg.agent.collector.startswith("http://")
    assert "test" in cfg.sensors and cfg.sensors["test"].enabled is False


def test_file_env_flags_precedence(tmp_path):
    p = _write(tmp_path, '[agent]\nsite = "Paris"\ndepartment = "Finance"\ntoken = "file"\n')
    cfg = load_config(p, env={"HINDER_AGENT_TOKEN": "env", "HINDER_SITE": "Lyon"}, overrides={"site": "Nantes"})
    assert (cfg.agent.token, cfg.agent.site, cfg.agent.department) == ("env", "Nantes", "Finance")


@pytest.mark.parametrize(
    "text, key",
    [
        ("[agent]\nsiet = 'x'\n", "agent.siet: unknown key (did you mean 'site'?)"),
        ("[agent]\nheartbeat_interval_s = 0.1\n", "agent.heartbeat_interval_s"),
        ("[agent]\nupload_batch_size = 'many'\n", "agent.upload_batch_size: must be an integer"),
        ("[agent]\ncollector = 'ftp://x'\n", "agent.collector"),
        ("[[apps]]\nname = 'CRM'\nurls = ['not a url']\n", "apps[0].urls[0]"),
        ("[[apps]]\nname = 'CRM'\nslow_threshold_s = -1\n", "apps[0].slow_threshold_s"),
        ("[[apps]]\nexecutables = ['a']\n", "apps[0].name: missing"),
        ("[sensors.tset]\n", "sensors.tset: unknown sensor (did you mean 'test'?)"),
        ("[sensors.test]\nevents_per_poll = 0\n", "sensors.test.events_per_poll"),
        ("[agnet]\n", "agnet: unknown table"),
        ("[agent\n", "not valid TOML"),
    ],
)
def test_errors_name_the_key(config_error, text, key):
    assert key in config_error(text)


def test_catalogue_lookup():
    cat = Catalogue([App(name="Outlook", executables=["OUTLOOK.EXE"]), App(name="Firefox", executables=["firefox"])])
    assert cat.app_name(r"C:\Program Files\Microsoft Office\OUTLOOK.EXE") == "Outlook"
    assert cat.app_name("/usr/lib/firefox/firefox") == "Firefox"
    assert cat.app_name("/usr/bin/gedit") == "gedit"
    assert cat.lookup("gedit") is None


def test_ca_bundle_must_be_a_readable_pem_file(config_error, tmp_path):
    assert "agent.ca_bundle: cannot read" in config_error(f"[agent]\nca_bundle = '{tmp_path / 'missing.pem'}'\n")
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
    assert f"agent.ca_bundle: {key} holds no PEM certificate" in config_error(f"[agent]\nca_bundle = '{key}'\n")
