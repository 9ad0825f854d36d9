"""`hinder agent`: run the endpoint agent, explain what it collects, show its state.

Exit codes: 0 success or clean stop; 1 the agent could not run (state
directory unusable or used by another agent, no agent state found); 2 configuration or usage error
(the message names the key).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from agent.config import AgentConfig, load_config
from contract.settings import EXIT_FAILURE, EXIT_USAGE, ConfigError

app = typer.Typer(help="The endpoint agent: records IT disruptions and sends them to the collector.",
                  no_args_is_help=True, add_completion=False)


_CONFIG_HELP = "agent TOML config file ([agent], [[apps]], [sensors.NAME])"


def _load(config: Optional[Path], **overrides) -> AgentConfig:
    try:
        return load_config(config, overrides=overrides)
    except ConfigError as exc:
        typer.echo(f"hinder agent: configuration error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None


@app.command()
def run(
    collector: Optional[str] = typer.Option(None, "--collector", help="collector base URL [env HINDER_COLLECTOR_URL]"),
    state_dir: Optional[Path] = typer.Option(None, "--state-dir", help="spool, device id and sensor state [env HINDER_STATE_DIR]"),
    config: Optional[Path] = typer.Option(None, "--config", help=_CONFIG_HELP),
    token: Optional[str] = typer.Option(None, "--token", help="agent token; prefer the environment [env HINDER_AGENT_TOKEN]"),
    site: Optional[str] = typer.Option(None, "--site", help="site label [env HINDER_SITE]"),
    department: Optional[str] = typer.Option(None, "--department", help="department label [env HINDER_DEPARTMENT]"),
) -> None:
    """Run the agent in the foreground until SIGTERM/SIGINT, then stop cleanly."""
    overrides = dict(collector=collector, state_dir=str(state_dir) if state_dir else None, token=token,
                     site=site, department=department)
    cfg = _load(config, **overrides)
    if not cfg.agent.token:
        typer.echo("hinder agent: configuration error: agent.token: missing "
                   "(set HINDER_AGENT_TOKEN, --token or token in [agent])", err=True)
        raise typer.Exit(EXIT_USAGE)
    from agent.daemon import exec_daemon

    raise typer.Exit(exec_daemon(str(config) if config else None, overrides))


@app.command()
def explain(config: Optional[Path] = typer.Option(None, "--config", help=_CONFIG_HELP)) -> None:
    """Print, for the employee, exactly what this agent collects and sends, with examples."""
    from agent.explain import render

    typer.echo(render(_load(config)))


@app.command()
def status(
    state_dir: Optional[Path] = typer.Option(None, "--state-dir", help="the agent's state directory [env HINDER_STATE_DIR]"),
    config: Optional[Path] = typer.Option(None, "--config", help=_CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Show the agent's device id, whether it keeps a device credential, spool backlog, drops and last run."""
    from agent.runner import SPOOL_FILE
    from agent.spool import Spool
    from agent.state import CREDENTIAL_FILE

    cfg = _load(config, state_dir=str(state_dir) if state_dir else None)
    root = Path(cfg.agent.state_dir)
    if not (root / SPOOL_FILE).exists() or not (root / "device_id").exists():
        typer.echo(f"hinder agent: no agent state in {root}", err=True)
        raise typer.Exit(EXIT_FAILURE)
    spool = Spool(root / SPOOL_FILE, cfg.agent.spool_max_bytes)
    try:
        oldest = spool.oldest_age_s(time.time())
        info = {
            "device_id": (root / "device_id").read_text(encoding="ascii").strip(),
            "device_credential": "kept" if (root / CREDENTIAL_FILE).exists() else "none (enrolls at its next delivery)",
            "state_dir": str(root),
            "spool_records": spool.count,
            "spool_bytes": spool.size_bytes,
            "spool_max_bytes": cfg.agent.spool_max_bytes,
            "oldest_record_age_s": None if oldest is None else round(oldest, 1),
            "spool_dropped_total": spool.dropped_total,
            "rejected_total": spool.rejected_total,
            "set_aside_records": len(spool.set_aside_records()),  # kept in the spool's set_aside table
        }
    finally:
        spool.close()
    try:
        info["last_run"] = json.loads((root / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info["last_run"] = None
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        typer.echo(f"{key:22} {value}")
