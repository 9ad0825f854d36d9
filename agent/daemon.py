"""The agent's long-running process, kept lean.

`hinder agent run` checks the configuration with the full command line, then
replaces itself with this module (``exec``), so the agent does not carry the
command-line stack (typer, rich, pydantic: about 12 MiB) for its whole life.
Flags reach it in ``HINDER_AGENT_OVERRIDES`` (JSON, never on the command line
where a token would show in the process list).

Exit codes: 0 clean stop, 1 the agent could not run, 2 configuration error.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import sys

from agent.config import load_config
from contract.settings import EXIT_FAILURE, EXIT_USAGE, ConfigError

OVERRIDES_ENV = "HINDER_AGENT_OVERRIDES"
MALLOC_ARENAS_ENV = "MALLOC_ARENA_MAX"


def _setup_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(config_path: str | None) -> int:
    """Run the agent until SIGTERM/SIGINT; return the exit code."""
    overrides = json.loads(os.environ.pop(OVERRIDES_ENV, "{}"))
    try:
        cfg = load_config(config_path, overrides=overrides)
    except ConfigError as exc:
        print(f"hinder agent: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _setup_logging(cfg.agent.log_level)
    from agent.runner import Agent, AlreadyRunning

    try:
        agent = Agent(cfg)
    except AlreadyRunning as exc:
        print(f"hinder agent: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except (OSError, sqlite3.Error) as exc:
        print(f"hinder agent: cannot use state directory {cfg.agent.state_dir}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agent.stop())
    return agent.run()


def exec_daemon(config_path: str | None, overrides: dict) -> int:
    """Become the lean agent process (POSIX: exec; Windows: run in this process)."""
    os.environ[OVERRIDES_ENV] = json.dumps({k: v for k, v in overrides.items() if v is not None})
    # glibc gives each thread that allocates its own malloc arena; with a thread per sensor that is over
    # 1 MiB of resident memory (measured), for no gain: the GIL serialises the agent's allocations anyway.
    os.environ.setdefault(MALLOC_ARENAS_ENV, "1")
    if os.name != "posix":
        return main(config_path)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "agent.daemon"] + ([config_path] if config_path else []))
    return EXIT_FAILURE  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
