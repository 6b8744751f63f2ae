"""The PostgreSQL history store: the ``Store`` of sqlite.py on a database several servers share.

History order within a conversation is ``seq``: 1, 2, 3 ... with no gaps, given out inside
``append``'s transaction by locking the conversation's row of ``target_seq`` (in sorted order of
the conversations, so two servers' appends never deadlock). Two servers appending to one
conversation therefore commit one after the other, and the seqs follow commit order: a server
that has seen seq n of a conversation knows exactly what it has not seen (``since_seq``).

Timestamp references are placed through the ``(target, time_ms, seq)`` index: the first message
at or after a time, exactly as SQLite's binary search places them while server time follows
history order. Message parameters are kept in the form of params.py, except that PostgreSQL's
text cannot hold a NUL: the JSON form's mark is a line feed here (no line-form text holds one),
turned back into a NUL when read, so rows read here are the rows sqlite.py gives.

Every call is a round trip to the database on the store's own event loop thread (pgconn.py).
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg import Connection

from .model import EMPTY_TAGS, ChannelRecord, ListEntry, MessageRef, Row, Store, StoredMessage, StoreError
from .params import decode_params, encode_params
from .pg_search import search as pg_search
from .pg_search import tsvector_text
from .pgconn import DEFAULT_READERS, DEFAULT_TIMEOUT_S, Database
from .rows import message_values
from .search import SearchQuery, SearchRow

__all__ = ["PostgresStore"]

_NONE = 0  # below every seq: "no lower bound"
_END = 1 << 62  # above every seq: "no upper bound"
_JSON_MARK = "\0"
_PG_JSON_MARK = "\n"

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_decode = json.JSONDecoder().decode

_ROW = "msgid, time_ms, command, source, params, account, tags"
_MESSAGE = "msgid, time_ms, target, command, source, params, account, tags"

# Counts on each conversation's seq by the number of its messages in the batch, locking the
# counter rows in one order (the sort, by code point) that every server uses.
_RESERVE = """
INSERT INTO target_seq AS s (target, seq)
SELECT target, n FROM unnest($1::text[], $2::bigint[]) AS u (target, n) ORDER BY target COLLATE "C"
ON CONFLICT (target) DO UPDATE SET seq = s.seq + excluded.seq
RETURNING target, seq
"""
_APPEND = "SELECT out_target, out_seq FROM hubbub_append(" + ", ".join(f"${n}" for n in range(1, 20)) + ")"
_PAGE_DOWN = (
    f"SELECT {_ROW} FROM messages WHERE target = $1 AND seq < $2 AND seq > $3 ORDER BY seq DESC LIMIT $4"
)
_PAGE_UP = f"SELECT {_ROW} FROM messages WHERE target = $1 AND seq > $2 AND seq < $3 ORDER BY seq LIMIT $4"
# The first message at or after a time, in history (seq) order. Nodes of a cluster stamp time
# before they commit, so within a conversation times follow seqs only within a few milliseconds:
# the message with the earliest time at or after it may come late in seq order. The lowest seq
# among the first messages by time is the answer, found through the (target, time) index.
_FIRST_AT = (
    "SELECT min(seq) FROM (SELECT seq FROM messages WHERE target = $1 AND time_ms >= $2"
    " ORDER BY time_ms, seq LIMIT 1000) AS first_by_time"
)
_SEQ_OF = "SELECT seq FROM messages WHERE msgid = $1 AND target = $2"


def _params_in(text: str) -> str:
    """The ``params`` column's text as kept here (see the module's docstring)."""
    return _PG_JSON_MARK + text[1:] if text[:1] == _JSON_MARK else text


def _params_out(text: str) -> str:
    return _JSON_MARK + text[1:] if text[:1] == _PG_JSON_MARK else text


def _row(record: asyncpg.Record) -> Row:
    msgid, time_ms, command, source, params, account, tags = record
    return (msgid, time_ms, command, source, _params_out(params), account, tags)


def _message(record: asyncpg.Record) -> StoredMessage:
    msgid, time_ms, target, command, source, params, account, tags = record
    return StoredMessage(
        msgid,
        time_ms,
        target,
        command,
        source,
        decode_params(_params_out(params)),
        account,
        types.MappingProxyType(_decode(tags)) if tags else EMPTY_TAGS,
    )


def _decode_rows(target: str, rows: list[Row]) -> list[StoredMessage]:
    return [
        StoredMessage(
            msgid,
            time_ms,
            target,
            command,
            source,
            decode_params(params),
            account,
            types.MappingProxyType(_decode(tags)) if tags else EMPTY_TAGS,
        )
        for msgid, time_ms, command, source, params, account, tags in rows
    ]


def _entries(text: str) -> tuple[ListEntry, ...]:
    return tuple((str(mask), str(setter), int(when)) for mask, setter, when in _decode(text))


def _count(status: str) -> int:
    """The row count of a command status such as ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresStore:
    """History and persistent channels in a PostgreSQL database (see ``hubbub.store.Store``)."""

    def __init__(
        self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, readers: int = DEFAULT_READERS
    ) -> None:
        self.url = url
        self._db = Database(url, timeout_s=timeout_s, readers=readers)
        self.previous_version = self._db.previous_version

    def transaction(self) -> Any:
        """One PostgreSQL transaction around the block's calls on this store; nested ones join it."""
        return self._db.transaction()

    def close(self) -> None:
        """Close the connections; the store cannot be used afterwards."""
        self._db.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def append(self, messages: Sequence[StoredMessage], names: Mapping[str, str] | None = None) -> list[int]:
        """Store ``messages`` in one transaction, in order; return the seq of each, in order.

        StoreError on a msgid already in the conversation (nothing of the batch is kept).
        """
        if not messages:
            return []
        counts: dict[str, int] = {}
        for m in messages:
            counts[m.target] = counts.get(m.target, 0) + 1
        order = sorted(counts)
        _values, summary = message_values(messages, names)  # (the values are SQLite's)
        summary.sort()

        seqs_back = []
        seen: dict[str, int] = {}
        for m in messages:
            n = seen.get(m.target, 0) + 1
            seen[m.target] = n
            seqs_back.append(counts[m.target] - n)  # how many of its conversation's come after it
        columns = list(zip(*summary, strict=True))
        args = (
            order,
            [counts[t] for t in order],
            [m.target for m in messages],
            seqs_back,
            [m.msgid for m in messages],
            [m.time_ms for m in messages],
            [m.command for m in messages],
            [m.source for m in messages],
            [m.account or None for m in messages],
            [_params_in(encode_params(m.params)) for m in messages],
            [_encode(dict(m.tags)) if m.tags else None for m in messages],
            [tsvector_text(m.command, m.params) for m in messages],
            list(columns[0]),
            [v or None for v in columns[1]],
            [v or None for v in columns[2]],
            list(columns[3]),
            list(columns[4]),
            [v or None for v in columns[5]],
            [v or None for v in columns[6]],
        )

        async def work(c: Connection) -> list[int]:
            last = dict(await c.fetch(_APPEND, *args))
            return [last[m.target] - back for m, back in zip(messages, seqs_back, strict=True)]

        # One statement: a transaction of its own, in one round trip (pg_schema.APPEND_FUNCTION).
        return self._db.write(f"cannot store {len(messages)} messages", work, single=True)

    def delete_target(self, target: str) -> int:
        """Delete the whole history of ``target``; return the number of messages deleted.

        Its seq counter stays: a later message there continues after the deleted ones.
        """

        async def work(c: Connection) -> int:
            deleted = _count(await c.execute("DELETE FROM messages WHERE target = $1", target))
            await c.execute("DELETE FROM conversations WHERE target = $1", target)
            return deleted

        return self._db.write(f"cannot delete {target!r}", work)

    def delete_message(self, target: str, msgid: str) -> bool:
        """Delete the message ``msgid`` from ``target``'s history (a redaction); whether it was there."""

        async def work(c: Connection) -> bool:
            deleted = _count(
                await c.execute("DELETE FROM messages WHERE target = $1 AND msgid = $2", target, msgid)
            )
            if deleted:
                await c.execute(
                    "UPDATE conversations SET message_count = message_count - $1 WHERE target = $2",
                    deleted,
                    target,
                )
            return deleted > 0

        return self._db.write(f"cannot delete {msgid!r} of {target!r}", work)

    def prune(
        self, *, max_age_ms: int | None, max_per_target: int | None, now_ms: int, budget: int = 5000
    ) -> int:
        """Delete at most ``budget`` messages older than ``max_age_ms`` or past ``max_per_target``."""
        if budget <= 0:
            return 0

        async def work(c: Connection) -> int:
            deleted = 0
            if max_age_ms is not None:
                deleted += await self._prune_age(c, now_ms - max_age_ms, budget)
            if max_per_target is not None and deleted < budget:
                deleted += await self._prune_count(c, max(0, max_per_target), budget - deleted)
            if deleted:
                await c.execute("DELETE FROM conversations WHERE message_count <= 0")
            return deleted

        return self._db.write("cannot prune history", work)

    @staticmethod
    async def _prune_age(c: Connection, cutoff_ms: int, budget: int) -> int:
        # As sqlite.py: the old messages are a prefix of the append order; stop at the first
        # message young enough to keep.
        rows = await c.fetch("SELECT id, target, time_ms FROM messages ORDER BY id LIMIT $1", budget)
        last_id = None
        per_target: dict[str, int] = {}
        for row_id, target, time_ms in rows:
            if time_ms >= cutoff_ms:
                break
            last_id = row_id
            per_target[target] = per_target.get(target, 0) + 1
        if last_id is None:
            return 0
        deleted = _count(await c.execute("DELETE FROM messages WHERE id <= $1", last_id))
        await c.executemany(
            "UPDATE conversations SET message_count = message_count - $1 WHERE target = $2",
            [(n, target) for target, n in sorted(per_target.items())],
        )
        return deleted

    @staticmethod
    async def _prune_count(c: Connection, keep: int, budget: int) -> int:
        over = await c.fetch(
            "SELECT target, message_count - $1 FROM conversations WHERE message_count > $1 ORDER BY target",
            keep,
        )
        deleted = 0
        for target, excess in over:
            n = min(excess, budget - deleted)
            if n <= 0:
                break
            last_seq = await c.fetchval(
                "SELECT seq FROM messages WHERE target = $1 ORDER BY seq OFFSET $2 LIMIT 1", target, n - 1
            )
            if last_seq is None:
                continue
            gone = _count(
                await c.execute("DELETE FROM messages WHERE target = $1 AND seq <= $2", target, last_seq)
            )
            await c.execute(
                "UPDATE conversations SET message_count = message_count - $1 WHERE target = $2", gone, target
            )
            deleted += gone
        return deleted

    def rename_side(self, side: str, name: str) -> None:
        """Remember ``name`` as the display name of ``side`` in all its direct conversations."""

        async def work(c: Connection) -> None:
            await c.execute("UPDATE conversations SET name_a = $1 WHERE side_a = $2", name, side)
            await c.execute("UPDATE conversations SET name_b = $1 WHERE side_b = $2", name, side)

        self._db.write(f"cannot rename {side!r}", work)

    # -- reading ---------------------------------------------------------------------------

    def find(self, msgid: str) -> StoredMessage | None:
        """A message with ``msgid`` (an event kept in several conversations has one per each), or None."""

        async def work(c: Connection) -> StoredMessage | None:
            row = await c.fetchrow(
                f'SELECT {_MESSAGE} FROM messages WHERE msgid = $1 ORDER BY target COLLATE "C" LIMIT 1', msgid
            )
            return _message(row) if row else None

        return self._db.read("cannot read history", work)

    def message(self, target: str, msgid: str) -> StoredMessage | None:
        """The message ``msgid`` of ``target``'s history, or None."""

        async def work(c: Connection) -> StoredMessage | None:
            row = await c.fetchrow(
                f"SELECT {_MESSAGE} FROM messages WHERE msgid = $1 AND target = $2", msgid, target
            )
            return _message(row) if row else None

        return self._db.read("cannot read history", work)

    def latest(self, target: str, limit: int, after: MessageRef | None = None) -> list[StoredMessage]:
        """The newest ``limit`` messages of ``target``; only those strictly after ``after`` if given."""
        return _decode_rows(target, self.latest_rows(target, limit, after))

    def before(self, target: str, ref: MessageRef, limit: int) -> list[StoredMessage]:
        """The ``limit`` messages immediately before ``ref`` (exclusive), ascending."""
        return _decode_rows(target, self.before_rows(target, ref, limit))

    def after(self, target: str, ref: MessageRef, limit: int) -> list[StoredMessage]:
        """The first ``limit`` messages after ``ref`` (exclusive), ascending."""
        return _decode_rows(target, self.after_rows(target, ref, limit))

    def around(self, target: str, ref: MessageRef, limit: int) -> list[StoredMessage]:
        """About ``limit / 2`` messages on each side of ``ref`` (see :meth:`around_rows`)."""
        return _decode_rows(target, self.around_rows(target, ref, limit))

    def between(self, target: str, start: MessageRef, end: MessageRef, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages strictly between the refs, those next to ``start``, ascending."""
        return _decode_rows(target, self.between_rows(target, start, end, limit))

    def latest_rows(self, target: str, limit: int, after: MessageRef | None = None) -> list[Row]:
        """The newest ``limit`` messages of ``target`` as rows; only those strictly after ``after``."""

        async def work(c: Connection) -> list[Row]:
            low = _NONE if after is None else await _low(c, target, after)
            return await _down(c, target, _END, low, limit)

        return self._db.read("cannot read history", work)

    def before_rows(self, target: str, ref: MessageRef, limit: int) -> list[Row]:
        """The ``limit`` messages immediately before ``ref`` (exclusive), ascending, as rows."""

        async def work(c: Connection) -> list[Row]:
            return await _down(c, target, await _high(c, target, ref), _NONE, limit)

        return self._db.read("cannot read history", work)

    def after_rows(self, target: str, ref: MessageRef, limit: int) -> list[Row]:
        """The first ``limit`` messages after ``ref`` (exclusive), ascending, as rows."""

        async def work(c: Connection) -> list[Row]:
            return await _up(c, target, await _low(c, target, ref), _END, limit)

        return self._db.read("cannot read history", work)

    def around_rows(self, target: str, ref: MessageRef, limit: int) -> list[Row]:
        """About ``limit / 2`` messages on each side of ``ref``, which is included: its message for a
        msgid, the messages stamped exactly then for a timestamp."""
        if limit <= 0:
            return []

        async def work(c: Connection) -> list[Row]:
            if ref.msgid is not None:
                seq = await _seq_of(c, target, ref.msgid)
                n_before = (limit - 1) // 2
                middle = await _up(c, target, seq - 1, seq + 1, 1)
                older = await _down(c, target, seq, _NONE, n_before)
                newer = await _up(c, target, seq, _END, limit - 1 - n_before)
                return [*older, *middle, *newer]
            n_before = limit // 2
            first_at = await _high(c, target, ref)
            return await _down(c, target, first_at, _NONE, n_before) + await _up(
                c, target, first_at - 1, _END, limit - n_before
            )

        return self._db.read("cannot read history", work)

    def between_rows(self, target: str, start: MessageRef, end: MessageRef, limit: int) -> list[Row]:
        """Up to ``limit`` messages strictly between the refs, those next to ``start``, ascending."""

        async def work(c: Connection) -> list[Row]:
            if await _position(c, target, start) <= await _position(c, target, end):
                return await _up(c, target, await _low(c, target, start), await _high(c, target, end), limit)
            return await _down(c, target, await _high(c, target, start), await _low(c, target, end), limit)

        return self._db.read("cannot read history", work)

    def since_seq(self, target: str, seq: int, limit: int) -> list[tuple[int, StoredMessage]]:
        """Up to ``limit`` messages of ``target`` with a seq above ``seq``, ascending, with their seqs."""
        if limit <= 0:
            return []

        async def work(c: Connection) -> list[tuple[int, StoredMessage]]:
            rows = await c.fetch(
                f"SELECT seq, {_MESSAGE} FROM messages WHERE target = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                target,
                seq,
                limit,
            )
            return [(int(row[0]), _message(row[1:])) for row in rows]

        return self._db.read("cannot read history", work)

    def last_seq(self, target: str) -> int:
        """The last seq given out in ``target`` (0 if none yet): what its next message follows."""

        async def work(c: Connection) -> int:
            seq = await c.fetchval("SELECT seq FROM target_seq WHERE target = $1", target)
            return int(seq or 0)

        return self._db.read("cannot read history", work)

    def targets(
        self, start_ms: int, end_ms: int, limit: int, *, channels: Iterable[str], participant: str
    ) -> list[tuple[str, int]]:
        """(key, time of latest message) for ``channels`` and every direct conversation of ``participant``,
        only those whose latest message lies strictly between the times; ascending by that time."""
        if limit <= 0:
            return []
        forward = start_ms <= end_ms
        lo, hi = (start_ms, end_ms) if forward else (end_ms, start_ms)
        order = "ASC" if forward else "DESC"
        keys = list(channels)

        async def work(c: Connection) -> list[tuple[str, int]]:
            rows = await c.fetch(
                "SELECT target, last_time_ms FROM conversations"
                " WHERE last_time_ms > $1 AND last_time_ms < $2"
                " AND (target = ANY($3::text[]) OR side_a = $4 OR side_b = $4)"
                f' ORDER BY last_time_ms {order}, target COLLATE "C" {order} LIMIT $5',
                lo,
                hi,
                keys,
                participant,
                limit,
            )
            return [(str(t), int(ms)) for t, ms in rows]

        found = self._db.read("cannot read history", work)
        if not forward:
            found.reverse()
        return found

    def search(
        self, query: SearchQuery, *, fold: Callable[[str], str] | None = None, budget_s: float = 0.0
    ) -> list[SearchRow]:
        """Messages whose text matches ``query`` in its conversations, newest last (pg_search.py)."""

        async def work(c: Connection) -> list[SearchRow]:
            return await pg_search(c, query, _params_out, fold=fold, budget_s=budget_s)

        return self._db.read("cannot search history", work)

    def direct_conversations(self, side: str) -> list[str]:
        """The keys of every direct conversation ``side`` is one of the two sides of."""

        async def work(c: Connection) -> list[str]:
            rows = await c.fetch(
                "SELECT target FROM conversations WHERE side_a = $1"
                ' UNION SELECT target FROM conversations WHERE side_b = $1 ORDER BY 1 COLLATE "C"',
                side,
            )
            return [str(t) for (t,) in rows]

        return self._db.read("cannot read history", work)

    def dm_names(self, targets: Iterable[str]) -> dict[str, dict[str, str]]:
        """The remembered display names of the sides of each direct conversation in ``targets``."""
        keys = list(targets)

        async def work(c: Connection) -> dict[str, dict[str, str]]:
            rows = await c.fetch(
                "SELECT target, side_a, side_b, name_a, name_b FROM conversations"
                " WHERE target = ANY($1::text[]) AND side_a IS NOT NULL",
                keys,
            )
            return {
                str(target): {str(s): str(n) for s, n in ((side_a, name_a), (side_b, name_b)) if n}
                for target, side_a, side_b, name_a, name_b in rows
            }

        return self._db.read("cannot read history", work)

    # -- bulk access for the archive tools ---------------------------------------------------

    def conversations(self) -> list[tuple[str, int, int]]:
        """Every stored conversation as (key, message count, time of latest message), by key."""

        async def work(c: Connection) -> list[tuple[str, int, int]]:
            rows = await c.fetch(
                'SELECT target, message_count, last_time_ms FROM conversations ORDER BY target COLLATE "C"'
            )
            return [(str(t), int(n), int(ms)) for t, n, ms in rows]

        return self._db.read("cannot read history", work)

    def iter_messages(
        self, target: str | None = None, since_ms: int | None = None, chunk: int = 1000
    ) -> Iterator[StoredMessage]:
        """Every message (of ``target`` if given, at or after ``since_ms`` if given) in history order:
        a conversation's by seq, all of them in the order they were appended."""
        order = "id" if target is None else "seq"
        where = [f"{order} > $1"]
        args: list[object] = []
        if target is not None:
            args.append(target)
            where.append(f"target = ${len(args) + 1}")
        if since_ms is not None:
            args.append(since_ms)
            where.append(f"time_ms >= ${len(args) + 1}")
        sql = (
            f"SELECT {order}, {_MESSAGE} FROM messages WHERE {' AND '.join(where)}"
            f" ORDER BY {order} LIMIT ${len(args) + 2}"
        )
        last = -(1 << 62)
        while True:

            async def work(c: Connection, position: int = last) -> list[asyncpg.Record]:
                rows: list[asyncpg.Record] = await c.fetch(sql, position, *args, chunk)
                return rows

            rows = self._db.read("cannot read history", work)
            for row in rows:
                yield _message(row[1:])
            if len(rows) < chunk:
                return
            last = rows[-1][0]

    def known_messages(self, messages: Iterable[StoredMessage]) -> set[tuple[str, str]]:
        """The (msgid, target) pairs of ``messages`` that are already stored."""
        msgids = [m.msgid for m in messages]

        async def work(c: Connection) -> set[tuple[str, str]]:
            rows = await c.fetch("SELECT msgid, target FROM messages WHERE msgid = ANY($1::text[])", msgids)
            return {(str(msgid), str(target)) for msgid, target in rows}

        return self._db.read("cannot read history", work)

    # -- persistent channels -----------------------------------------------------------------

    def save_channel(self, record: ChannelRecord) -> None:
        """Insert or replace a persistent channel, keyed by its casefolded name."""
        r = record
        values = (
            r.key,
            r.name,
            r.created_ms,
            r.topic,
            r.topic_setter,
            r.topic_time_ms,
            r.modes,
            r.channel_key,
            r.limit,
            _encode(r.bans),
            _encode(r.excepts),
            _encode(r.invites),
            r.had_ops,
            json.dumps(dict(r.metadata)),
        )

        async def work(c: Connection) -> None:
            await c.execute(
                "INSERT INTO channels (key, name, created_ms, topic, topic_setter, topic_time_ms, modes,"
                " channel_key, user_limit, bans, excepts, invites, had_ops, metadata)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                " ON CONFLICT (key) DO UPDATE SET name = excluded.name, created_ms = excluded.created_ms,"
                " topic = excluded.topic, topic_setter = excluded.topic_setter,"
                " topic_time_ms = excluded.topic_time_ms, modes = excluded.modes,"
                " channel_key = excluded.channel_key, user_limit = excluded.user_limit,"
                " bans = excluded.bans, excepts = excluded.excepts, invites = excluded.invites,"
                " had_ops = excluded.had_ops, metadata = excluded.metadata",
                *values,
            )

        self._db.write(f"cannot save channel {record.name!r}", work)

    def load_channels(self) -> list[ChannelRecord]:
        """Every persistent channel, by key."""

        async def work(c: Connection) -> list[asyncpg.Record]:
            rows: list[asyncpg.Record] = await c.fetch(
                "SELECT key, name, created_ms, topic, topic_setter, topic_time_ms, modes, channel_key,"
                " user_limit, bans, excepts, invites, had_ops, metadata FROM channels"
                ' ORDER BY key COLLATE "C"'
            )
            return rows

        return [
            ChannelRecord(
                name=row["name"],
                key=row["key"],
                created_ms=row["created_ms"],
                topic=row["topic"],
                topic_setter=row["topic_setter"],
                topic_time_ms=row["topic_time_ms"],
                modes=row["modes"],
                channel_key=row["channel_key"],
                limit=row["user_limit"],
                bans=_entries(row["bans"]),
                excepts=_entries(row["excepts"]),
                invites=_entries(row["invites"]),
                had_ops=bool(row["had_ops"]),
                metadata=tuple(sorted(json.loads(row["metadata"]).items())),
            )
            for row in self._db.read("cannot load channels", work)
        ]

    def rename_channel(self, old: str, new: str) -> None:
        """Move everything kept under the channel key ``old`` to ``new`` (see SQLiteStore).

        The moved messages are numbered on after ``new``'s seq counter, in their order; both
        counters stay, so no seq of either key is ever given out twice.
        """
        if old == new:
            return

        async def work(c: Connection) -> None:
            keys = sorted((old, new))
            await c.fetch(_RESERVE, keys, [0, 0])  # locks both counters, in the common order
            base = await c.fetchval("SELECT seq FROM target_seq WHERE target = $1", new)
            moved = _count(
                await c.execute(
                    "UPDATE messages AS m SET target = $2, seq = $3 + r.n"
                    " FROM (SELECT id, row_number() OVER (ORDER BY seq) AS n FROM messages"
                    "       WHERE target = $1) AS r"
                    " WHERE m.id = r.id",
                    old,
                    new,
                    base,
                )
            )
            await c.execute("UPDATE target_seq SET seq = seq + $2 WHERE target = $1", new, moved)
            row = await c.fetchrow(
                "DELETE FROM conversations WHERE target = $1 RETURNING last_time_ms, message_count", old
            )
            if row is not None:
                await c.execute(
                    "INSERT INTO conversations AS c (target, last_time_ms, message_count) VALUES ($1, $2, $3)"
                    " ON CONFLICT (target) DO UPDATE SET"
                    " last_time_ms = greatest(c.last_time_ms, excluded.last_time_ms),"
                    " message_count = c.message_count + excluded.message_count",
                    new,
                    row[0],
                    row[1],
                )
            for table in ("channel_lives", "channels", "registered_channels"):
                await c.execute(f"DELETE FROM {table} WHERE key = $1", new)
                await c.execute(f"UPDATE {table} SET key = $1 WHERE key = $2", new, old)
            await c.execute("DELETE FROM read_markers WHERE target = $1", new)
            await c.execute("UPDATE read_markers SET target = $1 WHERE target = $2", new, old)

        self._db.write(f"cannot rename channel {old!r} to {new!r}", work)

    def delete_channel(self, name: str) -> None:
        """Forget the persistent channel whose casefolded name is ``name``."""

        async def work(c: Connection) -> None:
            await c.execute("DELETE FROM channels WHERE key = $1", name)

        self._db.write(f"cannot delete channel {name!r}", work)

    def begin_channel_life(self, key: str, created_ms: int, private: bool) -> None:
        """Record that the channel ``key`` exists since ``created_ms`` (``private``: +i, +k or +s)."""

        async def work(c: Connection) -> None:
            await c.execute(
                "INSERT INTO channel_lives (key, created_ms, private) VALUES ($1, $2, $3)"
                " ON CONFLICT (key) DO UPDATE SET"
                " created_ms = excluded.created_ms, private = excluded.private",
                key,
                created_ms,
                private,
            )

        self._db.write(f"cannot record channel {key!r}", work)

    def end_channel_life(self, key: str) -> None:
        """The channel ``key`` is gone (it was emptied)."""

        async def work(c: Connection) -> None:
            await c.execute("DELETE FROM channel_lives WHERE key = $1", key)

        self._db.write(f"cannot record channel {key!r}", work)

    def channel_lives(self) -> dict[str, tuple[int, bool]]:
        """Every recorded channel life: key -> (created_ms, private)."""

        async def work(c: Connection) -> dict[str, tuple[int, bool]]:
            rows = await c.fetch("SELECT key, created_ms, private FROM channel_lives")
            return {str(k): (int(ms), bool(p)) for k, ms, p in rows}

        return self._db.read("cannot load channel lives", work)


# -- placing references (coroutines on one connection) ---------------------------------------


async def _down(c: Connection, target: str, high: int, low: int, limit: int) -> list[Row]:
    """The ``limit`` newest messages with ``low < seq < high``, ascending."""
    if limit <= 0 or high - low <= 1:
        return []
    rows = [_row(r) for r in await c.fetch(_PAGE_DOWN, target, high, low, limit)]
    rows.reverse()
    return rows


async def _up(c: Connection, target: str, low: int, high: int, limit: int) -> list[Row]:
    """The ``limit`` oldest messages with ``low < seq < high``, ascending."""
    if limit <= 0 or high - low <= 1:
        return []
    return [_row(r) for r in await c.fetch(_PAGE_UP, target, low, high, limit)]


async def _seq_of(c: Connection, target: str, msgid: str) -> int:
    seq = await c.fetchval(_SEQ_OF, msgid, target)
    if seq is None:
        raise StoreError(f"no message {msgid!r} in {target!r}")
    return int(seq)


async def _first_at(c: Connection, target: str, time_ms: int) -> int:
    """The seq of the first message of ``target`` at or after ``time_ms``, or _END if none."""
    seq = await c.fetchval(_FIRST_AT, target, time_ms)
    return _END if seq is None else int(seq)


async def _high(c: Connection, target: str, ref: MessageRef) -> int:
    """Exclusive upper bound: "before ``ref``" is ``seq < _high(ref)``."""
    if ref.msgid is not None:
        return await _seq_of(c, target, ref.msgid)
    assert ref.time_ms is not None
    return await _first_at(c, target, ref.time_ms)


async def _low(c: Connection, target: str, ref: MessageRef) -> int:
    """Exclusive lower bound: "after ``ref``" is ``seq > _low(ref)``."""
    if ref.msgid is not None:
        return await _seq_of(c, target, ref.msgid)
    assert ref.time_ms is not None
    return await _first_at(c, target, ref.time_ms + 1) - 1


async def _position(c: Connection, target: str, ref: MessageRef) -> int:
    """Where ``ref`` sits in history order: 2*seq on a message, odd just before a message."""
    if ref.msgid is not None:
        return 2 * await _seq_of(c, target, ref.msgid)
    assert ref.time_ms is not None
    return 2 * await _first_at(c, target, ref.time_ms) - 1


if TYPE_CHECKING:
    # mypy proves here that PostgresStore follows the Store interface.
    def _follows_the_interface(store: PostgresStore) -> Store:
        return store
