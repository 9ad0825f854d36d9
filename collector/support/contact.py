"""How long a service-desk contact takes the employee, per channel: the contact time the figures count per ticket.

MERGE: model-v2 adds the ``[model] support_contact_s`` parameter (per channel);
:func:`contact_seconds` reads it from the model config when it is there, and
falls back to :data:`DEFAULT_CONTACT_S` otherwise. Point the defaults at the
model's own once both branches are merged.
"""

from __future__ import annotations

from typing import Any

from collector.support.tickets import CHANNELS

# Seconds of the employee's time one ticket costs to raise, per channel (a call, a form, a walk to the desk ...).
DEFAULT_CONTACT_S: dict[str, float] = {"phone": 600.0, "email": 300.0, "portal": 300.0, "chat": 600.0,
                                       "walk_in": 900.0, "remote": 1200.0, "other": 300.0}
assert set(DEFAULT_CONTACT_S) == set(CHANNELS)


def contact_seconds(channel: str, model_cfg: Any = None) -> float:
    """The employee's seconds one contact through ``channel`` takes (the model's parameter, else the default)."""
    configured = getattr(model_cfg, "support_contact_s", None) or {}
    default = DEFAULT_CONTACT_S.get(channel, DEFAULT_CONTACT_S["other"])
    return float(configured.get(channel, default))
