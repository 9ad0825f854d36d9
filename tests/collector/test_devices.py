"""Device credentials on SQLite and PostgreSQL: enrollment, binding a batch to its device, revocation, rotation,
the per-device rate bound, and `hinder collector devices` as a real process (issue 12, finding 2)."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
import sqlalchemy as sa

from collector.api.ingest import DeviceRateBounds
from tests.collector.batches import DEVICE, batch, body, event, heartbeat
from tests.collector.conftest import ADMIN, AGENT, make_api, make_config
from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN, ROOT, hinder_env

OTHER = "device-0002"


def enroll(api, device_id=DEVICE, token=AGENT_TOKEN):
    return api.client.post("/api/v1/enroll", json={"device_id": device_id},
                           headers={"Authorization": f"Bearer {token}"})


def as_device(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}", "Content-Type": "application/json"}


def site_of(api, device_id=DEVICE) -> str:
    devices = api.client.get("/api/v1/devices", headers=ADMIN).json()["devices"]
    return next(d["site"] for d in devices if d["id"] == device_id)


def credential_state(api, device_id=DEVICE) -> str:
    listed = api.client.get("/api/v1/devices/credentials", headers=ADMIN).json()["devices"]
    return next(d["credential"] for d in listed if d["device_id"] == device_id)


def test_a_fleet_token_holder_cannot_rewrite_an_enrolled_devices_site(api):
    r = enroll(api)
    assert r.status_code == 201, r.text
    credential = r.json()["credential"]
    assert r.json()["device_id"] == DEVICE and credential.startswith(f"hdc1.{DEVICE}.")
    assert api.post(body(batch([event()], [heartbeat(site="Paris")])), headers=as_device(credential)).status_code == 200
    # the finding: a second agent holding only the fleet token rewrote device 1's site
    spoof = api.post(body(batch([event()], [heartbeat(site="Lyon")])))
    assert spoof.status_code == 403 and "enrolled" in spoof.json()["detail"]
    assert site_of(api) == "Paris" and api.counts()["event"] == 1
    # nor can it take the device over by enrolling it again
    again = enroll(api)
    assert again.status_code == 409 and "enrolled already" in again.json()["detail"]
    assert api.post(body(batch([], [heartbeat(site="Paris")])), headers=as_device(credential)).status_code == 200
    assert 'hinder_ingest_batches_total{result="unauthorized"} 1.0' in api.client.get("/metrics").text


def test_a_credential_sends_only_for_its_own_device(api):
    credential = enroll(api).json()["credential"]
    r = api.post(body(batch([event()], [heartbeat()], device_id=OTHER)), headers=as_device(credential))
    assert r.status_code == 403 and f"device {DEVICE}'s" in r.json()["detail"] and OTHER in r.json()["detail"]
    assert api.counts()["event"] == 0


@pytest.mark.parametrize("credential, needle", [
    (f"hdc1.{DEVICE}.not-the-secret", "wrong credential"),
    (f"hdc1.{OTHER}.whatever", "not enrolled"),
    ("hdc1.x.y", "malformed"),
    ("hdc1.", "malformed"),
    (f"hdc1.{DEVICE}.", "malformed"),
])
def test_unknown_wrong_and_malformed_credentials_are_401(api, credential, needle):
    enroll(api)
    r = api.post(body(batch([event()], [heartbeat()])), headers=as_device(credential))
    assert r.status_code == 401 and needle in r.json()["detail"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.counts()["event"] == 0


def test_only_the_secrets_hash_is_stored(api):
    credential = enroll(api).json()["credential"]
    secret = credential.rsplit(".", 1)[1]
    assert len(secret) >= 43  # 32 random bytes
    with api.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM device_credential")).mappings().one()
    assert row["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(dict(row)) and credential != enroll(api, OTHER).json()["credential"]


def test_a_revoked_device_is_refused_and_keeps_its_data(api):
    credential = enroll(api).json()["credential"]
    assert api.post(body(batch([event()], [heartbeat()])), headers=as_device(credential)).status_code == 200
    r = api.client.post(f"/api/v1/devices/{DEVICE}/revoke", headers=ADMIN)
    assert r.status_code == 200 and r.json()["credential"] == "revoked"
    revoked_at = r.json()["revoked_at"]
    refused = api.post(body(batch([event()], [heartbeat()])), headers=as_device(credential))
    assert refused.status_code == 403 and "revoked" in refused.json()["detail"]
    assert api.post(body(batch([event()], [heartbeat()]))).status_code == 403  # nor with the fleet token
    assert enroll(api).status_code == 403  # nor by enrolling again
    assert api.counts()["event"] == 1 and len(api.client.get("/api/v1/events", headers=ADMIN).json()["events"]) == 1
    again = api.client.post(f"/api/v1/devices/{DEVICE}/revoke", headers=ADMIN)
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked_at  # idempotent


def test_revoking_a_device_that_only_used_the_fleet_token_cuts_it_off(api):
    assert api.post(body(batch([event()], [heartbeat()]))).status_code == 200
    assert credential_state(api) == "none"
    assert api.client.post(f"/api/v1/devices/{DEVICE}/revoke", headers=ADMIN).status_code == 200
    assert credential_state(api) == "revoked"
    assert api.post(body(batch([event()], [heartbeat()]))).status_code == 403
    assert enroll(api).status_code == 403


@pytest.mark.parametrize("path, headers, status", [
    ("/api/v1/devices/device-9999/revoke", ADMIN, 404),  # never seen
    ("/api/v1/devices/bad%20id/revoke", ADMIN, 400),
    (f"/api/v1/devices/{DEVICE}/revoke", AGENT, 401),  # the fleet token cannot revoke
])
def test_revoke_refusals(api, path, headers, status):
    assert api.client.post(path, headers=headers).status_code == status


@pytest.mark.parametrize("content, status", [
    (b"not json", 400),
    (b"[1, 2]", 400),
    (b'{"id": "device-0001"}', 400),
    (b'{"device_id": "short"}', 400),
    (b'{"device_id": 12345678}', 400),
    (b'{"device_id": "device-0001\\u0000"}', 400),
    (b'{"device_id": "device-0001", "secret": "mine"}', 400),  # nothing but the device id (as documented)
    (b'{"device_id": "' + b"x" * 2000 + b'"}', 413),
    (b"[" * 1024, 400),  # nested deeper than Python's json reads (RecursionError, a 500 before)
])
def test_bad_enrollments_are_4xx(api, content, status):
    r = api.client.post("/api/v1/enroll", content=content, headers=AGENT)
    assert r.status_code == status, r.text
    assert api.client.get("/api/v1/devices/credentials", headers=ADMIN).json()["count"] == 0


@pytest.mark.parametrize("token", [ADMIN_TOKEN, "not-a-fleet-token"])
def test_enrolling_needs_the_fleet_token(api, token):
    assert enroll(api, token=token).status_code == 401


def test_fleet_token_ingest_for_a_never_enrolled_device_follows_require_enrollment(api_factory):
    legacy = api_factory()
    assert legacy.post(body(batch([event()], [heartbeat()]))).status_code == 200  # the upgrade path: on by default
    strict = api_factory(require_enrollment=True)
    r = strict.post(body(batch([event()], [heartbeat()], device_id=OTHER)))
    assert r.status_code == 403 and "requires enrollment" in r.json()["detail"]
    credential = enroll(strict, OTHER).json()["credential"]  # the fleet token still enrolls
    assert strict.post(body(batch([event()], [heartbeat()], device_id=OTHER)), headers=as_device(credential)) \
        .status_code == 200


def test_rotating_the_fleet_token_keeps_enrolled_devices_delivering(db_engine, db_url):
    old, new = "old-fleet-token-1", "new-fleet-token-2"
    before = make_api(db_engine, make_config(db_url, agent_tokens=[old, new]))  # step 1: add the new token
    credential = enroll(before, token=old).json()["credential"]
    assert enroll(before, OTHER, token=new).status_code == 201
    after = make_api(db_engine, make_config(db_url, agent_tokens=[new]))  # step 3: the old token removed
    assert after.post(body(batch([event()], [heartbeat()])), headers=as_device(credential)).status_code == 200
    assert enroll(after, "device-0003", token=old).status_code == 401
    assert enroll(after, "device-0003", token=new).status_code == 201


def test_a_flooding_device_does_not_get_another_devices_batches_refused(api_factory):
    api = api_factory(max_batches_per_s=20, max_batches_per_device_per_s=5)
    flooder, quiet = (enroll(api, d).json()["credential"] for d in (DEVICE, OTHER))

    def send(credential, device_id):
        return api.post(body(batch([], [heartbeat()], device_id=device_id)), headers=as_device(credential)).status_code

    flooded, delivered = [], []
    for _ in range(4):  # within a second: the flooder sends 15 batches for each of the other device's
        flooded += [send(flooder, DEVICE) for _ in range(15)]
        delivered.append(send(quiet, OTHER))
    assert delivered == [200] * 4  # before the per-device bound, the flooder used up the process's 20 tokens
    assert flooded.count(429) >= 45  # refused by its own bound, before it takes any of the process's


def test_device_rate_bounds_forget_the_least_recently_seen_beyond_their_size():
    bounds = DeviceRateBounds(per_s=1, max_devices=3)
    for device_id in ("a", "b", "c"):
        assert bounds.take(device_id) is None
    assert bounds.take("a") is not None  # a's token is spent; a is now the most recently seen
    assert bounds.take("d") is None  # b, the least recently seen, is forgotten
    assert list(bounds._bounds) == ["c", "a", "d"]
    assert DeviceRateBounds(per_s=0).take("a") is None  # 0: unbounded


def _hinder(*args):
    return subprocess.run([sys.executable, "-m", "hinder", *args], env=hinder_env(), cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_cli_lists_and_revokes_devices(api, db_url):
    enroll(api)
    assert api.post(body(batch([event()], [heartbeat()], device_id=OTHER))).status_code == 200  # fleet token
    listed = _hinder("collector", "devices", "list", "--db", db_url)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines()[1:]}
    assert rows == {DEVICE: "enrolled", OTHER: "none"}
    revoked = _hinder("collector", "devices", "revoke", DEVICE, "--db", db_url)
    assert revoked.returncode == 0 and f"device {DEVICE} revoked" in revoked.stdout
    assert credential_state(api) == "revoked"
    assert _hinder("collector", "devices", "revoke", "device-9999", "--db", db_url).returncode == 1
    assert _hinder("collector", "devices", "revoke", "no", "--db", db_url).returncode == 2
