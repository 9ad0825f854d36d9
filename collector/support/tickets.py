"""The normalized service-desk ticket: what every source (connector, file import, webhook) turns its records into.

A :class:`Ticket` keeps only what the impact model and the reports read: when
it was opened, changed and resolved, how the caller reached the service desk
(:data:`CHANNELS`), its priority and category, whether it stopped the caller's
work, where the caller sits, and the keyed hashes of its caller and
configuration item (``contract.identity``). No name, summary or description is
ever kept. :func:`problem` says why a ticket is refused; every source counts
and skips such a record instead of failing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from contract.identity import KEY_HEX
from contract.records import MAX_LABEL_LEN, has_control

# How the caller reached the service desk; each has a contact time in the impact model ([model] support_contact_s).
CHANNELS = ("phone", "email", "portal", "chat", "walk_in", "remote", "other")
MAX_TICKET_ID_LEN = 128
MAX_CATEGORY_LEN = 128
EARLIEST = 946684800.0  # 2000-01-01: an older ticket time is a parsing error, not a ticket
MAX_AHEAD_S = 86400.0  # a ticket time at most this far ahead of the collector's clock (time zones, skew)
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Ticket:
    """One service-desk ticket as hinder keeps it. Times are Unix seconds (UTC)."""

    source: str  # the configured source's name, or "import"/"webhook"
    ticket_id: str  # the source's own id: a ticket read again is updated, never doubled
    opened_at: float
    updated_at: float
    resolved_at: float | None = None  # None while open
    channel: str = "other"
    priority: str = ""  # as the source spells it ("" unknown)
    category: str = ""
    work_stopping: bool = False  # the caller could not work until resolution (SupportSettings.work_stopping)
    site: str = ""  # where the ticket says the caller sits ("" unknown); a matched device's labels win
    department: str = ""
    host_key: str | None = None  # contract.identity keys of the configuration item and the caller
    asset_key: str | None = None
    account_key: str | None = None


def problem(t: Ticket, now: float) -> str | None:
    """Why a ticket cannot be kept, or None. Bounds every value as the wire contract bounds an agent's."""
    if not t.ticket_id or len(t.ticket_id) > MAX_TICKET_ID_LEN or has_control(t.ticket_id):
        return f"ticket id must be 1-{MAX_TICKET_ID_LEN} printable characters"
    for name in ("opened_at", "updated_at", "resolved_at"):
        value = getattr(t, name)
        if value is None and name == "resolved_at":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not EARLIEST <= value <= now + MAX_AHEAD_S:
            return f"{name} must be a time between 2000 and now"
    if t.resolved_at is not None and t.resolved_at < t.opened_at:
        return "resolved before it was opened"
    if t.channel not in CHANNELS:
        return f"channel must be one of {', '.join(CHANNELS)}"
    for name, limit in (("priority", MAX_LABEL_LEN), ("category", MAX_CATEGORY_LEN), ("site", MAX_LABEL_LEN),
                        ("department", MAX_LABEL_LEN)):
        value = getattr(t, name)
        if len(value) > limit or has_control(value):
            return f"{name} must be at most {limit} printable characters"
    for name in ("host_key", "asset_key", "account_key"):
        value = getattr(t, name)
        if value is not None and (len(value) != KEY_HEX or not set(value) <= _HEX):
            return f"{name} must be {KEY_HEX} lowercase hex characters"
    return None
