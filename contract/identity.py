"""Keyed hashes that join service-desk tickets to devices without a readable name (docs/support.md).

A ticket names its caller (an account) and often a configuration item (a host
name or an asset tag); the agent knows the same things about its device. Both
sides reduce a name to :func:`normalize` form and send only
:func:`identity_key` of it: an HMAC-SHA256 under the fleet's identity key, which
the collector and the service-desk connector hold and the employee never needs.
Without the key a hash cannot be turned back into a name, nor checked against a
guessed one.
"""

from __future__ import annotations

import hashlib
import hmac

KINDS = ("host", "asset", "account")  # what an identity key can stand for
KEY_HEX = 32  # hex characters kept of the HMAC (128 bits)
MIN_SECRET_BYTES = 16


def normalize(kind: str, name: str) -> str:
    """The form of a name both sides hash: case and the parts that differ between systems removed.

    - ``host``: the first DNS label, lowercased, without an Active Directory computer account's ``$``
      (``PC-0042.corp.example`` and ``pc-0042$`` are one host);
    - ``account``: the user part, lowercased (``CORP\\jdoe``, ``jdoe@corp.example`` and ``JDoe`` are one account);
    - ``asset``: the tag, upper-cased, without spaces.
    """
    if kind not in KINDS:
        raise ValueError(f"identity kind must be one of {', '.join(KINDS)}, not {kind!r}")
    name = name.strip()
    if kind == "host":
        return name.split(".", 1)[0].rstrip("$").lower()
    if kind == "account":
        return name.rsplit("\\", 1)[-1].split("@", 1)[0].lower()
    return "".join(name.split()).upper()


def identity_key(secret: bytes, kind: str, name: str) -> str | None:
    """The keyed hash of a name of a kind (hex, :data:`KEY_HEX` characters); None for a name that is empty once
    normalized. ``secret`` is the fleet's identity key, at least :data:`MIN_SECRET_BYTES` bytes."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the identity key must be at least {MIN_SECRET_BYTES} bytes")
    value = normalize(kind, name)
    if not value:
        return None
    return hmac.new(secret, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()[:KEY_HEX]


def read_secret(path: str) -> bytes:
    """The identity key kept in a file (surrounding whitespace removed); OSError if unreadable, ValueError if short."""
    with open(path, "rb") as f:
        secret = f.read().strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"{path}: the identity key must be at least {MIN_SECRET_BYTES} bytes")
    return secret
