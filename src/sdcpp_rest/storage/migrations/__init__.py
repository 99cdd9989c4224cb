"""The Alembic environment of the server's database, shipped inside the package.

Alembic runs in code, never from an alembic.ini: `alembic_config()` points it at this folder, and
storage.database.migrate() hands it the connection (inside the transaction that holds the lock).

A table change in storage/tables.py needs a revision here; tests/unit/test_migrations.py fails until
the migrated schema matches the tables again. To draft one against a database at head:

    from alembic import command
    from sdcpp_rest.storage.migrations import alembic_config

    config = alembic_config()
    config.set_main_option("sqlalchemy.url", "sqlite:////tmp/head.db")
    command.upgrade(config, "head")
    command.revision(config, "what changes and why", autogenerate=True, rev_id="0003")

then read and edit what autogenerate wrote (it misses renames, and SQLite needs batch mode).
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parent

# The revision the first release's schema corresponds to (it predates Alembic).
FIRST_RELEASE_REVISION = "0001"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for this folder; env.py runs on `connection` when one is given."""
    config = Config()
    # set_main_option interpolates %(name)s: a % in the install path must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config
