"""The values the history store keeps, the keys of direct conversations, and the Store interface.

Everything here is independent of the storage engine: the SQLite implementation follows this
interface and a PostgreSQL one must be able to follow it too.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "EMPTY_TAGS",
    "ChannelRecord",
    "ListEntry",
    "MessageRef",
    "Row",
    "SearchQuery",
    "SearchRow",
    "Store",
    "StoreError",
    "StoredMessage",
    "account_side",
    "dm_key",
    "dm_peer",
    "dm_sides",
    "new_account_id",
    "new_connection_side",
    "side_account",
]

EMPTY_TAGS: Mapping[str, str] = types.MappingProxyType({})
"""The shared, read-only empty tag map (the default of ``StoredMessage.tags``)."""

# A direct-conversation key is "@" + the two sides in sorted order joined by ",". Channel names
# start with "#" or "&" (CHANTYPES), so a key starting with "@" can never name a channel; a comma
# is forbidden in nicknames (Modern IRC) and in channel names, so the split is unambiguous.
_DM_PREFIX = "@"
_DM_SEPARATOR = ","

# The sides of a direct conversation are identities, never nicks (DESIGN.md principle 9): an
# account by its immutable id ("a:<id>"), or one connection of a user who is not logged in
# ("c:<random>", made when the connection is). Both are random and never given out again, so
# nobody who later takes a nick, or registers a dropped account's name, becomes a side of an
# earlier conversation. "x:<nick>" marks a side the schema 5 migration could not tie to an
# account: no live identity is ever "x:", so those conversations are kept but unreadable.
ACCOUNT_SIDE = "a:"
CONNECTION_SIDE = "c:"
ORPHAN_SIDE = "x:"


class StoreError(Exception):
    """A history operation failed: unknown message reference, duplicate msgid, broken database."""


@contextlib.contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Turn the database's exceptions into ``StoreError`` (the store's one exception family)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"{what}: {exc}") from exc


class StoredMessage(NamedTuple):
    """One message or event as kept in history, in the form the server relays it.

    A named tuple rather than a frozen dataclass: one is made for every message kept and every
    row read back (a CHATHISTORY page is a hundred), and a tuple is made several times faster.
    """

    msgid: str
    """Unique id assigned by the server."""
    time_ms: int
    """Server time, milliseconds since the epoch, UTC."""
    target: str
    """Conversation key: a casefolded channel name, or ``dm_key(a, b)``."""
    command: str
    """PRIVMSG, NOTICE, TAGMSG, or an event: JOIN PART QUIT KICK TOPIC NICK MODE."""
    source: str
    """``nick!user@host`` of the sender at that time."""
    params: tuple[str, ...]
    """The parameters as relayed, e.g. ``("#chat", "hello")``."""
    account: str | None = None
    """The sender's account, if logged in."""
    tags: Mapping[str, str] = EMPTY_TAGS
    """Client-only tags worth keeping (``+draft/react``, ``+draft/reply`` ...); read-only."""


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A CHATHISTORY reference: exactly one of ``msgid`` and ``time_ms`` is set."""

    msgid: str | None = None
    time_ms: int | None = None

    def __post_init__(self) -> None:
        if (self.msgid is None) == (self.time_ms is None):
            raise ValueError("a MessageRef needs exactly one of msgid and time_ms")


Row = tuple[str, int, str, str, str, str | None, str | None]
"""One message of a conversation as the store keeps it: msgid, time_ms, command, source, params
(in their line form, see params.py), account, tags (a JSON object, or None)."""

ListEntry = tuple[str, str, int]
"""A channel list entry (ban, exception, invite exception): (mask, setter, set time in ms)."""


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """The saved state of a persistent or durable channel, written whenever it changes."""

    name: str
    """Display name, as created."""
    key: str
    """Casefolded name, the primary key."""
    created_ms: int
    topic: str = ""
    topic_setter: str = ""
    topic_time_ms: int = 0
    modes: str = ""
    """Simple flag modes such as ``"nt"``."""
    channel_key: str | None = None
    """The +k key, if set."""
    limit: int | None = None
    """The +l member limit, if set."""
    bans: tuple[ListEntry, ...] = ()
    excepts: tuple[ListEntry, ...] = ()
    invites: tuple[ListEntry, ...] = ()
    had_ops: bool = False
    """Whether anybody was ever its operator (then nobody becomes one just by joining first)."""
    metadata: tuple[tuple[str, str], ...] = ()
    """Its draft/metadata-2 keys and values, by key."""


SearchRow = tuple[str, str, int, str, str, str, str | None, str | None]
"""target, then a ``Row`` (msgid, time_ms, command, source, params, account, tags)."""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to look for, and where (see ``search.search_rows``; the Store's ``search`` takes it)."""

    text: str
    """What the user typed: words, all of which must occur (in any order)."""
    scopes: Sequence[tuple[str, int]]
    """The conversations to look in: (key, oldest time in ms one may see there)."""
    limit: int
    after_ms: int | None = None
    """Only messages stamped at or after this time."""
    before_ms: int | None = None
    """Only messages stamped at or before this time."""
    source_nick: str | None = None
    """Only messages whose source's nick folds (with ``fold``) to this."""


def dm_key(a: str, b: str) -> str:
    """The conversation key of the direct messages between two sides (identities, see above).

    Symmetric (``dm_key(a, b) == dm_key(b, a)``) and never equal to a channel name.
    """
    for side in (a, b):
        if not side or _DM_SEPARATOR in side:
            raise ValueError(f"cannot build a direct-conversation key from {side!r}")
    lo, hi = (a, b) if a <= b else (b, a)
    return f"{_DM_PREFIX}{lo}{_DM_SEPARATOR}{hi}"


def dm_sides(key: str) -> tuple[str, str] | None:
    """The two sides of a direct-conversation key, or None if ``key`` is not one (a channel)."""
    if not key.startswith(_DM_PREFIX):
        return None
    lo, sep, hi = key[1:].partition(_DM_SEPARATOR)
    if not sep or not lo or not hi:
        return None
    return lo, hi


def new_account_id() -> str:
    """A fresh account id: random, so a later account of the same name never gets it again."""
    return secrets.token_hex(8)


def new_connection_side() -> str:
    """A fresh direct-conversation side for one connection of a user who is not logged in."""
    return CONNECTION_SIDE + secrets.token_hex(8)


def account_side(account_id: str) -> str:
    """The direct-conversation side of the account with id ``account_id``."""
    return ACCOUNT_SIDE + account_id


def side_account(side: str) -> str | None:
    """The account id behind a direct-conversation side, or None if it is not an account's."""
    return side[len(ACCOUNT_SIDE) :] if side.startswith(ACCOUNT_SIDE) else None


def dm_peer(key: str, me: str) -> str:
    """The other side of the direct conversation ``key`` as seen by ``me``."""
    sides = dm_sides(key)
    if sides is None or me not in sides:
        raise ValueError(f"{me!r} is not a side of {key!r}")
    return sides[1] if sides[0] == me else sides[0]


class Store(Protocol):
    """Persistent history and persistent channels; every query answers in history order.

    ``SQLiteStore`` (sqlite.py) and ``PostgresStore`` (postgres.py) follow it.
    """

    def append(self, messages: Sequence[StoredMessage], names: Mapping[str, str] | None = None) -> object:
        """Store ``messages`` in one transaction, in order; history order is append order.

        ``names`` gives the display name (nick or account name) of direct-conversation sides; each
        direct conversation in the batch remembers the latest name of its sides found there.
        PostgreSQL returns each message's seq in its conversation; SQLite returns None.
        """

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One transaction around the block's calls on this store; a nested one joins it."""
        ...

    def latest_rows(self, target: str, limit: int, after: MessageRef | None = None) -> list[Row]:
        """:meth:`latest` as rows (``Row``), for playback written straight from them."""
        ...

    def before_rows(self, target: str, ref: MessageRef, limit: int) -> list[Row]:
        """:meth:`before` as rows."""
        ...

    def after_rows(self, target: str, ref: MessageRef, limit: int) -> list[Row]:
        """:meth:`after` as rows."""
        ...

    def around_rows(self, target: str, ref: MessageRef, limit: int) -> list[Row]:
        """:meth:`around` as rows."""
        ...

    def between_rows(self, target: str, start: MessageRef, end: MessageRef, limit: int) -> list[Row]:
        """:meth:`between` as rows."""
        ...

    def search(
        self, query: SearchQuery, *, fold: Callable[[str], str] | None = None, budget_s: float = 0.0
    ) -> list[SearchRow]:
        """Messages whose text matches ``query`` in its conversations, newest last (search.py)."""
        ...

    def direct_conversations(self, side: str) -> list[str]:
        """The keys of every direct conversation ``side`` is one of the two sides of."""
        ...

    def conversations(self) -> list[tuple[str, int, int]]:
        """Every stored conversation as (key, message count, time of latest message), by key."""
        ...

    def iter_messages(
        self, target: str | None = None, since_ms: int | None = None, chunk: int = 1000
    ) -> Iterator[StoredMessage]:
        """Every message (of ``target`` if given, at or after ``since_ms`` if given) in history order."""
        ...

    def known_messages(self, messages: Iterable[StoredMessage]) -> set[tuple[str, str]]:
        """The (msgid, target) pairs of ``messages`` that are already stored."""
        ...

    def rename_channel(self, old: str, new: str) -> None:
        """Move everything kept under the channel key ``old`` to ``new``."""

    def latest(self, target: str, limit: int, after: MessageRef | None = None) -> list[StoredMessage]:
        """The newest ``limit`` messages of ``target``, only those strictly after ``after`` if given."""
        ...

    def before(self, target: str, ref: MessageRef, limit: int) -> list[StoredMessage]:
        """The ``limit`` messages immediately before ``ref`` (exclusive)."""
        ...

    def after(self, target: str, ref: MessageRef, limit: int) -> list[StoredMessage]:
        """The first ``limit`` messages after ``ref`` (exclusive)."""
        ...

    def around(self, target: str, ref: MessageRef, limit: int) -> list[StoredMessage]:
        """About ``limit / 2`` messages on each side of ``ref``; a msgid ref includes its message."""
        ...

    def between(self, target: str, start: MessageRef, end: MessageRef, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages strictly between ``start`` and ``end``, the ones next to ``start``."""
        ...

    def targets(
        self, start_ms: int, end_ms: int, limit: int, *, channels: Iterable[str], participant: str
    ) -> list[tuple[str, int]]:
        """(key, latest message time) of the given channels and ``participant``'s direct conversations."""
        ...

    def find(self, msgid: str) -> StoredMessage | None:
        """The message with ``msgid``, or None."""
        ...

    def dm_names(self, targets: Iterable[str]) -> dict[str, dict[str, str]]:
        """The remembered display names of the sides of each direct conversation in ``targets``."""
        ...

    def rename_side(self, side: str, name: str) -> None:
        """Remember ``name`` as the display name of ``side`` in all its direct conversations."""

    def message(self, target: str, msgid: str) -> StoredMessage | None:
        """The message ``msgid`` of ``target``'s history, or None."""
        ...

    def delete_message(self, target: str, msgid: str) -> bool:
        """Delete the message ``msgid`` from ``target``'s history (a redaction); whether it was there."""
        ...

    def delete_target(self, target: str) -> int:
        """Delete the whole history of ``target``; return the number of messages deleted."""
        ...

    def prune(
        self, *, max_age_ms: int | None, max_per_target: int | None, now_ms: int, budget: int = 5000
    ) -> int:
        """Delete at most ``budget`` messages past the retention limits; return how many."""
        ...

    def save_channel(self, record: ChannelRecord) -> None:
        """Insert or replace a persistent channel."""

    def load_channels(self) -> list[ChannelRecord]:
        """Every persistent channel."""
        ...

    def delete_channel(self, name: str) -> None:
        """Forget a persistent channel, by its casefolded name."""

    def begin_channel_life(self, key: str, created_ms: int, private: bool) -> None:
        """Record that a channel exists since ``created_ms``."""
        ...

    def end_channel_life(self, key: str) -> None:
        """A channel was emptied and is gone."""
        ...

    def channel_lives(self) -> dict[str, tuple[int, bool]]:
        """Recorded channel lives: key -> (created_ms, private)."""
        ...

    def close(self) -> None:
        """Flush and close; the store cannot be used afterwards."""
