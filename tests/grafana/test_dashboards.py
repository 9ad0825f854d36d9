"""Grafana dashboards: well-formed, provisioned, and every panel query returns data from a real Prometheus.

The module starts a real collector (configured with the simulator's app
catalogue, the fleet's identity key and a support token), fills it with
``hinder simulate`` (its service-desk tickets through the webhook) and a CSV of
tickets through ``hinder support import``, starts Debian's ``prometheus``
on loopback scraping it every second with our rules loaded, sends a few live
rounds so counters move, then runs every query of every panel through
Prometheus's HTTP API with the template variables substituted.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml

from collector.db import make_engine
from contract.records import format_time
from hinder.simulate.fleet import APPS, FLAKY_WIFI_SITE, OUTAGE_SITE, Fleet, names
from hinder.simulate.sender import Sender
from tests.conftest import AGENT_TOKEN, SUPPORT_TOKEN, CollectorProcess, free_port, hinder_env, wait_until

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
RULES = GRAFANA / "prometheus" / "rules.yml"
BUILTIN_VARS = {"__rate_interval", "__range", "__interval", "__interval_ms", "__range_s", "__range_ms", "__name"}
# What Grafana would put in place of its variables: "All" is a regex, the durations are sensible for a short run.
SUBSTITUTE = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s"}
DEVICES, DAYS, SEED = 40, 2, 5
SECRET = b"dashboards-test-identity-key"  # the fleet's identity key


def _last_workday_evening(now: float) -> float:
    """17:00 UTC of the latest weekday before ``now``: the history ends there, so every run has working days in it."""
    day = datetime.fromtimestamp(now - 17 * 3600, tz=timezone.utc).replace(hour=17, minute=0, second=0, microsecond=0)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day.timestamp()


END = _last_workday_evening(time.time())


def _dashboards() -> list[dict]:
    return [json.loads(p.read_text()) for p in DASHBOARDS]


def _targets(board: dict):
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def _annotations(board: dict) -> list[dict]:
    """The board's annotation queries that read Prometheus."""
    return [a for a in board["annotations"]["list"] if a.get("datasource", {}).get("type") == "prometheus"]


def _datasource_uid() -> str:
    provisioning = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (ds,) = provisioning["datasources"]
    assert provisioning["apiVersion"] == 1 and ds["type"] == "prometheus"
    return ds["uid"]


# ------------------------------------------------------------------ structure


def test_the_six_dashboards_exist_with_unique_uids():
    names = {p.stem for p in DASHBOARDS}
    assert names == {"executive", "operations", "applications", "connectivity", "fleet", "devices"}
    uids = [b["uid"] for b in _dashboards()]
    assert len(set(uids)) == len(uids)


def test_dashboard_provider_points_at_files():
    provisioning = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "hinder.yml").read_text())
    assert provisioning["apiVersion"] == 1
    (provider,) = provisioning["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_structure(path):
    board = json.loads(path.read_text())
    uid = _datasource_uid()
    assert 36 <= board["schemaVersion"] <= 41
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert {"site", "department"} <= set(variables)
    for v in variables.values():
        assert v["datasource"]["uid"] == uid and v["query"]["query"].startswith("label_values(")
    used = set()
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["type"] in ("timeseries", "stat", "bargauge", "table"), panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{panel['title']}: no unit"
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid
            used |= set(re.findall(r"\$(\w+)", target["expr"]))
        used |= set(re.findall(r"\$(\w+)", panel["title"]))
    cells = set()
    for panel in board["panels"]:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, f"{panel['title']}: outside the 24-column grid"
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{panel['title']}: overlaps another panel"
        cells |= mine
    undefined = used - set(variables) - BUILTIN_VARS
    assert not undefined, f"variables used but not defined: {sorted(undefined)}"
    assert set(variables) <= used | {"app"}, "a variable is defined but no panel uses it"


def test_changes_mark_the_time_series_where_they_were_first_seen():
    boards = {b["uid"]: b for b in _dashboards()}
    for uid in ("hinder-executive", "hinder-applications"):
        (a,) = [a for a in _annotations(boards[uid]) if a["name"] == "Changes"]
        assert a["datasource"]["uid"] == _datasource_uid() and a["enable"] and a["useValueForTime"] is True
        # Grafana reads the value as milliseconds
        assert "hinder_change_first_seen_timestamp_seconds" in a["expr"] and a["expr"].endswith("* 1000")
        assert "{{subject}}" in a["titleFormat"] and "{{version}}" in a["titleFormat"]


def test_units_cover_hours_ratios_and_money():
    units = {p["fieldConfig"]["defaults"]["unit"] for b in _dashboards() for p in b["panels"] if p["type"] != "row"}
    assert {"h", "s", "percentunit"} <= units and any(u.startswith("currency") for u in units)


# ------------------------------------------------------------------ against a real Prometheus


class _Prometheus:
    """Debian's prometheus on a loopback port with a throw-away storage dir."""

    def __init__(self, workdir: Path, target: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": "hinder", "static_configs": [{"targets": [target]}]}],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log_path = workdir / "prometheus.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [shutil.which("prometheus"), f"--config.file={workdir / 'prometheus.yml'}",
                 f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                 "--web.enable-lifecycle"], stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._ready, 60, what="prometheus to be ready")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expr: str, instant: bool = True) -> list:
        now = time.time()
        if instant:
            r = httpx.get(f"{self.url}/api/v1/query", params={"query": expr, "time": now}, timeout=30)
        else:
            r = httpx.get(f"{self.url}/api/v1/query_range",
                          params={"query": expr, "start": now - 60, "end": now, "step": "5"}, timeout=30)
        body = r.json()
        if body.get("status") != "success":
            raise AssertionError(f"{expr}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]["result"]

    def label_values(self, label: str, match: str) -> list[str]:
        r = httpx.get(f"{self.url}/api/v1/label/{label}/values", params={"match[]": match}, timeout=30)
        return r.json()["data"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A collector filled by the simulator (with its ticket stream through the webhook) and a CSV of tickets
    imported with `hinder support import`, scraped by a real Prometheus that has seen counters move."""
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (Debian: apt-get install prometheus; scripts/test does it as root)")
    workdir = tmp_path_factory.mktemp("dashboards")
    key_file = workdir / "identity.key"
    key_file.write_bytes(SECRET)
    config = workdir / "collector.toml"
    config.write_text(f"{Fleet.apps_toml()}[support]\nidentity_key_file = {json.dumps(str(key_file))}\n")
    collector = CollectorProcess(port=free_port(), db=f"sqlite:///{workdir / 'hinder.db'}", workdir=workdir,
                                 args=["--config", str(config)], env={"HINDER_SUPPORT_TOKEN": SUPPORT_TOKEN})
    prometheus = None
    try:
        collector.start()
        sim = subprocess.run(
            [sys.executable, "-m", "hinder", "simulate", "--collector", collector.url, "--devices", str(DEVICES),
             "--days", str(DAYS), "--seed", str(SEED), "--end", format_time(END),
             "--identity-key-file", str(key_file), "--support-token", SUPPORT_TOKEN],
            env=hinder_env(HINDER_AGENT_TOKEN=AGENT_TOKEN), capture_output=True, text=True, timeout=300)
        assert sim.returncode == 0, sim.stdout + sim.stderr + collector.log()[-3000:]
        _wait_for_impact_figures(collector, above=0.0)
        prometheus = _Prometheus(workdir, f"127.0.0.1:{collector.port}")
        wait_until(lambda: prometheus.query('count_over_time(up{job="hinder"}[1m]) >= 3 and up == 1'), 60,
                   interval_s=0.5, what="three successful scrapes")
        fleet = Fleet(DEVICES, DAYS, seed=SEED, end=END, identity_secret=SECRET)
        _import_tickets(collector, config, fleet, workdir)  # after the first scrapes: the contacts counters move
        # Live rounds after the first scrapes: counters move, and "devices affected now" has data at any hour.
        lost_before = _lost_seconds(collector)
        sender = Sender(collector.url, AGENT_TOKEN, concurrency=4)
        for round_no in range(3):
            now = time.time()
            sender.send_all(fleet.devices, lambda d: filter(None, [fleet.live_batch(d, now, 60.0, round_no)]))
            time.sleep(1.5)
        _wait_for_impact_figures(collector, above=lost_before)
        wait_until(lambda: prometheus.query("sum(rate(hinder_ingest_batches_total[1m])) > 0"), 60, interval_s=0.5,
                   what="ingest rate to show in Prometheus")
        settled = time.time() + 2  # a couple more scrapes and rule evaluations after the last live round
        wait_until(lambda: time.time() > settled and _rules_evaluated_since(prometheus, settled), 60, interval_s=0.5,
                   what="the rules to be evaluated after the last live round")
        yield collector, prometheus
    finally:
        if prometheus:
            prometheus.stop()
        collector.kill()


def _import_tickets(collector: CollectorProcess, config: Path, fleet: Fleet, workdir: Path) -> None:
    """`hinder support import` of a small CSV: two tickets naming simulated hosts in clear (joined by the identity
    key), one naming nobody known (counted under its own site and department)."""
    now = time.time()
    # CSV-1 adds to a series the simulator's webhook tickets made before Prometheus's scrapes (so its increase
    # shows: Prometheus counts none for a series first seen at 1): the channel and device of one of them.
    engine = make_engine(collector.db)
    try:
        with engine.connect() as conn:
            channel, device_id = conn.execute(sa.text(
                "SELECT channel, device_id FROM support_ticket WHERE source = 'webhook' AND device_id IS NOT NULL "
                "ORDER BY ticket_id LIMIT 1")).one()
    finally:
        engine.dispose()
    first = names(next(d for d in fleet.devices if d.device_id == device_id))["host"]
    second = names(next(d for d in fleet.devices if d.device_id != device_id))["host"]
    rows = [("CSV-1", now - 7200, channel, first, "", ""), ("CSV-2", now - 5400, "remote support", second, "", ""),
            ("CSV-3", now - 3600, "phone", "nobody-pc", "Head office", "Finance")]
    csv_file = workdir / "tickets.csv"
    csv_file.write_text("id,opened_at,channel,host,site,department\n"
                        + "".join(f"{i},{format_time(t)},{c},{h},{s},{d}\n" for i, t, c, h, s, d in rows))
    r = subprocess.run([sys.executable, "-m", "hinder", "support", "import", str(csv_file), "--db", collector.db,
                        "--config", str(config), "--source", "csv"], env=hinder_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "3 inserted, 0 updated, 0 unchanged, 0 skipped" in r.stdout, r.stdout + r.stderr


def _lost_seconds(collector: CollectorProcess) -> float | None:
    """Sum of hinder_lost_seconds_total on /metrics; None while the collector does not export it."""
    values = re.findall(r"^hinder_lost_seconds_total\{.*\} (\S+)$", collector.metrics(), re.M)
    return sum(map(float, values)) if values else None


def _wait_for_impact_figures(collector: CollectorProcess, above: float | None, timeout_s: float = 30) -> None:
    """Let the collector's impact refresher catch up with what was sent (lost time grows past ``above``)."""
    if above is None:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lost = _lost_seconds(collector)
        if lost is not None and lost > above:
            return
        time.sleep(0.5)
    # Not an error here: the panel test names every query left without data and the metrics it lacks.


def _rules_evaluated_since(prometheus: _Prometheus, since: float) -> bool:
    groups = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=30).json()["data"]["groups"]
    return bool(groups) and all(_rfc3339(g["lastEvaluation"]) > since for g in groups)


def _rfc3339(text: str) -> float:
    """Prometheus's RFC 3339 times carry nanoseconds; keep microseconds for Python."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _substitute(expr: str, app: str) -> str:
    for name, value in SUBSTITUTE.items():
        expr = expr.replace(name, value)
    return re.sub(r"\$(\w+)", lambda m: app if m.group(1) == "app" else ".*", expr)  # every other variable: all


def test_template_variables_have_values(stack):
    _, prometheus = stack
    for board in _dashboards():
        for v in board["templating"]["list"]:
            metric, label = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", v["query"]["query"]).groups()
            values = prometheus.label_values(label, _substitute(metric, ".*"))
            assert values, f"{board['uid']}: variable {v['name']} has no values"
            if label == "app":
                assert "teams" in values


def _recorded() -> dict[str, str]:
    """Recording rule name -> its expression."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["record"]: r["expr"] for g in groups for r in g["rules"] if "record" in r}


def _source_metrics(expr: str, recorded: dict[str, str]) -> set[str]:
    """The collector metrics an expression reads, through recording rules."""
    out = set()
    for token in set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)):
        if token in recorded:
            out |= _source_metrics(recorded[token], recorded)
        elif token.startswith("hinder_"):
            out.add(token)
    return out


@pytest.mark.parametrize("app", [".*", "teams"], ids=["all", "one-app"])
def test_every_panel_query_returns_data(stack, app):
    """Every query of every panel returns data from the simulated fleet; an empty one names the panel and
    the contract metrics the collector does not export."""
    collector, prometheus = stack
    exported = set(re.findall(r"^(hinder_\w+?)(?:\{| )", collector.metrics(), re.M))
    recorded = _recorded()
    empty, checked = [], 0
    for board in _dashboards():
        for panel, target in _targets(board):
            if app != ".*" and "$app" not in target["expr"]:
                continue
            expr = _substitute(target["expr"], app)
            checked += 1
            if prometheus.query(expr, instant=target.get("instant", False)):
                continue
            missing = _source_metrics(target["expr"], recorded) - exported
            empty.append(f"{board['uid']} / {panel['title']} [{target['refId']}]: {expr}"
                         + (f" (not exported: {', '.join(sorted(missing))})" if missing else ""))
    assert checked >= 10
    assert not empty, f"{len(empty)} of {checked} panel queries returned no data:\n" + "\n".join(empty)


def test_every_annotation_query_runs(stack):
    """Prometheus accepts every annotation query as Grafana sends it (a range query); where the collector exports
    what it reads, it returns data."""
    collector, prometheus = stack
    exported = set(re.findall(r"^(hinder_\w+?)(?:\{| )", collector.metrics(), re.M))
    queries = [a["expr"] for board in _dashboards() for a in _annotations(board)]
    assert queries
    for expr in queries:
        result = prometheus.query(_substitute(expr, ".*"), instant=False)  # an error raises
        if _source_metrics(expr, _recorded()) <= exported:
            assert result, expr


def _top(prometheus: _Prometheus, expr: str, label: str) -> dict[str, float]:
    return {r["metric"][label]: float(r["value"][1]) for r in prometheus.query(expr)}


def test_dashboards_tell_the_simulated_story(stack):
    """What the simulator put in, the queries behind the panels show: the flaky site, the outage, the bad app and version."""
    _, prometheus = stack
    wifi = _top(prometheus, 'sum by (site) (max without (instance) (hinder_disruptions_total{type="connectivity_loss"}))', "site")
    assert max(wifi, key=wifi.get) == FLAKY_WIFI_SITE, wifi
    outage = _top(prometheus, 'sum by (site) (max without (instance) '
                              '(hinder_connectivity_outages_total{cause="internet_unreachable"}))', "site")
    assert outage and max(outage, key=outage.get) == OUTAGE_SITE, outage
    hangs = _top(prometheus, 'sum by (app) (max without (instance) (hinder_disruptions_total{type="hang"}))', "app")
    assert max(hangs, key=hangs.get) == "sap-gui", hangs
    assert "other" in _top(prometheus, "sum by (app) (hinder_disruptions_total)", "app")
    teams = next(a for a in APPS if a.name == "teams")
    (bad,) = [v for v, _crash, _hang in teams.bad_versions]
    crashes = _top(prometheus, 'sum by (version) (max without (instance) '
                               '(hinder_app_version_disruptions_total{app="teams",type="crash"}))', "version")
    assert crashes.get(bad, 0) > 2 * max([n for v, n in crashes.items() if v != bad] or [0]), crashes


def test_the_iceberg_panels_show_the_stored_tickets(stack):
    """The iceberg panels agree with the collector's database: contacts by channel are its tickets by channel (the
    simulator's through the webhook and the imported CSV), the share of tickets after a measured disruption is what
    collector.aggregates.support finds, and the lost time that never reached the desk is the rest of the week's."""
    from collector.aggregates import support, week_window
    from collector.support.config import SupportSettings

    collector, prometheus = stack
    board = next(b for b in _dashboards() if b["uid"] == "hinder-executive")
    exprs = {p["title"]: _substitute(p["targets"][0]["expr"], ".*") for p in board["panels"] if p.get("targets")}
    value = lambda title: [float(r["value"][1]) for r in prometheus.query(exprs[title])]  # noqa: E731
    start, end = week_window(time.time())
    engine = make_engine(collector.db)
    try:
        with engine.connect() as conn:
            by_channel = dict(conn.execute(sa.text("SELECT channel, COUNT(*) FROM support_ticket GROUP BY channel")).all())
            by_source = dict(conn.execute(sa.text("SELECT source, COUNT(*) FROM support_ticket WHERE device_id IS NOT "
                                                  "NULL GROUP BY source")).all())
            imported = dict(conn.execute(sa.text("SELECT ticket_id, device_id FROM support_ticket WHERE source = 'csv'")).all())
            opened = support.tickets_opened(conn, start, end, SupportSettings().ticket_after_disruption_s)
            ticketed = sum(r[3] for r in support.lost_of_ticketed_devices(conn, start, end))
    finally:
        engine.dispose()
    assert set(imported) == {"CSV-1", "CSV-2", "CSV-3"} and imported["CSV-1"] and imported["CSV-2"]
    assert imported["CSV-3"] is None  # named nobody known
    assert by_source.get("webhook", 0) > 0, by_source  # the simulator's tickets joined its devices
    contacts = _top(prometheus, "sum by (channel) (max without (instance) (hinder_support_contacts_total))", "channel")
    assert contacts == {c: float(n) for c, n in by_channel.items()}
    moved = _top(prometheus, exprs["Service-desk contacts by channel (selected range)"], "channel")
    # every channel's series is in the panel; the CSV, imported while Prometheus scraped, moved the range's increase
    # (only of series that existed before it: Prometheus counts no increase for a series first seen at 1)
    assert set(moved) == set(by_channel) and sum(moved.values()) > 0, moved
    joined = [t for t in opened if t.device_id]
    followed = sum(1 for t in joined if t.cause)
    (share,) = value("Tickets that followed a measured disruption, last 7 days")
    # (the simulated fleet starts from the current time: on some days every joined ticket followed a disruption)
    assert 0 < followed <= len(joined) and share == pytest.approx(followed / len(joined)), (followed, len(joined))
    week = _top(prometheus, 'sum by (type) (max without (instance) (hinder_week_lost_seconds{type!~"support.*"}))',
                "type")
    (quiet,) = value("Lost time that never reached the service desk, last 7 days")
    assert 0 < quiet < 1 and quiet == pytest.approx(1 - ticketed / sum(week.values())), (ticketed, week)


def test_rules_work_on_the_real_metrics(stack):
    """Recording rules produce series from the collector's real labels, and the alerts' joins match."""
    _, prometheus = stack
    needs_history = {"app_type:hinder_disruptions:rate1h_avg7d"}  # reads data older than an hour
    empty = [name for name in _recorded() if name not in needs_history and not prometheus.query(name)]
    assert not empty, f"recording rules without data: {empty}"
    ratio = prometheus.query('sum by (site) (max without (instance, pod) (hinder_devices_disrupted{type="connectivity_loss"}))'
                             ' / on (site) sum by (site) (max without (instance, pod) (hinder_devices{state="reporting"}))')
    assert ratio and all(0 < float(r["value"][1]) <= 1 for r in ratio), ratio
    rejected = prometheus.query('sum by (job, instance) (rate(hinder_ingest_batches_total[1m]))')
    assert rejected and all(r["metric"]["job"] == "hinder" for r in rejected)
    groups = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=30).json()["data"]["groups"]
    assert all(r["health"] == "ok" for g in groups for r in g["rules"]), groups


def test_collector_metrics_pass_promtool(stack):
    collector, _ = stack
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    text = collector.metrics()
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), out.stdout + out.stderr
    assert "hinder_disruptions_total{" in text
