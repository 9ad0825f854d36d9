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
    """The change of a headline figure against the previous week, in words."""
    pct_change = item.get("change_pct")
    diff = item.get("change")
    if diff is None:
        return "no previous data"
    if diff == 0:
        return "unchanged"
    arrow = "up" if diff > 0 else "down"
    if item.get("unit") == "score":
        return f"{arrow} {abs(diff):.1f} points"
    if pct_change is None:
        return f"{arrow} from zero"
    return f"{arrow} {abs(pct_change) * 100:.0f}%"


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
