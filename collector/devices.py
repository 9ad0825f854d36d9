"""Device credentials: a device id bound to its own secret; enrollment, verification, revocation, listing.

An agent enrolls once with the fleet token and gets the credential
``hdc1.<device_id>.<secret>`` (the secret: 32 random bytes, URL-safe base64).
The collector keeps only the secret's SHA-256: the secret is random, so a
plain hash cannot be reversed by guessing, and a stolen database holds no
credential. Batches carrying a credential may only be for its device; the
fleet token may no longer send batches for an enrolled or revoked device.
Revoking a device refuses its batches from then on and keeps its data.
docs/security.md says how enrollment, revocation and rotation fit together.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from collector.db import insert, write_transaction
from collector.models import device_credential_table as cred_table, device_table
from contract.records import device_id_valid

PREFIX = "hdc1."
_REVOKED = "device {} is revoked; its batches are refused, its data is kept"


class DeviceRefused(Exception):
    """A credential or an enrollment the collector refuses; ``status`` is the HTTP status (401, 403, 409)."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def is_credential(token: str) -> bool:
    """Whether a bearer token has the form of a device credential (rather than a fleet token)."""
    return token.startswith(PREFIX)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _row(conn: Connection, device_id: str) -> Any:
    return conn.execute(sa.select(cred_table).where(cred_table.c.device_id == device_id)).mappings().first()


def _state(row: Any) -> str:
    """A device's credential state: ``none`` (it sends with the fleet token), ``enrolled`` or ``revoked``."""
    return "none" if row is None else "revoked" if row["revoked_at"] is not None else "enrolled"


def fleet_refusal(conn: Connection, device_id: str) -> str | None:
    """Why the fleet token may not send a batch for ``device_id`` (enrolled or revoked), None if it may."""
    state = _state(_row(conn, device_id))
    if state == "none":
        return None
    if state == "revoked":
        return _REVOKED.format(device_id)
    return f"device {device_id} is enrolled: its batches must carry its device credential, not the fleet token"


def enroll(engine: Engine, device_id: str, now: float | None = None) -> str:
    """Bind ``device_id`` to a new secret and return its credential.

    DeviceRefused if the device has a credential (409) or is revoked (403): a
    holder of the fleet token cannot take over an enrolled device.
    """
    secret = secrets.token_urlsafe(32)
    with write_transaction(engine) as conn:
        new = insert(conn, cred_table).on_conflict_do_nothing(index_elements=["device_id"])
        added = conn.execute(new.returning(cred_table.c.device_id), {
            "device_id": device_id, "secret_sha256": _digest(secret),
            "enrolled_at": time.time() if now is None else now, "revoked_at": None}).first()
        if added is None:
            if _state(_row(conn, device_id)) == "revoked":
                raise DeviceRefused(403, f"device {device_id} is revoked; it cannot enroll again")
            raise DeviceRefused(409, f"device {device_id} is enrolled already; an admin can revoke it, and the "
                                "agent can enroll under a new device id")
    return f"{PREFIX}{device_id}.{secret}"


def verify(engine: Engine, credential: str) -> str:
    """The device id of a good device credential; DeviceRefused (401 unknown or wrong, 403 revoked) otherwise.

    The secret's digest is compared in constant time.
    """
    device_id, _, secret = credential[len(PREFIX):].rpartition(".")
    if not device_id_valid(device_id) or not secret:
        raise DeviceRefused(401, "malformed device credential; expected hdc1.<device id>.<secret>")
    with engine.connect() as conn:
        row = _row(conn, device_id)
    state = _state(row)
    if state == "none":
        raise DeviceRefused(401, f"device {device_id} is not enrolled; enroll at /api/v1/enroll")
    if state == "revoked":
        raise DeviceRefused(403, _REVOKED.format(device_id))
    if not hmac.compare_digest(_digest(secret), row["secret_sha256"]):
        raise DeviceRefused(401, f"wrong credential for device {device_id}")
    return device_id


def revoke(engine: Engine, device_id: str, now: float | None = None) -> dict[str, Any]:
    """Revoke ``device_id`` (enrolled, or known only from fleet-token batches) and return its listing entry.

    Revoking twice keeps the first time. KeyError if the collector knows no such device.
    """
    now = time.time() if now is None else now
    with write_transaction(engine) as conn:
        known = conn.execute(sa.select(device_table.c.id).where(device_table.c.id == device_id)).first()
        row = _row(conn, device_id)
        if row is None and known is None:
            raise KeyError(device_id)
        if row is None:  # a device that only ever used the fleet token: it can neither send with it nor enroll
            conn.execute(cred_table.insert(), {"device_id": device_id, "secret_sha256": None, "enrolled_at": None,
                                               "revoked_at": now})
        elif row["revoked_at"] is None:
            conn.execute(cred_table.update().where(cred_table.c.device_id == device_id), {"revoked_at": now})
        last_seen = conn.execute(sa.select(device_table.c.last_seen).where(device_table.c.id == device_id)).scalar()
        return _entry(device_id, _row(conn, device_id), last_seen)


def listing(conn: Connection) -> list[dict[str, Any]]:
    """Every device the collector knows (from batches or enrollment) with its credential state, by id.

    ``credential``: ``enrolled``, ``revoked``, or ``none`` (a device sending with the fleet token).
    """
    creds = {r["device_id"]: r for r in conn.execute(sa.select(cred_table)).mappings()}
    seen = dict(conn.execute(sa.select(device_table.c.id, device_table.c.last_seen)).all())
    ids = sorted(creds.keys() | seen.keys())
    return [_entry(device_id, creds.get(device_id), seen.get(device_id)) for device_id in ids]


def _entry(device_id: str, row: Any, last_seen: float | None) -> dict[str, Any]:
    return {"device_id": device_id, "credential": _state(row), "enrolled_at": row and row["enrolled_at"],
            "revoked_at": row and row["revoked_at"], "last_seen": last_seen}
