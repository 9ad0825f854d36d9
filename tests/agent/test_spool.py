"""The spool: order, acknowledgement, size bound, persistence, crash safety, a refusing disk."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent.spool import Spool
from contract.records import Event, Feedback, Heartbeat, Usage

ROOT = Path(__file__).resolve().parents[2]


def _events(n, start=1_800_000_000.0):
    return [Event(type="test", app="test", start=start + i, severity="info", details={"seq": i}) for i in range(n)]


def _hb():
    return Heartbeat(time=time.time(), interval_s=60, active_s=0, os="linux", os_version="6.1",
                     agent_version="0.1.0", site="Paris", department="Finance")


def test_fifo_order_kinds_and_ack(tmp_path):
    sp = Spool(tmp_path / "spool.db", max_bytes=10_000_000)
    evs = _events(5)
    hb = _hb()
    sp.put(evs[:3])
    sp.put([hb])
    sp.put(evs[3:])
    got = sp.peek(100)
    assert [r.id for r in got] == [e.id for e in evs[:3]] + [hb.id] + [e.id for e in evs[3:]]
    assert [r.kind for r in got] == ["event"] * 3 + ["heartbeat"] + ["event"] * 2
    assert got[0].body == evs[0].to_wire()
    assert [r.id for r in sp.peek(2)] == [e.id for e in evs[:2]]
    assert sp.ack([evs[0].id, evs[1].id, "not-there"]) == 2
    assert sp.count == 4 and sp.peek(1)[0].id == evs[2].id
    assert sp.dropped_total == 0 and sp.rejected_total == 0


def test_duplicate_put_is_stored_once(tmp_path):
    sp = Spool(tmp_path / "spool.db", max_bytes=10_000_000)
    ev = _events(1)
    sp.put(ev)
    size = sp.size_bytes
    sp.put(ev)
    assert sp.count == 1 and sp.size_bytes == size


def test_size_bound_drops_oldest_and_counts(tmp_path):
    evs = _events(200)
    one = len(str(evs[0].to_wire()))  # rough size of one record
    sp = Spool(tmp_path / "spool.db", max_bytes=50 * one)
    for e in evs:
        sp.put([e])
    kept = sp.peek(1000)
    assert sp.size_bytes <= sp.max_bytes
    assert 30 < len(kept) < 80
    # what is kept is the newest, in order; what was dropped is counted
    assert [r.id for r in kept] == [e.id for e in evs[-len(kept):]]
    assert sp.dropped_total == 200 - len(kept)
    sp.close()
    reopened = Spool(tmp_path / "spool.db", max_bytes=50 * one)
    assert reopened.dropped_total == 200 - len(kept)
    assert reopened.size_bytes == sum(len(json.dumps(r.body, separators=(",", ":"))) for r in kept)


def test_rejected_counted_and_everything_survives_reopen(tmp_path):
    sp = Spool(tmp_path / "spool.db", max_bytes=10_000_000)
    evs = _events(10)
    sp.put(evs)
    assert sp.set_aside({evs[0].id: "bad type", evs[5].id: "bad app"}) == 2
    sp.ack([evs[1].id])
    sp.close()
    sp = Spool(tmp_path / "spool.db", max_bytes=10_000_000)
    assert sp.rejected_total == 2
    assert [r.id for r in sp.peek(100)] == [e.id for i, e in enumerate(evs) if i not in (0, 1, 5)]
    assert sp.size_bytes > 0
    sp.ack([r.id for r in sp.peek(100)])
    assert sp.count == 0 and sp.size_bytes == 0 and sp.oldest_age_s(time.time()) is None


def test_set_aside_records_are_kept_for_the_admin_within_their_share_of_the_bound(tmp_path):
    sp = Spool(tmp_path / "spool.db", max_bytes=20_000)
    evs = _events(40)
    sp.put(evs)
    one = sp.size_bytes // 40
    for e in evs[:30]:
        assert sp.set_aside({e.id: f"HTTP 500: {e.id}"}) == 1
    sp.close()
    sp = Spool(tmp_path / "spool.db", max_bytes=20_000)
    kept = sp.set_aside_records()
    assert sp.rejected_total == 30 and sp.count == 10
    assert 2_000 // (one + 2) <= len(kept) <= 2_000 // (one - 2)  # the newest, within a tenth of the size bound
    assert [(rid, why) for rid, _, why in kept] == [(e.id, f"HTTP 500: {e.id}") for e in evs[30 - len(kept):30]]
    sp.close()


_WRITER = textwrap.dedent("""
    import sys, time
    from agent.spool import Spool
    from contract.records import Event
    sp = Spool(sys.argv[1], max_bytes=100_000_000)
    seq = 0
    while True:
        seq += 1
        ev = Event(type="test", app="test", start=time.time(), severity="info", details={"seq": seq})
        sp.put([ev])
        print(ev.id, flush=True)
""")


def test_sigkill_loses_nothing_confirmed(tmp_path):
    db = tmp_path / "spool.db"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(db)], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    confirmed = []
    deadline = time.monotonic() + 60
    while len(confirmed) < 200 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        confirmed.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    confirmed += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]
    assert len(confirmed) >= 200, "writer did not produce records"
    stored = {r.id for r in Spool(db, max_bytes=100_000_000).peek(100_000)}
    missing = [i for i in confirmed if i not in stored]
    assert not missing, f"{len(missing)} confirmed records lost after SIGKILL"


def test_locked_database_buffers_in_memory_and_retries(tmp_path):
    db = tmp_path / "spool.db"
    sp = Spool(db, max_bytes=10_000_000, busy_timeout_s=0.05, memory_limit=3)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    evs = _events(5)
    sp.put(evs[:2])  # must not raise
    sp.put(evs[2:])
    assert sp.write_errors_total == 2
    assert sp.pending_in_memory == 3  # bounded: the two oldest were dropped
    assert sp.dropped_total == 2
    blocker.execute("ROLLBACK")
    blocker.close()
    assert [r.id for r in sp.peek(10)] == [e.id for e in evs[2:]]
    assert sp.pending_in_memory == 0
    sp.close()
    assert Spool(db, max_bytes=10_000_000).dropped_total == 2


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="needs root to mount a tiny tmpfs")
def test_full_disk_does_not_crash_and_recovers(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], check=True)
    try:
        sp = Spool(mnt / "spool.db", max_bytes=100_000_000)
        filler = mnt / "filler"
        with open(filler, "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"x" * 4096)
            except OSError:
                pass
        evs = [Event(type="test", app="test", start=time.time(), details={"pad": "p" * 400}) for _ in range(200)]
        for e in evs:
            sp.put([e])  # must not raise
        assert sp.write_errors_total > 0 and sp.pending_in_memory > 0
        filler.unlink()
        stored = [r.id for r in sp.peek(1000)]
        assert stored == [e.id for e in evs]
        assert sp.pending_in_memory == 0
        sp.close()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_spool_written_by_an_older_agent_takes_every_kind_of_record_and_keeps_its_own(tmp_path):
    path = tmp_path / "spool.db"
    old = sqlite3.connect(path)
    old.executescript("""CREATE TABLE records (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('event', 'heartbeat')), body TEXT NOT NULL, size INTEGER NOT NULL);""")
    ev = _events(1)[0]
    body = json.dumps(ev.to_wire())
    old.execute("INSERT INTO records (id, kind, body, size) VALUES (?, 'event', ?, ?)", (ev.id, body, len(body)))
    old.commit()
    old.close()
    sp = Spool(path, max_bytes=10_000_000)
    usage = Usage(start=1_800_000_000.0, interval_s=3600, app="excel", focus_s=120)
    sp.put([usage, Feedback(time=1_800_000_100.0, event_id=ev.id, answer="none")])
    assert [(r.id, r.kind) for r in sp.peek(10)][:2] == [(ev.id, "event"), (usage.id, "usage")]
    assert [r.kind for r in sp.peek(10)] == ["event", "usage", "feedback"]
    sp.close()
