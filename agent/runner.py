"""The agent's main loop: sensors on their own threads, heartbeats, the uploader, a clean stop.

Every enabled sensor from the registry (``agent.sensors.SENSORS``) that can
run here is polled on its own thread every ``interval_s``. A sensor that
raises is logged, counted (``sensor_errors_total``) and backed off
exponentially; after ``MAX_CONSECUTIVE_FAILURES`` failures in a row it is
disabled until the agent restarts. Events are completed (``active_s`` from the
activity tracker when the sensor left it empty), checked against the wire
contract and put in the spool; the uploader delivers the spool.

A heartbeat is spooled at start and every ``heartbeat_interval_s``. On
``stop()`` (SIGTERM/SIGINT) the agent closes the sensors (spooling the
final events ``close()`` may return), spools a final heartbeat, tries one
last upload bounded by ``FINAL_UPLOAD_S``, and records a clean stop in the
run state.
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from agent.activity import ActivityTracker
from agent.config import AgentConfig, AgentSettings
from agent.context import SensorContext
from agent.identity import IdentityKeys
from agent.inventory import inventory, label
from agent.pulse.policy import Pulse
from agent.sensors import SENSORS, Sensor
from agent.spool import Spool
from agent.state import RunState, device_id
from agent.tls import use_ca_bundle
from agent.uploader import Uploader
from contract import __version__
from contract.check import ContractError, validate_batch
from contract.records import SECTION_OF_RECORD, SECTIONS, Event, Feedback, Heartbeat, make_batch

MAX_CONSECUTIVE_FAILURES = 8
MAX_SENSOR_BACKOFF_S = 600.0
FINAL_UPLOAD_S = 5.0
SENSOR_STOP_S = 5.0  # how long a clean stop waits for all sensors together
SPOOL_FILE = "spool.sqlite3"
LOCK_FILE = "agent.lock"


class AlreadyRunning(RuntimeError):
    """Another agent process uses the same state directory."""


def _lock_state_dir(state_dir: Path):
    """Hold an exclusive lock on the state directory for this process's lifetime (POSIX; elsewhere a no-op)."""
    try:
        import fcntl
    except ImportError:
        return None
    fh = open(state_dir / LOCK_FILE, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise AlreadyRunning(f"another agent is already running with state directory {state_dir}") from None
    return fh


def os_name(platform_id: str = sys.platform) -> str:
    """The inventory OS label: linux, windows or macos (else the raw platform)."""
    if platform_id.startswith("linux"):
        return "linux"
    if platform_id.startswith("win"):
        return "windows"
    if platform_id == "darwin":
        return "macos"
    return platform_id[:64]


def unavailable_reason(cls: type[Sensor], config) -> str | None:
    """Why a sensor cannot run here, or None; a sensor whose check itself fails cannot run either."""
    try:
        return cls.unavailable(config)
    except Exception as exc:
        return f"availability check failed: {type(exc).__name__}: {exc}"


def agent_details(spool_records: int, spool_write_errors_total: int) -> dict:
    """The agent's own facts added to every heartbeat's details (beside what sensors add)."""
    return {"spool_records": spool_records, "spool_write_errors_total": spool_write_errors_total}


def build_heartbeat(settings: AgentSettings, now: float, interval_s: float, active_s: float,
                    spool_dropped_total: int = 0, rejected_total: int = 0, sensor_errors_total: int = 0,
                    details: dict | None = None, identity: dict[str, str | None] | None = None) -> Heartbeat:
    """A heartbeat with this machine's inventory (its cohort read once per process: agent/inventory.py) and the
    given interval figures; ``identity``: its identity keys (``IdentityKeys.keys()``), none by default."""
    hb = Heartbeat(time=now, interval_s=interval_s, active_s=min(active_s, interval_s), os=os_name(),
                   os_version=label(platform.release()), **inventory(), agent_version=__version__,
                   site=settings.site, department=settings.department, spool_dropped_total=spool_dropped_total,
                   rejected_total=rejected_total, sensor_errors_total=sensor_errors_total, details=dict(details or {}),
                   **(identity or {}))
    hb.make_printable()  # what the OS reports is not the agent's to choose
    return hb


class SensorWorker:
    """Polls one sensor on its own thread, backing off when it raises."""

    def __init__(self, sensor: Sensor, sink: Callable[["SensorWorker", list[Event]], None], log: logging.Logger):
        self.sensor = sensor
        self.name = sensor.name
        self.interval_s = sensor.config.interval_s
        self.errors_total = 0
        self.consecutive_failures = 0
        self.disabled = False
        self._sink = sink
        self._log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sensor-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float) -> bool:
        """Wait for the thread to finish; False if it is still stuck in a poll."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def count_error(self) -> None:
        self.errors_total += 1

    def _run(self) -> None:
        started = False
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    if not started:
                        self.sensor.start()
                        started = True
                    events = list(self.sensor.poll() or ())
                except Exception as exc:  # a sensor must never take the agent down
                    delay = self._failed(exc)
                    if delay is None:
                        return
                else:
                    if self.consecutive_failures:
                        self._log.info("sensor %s: working again", self.name)
                    self.consecutive_failures = 0
                    self._sink(self, events)
                    delay = max(0.0, self.interval_s - (time.monotonic() - began))
                self._stop.wait(delay)
        finally:
            if started:
                try:
                    final = list(self.sensor.close() or ())
                    if final:
                        self._sink(self, final)
                except Exception as exc:
                    self.errors_total += 1
                    self._log.warning("sensor %s: close failed: %s: %s", self.name, type(exc).__name__, exc)

    def _failed(self, exc: Exception) -> float | None:
        """Count a failure; return the backoff delay, or None once the sensor is disabled."""
        self.errors_total += 1
        self.consecutive_failures += 1
        self._log.debug("sensor %s failed", self.name, exc_info=True)
        if self.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            self.disabled = True
            self._log.error("sensor %s: disabled after %d failures in a row; last: %s: %s",
                            self.name, self.consecutive_failures, type(exc).__name__, exc)
            return None
        delay = min(MAX_SENSOR_BACKOFF_S, self.interval_s * 2 ** self.consecutive_failures)
        self._log.warning("sensor %s: %s: %s; retrying in %.0f s", self.name, type(exc).__name__, exc, delay)
        return delay


class Agent:
    """One running agent: context, sensors, spool, uploader and heartbeats."""

    def __init__(self, config: AgentConfig, log: logging.Logger | None = None,
                 sensors: dict[str, type[Sensor]] | None = None):
        settings = config.agent
        use_ca_bundle(settings.ca_bundle)  # for every https request of this process
        self.sensor_classes = SENSORS if sensors is None else sensors
        self.config = config
        self.settings = settings
        self.log = log or logging.getLogger("hinder.agent")
        state_dir = Path(settings.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_state_dir(state_dir)
        self.device_id = device_id(state_dir)
        self.run_state = RunState(state_dir)
        self.activity = ActivityTracker()
        self.identity = IdentityKeys(settings.identity, settings.identity_key_file, self.log)
        self.ctx = SensorContext(catalogue=config.catalogue, state_dir=state_dir, activity=self.activity,
                                 run_state=self.run_state, log=self.log, collector_url=settings.collector,
                                 sensors=config.sensors)
        self.spool = Spool(state_dir / SPOOL_FILE, settings.spool_max_bytes, log=self.log)
        self.uploader = Uploader(self.spool, settings, self.device_id, log=self.log,
                                 user_agent=f"hinder-agent/{__version__}")
        self.pulse = Pulse(config.pulse, config.catalogue, self.activity, state_dir, self._spool_feedback,
                           self.log) if config.pulse.enabled else None
        self.workers: list[SensorWorker] = []
        self._invalid_logged: set[str] = set()
        self._stop = threading.Event()
        self._last_heartbeat = time.time()

    # ------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        """Ask the agent to stop (safe from a signal handler)."""
        self._stop.set()

    def run(self) -> int:
        """Run until ``stop()``, then stop cleanly; return the exit code."""
        self.log.info("agent %s starting: device %s, state %s, collector %s", __version__, self.device_id,
                      self.settings.state_dir, self.settings.collector)
        self._spool_heartbeat(time.time())  # first, so the collector knows the device's labels before any event
        self._start_sensors()
        self.uploader.start()
        next_heartbeat = time.monotonic() + self.settings.heartbeat_interval_s
        while not self._stop.is_set():
            self._stop.wait(min(1.0, max(0.0, next_heartbeat - time.monotonic())))
            if time.monotonic() >= next_heartbeat and not self._stop.is_set():
                self._spool_heartbeat(time.time())
                next_heartbeat = time.monotonic() + self.settings.heartbeat_interval_s
        self._shutdown()
        return 0

    def _start_sensors(self) -> None:
        for name, cls in self.sensor_classes.items():
            cfg = self.config.sensors.get(name) or cls.Config()
            if not cfg.enabled:
                continue
            reason = unavailable_reason(cls, cfg)
            if reason:
                self.log.info("sensor %s: not started: %s", name, reason)
                continue
            try:
                worker = SensorWorker(cls(cfg, self.ctx), self._accept, self.log)
            except Exception as exc:  # a broken sensor must not keep the others from starting
                self.log.error("sensor %s: cannot be created: %s: %s", name, type(exc).__name__, exc)
                continue
            self.workers.append(worker)
            worker.start()
        self.log.info("sensors running: %s", ", ".join(w.name for w in self.workers) or "none")

    def _shutdown(self) -> None:
        self.log.info("stopping")
        for w in self.workers:
            w.stop()
        deadline = time.monotonic() + SENSOR_STOP_S
        for w in self.workers:
            if not w.join(max(0.0, deadline - time.monotonic())):
                self.log.warning("sensor %s: still busy in a poll; not waiting for it", w.name)
        if self.pulse:
            self.pulse.close()  # an open question's answer would come after the spool is closed
        self._spool_heartbeat(time.time())
        self.uploader.stop(timeout_s=2.0)
        delivered = self.uploader.flush(FINAL_UPLOAD_S)
        left = self.spool.count
        self.spool.close()
        self.run_state.stopped_cleanly()
        if self._lock:
            self._lock.close()
        self.log.info("stopped cleanly; %s", "spool empty" if delivered else f"{left} records wait in the spool")

    # ------------------------------------------------------------ records

    @property
    def sensor_errors_total(self) -> int:
        return sum(w.errors_total for w in self.workers)

    def _accept(self, worker: SensorWorker, records: list) -> None:
        """Complete, check and spool the records one sensor returned: events, or app-time totals (Usage)."""
        good = []
        for ev in records:
            try:
                if isinstance(ev, Event) and ev.active_s is None:
                    ev.active_s = self.activity.active_seconds(ev.start, ev.start + ev.duration_s)
                ev.make_printable()  # a process named with a newline still counts, as "name with a space"
                problem = self._contract_problem(ev)
            except (TypeError, ValueError, AttributeError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                worker.count_error()
                if worker.name not in self._invalid_logged:
                    self._invalid_logged.add(worker.name)
                    self.log.error("sensor %s: produced a record that breaks the wire contract (%s); "
                                   "such records are counted and discarded", worker.name, problem)
                continue
            good.append(ev)
        if good:
            self.spool.put(good)
            for ev in good if self.pulse else ():
                if isinstance(ev, Event):
                    self.pulse.offer(ev)

    def _spool_feedback(self, feedback: Feedback) -> None:
        """The employee's answer to the pulse (agent/pulse/policy.py), delivered like every record."""
        self.spool.put([feedback])

    def heartbeat(self, now: float) -> Heartbeat:
        """The heartbeat closing the interval since the previous one."""
        start = min(self._last_heartbeat, now)
        return build_heartbeat(self.settings, now, now - start, self.activity.active_seconds(start, now),
                               spool_dropped_total=self.spool.dropped_total, rejected_total=self.spool.rejected_total,
                               sensor_errors_total=self.sensor_errors_total,
                               details={**self.ctx.heartbeat_details,
                                        **agent_details(self.spool.count, self.spool.write_errors_total)},
                               identity=self.identity.keys())

    def _contract_problem(self, record) -> str | None:
        """Why this record (of any batch section) would be refused by the collector, or None if it is fine."""
        try:
            by_field: dict[str, list[dict]] = {sec.field: [] for sec in SECTIONS}
            by_field[SECTION_OF_RECORD[type(record)].field].append(record.to_wire())
            batch = make_batch(self.device_id, **by_field)
            validate_batch(batch)
            json.dumps(batch, allow_nan=False)  # NaN or infinity is not JSON
        except (ContractError, TypeError, ValueError) as exc:
            return str(exc)
        return None

    def _spool_heartbeat(self, now: float) -> None:
        hb = self.heartbeat(now)
        self._last_heartbeat = now
        problem = self._contract_problem(hb)
        if problem:
            if "heartbeat" not in self._invalid_logged:
                self._invalid_logged.add("heartbeat")
                self.log.error("heartbeat details from sensors break the wire contract (%s); sending heartbeats "
                               "without details", problem)
            hb.details = {}
        self.spool.put([hb])
        try:
            self.run_state.alive()
        except OSError as exc:
            self.log.warning("cannot update the run state: %s", exc)
