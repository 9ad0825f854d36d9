"""GET /api/v1/reports/weekly on the collector app: admin token, formats, errors."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN
from tests.report import dataset as ds
from tests.report.conftest import need_chromium

URL = "/api/v1/reports/weekly"


@pytest.fixture
def client(filled, config):
    from collector.api.app import create_app

    config.collector.agent_tokens = [AGENT_TOKEN]
    config.collector.admin_token = ADMIN_TOKEN
    with TestClient(create_app(config, filled, background_jobs=False)) as c:
        yield c


def _get(client, token=ADMIN_TOKEN, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(URL, params={"week": ds.WEEK, **params}, headers=headers)


def test_needs_the_admin_token(client):
    assert _get(client, token=None).status_code == 401
    r = _get(client, token=AGENT_TOKEN)
    assert r.status_code == 401 and "admin token" in r.json()["detail"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_json_is_the_report(client):
    r = _get(client, format="json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["week"] == ds.WEEK and body["totals"]["lost_seconds"] == pytest.approx(ds.EXPECTED["lost_seconds"])
    assert body["model_version"] == "3"


def test_the_week_under_either_model_version(client, filled, config):
    """Two phone calls at 09:30 on Monday: one on a device with nothing else (600 s, fully active), one on the
    device whose network was down 09:20-09:40 (the outage already explains those minutes: 0 s)."""
    import sqlalchemy as sa

    from collector import aggregates
    from collector.aggregates.refresh import refresh
    from collector.db import write_transaction
    from collector.support.store import store_tickets
    from collector.support.tickets import Ticket

    at = ds.MONDAY + 9.5 * 3600
    with write_transaction(filled) as conn:
        for i, dev in enumerate(("device-P5", "device-P4")):
            key = f"{i + 1:032x}"
            conn.execute(sa.text("UPDATE device SET host_key = :k WHERE id = :d"), {"k": key, "d": dev})
            store_tickets(conn, [Ticket("desk", f"INC{i}", at, at, at + 600, channel="phone", host_key=key)],
                          now=ds.MONDAY + 12 * 3600, model=aggregates.model_config(config))
    refresh(filled, config, now=ds.MONDAY + 12 * 3600)
    v3, v2, v1 = (_get(client, format="json", model=m).json() for m in ("3", "2", "1"))
    assert (v3["model_version"], v2["model_version"], v1["model_version"]) == ("3", "2", "1")
    assert v1["totals"]["lost_seconds"] == pytest.approx(ds.EXPECTED["lost_seconds"])
    assert v2["totals"]["lost_seconds"] == v3["totals"]["lost_seconds"] == pytest.approx(ds.EXPECTED["lost_seconds"] + 600.0)
    # the score: versions 1 and 2 keep 1 - lost / active; version 3 counts impacted hours, now also P5's 09:00
    assert v1["totals"]["experience_score"] == pytest.approx(100 * (1 - 5100 / 79200))
    assert v2["totals"]["experience_score"] == pytest.approx(100 * (1 - 5700 / 79200))
    assert v3["totals"]["experience_score"] == pytest.approx(100 * (1 - (ds.EXPECTED["impacted_seconds"] + 3600) / 79200))
    r = _get(client, model="4")
    assert r.status_code == 400 and "expected one of 1, 2, 3" in r.json()["detail"]


@pytest.mark.parametrize("fmt, ctype, marker", [
    ("html", "text/html", b"<!DOCTYPE html>"),
    ("md", "text/markdown", b"# Example Corp"),
])
def test_text_formats(client, fmt, ctype, marker):
    r = _get(client, format=fmt)
    assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
    assert r.content.startswith(marker)


def test_csv_zip(client):
    r = _get(client, format="csv")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert f'filename="hinder-report-{ds.WEEK}.zip"' in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert f"hinder-report-{ds.WEEK}/by_site.csv" in z.namelist()


def test_pdf(client):
    need_chromium()
    r = _get(client, format="pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")


def test_bad_requests(client):
    for week in ("2026-47", "", "2026-W47\n"):  # as the document's pattern says: an empty week is not the default
        r = _get(client, week=week)
        assert r.status_code == 400 and "ISO week" in r.json()["detail"]
    r = _get(client, format="docx")
    assert r.status_code == 400 and "expected one of html, pdf, md, csv, json" in r.json()["detail"]
    for week in ("0001-W01", "9999-W52"):  # were 500s (OverflowError)
        r = _get(client, week=week)
        assert r.status_code == 400 and "year must be from 1970 to 9998" in r.json()["detail"]


def test_default_week_is_the_last_complete_one(client):
    from collector.report.week import last_complete_week

    r = client.get(URL, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 200 and r.json()["week"] == last_complete_week()
