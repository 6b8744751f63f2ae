"""The store's tests run against both backends: the data directory's SQLite file and PostgreSQL.

A test that takes ``store`` or ``accounts`` (or ``backend``, to open more stores on the same
place) runs twice, ``[sqlite]`` and ``[postgresql]``; the PostgreSQL run gets a fresh database
of the session's server (tests/support/services.py). Tests about SQLite itself (its file, WAL,
schema file versions) open it directly and run once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hubbub.store import open_store
from hubbub.store.accounts import open_accounts


@dataclass
class Backend:
    """Where one test's stores live; each ``open_*`` opens another store there, closed at the end."""

    kind: str
    data_dir: Path
    url: str = ""
    opened: list[Any] = field(default_factory=list)

    def open_store(self) -> Any:
        """A history store on this backend."""
        if self.kind == "sqlite":
            store: Any = open_store(self.data_dir)
        else:
            from hubbub.store.postgres import PostgresStore

            store = PostgresStore(self.url)
        self.opened.append(store)
        return store

    def open_accounts(self) -> Any:
        """An account store on this backend."""
        if self.kind == "sqlite":
            accounts: Any = open_accounts(self.data_dir)
        else:
            from hubbub.store.pg_accounts import PostgresAccountStore

            accounts = PostgresAccountStore(self.url)
        self.opened.append(accounts)
        return accounts

    def close(self) -> None:
        for store in reversed(self.opened):
            store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """SQLite in a data directory, or a fresh PostgreSQL database."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else ""
    place = Backend(request.param, tmp_path / "data", url)
    yield place
    place.close()


@pytest.fixture
def store(backend: Backend) -> Any:
    """A history store on the test's backend."""
    return backend.open_store()


@pytest.fixture
def accounts(backend: Backend) -> Any:
    """An account store on the test's backend (the same place as ``store``)."""
    return backend.open_accounts()
