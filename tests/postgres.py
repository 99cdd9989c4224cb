"""A real PostgreSQL server for the tests: throw-away databases created and dropped by the fixtures.

The server is the one of this machine kind (127.0.0.1:5432, trust auth for user postgres; `.ci/run`
starts it when it is down), or SDCPP_REST_TEST_POSTGRES_URL: a server URL without a database name.
"""

from __future__ import annotations

import os
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sdcpp_rest.storage.tables import metadata

POSTGRES_SERVER = os.environ.get(
    "SDCPP_REST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
)


class PostgresUnavailable(Exception):
    """No PostgreSQL server answers at POSTGRES_SERVER; the message says how to start one."""


def _admin() -> Engine:
    return sa.create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")


def create_database(prefix: str = "sdcpp_rest_test") -> str:
    """A new, uniquely named, empty database; its URL. PostgresUnavailable when no server answers."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        raise PostgresUnavailable(
            f"no PostgreSQL server answers at {POSTGRES_SERVER} ({exc.orig}): start it "
            "(pg_ctlcluster --skip-systemctl-redirect <version> main start) "
            "or set SDCPP_REST_TEST_POSTGRES_URL"
        ) from None
    finally:
        admin.dispose()
    return f"{POSTGRES_SERVER}/{name}"


def drop_database(url: str) -> None:
    """Drop a database made by create_database, closing whatever connections are still open on it."""
    name = sa.engine.make_url(url).database
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def empty_tables(engine: Engine) -> None:
    """Delete every row of the server's tables (the schema and alembic_version stay), so one migrated
    database serves a whole test run and each test still starts from an empty one."""
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
