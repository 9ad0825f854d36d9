"""Boot and sign-in times on Windows from Diagnostics-Performance event 100 ("Windows has started up").

Windows writes one event 100 per boot to Microsoft-Windows-Diagnostics-Performance/Operational once the
first sign-in's desktop is responsive (the same source as Intune's startup performance). Its fields, in
milliseconds: ``MainPathBootTime`` runs from the kernel's start (``BootStartTime``) to the desktop shown,
less ``UserLogonWaitDuration``, the time the sign-in screen waited for the employee; within it,
``BootUserProfileProcessingTime`` and ``BootExplorerInitTime`` come after the credentials were accepted;
``BootPostBootTime`` follows until the system is responsive (Windows waits for it to be mostly idle).
``BootTime`` = ``MainPathBootTime`` + ``BootPostBootTime``, and ``BootEndTime`` - ``BootStartTime`` =
``BootTime`` + ``UserLogonWaitDuration``. So:

- boot: from ``BootStartTime`` for ``MainPathBootTime`` less the user-profile and Explorer times (the sign-in
  screen is up: the same figure as ``WinLogonStartTimeMS`` + ``OtherLogonInitActivityDuration`` +
  ``BootMachineProfileProcessingTime``);
- sign-in: from that moment plus ``UserLogonWaitDuration`` (the credentials accepted) for the user-profile,
  Explorer and post-boot times (a responsive desktop).

Only the boot's first sign-in is measured: later sign-ins write no event 100. The event is written a while
after the sign-in: the newest one is read at every poll until the one of this boot has been sent. XML
parsing is ``parse_windows_events``'.
"""

from __future__ import annotations

import psutil

from agent.sensors._helpers.boot_common import Boot, Logon
from agent.sensors._helpers.parse_windows_events import WinEvent, _int, _parse_system_time, parse_events
from contract.records import MAX_DURATION_S

CHANNEL = "Microsoft-Windows-Diagnostics-Performance/Operational"
PROVIDER = "Microsoft-Windows-Diagnostics-Performance"
BOOT_EVENT_ID = 100
SOURCE = "eventlog:100"
BOOT_SLACK_S = 120.0  # how far the kernel's boot time may lie after event 100's BootStartTime
# event 100's phase fields (milliseconds) sent in the boot's details, under these names
BOOT_PHASES = {"OSLoaderDuration": "os_loader_s", "BootKernelInitTime": "kernel_init_s",
               "BootDriverInitTime": "driver_init_s", "BootDevicesInitTime": "devices_init_s",
               "BootSmssInitTime": "smss_init_s", "BootCriticalServicesInitTime": "critical_services_s",
               "BootMachineProfileProcessingTime": "machine_profile_s", "MainPathBootTime": "main_path_s"}
LOGON_PHASES = {"BootUserProfileProcessingTime": "user_profile_s", "BootExplorerInitTime": "explorer_init_s",
                "BootPostBootTime": "post_boot_s", "UserLogonWaitDuration": "logon_wait_s"}


def _seconds(ev: WinEvent, name: str) -> float | None:
    """A millisecond field as seconds, None if it is missing or out of bounds."""
    ms = _int(ev.data.get(name))
    return ms / 1000 if ms is not None and 0 <= ms <= MAX_DURATION_S * 1000 else None


def measurements(ev: WinEvent) -> tuple[Boot, Logon] | None:
    """The boot and the first sign-in of one event 100 record, or None if it is not one or lacks the fields."""
    if (ev.provider, ev.event_id) != (PROVIDER, BOOT_EVENT_ID):
        return None
    started = ev.data.get("BootStartTime", "")
    main_path = _seconds(ev, "MainPathBootTime")
    try:
        start = _parse_system_time(started)
    except ValueError:
        return None
    if main_path is None:
        return None
    profile = _seconds(ev, "BootUserProfileProcessingTime") or 0.0
    explorer = _seconds(ev, "BootExplorerInitTime") or 0.0
    post_boot = _seconds(ev, "BootPostBootTime") or 0.0
    wait = _seconds(ev, "UserLogonWaitDuration") or 0.0  # version 1 of the event (Windows 7) lacks it
    boot_s = main_path - profile - explorer if main_path >= profile + explorer else main_path
    boot = Boot(key=f"windows:{started}", start=start, ready=start + boot_s, source=SOURCE,
                phases=_phases(ev, BOOT_PHASES))
    logon_start = boot.ready + wait
    logon = Logon(key=f"windows-logon:{started}", start=logon_start, ready=logon_start + profile + explorer + post_boot,
                  source=SOURCE, phases=_phases(ev, LOGON_PHASES))
    return boot, logon


def _phases(ev: WinEvent, names: dict[str, str]) -> dict[str, float]:
    return {key: value for field, key in names.items() if (value := _seconds(ev, field)) is not None}


MAX_READS = 120  # Windows writes event 100 minutes after the boot: 120 reads (an hour at 30 s) without it, none comes


class WindowsReader:
    """Reads the newest event 100 (the boot's key is its own ``BootStartTime``) until this boot's was sent."""

    def __init__(self, query=None, boot_time=None):
        self._query = query or _newest_boot_event_xml
        self._boot_time = boot_time or psutil.boot_time
        self._this_boot_sent = False
        self._reads = 0  # of the log since the agent started

    def read(self, boot_key: str, done: set[str]) -> tuple[Boot | None, list[Logon]]:
        """The newest boot and its sign-in (``boot_key`` is not needed: the event names its boot)."""
        if self._this_boot_sent or self._reads >= MAX_READS:
            return None, []  # sent; or Windows wrote no event 100 for this boot (log off, disabled): stop asking
        self._reads += 1
        for ev in reversed(parse_events(self._query())):
            found = measurements(ev)
            if found:
                boot, logon = found
                # this boot's own event (Fast Startup resumes an older kernel session: its boot time is earlier)
                self._this_boot_sent = {boot.key, logon.key} <= done and boot.start >= self._boot_time() - BOOT_SLACK_S
                return boot, [logon]
        return None, []

def _newest_boot_event_xml() -> str:
    from agent.sensors.eventlog import newest_record_xml

    return newest_record_xml(CHANNEL, BOOT_EVENT_ID)
