"""`hinder report weekly`: build the weekly impact report and write or mail it.

Exit codes: 0 done; 2 bad usage or configuration (week, format, config file);
3 the data source failed (database, collector URL, admin token); 4 the output
failed (Chromium missing for PDF, file not writable, mail refused).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from collector.impact import MODEL_VERSION
from contract.settings import EXIT_OUTPUT, EXIT_SOURCE, EXIT_USAGE, ConfigError

app = typer.Typer(help="The weekly impact report for CIOs.", no_args_is_help=True, add_completion=False)


def _fail(code: int, message: str) -> typer.Exit:
    typer.echo(f"hinder report: {message}", err=True)
    return typer.Exit(code)


@app.command()
def weekly(
    week: Optional[str] = typer.Option(
        None, help="ISO week YYYY-Www (default: the last complete week in the report's time zone)"),
    format: str = typer.Option("html", "--format", "-f", help="html, pdf, md, csv (a zip of CSV files) or json"),
    model: str = typer.Option(MODEL_VERSION, "--model", help="impact model version to show the week under: 3 (the "
                              "score counts impacted hours), 2 (the score is 1 - lost / active) or 1 (as 2, without "
                              "the service-desk cause)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output file (default: stdout)", dir_okay=False),
    config: Optional[Path] = typer.Option(None, "--config", help="collector TOML config: the model, report and apps tables"),
    db: Optional[str] = typer.Option(None, "--db", help="read this database directly, after bringing its figures up to "
                                     "date as a collector would (SQLAlchemy URL; env HINDER_DB)"),
    collector: Optional[str] = typer.Option(None, "--collector", help="fetch the report from this collector's API instead"),
    admin_token: Optional[str] = typer.Option(None, "--admin-token", help="admin token for --collector (env HINDER_ADMIN_TOKEN)"),
    mail_to: Optional[list[str]] = typer.Option(None, "--mail-to", help="mail the report (HTML, PDF attached) to this address; repeatable"),
    smtp_host: str = typer.Option("localhost", "--smtp-host", help="SMTP server"),
    smtp_port: int = typer.Option(25, "--smtp-port", help="SMTP port"),
    smtp_starttls: bool = typer.Option(False, "--smtp-starttls", help="upgrade the SMTP connection with STARTTLS"),
    smtp_tls: bool = typer.Option(False, "--smtp-tls", help="implicit TLS (SMTPS)"),
    smtp_user: str = typer.Option("", "--smtp-user", help="SMTP login (password from env HINDER_SMTP_PASSWORD)"),
    mail_from: Optional[str] = typer.Option(None, "--mail-from", help="sender address (default: report.mail_from)"),
    no_pdf: bool = typer.Option(False, "--no-pdf", help="mail without the PDF attachment (no Chromium needed)"),
) -> None:
    """Build the weekly impact report for one ISO week; write it (--out) or mail it (--mail-to)."""
    from collector.impact import MODEL_VERSIONS
    from collector.report import ReportError
    from collector.report.render import FORMATS, render

    if format not in FORMATS:
        raise _fail(EXIT_USAGE, f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    if model not in MODEL_VERSIONS:
        raise _fail(EXIT_USAGE, f"--model {model!r}: expected one of {', '.join(MODEL_VERSIONS)}")
    if db and collector:
        raise _fail(EXIT_USAGE, "give either --db or --collector, not both")
    if collector:
        report, report_cfg = _fetch(collector, week, admin_token or os.environ.get("HINDER_ADMIN_TOKEN", ""), config,
                                    model)
    else:
        report, report_cfg = _build(config, db, week, model)
    try:
        if mail_to:
            from collector.report.mail import Smtp, send

            smtp = Smtp(smtp_host, smtp_port, smtp_starttls, smtp_tls, smtp_user, os.environ.get("HINDER_SMTP_PASSWORD", ""))
            send(report, smtp, mail_from or report_cfg.mail_from, mail_to, attach_pdf=not no_pdf)
            typer.echo(f"mailed the report for {report['week']} to {', '.join(mail_to)}", err=True)
            if out is None:
                return
        data = render(report, format)
    except ReportError as exc:
        raise _fail(EXIT_OUTPUT, str(exc)) from None
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise _fail(EXIT_OUTPUT, f"cannot write {out}: {exc.strerror}") from None
    typer.echo(f"wrote the {format} report for {report['week']} to {out}", err=True)


def _config(path: Optional[Path], db: Optional[str]):
    from collector.config import load_config

    try:
        return load_config(path, overrides={"db": db})
    except ConfigError as exc:
        raise _fail(EXIT_USAGE, f"configuration error: {exc}") from None


def _build(path: Optional[Path], db: Optional[str], week: Optional[str], model: str):
    import sqlalchemy as sa

    from collector.aggregates.refresh import refresh
    from collector.db import make_engine
    from collector.report import ReportError
    from collector.report.build import build_report

    cfg = _config(path, db)
    url = sa.make_url(cfg.collector.db) if "://" in cfg.collector.db else None
    if url is None or (url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists()):
        raise _fail(EXIT_SOURCE, f"no collector database at {cfg.collector.db!r}: give --db (or HINDER_DB) "
                                 "with the collector's database URL")
    engine = make_engine(cfg.collector.db, cfg.collector.db_busy_timeout_s)
    try:
        from collector.migrations import current_version

        with engine.connect() as conn:
            if current_version(conn) == 0:
                raise _fail(EXIT_SOURCE, "the database has no hinder schema; is this the collector's database?")
        refresh(engine, cfg)  # what was ingested since the collectors' last refresh round (none may be running)
        return build_report(engine, cfg, week, model=model), cfg.section("report")
    except ReportError as exc:
        raise _fail(EXIT_USAGE, str(exc)) from None
    except sa.exc.SQLAlchemyError as exc:
        raise _fail(EXIT_SOURCE, f"cannot read the database: {str(exc).splitlines()[0]}") from None
    finally:
        engine.dispose()


def _fetch(url: str, week: Optional[str], token: str, path: Optional[Path], model: str):
    import httpx

    from collector.report.week import parse_week

    if not token:
        raise _fail(EXIT_USAGE, "--collector needs the admin token (--admin-token or HINDER_ADMIN_TOKEN)")
    if week:
        try:
            parse_week(week)
        except Exception as exc:
            raise _fail(EXIT_USAGE, str(exc)) from None
    params = {"format": "json", "model": model, **({"week": week} if week else {})}  # no week: the collector's last complete one
    try:
        resp = httpx.get(url.rstrip("/") + "/api/v1/reports/weekly", params=params,
                         headers={"Authorization": f"Bearer {token}"}, timeout=120)
    except httpx.HTTPError as exc:
        raise _fail(EXIT_SOURCE, f"cannot reach the collector at {url}: {exc}") from None
    if resp.status_code != 200:
        try:
            detail = resp.json().get("detail", resp.text)
        except ValueError:
            detail = resp.text[:200]
        raise _fail(EXIT_SOURCE, f"the collector answered {resp.status_code}: {detail}")
    return resp.json(), _config(path, None).section("report")
