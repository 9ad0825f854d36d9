"""The agent's identity keys: the real host name, asset tags as firmware writes them, the console user, the
heartbeat carrying the keys, and `hinder agent explain` saying what each stands for."""

from __future__ import annotations

import os
import socket
from collections import namedtuple
from pathlib import Path

import psutil
import pytest

import agent.identity as identity_module
from agent.config import load_config
from agent.explain import render
from agent.identity import (IdentityKeys, asset_tag_linux, console_user, serial_from_ioreg,
                            session_user)
from agent.runner import build_heartbeat
from contract.check import validate_batch
from contract.identity import identity_key
from contract.records import make_batch
from contract.settings import ConfigError

SECRET = b"fleet-identity-key-for-tests-0001"
FIXTURES = Path(__file__).parent / "fixtures"
suser = namedtuple("suser", "name terminal host started pid")  # a psutil.users() entry, as psutil documents it


@pytest.fixture
def key_file(tmp_path) -> Path:
    path = tmp_path / "identity.key"
    path.write_bytes(SECRET + b"\n")
    return path


def _config(tmp_path, key_file, identity='["host", "asset", "account"]'):
    path = tmp_path / "agent.toml"
    path.write_text(f'[agent]\nstate_dir = "{tmp_path / "state"}"\nidentity = {identity}\n'
                    f'identity_key_file = "{key_file}"\n')
    return load_config(path, env={})


def test_host_key_of_the_real_host_name(key_file):
    keys = IdentityKeys(["host"], str(key_file)).keys()
    assert keys == {"host_key": identity_key(SECRET, "host", socket.gethostname())}
    assert keys["host_key"] != identity_key(SECRET, "host", socket.gethostname() + "-other")  # it is this host's


@pytest.mark.parametrize("chassis, board, expected", [
    ("ACME-000123\n", "Default string\n", "ACME-000123"),
    ("Default string\n", "  BT-4711 \n", "BT-4711"),
    ("To Be Filled By O.E.M.\n", "No Asset Tag\n", None),
    ("Not Specified", "0000000", None),
    (None, "Asset-1234567890", None),
    (None, None, None),
])
def test_dmi_asset_tags_without_placeholders(tmp_path, chassis, board, expected):
    for name, value in (("chassis_asset_tag", chassis), ("board_asset_tag", board)):
        if value is not None:
            (tmp_path / name).write_text(value)
    assert asset_tag_linux(tmp_path) == expected


def test_mac_serial_from_recorded_ioreg_output():
    text = (FIXTURES / "ioreg_platform_expert.txt").read_text()
    assert serial_from_ioreg(text) == "C02XX123LD0H"
    assert serial_from_ioreg("") is None and serial_from_ioreg('"IOPlatformSerialNumber" = "0"') is None


def test_the_console_user_not_the_service_account():
    ssh = suser("admin", "pts/0", "10.0.0.9", 1700000300.0, 4242)
    display = suser("jdoe", ":0", "", 1700000000.0, 1000)
    root = suser("root", "tty2", "", 1700000500.0, 1)
    windows = suser("msmith", None, None, 1700000000.0, None)
    assert session_user([ssh, display, root]) == "jdoe"
    assert session_user([ssh]) == "admin"
    assert session_user([windows]) == "msmith"
    assert session_user([root]) is None and session_user([]) is None
    # on this machine: whoever psutil lists (none in a container)
    real = console_user()
    assert real is None or real in {u.name for u in psutil.users()}


def test_heartbeats_carry_the_keys_and_hash_only_on_change(tmp_path, key_file, monkeypatch):
    calls = []
    real = identity_module.identity_key
    monkeypatch.setattr(identity_module, "identity_key", lambda *a: calls.append(a[1]) or real(*a))
    cfg = _config(tmp_path, key_file)
    keys = IdentityKeys(cfg.agent.identity, cfg.agent.identity_key_file)
    first = keys.keys()
    assert set(first) == {"host_key", "asset_key", "account_key"}
    for _ in range(5):
        assert keys.keys() == first
    assert calls.count("host") == 1  # hashed once while the name stays the same
    hb = build_heartbeat(cfg.agent, 1796025600.0, 60.0, 30.0, identity=first).to_wire()
    assert hb["host_key"] == first["host_key"] and len(hb["host_key"]) == 32
    validate_batch(make_batch("device-0001", [], [hb], now=1796025600.0), now=1796025600.0)
    assert build_heartbeat(cfg.agent, 1796025600.0, 60.0, 30.0).to_wire().get("host_key") is None


def test_off_by_default_and_checked(tmp_path, key_file):
    path = tmp_path / "plain.toml"
    path.write_text("[agent]\n")
    assert load_config(path, env={}).agent.identity == []
    assert IdentityKeys([], "").keys() == {}
    for identity, key, message in (('["host", "email"]', key_file, "'email' is not one of host, asset, account"),
                                   ('["host", "host"]', key_file, "each kind at most once"),
                                   ('["host"]', "", "identity_key_file: needed")):
        with pytest.raises(ConfigError, match=message):
            _config(tmp_path, key, identity)
    unreadable = IdentityKeys(["host"], str(tmp_path / "missing.key"))
    assert unreadable.keys() == {} and "cannot read the identity key file" in unreadable.problem


def test_explain_shows_each_key_and_what_it_stands_for(tmp_path, key_file):
    text = render(_config(tmp_path, key_file))
    host = identity_key(SECRET, "host", socket.gethostname())
    assert f"host_key: this computer's name, now {socket.gethostname()!r} -> {host}" in text
    assert f'"host_key": "{host}"' in text  # in the example heartbeat too
    assert "asset_key: this computer's asset tag" in text and "account_key: the account signed in" in text
    assert "cannot be turned back into the name" in " ".join(text.split())
    missing = render(_config(tmp_path, tmp_path / "other.key"))
    assert "not shown: this user cannot read the identity key file" in missing
    path = tmp_path / "off.toml"
    path.write_text(f'[agent]\nstate_dir = "{tmp_path / "state"}"\n')
    assert "Identity keys: none." in render(load_config(path, env={}))


def test_the_console_owner(tmp_path):
    """macOS: the owner of /dev/console is the user at the screen; root there is the login window."""
    from agent.sensors._helpers.console_macos import console_uid

    mine = tmp_path / "console"
    mine.touch()
    if os.geteuid() == 0:
        os.chown(mine, 4242, -1)
    assert console_uid(str(mine)) == mine.stat().st_uid != 0
    assert console_uid(str(tmp_path / "missing")) is None
    if os.path.exists("/dev/console") and os.stat("/dev/console").st_uid == 0:
        assert console_uid() is None
