"""Three to five plain-language findings generated from a report dict.

Each candidate rule looks at one part of the report (the service-desk
section's own sentences come from :func:`iceberg`) and, when the data
supports it, writes one sentence with its figures. Candidates are ranked by
the share of lost time they explain; the report keeps the top five, and always
at least three sentences (falling back to coverage and totals).
"""

from __future__ import annotations

from collector.report import fmt

ISSUES_BELOW = 70.0  # an employee "with issues": own experience score below this (Nexthink's published rule)

MAX_FINDINGS = 5
MIN_FINDINGS = 3


def findings(r: dict) -> list[dict]:
    """The findings for a report dict (every section but ``findings`` filled)."""
    total = r["totals"]["lost_seconds"]
    if total <= 0:
        return _quiet_week(r)
    candidates: list[tuple[float, str, str]] = []
    for rule in (_top_type, _top_app, _app_rate, _trend, _worst_site, _connectivity, _repeat_devices, _peak_time, _service_desk,
                 _cohort, _change_regression):
        found = rule(r, total)
        if found:
            candidates.append(found)
    candidates.sort(key=lambda c: -c[0])
    chosen = [{"kind": kind, "text": text} for _, kind, text in candidates[:MAX_FINDINGS]]
    for extra in (_coverage(r), _score(r)):
        if len(chosen) >= MIN_FINDINGS:
            break
        if extra and all(extra["kind"] != c["kind"] for c in chosen):
            chosen.append(extra)
    return chosen


def _quiet_week(r: dict) -> list[dict]:
    t = r["totals"]
    out = [{"kind": "empty", "text": f"No lost working time was recorded in week {r['week']}."}]
    if t["devices"] == 0:
        out.append({"kind": "coverage", "text": "No device reported during the week: check that the agents and the collector are running."})
    else:
        out.append({"kind": "devices", "text": f"{t['devices']} devices reported {fmt.hours(t['active_seconds'])} of active work "
                                                f"and {t['disruptions']} disruptions, none of which cost working time."})
    cov = _coverage(r)
    if cov:
        out.append(cov)
    return out


def _top_type(r: dict, total: float):
    top = r["by_type"][0]
    return (top["share"], "type",
            f"{fmt.type_label(top['type'])} caused {fmt.pct(top['share'])} of all lost time "
            f"({fmt.hours(top['lost_seconds'])}, {fmt.money(top['cost'], r['currency'])}) across {top['devices']} devices.")


def _top_app(r: dict, total: float):
    """The named application that lost the most time (never ``other``, which is what is left: described as such)."""
    apps = [a for a in r["by_app"] if a["lost_seconds"] > 0 and a["app"] != "other"]
    if not apps:
        return None
    a = apps[0]
    cause = fmt.type_label(a["main_cause"]).lower() if a["main_cause"] else "disruptions"
    text = (f"{a['app']} lost the most time: {fmt.hours(a['lost_seconds'])} ({fmt.pct(a['share'])} of all lost time) "
            f"on {a['devices']} devices, mostly through {cause}")
    if a["version"]:
        others = [v["version"] for v in a["versions"] if v["version"] != a["version"]]
        text += (f"; version {a['version']} had {fmt.pct(a['version_share'])} of its disruptions"
                 + (f" (other versions seen failing: {', '.join(others[:3])})" if others else ""))
    rest = next((o for o in r["by_app"] if o["app"] == "other" and o["lost_seconds"] > 0), None)
    if rest and rest.get("executables"):
        text += (f"; {rest['executables']} other executables, each losing less, lost "
                 f"{fmt.hours(rest['lost_seconds'])} together")
    return (a["share"], "app", text + ".")


RATE_RATIO = 2.0  # an application is named when it is disrupted this many times more per hour of use ...
RATE_MIN_DISRUPTIONS = 3  # ... than the fleet's other rated applications together, with at least this many


def _app_rate(r: dict, total: float):
    """The application disrupted most per hour of use against the fleet's other applications used enough to be
    rated (together), when it stands out."""
    use = r["app_use"]
    best = None
    for a in r["by_app"]:
        if not a["enough_use"] or a["disruptions"] < RATE_MIN_DISRUPTIONS or a["app"] == "other":  # no application
            continue
        others_h = (use["rated_focus_seconds"] - a["focus_seconds"]) / 3600
        others_n = use["rated_disruptions"] - a["disruptions"]
        if others_h < use["min_focus_hours"] or others_n <= 0:
            continue
        others = 100 * others_n / others_h
        ratio = a["disruptions_per_100h"] / others
        if ratio >= RATE_RATIO and (best is None or ratio > best[0]):
            best = (ratio, a, others)
    if best is None:
        return None
    ratio, a, others = best
    return (max(a["share"], 0.05) * 0.7, "app_rate",
            f"{a['app']} is disrupted {ratio:.1f}x more per hour of use than the fleet's other applications: "
            f"{a['disruptions_per_100h']:.1f} disruptions per 100 h of use against {others:.1f} "
            f"({fmt.hours(a['focus_seconds'])} of use this week).")


def _trend(r: dict, total: float):
    prev = r["previous"]["lost_seconds"]
    if prev <= 0:
        return None
    ratio = total / prev - 1
    if abs(ratio) < 0.1:
        return (0.05, "trend", f"Lost time was stable against last week ({fmt.hours(prev)} then, {fmt.hours(total)} now).")
    word = "rose" if ratio > 0 else "fell"
    return (min(abs(ratio), 1.0) * 0.5, "trend",
            f"Lost time {word} {abs(ratio) * 100:.0f}% against last week, from {fmt.hours(prev)} to {fmt.hours(total)}.")


def _worst_site(r: dict, total: float):
    sites = [s for s in r["by_site"] if s["site"] != "other" and s["active_seconds"] > 0 and s["experience_score"] is not None]
    if len(sites) < 2:
        return None
    worst = min(sites, key=lambda s: s["experience_score"])
    best = max(sites, key=lambda s: s["experience_score"])
    if worst["experience_score"] >= best["experience_score"] - 1:
        return None
    share = worst["lost_seconds"] / total
    return (share * 0.8, "site",
            f"{worst['site']} had the lowest experience score ({fmt.score(worst['experience_score'])}, against "
            f"{fmt.score(best['experience_score'])} at {best['site']}): {fmt.hours(worst['lost_seconds_per_device'])} lost per device.")


COHORT_RATIO = 2.0  # a hardware model or OS build is named when its devices lose this many times the others' each


def _cohort(r: dict, total: float):
    """The hardware model or OS build whose devices lose the most time each, when it stands out from the rest of
    the fleet."""
    devices = r["totals"]["devices"]
    rows = [(label, g[key], g) for table, key, label, _title in fmt.COHORT_TABLES[:2] for g in r["cohorts"][table]
            if g[key] != "other" and g["lost_seconds"] > 0 and g["devices"] < devices]
    if not rows:
        return None
    label, name, g = max(rows, key=lambda x: (x[2]["lost_seconds_per_device"], x[2]["lost_seconds"]))
    others = (total - g["lost_seconds"]) / (devices - g["devices"])
    if g["lost_seconds_per_device"] < COHORT_RATIO * others:
        return None
    than = (f"{g['lost_seconds_per_device'] / others:.1f} times the other devices' {fmt.hours(others)}"
            if others > 0 else "where the other devices lost none")
    boot = g["boot"]
    slow = (f"; {fmt.pct(boot['slow_share'])} of its boots were slow (median {fmt.wait(boot['median_seconds'])})"
            if boot["count"] and boot["slow_share"] else "")
    return (g["lost_seconds"] / total, "cohort",
            f"Devices of {'model' if label == 'Model' else label} {name} lost {fmt.hours(g['lost_seconds_per_device'])} "
            f"each, {than} ({g['devices']} devices){slow}.")


def _connectivity(r: dict, total: float):
    c = r["connectivity"]
    if c["lost_seconds"] <= 0 or not c["by_cause"]:
        return None
    cause = c["by_cause"][0]
    if r["by_type"][0]["type"] == "connectivity_loss":  # the share is already the top finding: say where and why
        text = f"Most offline time was due to {cause['cause']} ({fmt.hours(cause['outage_seconds'])})"
    else:
        text = (f"Connectivity outages cost {fmt.hours(c['lost_seconds'])} ({fmt.pct(c['lost_seconds'] / total)} of lost time); "
                f"most offline time was due to {cause['cause']} ({fmt.hours(cause['outage_seconds'])})")
    if c["worst_sites"]:
        w = c["worst_sites"][0]
        text += f", and {w['site']} was hit hardest ({fmt.hours(w['lost_seconds'])} lost)"
    return (c["lost_seconds"] / total * 0.9, "connectivity", text + ".")


def _repeat_devices(r: dict, total: float):
    devs = r["repeat_devices"]
    if not devs:
        return None
    lost = sum(d["lost_seconds"] for d in devs)
    return (lost / total * 0.4, "devices",
            f"{r['method']['repeat_devices_total']} devices had {r['method']['repeat_threshold']} or more disruptions each; "
            f"the {len(devs)} listed lost {fmt.hours(lost)} ({fmt.pct(lost / total)} of the total).")


def _peak_time(r: dict, total: float):
    grid = r["heatmap"]["lost_seconds"]
    d, h, v = max(((d, h, v) for d, row in enumerate(grid) for h, v in enumerate(row)), key=lambda x: x[2])
    if v / total < 0.1:
        return None
    return (v / total * 0.6, "time",
            f"The worst hour was {fmt.DAYS[d]} {h:02d}:00-{h + 1:02d}:00 {r['period']['timezone']}, "
            f"with {fmt.pct(v / total)} of the week's lost time.")


def _service_desk(r: dict, total: float):
    s = r["support"]
    if not s["connected"] or s["lost_without_ticket_share"] is None:
        return None
    return (s["lost_without_ticket_share"] * 0.6, "service_desk", _never_reached(s))


def _never_reached(s: dict) -> str:
    return (f"{fmt.pct(s['lost_without_ticket_share'])} of the {fmt.hours(s['lost_seconds'])} lost to measured "
            "disruptions was on devices whose users raised no ticket this week: that time never reached the service "
            "desk.")


def _change_regression(r: dict, total: float):
    """The change that made things worse by the widest margin (not noise), ranked just below the largest cause."""
    worse = [c for c in r.get("changes", {}).get("rows", []) if c["verdict"] == "worse"]
    if not worse:
        return None
    c = max(worse, key=lambda c: (c["ratio"] or float("inf"), c["devices"]))
    what = f"{c['subject']} {c['version']}" if c["kind"] == "app_version" else f"OS build {c['version']}"
    counted = f"failures of {c['subject']}" if c["kind"] == "app_version" else "disruptions"  # changes.FAILURE_TYPES
    how = (f"{c['ratio']:.1f} times as many {counted} per active hour as before" if c["ratio"]
           else f"{counted} per active hour where there were none before")
    return (0.9, "change", f"Since {what} arrived, its {c['devices']} devices have {how} "
            f"({fmt.number(c['before_per_100h'])} then {fmt.number(c['after_per_100h'])} per 100 h): a regression, "
            "not noise.")


def _coverage(r: dict):
    m = r["method"]
    if m["known_devices"] == 0:
        return None
    if m["silent_devices"] == 0:
        return {"kind": "coverage", "text": f"All {m['known_devices']} known devices reported during the week."}
    return {"kind": "coverage",
            "text": f"{m['silent_devices']} of {m['known_devices']} known devices ({fmt.pct(1 - m['coverage'])}) did not report "
                    "this week; their lost time is not counted."}


def _score(r: dict):
    t = r["totals"]
    if t["experience_score"] is None:
        return None
    issues = (f" {t['employees_with_issues']} of {t['employees_scored']} employees had issues (their own score "
              f"below {ISSUES_BELOW:g}).") if t.get("employees_scored") else ""
    return {"kind": "score",
            "text": f"The experience score was {fmt.score(t['experience_score'])}: employees lost "
                    f"{fmt.hours(t['lost_hours_per_employee'] * 3600)} each, {fmt.pct(t['lost_seconds'] / t['active_seconds'], 1)} "
                    f"of their active time (the productivity loss).{issues}"}


def iceberg(s: dict) -> list[str]:
    """The support section's sentences: how much measured lost time never reached the service desk, and what it
    means (``s`` is the report's ``support`` dict)."""
    if not s["connected"]:
        return ["No service desk is connected, so this report cannot say how much lost time reached it: add a "
                "[[support.sources]] entry to the collector config, or import tickets with `hinder support import`."]
    out = []
    if s["lost_without_ticket_share"] is not None:
        out.append(_never_reached(s))
        top = s["by_type"][0]
        out.append(f"{fmt.pct(top['lost_without_ticket_share'])} of the time lost to "
                   f"{fmt.type_label(top['type']).lower()} never reached the service desk.")
    if not s["tickets"]:
        out.append("The service desk recorded no ticket opened this week.")
        return out
    per_100 = s["tickets_per_100_devices"]
    out.append(f"The service desk received {s['tickets']} tickets"
               + (f" ({per_100:.1f} per 100 devices)" if per_100 is not None else "")
               + f", which took employees {fmt.hours(s['contact_seconds'])} to raise.")
    if s["joined"]:
        out.append(f"{fmt.pct(s['after_disruption_share'])} of the {s['joined']} tickets traced to a device followed a "
                   f"disruption measured on it in the {fmt.hours(s['window_seconds'])} before.")
    share = s["lost_without_ticket_share"]
    if share is not None and share >= 0.5:
        out.append("Tickets show the tip of the iceberg: most disruptions are absorbed by employees without a word "
                   "to IT, so ticket volume understates what IT problems cost. Steer on measured lost time; read "
                   "the tickets for what made people call.")
    elif share is not None:
        out.append("Most measured lost time does reach the service desk: ticket volume is a fair signal here, and "
                   "the measured figures say which disruptions to fix first.")
    return out
