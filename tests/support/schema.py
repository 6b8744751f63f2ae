"""Databases as an older hubbub left them, for tests of the migrations that bring them up to date."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hubbub.store.schema import MIGRATIONS, V1_SCHEMA, add_functions


def database_at(path: Path, version: int) -> sqlite3.Connection:
    """A new database at ``path`` made as schema ``version`` made it, open in autocommit mode."""
    db = sqlite3.connect(path, isolation_level=None)
    add_functions(db)
    for statement in V1_SCHEMA:
        db.execute(statement)
    for step in range(2, version + 1):
        for statement in MIGRATIONS[step]:
            db.execute(statement)
    return db
