"""The API's description and its headers, on a served collector: what /openapi.json says is what the API answers.

The document is off by default (``[collector] api_docs``); on, it declares the batch body from the wire
contract under the configured limits, every refusal, the two bearer schemes, /metrics as text and the report's
media types. Every answer carries the security headers; a 405 names every method of its path.
"""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from collector.api.headers import SECURITY_HEADERS
from tests.collector.batches import batch, body, heartbeat

INGEST = ("/api/v1/events", "/api/v1/heartbeat")


@pytest.fixture
def documented(collector_factory):
    """A collector serving its description, with a non-default batch limit."""
    return collector_factory(config="[collector]\napi_docs = true\nmax_events = 123\n")


def _operations(doc: dict) -> dict[tuple[str, str], dict]:
    return {(method, path): op for path, ops in doc["paths"].items() for method, op in ops.items()}


def test_docs_are_off_by_default(collector):
    for path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
        r = httpx.get(collector.url + path)
        assert r.status_code == 404, path
        assert r.headers["x-content-type-options"] == "nosniff"


def test_ingest_operations_declare_the_batch_and_every_answer(documented):
    doc = httpx.get(documented.url + "/openapi.json").json()
    ops = _operations(doc)
    assert {k for k in ops if k[1] in INGEST} == {("post", "/api/v1/events"), ("get", "/api/v1/events"),
                                                  ("post", "/api/v1/heartbeat")}
    schemas = doc["components"]["schemas"]
    assert schemas["Batch"]["properties"]["events"]["maxItems"] == 123  # the configured limit, not a default
    assert schemas["Batch"]["additionalProperties"] is False and {"Event", "Heartbeat", "Error"} <= set(schemas)
    for path in INGEST:
        op = ops["post", path]
        assert op["requestBody"]["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}}
        assert op["requestBody"]["required"] is True
        assert {p["name"]: p["schema"]["enum"] for p in op["parameters"]} == {"Content-Encoding": ["gzip", "identity"]}
        assert set(op["responses"]) == {"200", "400", "401", "403", "413", "415", "422", "429", "503"}
        for status in ("400", "401", "413", "415", "422", "429", "503"):
            assert op["responses"][status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"}
        assert "Retry-After" in op["responses"]["429"]["headers"]
        assert op["security"] == [{"agentToken": []}]


def test_read_metrics_and_report_operations(documented):
    doc = httpx.get(documented.url + "/openapi.json").json()
    ops = _operations(doc)
    schemes = doc["components"]["securitySchemes"]
    assert set(schemes) == {"agentToken", "adminToken", "supportToken"}
    tickets = ops["post", "/api/v1/support/tickets"]
    assert tickets["security"] == [{"supportToken": []}]
    assert {"200", "400", "401", "413", "415", "422"} <= set(tickets["responses"])
    assert doc["components"]["schemas"]["Ticket"]["required"] == ["id", "opened_at"]
    assert all(s["type"] == "http" and s["scheme"] == "bearer" for s in schemes.values())
    for key in (("get", "/api/v1/events"), ("get", "/api/v1/devices"), ("get", "/api/v1/reports/weekly")):
        assert {"200", "400", "401", "503"} <= set(ops[key]["responses"]), key
        assert ops[key]["security"] == [{"adminToken": []}]
    assert set(ops["get", "/metrics"]["responses"]["200"]["content"]) == {"text/plain"}
    assert "security" not in ops["get", "/metrics"] and "security" not in ops["get", "/healthz"]
    assert httpx.get(documented.url + "/metrics").headers["content-type"].startswith("text/plain")
    report = ops["get", "/api/v1/reports/weekly"]["responses"]
    assert set(report["200"]["content"]) == {"text/html", "application/pdf", "text/markdown", "application/zip",
                                             "application/json"}
    assert "501" in report
    params = {p["name"]: p["schema"] for op in (ops["get", "/api/v1/reports/weekly"], ops["get", "/api/v1/events"])
              for p in op["parameters"]}
    assert params["format"]["enum"] == ["html", "pdf", "md", "csv", "json"]
    assert re.fullmatch(params["week"]["pattern"], "2026-W47")
    assert "crash" in params["type"]["items"]["enum"]


def test_a_405_names_every_method_of_its_path(collector):
    r = httpx.put(collector.url + "/api/v1/events")
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    r = httpx.get(collector.url + "/api/v1/heartbeat")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json() == {"detail": "Method Not Allowed"}


def test_security_headers_on_every_answer(collector):
    agent = collector.agent_headers()
    answers = [
        httpx.get(collector.url + "/healthz"),
        httpx.get(collector.url + "/metrics"),
        httpx.get(collector.url + "/nowhere"),
        httpx.post(collector.url + "/api/v1/events", content=body(batch(heartbeats=[heartbeat()])), headers=agent),
        httpx.post(collector.url + "/api/v1/events", content=b"{}", headers={**agent, "Content-Type": "text/plain"}),
        httpx.post(collector.url + "/api/v1/events", content=b"{}"),
        httpx.get(collector.url + "/api/v1/devices", headers=collector.admin_headers()),
    ]
    assert [r.status_code for r in answers] == [200, 200, 404, 200, 415, 401, 200]
    for r in answers:
        assert {k: r.headers.get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS, r.request.url
    csp = SECURITY_HEADERS["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp


def test_the_docs_page_runs_only_its_own_script(documented):
    r = httpx.get(documented.url + "/docs")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", csp).group(1).split()
    inline = re.findall(r"<script>(.*?)</script>", r.text, re.S)
    assert inline and "'unsafe-inline'" not in script_src
    assert {f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline} | {
        "https://cdn.jsdelivr.net"} == set(script_src)
    assert "frame-ancestors 'none'" in csp and r.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(documented.url + "/redoc").status_code == 404  # one page is enough
