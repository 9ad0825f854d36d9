"""`hinder agent explain`: what this agent collects and sends, in plain language for the employee."""

from __future__ import annotations

import json
import os
import textwrap
import time

from agent.config import AgentConfig, AgentSettings
from agent.identity import IdentityKeys
from agent.pulse.explain import explain as explain_pulse
from agent.runner import agent_details, build_heartbeat, unavailable_reason
from agent.state import CREDENTIAL_FILE
from agent.sensors import SENSORS
from agent.sensors.focus import explain_lines as focus_lines
from agent.tls import trust_source
from contract import MIN_GROUP_SIZE

_NEVER = (
    "your name or user name (at most a keyed hash, never in clear)",
    "window titles, document or file names, command lines",
    "keystrokes, mouse movements or what is on your screen",
    "web addresses you visit (only the addresses your IT department configured for probing)",
    "the content of e-mails, messages, documents or network traffic",
)


def _block(text: str, indent: str = "    ") -> str:
    return textwrap.indent(text, indent)


def _wrap(text: str, indent: str = "  ") -> str:
    """Fill a paragraph; paths and URLs are never broken at their hyphens."""
    return textwrap.fill(" ".join(text.split()), width=88, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False, break_long_words=False)


def _transport(settings: AgentSettings) -> str:
    if not settings.collector.lower().startswith("https:"):
        return "unencrypted: plain HTTP"
    return f"encrypted with TLS; the collector's certificate is checked against {trust_source(settings.ca_bundle)}"


def render(config: AgentConfig) -> str:
    """The explanation for this configuration, as text."""
    settings = config.agent
    enabled, off = [], []
    for name, cls in SENSORS.items():
        cfg = config.sensors.get(name) or cls.Config()
        reason = None if not cfg.enabled else unavailable_reason(cls, cfg)
        (enabled if cfg.enabled and not reason else off).append((name, cls, cfg, reason))

    out = [
        "What the hinder agent on this computer collects and sends",
        "==========================================================",
        "",
        _wrap("hinder measures how much working time IT problems cost: crashed or frozen programs, slow "
              "applications, a saturated computer, lost network connections. It records such disruptions as "
              "short structured events, never what you do or write.", ""),
        "",
        f"Measurements switched on ({len(enabled)}):",
    ]
    for name, cls, cfg, _ in enabled:
        out += ["", f"* {name} (every {cfg.interval_s:g} s)", _wrap(cls.explain or "(no description)")]
        watched = cls.watching(cfg)
        if watched:
            out += ["  It watches:", *[f"    - {line}" for line in watched]]
        for ev in cls.examples()[:2]:
            out += ["  Example of what it sends:", _block(json.dumps(ev.to_wire(), indent=2))]
    if not enabled:
        out.append("  none: this agent sends only the heartbeat below.")
    if off:
        out += ["", "Measurements switched off or not possible on this computer (nothing collected):"]
        out += [f"  - {name}: {reason or 'switched off in the configuration'}" for name, _, _, reason in off]
    out += focus_lines(config)

    identity = IdentityKeys(settings.identity, settings.identity_key_file)
    hb = build_heartbeat(settings, time.time(), settings.heartbeat_interval_s, settings.heartbeat_interval_s / 2,
                         details=agent_details(0, 0), identity=identity.keys())
    out += [
        "",
        _wrap(f"Every {settings.heartbeat_interval_s:g} s it also sends a heartbeat: the computer's operating "
              "system and its build, the computer's maker and model, its class of processor and its memory (read once "
              "at start, to compare kinds of computers), the agent version, the site and department IT assigned, how "
              "many seconds you were active "
              "at the computer (used only to count lost time while you work, never what you did) and the "
              "agent's own error counters and backlog. Example:", ""),
        _block(json.dumps(hb.to_wire(), indent=2)),
        "",
        *_identity(identity, settings),
        "",
        *explain_pulse(config.pulse, settings.state_dir),
        "",
        "Never collected or sent:",
        *[f"  - {item}" for item in _NEVER],
        "",
        "Where it goes:",
        _wrap(f"Events wait on this computer in {settings.state_dir} (kept until delivered, at most "
              f"{settings.spool_max_bytes / 1e6:g} MB, oldest dropped first) and are sent to your IT department's "
              f"hinder collector at {settings.collector} ({_transport(settings)}). The computer is identified by a "
              "random device id created at installation, not by your name or the computer's serial number."),
        _wrap(_credential_note(settings.state_dir)),
        "",
        "Who sees what:",
        _wrap("Reports, dashboards and the collector's metrics show figures by site and department only for groups "
              f"of at least {MIN_GROUP_SIZE} devices unless your IT department changed this minimum: smaller "
              "groups are merged into \"other\", and so is a site, department or system name the collector "
              "does not know. The per-computer detail stays in the collector's database, readable only by its "
              "administrators."),
        "",
    ]
    return "\n".join(out)


_STANDS_FOR = {"host": "this computer's name", "asset": "this computer's asset tag (on a Mac: its serial number)",
               "account": "the account signed in at this computer"}


def _identity(identity: IdentityKeys, settings: AgentSettings) -> list[str]:
    """What the identity keys in the heartbeat stand for, and why they cannot be read back."""
    if not identity.kinds:
        return [_wrap("Identity keys: none. The heartbeat carries no trace of this computer's name, its asset tag "
                      "or your account (switched off in the configuration).", "")]
    out = [_wrap("Identity keys: so that the service desk's tickets about this computer can be matched to it, the "
                 "heartbeat also carries keyed hashes (HMAC-SHA256 under your organisation's identity key, kept in "
                 f"{settings.identity_key_file}) of:", "")]
    for kind, (name, key) in identity.current().items():
        shown = f"{name!r}" if name else "none found here"
        value = key or ("not shown: this user cannot read the identity key file" if identity.problem else "not sent")
        out.append(f"  - {kind}_key: {_STANDS_FOR[kind]}, now {shown} -> {value}")
    out.append(_wrap("A keyed hash cannot be turned back into the name, nor checked against a guessed name, without "
                     "the organisation's identity key; the names themselves are never sent.", ""))
    return out


def _credential_note(state_dir: str) -> str:
    """Whether this computer's device credential is kept, and where; never the credential itself."""
    where = os.path.join(state_dir, CREDENTIAL_FILE)
    if os.path.exists(where):  # not read: the file is the agent's user's only (False if this user cannot look)
        return (f"This computer proves its device id to the collector with a device credential kept in {where} "
                "(readable only by the agent's user; it identifies the computer, not you).")
    return (f"No device credential is kept yet: at its first delivery the agent asks the collector for one and "
            f"keeps it in {where} (readable only by the agent's user).")
