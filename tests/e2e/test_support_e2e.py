"""End to end: service-desk tickets by both generic paths (CSV import, webhook) into a real collector, joined to
real devices by identity key, counted on /metrics and in the weekly report under impact model v2.

Three devices are fully active 09:00-12:00 UTC on the Tuesday of the last complete ISO week and each crashes at
10:00 ([model] crash_recovery_s = 120: each loses [10:00, 10:02]). Tickets (default contact times, model v2):

| ticket | path | device | channel | opened | support lost (layered) | after a disruption |
|---|---|---|---|---|---|---|
| CSV-1 | import, host in clear | pc-001 | phone 600 | 10:01 | 600 - 60 under the crash = 540 | yes (hour 10) |
| CSV-2 | import, host's FQDN | pc-002 | email 300 | 11:00 | 300 | yes (hour 10) |
| CSV-3 | import, unknown host | none (Berlin/Legal) | chat 720 | 10:30 | 0 (unjoined) | unknown |
| W-1 | webhook, account | pc-003 | phone 600 | 09:30 | 600 | no |
| W-2 | webhook, host_key, sent twice | pc-002 | portal 300 | 10:30 | 300 | yes (hour 10) |
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import sqlalchemy as sa

from contract.identity import identity_key
from tests.collector.batches import batch, event, heartbeat
from tests.conftest import ROOT, SUPPORT_TOKEN, hinder_env, wait_until

pytestmark = pytest.mark.slow

SECRET = b"e2e-support-identity-key-0001"
CRASH_RECOVERY_S = 120.0
DEVICES = {"pc-001": ("Paris", "Finance", "alice"), "pc-002": ("Paris", "Sales", "bob"),
           "pc-003": ("Lyon", "Finance", "jdoe")}


def _tuesday() -> tuple[datetime, str]:
    """00:00 UTC of the Tuesday of the last complete ISO week, and that week (YYYY-Www)."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday() + 7)
    year, week, _ = monday.isocalendar()
    return monday + timedelta(days=1), f"{year}-W{week:02d}"


def _at(day: datetime, hhmm: str) -> float:
    h, m = map(int, hhmm.split(":"))
    return (day + timedelta(hours=h, minutes=m)).timestamp()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one metric name: sorted label pairs -> value."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if m:
            labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1) or "")))
            out[labels] = float(m.group(2))
    return out


def _lab(**kw: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kw.items()))


def _report(collector, config, week: str, model: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "hinder", "report", "weekly", "--week", week, "--db", collector.db,
                        "--config", str(config), "--format", "json", "--model", model],
                       cwd=ROOT, env=hinder_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def desk(request, collector_factory, tmp_path):
    """A collector with the fleet's identity key and a support token, on SQLite or PostgreSQL."""
    key_file = tmp_path / "identity.key"
    key_file.write_bytes(SECRET + b"\n")
    key_file.chmod(0o600)
    config = (f"[support]\nidentity_key_file = {json.dumps(str(key_file))}\n"
              f"[model]\ncrash_recovery_s = {CRASH_RECOVERY_S}\n[report]\nmin_group_size = 1\n")
    db = None if request.param == "sqlite" else request.getfixturevalue("pg_url")
    collector = collector_factory(db=db, config=config, env={"HINDER_SUPPORT_TOKEN": SUPPORT_TOKEN})
    return collector, collector.workdir / "collector.toml"


def _send_fleet(collector, day: datetime) -> None:
    """Fully active heartbeats 09:00-12:00 (every 300 s) carrying identity keys, and a crash at 10:00, per device."""
    for dev, (site, dept, account) in DEVICES.items():
        keys = {"host_key": identity_key(SECRET, "host", dev), "account_key": identity_key(SECRET, "account", account)}
        beats = [heartbeat(_at(day, "09:00") + 300 * i, site=site, department=dept, interval_s=300.0, active_s=300.0,
                           **keys) for i in range(1, 37)]
        b = batch([event("crash", "firefox", _at(day, "10:00"))], beats, device_id=f"device-{dev}")
        r = httpx.post(f"{collector.url}/api/v1/events", content=json.dumps(b), headers=collector.agent_headers(),
                       timeout=30)
        assert r.status_code == 200, r.text


def _post(collector, tickets: list[dict], token: str = SUPPORT_TOKEN) -> httpx.Response:
    return httpx.post(f"{collector.url}/api/v1/support/tickets", json=tickets, timeout=30,
                      headers={"Authorization": f"Bearer {token}"})


def test_tickets_by_import_and_webhook_reach_metrics_and_the_report(desk, tmp_path):
    collector, config = desk
    day, week = _tuesday()
    _send_fleet(collector, day)

    csv_file = tmp_path / "tickets.csv"
    csv_file.write_text(
        "id,opened_at,channel,host,site,department,summary\n"
        f"CSV-1,{_iso(_at(day, '10:01'))},Telephone,PC-001,,,printer\n"
        f"CSV-2,{_iso(_at(day, '11:00'))},e-mail,pc-002.corp.example.com,,,slow\n"
        f"CSV-3,{_iso(_at(day, '10:30'))},chat,ghost-pc,Berlin,Legal,who\n"
        "CSV-4,last tuesday,phone,PC-001,,,bad time\n")
    r = subprocess.run([sys.executable, "-m", "hinder", "support", "import", str(csv_file), "--db", collector.db,
                        "--config", str(config)], cwd=ROOT, env=hinder_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{csv_file} (import): 3 inserted, 0 updated, 0 unchanged, 1 skipped" in r.stdout
    assert "skipped row 5: opened_at is not a time" in r.stdout and "columns not read: summary" in r.stdout

    w1 = {"id": "W-1", "opened_at": _iso(_at(day, "09:30")), "channel": "phone", "account": "JDoe"}
    w2 = {"id": "W-2", "opened_at": _iso(_at(day, "10:30")), "channel": "portal", "category": "Network",
          "host_key": identity_key(SECRET, "host", "pc-002")}
    r = _post(collector, [w1, w2])
    assert r.status_code == 200 and r.json() == {"inserted": 2, "updated": 0, "unchanged": 0, "skipped": 0,
                                                  "problems": []}, r.text
    w2 |= {"category": "Network > VPN", "resolved_at": _iso(_at(day, "12:00"))}
    r = _post(collector, [w2])
    assert r.json() == {"inserted": 0, "updated": 1, "unchanged": 0, "skipped": 0, "problems": []}, r.text
    r = _post(collector, [{"id": "W-3", "opened_at": _iso(_at(day, "11:30")), "channel": "phone"}],
              token=collector.agent_token)
    assert r.status_code == 401

    engine = sa.create_engine(collector.db)
    try:
        with engine.connect() as conn:
            rows = {r.ticket_id: r for r in conn.execute(sa.text(
                "SELECT source, ticket_id, device_id, channel, category, site, department, resolved_at "
                "FROM support_ticket"))}
    finally:
        engine.dispose()
    assert sorted(rows) == ["CSV-1", "CSV-2", "CSV-3", "W-1", "W-2"]  # W-2 once, W-3 (refused) and CSV-4 not
    assert {k: (r.source, r.device_id, r.channel) for k, r in rows.items()} == {
        "CSV-1": ("import", "device-pc-001", "phone"), "CSV-2": ("import", "device-pc-002", "email"),
        "CSV-3": ("import", None, "chat"), "W-1": ("webhook", "device-pc-003", "phone"), "W-2": ("webhook", "device-pc-002", "portal")}
    assert (rows["W-2"].category, rows["W-2"].resolved_at) == ("Network > VPN", _at(day, "12:00"))
    assert (rows["CSV-3"].site, rows["CSV-3"].department) == ("Berlin", "Legal")

    # /metrics, once the background refresh has applied the tickets to the model
    support_lost = {_lab(type="support", app="phone", site="Paris", department="Finance"): 540.0,
                    _lab(type="support", app="email", site="Paris", department="Sales"): 300.0,
                    _lab(type="support", app="portal", site="Paris", department="Sales"): 300.0,
                    _lab(type="support", app="phone", site="Lyon", department="Finance"): 600.0}

    def refreshed():
        text = collector.metrics()
        lost = _samples(text, "hinder_lost_seconds_total")
        return text if all(k in lost for k in support_lost) else None

    text = wait_until(refreshed, 60, interval_s=0.5, what="the tickets' lost time on /metrics")
    lost = _samples(text, "hinder_lost_seconds_total")
    assert {k: v for k, v in lost.items() if dict(k)["type"] == "support"} == support_lost
    # firefox is in no [[apps]] catalogue: discovered at its first crash (collector.aggregates.discover)
    assert {k: v for k, v in lost.items() if dict(k)["type"] == "crash"} == {
        _lab(type="crash", app="firefox", site=s, department=d): CRASH_RECOVERY_S for s, d, _ in DEVICES.values()}
    contacts = {_lab(channel="phone", site="Paris", department="Finance"): 1.0,
                _lab(channel="email", site="Paris", department="Sales"): 1.0,
                # a site and department no device reports are folded into "other" (collector.labels)
                _lab(channel="chat", site="other", department="other"): 1.0,
                _lab(channel="phone", site="Lyon", department="Finance"): 1.0,
                _lab(channel="portal", site="Paris", department="Sales"): 1.0}
    assert _samples(text, "hinder_support_contacts_total") == contacts
    seconds = {"phone": 600.0, "email": 300.0, "chat": 720.0, "portal": 300.0}  # collector.impact.DEFAULT_CONTACT_S
    assert _samples(text, "hinder_support_contact_seconds_total") == {
        k: seconds[dict(k)["channel"]] for k in contacts}
    (info,) = _samples(text, "hinder_collector_info")
    assert dict(info)["model_version"] == "3"
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr

    # the weekly report under model 2, and under model 1: the difference is exactly the support lost time
    v2, v1 = _report(collector, config, week, "2"), _report(collector, config, week, "1")
    s = v2["support"]
    assert (s["tickets"], s["devices"], s["joined"], s["after_disruption"]) == (5, 3, 4, 3)
    assert s["tickets_per_100_devices"] == pytest.approx(500 / 3)
    assert s["after_disruption_share"] == 0.75
    assert s["contact_seconds"] == 600 + 300 + 720 + 600 + 300
    assert {c["channel"]: (c["tickets"], c["contact_seconds"]) for c in s["by_channel"]} == {
        "phone": (2, 1200.0), "email": (1, 300.0), "chat": (1, 720.0), "portal": (1, 300.0)}
    assert {r["site"]: (r["tickets"], r["devices"], r["contact_seconds"]) for r in s["by_site"]} == {
        "Paris": (3, 2, 1200.0), "Lyon": (1, 1, 600.0), "other": (1, 0, 720.0)}
    assert s["lost_seconds"] == 3 * CRASH_RECOVERY_S and s["lost_without_ticket_seconds"] == 0
    assert v1["totals"]["lost_seconds"] == pytest.approx(3 * CRASH_RECOVERY_S)
    assert v2["totals"]["lost_seconds"] - v1["totals"]["lost_seconds"] == pytest.approx(540 + 300 + 300 + 600)
