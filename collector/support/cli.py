"""`hinder support ...`: service-desk tickets into the collector's database.

``import`` reads a file of the generic column set (:mod:`collector.support.generic`)
and stores it with :func:`collector.support.store.store_tickets`, so a file
imported twice doubles nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from collector.cli import _CONFIG, _DB, _load, _migrate
from contract.settings import EXIT_SOURCE, EXIT_USAGE, ConfigError

support_app = typer.Typer(help="Service-desk tickets: import them from a file.", no_args_is_help=True,
                          add_completion=False)

_SHOWN_REASONS = 10
_CHUNK = 1000  # tickets stored per transaction


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"hinder support: {message}", err=True)
    return typer.Exit(code)


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
    from collector.support.sources.base import _merge
    from collector.support.store import Stored, store_tickets

    if not re.match(SOURCE_NAME, source):
        raise _fail(f"--source {source!r} must be lowercase letters, digits, '-' or '_' (at most 32)", EXIT_USAGE)
    if fmt not in (*FORMATS, "auto"):
        raise _fail(f"--format must be one of {', '.join(FORMATS)} or auto, not {fmt!r}", EXIT_USAGE)
    cfg = _load(config, db=db)
    support = cfg.section("support")
    try:
        secret = support.identity_secret()
    except ConfigError as exc:
        raise _fail(f"configuration error: {exc}", EXIT_USAGE) from None
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise _fail(f"{file}: larger than {MAX_FILE_BYTES} bytes; split it", EXIT_USAGE)
        data = file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror or exc}", EXIT_USAGE) from None
    try:
        read = read_tickets(data, detect_format(data, file.name) if fmt == "auto" else fmt, source, support, secret)
    except FormatError as exc:
        raise _fail(f"{file}: {exc}; nothing was stored", EXIT_USAGE) from None

    engine, _ = _migrate(cfg.collector.db, cfg.collector.db_busy_timeout_s)
    stored = Stored()
    try:
        # a transaction per chunk: a collector serving the same database waits for its write lock no longer
        for at in range(0, len(read.tickets), _CHUNK):
            with write_transaction(engine) as conn:
                chunk = store_tickets(conn, read.tickets[at:at + _CHUNK])
            _merge(stored, chunk)
    except sa.exc.SQLAlchemyError as exc:
        done = stored.inserted + stored.updated + stored.unchanged
        raise _fail(f"cannot store the tickets: {str(exc).splitlines()[0][:200]}; the first {done} were stored, "
                    "import the file again to store the rest", EXIT_SOURCE) from None
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
