"""Sending wire batches (and service-desk tickets) to a collector: chunking within the contract's limits, gzip,
pacing, retries, stats."""

from __future__ import annotations

import gzip
import json
import math
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from contract.records import Limits, format_time, make_batch, parse_time


def chunk_batches(device_id: str, events: list[dict], heartbeats: list[dict], feedback: Sequence[dict] = (),
                  usage: Sequence[dict] = (), limits: Limits = Limits()) -> Iterator[dict]:
    """Split one device's records (each kind in time order) into wire batches, oldest first, within ``limits``:
    each batch's heartbeats, and the other records up to the last heartbeat's time (an event once it has ended, as
    the agent sends it); each batch is made at the time of its newest record."""
    sections = [["events", list(events), lambda e: parse_time(e["start"]) + e["duration_s"], limits.max_events],
                ["feedback", list(feedback), lambda f: parse_time(f["time"]), limits.max_feedback],
                ["usage", list(usage), lambda u: parse_time(u["start"]), limits.max_usage]]
    per_hb = limits.max_heartbeats
    while heartbeats or any(section[1] for section in sections):
        hb, heartbeats = heartbeats[:per_hb], heartbeats[per_hb:]
        cut = parse_time(hb[-1]["time"]) if hb and heartbeats else math.inf
        taken, last = {}, [parse_time(r["time"]) for r in hb[-1:]]
        for section in sections:
            name, records, time_of, limit = section
            n = 0
            while n < min(len(records), limit) and time_of(records[n]) <= cut:
                n += 1
            taken[name], section[1] = records[:n], records[n:]
            last += [max(map(time_of, records[:n]), default=-math.inf)]
        yield make_batch(device_id, taken.pop("events"), hb, now=max(last), **taken)


class SimulationError(RuntimeError):
    """The collector refused a batch for a reason that retrying cannot fix."""


@dataclass
class SendStats:
    """What was sent and what the collector answered."""

    batches: int = 0
    events: int = 0
    heartbeats: int = 0
    feedback: int = 0  # the pulse's answers
    usage: int = 0  # app focus totals
    accepted: int = 0
    duplicates: int = 0
    retries: int = 0
    tickets: int = 0  # tickets sent to the webhook
    tickets_stored: int = 0  # inserted or updated


class _Pacer:
    """Spaces requests so that all workers together stay under ``rate`` per second (0: no limit)."""

    def __init__(self, rate: float):
        self._gap = 1.0 / rate if rate > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._gap:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._gap
        time.sleep(max(0.0, slot - now))


class Sender:
    """Posts wire batches to a collector: gzip, agent token, a few workers, bounded rate, retries on overload."""

    RETRY_STATUS = (429, 502, 503, 504)

    def __init__(self, url: str, token: str, concurrency: int = 4, rate: float = 0.0, timeout_s: float = 30.0,
                 max_attempts: int = 8, support_token: str = ""):
        self.url = url.rstrip("/") + "/api/v1/events"
        self.tickets_url = url.rstrip("/") + "/api/v1/support/tickets"
        self.token = token
        self.support_token = support_token
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.stats = SendStats()
        self._pacer = _Pacer(rate)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._stop = threading.Event()

    def _client(self) -> httpx.Client:
        if not hasattr(self._local, "client"):
            self._local.client = httpx.Client(timeout=self.timeout_s)
        return self._local.client

    def post(self, batch: dict) -> None:
        """Send one batch until it is committed; raise SimulationError on a permanent refusal."""
        # stamped when sent, as the agent's uploader does: history sent now comes from a device whose clock is right
        batch = {**batch, "sent_at": format_time(time.time())}
        answer = self._send(self.url, self.token, batch, f"a batch of {batch['device_id']}")
        with self._lock:
            self.stats.batches += 1
            self.stats.events += len(batch["events"])
            self.stats.heartbeats += len(batch["heartbeats"])
            self.stats.feedback += len(batch.get("feedback", ()))
            self.stats.usage += len(batch.get("usage", ()))
            self.stats.accepted += int(answer.get("accepted", 0))
            self.stats.duplicates += int(answer.get("duplicates", 0))

    def post_tickets(self, tickets: list[dict]) -> None:
        """Send service-desk tickets (generic column set) to the webhook, ``TICKETS_PER_REQUEST`` at a time."""
        for at in range(0, len(tickets), self.TICKETS_PER_REQUEST):
            chunk = tickets[at:at + self.TICKETS_PER_REQUEST]
            answer = self._send(self.tickets_url, self.support_token, chunk, f"{len(chunk)} tickets")
            with self._lock:
                self.stats.tickets += len(chunk)
                self.stats.tickets_stored += int(answer.get("inserted", 0)) + int(answer.get("updated", 0))

    TICKETS_PER_REQUEST = 500

    def _send(self, url: str, token: str, payload, what: str) -> dict:
        """POST ``payload`` as gzip JSON until it is committed; its answer, or SimulationError on a refusal."""
        body = gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), compresslevel=5)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
        for attempt in range(self.max_attempts):
            if self._stop.is_set():
                raise SimulationError("stopped after another request failed")
            self._pacer.wait()
            try:
                resp = self._client().post(url, content=body, headers=headers)
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code == 200:
                    return resp.json()
                error = f"HTTP {resp.status_code}: {resp.text[:500]}"
                if resp.status_code not in self.RETRY_STATUS:
                    self._stop.set()
                    raise SimulationError(f"{url} refused {what}: {error}")
            with self._lock:
                self.stats.retries += 1
            time.sleep(min(10.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.0))
        self._stop.set()
        raise SimulationError(f"{url}: gave up after {self.max_attempts} attempts: {error}")

    def send_all(self, work: list, batches_of, on_done=lambda item: None) -> SendStats:
        """Post ``batches_of(item)`` for every item, items in parallel, each item's batches in order."""

        def run(item) -> None:
            for batch in batches_of(item):
                self.post(batch)
            on_done(item)

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for future in [pool.submit(run, item) for item in work]:
                future.result()
        return self.stats
