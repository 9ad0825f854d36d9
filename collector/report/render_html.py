"""The report as one self-contained HTML page (inline CSS and SVG, no external requests).

Its sections: the summary (headline, findings, causes), where the time went
(applications, sites, departments), connectivity, the changes of the week and the day-by-hour heat map, the
devices (models, OS builds, boot and sign-in),
the service desk against the measured lost time, and the devices with repeated
problems with the method. On paper they follow each other without page breaks
of their own; style.css keeps headings with what follows and short tables whole.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from importlib import resources

from collector.report import fmt, svg


def csp_hash(inline: str) -> str:
    """The Content-Security-Policy source that allows exactly this inline script or style sheet."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()}'"


_CSS = resources.files("collector.report").joinpath("style.css").read_text(encoding="utf-8")
# What the page may load or run: nothing but its own inline style sheet (by hash), no script, no image, no form.
# The page carries it in a meta tag (a saved or mailed file keeps it); the collector also sends it as a header.
CSP = f"default-src 'none'; style-src {csp_hash(_CSS)}; base-uri 'none'; form-action 'none'"


SHORT_TABLE_ROWS = 15  # a table with fewer rows is never split over two pages


def render_html(report: dict) -> str:
    """Render a report dict to an HTML document."""
    cur = report["currency"]
    title = f"{report.get('company') or 'hinder'}: IT impact report {report['week']}"
    pages = [
        _summary(report, cur),
        _where(report, cur),
        _connectivity_and_time(report) + _changes(report),
        _cohorts(report),
        _service_desk(report) + _felt(report),  # what people did and said, beside what was measured
        _devices_and_method(report),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        + "".join(f'<section class="page">{p}</section>' for p in pages)
        + "</body></html>\n"
    )


def _table(headers: list[str], rows: list[list], numeric: set[int] = frozenset(), empty: str = "No data this week.") -> str:
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{escape(str(c))}</td>' if i in numeric else f"<td>{escape(str(c))}</td>"
                         for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    short = ' class="short"' if len(rows) < SHORT_TABLE_ROWS else ""  # kept on one page when printed (style.css)
    return f"<table{short}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _card(item: dict, cur: str, trend_points: list) -> str:
    return (
        f'<div class="card"><div class="label">{escape(item["label"])}</div>'
        f'<div class="value">{escape(fmt.headline_value(item, cur))}</div>'
        f'<div class="change {fmt.change_tone(item)}">{escape(fmt.change(item))} vs. last week</div>'
        f"{svg.trend(trend_points)}</div>"
    )


def _summary(r: dict, cur: str) -> str:
    period = r["period"]
    parts = [
        f"<h1>{escape(r.get('company') or 'hinder')}: IT impact report, week {escape(r['week'])}</h1>",
        f'<p class="sub">{escape(period["start"][:10])} to {escape(period["last_day"])} ({escape(period["timezone"])}) · '
        f"impact model {escape(str(r['model_version']))} · {r['totals']['devices']} reporting devices</p>",
        '<div class="cards">',
    ]
    for item in r["headline"]:
        points = [(t["week"], t.get(item["key"])) for t in r["trend"]]
        parts.append(_card(item, cur, points))
    parts.append("</div><h2>Findings</h2>")
    parts.append('<ul class="findings">' + "".join(f"<li>{escape(f['text'])}</li>" for f in r["findings"]) + "</ul>")
    parts.append("<h2>Lost time by disruption type</h2>")
    rows = r["by_type"]
    parts.append(svg.bars([(fmt.type_label(t["type"]), t["lost_seconds"], f"{fmt.hours(t['lost_seconds'])} · {fmt.pct(t['share'])}")
                           for t in rows if t["lost_seconds"] > 0]))
    parts.append(_table(
        ["Type", "Lost time", "Share", "Cost", "Disruptions", "Devices"],
        [[fmt.type_label(t["type"]), fmt.hours(t["lost_seconds"]), fmt.pct(t["share"]), fmt.money(t["cost"], cur),
          t["disruptions"], t["devices"]] for t in rows],
        numeric={1, 2, 3, 4, 5}, empty="No disruptions were recorded this week."))
    return "".join(parts)


def _groups(r: dict, key: str, cur: str) -> str:
    rows = r[f"by_{key}"]
    return _table(
        [key.capitalize(), "Devices", "Lost time", "Per device", "Cost", "Disruptions", "Score"],
        [[g[key] + (f" ({g['groups']} groups)" if g[key] == "other" else ""), g["devices"], fmt.hours(g["lost_seconds"]),
          fmt.hours(g["lost_seconds_per_device"]), fmt.money(g["cost"], cur), g["disruptions"], fmt.score(g["experience_score"])]
         for g in rows],
        numeric={1, 2, 3, 4, 5, 6})


def _where(r: dict, cur: str) -> str:
    parts = ["<h2>Applications by lost time</h2>"]
    apps = r["by_app"]
    parts.append(svg.bars([(fmt.app_name(a), a["lost_seconds"], fmt.hours(a["lost_seconds"])) for a in apps
                           if a["lost_seconds"] > 0]))
    parts.append(_table(
        ["Application", "Lost time", "Share", "Disruptions", "Devices", "Hours of use", "Disruptions per 100 h of use",
         "Lost min per h of use", "Main cause", "Version to blame"],
        [[fmt.app_name(a), fmt.hours(a["lost_seconds"]), fmt.pct(a["share"]), a["disruptions"], a["devices"],
          fmt.number(a["focus_hours"]), fmt.per_use(a["disruptions_per_100h"]), fmt.per_use(a["lost_minutes_per_hour"]),
          f"{fmt.type_label(a['main_cause'])} ({fmt.pct(a['main_cause_share'])})" if a["main_cause"] else "",
          f"{a['version']} ({fmt.pct(a['version_share'])} of its disruptions)" if a["version"] else ""] for a in apps],
        numeric={1, 2, 3, 4, 5, 6, 7}, empty="No application lost time this week."))
    parts.append('<p class="note">Hours of use: the employees\' focused time in the application. Rates per hour of '
                 "use compare applications fairly; they are shown for applications used at least "
                 f"{r['app_use']['min_focus_hours']:g} h in the week.</p>")
    g = r["min_group_size"]
    parts.append("<h2>Sites</h2>" + _groups(r, "site", cur))
    parts.append("<h2>Departments</h2>" + _groups(r, "department", cur))
    parts.append(f'<p class="note">Sites and departments with fewer than {g} reporting devices are merged into "other". '
                 "Score: the experience score of the impact model version shown (see Method).</p>")
    return "".join(parts)


def _connectivity_and_time(r: dict) -> str:
    c = r["connectivity"]
    parts = [
        "<h2>Connectivity</h2>",
        f"<p>{c['outages']} outages on {c['devices']} devices, {fmt.hours(c['outage_seconds'])} offline in total, "
        f"of which {fmt.hours(c['lost_seconds'])} while employees were working.</p>",
        _table(["Cause", "Outages", "Offline"],
               [[x["cause"], x["outages"], fmt.hours(x["outage_seconds"])] for x in c["by_cause"]],
               numeric={1, 2}, empty="No connectivity outages this week."),
    ]
    if c["worst_sites"]:
        parts.append("<p><b>Worst sites</b></p>" + _table(
            ["Site", "Outages", "Offline", "Lost time", "Per device"],
            [[s["site"], s["outages"], fmt.hours(s["outage_seconds"]), fmt.hours(s["lost_seconds"]),
              fmt.hours(s["lost_seconds_per_device"])] for s in c["worst_sites"]],
            numeric={1, 2, 3, 4}))
    parts.append(_network(r))
    parts.append(f"<h2>When time was lost (by day and hour, {escape(r['period']['timezone'])})</h2>")
    parts.append(svg.heatmap(r["heatmap"]["lost_seconds"]))
    return "".join(parts)


def _network(r: dict) -> str:
    n = r["connectivity"]["network"]
    parts = [f"<p><b>Network quality.</b> {escape(fmt.network_summary(n, r['min_group_size']))}</p>"]
    if n["by_interface"]:
        parts.append(_table(["Interface", "Outages", "Offline"],
                            [[x["interface_kind"], x["outages"], fmt.hours(x["outage_seconds"])] for x in n["by_interface"]],
                            numeric={1, 2}))
    return "".join(parts)


def _cohorts(r: dict) -> str:
    c = r["cohorts"]
    parts = ["<h2>Devices: models, OS builds, boot and sign-in</h2>", f"<p>{escape(fmt.waits_summary(c['waits']))}</p>"]
    for table, key, label, title in fmt.COHORT_TABLES:
        parts.append(f"<p><b>{escape(title)}</b></p>" + _table([label, *fmt.COHORT_HEADERS],
                                                            [fmt.cohort_cells(g, key) for g in c[table]],
                                                            numeric=set(range(1, 9))))
    parts.append(f'<p class="note">{escape(fmt.cohort_note(r["min_group_size"], c["top"]))}</p>')
    return "".join(parts)


def _service_desk(r: dict) -> str:
    s = r["support"]
    parts = ["<h2>Service desk: the iceberg</h2>",
             '<ul class="findings">' + "".join(f"<li>{escape(text)}</li>" for text in s["summary"]) + "</ul>"]
    if not s["tickets"]:
        return "".join(parts)
    for key in ("site", "department"):
        parts.append(f"<p><b>By {key}</b></p>" + _table(
            [key.capitalize(), "Devices", "Tickets", "Per 100 devices", "Contact time", "After a disruption",
             "Lost time without a ticket"],
            [[g[key], g["devices"], g["tickets"], fmt.number(g["tickets_per_100_devices"]),
              fmt.hours(g["contact_seconds"]), fmt.pct(g["after_disruption_share"]),
              fmt.pct(g["lost_without_ticket_share"])] for g in s[f"by_{key}"]],
            numeric={1, 2, 3, 4, 5, 6}))
    parts.append("<p><b>Ticket categories that hurt most</b></p>" + _table(
        ["Category", "Tickets", "Work-stopping", "Resolved", "Median time to resolve"],
        [[c["category"], c["tickets"], c["work_stopping"], c["resolved"], fmt.hours(c["median_resolve_seconds"])]
         for c in s["categories"]], numeric={1, 2, 3, 4}))
    if s["by_app"]:
        parts.append("<p><b>Applications whose disruptions led to tickets</b></p>" + _table(
            ["Application", "Tickets after its disruptions"], [[a["app"], a["tickets"]] for a in s["by_app"]],
            numeric={1}))
    parts.append(f'<p class="note">Contact time by channel: {escape(fmt.channels(s["by_channel"]))}. '
                 "A ticket follows a disruption when its "
                 f"device lost time to a measured disruption in the {escape(fmt.hours(s['window_seconds']))} before it "
                 "was opened (to the hour); tickets not traced to a device count by the site and department they "
                 "name.</p>")
    return "".join(parts)


def _felt(r: dict) -> str:
    p = r["felt"]
    parts = ["<h2>What employees felt</h2>"]
    if not p["questions"]:
        return "".join(parts) + '<p class="empty">No pulse question was answered or shown this week.</p>'
    parts.append(f"<p>{escape(fmt.felt_summary(p))}</p>")
    parts.append('<ul class="findings">' + "".join(f"<li>{escape(a['text'])}</li>" for a in p["by_app"]) + "</ul>")
    for key in ("site", "department"):
        parts.append(f"<p><b>By {key}</b></p>" + _table(
            [key.capitalize(), *fmt.FELT_HEADERS], [[g[key], *fmt.felt_cells(g)] for g in p[f"by_{key}"]],
            numeric=set(range(1, 9))))
    parts.append(f'<p class="note">{escape(fmt.felt_note(r["min_group_size"]))}</p>')
    if p["calibration"]:
        parts.append(f"<p><b>Calibration</b>: {escape(fmt.CALIBRATION_NOTE)}</p>" + _table(
            ["Setting", "Application", "Proposed", "Now", "Answers", "Devices"],
            [[c["setting"], c["app"] or "", fmt.minutes(c["recovery_seconds"]), fmt.minutes(c["current_seconds"]),
              c["answers"], c["devices"]] for c in p["calibration"]], numeric={2, 3, 4, 5}))
    return "".join(parts)


def _changes(r: dict) -> str:
    ch = r["changes"]
    parts = ["<h2>Changes this week and what they did</h2>"]
    if not ch["rows"]:
        return "".join(parts) + f'<p class="empty">{escape(ch["empty"])}</p>'
    parts.append('<ul class="findings">' + "".join(f"<li>{escape(c['text'])}</li>" for c in ch["rows"]) + "</ul>")
    parts.append(_table(["Change", "Version", "Devices moved", "Compared", "Per 100 h before", "After",
                         "Lost min per h before", "After", "Verdict"], fmt.change_cells(ch["rows"]),
                        numeric={2, 3, 4, 5, 6, 7}))
    parts.append(f'<p class="note">{escape(fmt.change_note(ch))}</p>')
    return "".join(parts)


def _devices_and_method(r: dict) -> str:
    parts = ["<h2>Devices with repeated problems</h2>"]
    parts.append(_table(
        ["Device (pseudonym)", "Site", "Department", "Disruptions", "Lost time", "Main cause", "Main application"],
        [[d["device"], d["site"], d["department"], d["disruptions"], fmt.hours(d["lost_seconds"]),
          fmt.type_label(d["main_cause"]), d["main_app"]] for d in r["repeat_devices"]],
        numeric={3, 4}, empty=f"No device had {r['method']['repeat_threshold']} or more disruptions."))
    m = r["method"]
    params = "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(str(v))}</td></tr>" for k, v in m["parameters"].items())
    parts.append("<h2>Method</h2>")
    parts.append(
        f"<p>Impact model version <b>{escape(str(m['model_version']))}</b>. {m['reporting_devices']} devices reported during "
        f"the week; {m['silent_devices']} of {m['known_devices']} known devices were silent (coverage {fmt.pct(m['coverage'])}).</p>"
        + "".join(f'<p class="note">{escape(n)}</p>' for n in m["notes"])
        + f"<table class=\"params\"><thead><tr><th>Parameter</th><th>Value</th></tr></thead><tbody>{params}</tbody></table>"
    )
    return "".join(parts)
