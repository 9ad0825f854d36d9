"""`hinder collector ...`: serve the API, migrate the database, make tokens, list and revoke devices.

FastAPI, uvicorn and SQLAlchemy are imported inside the commands, so the rest
of the `hinder` command (the agent) never loads them.
"""

from __future__ import annotations

import gc
import logging
import secrets
import signal
from pathlib import Path
from typing import Optional

import typer

from collector.calibration import MIN_ANSWERS
from contract.settings import EXIT_FAILURE, EXIT_SOURCE, EXIT_USAGE, ConfigError

app = typer.Typer(help="The collector: ingest API, storage, migrations, Prometheus metrics.", no_args_is_help=True,
                  add_completion=False)

_CONFIG = typer.Option(None, "--config", help="collector TOML config file", exists=False, dir_okay=False)
_DB = typer.Option(None, "--db", help="SQLAlchemy URL, e.g. sqlite:///hinder.db or postgresql+psycopg://user@host/db "
                                      "(env HINDER_DB; default sqlite:///hinder.db)")

def _load(config: Optional[Path], **overrides):
    from collector.config import load_config

    try:
        return load_config(config, overrides=overrides)
    except ConfigError as exc:
        typer.echo(f"hinder collector: configuration error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None


def _migrate(url: str, busy_timeout_s: float):
    import sqlalchemy as sa

    from collector.db import make_engine
    from collector.migrations import upgrade

    engine = make_engine(url, busy_timeout_s)
    try:
        applied = upgrade(engine)
    except (sa.exc.SQLAlchemyError, RuntimeError) as exc:
        typer.echo(f"hinder collector: cannot migrate {_safe_url(url)}: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(EXIT_SOURCE) from None
    return engine, applied


def _safe_url(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<invalid database URL>"


@app.command()
def serve(
    config: Optional[Path] = _CONFIG,
    db: Optional[str] = _DB,
    host: Optional[str] = typer.Option(None, help="listen address (default 127.0.0.1)"),
    port: Optional[int] = typer.Option(None, help="listen port (default 8739)"),
    agent_token: Optional[list[str]] = typer.Option(None, "--agent-token", help="agent token; repeat for several "
                                                    "(env HINDER_AGENT_TOKEN, comma-separated)"),
    admin_token: Optional[str] = typer.Option(None, "--admin-token", help="admin token (env HINDER_ADMIN_TOKEN)"),
    tls_cert: Optional[Path] = typer.Option(None, "--tls-cert", help="PEM certificate (chain): serve HTTPS"),
    tls_key: Optional[Path] = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert"),
) -> None:
    """Run the collector: migrate the database, then serve the API until SIGTERM/SIGINT."""
    from collector.config import check_transport, require_tokens

    cfg = _load(config, db=db, host=host, port=port, agent_tokens=agent_token or None, admin_token=admin_token,
                tls_cert=str(tls_cert) if tls_cert else None, tls_key=str(tls_key) if tls_key else None)
    settings = cfg.collector
    try:
        require_tokens(settings)
        check_transport(settings)
        cfg.section("support").identity_secret()
    except ConfigError as exc:
        typer.echo(f"hinder collector: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))  # one line per plugin otherwise
    log = logging.getLogger("hinder.collector")
    engine, applied = _migrate(settings.db, settings.db_busy_timeout_s)
    if applied:
        log.info("database %s migrated to schema version %d", _safe_url(settings.db), applied[-1])

    import uvicorn

    from collector.api.app import create_app

    scheme = "https" if settings.tls_cert else "http"
    base = f"{scheme}://{settings.host if ':' not in settings.host else f'[{settings.host}]'}:{settings.port}"
    log.info("collector on %s; Prometheus metrics at %s/metrics", base, base)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the
    # signal to the handler it found; a no-op handler makes that exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    api = create_app(cfg, engine)
    # What is loaded by now lives as long as the process: keep it out of the garbage collector's full passes,
    # which walk every tracked object while ingest allocates (docs/collector.md, "Performance", has the figures).
    gc.collect()
    gc.freeze()
    # X-Forwarded-* only from the configured proxies: uvicorn would otherwise believe any local process
    uvicorn.run(api, host=settings.host, port=settings.port, log_level=settings.log_level,
                access_log=settings.log_level == "debug", timeout_graceful_shutdown=10,
                ssl_certfile=settings.tls_cert or None, ssl_keyfile=settings.tls_key or None,
                proxy_headers=bool(settings.trusted_proxies), forwarded_allow_ips=settings.trusted_proxies or None)
    log.info("collector stopped")


@app.command()
def migrate(config: Optional[Path] = _CONFIG, db: Optional[str] = _DB) -> None:
    """Upgrade the database schema in place to this collector's version."""
    cfg = _load(config, db=db)
    _, applied = _migrate(cfg.collector.db, cfg.collector.db_busy_timeout_s)
    typer.echo(f"applied migrations {', '.join(map(str, applied))}" if applied else "the database is up to date")


@app.command()
def token() -> None:
    """Print a new random token (for HINDER_AGENT_TOKEN or HINDER_ADMIN_TOKEN)."""
    typer.echo(secrets.token_urlsafe(32))


devices_app = typer.Typer(help="Devices and their credentials: list them, revoke one.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")


def _engine(config: Optional[Path], db: Optional[str]):
    """An engine on the configured database, migrated (like `serve`, which migrates before serving)."""
    cfg = _load(config, db=db)
    return _migrate(cfg.collector.db, cfg.collector.db_busy_timeout_s)[0]


@devices_app.command("list")
def devices_list(config: Optional[Path] = _CONFIG, db: Optional[str] = _DB,
                 as_json: bool = typer.Option(False, "--json", help="print JSON for scripts")) -> None:
    """List every device with its credential state: enrolled, revoked, or none (it sends with the fleet token)."""
    import json

    from collector import devices
    from contract.records import format_time

    with _engine(config, db).connect() as conn:
        listed = devices.listing(conn)
    if as_json:
        typer.echo(json.dumps(listed, indent=2))
        return
    typer.echo(f"{'device':40} {'credential':10} {'enrolled':24} {'revoked':24} last seen")
    for d in listed:
        when = [format_time(d[k]) if d[k] is not None else "-" for k in ("enrolled_at", "revoked_at", "last_seen")]
        typer.echo(f"{d['device_id']:40} {d['credential']:10} {when[0]:24} {when[1]:24} {when[2]}")


@devices_app.command("revoke")
def devices_revoke(device_id: str = typer.Argument(..., help="the device id, as `hinder collector devices list` shows"),
                   config: Optional[Path] = _CONFIG, db: Optional[str] = _DB) -> None:
    """Revoke a device: its batches are refused from now on (403), on every replica; its data is kept."""
    from collector import devices
    from contract.records import device_id_valid, format_time

    if not device_id_valid(device_id):
        typer.echo(f"hinder collector: {device_id!r} is not a device id", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        entry = devices.revoke(_engine(config, db), device_id)
    except KeyError:
        typer.echo(f"hinder collector: no device {device_id} is known to this database", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    typer.echo(f"device {device_id} revoked at {format_time(entry['revoked_at'])}; its data is kept")


model_app = typer.Typer(help="The impact model: calibrate its recovery times from the pulse's answers.",
                        no_args_is_help=True, add_completion=False)


@model_app.command("calibrate")
def model_calibrate(
    weeks: int = typer.Option(4, "--weeks", min=1, max=52, help="read the answers of this many weeks, up to now"),
    min_answers: int = typer.Option(MIN_ANSWERS, "--min-answers", min=1, max=100_000,
                                    help="the fewest answers a proposal rests on"),
    config: Optional[Path] = _CONFIG, db: Optional[str] = _DB,
) -> None:
    """Propose recovery times from the pulse's answers, as \\[model] lines to copy into the config (opt-in: the
    model is unchanged until you do)."""
    import time

    from collector import calibration
    from collector.aggregates import felt, model_config
    from collector.labels import min_group_size
    from contract.records import format_time

    cfg = _load(config, db=db)
    end = time.time()
    start = end - weeks * 7 * 86400
    model = model_config(cfg)
    with _engine(config, db).connect() as conn:
        answered = felt.answers_in(conn, start, end, model)
    proposals = calibration.propose([(a.device_id, a.type, cfg.app_label(a.app), a.answer) for a in answered],
                                    model.recovery_s, min_group_size(cfg), min_answers)
    period = f"{format_time(start)} to {format_time(end)}"
    lines = calibration.toml_lines(proposals, period)
    if not lines:
        typer.echo(f"# no proposal: {period} has no recovery type with {min_answers} answers from "
                   f"{min_group_size(cfg)} devices ({len(answered)} answers in all); the model is unchanged")
    typer.echo("\n".join(lines))
