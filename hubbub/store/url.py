"""Opening a store by URL: ``postgresql://`` (or ``postgres://``) names a PostgreSQL database.

The data directory's SQLite file is opened by directory (``open_store``, ``open_accounts``), not
by URL; what takes a URL takes a PostgreSQL one, and anything else is an error that says so. The
PostgreSQL modules (and asyncpg) are imported only when a PostgreSQL URL is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import StoreError

if TYPE_CHECKING:
    from .pg_accounts import PostgresAccountStore
    from .postgres import PostgresStore

__all__ = ["SCHEMES", "check_store_url", "open_accounts_url", "open_store_url"]

SCHEMES = ("postgresql://", "postgres://")


def check_store_url(url: str) -> str:
    """``url`` if it names a store this hubbub can open; StoreError naming the schemes if not."""
    if not url.startswith(SCHEMES):
        shown = url.split("@")[-1] if "://" in url else url  # never echo a password
        raise StoreError(
            f"cannot open a store at {shown!r}: the URL must start with "
            + " or ".join(SCHEMES)
            + " (the data directory's SQLite file is the default)"
        )
    return url


def open_store_url(url: str) -> PostgresStore:
    """Open the history store at ``url`` (see :func:`check_store_url`)."""
    from .postgres import PostgresStore

    return PostgresStore(check_store_url(url))


def open_accounts_url(url: str) -> PostgresAccountStore:
    """Open the account store at ``url`` (see :func:`check_store_url`)."""
    from .pg_accounts import PostgresAccountStore

    return PostgresAccountStore(check_store_url(url))
