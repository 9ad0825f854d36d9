"""Number and label formatting shared by every renderer."""

from __future__ import annotations

from contract.answers import BUTTONS
from contract.events import BY_NAME

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def type_label(event_type: str) -> str:
    """A reader's name for a disruption type."""
    known = BY_NAME.get(event_type)
    return known.label if known else event_type.replace("_", " ").capitalize()


def app_name(row: dict) -> str:
    """An application row's name as shown: ``other`` says how many executables it holds."""
    n = row.get("executables")
    return f"other ({n} executable{'s' if n != 1 else ''})" if n else row["app"]


def hours(seconds: float | None) -> str:
    """Seconds as hours with one decimal (``12.5 h``); minutes below one hour."""
    if seconds is None:
        return "n/a"
    if 0 < seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:,.1f} h"


def minutes(seconds: float | None) -> str:
    """Seconds as whole minutes (``3 min``); hours with one decimal from one hour."""
    if seconds is None:
        return "n/a"
    if 0 < seconds < 60:
        return "under 1 min"
    return f"{seconds / 60:.0f} min" if seconds < 3600 else hours(seconds)


def money(amount: float | None, currency: str) -> str:
    """An amount with thousands separators and the currency code."""
    if amount is None:
        return "n/a"
    return f"{amount:,.0f} {currency}"


def pct(ratio: float | None, digits: int = 0) -> str:
    """A 0..1 ratio as a percentage."""
    if ratio is None:
        return "n/a"
    return f"{ratio * 100:.{digits}f}%"


def number(value: float | None) -> str:
    """A figure with one decimal (``n/a`` when it has none)."""
    return "n/a" if value is None else f"{value:,.1f}"


def per_use(value: float | None) -> str:
    """A rate per hour of use with one decimal, or why there is none (the application was used too little)."""
    return "not enough use" if value is None else f"{value:,.1f}"


def channels(by_channel: list[dict]) -> str:
    """The tickets and contact time of each channel, in words."""
    return "; ".join(f"{c['channel'].replace('_', '-')} {c['tickets']} ticket{'' if c['tickets'] == 1 else 's'}, "
                     f"{hours(c['contact_seconds'])}" for c in by_channel)


def score(value: float | None) -> str:
    """An experience score (0..100) with one decimal."""
    return "n/a" if value is None else f"{value:.1f}"


def change(item: dict) -> str:
    """The change of a headline figure against the previous week, in words ("unchanged" when it rounds to nothing
    as shown: never "down 0.0 points" or "up 0%")."""
    diff = item.get("change")
    if diff is None:
        return "no previous data"
    shown = _change_shown(item)
    if shown is None:
        return "unchanged"
    return f"{'up' if diff > 0 else 'down'} {shown}"


def change_tone(item: dict) -> str:
    """How a change reads: ``worse``, ``better``, or ``same`` (no previous data, or unchanged as shown)."""
    diff = item.get("change")
    if diff is None or _change_shown(item) is None:
        return "same"
    return "worse" if (diff > 0) == (item.get("better") == "lower") else "better"


def _change_shown(item: dict) -> str | None:
    """The size of a change as shown (``1.5 points``, ``12%``, ``from zero``), None when it rounds to zero."""
    diff, pct_change = item.get("change"), item.get("change_pct")
    if not diff:
        return None
    if item.get("unit") == "score":
        shown = f"{abs(diff):.1f}"
        return None if shown == "0.0" else f"{shown} points"
    if pct_change is None:
        return "from zero"
    shown = f"{abs(pct_change) * 100:.0f}"
    return None if shown == "0" else f"{shown}%"


def headline_value(item: dict, currency: str) -> str:
    """A headline figure formatted by its unit."""
    unit, value = item.get("unit"), item.get("value")
    if value is None:
        return "n/a"
    if unit == "hours":
        return hours(value * 3600)
    if unit == "money":
        return money(value, currency)
    if unit == "score":
        return score(value)
    return f"{value:,.0f}"


# The pulse's section ("What employees felt"), alike in every renderer.
FELT_HEADERS = ["Asked", "Answered", *(a.label for a in BUTTONS), "Felt each", "Model each"]
CALIBRATION_NOTE = ("Recovery times the answers would propose (the mean time the answers stand for, where enough "
                    "people answered). The model is unchanged until an administrator applies them: "
                    "`hinder model calibrate` prints them as configuration lines.")


def felt_cells(g: dict) -> list:
    """A group's row under :data:`FELT_HEADERS`: what its people said is blank when too few answered."""
    shares = g["shares"] or {}
    return [g["questions"], "" if g["answered"] is None else g["answered"],
            *("" if g["withheld"] else pct(shares.get(a.name)) for a in BUTTONS),
            "" if g["withheld"] else minutes(g["felt_seconds_each"]), minutes(g["model_seconds_each"])]


def felt_summary(section: dict) -> str:
    """The week's pulse in one sentence."""
    asked = f"{section['questions']} question{'' if section['questions'] == 1 else 's'} asked after a disruption"
    if section["withheld"]:
        return f"{asked}; too few people answered to show what they said."
    return (f"{asked}, {section['answered']} answered ({pct(section['answer_rate'])}) from {section['devices']} "
            f"devices; they felt {minutes(section['felt_seconds_each'])} per disruption on average, where the model "
            f"counts {minutes(section['model_seconds_each'])}.")


def felt_note(min_size: int) -> str:
    """How answers are grouped and what a felt time means."""
    return (f"Groups with answers from fewer than {min_size} devices are merged into \"other\", and what a group "
            "still that small said is not shown. Felt times are what the answers stand for (an assumption: "
            + ", ".join(f"'{a.label}' = {minutes(a.felt_s)}" for a in BUTTONS)
            + "); the model's time is each disruption's own lost time with the employee active, before overlaps "
            "are merged.")


# The connectivity section's network line (collector.aggregates.network), alike in every renderer.
INTERFACE_NAMES = {"wifi": "on Wi-Fi", "wired": "wired", "vpn": "on VPN", "unknown": "on an unknown interface"}


def network_summary(n: dict, min_size: int) -> str:
    """The week's network quality in plain words: Wi-Fi signal, outages by interface, blips."""
    if not (n["by_interface"] or n["wifi_devices"] or n["blips"]):
        return "no reading of the interface in use, the Wi-Fi signal or blips this week."
    shares = n["wifi_shares"]
    if shares:
        wifi = (f"Wi-Fi: {pct(shares['poor'])} of the working time on Wi-Fi had a poor signal (below -80 dBm: "
                f"connections break), {pct(shares['fair'])} a fair one (-80 to -67 dBm: calls suffer)")
    elif n["wifi_devices"] and n["wifi_withheld"]:
        wifi = f"Wi-Fi signal: fewer than {min_size} devices on Wi-Fi, not shown"
    else:
        wifi = "Wi-Fi signal: no reading this week"
    kinds = n["by_interface"]
    outages = ("outages: " + ", ".join(f"{k['outages']} {INTERFACE_NAMES.get(k['interface_kind'], k['interface_kind'])}"
                                       for k in kinds)) if kinds else "no outage named its interface"
    blips, devices = n["blips"], n["blip_devices"]
    on = f" on {devices} device{'' if devices == 1 else 's'}" if blips else ""
    return (f"{wifi}; {outages}; {blips or 'no'} blip{'' if blips == 1 else 's'} (drops too short to count as "
            f"outages){on}.")
# The device cohorts' section ("Devices: models, OS builds, boot and sign-in"), alike in every renderer.
COHORT_TABLES = (  # (section key, row key, column, title)
    ("by_model", "hw_model", "Model", "By hardware model"), ("by_os_build", "os_build", "OS build", "By OS build"),
    ("by_memory", "memory", "Memory", "By memory"))
COHORT_HEADERS = ["Devices", "Lost per device", "Disruptions per device", "Per 100 active h", "Boot median / p90",
                  "Slow boots", "Sign-in median / p90", "Slow sign-ins"]


def wait(seconds: float | None) -> str:
    """A wait in whole seconds (``n/a`` without any)."""
    return "n/a" if seconds is None else f"{seconds:,.0f} s"


def cohort_cells(g: dict, key: str) -> list:
    """A cohort's row: its name, then its figures under :data:`COHORT_HEADERS`."""
    name = g[key] + (f" ({g['groups']} groups)" if g[key] == "other" else "")
    return [name, g["devices"], hours(g["lost_seconds_per_device"]), f"{g['disruptions_per_device']:,.1f}",
            per_use(g["disruptions_per_100h"]),
            *(cell for stage in ("boot", "logon") for cell in (
                median_p90(g[stage]), pct(g[stage]["slow_share"])))]


def median_p90(waits: dict) -> str:
    """A cohort's waits of one stage as "median / 90th percentile" (``n/a`` without any)."""
    if waits["median_seconds"] is None:
        return "n/a"
    return f"{wait(waits['median_seconds'])} / {wait(waits['p90_seconds'])}"


def waits_summary(waits: dict) -> str:
    """The fleet's boots and sign-ins in one sentence."""
    parts = []
    for stage, name in (("boot", "boots"), ("logon", "sign-ins")):
        w = waits[stage]
        if w["count"]:
            parts.append(f"{w['count']} {name}, median {wait(w['median_seconds'])}, 90% within "
                         f"{wait(w['p90_seconds'])}, {pct(w['slow_share'])} beyond the threshold "
                         f"({hours(w['lost_seconds'])} lost)")
    return "; ".join(parts) + "." if parts else "No boot or sign-in was measured this week."


def cohort_note(min_size: int, top: int) -> str:
    """How cohorts are grouped and what the columns mean."""
    return (f"Each device counts under its latest model, OS build and memory; groups with fewer than {min_size} "
            f"reporting devices, and beyond the {top} with the most devices, are merged into \"other\". Boot: "
            "power-on to the sign-in screen; sign-in: credentials to a usable desktop; slow: beyond the agent's threshold, whose "
            "excess is lost time. Per 100 active h: disruptions per 100 hours employees were active at the devices.")


def change_cells(rows: list[dict]) -> list[list]:
    """The cells of the changes table: subject, version, devices moved and compared, rates before and after."""
    return [[c["subject"] if c["kind"] == "app_version" else "OS build", c["version"], c["adopters"], c["devices"],
             number(c["before_per_100h"]), number(c["after_per_100h"]), number(c["before_lost_minutes_per_hour"]),
             number(c["after_lost_minutes_per_hour"]), c["verdict_text"]] for c in rows]


def change_note(ch: dict) -> str:
    """How the changes are judged, in one sentence."""
    return (f"Each device is compared with itself, {ch['window_days']:g} days before and after it moved (the hour "
            f"of the move left out), on the devices active on both sides; a change is judged with at least "
            f"{ch['min_active_hours']:g} active hours each side, and called worse or better when chance alone would "
            f"give so different rates less than {ch['significance']:.0%} of the time. Application versions are known "
            "from the failures that name them, so a move is dated to the first failure on the new version.")
