"""Enrollment: the device's own credential, got once with the fleet token and kept in the state directory.

The collector binds each device id to a credential (docs/security.md). At its
first delivery an agent without one enrolls (``POST /api/v1/enroll`` with the
fleet token) and keeps the credential in ``state_dir/credential`` (mode 0600);
its batches carry it from then on. The answers to an enrollment:

- 201: keep the credential and send with it.
- 404, a collector older than enrollment: keep sending with the fleet token
  and try again after ``enroll_retry_s``.
- 409 (the device id is enrolled but this agent has no credential for it), 403
  (revoked) or anything else: log it, send with the fleet token (an enrolled
  or revoked device's batches are then refused and stay in the spool) and try
  again after ``enroll_retry_s``.
- no answer: the batch goes nowhere either; tried again at the next delivery.

A batch refused with 401 although it carried the credential (the collector
does not know it, e.g. a new database) makes the agent enroll again, at most
every ``enroll_retry_s``; the credential is replaced only by a new one. The
credential is never logged.
"""

from __future__ import annotations

import json
import logging
import time

from agent._http import Response, request
from agent.config import AgentSettings
from agent.state import CREDENTIAL_FILE, load_credential, save_credential

ENROLL_PATH = "/api/v1/enroll"
CREDENTIAL_PREFIX = "hdc1."


class Enrollment:
    """The token the uploader sends batches with: the device credential once enrolled, else the fleet token."""

    def __init__(self, settings: AgentSettings, device_id: str, log: logging.Logger, user_agent: str):
        self.settings = settings
        self.device_id = device_id
        self.log = log
        self.credential = load_credential(settings.state_dir)
        self._url = settings.collector.rstrip("/") + ENROLL_PATH
        self._headers = {"Authorization": f"Bearer {settings.token}", "User-Agent": user_agent,
                         "Content-Type": "application/json"}
        self._due = self.credential is None  # enroll before the next batch
        self._next_try = 0.0  # monotonic time before which no enrollment is tried

    def bearer(self, timeout_s: float) -> str:
        """The token for the next batch, enrolling first when due; raises HTTPError if enrolling got no answer."""
        if self._due and time.monotonic() >= self._next_try:
            self._enroll(timeout_s)
        return self.credential or self.settings.token

    def refused(self, resp: Response) -> str:
        """Take note of a batch refused with 401 or 403 and return the reason to log."""
        try:
            detail = str(resp.json()["detail"])[:300]
        except (ValueError, KeyError, TypeError):
            detail = resp.text[:300]
        if self.credential is None:
            return f"HTTP {resp.status} for the fleet token: {detail}"
        if resp.status == 401:
            self._due = True  # the collector does not know this credential: enroll again
        return f"device credential refused (HTTP {resp.status}): {detail}"

    def _enroll(self, timeout_s: float) -> None:
        body = json.dumps({"device_id": self.device_id}).encode()
        resp = request("POST", self._url, body=body, headers=self._headers, timeout_s=timeout_s)
        credential = _credential_of(resp, self.device_id)
        if credential is None:
            self._next_try = time.monotonic() + self.settings.enroll_retry_s
            if resp.status == 404:
                self.log.info("enroll: the collector predates device credentials; sending with the fleet token, "
                              "trying again in %.0f s", self.settings.enroll_retry_s)
            else:
                self.log.error("enroll: device %s refused (HTTP %d: %s); trying again in %.0f s", self.device_id,
                               resp.status, resp.text[:300], self.settings.enroll_retry_s)
            return
        self.credential, self._due = credential, False
        try:
            save_credential(self.settings.state_dir, credential)
        except OSError as exc:
            self.log.error("enroll: cannot keep the credential in %s/%s (%s): it lasts until the agent stops, then "
                           "an admin must revoke device %s and the agent enroll under a new device id",
                           self.settings.state_dir, CREDENTIAL_FILE, exc, self.device_id)
            return
        self.log.info("enroll: device %s enrolled; its credential is kept in %s/%s", self.device_id,
                      self.settings.state_dir, CREDENTIAL_FILE)


def _credential_of(resp: Response, device_id: str) -> str | None:
    """The credential in a successful enrollment answer, None if it has none for ``device_id``."""
    if resp.status not in (200, 201):
        return None
    try:
        credential = resp.json()["credential"]
    except (ValueError, KeyError, TypeError):
        return None
    ok = isinstance(credential, str) and credential.startswith(f"{CREDENTIAL_PREFIX}{device_id}.") \
        and credential.isascii() and credential.isprintable() and len(credential) < 512
    return credential if ok else None
