"""The model table: SHA-256 hashes cached by real path + size + mtime, in the jobs database.

Hashing a 7 GB file takes tens of seconds; keeping the result keyed by what would change with the
content (size, mtime) lets restarts and refreshes skip it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sdcpp_rest.storage.tables import model_hashes_table


@dataclass(frozen=True)
class HashRecord:
    path: str
    size: int
    mtime_ns: int
    sha256: str
    hashed_at: float


class ModelHashStore:
    """Reads and writes cached hashes; every method is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def all(self) -> dict[str, HashRecord]:
        """Every cached hash by path: one query, so a refresh of 10,000 files needs no per-file reads."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(model_hashes_table)).all()
        return {
            row.path: HashRecord(row.path, row.size, row.mtime_ns, row.sha256, row.hashed_at) for row in rows
        }

    def put(self, path: str, size: int, mtime_ns: int, sha256: str) -> HashRecord:
        record = HashRecord(path, size, mtime_ns, sha256, time.time())
        with self._engine.begin() as conn:
            conn.execute(model_hashes_table.delete().where(model_hashes_table.c.path == path))
            conn.execute(
                model_hashes_table.insert().values(
                    path=path, size=size, mtime_ns=mtime_ns, sha256=sha256, hashed_at=record.hashed_at
                )
            )
        return record

    def forget_missing(self, present: set[str]) -> int:
        """Drop rows of files that are gone, so the table does not grow with every rename."""
        with self._engine.begin() as conn:
            paths = [row.path for row in conn.execute(sa.select(model_hashes_table.c.path))]
            gone = [p for p in paths if p not in present]
            for start in range(0, len(gone), 500):
                chunk = gone[start : start + 500]
                conn.execute(model_hashes_table.delete().where(model_hashes_table.c.path.in_(chunk)))
        return len(gone)
