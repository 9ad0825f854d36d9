"""Connectivity sensor, for real: network namespaces, a veth pair, a DNS and HTTP peer, iptables."""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from agent.sensors._helpers import net_linux, net_macos, net_windows
from agent.sensors.connectivity import ConnectivityConfig, ConnectivitySensor

ROOT = Path(__file__).resolve().parents[3]
PEER_IP, AGENT_IP, PORT, NAME = "10.231.7.1", "10.231.7.2", 8080, "svc.hinder.test"

needs_netns = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables"),
    reason="needs root, iproute2 and iptables to build network namespaces",
)


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


class _Lines:
    """Read a subprocess's JSON lines on a thread; wait for one matching a predicate."""

    def __init__(self, proc):
        self.proc, self.q, self.seen = proc, queue.Queue(), []
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self):
        for line in self.proc.stdout:
            self.q.put(line)

    def wait(self, predicate, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=0.2)
            except queue.Empty:
                continue
            rec = json.loads(line) if line.startswith("{") else {"text": line.strip()}
            self.seen.append(rec)
            if predicate(rec):
                return rec
        raise AssertionError(f"nothing matched within {timeout} s; last lines: {self.seen[-5:]}")

    def drain(self):
        """After the process ended: take in every line it printed."""
        self._thread.join(15)
        while not self.q.empty():
            line = self.q.get()
            self.seen.append(json.loads(line) if line.startswith("{") else {"text": line.strip()})

    def events(self, type_="connectivity_loss"):
        return [r["event"] for r in self.seen if "event" in r and r["event"]["type"] == type_]


@pytest.fixture
def netns():
    """Two namespaces joined by a veth pair; the agent side has a default route and a resolver; cleaned up always."""
    tag = uuid.uuid4().hex[:6]
    agent, peer, va, vb = f"h4a-{tag}", f"h4b-{tag}", f"h4a{tag}", f"h4b{tag}"
    etc = Path("/etc/netns") / agent
    try:
        _sh("ip", "netns", "add", agent)
        _sh("ip", "netns", "add", peer)
        _sh("ip", "link", "add", va, "netns", agent, "type", "veth", "peer", "name", vb, "netns", peer)
        _sh("ip", "-n", agent, "addr", "add", f"{AGENT_IP}/24", "dev", va)
        _sh("ip", "-n", peer, "addr", "add", f"{PEER_IP}/24", "dev", vb)
        for ns, dev in ((agent, va), (peer, vb)):
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
            _sh("ip", "-n", ns, "link", "set", dev, "up")
        _sh("ip", "-n", agent, "route", "add", "default", "via", PEER_IP)
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {PEER_IP}\noptions timeout:1 attempts:1\n")
        server = subprocess.Popen(["ip", "netns", "exec", peer, sys.executable, "-m", "tests.agent.sensors._netpeer",
                                   PEER_IP, str(PORT), NAME], cwd=ROOT, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout.readline().strip() == "ready"
            yield {"agent": agent, "peer": peer, "dev": va}
        finally:
            server.stdin.close()
            server.terminate()
            server.wait(10)
    finally:
        subprocess.run(["ip", "netns", "del", agent], capture_output=True)
        subprocess.run(["ip", "netns", "del", peer], capture_output=True)
        shutil.rmtree(etc, ignore_errors=True)


def _start_agent(ns, sensor="connectivity", apps=(), **cfg):
    config = {"interval_s": 0.5, "timeout_s": 1.0, "degraded_latency_s": 0.8, "min_outage_s": 1.0,
              "targets": [f"http://{NAME}:{PORT}/"], **cfg} if sensor == "connectivity" else cfg
    proc = subprocess.Popen(["ip", "netns", "exec", ns["agent"], sys.executable, "-m", "tests.agent.sensors._harness",
                             sensor, json.dumps(config), json.dumps(list(apps))], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    return proc, _Lines(proc)


def _outage(ns, lines, seconds, breaks, repairs, cause):
    """Break something for ``seconds``, repair it, and return the one outage reported for it."""
    before = len(lines.events())
    t0 = time.time()
    for cmd in breaks:
        _sh("ip", "netns", "exec", ns["agent"], *cmd)
    time.sleep(seconds)
    for cmd in repairs:
        _sh("ip", "netns", "exec", ns["agent"], *cmd)
    t1 = time.time()
    lines.wait(lambda r: "event" in r and r["event"]["type"] == "connectivity_loss")
    lines.wait(lambda r: "tick" in r)
    new = lines.events()[before:]
    assert len(new) == 1, new
    event = new[0]
    assert event["details"]["cause"] == cause, event
    assert event["duration_s"] == pytest.approx(t1 - t0, abs=2.0), (event, t1 - t0)
    return event


@needs_netns
@pytest.mark.root
@pytest.mark.slow
def test_link_dns_and_target_outages_are_classified(netns):
    proc, lines = _start_agent(netns)
    try:
        lines.wait(lambda r: "tick" in r and r["tick"] >= 2)
        assert lines.events() == [], "no outage while everything works"
        dev = netns["dev"]
        link = _outage(netns, lines, 4.0, [("ip", "link", "set", dev, "down")],
                       [("ip", "link", "set", dev, "up"), ("ip", "route", "replace", "default", "via", PEER_IP)],
                       "no_link")
        assert link["details"]["interface_kind"] == "wired"  # a veth is an Ethernet-type device
        dns = _outage(netns, lines, 4.0, [("iptables", "-I", "OUTPUT", "-p", "udp", "--dport", "53", "-j", "REJECT")],
                      [("iptables", "-D", "OUTPUT", "-p", "udp", "--dport", "53", "-j", "REJECT")], "dns_failure")
        assert dns["details"]["causes"] == ["dns_failure"]
        target = _outage(netns, lines, 4.0,
                         [("iptables", "-I", "OUTPUT", "-p", "tcp", "--dport", str(PORT), "-j", "DROP")],
                         [("iptables", "-D", "OUTPUT", "-p", "tcp", "--dport", str(PORT), "-j", "DROP")],
                         "target_unreachable")
        assert target["details"]["target"] == f"http://{NAME}:{PORT}/"
    finally:
        proc.stdin.close()
        proc.wait(15)
    lines.drain()
    assert len(lines.events()) == 3
    assert lines.events("connectivity_degraded") == []  # an outage's failed checks are not flapping


@needs_netns
@pytest.mark.root
def test_blip_is_counted_not_reported_and_open_outage_is_closed_at_stop(netns):
    proc, lines = _start_agent(netns, min_outage_s=30.0, degraded_failure_ratio=0.05)
    try:
        lines.wait(lambda r: "tick" in r and r["tick"] >= 2)
        rule = ("iptables", "OUTPUT", "-p", "udp", "--dport", "53", "-j", "REJECT")
        _sh("ip", "netns", "exec", netns["agent"], rule[0], "-I", *rule[1:])
        time.sleep(1.5)
        _sh("ip", "netns", "exec", netns["agent"], rule[0], "-D", *rule[1:])
        lines.wait(lambda r: r.get("heartbeat", {}).get("connectivity_blips_total") == 1)
        _sh("ip", "-n", netns["agent"], "route", "del", "default")
        lines.wait(lambda r: "tick" in r)
        lines.wait(lambda r: "tick" in r)
        assert lines.events() == []
    finally:
        proc.stdin.close()
        proc.wait(15)
    lines.drain()
    (final,) = lines.events()
    assert final["details"]["cause"] == "no_route" and final["details"]["open_at_stop"] is True
    # the blip's failed checks among the last twelve made connectivity degraded
    assert [e["details"]["worst_failure_ratio"] >= 0.05 for e in lines.events("connectivity_degraded")] == [True]


@needs_netns
@pytest.mark.root
def test_probe_reports_dns_failure_of_an_app(netns):
    """The probes sensor in the same namespaces: the app's name stops resolving, the app is unavailable (dns)."""
    apps = [{"name": "CRM", "urls": [f"http://{NAME}:{PORT}/health"], "slow_threshold_s": 0.5}]
    proc, lines = _start_agent(netns, sensor="probes", apps=apps, interval_s=0.3, timeout_s=1.0)
    rule = ("OUTPUT", "-p", "udp", "--dport", "53", "-j", "REJECT")
    try:
        lines.wait(lambda r: "tick" in r and r["tick"] >= 2)
        _sh("ip", "netns", "exec", netns["agent"], "iptables", "-I", *rule)
        time.sleep(1.5)
        _sh("ip", "netns", "exec", netns["agent"], "iptables", "-D", *rule)
        event = lines.wait(lambda r: "event" in r)["event"]
    finally:
        proc.stdin.close()
        proc.wait(15)
    assert event["type"] == "app_unavailable" and event["app"] == "CRM"
    assert (event["details"]["error"], event["details"]["phase"]) == ("dns", "dns")
    assert event["duration_s"] == pytest.approx(1.5, abs=1.2)


def test_checks_pass_on_this_machine_with_a_local_target(make_ctx):
    """Real interfaces and routes of the test machine, a loopback HTTP target: connectivity is fine."""
    from tests.agent.sensors._http_target import HttpTarget

    with HttpTarget() as target:
        sensor = ConnectivitySensor(ConnectivityConfig(targets=[target.url + "/"], timeout_s=2.0), make_ctx())
        sensor.start()
        try:
            check = sensor._check()
        finally:
            sensor.close()
    if net_linux.default_route_interface() is None:
        assert check.cause == "no_route"
    else:
        assert check.cause is None, check


class _Listener:
    """A loopback TCP port that the test opens and closes: connections succeed or are refused."""

    def __init__(self):
        self.sock = None
        self.port = 0
        self.up()
        self.url = f"http://127.0.0.1:{self.port}/"

    def up(self):
        if self.sock is None:
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", self.port))
            self.sock.listen(128)
            self.port = self.sock.getsockname()[1]

    def down(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


@pytest.mark.skipif(net_linux.default_route_interface() is None, reason="this machine has no default route")
def test_flapping_target_is_degraded_not_lost(make_ctx):
    """Checks failing every other time: each failure is a blip, together they are a degraded period."""
    ctx = make_ctx()
    target = _Listener()
    cfg = ConnectivityConfig(targets=[target.url], timeout_s=0.5, degraded_latency_s=0.25, min_outage_s=5.0,
                             degraded_window=6, degraded_failure_ratio=0.3)
    sensor = ConnectivitySensor(cfg, ctx)
    sensor.start()
    events = []
    try:
        for up in [True] * 6 + [False, True] * 5 + [True] * 8:
            target.up() if up else target.down()
            events += sensor.poll()
            time.sleep(0.1)
    finally:
        events += sensor.close()
        target.down()
    assert [e.type for e in events] == ["connectivity_degraded"], events
    d = events[0].details
    assert ctx.heartbeat_details["connectivity_blips_total"] == 5
    assert d["worst_failure_ratio"] >= 0.3 and "open_at_stop" not in d
    assert 0.25 * events[0].duration_s <= d["excess_s"] <= 0.7 * events[0].duration_s


def test_captive_portal_and_internet_down(make_ctx):
    from tests.agent.sensors._http_target import HttpTarget

    with HttpTarget() as target:
        cfg = ConnectivityConfig(targets=[target.url + "/"], internet_url=target.url + "/check",
                                 internet_expect="Microsoft Connect Test", timeout_s=2.0)
        sensor = ConnectivitySensor(cfg, make_ctx())
        sensor.start()
        try:
            assert sensor._internet() == "captive_portal"  # answers, but not the expected text
            target.set("fast")
            sensor.config.internet_expect = "ok"
            assert sensor._internet() is None
            target.set("error")
            assert sensor._internet() == "captive_portal"
        finally:
            sensor.close()
    sensor = ConnectivitySensor(ConnectivityConfig(internet_url=target.url + "/check", timeout_s=2.0), make_ctx())
    sensor.start()
    assert sensor._internet() == "internet_unreachable"  # the server is gone
    sensor.close()


def test_targets_behind_a_proxy_are_reached_through_it(make_ctx, monkeypatch):
    """With HTTP_PROXY set, a target counts as reachable when the proxy answers for it; a dead proxy is a loss."""
    from tests.agent._proxy import ForwardProxy
    from tests.agent.sensors._http_target import HttpTarget

    for name in ("no_proxy", "NO_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with HttpTarget() as target, ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        sensor = ConnectivitySensor(ConnectivityConfig(targets=[target.url + "/"], timeout_s=2.0), make_ctx())
        sensor.start()
        try:
            cause, latency = sensor._reach(target.url + "/")
            assert cause is None and 0 < latency < 2.0
            assert proxy.seen[0][0] == f"GET {target.url}/ HTTP/1.1"
        finally:
            sensor.close()
    # the proxy is gone now: nothing answers for the target
    assert sensor._reach(target.url + "/")[0] == "target_unreachable"


def test_wifi_signal_parsers(fixtures_dir):
    linux = fixtures_dir / "linux"
    assert net_linux.parse_wireless((linux / "proc_net_wireless.txt").read_text()) == {"wlo1": -59.0}
    assert net_linux.parse_wireless((linux / "proc_net_wireless_unsigned.txt").read_text()) == {"eth1": -56.0}
    win = fixtures_dir / "windows"
    assert net_windows.parse_netsh_wlan((win / "netsh_wlan_interfaces_rssi.txt").read_text()) == {"Wi-Fi": -56.0}
    assert net_windows.parse_netsh_wlan((win / "netsh_wlan_interfaces_percent.txt").read_text()) == {"Wi-Fi": -56.5}
    assert net_windows.parse_netsh_wlan("    Name : Wi-Fi\n    State : disconnected\n") == {}
    mac = fixtures_dir / "macos"
    assert net_macos.parse_airport((mac / "system_profiler_SPAirPortDataType.txt").read_text()) == {"en0": -53.0}
    assert net_macos.parse_airport((mac / "airport_I.txt").read_text()) == {"": -45.0}
    assert net_macos.parse_route_get((mac / "route_get_default.txt").read_text()) == "en0"
    assert net_macos.parse_route_get("route: writing to routing socket: not in table\n") is None


def test_interface_kinds_by_name():
    assert net_windows.interface_kind("Wi-Fi 2") == "wifi"
    assert net_windows.interface_kind("Ethernet 3") == "wired"
    assert net_windows.interface_kind("OpenVPN TAP-Windows6") == "vpn"
    assert net_macos.interface_kind("utun3") == "vpn"
    assert net_linux.interface_kind("lo") == "unknown"


def test_default_route_of_this_machine_matches_ip_route():
    out = subprocess.run(["ip", "route", "show", "default"], capture_output=True, text=True).stdout.split()
    expected = out[out.index("dev") + 1] if "dev" in out else None
    if expected:
        assert net_linux.default_route_interface() == expected


@pytest.mark.parametrize("text, key", [
    ("[sensors.connectivity]\ntimeout_s = 1.0\ndegraded_latency_s = 2.0\n", "sensors.connectivity: degraded_latency_s"),
    ("[sensors.connectivity]\ninternet_expect = 'x'\n", "internet_expect: set internet_url too"),
    ("[sensors.connectivity]\ndns_names = ['http://x']\n", "dns_names[0]"),
    ("[sensors.connectivity]\ntargets = ['nope']\n", "sensors.connectivity.targets[0]"),
    ("[sensors.connectivity]\ninterval_s = 0.01\n", "sensors.connectivity.interval_s"),
    ("[sensors.connectivity]\ndegraded_window = 1\n", "sensors.connectivity.degraded_window"),
    ("[sensors.connectivity]\nmin_outage = 3\n", "sensors.connectivity.min_outage: unknown key (did you mean 'min_outage_s'?)"),
])
def test_config_errors_name_the_key(config_error, text, key):
    assert key in config_error(text)
