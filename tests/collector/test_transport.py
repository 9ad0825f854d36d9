"""`hinder collector serve` over TLS with a certificate from a private CA made in the test, and behind a reverse proxy.

Real processes and sockets: the collector subprocess, httpx and the agent's own client as TLS clients, and
connections from a second loopback address (127.0.0.2) standing in for a reverse proxy.
"""

from __future__ import annotations

import re
import ssl
import subprocess
import sys

import httpx
import pytest

from agent._http import HTTPError, request
from tests._pki import TestCA
from tests.collector.batches import batch, body, event, heartbeat
from tests.conftest import ROOT, hinder_env, wait_until


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path / "ca")


@pytest.fixture
def tls_collector(collector_factory, ca):
    cert, key = ca.issue()
    return collector_factory(args=("--tls-cert", cert, "--tls-key", key), tls=ca.client_context())


def test_serves_https_and_refuses_plain_http(tls_collector):
    assert tls_collector.url.startswith("https://")
    b = batch([event("crash")], [heartbeat()])
    r = httpx.post(f"{tls_collector.url}/api/v1/events", content=body(b), headers=tls_collector.agent_headers(),
                   timeout=30, verify=tls_collector.verify)
    assert r.status_code == 200 and r.json()["accepted"] == 2
    assert f"collector on https://127.0.0.1:{tls_collector.port}" in tls_collector.log()
    plain = tls_collector.url.replace("https:", "http:")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{plain}/healthz", timeout=10)
    with pytest.raises(HTTPError) as exc:
        request("GET", f"{plain}/healthz", timeout_s=10)
    assert exc.value.kind == "protocol"
    assert tls_collector.stop() == 0


def test_a_client_that_does_not_trust_the_ca_is_refused(tls_collector, tmp_path):
    other = TestCA(tmp_path / "other", name="some other CA")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_collector.url}/healthz", timeout=10, verify=ssl.create_default_context(cafile=other.pem))


def _serve(*args: str, config: str | None = None, cwd) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "hinder", "collector", "serve", "--port", "9", "--db", f"sqlite:///{cwd}/h.db",
           "--agent-token", "agent-token-0001", "--admin-token", "admin-token-0001", *args]
    if config is not None:
        (cwd / "collector.toml").write_text(config)
        cmd += ["--config", str(cwd / "collector.toml")]
    return subprocess.run(cmd, env=hinder_env(), cwd=ROOT, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_unusable_tls_files_stop_the_start_with_a_clear_error(ca, tmp_path):
    cert, key = ca.issue()
    _, other_key = TestCA(tmp_path / "other", name="some other CA").issue()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", key, "-aes256", "-passout", "pass:secret", "-out", str(encrypted)],
                   check=True, capture_output=True)
    cases = [
        (("--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", key), "collector.tls_cert: cannot read"),
        (("--tls-cert", cert, "--tls-key", str(tmp_path)), "collector.tls_key: cannot read"),  # a directory
        (("--tls-cert", cert, "--tls-key", other_key), "the key does not belong to the certificate"),
        (("--tls-cert", str(garbage), "--tls-key", key), "not a PEM certificate"),
        (("--tls-cert", cert, "--tls-key", str(encrypted)), "its unencrypted PEM key"),  # no pass phrase prompt
        (("--tls-cert", cert), "go together"),
    ]
    for args, needle in cases:
        out = _serve(*args, cwd=tmp_path)
        assert out.returncode == 2 and needle in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
    out = _serve(config='[collector]\ntrusted_proxies = ["10.0.0.0/8", "proxy.example.org"]\n', cwd=tmp_path)
    assert out.returncode == 2 and "collector.trusted_proxies[1]: 'proxy.example.org' is not an IP" in out.stderr


def _get_from(collector, source: str, forwarded_for: str) -> str:
    """GET /healthz from the loopback address ``source`` with X-Forwarded-For and -Proto headers; then GET /healthz/
    likewise, which redirects to /healthz: return the scheme of that redirect, the scheme the collector believes."""
    headers = {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"}
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=10) as client:
        assert client.get(f"{collector.url}/healthz", headers=headers).status_code == 200
        redirect = client.get(f"{collector.url}/healthz/", headers=headers)
    assert redirect.status_code == 307
    return redirect.headers["location"].split(":", 1)[0]


@pytest.mark.skipif(sys.platform != "linux", reason="needs the whole 127.0.0.0/8 on loopback (Linux)")
def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(collector_factory):
    """The access log shows the client address the collector believes: the proxy's word only from the proxy."""
    proc = collector_factory(config='[collector]\nlog_level = "debug"\ntrusted_proxies = ["127.0.0.2/32"]\n')
    assert _get_from(proc, "127.0.0.2", "203.0.113.7") == "https"  # the reverse proxy: its word is believed
    assert _get_from(proc, "127.0.0.1", "198.51.100.9") == "http"  # anyone else: the headers are ignored
    wait_until(lambda: proc.log().count('"GET /healthz/ HTTP/1.1" 307') == 2, 10, what="the access log lines")
    log = proc.log()
    assert '203.0.113.7:0 - "GET /healthz HTTP/1.1" 200' in log
    assert "198.51.100.9" not in log and re.search(r'127\.0\.0\.1:\d+ - "GET /healthz/ HTTP/1.1" 307', log)


@pytest.mark.skipif(sys.platform != "linux", reason="needs the whole 127.0.0.0/8 on loopback (Linux)")
def test_without_trusted_proxies_no_forwarded_header_is_believed(collector_factory):
    """uvicorn alone believes X-Forwarded-For from 127.0.0.1: any local process could pick its address."""
    proc = collector_factory(config='[collector]\nlog_level = "debug"\n')
    assert _get_from(proc, "127.0.0.1", "203.0.113.7") == "http"
    wait_until(lambda: '"GET /healthz/ HTTP/1.1" 307' in proc.log(), 10, what="the access log lines")
    assert "203.0.113.7" not in proc.log()
