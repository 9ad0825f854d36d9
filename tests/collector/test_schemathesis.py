"""schemathesis against a served collector: every operation of its own /openapi.json, all checks, no server error.

The schema is the one the collector serves (``api_docs = true``), the ingest body included, so the fuzzer sends
batches shaped like the wire contract and everything around them. Each security scheme gets its token. The run
is bounded (examples per operation, phases) to stay well under a minute per database.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN, SUPPORT_TOKEN

# Positive data is shaped by the document, but the contract also checks what JSON Schema cannot say (times
# against the collector's clock, relations between fields, ids that are UUIDv7, query values read as times or
# weeks): such requests are refused with 400/413/422, which is an answer, not an error.
_CONFIG = f"""
workers = 1
seed = 1205
phases.stateful.enabled = false
request-timeout = 30

[generation]
max-examples = 25

[parameters]
# the document allows gzip; fuzzed bodies are plain JSON (a gzip header on them is only ever a 400)
"header.Content-Encoding" = "identity"

[auth.openapi.agentToken]
bearer = "{AGENT_TOKEN}"

[auth.openapi.adminToken]
bearer = "{ADMIN_TOKEN}"

[auth.openapi.supportToken]
bearer = "{SUPPORT_TOKEN}"

[checks]
enabled = true  # all of them
# 403 and 409: a device the run enrolled (or revoked) earlier; 404: revoking a device the collector never saw
positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "413", "422", "429"]
negative_data_rejection.expected-statuses = ["400", "401", "403", "404", "405", "406", "413", "415", "422", "429"]
"""


# Enrolling or revoking a generated device id makes the fleet token's batches for it a 403 from then on; the
# device operations run after the others, so that generated batches are still stored.
_DEVICE_OPERATIONS = r"^/api/v1/(enroll|devices/\{device_id\}/revoke)$"


def _run(collector, tmp_path: Path, devices: bool) -> subprocess.CompletedProcess:
    config = tmp_path / "schemathesis.toml"
    config.write_text(_CONFIG)
    har = tmp_path / ("devices.har" if devices else "run.har")
    cmd = [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(config), "--no-color", "run",
           f"{collector.url}/openapi.json", "--url", collector.url,
           "--include-path-regex" if devices else "--exclude-path-regex", _DEVICE_OPERATIONS,
           "--report", "har", "--report-har-path", str(har)]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_no_server_error_and_the_document_holds(backend, request, collector_factory, tmp_path):
    db = request.getfixturevalue("pg_url") if backend == "postgres" else None
    # no rate bound: the fuzzer sends faster than a fleet's share of one process, and a 429 tests nothing
    collector = collector_factory(db=db, config="[collector]\napi_docs = true\nmax_batches_per_s = 0\n"
                                            f'support_tokens = ["{SUPPORT_TOKEN}"]\n')
    for devices in (False, True):
        result = _run(collector, tmp_path, devices)
        assert result.returncode == 0, f"{result.stdout[-20000:]}\n{result.stderr[-5000:]}\n{collector.log()[-5000:]}"
    answered = _statuses(tmp_path / "run.har") + _statuses(tmp_path / "devices.har")
    assert not [k for k in answered if k[2] >= 500]
    for path in ("/api/v1/events", "/api/v1/heartbeat"):  # the body is generated from the document: stored or refused
        assert {200, 422} <= {status for method, p, status in answered if (method, p) == ("POST", path)}, answered
    assert {201, 400} <= {status for method, p, status in answered if (method, p) == ("POST", "/api/v1/enroll")}
    tickets = {status for method, p, status in answered if (method, p) == ("POST", "/api/v1/support/tickets")}
    assert {200, 422} <= tickets, tickets


def _statuses(har: Path) -> Counter:
    """(method, path, status) -> how many requests of the run were answered so."""
    entries = json.loads(har.read_text())["log"]["entries"]
    return Counter((e["request"]["method"], urlsplit(e["request"]["url"]).path, e["response"]["status"])
                   for e in entries)
