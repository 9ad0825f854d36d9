"""Token checks: roles are separate, every way of being wrong is named."""

import pytest

from collector.auth import Role, TokenAuth, Unauthorized

AUTH = TokenAuth(["agent-one-token", "agent-two-token"], "admin-secret-token")


@pytest.mark.parametrize("header, role", [
    ("Bearer agent-one-token", Role.AGENT),
    ("Bearer agent-two-token", Role.AGENT),
    ("bearer   agent-one-token ", Role.AGENT),
    ("Bearer admin-secret-token", Role.ADMIN),
])
def test_accepted(header, role):
    AUTH.check(header, role)


@pytest.mark.parametrize("header, role, message", [
    (None, Role.AGENT, "missing Authorization"),
    ("", Role.ADMIN, "missing Authorization"),
    ("Basic YTpi", Role.AGENT, "must be 'Bearer"),
    ("Bearer", Role.AGENT, "must be 'Bearer"),
    ("Bearer agent-one-toke", Role.AGENT, "not a valid agent token"),
    ("Bearer admin-secret-token", Role.AGENT, "not a valid agent token"),
    ("Bearer agent-one-token", Role.ADMIN, "not a valid admin token"),
])
def test_refused(header, role, message):
    with pytest.raises(Unauthorized, match=message):
        AUTH.check(header, role)
