"""The uploader: moves spooled records to the collector, at least once, politely.

On its own thread, every ``upload_interval_s`` it sends the oldest spooled
records in batches (``wire.make_batch``, gzip, ``Authorization: Bearer``;
TLS checked against the system trust store or ``agent.ca_bundle``, see
``agent.tls``; proxies from the environment; all through ``agent._http``,
one connection per batch) and deletes them from the spool only after a 200.
Batches carry the device's own credential once it is enrolled, the fleet
token until then (``agent.enroll``). Retried batches are harmless:
the collector stores each record id once, so at-least-once delivery becomes
exactly-once storage.

Answers and what the uploader does:

- 200: acknowledge, send the next batch (a backlog drains at no more than
  ``upload_max_rate`` records/s, so a fleet coming back after an outage does
  not flatten the collector).
- 422: the records named in ``detail.errors`` can never be accepted: set them
  aside (``Spool.set_aside``, counted in ``rejected_total``), resend the rest
  at once.
- 413: halve the batch size and resend at once; a single record too large is
  set aside.
- Before sending: a spooled record of a kind this agent does not know (left
  by a newer agent before a rollback) is set aside at once, so it never
  blocks the others.
- 500, 502, 504 ... (any 5xx but 503): back off; after
  ``isolate_after_server_errors`` such answers in a row to the same batch, halve
  it (as for 413) to isolate a record the collector fails on. A single record
  that still fails is held back (a suspect) while the records after it are
  sent; once the collector stored some (a 200), the suspect is sent alone once
  more, and if the collector fails on it again it is set aside. So an outage,
  where every batch fails, never sets anything aside. When the records of the
  batch taken apart are all delivered or set aside, the batch size is restored.
- 429/503: wait ``Retry-After`` (plus up to 10% jitter, at most an hour), else
  back off.
- 401/403 (also noted by ``agent.enroll``: a credential the collector does not
  know is enrolled again), connection errors, timeouts, other 4xx: exponential backoff with
  jitter: a random wait between ``backoff_initial_s`` and
  ``min(backoff_max_s, backoff_initial_s * 2**failures)``.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import threading
import time
from dataclasses import dataclass

from agent._http import HTTPError, Response, request
from agent.config import AgentSettings
from agent.enroll import Enrollment
from agent.spool import Spool, SpooledRecord
from agent.tls import trust_source
from contract.records import SECTIONS, make_batch

_KINDS = frozenset(sec.kind for sec in SECTIONS)

EVENTS_PATH = "/api/v1/events"
MAX_RETRY_AFTER_S = 3600.0  # a Retry-After beyond this is taken as this


@dataclass
class Outcome:
    """What to do after one attempt: go on at once, or stop draining and wait."""

    wait_s: float = 0.0  # with done: how long to wait (0: the normal upload interval)
    done: bool = False  # stop draining for now: spool empty, or a failure


class Uploader:
    """Delivers the spool to the collector on a background thread."""

    def __init__(self, spool: Spool, settings: AgentSettings, device_id: str, log: logging.Logger | None = None,
                 user_agent: str = "hinder-agent"):
        self.spool = spool
        self.settings = settings
        self.device_id = device_id
        self.log = log or logging.getLogger("hinder.uploader")
        self.batch_size = settings.upload_batch_size
        self.failures = 0  # consecutive failed attempts
        self.uploaded_total = 0
        self.last_error: str | None = None
        self._url = settings.collector.rstrip("/") + EVENTS_PATH
        self.enrollment = Enrollment(settings, device_id, self.log, user_agent)
        self._headers = {"User-Agent": user_agent, "Content-Type": "application/json", "Content-Encoding": "gzip"}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_send = 0.0  # monotonic time before which the rate bound forbids the next batch
        # isolating a record the collector fails on (5xx): see the module's docstring
        self._server_errors = 0  # 5xx answers in a row to the batch _failing_batch (first record id, size)
        self._failing_batch: tuple[str, int] | None = None
        self._isolating: frozenset[str] = frozenset()  # ids of the batch being taken apart
        self._full_batch_size = self.batch_size  # the batch size to restore once it is
        self._suspects: set[str] = set()  # records that failed alone, held back
        self._collector_works = False  # the last answer was a 200: a suspect that fails now is the cause

    # ------------------------------------------------------------ thread

    def start(self) -> None:
        """Start uploading in the background."""
        self._thread = threading.Thread(target=self._run, name="uploader", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the thread to stop and wait for it (at most ``timeout_s``)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.drain()
            except Exception as exc:  # e.g. the spool is locked: never let the thread die
                wait = self._failed(f"{type(exc).__name__}: {exc}").wait_s
            self._stop.wait(wait)

    def flush(self, timeout_s: float) -> bool:
        """Try to deliver everything within ``timeout_s`` (used on a clean stop); True if the spool is empty."""
        self.drain(until=time.monotonic() + timeout_s)
        return self.spool.count == 0

    def drain(self, until: float | None = None) -> float:
        """Send batches until the spool is empty, a failure, a stop, or monotonic time ``until``.

        Returns how long to wait before the next try.
        """
        while True:
            now = time.monotonic()
            if (until is None and self._stop.is_set()) or (until is not None and now >= until):
                return 0.0
            pause = self._next_send - now  # the rate bound
            if pause > 0:
                if until is not None:
                    time.sleep(min(pause, until - now))
                elif self._stop.wait(pause):
                    return 0.0
                continue
            timeout = self.settings.upload_timeout_s
            if until is not None:
                timeout = max(0.1, min(until - now, timeout))
            outcome = self.send_once(timeout)
            if outcome.done:
                return outcome.wait_s or self.settings.upload_interval_s

    # ------------------------------------------------------------ one attempt

    def send_once(self, timeout_s: float | None = None) -> Outcome:
        """Send the oldest batch once and act on the answer."""
        records = self._next_batch()
        if not records:
            return Outcome(done=True)
        records = self._known(records)
        if not records:
            return Outcome(done=False)  # all set aside: the next batch at once
        by_kind = _by_kind(records)
        batch = make_batch(self.device_id, by_kind["event"], by_kind["heartbeat"],
                           **{sec.field: by_kind[sec.kind] for sec in SECTIONS[2:]})
        body = gzip.compress(json.dumps(batch, separators=(",", ":")).encode("utf-8"), compresslevel=6)
        timeout_s = timeout_s or self.settings.upload_timeout_s
        try:
            token = self.enrollment.bearer(timeout_s)
            resp = request("POST", self._url, body=body, headers={**self._headers, "Authorization": f"Bearer {token}"},
                           timeout_s=timeout_s)
        except HTTPError as exc:
            return self._failed(_transport_problem(exc))
        if resp.status == 200:
            return self._accepted(records)
        if resp.status == 422:
            return self._rejected(records, resp)
        if resp.status == 413:
            return self._too_large(records)
        if resp.status in (429, 503):
            return self._throttled(resp)
        if resp.status in (401, 403):
            return self._failed(self.enrollment.refused(resp))
        if resp.status >= 500:
            return self._server_error(records, f"HTTP {resp.status}: {resp.text[:200]}")
        return self._failed(f"HTTP {resp.status}: {resp.text[:200]}")

    def _next_batch(self) -> list[SpooledRecord]:
        """The oldest records but the suspects; a suspect alone once the collector just stored others."""
        records = self.spool.peek(self.batch_size + len(self._suspects))  # suspects are the oldest records
        held = [r for r in records if r.id in self._suspects]
        self._suspects = {r.id for r in held}  # forget those no longer in the spool (size bound)
        if held and self._collector_works:
            return held[:1]
        others = [r for r in records if r.id not in self._suspects][:self.batch_size]
        if self._isolating and not held and (not others or others[0].id not in self._isolating):
            self._isolating, self.batch_size = frozenset(), self._full_batch_size
            self.log.info("uploader: the batch the collector failed on is sorted out; batch size %d again",
                          self.batch_size)
            others = self.spool.peek(self.batch_size)
        return others

    def _known(self, records: list[SpooledRecord]) -> list[SpooledRecord]:
        """The records of a kind this agent can send; any other (spooled by a newer agent before a rollback) is set
        aside, never sent and never blocking the rest."""
        unknown = {r.id: f"{r.kind} {r.id}: a kind of record this agent version cannot send (spooled by a newer "
                         "agent?)" for r in records if r.kind not in _KINDS}
        if not unknown:
            return records
        self.spool.set_aside(unknown)
        self.log.error("uploader: %d spooled records of a kind this agent does not know set aside (%s)",
                       len(unknown), ", ".join(sorted({r.kind[:40] for r in records if r.id in unknown})))
        return [r for r in records if r.id not in unknown]

    def _accepted(self, records: list[SpooledRecord]) -> Outcome:
        self._collector_works = True
        self._suspects.difference_update(r.id for r in records)
        self.spool.ack([r.id for r in records])
        if self.failures:
            self.log.info("uploader: delivering to %s again after %d failed attempts", self._url, self.failures)
        self.failures = 0
        self.last_error = None
        self.uploaded_total += len(records)
        self._next_send = time.monotonic() + len(records) / self.settings.upload_max_rate
        return Outcome(done=len(records) < self.batch_size)

    def _rejected(self, records: list[SpooledRecord], resp: Response) -> Outcome:
        try:
            errors = resp.json()["detail"]["errors"]
            by_kind = _by_kind(records, bodies=False)
            bad = {}
            for err in errors:
                if err.get("index") is None:
                    continue
                rec = by_kind[err["kind"]][err["index"]]
                bad.setdefault(rec.id, f"{err['kind']} {rec.id}: {err.get('field')}: {err.get('error')}")
        except (ValueError, KeyError, TypeError, IndexError):
            return self._failed(f"HTTP 422 without usable record errors: {resp.text[:200]}")
        if not bad:
            return self._failed(f"HTTP 422 for the whole batch: {resp.text[:300]}")
        self.spool.set_aside(bad)
        for reason in list(bad.values())[:5]:
            self.log.error("uploader: collector rejected %s; set aside", reason)
        if len(bad) > 5:
            self.log.error("uploader: ... and %d more records rejected and set aside", len(bad) - 5)
        return Outcome()

    def _too_large(self, records: list[SpooledRecord]) -> Outcome:
        if len(records) == 1:
            self.spool.set_aside({records[0].id: "HTTP 413: larger than the collector accepts"})
            self.log.error("uploader: record %s alone is larger than the collector accepts; set aside", records[0].id)
            return Outcome()
        self._halve(records, "batch too large for the collector")
        return Outcome()

    def _halve(self, records: list[SpooledRecord], why: str) -> None:
        """Send batches half the size of ``records`` from now on."""
        self.batch_size = max(1, len(records) // 2)
        self.log.warning("uploader: %s; batch size now %d", why, self.batch_size)

    def _server_error(self, records: list[SpooledRecord], reason: str) -> Outcome:
        """The collector failed on this batch: back off; repeated, take the batch apart to find the cause."""
        if len(records) == 1 and records[0].id in self._suspects:  # sent alone right after others were stored
            self._suspects.discard(records[0].id)
            self.spool.set_aside({records[0].id: f"{reason} (while the collector stored other records)"})
            self.log.error("uploader: the collector fails on record %s (%s) but stores the others; record set aside "
                           "in the spool's set_aside table and counted in rejected_total", records[0].id, reason)
            return Outcome()
        batch = (records[0].id, len(records))
        self._server_errors = self._server_errors + 1 if batch == self._failing_batch else 1
        self._failing_batch = batch
        if self._server_errors >= self.settings.isolate_after_server_errors:
            self._server_errors = 0
            if len(records) > 1:
                if not self._isolating:
                    self._isolating, self._full_batch_size = frozenset(r.id for r in records), self.batch_size
                self._halve(records, f"the collector failed {self.settings.isolate_after_server_errors} times on a "
                                     f"batch of {len(records)} ({reason}); looking for the record that causes it")
            else:
                if not self._suspects:  # once: in an outage every record in turn fails alone
                    self.log.warning("uploader: the collector failed %d times on record %s alone; holding it back "
                                     "until the collector stores others", self.settings.isolate_after_server_errors,
                                     records[0].id)
                self._suspects.add(records[0].id)
        return self._failed(reason)

    def _throttled(self, resp: Response) -> Outcome:
        self._collector_works = False
        retry_after = _parse_retry_after(resp.headers.get("retry-after"))
        if retry_after is None:
            return self._failed(f"HTTP {resp.status} without Retry-After")
        self.failures += 1
        self.last_error = f"HTTP {resp.status}, retry after {retry_after:.0f} s"
        if self.failures == 1:
            self.log.warning("uploader: collector busy (HTTP %d); retrying after %.1f s", resp.status, retry_after)
        wait = min(retry_after, MAX_RETRY_AFTER_S) * random.uniform(1.0, 1.1)
        return Outcome(wait_s=max(wait, 0.001), done=True)

    def _failed(self, reason: str) -> Outcome:
        self._collector_works = False
        self.failures += 1
        self.last_error = reason
        wait = backoff_delay(self.failures, self.settings.backoff_initial_s, self.settings.backoff_max_s)
        if self.failures == 1 or self.failures % 10 == 0:
            self.log.warning("uploader: %s (%d failed attempts); next try in %.1f s", reason, self.failures, wait)
        return Outcome(wait_s=wait, done=True)


def _transport_problem(exc: HTTPError) -> str:
    """A request without an answer, in words; for TLS, what certificates are checked against and how to change it."""
    if exc.kind != "tls":
        return f"{exc.kind}: {exc}"
    return f"tls: {exc}; certificates are checked against {trust_source()} (agent.ca_bundle names the CAs to trust)"


def backoff_delay(failures: int, initial_s: float, max_s: float) -> float:
    """Jittered exponential backoff: uniform between ``initial_s`` and the doubled cap."""
    cap = min(max_s, initial_s * 2 ** min(failures - 1, 62))
    return random.uniform(min(initial_s, cap), cap)


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # only for the rare HTTP-date form: the email package costs the agent over 1 MiB

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _by_kind(records: list[SpooledRecord], bodies: bool = True) -> dict[str, list]:
    """The records (or their bodies) per kind of batch section, in spool order: a 422 indexes them so."""
    out: dict[str, list] = {sec.kind: [] for sec in SECTIONS}
    for r in records:
        out[r.kind].append(r.body if bodies else r)
    return out
