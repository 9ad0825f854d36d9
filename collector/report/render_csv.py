"""The report as CSV tables for spreadsheets: a zip with one CSV file per section."""

from __future__ import annotations

import csv
import io
import re
import zipfile

from collector.aggregates import network
from collector.report.fmt import COHORT_TABLES, DAYS

_SECTIONS = {
    "totals.csv": ("totals", None),
    "by_type.csv": ("by_type", ["type", "lost_seconds", "lost_hours", "share", "cost", "disruptions", "devices"]),
    "by_app.csv": ("by_app", ["app", "lost_seconds", "lost_hours", "share", "disruptions", "devices", "main_cause",
                              "main_cause_share", "version", "version_share", "focus_seconds", "focus_hours",
                              "enough_use", "disruptions_per_100h", "lost_minutes_per_hour", "experience_score",
                              "executables"]),
    "by_site.csv": ("by_site", ["site", "devices", "active_seconds", "lost_seconds", "lost_hours", "lost_seconds_per_device",
                                "cost", "disruptions", "experience_score", "impacted_seconds", "productivity_loss"]),
    "by_department.csv": ("by_department", ["department", "devices", "active_seconds", "lost_seconds", "lost_hours",
                                            "lost_seconds_per_device", "cost", "disruptions", "experience_score",
                                            "impacted_seconds", "productivity_loss"]),
    "repeat_devices.csv": ("repeat_devices", ["device", "site", "department", "disruptions", "lost_seconds", "main_cause",
                                              "main_app"]),
}


_FELT_COLUMNS = ["questions", "answered", "answer_rate", "devices", "withheld", "felt_seconds_each",
                 "model_seconds_each"]
_CALIBRATION_COLUMNS = ["type", "app", "setting", "recovery_seconds", "current_seconds", "answers", "devices"]
_WAIT_COLUMNS = ["count", "median_seconds", "p90_seconds", "slow_share", "lost_seconds"]
_COHORT_COLUMNS = ["groups", "devices", "active_seconds", "lost_seconds", "lost_hours", "lost_seconds_per_device",
                   "disruptions", "disruptions_per_device", "disruptions_per_100h", "cpu_class"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _cell(value):
    """A value as a spreadsheet reads it as data: a text that would start a formula gets a leading apostrophe.

    Every cell of every table goes through here. Numbers stay numbers (a negative number is not a formula), and
    so does a text that is a plain number; ``=HYPERLINK(...)`` or ``@SUM(...)`` from an agent becomes inert text.
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([_cell(v) for v in row] for row in rows)
    return buf.getvalue()


_CHANGE_COLUMNS = ["kind", "subject", "version", "first_seen", "adopters", "devices", "before_active_hours",
                   "after_active_hours", "before_disruptions", "after_disruptions", "before_per_100h", "after_per_100h",
                   "before_lost_minutes_per_hour", "after_lost_minutes_per_hour", "ratio", "p_value", "verdict", "text"]


def tables(r: dict) -> dict[str, str]:
    """File name -> CSV text for every section of the report."""
    out = {}
    for name, (key, cols) in _SECTIONS.items():
        if cols is None:
            t = r[key]
            out[name] = _csv(["week", "figure", "value", "previous_week"],
                             [[r["week"], k, v, r["previous"].get(k)] for k, v in t.items()])
        else:
            out[name] = _csv(cols, [[row.get(c) for c in cols] for row in r[key]])
    out["app_versions.csv"] = _csv(["app", "version", "disruptions"],
                                   [[a["app"], v["version"], v["disruptions"]]
                                    for a in r["by_app"] for v in a["versions"]])
    c = r["connectivity"]
    out["connectivity_causes.csv"] = _csv(["cause", "outages", "outage_seconds"],
                                          [[x["cause"], x["outages"], x["outage_seconds"]] for x in c["by_cause"]])
    out["connectivity_sites.csv"] = _csv(["site", "outages", "outage_seconds", "lost_seconds", "devices", "lost_seconds_per_device"],
                                         [[s[k] for k in ("site", "outages", "outage_seconds", "lost_seconds", "devices",
                                                          "lost_seconds_per_device")] for s in c["worst_sites"]])
    n = c["network"]
    out["connectivity_interfaces.csv"] = _csv(["interface_kind", "outages", "outage_seconds"],
                                              [[x["interface_kind"], x["outages"], x["outage_seconds"]]
                                               for x in n["by_interface"]])
    out["connectivity_wifi.csv"] = _csv(["band", "share_of_wifi_active_time", "wifi_devices", "blips", "blip_devices"],
                                        [[b, None if n["wifi_shares"] is None else n["wifi_shares"][b], n["wifi_devices"],
                                          n["blips"], n["blip_devices"]] for b in network.BANDS])
    s = r["support"]
    out["support_totals.csv"] = _csv(["figure", "value"], [[k, v] for k, v in s.items() if not isinstance(v, list)])
    group_cols = ["devices", "tickets", "tickets_per_100_devices", "contact_seconds", "joined", "after_disruption",
                  "after_disruption_share", "lost_seconds", "lost_without_ticket_seconds", "lost_without_ticket_share"]
    for key in ("site", "department"):
        out[f"support_by_{key}.csv"] = _csv([key, *group_cols], [[g[key], *(g[c] for c in group_cols)]
                                                                 for g in s[f"by_{key}"]])
    for name, key, cols in (("support_by_channel.csv", "by_channel", ["channel", "tickets", "contact_seconds"]),
                            ("support_by_type.csv", "by_type", ["type", "lost_seconds", "lost_without_ticket_seconds",
                                                                "lost_without_ticket_share"]),
                            ("support_by_app.csv", "by_app", ["app", "tickets"]),
                            ("support_categories.csv", "categories", ["category", "tickets", "work_stopping",
                                                                      "resolved", "median_resolve_seconds"])):
        out[name] = _csv(cols, [[row[c] for c in cols] for row in s[key]])
    out["support_summary.csv"] = _csv(["text"], [[text] for text in s["summary"]])
    p = r["felt"]
    out["felt_totals.csv"] = _csv(["figure", "value"], [[k, v] for k, v in p.items()
                                                        if not isinstance(v, (list, dict))]
                                  + [[f"share.{k}", v] for k, v in (p["shares"] or {}).items()])
    for key, cols in (("by_app", ["type", "app"]), ("by_site", ["site"]), ("by_department", ["department"])):
        out[f"felt_{key}.csv"] = _csv([*cols, *_FELT_COLUMNS, *(f"share.{a}" for a in p["answer_labels"])],
                                      [[g[c] for c in (*cols, *_FELT_COLUMNS)]
                                       + [(g["shares"] or {}).get(a) for a in p["answer_labels"]] for g in p[key]])
    out["felt_calibration.csv"] = _csv(_CALIBRATION_COLUMNS, [[c[k] for k in _CALIBRATION_COLUMNS]
                                                              for c in p["calibration"]])
    cohorts = r["cohorts"]
    out["startup_waits.csv"] = _csv(["stage", *_WAIT_COLUMNS], [[stage, *(w[k] for k in _WAIT_COLUMNS)]
                                                                for stage, w in cohorts["waits"].items()])
    for table, key, _label, _title in COHORT_TABLES:
        stages = list(cohorts["waits"])
        out[f"cohorts_{table}.csv"] = _csv(
            [key, *_COHORT_COLUMNS, *(f"{stage}.{k}" for stage in stages for k in _WAIT_COLUMNS)],
            [[g[key], *(g.get(k) for k in _COHORT_COLUMNS), *(g[stage][k] for stage in stages for k in _WAIT_COLUMNS)]
             for g in cohorts[table]])
    out["changes.csv"] = _csv(_CHANGE_COLUMNS, [[c[k] for k in _CHANGE_COLUMNS] for c in r["changes"]["rows"]])
    out["heatmap.csv"] = _csv(["day", *(f"{h:02d}" for h in range(24))],
                              [[d, *row] for d, row in zip(DAYS, r["heatmap"]["lost_seconds"])])
    out["trend.csv"] = _csv(list(r["trend"][0]), [list(t.values()) for t in r["trend"]])
    out["findings.csv"] = _csv(["kind", "text"], [[f["kind"], f["text"]] for f in r["findings"]])
    out["method.csv"] = _csv(["key", "value"], [[k, v] for k, v in r["method"].items() if k not in ("parameters", "notes")]
                             + [[f"parameter.{k}", v] for k, v in r["method"]["parameters"].items()])
    return out


def render_csv_zip(r: dict) -> bytes:
    """A zip archive ``hinder-report-WEEK/*.csv``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in tables(r).items():
            z.writestr(f"hinder-report-{r['week']}/{name}", text)
    return buf.getvalue()
