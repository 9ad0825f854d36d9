"""Agent CPU and memory beside Debian's node_exporter and process-exporter, measured in one run.

Starts, on free loopback ports:
- a real collector (`python -m hinder collector serve`, SQLite) for the agent to upload to;
- the agent (`python -m hinder agent run`) with the configuration of the chosen profile
  (``default``: no config file at all, i.e. every sensor at its defaults;
  ``no_sensors``: every sensor disabled, to tell the core's cost from the sensors';
  ``probes``: 10 catalogued URLs on a local server probed every 30 s, connectivity every 5 s);
- `prometheus-node-exporter` (default collectors) and `prometheus-process-exporter`
  watching every process (``process_names: [{name: "{{.Comm}}", cmdline: ['.+']}]``),
  each scraped by this script every 5 s (httpx GET /metrics), like Prometheus would.

Every 5 s it samples VmRSS / VmHWM (/proc/PID/status) and CPU seconds
(utime+stime+cutime+cstime from /proc/PID/stat) of the three, then prints
median and peak RSS, total CPU seconds, CPU in the steady state (after the
first 10 s, i.e. without start-up) and the verdict against the targets:
agent RSS <= 30 MiB and agent CPU below both exporters. For context it also
prints the RSS of a bare interpreter (``python -c pass``) and of one that has
imported what the agent daemon imports (its code, psutil, sqlite3; ssl only
loads on the first https request) without starting: the floor a running
agent starts from.

The "RSS peak" column may include a first sample of ``hinder agent run``
before it execs the lean daemon; the verdict uses the daemon's VmHWM. The
figures measured so far are in docs/sensors-performance.md ("Footprint").

Usage: python3 bench/agent_overhead.py [--seconds 60] [--profile default]
To add a profile, add an entry to PROFILES: profile name -> agent TOML text.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _serve import free_port, wait_http  # bench/_serve.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
AGENT_TOKEN = "bench-agent-token-0001"
ADMIN_TOKEN = "bench-admin-token-0001"
SCRAPE_S = 5.0
WARMUP_S = 10.0
RSS_TARGET_MIB = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")



def _all_sensors_off() -> str:
    sys.path.insert(0, str(ROOT))
    from agent.sensors import SENSORS

    return "".join(f"[sensors.{name}]\nenabled = false\n" for name in SENSORS)


# profile name -> agent TOML (None: no config file, every sensor at its defaults)
PROFILES: dict[str, str | None] = {
    "default": None,
    "no_sensors": _all_sensors_off(),  # the agent core alone: what the sensors add is default minus this
}

# probes (issue 4): 10 catalogued URLs probed every 30 s and connectivity checked every 5 s, the other sensors at
# their defaults. "{probe_base}" is replaced by a local HTTP server that the bench starts (not measured).
PROBE_APPS = 10
PROFILES["probes"] = "".join(
    f'[[apps]]\nname = "App {i}"\nurls = ["{{probe_base}}/app{i}/health"]\n' for i in range(PROBE_APPS)
) + "[sensors.probes]\ninterval_s = 30\n[sensors.connectivity]\ninterval_s = 5\n"

PROCESS_EXPORTER_CONFIG = """process_names:
  - name: "{{.Comm}}"
    cmdline:
    - '.+'
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / CLOCK_TICKS


class Measured:
    """One measured process and its samples."""

    def __init__(self, name: str, proc: subprocess.Popen, metrics_url: str | None):
        self.name, self.proc, self.metrics_url = name, proc, metrics_url
        self.rss_kib: list[int] = []
        self.cpu: list[tuple[float, float]] = []  # (elapsed s, cpu s)
        self.hwm_kib = 0
        self.scrape_errors = 0

    def sample(self, elapsed: float) -> None:
        if self.proc.poll() is not None:
            sys.exit(f"{self.name} exited with status {self.proc.returncode} during the run")
        self.rss_kib.append(_status_kib(self.proc.pid, "VmRSS"))
        self.hwm_kib = _status_kib(self.proc.pid, "VmHWM")
        self.cpu.append((elapsed, _cpu_seconds(self.proc.pid)))

    def scrape(self, client: httpx.Client) -> None:
        if self.metrics_url:
            try:
                client.get(self.metrics_url, timeout=10).raise_for_status()
            except httpx.HTTPError:
                self.scrape_errors += 1

    def steady_cpu(self) -> float:
        """CPU seconds spent after the warm-up."""
        after = [c for t, c in self.cpu if t >= WARMUP_S]
        return after[-1] - after[0] if len(after) > 1 else 0.0

    def steady_span(self) -> float:
        times = [t for t, _ in self.cpu if t >= WARMUP_S]
        return times[-1] - times[0] if len(times) > 1 else 0.0


def _baseline_rss_mib(code: str) -> float:
    """VmRSS of a Python interpreter that ran ``code`` and then waits."""
    proc = subprocess.Popen([sys.executable, "-c", code + "\nimport sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                            env=_env())
    try:
        time.sleep(3.0)
        return _status_kib(proc.pid, "VmRSS") / 1024
    finally:
        proc.kill()
        proc.wait()


def _probe_target(work: Path, spawn) -> str:
    """Serve PROBE_APPS small health pages on loopback (python -m http.server); return the base URL."""
    www, port = work / "www", free_port()
    for i in range(PROBE_APPS):
        (www / f"app{i}").mkdir(parents=True)
        (www / f"app{i}" / "health").write_text("ok\n")
    server = spawn([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(www), str(port)],
                   "probe-target.log")
    wait_http(f"http://127.0.0.1:{port}/app0/health", server, "probe target")
    return f"http://127.0.0.1:{port}"


def run(seconds: float, profile: str) -> int:
    for binary in ("prometheus-node-exporter", "prometheus-process-exporter"):
        if not shutil.which(binary):
            sys.exit(f"{binary} is not installed (Debian: apt-get install {binary})")
    work = Path(tempfile.mkdtemp(prefix="hinder-bench-"))
    procs: list[subprocess.Popen] = []

    def spawn(cmd: list[str], log: str, **kw) -> subprocess.Popen:
        with open(work / log, "wb") as fh:
            p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=work, **kw)
        procs.append(p)
        return p

    try:
        collector_port = free_port()
        collector = spawn([sys.executable, "-m", "hinder", "collector", "serve", "--host", "127.0.0.1", "--port",
                           str(collector_port), "--db", f"sqlite:///{work / 'hinder.db'}", "--agent-token",
                           AGENT_TOKEN, "--admin-token", ADMIN_TOKEN], "collector.log", env=_env())
        collector_url = f"http://127.0.0.1:{collector_port}"
        wait_http(f"{collector_url}/healthz", collector, "collector")

        agent_cmd = [sys.executable, "-m", "hinder", "agent", "run", "--state-dir", str(work / "agent-state"),
                     "--collector", collector_url]
        if PROFILES[profile] is not None:
            text = PROFILES[profile]
            if "{probe_base}" in text:
                text = text.replace("{probe_base}", _probe_target(work, spawn))
            (work / "agent.toml").write_text(text)
            agent_cmd += ["--config", str(work / "agent.toml")]
        agent = spawn(agent_cmd, "agent.log", env=dict(_env(), HINDER_AGENT_TOKEN=AGENT_TOKEN))

        node_port, proc_port = free_port(), free_port()
        node = spawn(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node_port}"], "node.log")
        (work / "process-exporter.yml").write_text(PROCESS_EXPORTER_CONFIG)
        procexp = spawn(["prometheus-process-exporter", "-web.listen-address", f"127.0.0.1:{proc_port}",
                         "-config.path", str(work / "process-exporter.yml")], "process-exporter.log")
        node_url, proc_url = f"http://127.0.0.1:{node_port}/metrics", f"http://127.0.0.1:{proc_port}/metrics"
        wait_http(node_url, node, "node_exporter")
        wait_http(proc_url, procexp, "process-exporter")

        measured = [Measured("hinder agent", agent, None), Measured("node_exporter", node, node_url),
                    Measured("process-exporter", procexp, proc_url)]
        print(f"profile {profile!r}: measuring for {seconds:.0f} s (samples and scrapes every {SCRAPE_S:.0f} s) ...",
              flush=True)
        start = time.monotonic()
        with httpx.Client() as client:
            while True:
                elapsed = time.monotonic() - start
                for m in measured:
                    m.scrape(client)
                    m.sample(elapsed)
                if elapsed >= seconds:
                    break
                time.sleep(max(0.0, min(SCRAPE_S, seconds - elapsed) - (time.monotonic() - start - elapsed)))
        agent_threads = _status_kib(agent.pid, "Threads")
        delivered = httpx.get(f"{collector_url}/api/v1/devices", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                              timeout=30).json().get("devices", [])
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()

    print(f"\n{'process':<18}{'RSS median':>12}{'RSS peak':>10}{'VmHWM':>9}{'CPU total':>11}{'CPU steady':>12}"
          f"{'steady %':>10}{'scrape err':>11}")
    for m in measured:
        steady_pct = 100 * m.steady_cpu() / m.steady_span() if m.steady_span() else 0.0
        print(f"{m.name:<18}{statistics.median(m.rss_kib) / 1024:>9.1f} MiB{max(m.rss_kib) / 1024:>6.1f} MiB"
              f"{m.hwm_kib / 1024:>5.1f} MiB{m.cpu[-1][1]:>9.2f} s{m.steady_cpu():>10.2f} s{steady_pct:>9.2f}%"
              f"{m.scrape_errors if m.metrics_url else '-':>11}")
    print(f"(steady = after the first {WARMUP_S:.0f} s; exporters were scraped every {SCRAPE_S:.0f} s; "
          f"the agent ran {agent_threads} threads; devices seen by the collector: {len(delivered)})")

    bare = _baseline_rss_mib("pass")
    deps = _baseline_rss_mib("import agent.daemon, agent.runner")
    print(f"context: a bare python interpreter holds {bare:.1f} MiB RSS; one that imported the agent daemon's "
          f"code and dependencies (psutil, sqlite3; ssl loads on the first https request) {deps:.1f} MiB")

    agent_m, node_m, proc_m = measured
    rss_ok = agent_m.hwm_kib / 1024 <= RSS_TARGET_MIB
    cpu_ok = agent_m.steady_cpu() < node_m.steady_cpu() and agent_m.steady_cpu() < proc_m.steady_cpu()
    print(f"\nverdict: agent peak RSS {agent_m.hwm_kib / 1024:.1f} MiB vs target <= {RSS_TARGET_MIB:.0f} MiB: "
          f"{'PASS' if rss_ok else 'MISS'}")
    print(f"verdict: agent steady CPU {agent_m.steady_cpu():.2f} s vs node_exporter {node_m.steady_cpu():.2f} s and "
          f"process-exporter {proc_m.steady_cpu():.2f} s: {'PASS' if cpu_ok else 'MISS'}")
    print(f"(start-up included, agent CPU {agent_m.cpu[-1][1]:.2f} s; logs in {work})")
    return 0 if rss_ok and cpu_ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to measure (at least 60 for the report)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default", help="agent configuration")
    args = parser.parse_args()
    sys.exit(run(args.seconds, args.profile))


if __name__ == "__main__":
    main()
