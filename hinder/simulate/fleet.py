"""The simulated fleet and its records: what each device experiences, as wire events and heartbeats.

The fleet has sites (one with flaky Wi-Fi, one that loses its internet link
for an hour), departments of realistic sizes, a catalogue of applications with
versions (one version of one app crashes far more, one app hangs a lot),
working hours in each site's local time with a lunch dip, and quiet weekends.
Every record is derived from the seed: the same seed, fleet size, days and end
time give the same records, down to the event ids (valid UUIDv7 whose time is
the record's time). Each event's ``active_s`` is computed from the same
activity profile that the device's heartbeats report, so the two agree.

Each device also has a usage profile over its applications: per wall-clock
hour it sends its employee's focus time per application (``Usage``, at most the
hour's active seconds), and each application's disruptions are drawn from
that focus time at the application's rate per hour of use (SAP GUI crashes
most per hour of use, Teams most in total). The pulse is on in the simulated
fleet: after the first significant disruption of a working day the employee
is asked, and answers (``Feedback``) as people do after such a disruption,
or not at all.

Each device has a cohort that its heartbeats carry: hardware vendor and model
(one older 8 GiB model hangs and slows down far more), CPU class, memory and
OS build. During the period two changes roll out over a few days, each device
adopting at its own hour: an update of the Office applications
(:data:`APP_UPDATE`; Outlook's new version crashes and hangs twice as often per hour of
use) and a Windows cumulative update (:data:`OS_UPDATE`: a new OS build that
changes nothing). Every application disruption carries the version running at
its time. Uncatalogued executables (:data:`UNCATALOGUED`, one far worse than
the others) crash and hang too, under their own names. Each working morning a
device that was off boots and its employee signs in (``boot`` and ``logon``
measurements, waited for, beyond their thresholds only on slow models and
builds). Laptops are mostly on Wi-Fi, each at its own typical signal (some
far from any access point, and those lose their connection more often);
connectivity events name their interface (wired, Wi-Fi, VPN) and the signal,
and heartbeats carry the signal and the agent's running count of blips,
restarted with the agent.

With a fleet identity key the heartbeats carry identity keys (each device has
a host name, an asset tag and an employee account), and :meth:`Fleet.tickets`
gives the service-desk tickets that follow the device's disruptions (a share
of crashes, long hangs, outages and shutdowns, more for longer or repeated
ones), a few with no disruption before them, and :meth:`Fleet.stranger_tickets`
those of callers without a device, in the generic column set of
``POST /api/v1/support/tickets`` (names in clear, as an ITSM sends them).

Only the standard library and ``contract`` are used, so the benchmarks and
tests can import the generator without the collector's stack.
"""

from __future__ import annotations

import bisect
import math
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import NamedTuple

from contract.answers import BUTTONS, UNANSWERED
from contract.identity import identity_key
from contract.records import format_time, make_batch, parse_time

HOUR = 3600.0
DAY = 86400.0
LIVE_SPEEDUP = 60.0  # live rounds: disruptions of an hour per minute
LIVE_ACTIVITY = (0.5, 0.95)  # live rounds: the share of each round the employee is active
LIVE_DAY_S = 9 * 3600.0  # live rounds: a working day's time between two mornings of a device


@dataclass(frozen=True)
class Site:
    """An office: its share of the fleet, UTC offset and network quality."""

    name: str
    share: float
    utc_offset_h: float
    wifi_share: float  # devices connected over Wi-Fi
    wifi_loss_per_h: float  # Wi-Fi drops per active hour on a Wi-Fi device


@dataclass(frozen=True)
class SimApp:
    """A simulated application: catalogue entry, versions, how much it is used and how often it misbehaves.

    Rates are per hour of focus on the application; a web app has no window of its own (it runs in a browser),
    so its rates are per active hour of a device that uses it.
    """

    name: str
    executables: tuple[str, ...]
    versions: tuple[tuple[str, float], ...]  # (version, share of devices)
    usage: float  # share of devices that use it
    focus_weight: float  # its share of a user's focused time, relative to the other apps of the device
    crash_per_h: float = 0.03
    hang_per_h: float = 0.13
    slow_per_h: float = 0.4
    exit_per_h: float = 0.03  # abnormal exits
    start_threshold_s: float = 10.0
    bad_versions: tuple[tuple[str, float, float], ...] = ()  # (version, crash multiplier, hang multiplier)
    web: bool = False  # a web app probed by URL: slow responses and outages instead of crashes

    def multipliers(self, version: str) -> tuple[float, float]:
        """How much more often this version crashes, and hangs, than the app's baseline."""
        return next(((c, h) for v, c, h in self.bad_versions if v == version), (1.0, 1.0))


SITES = (
    Site("Paris", 0.34, 1, 0.35, 0.02),
    Site("Lyon", 0.18, 1, 0.80, 0.45),  # the warehouse-style office with flaky Wi-Fi
    Site("Berlin", 0.20, 1, 0.40, 0.02),  # its internet link goes down once
    Site("Madrid", 0.14, 1, 0.40, 0.02),
    Site("London", 0.14, 0, 0.40, 0.02),
)
FLAKY_WIFI_SITE = "Lyon"
OUTAGE_SITE = "Berlin"

DEPARTMENTS = (("Sales", 0.24), ("Engineering", 0.22), ("Operations", 0.20), ("Finance", 0.13), ("Support", 0.13), ("HR", 0.08))

APPS = (
    # the Office update of the period (APP_UPDATE) brings an Outlook that crashes and hangs twice as often
    SimApp("outlook", ("OUTLOOK.EXE", "Microsoft Outlook"), (("16.0.17928", 0.7), ("16.0.18025", 0.3)), 0.95, 3.0,
           bad_versions=(("16.0.18129", 2.0, 2.0),)),
    SimApp("teams", ("ms-teams.exe", "Microsoft Teams", "teams"), (("24.1.100", 0.45), ("24.2.300", 0.55)), 0.98, 2.5,
           crash_per_h=0.04, bad_versions=(("24.1.100", 8.0, 1.0),)),
    SimApp("excel", ("EXCEL.EXE", "Microsoft Excel"), (("16.0.17928", 0.7), ("16.0.18025", 0.3)), 0.80, 2.0,
           hang_per_h=0.1),
    SimApp("word", ("WINWORD.EXE", "Microsoft Word"), (("16.0.17928", 0.7), ("16.0.18025", 0.3)), 0.75, 1.2),
    SimApp("chrome", ("chrome.exe", "Google Chrome", "chrome"), (("131.0.6778", 0.8), ("130.0.6723", 0.2)), 0.90, 3.0,
           slow_per_h=0.3),
    SimApp("firefox", ("firefox.exe", "firefox"), (("133.0", 0.9), ("132.0.2", 0.1)), 0.25, 1.5),
    # the worst per hour of use: few crashes in total (a third of the fleet uses it), the most per hour
    SimApp("sap-gui", ("saplogon.exe", "SAPGUI"), (("7.70", 0.6), ("8.00", 0.4)), 0.35, 2.5,
           crash_per_h=0.35, hang_per_h=1.0, start_threshold_s=20.0),
    SimApp("zoom", ("Zoom.exe", "zoom.us", "zoom"), (("6.2.11", 0.8), ("6.1.5", 0.2)), 0.45, 0.8),
    SimApp("vscode", ("Code.exe", "code", "Electron"), (("1.95.3", 0.85), ("1.94.2", 0.15)), 0.20, 3.0),
    SimApp("salesforce", (), (("web", 1.0),), 0.40, 0.0, crash_per_h=0.0, hang_per_h=0.0, slow_per_h=0.05,
           exit_per_h=0.0, web=True),
)
APPS_BY_NAME = {a.name: a for a in APPS}


@dataclass(frozen=True)
class OtherApp:
    """An application outside the catalogue: its executable on each OS as the agent names it (the base name), its
    version, the share of the devices of those OSes that have it, and its disruptions per hour of focus on it."""

    executables: tuple[tuple[str, str], ...]  # (os, executable)
    version: str
    share: float
    crash_per_h: float
    hang_per_h: float


# Applications outside the catalogue: their disruptions carry the executable's name (the collector discovers the
# worst ones, the rest are "other"); Acrobat Reader is clearly the worst. Their focus time is sent as "other".
UNCATALOGUED = (
    OtherApp((("windows", "AcroRd32.exe"), ("macos", "AdobeReader")), "24.004.20220", 0.55, 0.25, 0.4),
    OtherApp((("windows", "7zFM.exe"),), "24.08", 0.40, 0.03, 0.08),
    OtherApp((("windows", "notepad++.exe"),), "8.7.1", 0.35, 0.04, 0.03),
    OtherApp((("windows", "vlc.exe"), ("macos", "VLC"), ("linux", "vlc")), "3.0.21", 0.30, 0.08, 0.03),
    OtherApp((("windows", "putty.exe"),), "0.81", 0.15, 0.02, 0.02),
    OtherApp((("windows", "KeePassXC.exe"), ("macos", "KeePassXC"), ("linux", "keepassxc")), "2.7.9", 0.20, 0.02, 0.02),
    OtherApp((("linux", "gimp-2.10"),), "2.10.36", 0.30, 0.10, 0.10),
    OtherApp((("linux", "soffice.bin"), ("macos", "soffice")), "24.8.2", 0.40, 0.05, 0.05),  # LibreOffice
)
OTHER = "other"  # focus time outside the catalogue, as the agent sends it
OTHER_FOCUS_WEIGHT = 1.5
USAGE_PERIOD_S = 3600.0  # app time is sent per wall-clock hour
HOURLY_USE_BASE, HOURLY_USE_PER_SHARE = 0.25, 4.0  # chance that an app is used in an hour, from its share of focus
FOCUS_OF_ACTIVE = (0.85, 0.98)  # share of an hour's active time with a window focused (the rest: desktop, lock screen)

# The pulse, on in the simulated fleet with the agent's default [pulse] settings: one question at most per device
# and local day, on a weekday within these local hours, after a disruption over the bar that the employee was at the
# device for; some people are in do-not-disturb or presenting (not asked), some never answer.
PULSE_HOURS = (8, 18)
PULSE_LOOKBACK_S = 60.0  # an instantaneous event finds the employee at the device when active this long before it
PULSE_MIN_HANG_S = 30.0
PULSE_MIN_LOSS_S = 300.0
PULSE_DO_NOT_DISTURB = 0.1
PULSE_UNANSWERED = 0.3
# What people answer (weights of contract.answers.BUTTONS: none, a few minutes, more than 15 minutes, lost work)
PULSE_ANSWERS = {
    "crash": (0.12, 0.28, 0.25, 0.35),
    "short_hang": (0.35, 0.50, 0.10, 0.05),  # under 2 minutes
    "long_hang": (0.10, 0.40, 0.35, 0.15),
    "connectivity_loss": (0.12, 0.38, 0.42, 0.08),
}

# Service-desk tickets: how callers reach the desk (as ITSMs spell it), and which disruptions lead to a ticket.
CHANNEL_MIX = (("Phone", 0.35), ("E-mail", 0.25), ("Self-service", 0.25), ("Chat", 0.10), ("Walk-in", 0.05))
# event type -> (chance that one leads to a ticket, chance that the ticket is work-stopping, category)
TICKET_CAUSES = {
    "crash": (0.05, 0.15, "Software"), "hang": (0.02, 0.10, "Software"),
    "connectivity_loss": (0.04, 0.35, "Network"), "app_unavailable": (0.10, 0.60, "Application"),
    "unexpected_shutdown": (0.35, 0.50, "Hardware"),
}
MIN_TICKET_DURATION_S = {"hang": 60.0, "connectivity_loss": 120.0}  # shorter ones nobody calls about
REPEAT_WINDOW_S = 8 * HOUR  # repeats within it raise the chance; one ticket per cause within it
BACKGROUND_TICKETS_PER_DAY = 0.01  # per device and working day: requests with no measured disruption before them
STRANGER_TICKETS_PER_DAY = 0.002  # per device and day: callers on no device of the fleet (contractors, kiosks)

# (OS, share of the fleet, its releases: (os_version, os_build))
OSES = (("windows", 0.70, (("10.0.19045", "19045.5131"), ("10.0.22631", "22631.4460"))),
        ("macos", 0.20, (("14.7.1", "23H222"), ("15.1.1", "24B91"))),
        ("linux", 0.10, (("6.1", "debian 12"), ("6.8", "ubuntu 22.04"))))
# Windows 11 devices already on 24H2 rather than 23H2 (drawn from the cohort's stream: the fleet stays as it was)
WINDOWS_24H2 = ("10.0.22631", ("10.0.26100", "26100.2314"), 0.4)  # (23H2 version, (version, build), share)
OLD_OS_VERSIONS = ("10.0.19045", "6.1")  # more slow-system spells
SLOW_BOOT_BUILD, SLOW_BOOT_FACTOR = "19045.5131", 1.4  # Windows 10 boots slower


@dataclass(frozen=True)
class HwModel:
    """A hardware model as the agent reads it (DMI, WMI, sysctl) and how it behaves."""

    vendor: str
    model: str
    oses: tuple[str, ...]
    share: float  # among the models of its OS and form factor
    laptop: bool
    cpu_classes: tuple[str, ...]
    memory_gib: tuple[int, ...]
    boot_s: float  # typical power-on to sign-in screen
    strain: float = 1.0  # multiplies slow-system spells (and, half as much, hangs): little memory, a slow disk


HW_MODELS = (
    HwModel("LENOVO", "ThinkPad T14 Gen 3", ("windows", "linux"), 0.26, True, ("Intel Core i5", "Intel Core i7"),
            (16,), 31),
    HwModel("LENOVO", "ThinkPad X1 Carbon Gen 11", ("windows", "linux"), 0.10, True, ("Intel Core i7",), (16, 32), 27),
    HwModel("LENOVO", "ThinkPad T14s Gen 4", ("windows", "linux"), 0.06, True, ("AMD Ryzen 7",), (32,), 26),
    HwModel("Dell Inc.", "Latitude 5440", ("windows", "linux"), 0.18, True, ("Intel Core i5",), (16,), 33),
    HwModel("Dell Inc.", "Latitude 7440", ("windows",), 0.10, True, ("Intel Core i7",), (16, 32), 29),
    HwModel("HP", "HP EliteBook 840 G9 Notebook PC", ("windows",), 0.12, True, ("Intel Core i5", "Intel Core i7"),
            (16,), 32),
    # the weak one: a 2020 laptop with 8 GiB, slow to boot and to sign in, hangs and slow-system spells
    HwModel("HP", "HP ProBook 450 G7", ("windows",), 0.18, True, ("Intel Core i5",), (8,), 58, strain=3.0),
    HwModel("Dell Inc.", "OptiPlex 7010", ("windows", "linux"), 1.0, False, ("Intel Core i5", "Intel Core i7"),
            (16, 32), 35),
    HwModel("Apple", "MacBookPro18,3", ("macos",), 0.5, True, ("Apple M1 Pro",), (16, 32), 24),
    HwModel("Apple", "Mac14,2", ("macos",), 0.5, True, ("Apple M2",), (16,), 21),
    HwModel("Apple", "Mac14,3", ("macos",), 1.0, False, ("Apple M2",), (16,), 20),
)
WEAK_MODEL = "HP ProBook 450 G7"
DESKTOP_SHARE_WIRED = 0.5  # of the devices on a wired network, the desktops (the others: docked laptops)



@dataclass(frozen=True)
class Rollout:
    """A change reaching a share of the devices, each at its own whole hour: from ``begin`` (a share of the period)
    over ``days`` (at most ``span`` of the period)."""

    old: str  # the version or build replaced (for an app update: any)
    new: str
    share: float
    begin: float
    days: float
    span: float


# The changes of the period: an Office update (Outlook's new version crashes and hangs twice as often: SimApp.bad_versions)
# over a few days, and a Windows cumulative update within a day or two that changes nothing.
APP_UPDATE = Rollout("", "16.0.18129", 0.85, 0.3, 3.0, 0.45)
APP_UPDATE_APPS = ("outlook", "excel", "word")  # updated together
OS_UPDATE = Rollout("22631.4460", "22631.4602", 0.70, 0.5, 1.5, 0.2)

# Boot and sign-in: measured at every one, lost time beyond the agent's default thresholds.
BOOT_THRESHOLD_S, LOGON_THRESHOLD_S = 60.0, 30.0
LOGON_S = 14.0  # typical credentials-to-desktop time; the weak model takes longer
SIGN_IN_PAUSE_S = (3.0, 15.0)  # between the sign-in screen and the credentials

# Wi-Fi: each device's typical signal (dBm); bands as the collector counts them: good from -67, poor below -80.
GOOD_DBM, POOR_DBM = -67.0, -80.0
FAR_FROM_AP_SHARE = 0.10  # Wi-Fi devices with a poor typical signal (far from any access point)
VPN_SHARE = 0.15  # connectivity events of a Wi-Fi laptop that happen over the VPN (working from home)
# per signal band (good, fair, poor): extra connectivity losses and degraded spells per active hour, and blips
# (outages too short to report) per powered hour; wired devices blip WIRED_BLIPS_PER_H
EXTRA_LOSS_PER_H = (0.0, 0.04, 0.15)
EXTRA_DEGRADED_PER_H = (0.0, 0.05, 0.30)
BLIPS_PER_H = (0.3, 1.0, 3.0)
WIRED_BLIPS_PER_H = 0.05
AGENT_VERSIONS = (("0.1.0", 0.80), ("0.0.9", 0.15), ("0.0.8", 0.05))
_WIRED_CAUSES = (("dns_failure", 0.4), ("target_unreachable", 0.35), ("internet_unreachable", 0.25))
_SLOW_RESOURCES = ("cpu", "memory", "io", "disk")
_TOP_PROCESSES = ("MsMpEng.exe", "chrome", "Teams", "svchost.exe", "java", "OneDrive.exe", "mds_stores")


@dataclass
class Device:
    """One simulated endpoint and its fixed inventory."""

    index: int
    device_id: str
    site: Site
    department: str
    os: str
    os_version: str
    agent_version: str
    apps: dict[str, str]  # app name -> installed version
    focus: dict[str, float]  # app name (or OTHER) -> share of the focused time
    wifi: bool
    always_on: bool  # a desktop left on overnight: heartbeats with no activity
    silent_from: float | None  # the agent stops reporting at this time
    spool_dropped: int
    hw: HwModel
    cpu_class: str
    memory_bytes: int
    os_build: str  # at the start of the period
    signal_dbm: float | None  # typical Wi-Fi signal; None on a wired network
    others: tuple[tuple[str, OtherApp], ...]  # the uncatalogued apps it has: (executable on its OS, app)
    app_update_at: float | None  # when APP_UPDATE reaches the device (a whole hour), if it does in the period
    os_update_at: float | None  # likewise OS_UPDATE
    agent_restart_at: float  # the agent restarts (an update): its running counts start again

    def version(self, app: str, at: float) -> str:
        """The version of a catalogued app at time ``at`` (after the update, the new one)."""
        if self.app_update_at is not None and at >= self.app_update_at and app in APP_UPDATE_APPS:
            return APP_UPDATE.new
        return self.apps.get(app, "")

    def build(self, at: float) -> str:
        """The OS build at time ``at``."""
        return OS_UPDATE.new if self.os_update_at is not None and at >= self.os_update_at else self.os_build

    @property
    def band(self) -> int | None:
        """The band of the typical Wi-Fi signal: 0 good, 1 fair, 2 poor; None on a wired network."""
        return None if self.signal_dbm is None else _band(self.signal_dbm)


@dataclass(frozen=True)
class Outage:
    """A fleet-level incident that hits every device of a site (or of an app) at once."""

    kind: str  # "site" or "app"
    target: str  # site name or app name
    start: float
    duration_s: float


@dataclass
class _Segment:
    start: float
    end: float
    fraction: float  # share of the time the employee is active


@dataclass
class _DayPlan:
    """When a device is powered on, and how active its user is, over the simulated period."""

    powered: list[tuple[float, float]] = field(default_factory=list)
    activity: list[_Segment] = field(default_factory=list)  # sorted, disjoint

    shutdowns: list[tuple[float, float]] = field(default_factory=list)  # (last alive, downtime)
    days: list[tuple[float, float]] = field(default_factory=list)  # worked days: (powered on, employee at work)
    mornings: list[tuple[str, float, float]] = field(default_factory=list)  # ("boot" or "logon", start, seconds)

    @cached_property
    def ends(self) -> list[float]:
        """Segment ends, for bisecting; first read once the plan is complete."""
        return [s.end for s in self.activity]

    def shut_down(self, at: float, downtime_s: float) -> None:
        """The machine dies at ``at`` and boots ``downtime_s`` later: no power and no activity in between."""
        back = at + downtime_s
        powered = []
        for s, e in self.powered:
            powered += [(s, at)] + ([(back, e)] if back < e else []) if s < at < e else [(s, e)]
        activity = []
        for seg in self.activity:
            if seg.end <= at or seg.start >= back:
                activity.append(seg)
                continue
            if seg.start < at:
                activity.append(_Segment(seg.start, at, seg.fraction))
            if seg.end > back:
                activity.append(_Segment(back, seg.end, seg.fraction))
        self.powered, self.activity = powered, activity
        self.shutdowns.append((at, downtime_s))


def _band(dbm: float) -> int:
    """0, 1, 2: a good, fair or poor Wi-Fi signal."""
    return 0 if dbm >= GOOD_DBM else 1 if dbm >= POOR_DBM else 2


def _pick(rng: random.Random, weighted) -> str:
    names = [w[0] for w in weighted]
    return rng.choices(names, weights=[w[1] for w in weighted])[0]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _uuid7(rng: random.Random, ts: float) -> str:
    """A UUIDv7 for time ``ts`` whose random bits come from ``rng`` (reproducible)."""
    value = (int(ts * 1000) & ((1 << 48) - 1)) << 80 | rng.getrandbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Fleet:
    """A reproducible fleet: devices, incidents, and each device's records over ``days`` ending at ``end``."""

    def __init__(self, devices: int, days: float, seed: int = 1, end: float | None = None, heartbeat_s: float = 300.0,
                 event_scale: float = 1.0, identity_secret: bytes | None = None):
        if devices < 1:
            raise ValueError("devices must be at least 1")
        if not 0 < days <= 30:
            raise ValueError("days must be between 0 and 30 (the collector keeps records up to 35 days old)")
        if not 30 <= heartbeat_s <= 3600:
            raise ValueError("heartbeat_s must be between 30 and 3600")
        if not 0 < event_scale <= 100:
            raise ValueError("event_scale must be between 0 and 100")
        self.seed = seed
        self.days = days
        self.end = float(int(time.time() if end is None else end))
        self.start = self.end - days * DAY
        self.heartbeat_s = heartbeat_s
        self.event_scale = event_scale  # multiplies every background disruption rate (benchmarks)
        self.identity_secret = identity_secret  # the fleet's identity key: heartbeats carry identity keys
        rng = random.Random(f"fleet:{seed}")
        self.devices = [self._make_device(i, rng) for i in range(devices)]
        self.outages = self._make_outages(rng)

    # ------------------------------------------------------------ the fleet

    def _make_device(self, index: int, rng: random.Random) -> Device:
        site = rng.choices(SITES, weights=[s.share for s in SITES])[0]
        os_name = _pick(rng, OSES)
        apps = {a.name: _pick(rng, a.versions) for a in APPS if rng.random() < a.usage}
        silent_from = None
        if rng.random() < 0.04:  # a broken or uninstalled agent: stops reporting
            silent_from = self.start + rng.uniform(0.3, 0.9) * (self.end - self.start)
        department = _pick(rng, DEPARTMENTS)
        os_version, os_build = rng.choice(dict((o[0], o[2]) for o in OSES)[os_name])
        agent_version = _pick(rng, AGENT_VERSIONS)
        wifi = rng.random() < site.wifi_share
        always_on = rng.random() < 0.10
        spool_dropped = rng.choice((0,) * 19 + (rng.randint(1, 400),))
        cohort = random.Random(f"cohort:{self.seed}:{index}")  # its own stream: the fleet's stays as it was
        if os_version == WINDOWS_24H2[0] and cohort.random() < WINDOWS_24H2[2]:
            os_version, os_build = WINDOWS_24H2[1]
        laptop = wifi or cohort.random() >= DESKTOP_SHARE_WIRED
        models = [m for m in HW_MODELS if os_name in m.oses and m.laptop == laptop]
        hw = cohort.choices(models, weights=[m.share for m in models])[0]
        others = tuple((exe, o) for o in UNCATALOGUED
                       if (exe := dict(o.executables).get(os_name)) and cohort.random() < o.share)
        return Device(
            index=index,
            device_id=f"sim-{self.seed}-{index:06d}",
            site=site,
            department=department,
            os=os_name,
            os_version=os_version,
            agent_version=agent_version,
            apps=apps,
            focus=self._focus_profile(apps, random.Random(f"focus:{self.seed}:{index}")),
            wifi=wifi,
            always_on=always_on,
            silent_from=silent_from,
            spool_dropped=spool_dropped,
            hw=hw,
            cpu_class=cohort.choice(hw.cpu_classes),
            memory_bytes=cohort.choice(hw.memory_gib) * 2**30,
            os_build=os_build,
            signal_dbm=self._typical_signal(site, cohort) if wifi else None,
            others=others,
            app_update_at=self._adoption(cohort, APP_UPDATE) if set(apps) & set(APP_UPDATE_APPS) else None,
            os_update_at=self._adoption(cohort, OS_UPDATE) if os_build == OS_UPDATE.old else None,
            agent_restart_at=cohort.uniform(self.start, self.end),
        )

    def _adoption(self, rng: random.Random, rollout: Rollout) -> float | None:
        """When a change reaches a device (a whole hour within the rollout), or None if it does not in the period."""
        adopts, when = rng.random() < rollout.share, rng.random()  # as many draws either way
        if not adopts:
            return None
        period = self.end - self.start
        at = self.start + period * rollout.begin + when * min(rollout.days * DAY, rollout.span * period)
        at = math.ceil(at / HOUR) * HOUR
        return at if at < self.end else None

    @staticmethod
    def _typical_signal(site: Site, rng: random.Random) -> float:
        """A Wi-Fi device's usual signal in dBm: worse at the flaky site, poor for those far from any access point."""
        if rng.random() < FAR_FROM_AP_SHARE:
            return rng.uniform(-87.0, -81.0)
        return (-70.0 if site.name == FLAKY_WIFI_SITE else -57.0) + rng.gauss(0, 5)

    def _make_outages(self, rng: random.Random) -> list[Outage]:
        """One site-wide internet outage and one web-app outage, in working hours of a weekday."""
        site = next(s for s in SITES if s.name == OUTAGE_SITE)
        return [
            Outage("site", site.name, self._working_moment(rng, site.utc_offset_h, 10.5), rng.uniform(40, 75) * 60),
            Outage("app", "salesforce", self._working_moment(rng, 1, 15.0), rng.uniform(20, 35) * 60),
        ]

    def _working_moment(self, rng: random.Random, utc_offset_h: float, local_hour: float) -> float:
        """A weekday at ``local_hour`` inside the simulated period (the latest one that fits)."""
        day = math.floor((self.end + utc_offset_h * HOUR) / DAY)
        while True:
            moment = day * DAY - utc_offset_h * HOUR + local_hour * HOUR + rng.uniform(-0.5, 0.5) * HOUR
            weekday = datetime.fromtimestamp(day * DAY, tz=timezone.utc).weekday()
            if weekday < 5 and moment + 2 * HOUR < self.end:
                return max(moment, self.start)
            if moment < self.start:  # no weekday in the period: the latest moment that fits
                return max(self.start, min(self.end - 2 * HOUR, moment + (self.end - self.start) // DAY * DAY))
            day -= 1

    @staticmethod
    def _focus_profile(apps: dict[str, str], rng: random.Random) -> dict[str, float]:
        """Each installed app's share of the device's focused time (its own stream: the fleet's stays as it was)."""
        weights = {a.name: a.focus_weight * rng.lognormvariate(0, 0.5) for a in APPS if a.name in apps and not a.web}
        weights[OTHER] = OTHER_FOCUS_WEIGHT * rng.lognormvariate(0, 0.5)
        total = sum(weights.values())
        return {name: w / total for name, w in weights.items()}

    @staticmethod
    def app_names() -> list[str]:
        """The simulated applications' names."""
        return [a.name for a in APPS]

    @staticmethod
    def apps_toml() -> str:
        """The simulated catalogue as the collector config's ``apps`` list (TOML)."""
        names = ", ".join(f'"{name}"' for name in Fleet.app_names())
        return f"# applications of `hinder simulate`; uncatalogued ones are labelled app=\"other\"\napps = [{names}]\n"

    # ------------------------------------------------------------ one device

    def _plan(self, dev: Device, rng: random.Random) -> _DayPlan:
        """When the device is on and how active its user is, over the whole period."""
        plan = _DayPlan()
        off = dev.site.utc_offset_h * HOUR
        first_day = math.floor((self.start + off) / DAY)
        last_day = math.floor((self.end + off) / DAY)
        for day in range(first_day, last_day + 1):
            midnight = day * DAY - off
            weekday = datetime.fromtimestamp(day * DAY, tz=timezone.utc).weekday()
            works = rng.random() < (0.93 if weekday < 5 else 0.06)
            if not works:
                continue
            if weekday < 5:
                begin = midnight + HOUR * min(10.0, max(6.5, rng.gauss(8.4, 0.5)))
                finish = begin + HOUR * min(11.0, max(6.0, rng.gauss(8.8, 0.6)))
                lunch = midnight + HOUR * rng.uniform(12.0, 12.75)
                lunch_end = lunch + rng.uniform(35, 65) * 60
                finish = max(finish, lunch_end + HOUR)
                plan.activity += [
                    _Segment(begin, lunch, rng.uniform(0.6, 0.92)),
                    _Segment(lunch, lunch_end, rng.uniform(0.0, 0.08)),
                    _Segment(lunch_end, finish, rng.uniform(0.55, 0.9)),
                ]
            else:
                begin = midnight + HOUR * rng.uniform(9.5, 15.0)
                finish = begin + HOUR * rng.uniform(1.0, 3.5)
                plan.activity.append(_Segment(begin, finish, rng.uniform(0.5, 0.85)))
            plan.powered.append((begin - rng.uniform(3, 15) * 60, finish + rng.uniform(3, 20) * 60))
            plan.days.append((plan.powered[-1][0], begin))
        if dev.always_on:
            plan.powered = [(self.start - DAY, self.end + DAY)]
        plan.powered = [(max(s, self.start), min(e, self.end, dev.silent_from or self.end)) for s, e in plan.powered]
        plan.powered = [(s, e) for s, e in plan.powered if e > s]
        return plan

    def _mornings(self, dev: Device, plan: _DayPlan, rng: random.Random) -> None:
        """Each worked day's boot (of a device that was off) and sign-in, with its employee waiting through them."""
        waits = []
        for on, begin in plan.days:
            boot = not dev.always_on and on > self.start
            steps = self._morning(dev, on if boot else None, begin, rng)
            if steps[0][1] > self.start:
                plan.mornings += steps
                waits.append(_Segment(steps[0][1], steps[-1][1] + steps[-1][2], 1.0))
        plan.activity = sorted(plan.activity + waits, key=lambda seg: seg.start)

    @staticmethod
    def _morning(dev: Device, on: float | None, begin: float, rng: random.Random) -> list[tuple[str, float, float]]:
        """A boot from ``on`` (None: the device was on) then a sign-in, done by ``begin``; (type, start, seconds)."""
        logon = min(60.0, max(5.0, LOGON_S * (1.8 if dev.hw.strain > 1 else 1.0) * rng.lognormvariate(0, 0.45)))
        if on is None:
            return [("logon", begin - logon - rng.uniform(*SIGN_IN_PAUSE_S), logon)]
        factor = SLOW_BOOT_FACTOR if dev.build(on) == SLOW_BOOT_BUILD else 1.0
        boot = min(100.0, max(15.0, dev.hw.boot_s * factor * rng.lognormvariate(0, 0.2)))
        return [("boot", on, boot), ("logon", on + boot + rng.uniform(*SIGN_IN_PAUSE_S), logon)]

    def _shutdowns(self, plan: _DayPlan, rng: random.Random) -> None:
        """Rare unexpected shutdowns (power loss, kernel panic): about two per device and year."""
        if plan.powered and rng.random() < 0.005 * self.days:
            on, off = rng.choice(plan.powered)
            plan.shut_down(rng.uniform(on, off), rng.uniform(60, 600))

    @staticmethod
    def _active(plan: _DayPlan, start: float, end: float) -> float:
        """Active seconds in [start, end] (segments are sorted and disjoint)."""
        total = 0.0
        for seg in plan.activity[max(0, bisect.bisect_right(plan.ends, start)):]:
            if seg.start >= end:
                break
            total += max(0.0, min(seg.end, end) - max(seg.start, start)) * seg.fraction
        return total

    def identity_keys(self, dev: Device) -> dict[str, str | None]:
        """The identity keys the device's agent sends (none without the fleet's identity key)."""
        if self.identity_secret is None:
            return {}
        return {f"{kind}_key": identity_key(self.identity_secret, kind, name) for kind, name in names(dev).items()}

    @staticmethod
    def _blips_per_h(dev: Device) -> float:
        """Connectivity blips (outages too short to report) per powered hour."""
        return WIRED_BLIPS_PER_H if dev.band is None else BLIPS_PER_H[dev.band]

    def _blips(self, dev: Device, plan: _DayPlan, rng: random.Random) -> list[float]:
        """The times of the device's blips over the period, in order."""
        out = []
        for on, off in plan.powered:
            out += [rng.uniform(on, off) for _ in range(_poisson(rng, self._blips_per_h(dev) * (off - on) / HOUR))]
        return sorted(out)

    def _heartbeats(self, dev: Device, plan: _DayPlan, rng: random.Random, blips=None) -> list[dict]:
        """The device's heartbeats while powered on. ``blips`` gives the agent's running blip count at a time;
        default: the count of :meth:`_blips` since the agent started (with the device, or at its restart)."""
        out, dropped, errors = [], 0, 0
        keys = self.identity_keys(dev)
        inventory = {"hw_vendor": dev.hw.vendor, "hw_model": dev.hw.model, "cpu_class": dev.cpu_class,
                     "memory_bytes": dev.memory_bytes}
        if blips is None:
            times = self._blips(dev, plan, random.Random(f"blips:{self.seed}:{dev.index}"))

            def blips(at: float, started: float) -> int:
                if started <= dev.agent_restart_at <= at:
                    started = dev.agent_restart_at
                return bisect.bisect_right(times, at) - bisect.bisect_right(times, started)
        phase = rng.uniform(0, self.heartbeat_s)
        for on, off in plan.powered:
            t = on
            while t < off:
                nxt = min(off, on + (math.floor((t - on + phase) / self.heartbeat_s) + 1) * self.heartbeat_s - phase)
                nxt = max(nxt, min(off, t + 1.0))
                if dev.spool_dropped and rng.random() < 0.01:
                    dropped = min(dev.spool_dropped, dropped + rng.randint(1, 50))
                if rng.random() < 0.002:
                    errors += 1
                interval = nxt - t
                details = {"connectivity_blips_total": blips(nxt, on)}
                if dev.signal_dbm is not None:
                    details["wifi_signal_dbm"] = self._signal(dev, rng)
                out.append({
                    "id": _uuid7(rng, nxt), "time": format_time(nxt), "interval_s": round(interval, 3),
                    "active_s": round(min(interval, self._active(plan, t, nxt)), 3),
                    "os": dev.os, "os_version": dev.os_version, "agent_version": dev.agent_version,
                    "site": dev.site.name, "department": dev.department, "os_build": dev.build(nxt), **inventory,
                    "spool_dropped_total": dropped, "rejected_total": 0, "sensor_errors_total": errors,
                    "details": details, **keys,
                })
                t = nxt
        return out

    @staticmethod
    def _signal(dev: Device, rng: random.Random, dip: float = 0.0) -> int:
        """A reading of the device's Wi-Fi signal (``dip`` dB lower: at a connectivity event)."""
        return max(-100, min(-30, round(rng.gauss(dev.signal_dbm - dip, 3))))

    @staticmethod
    def _rates(dev: Device) -> list[tuple[str, str, float]]:
        """(event type, app, events per active hour) of the disruptions that do not follow an app's focus time."""
        rates = [("slow_app", app.name, app.slow_per_h) for app in APPS if app.web and app.name in dev.apps]
        loss, degraded = (0.01, 0.02)  # wired
        if dev.band is not None:  # on Wi-Fi: the site's, and more with a weaker signal
            loss, degraded = dev.site.wifi_loss_per_h + EXTRA_LOSS_PER_H[dev.band], 0.08 + EXTRA_DEGRADED_PER_H[dev.band]
        rates += [("slow_system", "system", (0.05 if dev.os_version in OLD_OS_VERSIONS else 0.025) * dev.hw.strain),
                  ("connectivity_loss", "network", loss), ("connectivity_degraded", "network", degraded)]
        return [r for r in rates if r[2] > 0]

    @staticmethod
    def _app_rates(dev: Device, at: float) -> dict[str, list[tuple[str, float]]]:
        """Per focused app (OTHER: the uncatalogued ones), (event type, events per hour of focus on it) at time ``at``
        (with the version then running)."""
        hang_strain = (1 + dev.hw.strain) / 2
        rates = {}
        if dev.others:
            n = len(dev.others)  # the focus outside the catalogue is shared by the uncatalogued apps it has
            rates[OTHER] = [("crash", sum(o.crash_per_h for _, o in dev.others) / n),
                            ("hang", sum(o.hang_per_h for _, o in dev.others) / n * hang_strain)]
        for app in APPS:
            if app.name in dev.apps and not app.web:
                crash, hang = app.multipliers(dev.version(app.name, at))
                rates[app.name] = [r for r in (
                    ("crash", app.crash_per_h * crash), ("hang", app.hang_per_h * hang_strain * hang),
                    ("slow_app", app.slow_per_h),
                    ("abnormal_exit", app.exit_per_h)) if r[1] > 0]
        return rates

    @classmethod
    def _live_rates(cls, dev: Device, at: float) -> list[tuple[str, str, float]]:
        """All disruption rates per active hour at time ``at``: the apps' at the device's expected focus on each."""
        focus = sum(FOCUS_OF_ACTIVE) / 2
        return cls._rates(dev) + [(etype, app, rate * focus * dev.focus[app])
                                  for app, rates in cls._app_rates(dev, at).items() for etype, rate in rates]

    def _draw(self, dev: Device, etype: str, app: str, at: float, rng: random.Random) -> tuple[str, float, str, dict]:
        """(app, duration, severity, details) of one disruption of type ``etype`` at time ``at``; an uncatalogued
        app's (OTHER) is one of the device's, drawn by how often each has this disruption."""
        if app == OTHER:
            weights = [o.crash_per_h if etype == "crash" else o.hang_per_h for _, o in dev.others]
            exe, other = rng.choices(dev.others, weights=weights)[0]
            version = other.version
        else:
            exe, version = app, dev.version(app, at)
        if etype == "crash":
            return exe, 0.0, "error", self._crash_details(dev, version, rng)
        if etype == "hang":
            duration = min(900.0, max(5.0, rng.lognormvariate(math.log(14), 0.8)))
            return exe, duration, "warning", {"app_version": version, "source": "not_responding"}
        if etype == "slow_app":
            return (app, *self._slow_app(APPS_BY_NAME[app], version, rng))
        if etype == "abnormal_exit":
            return app, 0.0, "warning", {"app_version": version, "exit_code": rng.choice((1, 2, 255))}
        if etype == "slow_system":
            duration = rng.uniform(120, 900)
            return "system", duration, "warning", {
                "resource": rng.choice(_SLOW_RESOURCES), "excess_s": round(duration * rng.uniform(0.1, 0.5), 1),
                "top_processes": rng.sample(_TOP_PROCESSES, 2)}
        if etype == "connectivity_loss":
            duration = min(1800.0, max(5.0, rng.lognormvariate(math.log(35), 0.9)))
            return "network", duration, "error", self._loss_details(dev, rng)
        if etype == "connectivity_degraded":
            duration = rng.uniform(60, 900)
            return "network", duration, "warning", {
                "latency_ms": round(rng.uniform(250, 1500)), "loss_ratio": round(rng.uniform(0.02, 0.3), 3),
                "excess_s": round(duration * rng.uniform(0.03, 0.15), 1), **self._interface(dev, rng)}
        raise ValueError(f"the simulator does not draw {etype!r} events")

    def _event(self, plan: _DayPlan, rng: random.Random, etype: str, app: str, start: float, duration: float,
               severity: str, details: dict) -> dict | None:
        """A wire event, cut at the end of the powered-on spell; None if the device was off."""
        window = next(((s, e) for s, e in plan.powered if s <= start < e), None)
        if window is None:
            return None
        cut = max(0.0, min(duration, window[1] - start))
        if cut < duration and "excess_s" in details:  # the time beyond the threshold of the part that happened
            details = {**details, "excess_s": round(details["excess_s"] * cut / duration, 1)}
        return _wire_event(rng, etype, app, start, cut, severity, self._active(plan, start, start + cut), details)

    def _events(self, dev: Device, plan: _DayPlan, hours: dict[float, list[_Segment]],
                usage: dict[float, list[dict]], rng: random.Random) -> list[dict]:
        events: list[dict | None] = []
        rates = self._rates(dev)
        for seg in plan.activity:
            hours_of_use = (seg.end - seg.start) / HOUR * (1.0 if seg.fraction > 0.3 else 0.2)
            events += self._drawn_events(dev, plan, rng, rates, seg.start, seg.end, hours_of_use)
        for hour, totals in usage.items():  # each app's disruptions at its rate per hour of use, while it was used
            app_rates = self._app_rates(dev, hour)  # updates come on the hour: one version per hour
            for total in totals:
                for etype, rate in app_rates.get(total["app"], ()):
                    for _ in range(_poisson(rng, rate * total["focus_s"] / HOUR * self.event_scale)):
                        at = _moment(hours[hour], rng)
                        name, duration, severity, details = self._draw(dev, etype, total["app"], at, rng)
                        events.append(self._event(plan, rng, etype, name, at, duration, severity, details))
        events += [self._measured(plan, rng, *step) for step in plan.mornings]
        for at, downtime in plan.shutdowns:  # reported after the reboot, as the agent's run record shows it
            events.append(_wire_event(rng, "unexpected_shutdown", "system", at, downtime, "critical", 0.0, {
                "source": "run_record", "last_alive": format_time(at), "boot_time": format_time(at + downtime),
                "downtime_estimated": True}))
        for outage in self.outages:
            jitter = rng.uniform(0, 20)
            if outage.kind == "site" and outage.target == dev.site.name:
                events.append(self._event(plan, rng, "connectivity_loss", "network", outage.start + jitter,
                                          outage.duration_s - jitter, "critical",
                                          {"cause": "internet_unreachable", **self._interface(dev, rng, office=True)}))
            elif outage.kind == "app" and outage.target in dev.apps:
                events.append(self._event(plan, rng, "app_unavailable", outage.target, outage.start + jitter,
                                          outage.duration_s - jitter, "error",
                                          {"kind": "probe", "phase": "http_status", "error": "http_5xx", "status": 503}))
        return sorted((e for e in events if e), key=lambda e: e["start"])

    def _drawn_events(self, dev: Device, plan: _DayPlan, rng: random.Random, rates, start: float, end: float,
                      hours: float) -> list[dict | None]:
        """Disruptions drawn at the device's ``rates`` for ``hours`` of use, each starting in ``[start, end]``."""
        events = []
        for etype, app, rate in rates:
            for _ in range(_poisson(rng, rate * hours * self.event_scale)):
                at = rng.uniform(start, end)
                name, duration, severity, details = self._draw(dev, etype, app, at, rng)
                events.append(self._event(plan, rng, etype, name, at, duration, severity, details))
        return events

    def _measured(self, plan: _DayPlan, rng: random.Random, etype: str, start: float, duration: float) -> dict | None:
        """A boot or sign-in as the agent measures it: lost time only beyond its threshold."""
        threshold = BOOT_THRESHOLD_S if etype == "boot" else LOGON_THRESHOLD_S
        excess = round(max(0.0, duration - threshold), 1)
        return self._event(plan, rng, etype, "system" if etype == "boot" else "session", start, duration,
                           "warning" if excess > 0 else "info", {"threshold_s": threshold, "excess_s": excess})

    @staticmethod
    def _crash_details(dev: Device, version: str, rng: random.Random) -> dict:
        if dev.os == "windows":
            return {"app_version": version, "exception_code": rng.choice(("0xc0000005", "0xc0000409", "0xe0434352")),
                    "module": rng.choice(("ntdll.dll", "KERNELBASE.dll", "ucrtbase.dll"))}
        return {"app_version": version, "signal": rng.choice(("SIGSEGV", "SIGABRT", "SIGBUS"))}

    @staticmethod
    def _slow_app(app: SimApp, version: str, rng: random.Random) -> tuple[float, str, dict]:
        """(duration, severity, details) of a slow start, or of a slow spell of a web app's probes."""
        if app.web:
            threshold = 2.0
            median = threshold * rng.uniform(1.3, 3.0)
            duration = rng.uniform(120, 1200)
            excess = min(duration, (median - threshold) * duration / 30)  # one interaction every 30 s
            return duration, "warning", {"kind": "probe", "phase": "ttfb", "threshold_s": threshold, "median_s": round(median, 2),
                                         "worst_s": round(median * rng.uniform(1.2, 3), 2), "excess_s": round(excess, 1)}
        excess = min(170.0, rng.lognormvariate(math.log(6), 0.7))
        return app.start_threshold_s + excess, "warning", {
            "kind": "start", "app_version": version, "start_s": round(app.start_threshold_s + excess, 1),
            "threshold_s": app.start_threshold_s, "excess_s": round(excess, 1)}

    @classmethod
    def _interface(cls, dev: Device, rng: random.Random, office: bool = False) -> dict:
        """The interface of a connectivity event (a Wi-Fi laptop is sometimes at home on the VPN, never during an
        ``office`` incident), with the signal, lower than usual, when on Wi-Fi."""
        if not dev.wifi:
            return {"interface_kind": "wired"}
        kind = "vpn" if not office and rng.random() < VPN_SHARE else "wifi"
        return {"interface_kind": kind, "wifi_signal_dbm": cls._signal(dev, rng, dip=6.0)}

    @classmethod
    def _loss_details(cls, dev: Device, rng: random.Random) -> dict:
        interface = cls._interface(dev, rng)
        kind = interface["interface_kind"]
        cause = "no_link" if kind == "wifi" else "target_unreachable" if kind == "vpn" else _pick(rng, _WIRED_CAUSES)
        return {"cause": cause, **interface}

    def _active_hours(self, plan: _DayPlan) -> dict[float, list[_Segment]]:
        """Per wall-clock hour (its start) of the period, the spells in it when the device was on and its user at
        work (from the first hour that starts in the period: no record starts before it)."""
        first = math.ceil(self.start / USAGE_PERIOD_S) * USAGE_PERIOD_S
        hours: dict[float, list[_Segment]] = {}
        for on, off in plan.powered:
            for seg in plan.activity[bisect.bisect_right(plan.ends, max(on, first)):]:
                if seg.start >= off:
                    break
                t, end = max(seg.start, on, first), min(seg.end, off)
                while t < end:
                    hour = math.floor(t / USAGE_PERIOD_S) * USAGE_PERIOD_S
                    cut = min(end, hour + USAGE_PERIOD_S)
                    hours.setdefault(hour, []).append(_Segment(t, cut, seg.fraction))
                    t = cut
        return dict(sorted(hours.items()))

    @staticmethod
    def _usage(dev: Device, hours: dict[float, list[_Segment]], rng: random.Random) -> dict[float, list[dict]]:
        """Per hour, the device's focus time per app: most of the hour's active time, split by its usage profile
        among the apps used in that hour (the more an app is used, the likelier it is used in any hour)."""
        out = {}
        for hour, spells in hours.items():
            active = sum((s.end - s.start) * s.fraction for s in spells)
            weights = {app: share * rng.lognormvariate(0, 0.4) for app, share in dev.focus.items()
                       if rng.random() < HOURLY_USE_BASE + HOURLY_USE_PER_SHARE * share} or {OTHER: 1.0}
            focus = active * rng.uniform(*FOCUS_OF_ACTIVE) / sum(weights.values())
            start = format_time(hour)
            out[hour] = [{"id": _uuid7(rng, hour), "start": start, "interval_s": USAGE_PERIOD_S, "app": app,
                          "focus_s": seconds} for app, weight in weights.items()
                         # rounded down: the sum stays within the active time
                         if (seconds := math.floor(focus * weight * 10) / 10) > 0]
        return out

    def _pulse(self, dev: Device, plan: _DayPlan, events: list[dict], rng: random.Random) -> list[dict]:
        """The pulse's questions and their answers, as the agent's policy (``agent/pulse/policy.py``, its default
        ``[pulse]`` settings) asks them: about a disruption over the bar that the employee was at the device for,
        shown a few seconds after it ended, within working hours, once per local day, unless in do-not-disturb."""
        out, asked = [], set()
        offset = dev.site.utc_offset_h * HOUR
        for event in events:
            weights = _answer_weights(event)
            if weights is None:
                continue
            start, duration = parse_time(event["start"]), event["duration_s"]
            shown = start + duration + rng.uniform(2, 20)
            local = datetime.fromtimestamp(shown + offset, tz=timezone.utc)
            was_active = event["active_s"] > 0 if duration > 0 else self._active(plan, start - PULSE_LOOKBACK_S,
                                                                                  start) > 0
            if (not was_active or local.date() in asked or local.weekday() >= 5
                    or not PULSE_HOURS[0] <= local.hour < PULSE_HOURS[1]
                    or shown >= self.end or not any(on <= shown < off for on, off in plan.powered)
                    or rng.random() < PULSE_DO_NOT_DISTURB):
                continue
            asked.add(local.date())
            answer = UNANSWERED if rng.random() < PULSE_UNANSWERED else rng.choices(BUTTONS, weights)[0].name
            out.append({"id": _uuid7(rng, shown), "time": format_time(shown), "event_id": event["id"], "answer": answer})
        return sorted(out, key=lambda f: f["time"])

    def records(self, dev: Device) -> Records:
        """All wire records of one device over the period, each kind in time order."""
        stream = lambda name: random.Random(f"{name}:{self.seed}:{dev.index}")  # noqa: E731 (independent streams)
        plan = self._plan(dev, stream("plan"))
        self._mornings(dev, plan, stream("mornings"))
        self._shutdowns(plan, stream("shutdowns"))
        hours = self._active_hours(plan)
        usage = self._usage(dev, hours, stream("usage"))
        events = self._events(dev, plan, hours, usage, stream("events"))
        return Records(events, self._heartbeats(dev, plan, stream("heartbeats")),
                       self._pulse(dev, plan, events, stream("pulse")), [u for totals in usage.values() for u in totals])

    def tickets(self, dev: Device, events: list[dict]) -> list[dict]:
        """The service-desk tickets of one device's employee, given the device's ``events`` (from :meth:`records`).

        A disruption leads to a ticket with the chance of its type
        (:data:`TICKET_CAUSES`), higher the longer it lasted and the more often
        the same cause recurred within :data:`REPEAT_WINDOW_S`; the ticket is
        opened some minutes after it ended, and no second ticket is opened for
        the same cause within that window. A few tickets have no disruption
        before them (requests, questions).
        """
        rng = random.Random(f"tickets:{self.seed}:{dev.index}")
        out: list[dict] = []
        recent: dict[tuple[str, str], list[float]] = {}
        last_ticket: dict[tuple[str, str], float] = {}
        for event in events:
            cause = TICKET_CAUSES.get(event["type"])
            start, duration = parse_time(event["start"]), event["duration_s"]
            if cause is None or duration < MIN_TICKET_DURATION_S.get(event["type"], 0.0):
                continue
            key = (event["type"], event["app"])
            repeats = [t for t in recent.get(key, []) if t > start - REPEAT_WINDOW_S]
            recent[key] = repeats + [start]
            chance = min(0.8, cause[0] * (1 + 3 * min(1.0, duration / 1800)) * (1 + len(repeats)))
            if rng.random() >= chance or last_ticket.get(key, -math.inf) > start - REPEAT_WINDOW_S:
                continue
            last_ticket[key] = start
            opened = start + duration + min(2 * HOUR, rng.lognormvariate(math.log(600), 0.6))
            out.append(self._ticket(rng, dev, f"{dev.index:06d}-{len(out):03d}", opened, rng.random() < cause[1],
                                    cause[2]))
        plan = self._plan(dev, random.Random(f"plan:{self.seed}:{dev.index}"))
        work_days = len(plan.activity) / 3
        for _ in range(_poisson(rng, BACKGROUND_TICKETS_PER_DAY * work_days)):
            seg = rng.choice(plan.activity) if plan.activity else None
            if seg is not None:
                out.append(self._ticket(rng, dev, f"{dev.index:06d}-{len(out):03d}", rng.uniform(seg.start, seg.end),
                                        False, rng.choice(("Access", "Request", "Printing", "Question"))))
        return sorted((t for t in out if t["opened_at"] < format_time(self.end)), key=lambda t: t["opened_at"])

    def stranger_tickets(self) -> list[dict]:
        """Tickets of callers that match no device of the fleet: they count as contacts of their site and
        department, not as any device's lost time."""
        rng = random.Random(f"strangers:{self.seed}")
        out = []
        for k in range(_poisson(rng, STRANGER_TICKETS_PER_DAY * len(self.devices) * self.days)):
            site = rng.choices(SITES, weights=[s.share for s in SITES])[0]
            opened = rng.uniform(self.start, self.end - HOUR)
            ticket = self._ticket(rng, None, f"X-{k:04d}", opened, False, rng.choice(("Access", "Software", "Request")))
            out.append({**ticket, "site": site.name, "department": _pick(rng, DEPARTMENTS),
                        "account": f"ext-{self.seed}-{k:04d}"})
        return out

    def _ticket(self, rng: random.Random, dev: Device | None, number: str, opened: float, stopping: bool,
                category: str) -> dict:
        """One ticket record in the generic column set, resolved after a while unless still open at the end."""
        priority = "P1" if stopping else _pick(rng, (("P2", 0.15), ("P3", 0.6), ("P4", 0.25)))
        wait = rng.uniform(0.5, 6) * HOUR if stopping else min(5 * DAY, rng.lognormvariate(math.log(4 * HOUR), 1.0))
        resolved = opened + wait if opened + wait < self.end else None
        record = {"id": f"SIM-{self.seed}-{number}", "opened_at": format_time(opened),
                  "updated_at": format_time(resolved or min(self.end, opened + 600)),
                  "resolved_at": format_time(resolved) if resolved else None,
                  "channel": _pick(rng, CHANNEL_MIX), "priority": priority, "category": category}
        if dev is not None:
            name = names(dev)
            record.update(site=dev.site.name, department=dev.department, account=name["account"])
            if rng.random() < 0.7:  # the configuration item is often named, not always
                record["host"] = name["host"]
        return record

    def live_batch(self, dev: Device, now: float, interval_s: float, round_no: int) -> dict | None:
        """Records for the last ``interval_s`` before ``now``, as if the whole fleet were at work.

        Used after the history (``--live``) so that rates move and "devices
        affected now" has data at any hour. Disruptions run in time-lapse
        (``LIVE_SPEEDUP``: a live minute brings an hour's worth), so a demo
        is lively; focus time cannot (the collector counts no more of it than
        the heartbeats' active time), so rates per hour of use read high in live
        rounds. Each round sends the current hour's focus totals so far (the
        collector keeps the largest). Mornings too come in time-lapse: a round
        may bring a boot and sign-in (when they fit in it), and the blip count
        grows round after round (in rounds of one length). The heartbeats carry
        the device's inventory as at the end of the period (its updates done).
        The same seed, device and round give the same records, shifted to
        ``now``.
        """
        if dev.silent_from is not None:
            return None
        rng = random.Random(f"live:{self.seed}:{dev.index}:{round_no}")
        start = now - interval_s
        plan = _DayPlan(powered=[(start, now)], activity=[_Segment(start, now, rng.uniform(*LIVE_ACTIVITY))])
        if rng.random() < LIVE_SPEEDUP * interval_s / LIVE_DAY_S:
            steps = self._morning(dev, None if dev.always_on else start, now - 1, rng)
            wait_end = steps[-1][1] + steps[-1][2]
            if steps[0][1] >= start and wait_end < now - 1:
                plan.activity.insert(0, _Segment(steps[0][1], wait_end, 1.0))
                plan.activity[1].start = wait_end
                plan.mornings = steps
        events = [e for e in self._drawn_events(dev, plan, rng, self._live_rates(dev, now), start, now - 1,
                                                 LIVE_SPEEDUP * interval_s / HOUR) if e]
        events += [self._measured(plan, rng, *step) for step in plan.mornings]
        events.sort(key=lambda e: e["start"])
        per_round = self._blips_per_h(dev) * LIVE_SPEEDUP * interval_s / HOUR
        phase = random.Random(f"live-blips:{self.seed}:{dev.index}").random()
        heartbeats = self._heartbeats(dev, plan, rng, lambda at, _started: math.floor(
            (round_no + (at - start) / interval_s) * per_round + phase))
        return make_batch(dev.device_id, events, heartbeats, now=now, usage=self._live_usage(dev, now, rng))

    @staticmethod
    def _live_usage(dev: Device, now: float, rng: random.Random) -> list[dict]:
        """The current hour's focus totals so far, at the live rounds' least activity, split by the usage profile."""
        hour = now // USAGE_PERIOD_S * USAGE_PERIOD_S
        focus = (now - hour) * min(LIVE_ACTIVITY) * min(FOCUS_OF_ACTIVE)  # within any round's active time
        return [{"id": _uuid7(rng, hour), "start": format_time(hour), "interval_s": USAGE_PERIOD_S, "app": app,
                 "focus_s": seconds} for app, share in dev.focus.items() if (seconds := math.floor(focus * share)) > 0]


class Records(NamedTuple):
    """One device's wire records over the period, each kind in time order."""

    events: list[dict]
    heartbeats: list[dict]
    feedback: list[dict]  # the pulse's answers
    usage: list[dict]  # focus time per app and hour


def _moment(spells: list[_Segment], rng: random.Random) -> float:
    """A moment of the spells, drawn in proportion to their active time."""
    spell = rng.choices(spells, weights=[(s.end - s.start) * s.fraction for s in spells])[0]
    return rng.uniform(spell.start, spell.end)


def _answer_weights(event: dict) -> tuple[float, ...] | None:
    """The answers' weights after this disruption, or None if it is not one the pulse asks about."""
    etype, duration = event["type"], event["duration_s"]
    if etype == "crash" and event["app"] in APPS_BY_NAME:
        return PULSE_ANSWERS["crash"]
    if etype == "hang" and duration >= PULSE_MIN_HANG_S:
        return PULSE_ANSWERS["short_hang" if duration < 120 else "long_hang"]
    if etype == "connectivity_loss" and duration >= PULSE_MIN_LOSS_S:
        return PULSE_ANSWERS["connectivity_loss"]
    return None


def _wire_event(rng: random.Random, etype: str, app: str, start: float, duration: float, severity: str,
                active_s: float, details: dict) -> dict:
    return {"id": _uuid7(rng, start), "type": etype, "app": app, "start": format_time(start),
            "duration_s": round(duration, 3), "severity": severity, "active_s": round(min(duration, active_s), 3),
            "details": details}


def names(dev: Device) -> dict[str, str]:
    """The simulated device's host name, asset tag and employee account, as its agent and the ITSM know them."""
    return {"host": f"{dev.site.name[:3].upper()}-PC{dev.index:05d}", "asset": f"AT{dev.index:07d}",
            "account": f"emp{dev.index:05d}"}
