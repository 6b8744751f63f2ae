"""The SQLite schema of the history store and the migrations between its versions.

Each version step is a list of statements; at start-up a database is brought from the version
recorded in ``schema_version`` to ``CURRENT_VERSION`` step by step, in one transaction. Never
edit a released step: add a new one.
"""

from __future__ import annotations

import logging
import sqlite3

from .model import StoreError
from .params import params_from_json

__all__ = [
    "CURRENT_VERSION",
    "INDEX_TEXT_SQL",
    "MESSAGE_TEXT_SQL",
    "MIGRATIONS",
    "V1_SCHEMA",
    "add_functions",
    "migrate",
    "schema_version",
]

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
    # A private conversation belongs to the people in it, not to a nick (DESIGN.md principle 9).
    # Every account gets an immutable random id, which a later account of the same name never
    # gets; direct conversations, read markers and channel registrations name accounts by it.
    "ALTER TABLE accounts ADD COLUMN id TEXT",
    "UPDATE accounts SET id = lower(hex(randomblob(8)))",
    "CREATE UNIQUE INDEX accounts_id ON accounts (id)",
    # The display name of each side of a direct conversation as of its latest message, for
    # CHATHISTORY TARGETS and the archive tools (the sides themselves are opaque ids).
    "ALTER TABLE conversations ADD COLUMN name_a TEXT",
    "ALTER TABLE conversations ADD COLUMN name_b TEXT",
    # Nick-keyed direct conversations: a side named like an existing account becomes that
    # account ("a:<id>"); any other side becomes "x:<nick>", which no connection or account can
    # ever be, so the conversation is kept but nobody who takes that nick later can read it.
    """CREATE TEMP TABLE v5_sides AS SELECT target AS old_target,
        coalesce('a:' || (SELECT id FROM accounts WHERE key = side_a), 'x:' || side_a) AS new_a,
        coalesce('a:' || (SELECT id FROM accounts WHERE key = side_b), 'x:' || side_b) AS new_b,
        coalesce((SELECT name FROM accounts WHERE key = side_a), side_a) AS name_a,
        coalesce((SELECT name FROM accounts WHERE key = side_b), side_b) AS name_b,
        last_time_ms, message_count
        FROM conversations WHERE side_a IS NOT NULL AND side_b IS NOT NULL""",
    # Keys list their sides in sorted order (model.dm_key); SQLite compares text by its UTF-8
    # bytes, which is code point order, as Python does.
    """CREATE TEMP TABLE v5_moves AS SELECT old_target,
        '@' || min(new_a, new_b) || ',' || max(new_a, new_b) AS new_target,
        min(new_a, new_b) AS side_a, max(new_a, new_b) AS side_b,
        CASE WHEN new_a <= new_b THEN name_a ELSE name_b END AS name_a,
        CASE WHEN new_a <= new_b THEN name_b ELSE name_a END AS name_b,
        last_time_ms, message_count
        FROM v5_sides""",
    "CREATE UNIQUE INDEX temp.v5_moves_old ON v5_moves (old_target)",
    """UPDATE messages SET target = (SELECT new_target FROM v5_moves WHERE old_target = messages.target)
        WHERE target IN (SELECT old_target FROM v5_moves)""",
    "DELETE FROM conversations WHERE target IN (SELECT old_target FROM v5_moves)",
    """INSERT INTO conversations (target, side_a, side_b, last_time_ms, message_count, name_a, name_b)
        SELECT new_target, side_a, side_b, last_time_ms, message_count, name_a, name_b FROM v5_moves""",
    "DROP TABLE v5_moves",
    "DROP TABLE v5_sides",
    # A nick-keyed message without a conversation row (there should be none) is orphaned too;
    # nicks cannot contain ':', so no new key matches.
    """UPDATE messages SET target = '@x:' || substr(target, 2)
        WHERE target LIKE '@%' AND target NOT LIKE '@a:%' AND target NOT LIKE '@x:%'""",
    # Read markers and registrations of accounts that no longer exist go; the rest name the id.
    "DELETE FROM read_markers WHERE account NOT IN (SELECT key FROM accounts)",
    "UPDATE read_markers SET account = (SELECT id FROM accounts WHERE key = read_markers.account)",
    "DELETE FROM registered_channels WHERE founder NOT IN (SELECT key FROM accounts)",
    """UPDATE registered_channels SET
        founder = (SELECT id FROM accounts WHERE key = registered_channels.founder),
        access = (SELECT json_group_object(accounts.id, entry.value)
                  FROM json_each(registered_channels.access) AS entry
                  JOIN accounts ON accounts.key = entry.key)""",
    "UPDATE schema_version SET version = 5",
)

_V6_STEP: tuple[str, ...] = (
    # Durable channels: whether a saved channel ever had an operator. Someone who is first into
    # an empty channel that had one is not made its operator (a banned user could otherwise
    # come back first and take it over). Channels saved before this version were persistent
    # ones whose first joiner became operator, so they count as having had one.
    "ALTER TABLE channels ADD COLUMN had_ops INTEGER NOT NULL DEFAULT 0",
    "UPDATE channels SET had_ops = 1",
    "UPDATE schema_version SET version = 6",
)

_V7_STEP: tuple[str, ...] = (
    # One event, one msgid: a QUIT or NICK kept in every channel it touched keeps the msgid its
    # live copy carried in each of them, so a msgid is unique per conversation, not overall.
    "DROP INDEX messages_msgid",
    "CREATE UNIQUE INDEX messages_msgid_target ON messages (msgid, target)",
    "UPDATE schema_version SET version = 7",
)

_V8_STEP: tuple[str, ...] = (
    # When an account was last used: logged in other than by registering over IRC, or created
    # by an administrator. NULL for an account registered over IRC and not logged in since,
    # which stops reserving its nick after a while (the unused_account_days setting). Accounts
    # made before this version count as used when they were made.
    "ALTER TABLE accounts ADD COLUMN used_ms INTEGER",
    "UPDATE accounts SET used_ms = created_ms",
    "UPDATE schema_version SET version = 8",
)

_V9_STEP: tuple[str, ...] = (
    # Look-alike account names: the skeleton (hubbub.protocol.skeleton, Unicode TR39) of each
    # account's name, so that a name that passes for a registered one is refused. It is filled and
    # kept current by the account store when it opens (accounts.py), since it follows the
    # confusables data of the hubbub that computes it; registration checks it in the same
    # transaction as the insert.
    "ALTER TABLE accounts ADD COLUMN skeleton TEXT",
    "CREATE INDEX accounts_skeleton ON accounts (skeleton)",
    "UPDATE schema_version SET version = 9",
)

_V10_STEP: tuple[str, ...] = (
    # SASL SCRAM-SHA-256 (RFC 7677): each account's stored verifier, never the password itself:
    # "<iterations>:<salt>:<StoredKey>:<ServerKey>" (base64). Made when the password is set, or at
    # the next PLAIN login of an account made before this version; NULL until then.
    "ALTER TABLE accounts ADD COLUMN scram TEXT",
    "UPDATE schema_version SET version = 10",
)

_V11_STEP: tuple[str, ...] = (
    # draft/metadata-2: a logged-in user's metadata is its account's (keyed by the account's
    # immutable id, as read markers are, so a later account of the same name starts with none);
    # a channel's is saved with the channel, as a JSON object of key to value.
    """CREATE TABLE account_metadata (
        account TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (account, key)
    )""",
    "ALTER TABLE channels ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'",
    "UPDATE schema_version SET version = 11",
)

_V12_STEP: tuple[str, ...] = (
    # Parameters as written on an IRC line instead of a JSON array (params.py): a split to read
    # back and a join to write instead of a JSON parse and dump, for every row.
    "UPDATE messages SET params = hubbub_params_from_json(params)",
    "UPDATE schema_version SET version = 12",
)

# The text a PRIVMSG or NOTICE row says, from its ``params`` (params.py): the last parameter. In the
# line form it follows the first " :" (no middle parameter holds a space), or else the first space;
# in the JSON form (NUL first: a multiline message) it is the array's last element (read as bytes:
# SQLite's text functions stop at a NUL). Plain SQL, so
# every connection (the server, the offline tools, the sqlite3 shell) keeps the index in step.
MESSAGE_TEXT_SQL = """CASE
    WHEN substr(CAST({p} AS BLOB), 1, 1) = x'00'
        THEN CASE WHEN json_valid(CAST(substr(CAST({p} AS BLOB), 2) AS TEXT))
            THEN coalesce(json_extract(CAST(substr(CAST({p} AS BLOB), 2) AS TEXT), '$[#-1]'), '')
            ELSE '' END
    WHEN instr({p}, ' :') > 0 THEN substr({p}, instr({p}, ' :') + 2)
    WHEN instr({p}, ' ') > 0 THEN substr({p}, instr({p}, ' ') + 1)
    ELSE '' END"""

_TEXT_COMMANDS = "('PRIVMSG', 'NOTICE')"

INDEX_TEXT_SQL = f"""INSERT INTO message_text (rowid, text, target)
    SELECT id, {MESSAGE_TEXT_SQL.format(p="params")}, hex(target) FROM messages
    WHERE id > ? AND command IN {_TEXT_COMMANDS}"""
"""Indexes the text of the messages whose id is above the one given: what an append just added.

An append runs it in its own transaction, after the rows, as one statement (a trigger per row
costs four times as much); deletes and updates are followed by triggers (below)."""

_V13_STEP: tuple[str, ...] = (
    # Message search (SEARCH, soju.im/search): a full-text index of what every PRIVMSG and NOTICE
    # says, by the message's id, with its conversation as one token (the key in hex), so a search
    # in a few conversations intersects two lists instead of reading every match of a common
    # word. Contentless (the text is in messages already); words are matched case-insensitively
    # and without diacritics (unicode61). Triggers keep it in step
    # with every delete (redaction, retention, CHANNEL DROP, history delete) and update, and the
    # store's append indexes what it inserts (INDEX_TEXT_SQL), each in the same transaction as
    # the change to messages, so a crash leaves the index and the table consistent.
    """CREATE VIRTUAL TABLE message_text USING fts5(
        text, target, content = '', tokenize = 'unicode61 remove_diacritics 2'
    )""",
    # A contentless index forgets a row when given the exact text it indexed.
    f"""CREATE TRIGGER message_text_delete AFTER DELETE ON messages
        WHEN old.command IN {_TEXT_COMMANDS} BEGIN
        INSERT INTO message_text (message_text, rowid, text, target)
            VALUES ('delete', old.id, {MESSAGE_TEXT_SQL.format(p="old.params")}, hex(old.target));
    END""",
    # A RENAME moves a channel's rows to another target: they are indexed again under it.
    f"""CREATE TRIGGER message_text_update AFTER UPDATE OF params, command, target ON messages BEGIN
        INSERT INTO message_text (message_text, rowid, text, target)
            SELECT 'delete', old.id, {MESSAGE_TEXT_SQL.format(p="old.params")}, hex(old.target)
            WHERE old.command IN {_TEXT_COMMANDS};
        INSERT INTO message_text (rowid, text, target)
            SELECT new.id, {MESSAGE_TEXT_SQL.format(p="new.params")}, hex(new.target)
            WHERE new.command IN {_TEXT_COMMANDS};
    END""",
    f"""INSERT INTO message_text (rowid, text, target)
        SELECT id, {MESSAGE_TEXT_SQL.format(p="params")}, hex(target) FROM messages
        WHERE command IN {_TEXT_COMMANDS}""",
    "UPDATE schema_version SET version = 13",
)

MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: _V2_STEP,
    3: _V3_STEP,
    4: _V4_STEP,
    5: _V5_STEP,
    6: _V6_STEP,
    7: _V7_STEP,
    8: _V8_STEP,
    9: _V9_STEP,
    10: _V10_STEP,
    11: _V11_STEP,
    12: _V12_STEP,
    13: _V13_STEP,
}
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


def add_functions(conn: sqlite3.Connection) -> None:
    """Give ``conn`` the functions the migration steps call besides SQL's own."""
    conn.create_function("hubbub_params_from_json", 1, params_from_json, deterministic=True)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to ``CURRENT_VERSION``; return the version it was at before.

    ``conn`` must be in autocommit mode (``isolation_level=None``). All steps run in one
    transaction, so a failed migration leaves the database as it was.
    """
    add_functions(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        start = version = schema_version(conn)
        if version > CURRENT_VERSION:
            raise StoreError(
                f"database schema version {version} is newer than this hubbub ({CURRENT_VERSION});"
                " run the newer hubbub that wrote it"
            )
        if version == 0:
            for statement in V1_SCHEMA:
                conn.execute(statement)
            version = 1
        while version < CURRENT_VERSION:
            version += 1
            if start:  # a new database is simply made at the current version
                log.info("migrating history store to schema version %d", version)
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return start
