"""Alembic's entry point: runs the revisions on the connection migrate() passes in.

No logging.config.fileConfig here: the server has configured logging already, and Alembic's
"Running upgrade" lines should go through it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from sdcpp_rest.storage.database import create_database_engine
from sdcpp_rest.storage.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite can't ALTER most things; autogenerate then writes batch_alter_table blocks (copy and
        # move), which on PostgreSQL are plain ALTERs, so every revision runs on both.
        render_as_batch=True,
        compare_type=True,
    )
    # A no-op when migrate() already holds a transaction (Alembic sees it as external): the whole
    # upgrade then commits or rolls back as one.
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Drafting revisions from a developer's shell: a URL instead of a connection.
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("the Alembic config has neither a connection nor sqlalchemy.url")
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported: run them against a database")
run_migrations_online()
