"""Database engines: SQLite (the embedded default) tuned for durability, or any SQLAlchemy URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sdcpp_rest.storage.tables import SCHEMA_VERSION, metadata, schema_version_table


def _enable_sqlite_durability(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (status polls) run while the scheduler writes; busy_timeout waits instead of
    # failing on a momentary lock; synchronous=FULL makes every commit survive a power cut too.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_database_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        sa.event.listen(engine, "connect", _enable_sqlite_durability)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Create the schema. Version 1 is the first; later versions add numbered steps here."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        current = conn.execute(sa.select(sa.func.max(schema_version_table.c.version))).scalar()
        if current is None:
            conn.execute(schema_version_table.insert().values(version=SCHEMA_VERSION))
