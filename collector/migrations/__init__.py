"""Schema migrations: numbered modules (``m0001_initial.py`` ...) applied in order, in place.

Each module has ``upgrade(op)`` taking an alembic ``Operations`` object (no
alembic.ini, no revision graph: a straight line of versions is all the
collector needs). The applied version lives in the one-row table
``hinder_schema_version``. All pending migrations run in one transaction
(PostgreSQL and SQLite both have transactional DDL), so a failed upgrade
leaves the database as it was; on PostgreSQL an advisory lock makes replicas
that start together migrate one after the other.

To change the schema: edit ``collector/models.py`` and add the next
``mNNNN_what.py`` here doing the same change (use ``op.batch_alter_table``
to alter columns on SQLite). ``tests/collector/test_migrations.py`` fails
until both agree.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import ModuleType

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Connection, Engine

from collector.db import is_sqlite, write_transaction

VERSION_TABLE = "hinder_schema_version"
_NAME = re.compile(r"^m(\d{4})_\w+$")
_LOCK_KEY = 0x68696E646572  # "hinder"


def available(package: str = __name__) -> list[tuple[int, ModuleType]]:
    """The migrations of ``package`` as (version, module), in order."""
    pkg = importlib.import_module(package)
    found = []
    for info in pkgutil.iter_modules(pkg.__path__):
        m = _NAME.match(info.name)
        if m:
            found.append((int(m.group(1)), importlib.import_module(f"{package}.{info.name}")))
    found.sort(key=lambda vm: vm[0])
    versions = [v for v, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"{package}: migration numbers must be 1, 2, 3 ... without gaps, found {versions}")
    return found


def current_version(conn: Connection) -> int:
    """The schema version of the database (0 if it was never migrated)."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return 0
    return conn.execute(sa.text(f"SELECT version FROM {VERSION_TABLE}")).scalar_one()


def upgrade(engine: Engine, target: int | None = None, package: str = __name__) -> list[int]:
    """Apply pending migrations up to ``target`` (default: the newest); return the versions applied."""
    steps = available(package)
    with write_transaction(engine) as conn:
        if not is_sqlite(conn):
            conn.execute(sa.text("SET LOCAL lock_timeout = '120s'"))  # wait for a replica migrating now
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        version = current_version(conn)
        if version == 0:
            conn.execute(sa.text(f"CREATE TABLE {VERSION_TABLE} (version INTEGER NOT NULL)"))
            conn.execute(sa.text(f"INSERT INTO {VERSION_TABLE} (version) VALUES (0)"))
        newest = steps[-1][0] if steps else 0
        if version > newest:
            raise RuntimeError(f"the database is at schema version {version}, newer than this collector's "
                               f"{newest}: upgrade the collector")
        op = Operations(MigrationContext.configure(conn))
        applied = []
        for number, module in steps:
            if version < number <= (newest if target is None else target):
                module.upgrade(op)
                applied.append(number)
        if applied:
            conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version = :v"), {"v": applied[-1]})
    return applied
