"""The report as Markdown, for chat and email: the same sections as the HTML, tables instead of charts."""

from __future__ import annotations

import re

from collector.report import fmt

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_ACTIVE = re.compile(r"([\\`*_\[\]|#~!])")  # CommonMark lets a backslash escape any ASCII punctuation
_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BLOCK_START = re.compile(r"^([+\-=]|\d{1,9}[.)])")  # "- x", "+ x", "1. x", "1) x" start a list; "=" underlines


def _text(value, starts_line: bool = False) -> str:
    """``value`` as inert Markdown text on one line: no HTML, no link, no emphasis, no heading, no table cell break.

    Every string that reaches the Markdown report goes through here: agent strings (sites, departments,
    applications, versions) are data, never markup. ``starts_line``: the text begins a line or a list item's
    content, where a leading ``-``, ``+``, ``=`` or ``1.`` would start a block.
    """
    text = _CONTROL.sub(" ", str(value))
    text = _ACTIVE.sub(r"\\\1", re.sub("[&<>]", lambda m: _ENTITY[m.group()], text))
    return _BLOCK_START.sub(lambda m: m.group()[:-1] + "\\" + m.group()[-1], text) if starts_line else text


def _table(headers: list[str], rows: list[list], right: set[int] = frozenset()) -> list[str]:
    if not rows:
        return ["_No data this week._", ""]
    cells = [[_text(c) for c in r] for r in rows]
    align = ["---:" if i in right else "---" for i in range(len(headers))]
    return ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |",
            *("| " + " | ".join(r) + " |" for r in cells), ""]


def _felt(p: dict, min_size: int) -> list[str]:
    """The section "What employees felt": the pulse's answers beside the model's lost time."""
    lines = ["## What employees felt", ""]
    if not p["questions"]:
        return lines + ["_No pulse question was answered or shown this week._", ""]
    lines += [_text(fmt.felt_summary(p), starts_line=True), "",
              *(f"- {_text(a['text'], starts_line=True)}" for a in p["by_app"]), ""]
    for key in ("site", "department"):
        lines += [f"By {key}:", ""]
        lines += _table([key.capitalize(), *fmt.FELT_HEADERS],
                        [[g[key], *fmt.felt_cells(g)] for g in p[f"by_{key}"]], set(range(1, 9)))
    lines += [_text(fmt.felt_note(min_size), starts_line=True), ""]
    if p["calibration"]:
        lines += [_text(fmt.CALIBRATION_NOTE, starts_line=True), ""]
        lines += _table(["Setting", "Application", "Proposed", "Now", "Answers", "Devices"],
                        [[c["setting"], c["app"] or "", fmt.minutes(c["recovery_seconds"]),
                          fmt.minutes(c["current_seconds"]), c["answers"], c["devices"]] for c in p["calibration"]],
                        {2, 3, 4, 5})
    return lines


def _changes(ch: dict) -> list[str]:
    lines = ["## Changes this week and what they did", ""]
    if not ch["rows"]:
        return lines + [_text(ch["empty"], starts_line=True), ""]
    lines += [f"- {_text(c['text'], starts_line=True)}" for c in ch["rows"]] + [""]
    lines += _table(["Change", "Version", "Devices moved", "Compared", "Per 100 h before", "After",
                     "Lost min per h before", "After", "Verdict"], fmt.change_cells(ch["rows"]), {2, 3, 4, 5, 6, 7})
    lines.append(_text(fmt.change_note(ch), starts_line=True))
    return lines + [""]


def render_md(r: dict) -> str:
    """Render a report dict to Markdown."""
    cur = r["currency"]
    m = r["method"]
    lines = [
        f"# {_text(r.get('company') or 'hinder')}: IT impact report, week {_text(r['week'])}",
        "",
        _text(f"{r['period']['start'][:10]} to {r['period']['last_day']} ({r['period']['timezone']}), impact model "
              f"{r['model_version']}, {r['totals']['devices']} reporting devices.", starts_line=True),
        "",
        "## Headline",
        "",
    ]
    lines += _table(["Figure", "This week", "Change", "Last 4 weeks"],
                    [[h["label"], fmt.headline_value(h, cur), fmt.change(h),
                      " → ".join(fmt.headline_value({**h, "value": t.get(h["key"])}, cur) for t in r["trend"])]
                     for h in r["headline"]], {1})
    lines += ["## Findings", "", *(f"- {_text(f['text'], starts_line=True)}" for f in r["findings"]), ""]
    lines += ["## Lost time by disruption type", ""]
    lines += _table(["Type", "Lost time", "Share", "Cost", "Disruptions", "Devices"],
                    [[fmt.type_label(t["type"]), fmt.hours(t["lost_seconds"]), fmt.pct(t["share"]), fmt.money(t["cost"], cur),
                      t["disruptions"], t["devices"]] for t in r["by_type"]], {1, 2, 3, 4, 5})
    lines += ["## Applications by lost time", ""]
    lines += _table(["Application", "Lost time", "Share", "Disruptions", "Hours of use", "Per 100 h of use",
                     "Lost min per h of use", "Main cause", "Version to blame"],
                    [[fmt.app_name(a), fmt.hours(a["lost_seconds"]), fmt.pct(a["share"]), a["disruptions"],
                      fmt.number(a["focus_hours"]), fmt.per_use(a["disruptions_per_100h"]),
                      fmt.per_use(a["lost_minutes_per_hour"]),
                      fmt.type_label(a["main_cause"]) if a["main_cause"] else "", a["version"] or ""] for a in r["by_app"]],
                    {1, 2, 3, 4, 5, 6})
    lines.append(f"_Hours of use: the employees' focused time in the application; rates per hour of use are shown "
                 f"for applications used at least {r['app_use']['min_focus_hours']:g} h in the week._")
    lines.append("")
    for key in ("site", "department"):
        lines += [f"## {key.capitalize()}s", ""]
        lines += _table([key.capitalize(), "Devices", "Lost time", "Per device", "Cost", "Score"],
                        [[g[key], g["devices"], fmt.hours(g["lost_seconds"]), fmt.hours(g["lost_seconds_per_device"]),
                          fmt.money(g["cost"], cur), fmt.score(g["experience_score"])] for g in r[f"by_{key}"]],
                        {1, 2, 3, 4, 5})
    lines.append(f'_Groups with fewer than {r["min_group_size"]} reporting devices are merged into "other"._')
    lines.append("")
    c = r["connectivity"]
    lines += ["## Connectivity", "",
              f"{c['outages']} outages on {c['devices']} devices, {fmt.hours(c['outage_seconds'])} offline, "
              f"{fmt.hours(c['lost_seconds'])} of working time lost.", ""]
    lines += _table(["Cause", "Outages", "Offline"],
                    [[x["cause"], x["outages"], fmt.hours(x["outage_seconds"])] for x in c["by_cause"]], {1, 2})
    if c["worst_sites"]:
        lines += ["Worst sites:", ""]
        lines += _table(["Site", "Outages", "Lost time", "Per device"],
                        [[s["site"], s["outages"], fmt.hours(s["lost_seconds"]), fmt.hours(s["lost_seconds_per_device"])]
                         for s in c["worst_sites"]], {1, 2, 3})
    lines += _network(r)
    grid = r["heatmap"]["lost_seconds"]
    per_day = ", ".join(f"{d} {sum(row) / 3600:.1f} h" for d, row in zip(fmt.DAYS, grid))
    lines += ["## When time was lost", "",
              _text(f"Lost hours per weekday ({r['period']['timezone']}): {per_day}.", starts_line=True), ""]
    c = r["cohorts"]
    lines += ["## Devices: models, OS builds, boot and sign-in", "", _text(fmt.waits_summary(c["waits"]), True), ""]
    for table, key, label, title in fmt.COHORT_TABLES:
        lines += [f"{title}:", ""]
        lines += _table([label, *fmt.COHORT_HEADERS], [fmt.cohort_cells(g, key) for g in c[table]], set(range(1, 9)))
    lines += [f"_{_text(fmt.cohort_note(r['min_group_size'], r['cohorts']['top']))}_", ""]
    s = r["support"]
    lines += ["## Service desk: the iceberg", "", *(f"- {_text(text, starts_line=True)}" for text in s["summary"]), ""]
    if s["tickets"]:
        for key in ("site", "department"):
            lines += [f"By {key}:", ""]
            lines += _table([key.capitalize(), "Devices", "Tickets", "Per 100 devices", "Contact time",
                             "After a disruption", "Lost time without a ticket"],
                            [[g[key], g["devices"], g["tickets"], fmt.number(g["tickets_per_100_devices"]),
                              fmt.hours(g["contact_seconds"]), fmt.pct(g["after_disruption_share"]),
                              fmt.pct(g["lost_without_ticket_share"])] for g in s[f"by_{key}"]], {1, 2, 3, 4, 5, 6})
        lines += ["Ticket categories that hurt most:", ""]
        lines += _table(["Category", "Tickets", "Work-stopping", "Resolved", "Median time to resolve"],
                        [[c["category"], c["tickets"], c["work_stopping"], c["resolved"],
                          fmt.hours(c["median_resolve_seconds"])] for c in s["categories"]], {1, 2, 3, 4})
        if s["by_app"]:
            lines += ["Applications whose disruptions led to tickets:", ""]
            lines += _table(["Application", "Tickets after its disruptions"],
                            [[a["app"], a["tickets"]] for a in s["by_app"]], {1})
        lines += [_text(f"Contact time by channel: {fmt.channels(s['by_channel'])}.", starts_line=True), ""]
    lines += _felt(r["felt"], r["min_group_size"])
    lines += _changes(r["changes"])
    lines += ["## Devices with repeated problems", ""]
    lines += _table(["Device (pseudonym)", "Site", "Department", "Disruptions", "Lost time", "Main cause"],
                    [[d["device"], d["site"], d["department"], d["disruptions"], fmt.hours(d["lost_seconds"]),
                      fmt.type_label(d["main_cause"])] for d in r["repeat_devices"]], {3, 4})
    lines += ["## Method", "",
              _text(f"Impact model version {m['model_version']}. {m['reporting_devices']} devices reported; "
                    f"{m['silent_devices']} of {m['known_devices']} known devices were silent "
                    f"(coverage {fmt.pct(m['coverage'])}).", starts_line=True), "",
              *(f"- {_text(n, starts_line=True)}" for n in m["notes"]), ""]
    lines += _table(["Parameter", "Value"], [[k, v] for k, v in m["parameters"].items()])
    return "\n".join(lines)


def _network(r: dict) -> list[str]:
    """The connectivity section's network line and its outages by interface."""
    n = r["connectivity"]["network"]
    lines = [_text(f"Network quality. {fmt.network_summary(n, r['min_group_size'])}", starts_line=True), ""]
    if n["by_interface"]:
        lines += _table(["Interface", "Outages", "Offline"],
                        [[x["interface_kind"], x["outages"], fmt.hours(x["outage_seconds"])] for x in n["by_interface"]],
                        {1, 2})
    return lines
