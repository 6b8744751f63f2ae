"""The PostgreSQL schema of the stores and the migrations between its versions.

The same tables as the SQLite schema (schema.py) at its current version, with what a database
shared by several servers needs: each message has ``seq``, its place in its conversation (1, 2,
3 ... with no gaps, counted in ``target_seq``), and the search index is a ``tsvector`` column
(pg_search.py). A database is brought to ``CURRENT_VERSION`` step by step in one transaction,
under an advisory lock, so that servers starting at once do not race. Never edit a released
step: add a new one.
"""

from __future__ import annotations

import logging

import asyncpg

from .model import StoreError

__all__ = ["CURRENT_VERSION", "MIGRATIONS", "MIGRATION_LOCK", "migrate"]

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x68756262  # "hubb": the advisory lock key migrations are applied under

# A store's append in one round trip (postgres.py): the conversations' counters counted on and
# locked in one order (by code point, as every server sorts them), then the messages, numbered
# back from each counter's new value (``back`` is how many of its conversation's messages come
# after it in the batch), then the conversations' summary rows. One call is one statement, so
# outside a transaction it is one transaction of its own.
APPEND_FUNCTION = """
CREATE FUNCTION hubbub_append(
    p_keys text[], p_counts bigint[],
    p_target text[], p_back bigint[], p_msgid text[], p_time bigint[], p_command text[],
    p_source text[], p_account text[], p_params text[], p_tags text[], p_words text[],
    p_conv text[], p_side_a text[], p_side_b text[], p_last bigint[], p_added bigint[],
    p_name_a text[], p_name_b text[]
) RETURNS TABLE (out_target text, out_seq bigint) LANGUAGE plpgsql AS $body$
DECLARE
    r_keys text[];
    r_seqs bigint[];
BEGIN
    WITH reserved AS (
        INSERT INTO target_seq AS s (target, seq)
        SELECT u.k, u.n FROM unnest(p_keys, p_counts) AS u (k, n) ORDER BY u.k COLLATE "C"
        ON CONFLICT (target) DO UPDATE SET seq = s.seq + excluded.seq
        RETURNING s.target, s.seq
    )
    SELECT array_agg(reserved.target), array_agg(reserved.seq) INTO r_keys, r_seqs FROM reserved;
    INSERT INTO messages (target, seq, msgid, time_ms, command, source, account, params, tags, words)
    SELECT u.t, r.seq - u.back, u.msgid, u.time_ms, u.command, u.source, u.account, u.params, u.tags,
           u.words::tsvector
    FROM unnest(p_target, p_back, p_msgid, p_time, p_command, p_source, p_account, p_params, p_tags,
                p_words) WITH ORDINALITY
         AS u (t, back, msgid, time_ms, command, source, account, params, tags, words, ord)
    JOIN unnest(r_keys, r_seqs) AS r (k, seq) ON r.k = u.t
    ORDER BY u.ord;
    INSERT INTO conversations AS c (target, side_a, side_b, last_time_ms, message_count, name_a, name_b)
    SELECT * FROM unnest(p_conv, p_side_a, p_side_b, p_last, p_added, p_name_a, p_name_b)
        AS u (t, a, b, last_ms, added, na, nb)
    ORDER BY u.t COLLATE "C"
    ON CONFLICT (target) DO UPDATE SET
        last_time_ms = greatest(c.last_time_ms, excluded.last_time_ms),
        message_count = c.message_count + excluded.message_count,
        name_a = coalesce(excluded.name_a, c.name_a),
        name_b = coalesce(excluded.name_b, c.name_b);
    RETURN QUERY SELECT * FROM unnest(r_keys, r_seqs);
END
$body$"""

_V1: tuple[str, ...] = (
    "CREATE TABLE schema_version (version integer NOT NULL)",
    "INSERT INTO schema_version (version) VALUES (0)",
    # id is the order of appends over all conversations (retention by age and export walk it);
    # seq is the order within one conversation, which is what history order means.
    """CREATE TABLE messages (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        target text NOT NULL,
        seq bigint NOT NULL,
        msgid text NOT NULL,
        time_ms bigint NOT NULL,
        command text NOT NULL,
        source text NOT NULL,
        account text,
        params text NOT NULL,
        tags text,
        words tsvector,
        UNIQUE (target, seq),
        UNIQUE (msgid, target)
    )""",
    # Timestamp references are placed in a conversation through this one.
    "CREATE INDEX messages_target_time ON messages (target, time_ms, seq)",
    "CREATE INDEX messages_words ON messages USING gin (words) WHERE words IS NOT NULL",
    # The last seq given out in each conversation; append locks its row to count on from it.
    "CREATE TABLE target_seq (target text PRIMARY KEY, seq bigint NOT NULL)",
    """CREATE TABLE conversations (
        target text PRIMARY KEY,
        side_a text,
        side_b text,
        last_time_ms bigint NOT NULL,
        message_count bigint NOT NULL,
        name_a text,
        name_b text
    )""",
    "CREATE INDEX conversations_side_a ON conversations (side_a) WHERE side_a IS NOT NULL",
    "CREATE INDEX conversations_side_b ON conversations (side_b) WHERE side_b IS NOT NULL",
    """CREATE TABLE channels (
        key text PRIMARY KEY,
        name text NOT NULL,
        created_ms bigint NOT NULL,
        topic text NOT NULL,
        topic_setter text NOT NULL,
        topic_time_ms bigint NOT NULL,
        modes text NOT NULL,
        channel_key text,
        user_limit bigint,
        bans text NOT NULL,
        excepts text NOT NULL,
        invites text NOT NULL,
        had_ops boolean NOT NULL DEFAULT false,
        metadata text NOT NULL DEFAULT '{}'
    )""",
    """CREATE TABLE channel_lives (
        key text PRIMARY KEY,
        created_ms bigint NOT NULL,
        private boolean NOT NULL DEFAULT false
    )""",
    """CREATE TABLE accounts (
        key text PRIMARY KEY,
        name text NOT NULL,
        password_hash text NOT NULL,
        email text NOT NULL DEFAULT '',
        created_ms bigint NOT NULL,
        id text NOT NULL UNIQUE,
        used_ms bigint,
        skeleton text,
        scram text
    )""",
    "CREATE INDEX accounts_skeleton ON accounts (skeleton)",
    """CREATE TABLE certfps (
        fingerprint text PRIMARY KEY,
        account text NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
        pem text NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX certfps_account ON certfps (account)",
    """CREATE TABLE read_markers (
        account text NOT NULL,
        target text NOT NULL,
        time_ms bigint NOT NULL,
        PRIMARY KEY (account, target)
    )""",
    """CREATE TABLE server_bans (
        kind text NOT NULL,
        mask text NOT NULL,
        reason text NOT NULL,
        setter text NOT NULL,
        set_ms bigint NOT NULL,
        expires_ms bigint,
        PRIMARY KEY (kind, mask)
    )""",
    # access: a JSON object of account id -> "o" or "v".
    """CREATE TABLE registered_channels (
        key text PRIMARY KEY,
        founder text NOT NULL,
        access jsonb NOT NULL,
        registered_ms bigint NOT NULL
    )""",
    """CREATE TABLE account_metadata (
        account text NOT NULL,
        key text NOT NULL,
        value text NOT NULL,
        PRIMARY KEY (account, key)
    )""",
    APPEND_FUNCTION,
)
"""Version 1: everything the SQLite schema holds at its version 13, plus seq."""

MIGRATIONS: list[tuple[str, ...]] = [_V1]
"""``MIGRATIONS[n - 1]`` brings a database from version ``n - 1`` to version ``n``."""

CURRENT_VERSION = len(MIGRATIONS)


async def migrate(connection: asyncpg.Connection) -> int:
    """Bring the database to ``CURRENT_VERSION``; return the version it was at before.

    One transaction under an advisory lock: a failed step leaves the database as it was, and a
    second server starting at the same time waits, then finds the work done.
    """
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        exists = await connection.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
        start = int(await connection.fetchval("SELECT version FROM schema_version")) if exists else 0
        if start > CURRENT_VERSION:
            raise StoreError(
                f"database schema version {start} is newer than this hubbub ({CURRENT_VERSION});"
                " run the newer hubbub that wrote it"
            )
        for version in range(start + 1, CURRENT_VERSION + 1):
            if start:
                log.info("migrating the PostgreSQL store to schema version %d", version)
            for statement in MIGRATIONS[version - 1]:
                await connection.execute(statement)
            await connection.execute("UPDATE schema_version SET version = $1", version)
    return start
