"""A fleet that rolls out application versions, in wire batches: the changes tests' data.

Each device works 08:00-16:00 UTC every day (a heartbeat an hour, fully active) and, in its active hours,
its applications crash at a steady rate per active hour (deterministically: a crash whenever the accumulated
rate passes a whole one). At ``install`` (staggered by an hour per device) each application moves from its old
version to its new one and its rate becomes the new rate; every crash names the version it ran.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.collector.batches import batch, event, heartbeat

DAY, HOUR = 86400, 3600
STEP = 3600.0


@dataclass(frozen=True)
class Rollout:
    """One application's move: versions and crashes per active hour before and after."""

    app: str
    old: str
    new: str
    rate_before: float
    rate_after: float


def device_id(i: int) -> str:
    return f"device-change-{i:04d}"


def fleet_batches(devices: int, install: float, rollouts: list[Rollout], days_before: int = 8, days_after: int = 8,
                  until: float | None = None, builds: tuple[str, str] | None = None) -> list[dict]:
    """One batch per device and day, from ``days_before`` days before ``install`` to ``days_after`` after (and
    before ``until``); with ``builds`` (old, new), the heartbeats report the OS build, moving at install too."""
    first_day = int(install // DAY - days_before) * DAY
    out = []
    for i in range(devices):
        moved = install + i * HOUR
        acc = {r.app: 0.5 for r in rollouts}
        for day in range(first_day, first_day + (days_before + days_after) * DAY, DAY):
            beats, events = [], []
            for t in range(day + 8 * HOUR, day + 16 * HOUR, HOUR):
                if until is not None and t + HOUR > until:
                    break
                after = t >= moved
                build = {} if builds is None else {"os_build": builds[after]}
                beats += [heartbeat(t + STEP * (k + 1), interval_s=STEP, active_s=STEP, **build) for k in range(int(HOUR // STEP))]
                for r in rollouts:
                    acc[r.app] += r.rate_after if after else r.rate_before
                    if acc[r.app] >= 1:
                        acc[r.app] -= 1
                        events.append(event("crash", r.app, t + 1800 + 60 * rollouts.index(r),
                                            details={"app_version": r.new if after else r.old}))
            if beats or events:
                out.append(batch(events, beats, device_id=device_id(i)))
    return out


def by_device(batches: list[dict]) -> list[dict]:
    """The same records in one batch per device (a backlog sent at once: far fewer requests)."""
    merged: dict[str, dict] = {}
    for b in batches:
        into = merged.setdefault(b["device_id"], batch([], [], device_id=b["device_id"]))
        into["events"] += b["events"]
        into["heartbeats"] += b["heartbeats"]
    return list(merged.values())
