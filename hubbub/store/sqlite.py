"""The SQLite history store: one file in the data directory, one writer connection, WAL.

History order is the ``id`` column (an INTEGER PRIMARY KEY, so the rowid): the order in which
messages were appended, which is the order in which they were delivered. Every query pages
through the ``(target, id)`` index, so its cost depends on the page size, not on the amount of
history. Timestamp references are placed in that order at the first message at or after the
timestamp, found by binary search on that same index; this is exact while server time never goes
backwards: the server must never stamp a message earlier than the one before it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkpoint import Checkpointer
from .datadir import DATABASE_NAME, database_path, prepare_database
from .model import (
    EMPTY_TAGS,
    ChannelRecord,
    ListEntry,
    MessageRef,
    Row,
    Store,
    StoredMessage,
    StoreError,
    store_errors,
)
from .params import decode_params, encode_params
from .rows import COLUMNS, SUMMARY_VALUES, VALUES, message_values
from .schema import INDEX_TEXT_SQL, migrate
from .search import SearchQuery, SearchRow, search_rows

__all__ = ["DATABASE_NAME", "Row", "SQLiteStore", "database_path", "decode_rows", "encode_row", "open_store"]

log = logging.getLogger(__name__)

_NO_ID = -1  # below every rowid: "no lower bound"
_END = 1 << 62  # above every rowid: "no upper bound"

# One encoder made once: json.dumps with keyword arguments builds a new encoder on every call.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_decode = json.JSONDecoder().decode

_ROW_COLUMNS = "msgid, time_ms, command, source, params, account, tags"  # a Row: no target
_WIDTH = COLUMNS.count(",") + 1
_INSERT = f"INSERT INTO messages ({COLUMNS}) VALUES {VALUES}"
# Rows per INSERT statement at most (8 columns each: far below SQLite's limit on parameters).
_CHUNK = 64
_INSERTS = {
    size: _INSERT + f", {VALUES}" * (size - 1) for size in (1 << k for k in range(_CHUNK.bit_length()))
}
_COUNT = (
    "INSERT INTO conversations (target, side_a, side_b, last_time_ms, message_count, name_a, name_b)"
    f" VALUES {SUMMARY_VALUES} ON CONFLICT (target) DO UPDATE SET"
    " last_time_ms = max(last_time_ms, excluded.last_time_ms),"
    " message_count = message_count + excluded.message_count,"
    " name_a = coalesce(excluded.name_a, name_a),"
    " name_b = coalesce(excluded.name_b, name_b)"
)
_PAGE_DOWN = (
    f"SELECT {_ROW_COLUMNS} FROM messages WHERE target = ? AND id < ? AND id > ? ORDER BY id DESC LIMIT ?"
)
_PAGE_UP = f"SELECT {_ROW_COLUMNS} FROM messages WHERE target = ? AND id > ? AND id < ? ORDER BY id LIMIT ?"

_NEXT_FROM = "SELECT id, time_ms FROM messages WHERE target = ? AND id >= ? ORDER BY id LIMIT 1"
_LAST_OF = "SELECT id, time_ms FROM messages WHERE target = ? ORDER BY id DESC LIMIT 1"


def decode_rows(target: str, rows: list[Row]) -> list[StoredMessage]:
    """``rows`` of the conversation ``target`` as messages."""
    return [_message((msgid, time_ms, target, *rest)) for msgid, time_ms, *rest in rows]


def encode_row(message: StoredMessage) -> Row:
    """``message`` as the store keeps it (its target aside)."""
    m = message
    tags = _encode(dict(m.tags)) if m.tags else None
    return (m.msgid, m.time_ms, m.command, m.source, encode_params(m.params), m.account, tags)


def _message(row: tuple[Any, ...]) -> StoredMessage:
    # A row of the messages table: msgid, time_ms, target, command, source, params, account, tags.
    msgid, time_ms, target, command, source, params, account, tags = row
    return StoredMessage(
        msgid,
        time_ms,
        target,
        command,
        source,
        decode_params(params),
        account,
        types.MappingProxyType(_decode(tags)) if tags else EMPTY_TAGS,
    )


def _entries(text: str) -> tuple[ListEntry, ...]:
    return tuple((str(mask), str(setter), int(when)) for mask, setter, when in _decode(text))


class SQLiteStore:
    """History and persistent channels in one SQLite file (see ``hubbub.store.Store``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        background_checkpoint: bool = True,
        autocheckpoint: bool = True,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.path = Path(path)
        self._checkpointer: Checkpointer | None = None
        self._depth = 0  # transactions open (nested ones join the outermost)
        with store_errors(f"cannot open {self.path}"):
            # Autocommit mode: transactions are explicit, so one append is exactly one commit.
            self._db = sqlite3.connect(self.path, isolation_level=None)
            try:
                mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{self.path}: cannot use write-ahead logging (journal mode {mode})")
                # In WAL mode NORMAL survives a crash of the process (even kill -9); only an OS crash
                # or power loss can lose the last commits.
                self._db.execute("PRAGMA synchronous = NORMAL")
                self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                self._db.execute("PRAGMA cache_size = -65536")  # KiB: 64 MiB of pages
                self._db.execute("PRAGMA temp_store = MEMORY")
                try:
                    self.previous_version = migrate(self._db)
                except StoreError as exc:
                    raise StoreError(f"{self.path}: {exc}") from exc
                if background_checkpoint or not autocheckpoint:
                    # Commits never copy the log into the file themselves (see checkpoint.py).
                    self._db.execute("PRAGMA wal_autocheckpoint = 0")
                if background_checkpoint:
                    self._checkpointer = Checkpointer(self.path)
                    self._checkpointer.start()
            except BaseException:
                self._db.close()
                raise

    # -- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction around the block; a transaction inside another joins it.

        A block that raises is rolled back whole (after an I/O error or a full disk SQLite may
        have rolled back already).
        """
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        db = self._db
        with store_errors("cannot write to the history store"):
            db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
            with store_errors("cannot commit to the history store"):
                db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0

    def append(self, messages: Sequence[StoredMessage], names: Mapping[str, str] | None = None) -> None:
        """Store ``messages`` in one transaction, in order (StoreError on a msgid already in the target).

        ``names`` maps direct-conversation sides to their display names, remembered per conversation.
        """
        if not messages:
            return
        values, summary = message_values(messages, names)
        db = self._db
        with self.transaction(), store_errors(f"cannot store {len(messages)} messages"):
            (last_id,) = db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()
            start, total = 0, len(messages)
            while start < total:
                # Rows go in as few statements as possible, each of a power-of-two size (so a few
                # cached statements serve every batch): executemany steps once per row, and the
                # sqlite3 module gives the GIL up and takes it back around every step.
                size = _CHUNK
                while size > total - start:
                    size >>= 1
                db.execute(_INSERTS[size], values[start * _WIDTH : (start + size) * _WIDTH])
                start += size
            # The search index, in the same transaction: one statement for the whole batch.
            db.execute(INDEX_TEXT_SQL, (last_id,))
            db.executemany(_COUNT, summary)

    def delete_target(self, target: str) -> int:
        """Delete the whole history of ``target``; return the number of messages deleted."""
        db = self._db
        with self.transaction(), store_errors(f"cannot delete {target!r}"):
            deleted = db.execute("DELETE FROM messages WHERE target = ?", (target,)).rowcount
            db.execute("DELETE FROM conversations WHERE target = ?", (target,))
        return int(deleted)

    def delete_message(self, target: str, msgid: str) -> bool:
        """Delete the message ``msgid`` from ``target``'s history (a redaction); whether it was there.

        Only that conversation's copy: an event kept under several conversations keeps the others.
        """
        db = self._db
        with self.transaction(), store_errors(f"cannot delete {msgid!r} of {target!r}"):
            deleted = db.execute(
                "DELETE FROM messages WHERE target = ? AND msgid = ?", (target, msgid)
            ).rowcount
            if deleted:
                db.execute(
                    "UPDATE conversations SET message_count = message_count - ? WHERE target = ?",
                    (deleted, target),
                )
        return deleted > 0

    def prune(
        self, *, max_age_ms: int | None, max_per_target: int | None, now_ms: int, budget: int = 5000
    ) -> int:
        """Delete at most ``budget`` messages older than ``max_age_ms`` or past ``max_per_target``.

        Meant to be called repeatedly in the background: each call is one short transaction.
        Returns the number of messages deleted; 0 means nothing is left to prune.
        """
        if budget <= 0:
            return 0
        db = self._db
        deleted = 0
        with self.transaction(), store_errors("cannot prune history"):
            if max_age_ms is not None:
                deleted += self._prune_age(now_ms - max_age_ms, budget)
            if max_per_target is not None and deleted < budget:
                deleted += self._prune_count(max(0, max_per_target), budget - deleted)
            if deleted:
                db.execute("DELETE FROM conversations WHERE message_count <= 0")
        if deleted:
            log.debug("pruned %d messages", deleted)
        return deleted

    def _prune_age(self, cutoff_ms: int, budget: int) -> int:
        # Server time follows history order, so the old messages are a prefix of the history:
        # walk it from the start and stop at the first message young enough to keep.
        rows = self._db.execute(
            "SELECT id, target, time_ms FROM messages ORDER BY id LIMIT ?", (budget,)
        ).fetchall()
        last_id = None
        per_target: dict[str, int] = {}
        for row_id, target, time_ms in rows:
            if time_ms >= cutoff_ms:
                break
            last_id = row_id
            per_target[target] = per_target.get(target, 0) + 1
        if last_id is None:
            return 0
        deleted = self._db.execute("DELETE FROM messages WHERE id <= ?", (last_id,)).rowcount
        self._db.executemany(
            "UPDATE conversations SET message_count = message_count - ? WHERE target = ?",
            [(n, target) for target, n in per_target.items()],
        )
        return int(deleted)

    def _prune_count(self, keep: int, budget: int) -> int:
        db = self._db
        over = db.execute(
            "SELECT target, message_count - ? FROM conversations WHERE message_count > ?", (keep, keep)
        ).fetchall()
        deleted = 0
        for target, excess in over:
            n = min(excess, budget - deleted)
            if n <= 0:
                break
            # The oldest n of this conversation end at the n-th id in its index.
            (last_id,) = db.execute(
                "SELECT id FROM messages WHERE target = ? ORDER BY id LIMIT 1 OFFSET ?", (target, n - 1)
            ).fetchone()
            gone = db.execute("DELETE FROM messages WHERE target = ? AND id <= ?", (target, last_id)).rowcount
            db.execute(
                "UPDATE conversations SET message_count = message_count - ? WHERE target = ?", (gone, target)
            )
            deleted += gone
        return deleted

    # -- reading ---------------------------------------------------------------------------

    def find(self, msgid: str) -> StoredMessage | None:
        """A message with ``msgid`` (an event kept in several conversations has one per each), or None."""
        with store_errors("cannot read history"):
            row = self._db.execute(f"SELECT {COLUMNS} FROM messages WHERE msgid = ?", (msgid,)).fetchone()
        return _message(row) if row else None

    def message(self, target: str, msgid: str) -> StoredMessage | None:
        """The message ``msgid`` of ``target``'s history, or None."""
        with store_errors("cannot read history"):
            row = self._db.execute(
                f"SELECT {COLUMNS} FROM messages WHERE msgid = ? AND target = ?", (msgid, target)
            ).fetchone()
        return _message(row) if row else None

    def latest(self, target: str, limit: int, after: MessageRef | None = None) -> list[StoredMessage]:
        """The newest ``limit`` messages of ``target``; only those strictly after ``after`` if given."""
        return decode_rows(target, self.latest_rows(target, limit, after))

    def before(self, target: str, ref: MessageRef, limit: int) -> list[StoredMessage]:
        """The ``limit`` messages immediately before ``ref`` (exclusive), ascending."""
        return decode_rows(target, self.before_rows(target, ref, limit))

    def after(self, target: str, ref: MessageRef, limit: int) -> list[StoredMessage]:
        """The first ``limit`` messages after ``ref`` (exclusive), ascending."""
        return decode_rows(target, self.after_rows(target, ref, limit))

    def around(self, target: str, ref: MessageRef, limit: int) -> list[StoredMessage]:
        """About ``limit / 2`` messages on each side of ``ref`` (see :meth:`around_rows`)."""
        return decode_rows(target, self.around_rows(target, ref, limit))

    def between(self, target: str, start: MessageRef, end: MessageRef, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages strictly between the refs, those next to ``start``, ascending."""
        return decode_rows(target, self.between_rows(target, start, end, limit))

    # The same queries answered with the rows as kept (see Row), for the server's CHATHISTORY:
    # a page written straight from them is not decoded into messages first.

    def latest_rows(self, target: str, limit: int, after: MessageRef | None = None) -> list[Row]:
        """The newest ``limit`` messages of ``target``; only those strictly after ``after`` if given."""
        with store_errors("cannot read history"):
            low = _NO_ID if after is None else self._low(target, after)
            return self._down(target, _END, low, limit)

    def before_rows(self, target: str, ref: MessageRef, limit: int) -> list[Row]:
        """The ``limit`` messages immediately before ``ref`` (exclusive), ascending."""
        with store_errors("cannot read history"):
            return self._down(target, self._high(target, ref), _NO_ID, limit)

    def after_rows(self, target: str, ref: MessageRef, limit: int) -> list[Row]:
        """The first ``limit`` messages after ``ref`` (exclusive), ascending."""
        with store_errors("cannot read history"):
            return self._up(target, self._low(target, ref), _END, limit)

    def around_rows(self, target: str, ref: MessageRef, limit: int) -> list[Row]:
        """About ``limit / 2`` messages on each side of ``ref``, which is included: its message for a
        msgid, the messages stamped exactly then for a timestamp."""
        if limit <= 0:
            return []
        with store_errors("cannot read history"):
            if ref.msgid is not None:
                row_id = self._id_of(target, ref.msgid)
                n_before = (limit - 1) // 2
                (middle,) = self._up(target, row_id - 1, row_id + 1, 1)
                older = self._down(target, row_id, _NO_ID, n_before)
                newer = self._up(target, row_id, _END, limit - 1 - n_before)
                return [*older, middle, *newer]
            # A timestamp falls between messages or on some: those stamped exactly then are part of
            # what is "around" it, so the newer half starts at the first message at that time.
            n_before = limit // 2
            first_at = self._high(target, ref)
            return self._down(target, first_at, _NO_ID, n_before) + self._up(
                target, first_at - 1, _END, limit - n_before
            )

    def between_rows(self, target: str, start: MessageRef, end: MessageRef, limit: int) -> list[Row]:
        """Up to ``limit`` messages strictly between the refs, those next to ``start``, ascending."""
        with store_errors("cannot read history"):
            if self._position(target, start) <= self._position(target, end):
                return self._up(target, self._low(target, start), self._high(target, end), limit)
            return self._down(target, self._high(target, start), self._low(target, end), limit)

    def targets(
        self, start_ms: int, end_ms: int, limit: int, *, channels: Iterable[str], participant: str
    ) -> list[tuple[str, int]]:
        """(key, time of latest message) for ``channels`` and every direct conversation of ``participant``.

        Only conversations whose latest message lies strictly between ``start_ms`` and ``end_ms``;
        ascending by that time. Like BETWEEN, if ``start_ms`` is later than ``end_ms`` the
        ``limit`` nearest to ``start_ms`` are taken.
        """
        if limit <= 0:
            return []
        forward = start_ms <= end_ms
        lo, hi = (start_ms, end_ms) if forward else (end_ms, start_ms)
        order = "ASC" if forward else "DESC"
        with store_errors("cannot read history"):
            rows = self._db.execute(
                "SELECT target, last_time_ms FROM conversations"
                " WHERE last_time_ms > ? AND last_time_ms < ?"
                " AND (target IN (SELECT value FROM json_each(?)) OR side_a = ? OR side_b = ?)"
                f" ORDER BY last_time_ms {order}, target {order} LIMIT ?",
                (lo, hi, _encode(list(channels)), participant, participant, limit),
            ).fetchall()
        if not forward:
            rows.reverse()
        return [(str(t), int(ms)) for t, ms in rows]

    def search(
        self, query: SearchQuery, *, fold: Callable[[str], str] | None = None, budget_s: float = 0.0
    ) -> list[SearchRow]:
        """Messages whose text matches ``query`` in its conversations, newest last (see search.py)."""
        return search_rows(self._db, query, fold=fold, budget_s=budget_s)

    def direct_conversations(self, side: str) -> list[str]:
        """The keys of every direct conversation ``side`` is one of the two sides of."""
        with store_errors("cannot read history"):
            rows = self._db.execute(
                "SELECT target FROM conversations WHERE side_a = ? UNION SELECT target FROM conversations"
                " WHERE side_b = ?",
                (side, side),
            ).fetchall()
        return [str(t) for (t,) in rows]

    def dm_names(self, targets: Iterable[str]) -> dict[str, dict[str, str]]:
        """The remembered display names of the sides of each direct conversation in ``targets``."""
        with store_errors("cannot read history"):
            rows = self._db.execute(
                "SELECT target, side_a, side_b, name_a, name_b FROM conversations"
                " WHERE target IN (SELECT value FROM json_each(?)) AND side_a IS NOT NULL",
                (_encode(list(targets)),),
            ).fetchall()
        found: dict[str, dict[str, str]] = {}
        for target, side_a, side_b, name_a, name_b in rows:
            found[str(target)] = {
                str(side): str(name) for side, name in ((side_a, name_a), (side_b, name_b)) if name
            }
        return found

    def rename_side(self, side: str, name: str) -> None:
        """Remember ``name`` as the display name of ``side`` in all its direct conversations."""
        db = self._db
        with self.transaction(), store_errors(f"cannot rename {side!r}"):
            db.execute("UPDATE conversations SET name_a = ? WHERE side_a = ?", (name, side))
            db.execute("UPDATE conversations SET name_b = ? WHERE side_b = ?", (name, side))

    # -- bulk access for the archive tools ---------------------------------------------------

    def conversations(self) -> list[tuple[str, int, int]]:
        """Every stored conversation as (key, message count, time of latest message), by key."""
        with store_errors("cannot read history"):
            rows = self._db.execute(
                "SELECT target, message_count, last_time_ms FROM conversations ORDER BY target"
            ).fetchall()
        return [(str(t), int(n), int(ms)) for t, n, ms in rows]

    def iter_messages(
        self, target: str | None = None, since_ms: int | None = None, chunk: int = 1000
    ) -> Iterator[StoredMessage]:
        """Every message (of ``target`` if given, at or after ``since_ms`` if given) in history order."""
        where = ["id > ?"]
        args: list[object] = []
        if target is not None:
            where.append("target = ?")
            args.append(target)
        if since_ms is not None:
            where.append("time_ms >= ?")
            args.append(since_ms)
        sql = f"SELECT id, {COLUMNS} FROM messages WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        last = _NO_ID
        while True:
            with store_errors("cannot read history"):
                rows = self._db.execute(sql, (last, *args, chunk)).fetchall()
            for row in rows:
                yield _message(row[1:])
            if len(rows) < chunk:
                return
            last = rows[-1][0]

    def known_messages(self, messages: Iterable[StoredMessage]) -> set[tuple[str, str]]:
        """The (msgid, target) pairs of ``messages`` that are already stored."""
        with store_errors("cannot read history"):
            rows = self._db.execute(
                "SELECT msgid, target FROM messages WHERE msgid IN (SELECT value FROM json_each(?))",
                (_encode([m.msgid for m in messages]),),
            ).fetchall()
        return {(str(msgid), str(target)) for msgid, target in rows}

    # -- persistent channels -----------------------------------------------------------------

    def save_channel(self, record: ChannelRecord) -> None:
        """Insert or replace a persistent channel, keyed by its casefolded name."""
        with store_errors(f"cannot save channel {record.name!r}"):
            self._db.execute(
                "INSERT OR REPLACE INTO channels (key, name, created_ms, topic, topic_setter,"
                " topic_time_ms, modes, channel_key, user_limit, bans, excepts, invites, had_ops, metadata)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.key,
                    record.name,
                    record.created_ms,
                    record.topic,
                    record.topic_setter,
                    record.topic_time_ms,
                    record.modes,
                    record.channel_key,
                    record.limit,
                    _encode(record.bans),
                    _encode(record.excepts),
                    _encode(record.invites),
                    int(record.had_ops),
                    json.dumps(dict(record.metadata)),
                ),
            )

    def load_channels(self) -> list[ChannelRecord]:
        """Every persistent channel, by key."""
        with store_errors("cannot load channels"):
            rows = self._db.execute(
                "SELECT key, name, created_ms, topic, topic_setter, topic_time_ms, modes, channel_key,"
                " user_limit, bans, excepts, invites, had_ops, metadata FROM channels ORDER BY key"
            ).fetchall()
        return [
            ChannelRecord(
                name=name,
                key=key,
                created_ms=created,
                topic=topic,
                topic_setter=setter,
                topic_time_ms=topic_ms,
                modes=modes,
                channel_key=channel_key,
                limit=user_limit,
                bans=_entries(bans),
                excepts=_entries(excepts),
                invites=_entries(invites),
                had_ops=bool(had_ops),
                metadata=tuple(sorted(json.loads(metadata).items())),
            )
            for (
                key,
                name,
                created,
                topic,
                setter,
                topic_ms,
                modes,
                channel_key,
                user_limit,
                bans,
                excepts,
                invites,
                had_ops,
                metadata,
            ) in rows
        ]

    def rename_channel(self, old: str, new: str) -> None:
        """Move everything kept under the channel key ``old`` to ``new`` (IRCv3 draft/channel-rename).

        Its history and conversation row, its life, its saved record, its ChanServ registration and
        every account's read marker in it, in one transaction (joining the caller's): afterwards
        ``old`` names nothing, so a channel made under it later starts clean. Whatever ``new`` still
        held from an earlier channel of that name is left behind the moved channel's start (the
        caller refuses a rename onto history that is newer than that), except its life, record,
        registration and read markers, which belonged to a channel that is gone.
        """
        if old == new:
            return
        with self.transaction(), store_errors(f"cannot rename channel {old!r} to {new!r}"):
            db = self._db
            db.execute("UPDATE messages SET target = ? WHERE target = ?", (new, old))
            row = db.execute(
                "SELECT last_time_ms, message_count FROM conversations WHERE target = ?", (old,)
            ).fetchone()
            if row is not None:
                db.execute("DELETE FROM conversations WHERE target = ?", (old,))
                db.execute(
                    "INSERT INTO conversations (target, last_time_ms, message_count) VALUES (?, ?, ?)"
                    " ON CONFLICT (target) DO UPDATE SET"
                    " last_time_ms = max(last_time_ms, excluded.last_time_ms),"
                    " message_count = message_count + excluded.message_count",
                    (new, row[0], row[1]),
                )
            for table in ("channel_lives", "channels", "registered_channels"):
                db.execute(f"DELETE FROM {table} WHERE key = ?", (new,))
                db.execute(f"UPDATE {table} SET key = ? WHERE key = ?", (new, old))
            db.execute("DELETE FROM read_markers WHERE target = ?", (new,))
            db.execute("UPDATE read_markers SET target = ? WHERE target = ?", (new, old))

    def delete_channel(self, name: str) -> None:
        """Forget the persistent channel whose casefolded name is ``name``."""
        with store_errors(f"cannot delete channel {name!r}"):
            self._db.execute("DELETE FROM channels WHERE key = ?", (name,))

    def begin_channel_life(self, key: str, created_ms: int, private: bool) -> None:
        """Record that the channel ``key`` exists since ``created_ms`` (``private``: +i, +k or +s)."""
        with store_errors(f"cannot record channel {key!r}"):
            self._db.execute(
                "INSERT OR REPLACE INTO channel_lives (key, created_ms, private) VALUES (?, ?, ?)",
                (key, created_ms, int(private)),
            )

    def end_channel_life(self, key: str) -> None:
        """The channel ``key`` is gone (it was emptied)."""
        with store_errors(f"cannot record channel {key!r}"):
            self._db.execute("DELETE FROM channel_lives WHERE key = ?", (key,))

    def channel_lives(self) -> dict[str, tuple[int, bool]]:
        """Every recorded channel life: key -> (created_ms, private)."""
        with store_errors("cannot load channel lives"):
            rows = self._db.execute("SELECT key, created_ms, private FROM channel_lives").fetchall()
        return {str(k): (int(ms), bool(p)) for k, ms, p in rows}

    def close(self) -> None:
        """Close the database (this checkpoints the write-ahead log into the main file)."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with store_errors("cannot close the history store"):
            self._db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- placing references ------------------------------------------------------------------

    def _down(self, target: str, high: int, low: int, limit: int) -> list[Row]:
        """The ``limit`` newest messages with ``low < id < high``, ascending."""
        if limit <= 0 or high - low <= 1:
            return []
        rows: list[Row] = self._db.execute(_PAGE_DOWN, (target, high, low, limit)).fetchall()
        rows.reverse()
        return rows

    def _up(self, target: str, low: int, high: int, limit: int) -> list[Row]:
        """The ``limit`` oldest messages with ``low < id < high``, ascending."""
        if limit <= 0 or high - low <= 1:
            return []
        rows: list[Row] = self._db.execute(_PAGE_UP, (target, low, high, limit)).fetchall()
        return rows

    def _id_of(self, target: str, msgid: str) -> int:
        row = self._db.execute(
            "SELECT id FROM messages WHERE msgid = ? AND target = ?", (msgid, target)
        ).fetchone()
        if row is None:
            raise StoreError(f"no message {msgid!r} in {target!r}")
        return int(row[0])

    def _first_at(self, target: str, time_ms: int) -> int:
        """The id of the first message of ``target`` at or after ``time_ms``, or _END if none.

        A binary search over ids through the ``(target, id)`` index: with server time following
        history order, "the next message from id x on is at or after time_ms" only turns from
        false to true as x grows. About log2(history size) index probes, and no time index to
        update on every append.
        """
        db = self._db
        first = db.execute(_NEXT_FROM, (target, _NO_ID)).fetchone()
        if first is None:
            return _END
        if first[1] >= time_ms:
            return int(first[0])
        last = db.execute(_LAST_OF, (target,)).fetchone()
        if last[1] < time_ms:
            return _END
        # Invariant: the next message from id `low` on is before time_ms, from `high` on it is not;
        # `found` is the first message from `high` on.
        low, high, found = int(first[0]), int(last[0]), int(last[0])
        while high - low > 1:
            middle = (low + high) // 2
            row_id, row_time = db.execute(_NEXT_FROM, (target, middle)).fetchone()
            if row_time >= time_ms:
                high, found = middle, row_id
            else:
                low = row_id  # nothing between middle and this message, and it is too early
        return int(found)

    def _high(self, target: str, ref: MessageRef) -> int:
        """Exclusive upper id bound: "before ``ref``" is ``id < _high(ref)``."""
        if ref.msgid is not None:
            return self._id_of(target, ref.msgid)
        assert ref.time_ms is not None
        return self._first_at(target, ref.time_ms)

    def _low(self, target: str, ref: MessageRef) -> int:
        """Exclusive lower id bound: "after ``ref``" is ``id > _low(ref)``."""
        if ref.msgid is not None:
            return self._id_of(target, ref.msgid)
        assert ref.time_ms is not None
        return self._first_at(target, ref.time_ms + 1) - 1

    def _position(self, target: str, ref: MessageRef) -> int:
        """Where ``ref`` sits in history order: 2*id on a message, odd just before a message."""
        if ref.msgid is not None:
            return 2 * self._id_of(target, ref.msgid)
        assert ref.time_ms is not None
        return 2 * self._first_at(target, ref.time_ms) - 1


def open_store(data_dir: str | os.PathLike[str]) -> SQLiteStore:
    """Open the history store of ``data_dir`` (creating the directory and database if needed)."""
    path, created = prepare_database(data_dir)
    store = SQLiteStore(path)
    if created:
        store.previous_version = 0  # made at the current version just now, from nothing
    return store


if TYPE_CHECKING:
    # mypy proves here that SQLiteStore follows the Store interface.
    def _follows_the_interface(store: SQLiteStore) -> Store:
        return store
