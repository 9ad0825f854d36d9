"""The event types: one table that every part of hinder reads.

A disruption's type decides how the impact model turns it into lost time (its
:class:`Cost`), which cause wins where disruptions overlap (the table's order),
whether its ``app`` names an application and whether its versions are
compared in reports, and what a report calls it. Adding an event type is one
row here plus the sensor that emits it; the wire check, the compiled fast
path, the impact model (with a ``<type>_recovery_s`` setting for a
:attr:`Cost.RECOVERY` type), /metrics and the report follow.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Cost(enum.Enum):
    """How the impact model turns one event into lost time (docs/impact-model.md, rule 2)."""

    DURATION = "duration"  # its active duration is lost
    EXCESS = "excess"  # the time beyond the threshold (details.excess_s) is lost, at the active fraction
    RECOVERY = "recovery"  # a configurable recovery time after it is lost, at the active fraction


@dataclass(frozen=True)
class EventType:
    """One row of the table."""

    name: str
    meaning: str  # one line: what happened
    label: str  # its name in reports (plural)
    cost: Cost
    interrupts: bool  # stops the employee's work (a refocus penalty may follow)
    of_app: bool  # ``app`` names an application (else the machine, the network or a probe target)
    versioned: bool  # an application failure whose versions reports compare to find one to blame
    recovery_s: float = 0.0  # the default recovery time of a Cost.RECOVERY type ...
    recovery: str = ""  # ... and what it stands for (the doc of its setting)
    # Time spent getting IT help: the impact model's support cause (version 2). It counts only where no measured
    # disruption already counts the moment, so the figures of version 1 are those of version 2 without it.
    support: bool = False
    from_agent: bool = True  # sent by agents (else the collector makes it: "support" comes from service-desk tickets)
    # A measurement sent at every occurrence (each boot, each sign-in), so that its durations are known; it is a
    # disruption, and costs time, only beyond its threshold (details.excess_s > 0): see is_disruption.
    routine: bool = False


# In order of overlap priority, the more fundamental cause first: a machine that went down explains
# everything on it; a lost network explains an unavailable application; a frozen application its slowness.
TABLE: tuple[EventType, ...] = (
    EventType("unexpected_shutdown", "the machine went down without a clean stop", "Unexpected shutdowns",
              Cost.RECOVERY, interrupts=True, of_app=False, versioned=False, recovery_s=600.0,
              recovery="boot, sign in, reopen the applications, redo unsaved work"),
    EventType("boot", "the device started: power-on to the sign-in screen", "Slow boots",
              Cost.EXCESS, interrupts=False, of_app=False, versioned=False, routine=True),
    EventType("logon", "an employee signed in: credentials accepted to a usable desktop", "Slow sign-ins",
              Cost.EXCESS, interrupts=False, of_app=False, versioned=False, routine=True),
    EventType("connectivity_loss", "the device lost its network or a required target", "Connectivity loss",
              Cost.DURATION, interrupts=True, of_app=False, versioned=False),
    EventType("crash", "an application died abnormally (signal, exception)", "Crashes",
              Cost.RECOVERY, interrupts=True, of_app=True, versioned=True, recovery_s=180.0,
              recovery="restart the application, find one's place and redo unsaved work"),
    EventType("hang", "an application stopped responding", "Hangs",
              Cost.DURATION, interrupts=True, of_app=True, versioned=True),
    EventType("app_unavailable", "an application's service failed (timeout, 5xx, TLS)", "Application unavailable",
              Cost.DURATION, interrupts=True, of_app=True, versioned=True),
    EventType("slow_system", "the whole machine was saturated (CPU, memory, I/O, disk)", "Slow system",
              Cost.EXCESS, interrupts=False, of_app=False, versioned=False),
    EventType("connectivity_degraded", "connectivity was up but slow or lossy", "Degraded connectivity",
              Cost.EXCESS, interrupts=False, of_app=False, versioned=False),
    EventType("slow_app", "an application or its service answered slower than its threshold", "Slow applications",
              Cost.EXCESS, interrupts=False, of_app=True, versioned=False),
    EventType("abnormal_exit", "a catalogued application exited with a non-zero status", "Abnormal exits",
              Cost.RECOVERY, interrupts=False, of_app=True, versioned=True),
    EventType("test", "emitted only by the test sensor", "Test events",
              Cost.RECOVERY, interrupts=False, of_app=False, versioned=False),
    EventType("support_session", "a remote-support session was active on the device", "Remote support sessions",
              Cost.DURATION, interrupts=False, of_app=False, versioned=False, support=True),  # app: the tool
    EventType("support", "the employee contacted or waited on the service desk (a ticket)", "Service-desk contacts",
              Cost.DURATION, interrupts=False, of_app=False, versioned=False, support=True, from_agent=False),
)

BY_NAME: dict[str, EventType] = {t.name: t for t in TABLE}
EVENT_TYPES: tuple[str, ...] = tuple(BY_NAME)
WIRE_TYPES: tuple[str, ...] = tuple(t.name for t in TABLE if t.from_agent)  # what an agent may send


def names(*, cost: Cost | None = None, of_app: bool | None = None, versioned: bool | None = None,
          interrupts: bool | None = None, support: bool | None = None) -> tuple[str, ...]:
    """The names of the types with the given properties, in priority order."""
    return tuple(t.name for t in TABLE
                 if (cost is None or t.cost is cost) and (of_app is None or t.of_app == of_app)
                 and (versioned is None or t.versioned == versioned)
                 and (interrupts is None or t.interrupts == interrupts)
                 and (support is None or t.support == support))


ROUTINE_TYPES: tuple[str, ...] = tuple(t.name for t in TABLE if t.routine)


SEVERITIES = ("info", "warning", "error", "critical")

# Detail keys the collector reads (every other detail is stored and shown, never interpreted).
EXCESS_S = "excess_s"  # Cost.EXCESS: seconds beyond the threshold
APP_VERSION = "app_version"  # the application's version, where the sensor knows it
CAUSE = "cause"  # connectivity_loss: the lowest layer that failed, one of CONNECTIVITY_CAUSES
INTERFACE_KIND = "interface_kind"  # connectivity events: the interface in use, one of INTERFACE_KINDS
WIFI_SIGNAL_DBM = "wifi_signal_dbm"  # connectivity events and heartbeats: the Wi-Fi signal in dBm, where on Wi-Fi
INTERFACE_KINDS = ("wired", "wifi", "vpn", "unknown")

# Causes of a connectivity loss, from the bottom layer up (the agent reports the lowest that failed).
CONNECTIVITY_CAUSES = ("no_link", "no_address", "no_route", "dns_failure", "internet_unreachable", "captive_portal",
                       "target_unreachable")


def is_disruption(event_type: str, details: dict) -> bool:
    """Whether an event is a disruption: always, but for a routine measurement (a boot, a sign-in) only when it
    took longer than its threshold (``details.excess_s`` > 0)."""
    if event_type not in ROUTINE_TYPES:
        return True
    excess = details.get(EXCESS_S)
    return isinstance(excess, (int, float)) and not isinstance(excess, bool) and excess > 0
