"""The SQLite schema of the history store and the migrations between its versions.

Each version step is a list of statements; at start-up a database is brought from the version
recorded in ``schema_version`` to ``CURRENT_VERSION`` step by step, in one transaction. Never
edit a released step: add a new one.
"""

from __future__ import annotations

import logging
import sqlite3

from .model import StoreError

__all__ = ["CURRENT_VERSION", "MIGRATIONS", "V1_SCHEMA", "migrate", "schema_version"]

log = logging.getLogger(__name__)

V1_SCHEMA: tuple[str, ...] = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "INSERT INTO schema_version (version) VALUES (1)",
    # id is the history order (append order), which is also the delivery order.
    """CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        msgid TEXT NOT NULL,
        target TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        command TEXT NOT NULL,
        source TEXT NOT NULL,
        account TEXT,
        params TEXT NOT NULL,
        tags TEXT
    )""",
    "CREATE UNIQUE INDEX messages_msgid ON messages (msgid)",
    # Pages of one conversation walk this index (LATEST, BEFORE, AFTER ...).
    "CREATE INDEX messages_target_id ON messages (target, id)",
    # Timestamp references are placed in a conversation through this one.
    "CREATE INDEX messages_target_time ON messages (target, time_ms)",
)
"""Version 1: messages only."""

_V2_STEP: tuple[str, ...] = (
    # One row per conversation: what CHATHISTORY TARGETS lists and what count-based retention
    # needs, without scanning the messages.
    """CREATE TABLE conversations (
        target TEXT PRIMARY KEY,
        side_a TEXT,
        side_b TEXT,
        last_time_ms INTEGER NOT NULL,
        message_count INTEGER NOT NULL
    )""",
    "CREATE INDEX conversations_side_a ON conversations (side_a) WHERE side_a IS NOT NULL",
    "CREATE INDEX conversations_side_b ON conversations (side_b) WHERE side_b IS NOT NULL",
    # Direct-conversation keys are "@a,b" (see model.dm_key); channel keys have no sides.
    """INSERT INTO conversations (target, side_a, side_b, last_time_ms, message_count)
        SELECT target,
               CASE WHEN target LIKE '@%,%' THEN substr(target, 2, instr(target, ',') - 2) END,
               CASE WHEN target LIKE '@%,%' THEN substr(target, instr(target, ',') + 1) END,
               max(time_ms), count(*)
        FROM messages GROUP BY target""",
    # Persistent channels (the +P mode): their state survives restarts.
    """CREATE TABLE channels (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        topic TEXT NOT NULL,
        topic_setter TEXT NOT NULL,
        topic_time_ms INTEGER NOT NULL,
        modes TEXT NOT NULL,
        channel_key TEXT,
        user_limit INTEGER,
        bans TEXT NOT NULL,
        excepts TEXT NOT NULL,
        invites TEXT NOT NULL
    )""",
    # Timestamp references are found by binary search on (target, id) instead: one index fewer
    # to update on every append, which halves the pages a commit writes when a batch spans many
    # conversations.
    "DROP INDEX messages_target_time",
    "UPDATE schema_version SET version = 2",
)

_V3_STEP: tuple[str, ...] = (
    # Accounts: the casefolded name is the key; the password is an argon2id hash, never the text.
    """CREATE TABLE accounts (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        email TEXT NOT NULL DEFAULT '',
        created_ms INTEGER NOT NULL
    )""",
    # TLS client-certificate fingerprints (SHA-256, lower-case hex) for SASL EXTERNAL; the PEM is
    # kept so that the TLS listener can trust exactly the certificates it knows.
    """CREATE TABLE certfps (
        fingerprint TEXT PRIMARY KEY,
        account TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
        pem TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX certfps_account ON certfps (account)",
    # draft/read-marker: the newest message an account has read in each conversation.
    """CREATE TABLE read_markers (
        account TEXT NOT NULL,
        target TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        PRIMARY KEY (account, target)
    )""",
    # Server bans set by operators: kind is "mask", "ip" (address or CIDR) or "account".
    """CREATE TABLE server_bans (
        kind TEXT NOT NULL,
        mask TEXT NOT NULL,
        reason TEXT NOT NULL,
        setter TEXT NOT NULL,
        set_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        PRIMARY KEY (kind, mask)
    )""",
    # Registered channels (ChanServ): founder and an access list of account -> "o" or "v".
    """CREATE TABLE registered_channels (
        key TEXT PRIMARY KEY,
        founder TEXT NOT NULL,
        access TEXT NOT NULL,
        registered_ms INTEGER NOT NULL
    )""",
    "UPDATE schema_version SET version = 3",
)

_V4_STEP: tuple[str, ...] = (
    # The life of every channel that exists now, persistent or not: when it was made, and whether
    # it is closed to strangers (+i, +k or +s). A server that restarts continues an open channel's
    # life, and with it its visible history; an emptied channel's row goes with it.
    """CREATE TABLE channel_lives (
        key TEXT PRIMARY KEY,
        created_ms INTEGER NOT NULL,
        private INTEGER NOT NULL DEFAULT 0
    )""",
    "UPDATE schema_version SET version = 4",
)

_V5_STEP: tuple[str, ...] = (
    # Durable channels: whether a saved channel ever had an operator. Someone who is first into
    # an empty channel that had one is not made its operator (a banned user could otherwise
    # come back first and take it over). Channels saved before this version were persistent
    # ones whose first joiner became operator, so they count as having had one.
    "ALTER TABLE channels ADD COLUMN had_ops INTEGER NOT NULL DEFAULT 0",
    "UPDATE channels SET had_ops = 1",
    "UPDATE schema_version SET version = 5",
)

MIGRATIONS: dict[int, tuple[str, ...]] = {2: _V2_STEP, 3: _V3_STEP, 4: _V4_STEP, 5: _V5_STEP}
"""Statements that bring a database from version ``n - 1`` to version ``n``."""

CURRENT_VERSION = max(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version of the database behind ``conn``; 0 for an empty database."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not has_table:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    if row is None:
        raise StoreError("schema_version table is empty")
    return int(row[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to ``CURRENT_VERSION``; return the version it was at before.

    ``conn`` must be in autocommit mode (``isolation_level=None``). All steps run in one
    transaction, so a failed migration leaves the database as it was.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        start = version = schema_version(conn)
        if version > CURRENT_VERSION:
            raise StoreError(
                f"database schema version {version} is newer than this hubbub ({CURRENT_VERSION})"
            )
        if version == 0:
            for statement in V1_SCHEMA:
                conn.execute(statement)
            version = 1
        while version < CURRENT_VERSION:
            version += 1
            log.info("migrating history store to schema version %d", version)
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return start
