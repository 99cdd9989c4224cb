"""Database engines: SQLite (the embedded default) tuned for durability, or any SQLAlchemy URL; and
migrate(), which brings a database to the newest schema revision (storage/migrations)."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from sdcpp_rest.storage.migrations import FIRST_RELEASE_REVISION, alembic_config

log = logging.getLogger(__name__)

# The database and the folder created for it: readable by their owner only.
PRIVATE_FILE_MODE = 0o600
PRIVATE_FOLDER_MODE = 0o700

# Any fixed number: concurrent start-ups on one PostgreSQL database queue on this advisory lock.
_POSTGRES_MIGRATION_LOCK = 0x5DC9_A1E3


# How long a connection waits for another one's lock (busy_timeout), and for the switch to WAL.
_SQLITE_LOCK_WAIT_SECONDS = 10.0


def _enable_sqlite_durability(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (status polls) run while the scheduler writes; busy_timeout waits instead of
    # failing on a momentary lock; synchronous=FULL makes every commit survive a power cut too.
    cursor.execute(f"PRAGMA busy_timeout={int(_SQLITE_LOCK_WAIT_SECONDS * 1000)}")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Put the database in WAL mode (it stays so: the mode is kept in the file). SQLite answers the
    switch with "database is locked" at once, without calling the busy handler, while another
    connection holds a lock (two processes starting on a new database), so wait here instead."""
    deadline = time.monotonic() + _SQLITE_LOCK_WAIT_SECONDS
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _private_sqlite_file(url: str) -> None:
    """Create the database file 0600 before SQLite opens it (SQLite would create it 0644, readable by
    every local user, and it holds password and API key hashes); SQLite gives its -wal and -shm files
    the database file's permissions. Files of an earlier version are tightened too."""
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(mode=PRIVATE_FOLDER_MODE, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(PRIVATE_FILE_MODE)
        except FileNotFoundError:
            pass
        except OSError as exc:  # another user's file: say so, and let SQLite open it as before
            log.warning("could not make %s readable by its owner only: %s", file, exc)


# Plain PostgreSQL URLs mean psycopg 3 (the driver this package depends on); SQLAlchemy alone would
# pick psycopg2, which is not installed. postgres:// is the spelling of Heroku-style environments.
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def driver_url(url: str) -> str:
    """The URL SQLAlchemy opens: a bare postgresql:// or postgres:// URL gets the psycopg driver."""
    for scheme in _POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def create_database_engine(url: str) -> Engine:
    url = driver_url(url)
    if url.startswith("sqlite:///"):
        _private_sqlite_file(url)
        connect_args = {"check_same_thread": False, "timeout": _SQLITE_LOCK_WAIT_SECONDS}
        engine = sa.create_engine(url, connect_args=connect_args)
        sa.event.listen(engine, "connect", _enable_sqlite_durability)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the database to the newest revision (start-up and admin commands run this), in one
    transaction holding a lock (SQLite's write lock, a PostgreSQL advisory lock), so a second process
    starting at the same time waits, then finds nothing left to do."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            _migrate_sqlite(conn)
            return
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_POSTGRES_MIGRATION_LOCK)))
            _upgrade_to_head(conn)


def _migrate_sqlite(conn: Connection) -> None:
    # pysqlite opens transactions only before INSERT/UPDATE/DELETE and runs CREATE/DROP outside them.
    # In autocommit mode the BEGIN is ours: IMMEDIATE takes the write lock before anything is read, and
    # every statement of the upgrade, DDL included, commits or rolls back together.
    conn.execution_options(isolation_level="AUTOCOMMIT")
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        _upgrade_to_head(conn)
    except BaseException:
        # SQLite ends the transaction itself on some errors (a full disk): ROLLBACK only if still open.
        driver = conn.connection.driver_connection
        if driver is not None and driver.in_transaction:
            conn.exec_driver_sql("ROLLBACK")
        raise
    conn.exec_driver_sql("COMMIT")


def _upgrade_to_head(conn: Connection) -> None:
    """Decide from what the database holds: alembic_version at head (nothing to do), at an older
    revision (upgrade), none with the first release's tables (adopt them at 0001, then upgrade), or
    an empty database (upgrade from nothing)."""
    config = alembic_config(conn)
    script = ScriptDirectory.from_config(config)
    tables = set(sa.inspect(conn).get_table_names())
    current = _current_revision(conn) if "alembic_version" in tables else None
    if current == script.get_current_head():
        return
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        raise RuntimeError(
            f"the database is at schema revision {current}, which this version of sdcpp-rest does not "
            "know (a newer version upgraded it): run that version, or restore a backup"
        )
    first_release = _first_release_revision(script)
    if current is None and tables & set(first_release.FIRST_RELEASE_TABLES):
        _adopt_first_release(conn, config, first_release, tables)
        current = FIRST_RELEASE_REVISION
    log.info("upgrading the database schema from %s to %s", current or "nothing", script.get_current_head())
    command.upgrade(config, "head")


def _current_revision(conn: Connection) -> str | None:
    # Read directly: a MigrationContext would log two INFO lines on every start-up.
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _first_release_revision(script: ScriptDirectory) -> ModuleType:
    revision = script.get_revision(FIRST_RELEASE_REVISION)
    assert revision is not None and revision.module is not None
    return revision.module


def _adopt_first_release(conn: Connection, config: Config, first: ModuleType, tables: set[str]) -> None:
    """Stamp a database of the first release (it had no alembic_version, and version 1 in its own
    schema_version table) with revision 0001, which it matches, after creating any of 0001's tables it
    lacks: the first release's admin commands never made model_hashes, only its server did."""
    if "schema_version" in tables:
        version = conn.execute(sa.text("SELECT MAX(version) FROM schema_version")).scalar()
        if version not in (None, 1):
            raise RuntimeError(f"the database has schema_version {version}, which no release wrote")
    missing = set(first.FIRST_RELEASE_TABLES) - tables
    if missing:
        log.info("creating the first release's tables this database lacks: %s", ", ".join(sorted(missing)))
        with Operations.context(MigrationContext.configure(conn)):
            first.create_first_release_tables(tables)
    log.info("database of the first release: stamped revision %s", FIRST_RELEASE_REVISION)
    command.stamp(config, FIRST_RELEASE_REVISION)
