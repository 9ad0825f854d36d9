"""The report's service-desk section (the iceberg) from a real database, against the hand-computed tickets of
tests/report/dataset.py; and its rendering in every format, untrusted categories included."""

from __future__ import annotations

import io
import zipfile

import pytest

from collector.report.build import build_report
from collector.report.render import render
from collector.support.store import store_tickets
from collector.support.tickets import Ticket
from tests.report import dataset as ds
from tests.report.conftest import synthetic_report


def _groups(rows: list[dict], key: str) -> dict:
    return {g[key]: (g["devices"], g["tickets"], g["contact_seconds"], g["joined"], g["after_disruption"],
                     round(g["lost_seconds"], 6), round(g["lost_without_ticket_seconds"], 6)) for g in rows}


def test_the_iceberg_of_the_hand_computed_week(filled_with_tickets, config):
    r = build_report(filled_with_tickets, config, ds.WEEK)
    s = r["support"]
    x = ds.SUPPORT
    assert s["connected"] is True
    assert (s["tickets"], s["joined"], s["after_disruption"]) == (x["tickets"], x["joined"], x["after_disruption"])
    assert s["after_disruption_share"] == pytest.approx(0.5)
    assert s["contact_seconds"] == pytest.approx(x["contact_seconds"])
    assert s["tickets_per_100_devices"] == pytest.approx(x["tickets_per_100_devices"])
    assert s["lost_seconds"] == pytest.approx(x["lost_seconds"])
    assert s["lost_without_ticket_seconds"] == pytest.approx(x["lost_without_ticket_seconds"])
    assert s["lost_without_ticket_share"] == pytest.approx(3840 / 5100)
    assert {t["type"]: t["lost_without_ticket_share"] for t in s["by_type"]} == pytest.approx(x["by_type"])
    assert s["by_type"][0]["type"] == "connectivity_loss"
    assert {c["channel"]: (c["tickets"], c["contact_seconds"]) for c in s["by_channel"]} == x["by_channel"]
    assert _groups(s["by_site"], "site") == x["by_site"]
    assert _groups(s["by_department"], "department") == x["by_department"]
    assert [(c["category"], c["tickets"], c["work_stopping"], c["resolved"], c["median_resolve_seconds"])
            for c in s["categories"]] == x["categories"]
    assert {a["app"]: a["tickets"] for a in s["by_app"]} == x["by_app"]
    assert s["summary"][0].startswith("75% of the 1.4 h lost to measured disruptions")
    assert "86% of the time lost to connectivity loss never reached the service desk." in s["summary"]
    assert any("6 tickets (54.5 per 100 devices)" in text and "52 min" in text for text in s["summary"])  # 3,120 s
    assert any(text.startswith("50% of the 4 tickets traced to a device") for text in s["summary"])
    assert "tip of the iceberg" in s["summary"][-1]
    assert {"kind": "service_desk", "text": s["summary"][0]} in r["findings"]


def test_a_longer_window_makes_the_last_ticket_follow_its_crash(filled_with_tickets, db_url):
    """T7 was opened 4 h after the end of P3's crash hour: with a window of 4 h and one second, it follows it."""
    from collector.config import parse_config

    wider = parse_config({**ds.CONFIG, "support": {"ticket_after_disruption_s": 4 * 3600 + 1}},
                         overrides={"db": db_url}, env={})
    s = build_report(filled_with_tickets, wider, ds.WEEK)["support"]
    assert s["after_disruption"] == 3
    assert {a["app"]: a["tickets"] for a in s["by_app"]} == {"outlook": 2}  # T1 after a hang, T7 after a crash


def test_tickets_read_again_change_nothing(filled_with_tickets, config):
    before = build_report(filled_with_tickets, config, ds.WEEK)["support"]
    with filled_with_tickets.begin() as conn:
        again = store_tickets(conn, ds.tickets(), now=ds.NEXT_MONDAY + 12 * 3600)
    assert (again.inserted, again.unchanged) == (0, len(ds.tickets()))
    assert build_report(filled_with_tickets, config, ds.WEEK)["support"] == before


def test_no_service_desk_says_how_to_connect_one(db_engine, config):
    r = build_report(db_engine, config, ds.WEEK)
    s = r["support"]
    assert (s["connected"], s["tickets"], s["lost_without_ticket_share"]) == (False, 0, None)
    assert len(s["summary"]) == 1 and "[[support.sources]]" in s["summary"][0]
    for fmt in ("html", "md"):
        text = render(r, fmt).decode()
        assert "Service desk: the iceberg" in text and "hinder support import" in text


def test_a_connected_desk_without_tickets_this_week(db_engine, config):
    with db_engine.begin() as conn:
        store_tickets(conn, [Ticket(source="import", ticket_id="old", opened_at=ds.PREV_MONDAY,
                                    updated_at=ds.PREV_MONDAY, channel="phone")], now=ds.MONDAY)
    s = build_report(db_engine, config, ds.WEEK)["support"]
    assert s["connected"] and s["tickets"] == 0
    assert s["summary"] == ["The service desk recorded no ticket opened this week."]


def test_rendered_in_every_format(filled_with_tickets, config):
    r = build_report(filled_with_tickets, config, ds.WEEK)
    html = render(r, "html").decode()
    assert "Service desk: the iceberg" in html and "Ticket categories that hurt most" in html
    assert "<td>Email</td><td class=\"n\">3</td><td class=\"n\">1</td>" in html
    md = render(r, "md").decode()
    assert "| Lyon | 5 | 2 | 40.0 | 17 min | 100% | 80% |" in md
    with zipfile.ZipFile(io.BytesIO(render(r, "csv"))) as z:
        sites = z.read(f"hinder-report-{ds.WEEK}/support_by_site.csv").decode().splitlines()
        totals = z.read(f"hinder-report-{ds.WEEK}/support_totals.csv").decode()
    assert sites[0].startswith("site,devices,tickets") and sites[1].startswith("Paris,5,3,60.0,1200.0,3,1,")
    assert "lost_without_ticket_seconds,3840.0" in totals


def test_hostile_categories_stay_data(db_engine, config):
    """Categories come from an ITSM: markup, formulas and Markdown in them are shown as text, never run."""
    hostile = ["<script>alert(1)</script>", "=HYPERLINK(\"http://x\")", "[click](http://x) *bold* | cell"]
    with db_engine.begin() as conn:
        store_tickets(conn, [Ticket(source="import", ticket_id=f"h{i}", opened_at=ds.MONDAY + 3600 * i,
                                    updated_at=ds.MONDAY + 3600 * i, channel="portal", category=c)
                             for i, c in enumerate(hostile)], now=ds.NEXT_MONDAY)
    r = build_report(db_engine, config, ds.WEEK)
    assert {c["category"] for c in r["support"]["categories"]} == set(hostile)
    html = render(r, "html").decode()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = render(r, "md").decode()
    assert "[click](http://x)" not in md and r"\[click\](http://x) \*bold\* \| cell" in md
    with zipfile.ZipFile(io.BytesIO(render(r, "csv"))) as z:
        cats = z.read(f"hinder-report-{ds.WEEK}/support_categories.csv").decode()
    assert "'=HYPERLINK" in cats


def test_the_synthetic_reports_render_without_tickets():
    for r in (synthetic_report(), synthetic_report(empty=True)):
        assert r["support"]["connected"] is False
        for fmt in ("html", "md", "json"):
            assert render(r, fmt)
