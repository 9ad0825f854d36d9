"""`hinder support ...`: service-desk tickets into the collector's database.

``import`` reads a file of the generic column set (:mod:`collector.support.generic`)
and stores it with :func:`collector.support.store.store_tickets`, so a file
imported twice doubles nothing; ``poll`` polls the configured sources once;
``sources`` shows their health.

Exit codes: 0 done; 2 bad usage or configuration (unknown source, unreadable
identity key); 3 the database cannot be used, or a source could not be read
(``poll``: the others are still polled, and each failure is recorded).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from collector.aggregates import model_config
from collector.cli import _CONFIG, _DB, _load, _migrate
from contract.records import format_time
from contract.settings import EXIT_SOURCE, EXIT_USAGE, ConfigError

support_app = typer.Typer(help="Service-desk tickets: import a file, poll the ITSM sources, show their health.", no_args_is_help=True,
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
        done = poll_source(engine, connector, model=model_config(cfg))
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
    return format_time(ts) if ts else "never"


_SHOWN_REASONS = 10
_CHUNK = 1000  # tickets stored per transaction


@support_app.command("import")
def import_tickets(
    file: Path = typer.Argument(..., help="CSV (header row) or JSON (an array, or one object a line) of tickets in "
                                "the generic column set: docs/support.md"),
    source: str = typer.Option("import", "--source", help="the name stored with these tickets: a ticket imported "
                               "again under the same name and id is updated, not doubled"),
    fmt: str = typer.Option("auto", "--format", help="csv, jsonl, json or auto (from the file name, else its "
                            "first character)"),
    config: Optional[Path] = _CONFIG,
    db: Optional[str] = _DB,
) -> None:
    """Store the tickets of a file; print what was inserted, updated, unchanged and skipped (with each reason)."""
    import re

    import sqlalchemy as sa

    from collector.db import write_transaction
    from collector.support.config import SOURCE_NAME
    from collector.support.generic import FORMATS, MAX_FILE_BYTES, FormatError, detect_format, read_tickets
    from collector.support.store import Stored, store_tickets

    if not re.match(SOURCE_NAME, source):
        raise _fail(EXIT_USAGE, f"--source {source!r} must be lowercase letters, digits, '-' or '_' (at most 32)")
    if fmt not in (*FORMATS, "auto"):
        raise _fail(EXIT_USAGE, f"--format must be one of {', '.join(FORMATS)} or auto, not {fmt!r}")
    cfg = _load(config, db=db)
    support = cfg.section("support")
    try:
        secret = support.identity_secret()
    except ConfigError as exc:
        raise _fail(EXIT_USAGE, f"configuration error: {exc}") from None
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise _fail(EXIT_USAGE, f"{file}: larger than {MAX_FILE_BYTES} bytes; split it")
        data = file.read_bytes()
    except OSError as exc:
        raise _fail(EXIT_USAGE, f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        read = read_tickets(data, detect_format(data, file.name) if fmt == "auto" else fmt, source, support, secret)
    except FormatError as exc:
        raise _fail(EXIT_USAGE, f"{file}: {exc}; nothing was stored") from None

    engine, _ = _migrate(cfg.collector.db, cfg.collector.db_busy_timeout_s)
    stored = Stored()
    try:
        # a transaction per chunk: a collector serving the same database waits for its write lock no longer
        for at in range(0, len(read.tickets), _CHUNK):
            with write_transaction(engine) as conn:
                chunk = store_tickets(conn, read.tickets[at:at + _CHUNK], model=model_config(cfg))
            stored.add(chunk)
    except sa.exc.SQLAlchemyError as exc:
        done = stored.inserted + stored.updated + stored.unchanged
        raise _fail(EXIT_SOURCE, f"cannot store the tickets: {str(exc).splitlines()[0][:200]}; the first {done} were stored, "
                    "import the file again to store the rest") from None
    finally:
        engine.dispose()
    stored.skipped.update(read.skipped)
    typer.echo(f"{file} ({source}): {stored.inserted} inserted, {stored.updated} updated, {stored.unchanged} "
               f"unchanged, {stored.skipped_total} skipped")
    for where, reason in read.problems:
        typer.echo(f"  skipped {where}: {reason}")
    if stored.skipped_total > len(read.problems):
        typer.echo("  skipped by reason:")
        for reason, n in stored.skipped.most_common(_SHOWN_REASONS):
            typer.echo(f"    {n} x {reason}")
    if read.ignored_columns:
        typer.echo(f"note: columns not read: {', '.join(read.ignored_columns[:20])}")
    if read.not_hashed:
        typer.echo(f"note: {read.not_hashed} tickets name a host, asset or account in clear but [support] "
                   "identity_key_file is not set: they are kept without keys and joined to no device")
