"""Database engines for SQLite and PostgreSQL, and the few dialect differences the collector needs.

SQLite runs in WAL mode (readers never wait for the writer), with
``synchronous=NORMAL`` (durable at each WAL checkpoint, safe against
application crashes), foreign keys on and a busy timeout after which a write
fails with ``database is locked`` (the API answers 503). PostgreSQL is reached
with psycopg 3 (``postgresql+psycopg://``; a plain ``postgresql://`` URL is
mapped to it), with a ``lock_timeout`` equal to the same busy timeout.
"""

from __future__ import annotations

import functools
import itertools
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

# SQLSTATEs that mean "try again later", not "your data is wrong".
_PG_RETRYABLE = {"40001", "40P01", "55P03", "57014", "53300", "08000", "08003", "08006", "08001", "57P01", "57P03"}


def normalise_url(url: str) -> str:
    """Map ``postgresql://`` and ``postgres://`` to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, busy_timeout_s: float = 5.0) -> Engine:
    """Create an engine configured for the collector's workload.

    ``hide_parameters``: a database error's message and the log never carry the values of the statement (an
    agent's records, a token's hash), only the statement.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False,
                                                     "isolation_level": None}, hide_parameters=True)
        sa.event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_s))
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    # lock_timeout: a write stuck behind a lock fails (55P03, answered 503)
    # after the same time a SQLite write would wait.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True,
                            connect_args={"options": f"-c lock_timeout={int(busy_timeout_s * 1000)}"})


def _sqlite_pragmas(busy_timeout_s: float):
    def on_connect(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.close()
    return on_connect


def _sqlite_begin(conn: Connection) -> None:
    # The driver's own transaction handling is off (isolation_level=None), so
    # SQLAlchemy's begin() is the only BEGIN; see write_transaction().
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("hinder_write") else "BEGIN")


def is_sqlite(bind: Engine | Connection) -> bool:
    """True if the engine or connection talks to SQLite."""
    return bind.dialect.name == "sqlite"


def insert(bind: Engine | Connection, table: sa.Table):
    """A dialect-specific INSERT that supports ``on_conflict_do_nothing/do_update``."""
    return (sqlite.insert if is_sqlite(bind) else postgresql.insert)(table)


_PREPARED: dict[tuple, Any] = {}


def prepared(bind: Engine | Connection, build: Callable[[Engine | Connection], Any]) -> Any:
    """The statement ``build(bind)``, built once per dialect and then reused.

    On the ingest hot path, building a SQLAlchemy statement costs more than
    running it. ``build`` is the cache key: pass a module-level function.
    """
    key = (bind.dialect.name, build)
    stmt = _PREPARED.get(key)
    if stmt is None:
        stmt = _PREPARED[key] = build(bind)
    return stmt


def add_up(conn: Connection, table: sa.Table, keys: Sequence[str], values: Sequence[str],
           rows: Iterable[tuple[tuple, Sequence]]) -> None:
    """Add each row's ``values`` to the row of ``table`` with its ``keys`` (created if missing): counters and sums.

    ``rows`` are (key tuple, value tuple) pairs; they are written in key order,
    so concurrent writers lock rows in one order. The upsert is built once
    per dialect and table.
    """
    rows = sorted(rows)
    if not rows:
        return
    cache_key = (conn.dialect.name, table.name, tuple(keys), tuple(values))
    stmt = _PREPARED.get(cache_key)
    if stmt is None:
        new = insert(conn, table)
        stmt = _PREPARED[cache_key] = new.on_conflict_do_update(
            index_elements=list(keys), set_={v: table.c[v] + new.excluded[v] for v in values})
    conn.execute(stmt, [{**dict(zip(keys, k)), **dict(zip(values, v))} for k, v in rows])


def insert_rows(conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: list[tuple]) -> int:
    """Insert tuples with the driver directly, skipping primary-key conflicts; return rows inserted.

    This bypasses SQLAlchemy's per-row parameter processing, which costs more
    than the insert itself on the ingest hot path. Values must already be in
    database form (JSON as text). On SQLite the rows go in multi-row INSERTs of
    at most :data:`_ROWS_PER_STATEMENT` rows (sizes are powers of two, so few
    statement shapes are ever prepared), which spares executemany's per-row
    bind, step and reset (``bench/ingest.py`` prints this function's rate
    beside executemany's; docs/collector.md has the figures). PostgreSQL gets
    psycopg's executemany, which pipelines the rows.
    """
    if not rows:
        return 0
    if conn.dialect.paramstyle != "qmark":
        return conn.exec_driver_sql(_insert_sql(conn.dialect, table, columns, 1), rows).rowcount
    inserted, at = 0, 0
    while at < len(rows):
        size = min(_ROWS_PER_STATEMENT, 1 << ((len(rows) - at).bit_length() - 1))
        params = tuple(itertools.chain.from_iterable(rows[at:at + size]))
        inserted += conn.exec_driver_sql(_insert_sql(conn.dialect, table, columns, size), params).rowcount
        at += size
    return inserted


_ROWS_PER_STATEMENT = 256  # x at most 16 columns: far below SQLite's 32,766 parameters


@functools.lru_cache(maxsize=256)
def _insert_sql(dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...], n_rows: int) -> str:
    """INSERT of ``n_rows`` rows of ``columns`` that skips rows whose primary key is stored already."""
    quote = dialect.identifier_preparer.quote
    key = ", ".join(quote(c.name) for c in table.primary_key.columns)
    values = "(" + ", ".join(["?" if dialect.paramstyle == "qmark" else "%s"] * len(columns)) + ")"
    return (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES {', '.join([values] * n_rows)} ON CONFLICT ({key}) DO NOTHING")


def is_retryable(exc: BaseException) -> bool:
    """True if a database error means busy, locked or unreachable (answer 503) rather than a bug."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlite_name = getattr(exc.orig, "sqlite_errorname", None)
    if sqlite_name is not None:
        return sqlite_name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
    code = getattr(exc.orig, "sqlstate", None)
    if code:
        return code in _PG_RETRYABLE or code.startswith("08")
    return isinstance(exc, sa.exc.OperationalError)  # e.g. PostgreSQL unreachable


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction: commit on success, roll back on any exception.

    On SQLite it starts with BEGIN IMMEDIATE, taking the write lock up front
    (waiting at most the busy timeout), so it can never fail half-way because
    another writer got there first.
    """
    with engine.connect().execution_options(hinder_write=True) as conn, conn.begin():
        yield conn
