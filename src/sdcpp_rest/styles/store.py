"""Styles in the database (SQLAlchemy Core, the server's one engine; SQLite and PostgreSQL alike)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sdcpp_rest.storage.tables import SHARED_STYLE_OWNER, styles_table
from sdcpp_rest.styles.records import Style


class StyleExists(Exception):
    """The owner has a style of that name already (the database's unique constraint said so)."""


def _owner_key(owner: str | None) -> str:
    return SHARED_STYLE_OWNER if owner is None else owner


def _style(row: sa.Row[Any]) -> Style:
    m = row._mapping
    return Style(
        id=m["id"],
        owner=m["owner"] or None,
        name=m["name"],
        prompt=m["prompt"],
        negative_prompt=m["negative_prompt"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


class StyleStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self, owners: Sequence[str | None] | None = None) -> list[Style]:
        """The styles of these owners (None in the list: the shared ones), or every style; by name,
        shared first."""
        query = sa.select(styles_table)
        if owners is not None:
            query = query.where(styles_table.c.owner.in_([_owner_key(owner) for owner in owners]))
        query = query.order_by(styles_table.c.name, styles_table.c.owner)
        with self._engine.connect() as conn:
            return [_style(row) for row in conn.execute(query)]

    def get(self, owner: str | None, name: str) -> Style | None:
        query = sa.select(styles_table).where(
            styles_table.c.owner == _owner_key(owner), styles_table.c.name == name
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return _style(row) if row is not None else None

    def add(self, owner: str | None, name: str, prompt: str, negative_prompt: str) -> Style:
        """A new style; StyleExists when the owner has one of that name."""
        now = time.time()
        values: dict[str, object] = {
            "id": str(uuid.uuid4()),
            "owner": _owner_key(owner),
            "name": name,
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(sa.insert(styles_table).values(**values))
        except sa.exc.IntegrityError:
            raise StyleExists(name) from None
        return Style(str(values["id"]), owner, name, prompt, negative_prompt, now, now)

    def update(self, owner: str | None, name: str, prompt: str, negative_prompt: str) -> Style | None:
        """The style with its new texts; None when the owner has none of that name."""
        where = sa.and_(styles_table.c.owner == _owner_key(owner), styles_table.c.name == name)
        with self._engine.begin() as conn:
            changed = conn.execute(
                sa.update(styles_table)
                .where(where)
                .values(prompt=prompt, negative_prompt=negative_prompt, updated_at=time.time())
            ).rowcount
        return self.get(owner, name) if changed else None

    def delete(self, owner: str | None, name: str) -> Style | None:
        """The deleted style; None when the owner has none of that name."""
        existing = self.get(owner, name)
        if existing is None:
            return None
        with self._engine.begin() as conn:
            conn.execute(sa.delete(styles_table).where(styles_table.c.id == existing.id))
        return existing
