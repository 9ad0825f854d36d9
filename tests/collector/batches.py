"""Builders of wire batches for the collector tests."""

from __future__ import annotations

import gzip
import json
import time

from contract import records

DEVICE = "device-0001"


def event(type: str = "crash", app: str = "firefox", start: float | None = None, **kw) -> dict:
    """One event in wire form."""
    return records.Event(type=type, app=app, start=time.time() - 5 if start is None else start, **kw).to_wire()


def heartbeat(time_: float | None = None, site: str = "Paris", department: str = "Finance", os: str = "linux",
              **kw) -> dict:
    """One heartbeat in wire form."""
    base = dict(interval_s=60.0, active_s=30.0, os=os, os_version="6.1", agent_version="0.1.0",
                site=site, department=department)
    base.update(kw)
    return records.Heartbeat(time=time.time() if time_ is None else time_, **base).to_wire()


def feedback(event_id: str, answer: str = "few_minutes", time_: float | None = None) -> dict:
    """One pulse answer in wire form."""
    return records.Feedback(time=time.time() - 5 if time_ is None else time_, event_id=event_id, answer=answer).to_wire()


def usage(app: str, start: float, focus_s: float, interval_s: float = 3600.0) -> dict:
    """One app-time total in wire form."""
    return records.Usage(start=start, interval_s=interval_s, app=app, focus_s=focus_s).to_wire()


def batch(events=(), heartbeats=(), device_id: str = DEVICE, **over) -> dict:
    """A batch from one device."""
    b = records.make_batch(device_id, list(events), list(heartbeats))
    b.update(over)
    return b


def body(payload, compress: bool = False) -> bytes:
    """The request body for a batch, optionally gzip-compressed."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return gzip.compress(raw) if compress else raw
