"""The on-disk spool: records wait here until the collector acknowledged them.

One SQLite file (stdlib sqlite3) in WAL mode with ``synchronous=FULL``: once
``put`` returns, the records are on disk and survive a SIGKILL of the agent
and a power loss. Records are kept in insertion order; the uploader reads the
oldest with ``peek`` and deletes them with ``ack`` only after a 200.

The spool has a size bound (sum of the JSON bodies, ``agent.spool_max_bytes``):
beyond it the oldest records are dropped and counted in ``dropped_total``.
Records the collector can never store (refused with 422, too large alone,
or a record it fails on while it stores others) are moved with ``set_aside``
to the ``set_aside`` table with the reason, for the administrator (the newest
up to ``max_bytes / 10``), and counted in ``rejected_total``. Both counters
live in the database, so they survive restarts and reach the collector in
heartbeats.

If the disk is full or the database locked, ``put`` does not raise: the
records wait in a bounded memory buffer and are written on the next ``put``,
``peek`` or ``close``; failed writes are counted in ``write_errors_total`` and
records dropped from a full buffer in ``dropped_total``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from contract.records import SECTION_OF_RECORD, id_time

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS set_aside (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    size INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL DEFAULT (datetime('now'))
);
"""


def _allow_every_kind(db: sqlite3.Connection) -> None:
    """Drop the check that limited a spool written by an older agent to events and heartbeats (records kept)."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'records'").fetchone()
    if row and "CHECK" in row[0]:
        db.executescript("BEGIN IMMEDIATE; ALTER TABLE records RENAME TO records_old;" + _SCHEMA +
                         "INSERT INTO records SELECT * FROM records_old; DROP TABLE records_old; COMMIT;")


SET_ASIDE_SHARE = 10  # records set aside keep at most max_bytes / SET_ASIDE_SHARE, the newest
_EVICT_CHUNK = 500


@dataclass(frozen=True)
class SpooledRecord:
    """One record waiting for upload, in wire form."""

    id: str
    kind: str  # its batch section's kind (contract.records.SECTIONS): "event", "heartbeat", "feedback", "usage"
    body: dict[str, Any]


def _row(record: Any) -> tuple[str, str, str]:
    kind = SECTION_OF_RECORD[type(record)].kind
    return record.id, kind, json.dumps(record.to_wire(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Spool:
    """A crash-safe, size-bounded FIFO of wire records, shared by sensor threads and the uploader."""

    def __init__(self, path: str | Path, max_bytes: int, log: logging.Logger | None = None,
                 memory_limit: int = 10_000, busy_timeout_s: float = 2.0):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.log = log or logging.getLogger("hinder.spool")
        self.memory_limit = memory_limit
        self.write_errors_total = 0
        self._pending: deque[tuple[str, str, str]] = deque()
        self._unsaved_drops = 0  # dropped from the memory buffer, not yet added to the stored counter
        self._failing = False
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect on a new file
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        _allow_every_kind(self._db)
        self._db.executescript(_SCHEMA)
        self._bytes = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM records").fetchone()[0]

    # ------------------------------------------------------------ writing

    def put(self, records: Iterable[Any]) -> None:
        """Store records durably (or buffer them in memory if the disk refuses)."""
        rows = [_row(r) for r in records]
        with self._lock:
            self._pending.extend(rows)
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending and not self._unsaved_drops:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                added = 0
                for rid, kind, body in self._pending:
                    size = len(body.encode("utf-8"))
                    cur = self._db.execute("INSERT OR IGNORE INTO records (id, kind, body, size) VALUES (?, ?, ?, ?)",
                                           (rid, kind, body, size))
                    added += size if cur.rowcount == 1 else 0
                dropped, freed = self._evict_locked(self._bytes + added)
                self._add_counter_locked("dropped_total", dropped + self._unsaved_drops)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self.write_errors_total += 1
            if not self._failing:
                self.log.warning("spool: cannot write %s (%s); keeping up to %d records in memory and retrying",
                                 self.path, exc, self.memory_limit)
            self._failing = True
            overflow = len(self._pending) - self.memory_limit
            for _ in range(max(0, overflow)):
                self._pending.popleft()
            self._unsaved_drops += max(0, overflow)
            return
        if self._failing:
            self.log.info("spool: writing to %s again", self.path)
            self._failing = False
        if dropped:
            self.log.warning("spool: size bound of %d bytes reached, dropped the %d oldest records", self.max_bytes, dropped)
        self._bytes += added - freed
        self._pending.clear()
        self._unsaved_drops = 0

    def _evict_locked(self, total: int) -> tuple[int, int]:
        """Delete the oldest records until ``total`` fits the bound; return (records, bytes) removed."""
        dropped = freed = 0
        while total - freed > self.max_bytes:
            rows = self._db.execute("SELECT seq, size FROM records ORDER BY seq LIMIT ?", (_EVICT_CHUNK,)).fetchall()
            if not rows:
                break
            last = None
            for seq, size in rows:
                if total - freed <= self.max_bytes:
                    break
                last, freed, dropped = seq, freed + size, dropped + 1
            self._db.execute("DELETE FROM records WHERE seq <= ?", (last,))
        return dropped, freed

    def _add_counter_locked(self, name: str, n: int) -> None:
        if n:
            self._db.execute("INSERT INTO counters (name, value) VALUES (?, ?) "
                             "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value", (name, n))

    # ------------------------------------------------------------ reading and removing

    def peek(self, limit: int) -> list[SpooledRecord]:
        """The oldest ``limit`` stored records, oldest first (buffered ones are written first if possible)."""
        with self._lock:
            self._flush_locked()
            rows = self._db.execute("SELECT id, kind, body FROM records ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [SpooledRecord(rid, kind, json.loads(body)) for rid, kind, body in rows]

    def ack(self, ids: Iterable[str]) -> int:
        """Remove records the collector acknowledged; return how many were removed."""
        return self._remove(list(ids))

    def set_aside(self, reasons: dict[str, str]) -> int:
        """Move records the collector can never store (id -> why) to the ``set_aside`` table; count them in
        ``rejected_total``; return how many were moved."""
        return self._remove(list(reasons), reasons=reasons)

    def _remove(self, ids: list[str], reasons: dict[str, str] | None = None) -> int:
        if not ids:
            return 0
        with self._lock:
            removed = freed = 0
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for i in range(0, len(ids), 500):
                    chunk = ids[i:i + 500]
                    marks = ",".join("?" * len(chunk))
                    n, size = self._db.execute(f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM records WHERE id IN ({marks})",
                                               chunk).fetchone()
                    if reasons:
                        rows = self._db.execute(f"SELECT id, kind, body, size FROM records WHERE id IN ({marks}) "
                                                "ORDER BY seq", chunk).fetchall()
                        self._db.executemany("INSERT INTO set_aside (id, kind, body, size, reason) "
                                             "VALUES (?, ?, ?, ?, ?)", [(*row, reasons[row[0]]) for row in rows])
                    self._db.execute(f"DELETE FROM records WHERE id IN ({marks})", chunk)
                    removed, freed = removed + n, freed + size
                if reasons:
                    self._add_counter_locked("rejected_total", removed)
                    # keep the newest set-aside records within their share of the size bound
                    self._db.execute("DELETE FROM set_aside WHERE seq <= (SELECT MAX(seq) FROM (SELECT seq, SUM(size) "
                                     "OVER (ORDER BY seq DESC) AS newer FROM set_aside) WHERE newer > ?)",
                                     (self.max_bytes // SET_ASIDE_SHARE,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._bytes -= freed
            if self._bytes == 0:
                self._db.execute("PRAGMA incremental_vacuum")
            return removed

    # ------------------------------------------------------------ figures

    def _counter(self, name: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return row[0] if row else 0

    @property
    def dropped_total(self) -> int:
        """Records lost to the size bound or a full memory buffer, since installation."""
        return self._counter("dropped_total") + self._unsaved_drops

    @property
    def rejected_total(self) -> int:
        """Records set aside because the collector can never store them, since installation."""
        return self._counter("rejected_total")

    def set_aside_records(self) -> list[tuple[str, str, str]]:
        """The records kept for the administrator, oldest first: (id, when set aside, why)."""
        with self._lock:
            return self._db.execute("SELECT id, at, reason FROM set_aside ORDER BY seq").fetchall()

    @property
    def size_bytes(self) -> int:
        """Sum of the stored records' JSON sizes (what the size bound limits)."""
        return self._bytes

    @property
    def count(self) -> int:
        """Records stored on disk, waiting for upload."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    @property
    def pending_in_memory(self) -> int:
        """Records waiting in memory because the last write failed."""
        return len(self._pending)

    def oldest_age_s(self, now: float) -> float | None:
        """Age of the oldest stored record by its id's timestamp, or None when empty."""
        with self._lock:
            row = self._db.execute("SELECT id FROM records ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else max(0.0, now - id_time(row[0]))

    def close(self) -> None:
        """Write what is buffered (if the disk allows) and close the database."""
        with self._lock:
            self._flush_locked()
            if self._pending:
                self.log.error("spool: %d records could not be written and are lost", len(self._pending))
            self._db.close()
