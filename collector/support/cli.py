"""`hinder support ...`: poll the configured service-desk sources once, show their health.

Exit codes: 0 done; 2 bad usage or configuration (unknown source, unreadable
identity key); 3 the database cannot be used, or a source could not be read
(``poll``: the others are still polled, and each failure is recorded).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from collector.cli import _CONFIG, _DB, _load, _migrate
from contract.settings import EXIT_SOURCE, EXIT_USAGE, ConfigError

support_app = typer.Typer(help="Service-desk tickets: poll the ITSM sources, show their health.", no_args_is_help=True,
                          add_completion=False)


def _fail(code: int, message: str) -> typer.Exit:
    typer.echo(f"hinder support: {message}", err=True)
    return typer.Exit(code)


@support_app.command()
def poll(
    source: Optional[list[str]] = typer.Option(None, "--source", help="poll only this source (repeatable; default all)"),
    config: Optional[Path] = _CONFIG,
    db: Optional[str] = _DB,
) -> None:
    """Poll the configured sources once, from their cursors on, and print what each gave."""
    from collector.support.polling import connectors
    from collector.support.sources.base import poll as poll_source

    cfg = _load(config, db=db)
    support = cfg.section("support")
    names = [s.name for s in support.sources]
    unknown = sorted(set(source or ()) - set(names))
    if unknown:
        raise _fail(EXIT_USAGE, f"--source {unknown[0]!r}: not configured (sources: {', '.join(names) or 'none'})")
    try:
        chosen = [c for c in connectors(support) if not source or c.settings.name in source]
    except ConfigError as exc:
        raise _fail(EXIT_USAGE, f"configuration error: {exc}") from None
    if not chosen:
        typer.echo("no [[support.sources]] configured")
        return
    engine, _ = _migrate(cfg.collector.db, cfg.collector.db_busy_timeout_s)
    failed = 0
    for connector in chosen:
        started = time.monotonic()
        done = poll_source(engine, connector)
        took = time.monotonic() - started
        s = done.stored
        line = (f"{done.source}: {done.pages} pages, {done.fetched} records: {s.inserted} new, {s.updated} updated, "
                f"{s.unchanged} unchanged, {s.skipped_total} skipped")
        if s.skipped:
            line += " (" + "; ".join(f"{n} x {reason}" for reason, n in s.skipped.most_common(5)) + ")"
        typer.echo(f"{line}; {took:.1f} s")
        if done.error:
            failed += 1
            typer.echo(f"{done.source}: FAILED: {done.error}", err=True)
    if failed:
        raise typer.Exit(EXIT_SOURCE)


@support_app.command()
def sources(config: Optional[Path] = _CONFIG, db: Optional[str] = _DB) -> None:
    """Print each source's health: its last poll, failures, records read and refused, and its cursor."""
    import sqlalchemy as sa

    from collector.models import support_source_table

    cfg = _load(config, db=db)
    configured = {s.name: s for s in cfg.section("support").sources}
    engine, _ = _migrate(cfg.collector.db, cfg.collector.db_busy_timeout_s)
    with engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(sa.select(support_source_table)).all()}
    if not configured and not rows:
        typer.echo("no [[support.sources]] configured")
        return
    for name in [*configured, *sorted(set(rows) - set(configured))]:
        row = rows.get(name)
        kind = configured[name].kind if name in configured else "not configured any more"
        if row is None:
            typer.echo(f"{name} ({kind}): never polled")
            continue
        state = "up" if row.last_success is not None and row.last_error is None else "DOWN"
        typer.echo(f"{name} ({kind}): {state}; last success {_when(row.last_success)}, last attempt "
                   f"{_when(row.last_attempt)}; {row.failures_total} failures, {row.fetched_total} records read, "
                   f"{row.skipped_total} skipped; cursor {row.cursor or '-'}")
        if row.last_error:
            typer.echo(f"  last error: {row.last_error}")


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "never"
