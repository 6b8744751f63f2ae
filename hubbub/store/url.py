"""Opening a store by URL: ``postgresql://`` (or ``postgres://``) names a PostgreSQL database.

The data directory's SQLite file is opened by directory (``open_store``, ``open_accounts``), not
by URL; what takes a URL takes a PostgreSQL one, and anything else is an error that says so. The
PostgreSQL modules (and asyncpg) are imported only when a PostgreSQL URL is opened.
"""

from __future__ import annotations

from typing import Any, cast

from .accounts import AccountStore
from .model import Store, StoreError

__all__ = [
    "SCHEMES",
    "check_store_url",
    "open_accounts_url",
    "open_store_url",
]

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


def _options(timeout_s: float | None, readers: int | None) -> dict[str, Any]:
    """The options given (the rest keep the defaults of pgconn.py)."""
    options: dict[str, Any] = {}
    if timeout_s is not None:
        options["timeout_s"] = timeout_s
    if readers is not None:
        options["readers"] = readers
    return options


def open_store_url(url: str, *, timeout_s: float | None = None, readers: int | None = None) -> Store:
    """Open the history store at ``url`` (see :func:`check_store_url`)."""
    from .postgres import PostgresStore

    return PostgresStore(check_store_url(url), **_options(timeout_s, readers))


def open_accounts_url(
    url: str, *, timeout_s: float | None = None, readers: int | None = None
) -> AccountStore:
    """Open the account store at ``url`` (see :func:`check_store_url`): a PostgresAccountStore,
    which has every method of AccountStore, with the same meaning."""
    from .pg_accounts import PostgresAccountStore

    store = PostgresAccountStore(check_store_url(url), **_options(timeout_s, readers))
    return cast(AccountStore, store)
