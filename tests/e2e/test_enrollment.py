"""Device credentials with real processes: agent subprocesses, collector subprocesses, `hinder collector devices`.

An agent enrolls and a second sender holding only the fleet token can no
longer rewrite its site; revoking it cuts it off while its spool keeps its
records; an agent of the release before enrollment (the code of
:data:`PRE_ENROLLMENT`, checked out of this repository) keeps delivering with
the fleet token; rotating the fleet token leaves enrolled agents delivering.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import httpx
import pytest

from tests.collector.batches import batch, body, heartbeat
from tests.conftest import AGENT_TOKEN, ROOT, hinder_env, wait_until
from tests.e2e.test_delivery import AgentProcess

pytestmark = pytest.mark.slow

PRE_ENROLLMENT = "b87434f"  # the last commit whose agent knows no device credential: deployed before the upgrade
NEW_TOKEN = "rotated-fleet-token-0002"


@pytest.fixture
def start_agent(tmp_path):
    started: list[AgentProcess] = []

    def start(collector_url: str, **kw) -> AgentProcess:
        workdir = tmp_path / f"agent-{len(started)}"
        workdir.mkdir()
        agent = AgentProcess(workdir, collector_url, **kw)
        started.append(agent)
        agent.start()
        wait_until(lambda: (agent.state_dir / "device_id").exists(), 60, what="the agent's device id")
        return agent

    yield start
    for agent in started:
        if agent.proc and agent.proc.poll() is None:
            agent.kill()


@pytest.fixture(scope="module")
def legacy_code(tmp_path_factory):
    """The hinder tree of :data:`PRE_ENROLLMENT`, extracted from this repository's history."""
    dest = tmp_path_factory.mktemp("legacy")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", PRE_ENROLLMENT], capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"commit {PRE_ENROLLMENT} is not in this checkout (a shallow clone?): {archive.stderr[:200]!r}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def _events_of(collector, device_id: str) -> int:
    return len(collector.events(device_id=device_id, type="test"))


def _device(collector, device_id: str) -> dict:
    return next(d for d in collector.devices() if d["id"] == device_id)


def test_an_enrolled_agent_cannot_be_spoofed_and_revoking_it_cuts_it_off(collector, start_agent):
    agent = start_agent(collector.url)
    wait_until(lambda: _events_of(collector, agent.device_id) >= 2, 60, what="the agent's first events")
    credential = agent.state_dir / "credential"
    assert stat.S_IMODE(credential.stat().st_mode) == 0o600
    assert credential.read_text().startswith(f"hdc1.{agent.device_id}.")
    status = subprocess.run([sys.executable, "-m", "hinder", "agent", "status", "--state-dir", str(agent.state_dir),
                             "--json"], env=hinder_env(), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert json.loads(status.stdout)["device_credential"] == "kept"
    # a second "agent" with the fleet token tries to move device 1 to another site
    spoof = httpx.post(f"{collector.url}/api/v1/heartbeat", content=body(batch([], [heartbeat(site="Lyon")],
                                                                               device_id=agent.device_id)),
                       headers=collector.agent_headers(), timeout=30)
    assert spoof.status_code == 403, spoof.text
    assert _device(collector, agent.device_id)["site"] == "Paris"
    revoke = subprocess.run([sys.executable, "-m", "hinder", "collector", "devices", "revoke", agent.device_id,
                             "--db", collector.db], env=hinder_env(), cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert revoke.returncode == 0, revoke.stderr
    wait_until(lambda: "revoked" in agent.log(), 30, what="the agent to see it is revoked")
    stored = _events_of(collector, agent.device_id)
    wait_until(lambda: sum(r.kind == "event" for r in agent.spooled()) >= 3, 30, what="records kept in the spool")
    assert _events_of(collector, agent.device_id) == stored  # cut off, its data kept
    agent.kill()
    assert agent.log().count("revoked") < 10  # it backs off: no fast loop of refused batches
    assert credential.read_text().split(".")[-1].strip() not in agent.log() + collector.log()


def test_a_pre_enrollment_agent_keeps_delivering_and_rotating_the_fleet_token_spares_enrolled_agents(
        collector_factory, start_agent, legacy_code):
    collector = collector_factory(args=("--agent-token", NEW_TOKEN))  # step 1 of a rotation: the new token added
    legacy = start_agent(collector.url, code=legacy_code)
    enrolled = start_agent(collector.url)
    wait_until(lambda: _events_of(collector, legacy.device_id) >= 2 and _events_of(collector, enrolled.device_id) >= 2,
               90, what="both agents' first events")
    assert not (legacy.state_dir / "credential").exists()  # it never enrolled: require_enrollment is off by default
    assert (enrolled.state_dir / "credential").exists()
    # step 3: the old token removed (the legacy agent would have been rolled to the new one in step 2)
    collector.agent_token, collector.args = NEW_TOKEN, []
    collector.restart()
    before = _events_of(collector, enrolled.device_id)
    wait_until(lambda: _events_of(collector, enrolled.device_id) >= before + 2, 60,
               what="the enrolled agent to deliver after the old fleet token is gone")
    fresh = body(batch([], [heartbeat()], device_id="fresh-device-01"))
    r = httpx.post(f"{collector.url}/api/v1/heartbeat", content=fresh,
                   headers={**collector.agent_headers(), "Authorization": f"Bearer {AGENT_TOKEN}"}, timeout=30)
    assert r.status_code == 401  # the old token is gone for everyone
    for agent in (legacy, enrolled):
        agent.kill()
