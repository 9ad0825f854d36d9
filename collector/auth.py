"""Bearer-token authentication: agent (fleet) tokens may only enroll and ingest, the admin token may only read,
support tokens may only send service-desk tickets.

Tokens are compared in constant time against every configured token, so the
response time does not reveal how much of a guess was right. Routes declare
the role they need with the :func:`require` dependency, which is also the
security scheme the OpenAPI document names (``agentToken``, ``adminToken``, ``supportToken``).
Ingest also takes a device's own credential instead of a fleet token
(:mod:`collector.devices`, ``collector.api.ingest.sender``).
"""

from __future__ import annotations

import hmac
from enum import Enum
from typing import Callable

from fastapi import HTTPException, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase


class Role(str, Enum):
    """What a request needs: ingest (agent tokens), read (the admin token) or send tickets (support tokens)."""

    AGENT = "agent"
    ADMIN = "admin"
    SUPPORT = "support"


class Unauthorized(Exception):
    """A missing or wrong token; the API answers 401 with WWW-Authenticate."""


class TokenAuth:
    """Checks ``Authorization: Bearer <token>`` headers against the configured tokens."""

    def __init__(self, agent_tokens: list[str], admin_token: str, support_tokens: list[str] = ()):
        self._tokens = {Role.AGENT: [t.encode() for t in agent_tokens], Role.ADMIN: [admin_token.encode()],
                        Role.SUPPORT: [t.encode() for t in support_tokens if t]}

    @staticmethod
    def bearer(authorization: str | None, role: Role) -> str:
        """The token of an ``Authorization: Bearer <token>`` header; raise Unauthorized saying what is wrong."""
        scheme, _, token = (authorization or "").partition(" ")
        if not authorization:
            raise Unauthorized(f"missing Authorization header; send 'Bearer <{role.value} token>'")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(f"Authorization must be 'Bearer <{role.value} token>'")
        return token.strip()

    def check(self, authorization: str | None, role: Role) -> None:
        """Return if the header carries a token of ``role``; raise Unauthorized saying what is wrong."""
        given = self.bearer(authorization, role).encode()
        ok = False
        for candidate in self._tokens[role]:
            ok |= hmac.compare_digest(given, candidate)
        if not ok:
            raise Unauthorized(f"not a valid {role.value} token for this endpoint")


_SCHEMES = {
    Role.AGENT: "an agent (fleet) token (collector.agent_tokens, HINDER_AGENT_TOKEN): may enroll devices and send "
                "batches; on ingest also a device's own credential, hdc1.<device id>.<secret>, from POST /api/v1/enroll",
    Role.ADMIN: "the admin token (collector.admin_token, HINDER_ADMIN_TOKEN): may only read",
    Role.SUPPORT: "a support token (collector.support_tokens, HINDER_SUPPORT_TOKEN): may only send service-desk "
                  "tickets",
}


class BearerToken(SecurityBase):
    """The dependency :func:`require` returns: FastAPI lists it as the operation's security scheme."""

    def __init__(self, role: Role, on_refused: Callable[[Request], None] | None = None):
        self.role = role
        self.scheme_name = f"{role.value}Token"
        self.model = HTTPBearerModel(description=_SCHEMES[role])
        self._on_refused = on_refused

    async def __call__(self, request: Request) -> None:
        try:
            request.app.state.auth.check(request.headers.get("authorization"), self.role)
        except Unauthorized as exc:
            if self._on_refused:
                self._on_refused(request)
            raise unauthorized(str(exc)) from None


def require(role: Role, on_refused: Callable[[Request], None] | None = None) -> BearerToken:
    """A FastAPI dependency refusing (401) a request without a token of ``role``.

    It checks against the app's one :class:`TokenAuth` (``app.state.auth``) and calls ``on_refused`` (e.g. to
    count the refusal) before refusing. Use it as ``dependencies=[Depends(require(Role.ADMIN))]``; the OpenAPI
    document then names the role's bearer scheme on every operation of the router.
    """
    return BearerToken(role, on_refused)


def unauthorized(detail: str) -> HTTPException:
    """The 401 answer, with the ``WWW-Authenticate`` challenge."""
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="hinder"'})
