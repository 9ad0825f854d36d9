"""`hinder agent explain`: every enabled sensor with its explanation and examples; what is never sent."""

import json
import subprocess
import sys
from pathlib import Path

from agent.config import load_config
from agent.explain import render
from agent.sensors import SENSORS

ROOT = Path(__file__).resolve().parents[2]


def _json_blocks(text):
    """Every indented JSON object printed in the explanation, decoded."""
    blocks, current = [], None
    for line in text.splitlines():
        if line == "    {":
            current = [line]
        elif current is not None:
            current.append(line)
            if line == "    }":
                blocks.append(json.loads("\n".join(current)))
                current = None
    return blocks


def test_every_enabled_sensor_appears_with_its_examples(tmp_path):
    cfg_file = tmp_path / "agent.toml"
    cfg_file.write_text('[agent]\ncollector = "https://hinder.example.com"\nstate_dir = "/var/lib/hinder-test"\n'
                        "[sensors.test]\nenabled = true\ninterval_s = 2\n")
    cfg = load_config(cfg_file, env={})
    text = render(cfg)
    examples = _json_blocks(text)
    shown_ids = {e["id"] for e in examples}
    for name, cls in SENSORS.items():
        conf = cfg.sensors[name]
        if conf.enabled and not cls.unavailable(conf):
            assert f"* {name} (every {conf.interval_s:g} s)" in text
            assert " ".join(cls.explain.split()[:6]) in " ".join(text.split())
            for ex in cls.examples()[:2]:
                assert any(e.get("type") == getattr(ex, "type", None) and e.get("app") == ex.app  # Usage: no type
                           for e in examples), name
        else:
            assert f"  - {name}: " in text
    assert "* test (every 2 s)" in text
    heartbeats = [e for e in examples if "agent_version" in e]
    assert len(heartbeats) == 1 and heartbeats[0]["site"] == "unknown"
    assert len(shown_ids) == len(examples)
    assert "Never collected or sent:" in text and "keystrokes" in text and "window titles" in text
    assert "https://hinder.example.com" in text and "/var/lib/hinder-test" in text
    assert "only for groups of at least 5 devices" in " ".join(text.split())  # issue 12: small groups merged


def test_disabled_sensor_is_listed_as_off():
    text = render(load_config(env={}))
    assert "  - test: switched off in the configuration" in text
    assert "* test " not in text


def test_explain_command_exits_0(tmp_path):
    out = subprocess.run([sys.executable, "-m", "hinder", "agent", "explain"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("What the hinder agent on this computer collects and sends")
    assert _json_blocks(out.stdout)


def test_explain_says_how_delivery_is_protected(tmp_path, enterprise_ca):
    ca, _ = enterprise_ca
    assert "unencrypted: plain HTTP" in render(load_config(env={}))
    cfg_file = tmp_path / "agent.toml"
    cfg_file.write_text(f'[agent]\ncollector = "https://hinder.example.com"\nca_bundle = "{ca}"\n')
    text = " ".join(render(load_config(cfg_file, env={})).split())
    assert f"encrypted with TLS; the collector's certificate is checked against the CA bundle {ca}" in text
    cfg_file.write_text('[agent]\ncollector = "https://hinder.example.com"\n')
    text = " ".join(render(load_config(cfg_file, env={})).split())
    assert "checked against the operating system's trust store" in text
