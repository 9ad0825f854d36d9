"""Bearer-token authentication: agent (fleet) tokens may only enroll and ingest, the admin token may only read.

Tokens are compared in constant time against every configured token, so the
response time does not reveal how much of a guess was right. Routes declare
the role they need with the :func:`require` dependency. Ingest also takes a
device's own credential instead of a fleet token (:mod:`collector.devices`).
"""

from __future__ import annotations

import hmac
from enum import Enum
from typing import Awaitable, Callable

from fastapi import HTTPException, Request


class Role(str, Enum):
    """What a request needs: ingest (agent tokens) or read (the admin token)."""

    AGENT = "agent"
    ADMIN = "admin"


class Unauthorized(Exception):
    """A missing or wrong token; the API answers 401 with WWW-Authenticate."""


class TokenAuth:
    """Checks ``Authorization: Bearer <token>`` headers against the configured tokens."""

    def __init__(self, agent_tokens: list[str], admin_token: str):
        self._tokens = {Role.AGENT: [t.encode() for t in agent_tokens], Role.ADMIN: [admin_token.encode()]}

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


def require(role: Role) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency refusing (401) a request without a token of ``role``.

    It checks against the app's one :class:`TokenAuth` (``app.state.auth``).
    Use it as ``dependencies=[Depends(require(Role.ADMIN))]``.
    """

    async def check_token(request: Request) -> None:
        try:
            request.app.state.auth.check(request.headers.get("authorization"), role)
        except Unauthorized as exc:
            raise unauthorized(str(exc)) from None

    return check_token


def unauthorized(detail: str) -> HTTPException:
    """The 401 answer, with the ``WWW-Authenticate`` challenge."""
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="hinder"'})
