"""Synthetic probes against a local server whose speed the test controls."""

from __future__ import annotations

import socket
import time

import pytest

from agent.catalogue import App
from agent.sensors.probes import ProbesConfig, ProbesSensor
from contract.check import validate_batch
from contract.records import make_batch
from tests.agent.sensors._http_target import HttpTarget

THRESHOLD = 0.3


def _sensor(make_ctx, urls, **cfg):
    config = ProbesConfig(**{"interval_s": 0.2, "timeout_s": 0.8, **cfg})
    sensor = ProbesSensor(config, make_ctx([App(name="CRM", urls=urls, slow_threshold_s=THRESHOLD)]))
    sensor.start()
    return sensor


def _run(sensor, target, phases):
    """Drive the server through (mode, delay, seconds) phases while polling; return events and switch times."""
    events, switches = [], []
    for mode, delay, seconds in phases:
        target.set(mode, delay)
        switches.append(time.time())
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            events.extend(sensor.poll())
            time.sleep(sensor.config.interval_s)
    return events, switches


def test_slow_then_503_then_timeout_give_one_interval_each(make_ctx):
    with HttpTarget() as target:
        sensor = _sensor(make_ctx, [target.url + "/health?token=secret"])
        try:
            events, t = _run(sensor, target, [
                ("fast", 0, 1.0), ("slow", 0.6, 3.0), ("fast", 0, 1.0), ("error", 0, 2.0), ("fast", 0, 1.0),
                ("hang", 5, 2.5), ("fast", 0, 1.0),
            ])
        finally:
            assert sensor.close() == []  # every interval was closed by a good probe
    kinds = [e.type for e in events]
    assert kinds == ["slow_app", "app_unavailable", "app_unavailable"], events
    slow, err, hang = events

    assert slow.app == "CRM" and slow.severity == "warning"
    assert slow.start == pytest.approx(t[1], abs=1.0)
    assert slow.duration_s == pytest.approx(t[2] - t[1], abs=1.0)
    d = slow.details
    assert d["url"] == target.url + "/health"  # no query string in events
    assert d["threshold_s"] == THRESHOLD and d["phase"] == "ttfb" and d["kind"] == "probe"
    assert 0.6 <= d["median_s"] <= d["worst_s"] < 2.0
    # each probe waited ~0.6 s of which 0.3 s beyond the threshold: about half the interval is lost
    share = (d["median_s"] - THRESHOLD) / d["median_s"]
    assert d["excess_s"] == pytest.approx(slow.duration_s * share, rel=0.2)
    assert d["samples"] >= 3

    assert err.details["error"] == "http_5xx" and err.details["status"] == 503
    assert err.details["phase"] == "http_status" and "excess_s" not in err.details
    assert err.duration_s == pytest.approx(t[4] - t[3], abs=1.0)

    assert hang.details["error"] == "timeout" and hang.details["phase"] == "ttfb"
    assert hang.details["worst_s"] == pytest.approx(0.8, abs=0.3)
    assert hang.duration_s == pytest.approx(t[6] - t[5], abs=1.5)

    wire = make_batch("device-0001", [e.to_wire() for e in events], [])
    assert len(validate_batch(wire)["events"]) == 3


def test_no_event_while_fast(make_ctx):
    with HttpTarget() as target:
        sensor = _sensor(make_ctx, [target.url + "/"])
        events, _ = _run(sensor, target, [("fast", 0, 1.5)])
        assert events == [] and sensor.close() == []


def test_open_interval_is_reported_at_stop(make_ctx):
    with HttpTarget() as target:
        sensor = _sensor(make_ctx, [target.url + "/"])
        events, t = _run(sensor, target, [("slow", 0.5, 1.0)])
        stopped = sensor.close()
    assert events == []
    assert [e.type for e in stopped] == ["slow_app"]
    assert stopped[0].details["open_at_stop"] is True
    assert stopped[0].duration_s == pytest.approx(time.time() - t[0], abs=1.0)


def test_connection_refused_is_unavailable_in_connect_phase(make_ctx):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        sensor = _sensor(make_ctx, [f"http://127.0.0.1:{port}/"])
        sensor.poll()
        (event,) = sensor.close()
    assert event.type == "app_unavailable"
    assert (event.details["error"], event.details["phase"]) == ("connect", "connect")


def test_phases_are_timed(make_ctx):
    from agent.sensors._helpers.http_timing import timed_get

    with HttpTarget() as target:
        target.set("slow", 0.3)
        t = timed_get(target.url + "/", 2.0)
    assert t.error is None and t.status == 200
    assert set(t.phases) >= {"connect", "ttfb", "transfer"}
    assert t.phases["ttfb"] >= 0.3 and t.total_s >= sum(t.phases.values()) * 0.9


@pytest.fixture
def tls_target(tmp_path):
    """The local target behind TLS with a fresh self-signed certificate for 127.0.0.1."""
    import shutil
    import ssl
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    with HttpTarget() as target:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        target.server.socket = ctx.wrap_socket(target.server.socket, server_side=True)
        target.url = target.url.replace("http://", "https://")
        yield target


def test_untrusted_certificate_is_unavailable_in_tls_phase(make_ctx, tls_target):
    sensor = _sensor(make_ctx, [tls_target.url + "/"])
    sensor.poll()
    (event,) = sensor.close()
    assert event.type == "app_unavailable"
    assert (event.details["error"], event.details["phase"]) == ("tls", "tls")


def test_trust_store_is_loaded_only_for_https_urls(make_ctx, tls_target):
    """Loading the system trust store costs 1.8 MiB: an http-only catalogue never needs it."""
    from agent.tls import shared_context

    shared_context.cache_clear()
    with HttpTarget() as target:
        sensor = _sensor(make_ctx, [target.url + "/"])
        assert sensor.poll() == [] and sensor.close() == []
    assert shared_context.cache_info().currsize == 0
    sensor = _sensor(make_ctx, [tls_target.url + "/"])
    sensor.poll()
    sensor.close()
    assert shared_context.cache_info().currsize == 1


def test_tls_phase_is_timed_when_verification_is_off(make_ctx, tls_target):
    from agent.sensors._helpers.http_timing import timed_get, tls_context

    t = timed_get(tls_target.url + "/", 2.0, tls_context(verify=False))
    assert t.error is None and t.status == 200
    assert t.phases["tls"] > 0 and set(t.phases) >= {"connect", "tls", "ttfb"}


@pytest.mark.parametrize("text, key", [
    ("[sensors.probes]\ntimeout_s = 0\n", "sensors.probes.timeout_s"),
    ("[sensors.probes]\nparalel = 2\n", "sensors.probes.paralel: unknown key (did you mean 'parallel'?)"),
    ("[[apps]]\nname = 'CRM'\nurls = ['crm.example.com']\n", "apps[0].urls[0]"),
])
def test_config_errors_name_the_key(config_error, text, key):
    assert key in config_error(text)
