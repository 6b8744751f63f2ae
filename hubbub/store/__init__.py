"""Persistent history and persistent channels (DESIGN.md principle 5, "Nothing seen is lost").

The server appends each loop turn's messages in one transaction before delivering them, and
answers CHATHISTORY from here. ``Store`` is the interface; ``SQLiteStore`` the embedded
implementation, one file in the data directory.
"""

from .model import (
    EMPTY_TAGS,
    ChannelRecord,
    ListEntry,
    MessageRef,
    Store,
    StoredMessage,
    StoreError,
    account_side,
    dm_key,
    dm_peer,
    dm_sides,
    new_account_id,
    new_connection_side,
    side_account,
)
from .schema import CURRENT_VERSION
from .sqlite import DATABASE_NAME, SQLiteStore, open_store

__all__ = [
    "CURRENT_VERSION",
    "DATABASE_NAME",
    "EMPTY_TAGS",
    "ChannelRecord",
    "ListEntry",
    "MessageRef",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoredMessage",
    "account_side",
    "dm_key",
    "dm_peer",
    "dm_sides",
    "new_account_id",
    "new_connection_side",
    "open_store",
    "side_account",
]
