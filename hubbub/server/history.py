"""History on the server side: what is kept, replay on join, durable channels, retention.

The Store (``hubbub.store``) keeps the rows; this module decides what goes in (DESIGN.md
principle 5: appended to the turn's batch, committed before delivery), who may read it back, and
how stored rows become messages again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from hubbub.store import (
    ChannelRecord,
    MessageRef,
    SQLiteStore,
    Store,
    StoredMessage,
    open_store,
)
from hubbub.store.sqlite import Row, encode_row
from hubbub.store.url import open_store_url

from . import playback
from .world import DEFAULT_CHANNEL_MODES, Channel, ListEntry
from .writer import StoreWriter

if TYPE_CHECKING:
    from .config import Settings
    from .delivery import Delivery
    from .session import Session
    from .world import World

log = logging.getLogger(__name__)

# Commands a plain client is shown when history is replayed; the rest are events.
MESSAGES = frozenset({"PRIVMSG", "NOTICE"})
# Pages of history_on_join rows the replay on join reads at most to find that many messages past
# the reactions (and, with history_events, the joins and parts) between them.
REPLAY_PAGES = 10
# Seconds between two background retention passes, and rows deleted per pass.
RETENTION_INTERVAL = 30.0
RETENTION_BUDGET = 5000


class History:
    """The server's link to its Store."""

    def __init__(self, settings: Settings, world: World[Session], delivery: Delivery) -> None:
        self.settings = settings  # REHASH sets it again
        self.world = world
        self.delivery = delivery
        # Set by the server: whether a channel is registered (ChanServ keeps it alive), and
        # how an empty channel that retention left nothing to keep is ended.
        self.registered: Callable[[str], bool] = lambda key: False
        self.end_channel: Callable[[Channel[Session]], None] = lambda channel: None
        self.store: Store | None = None  # the loop's connection: reads only
        self.writer: StoreWriter | None = None  # every write, on its own thread
        # Channels alive when the server last stopped (key -> created_ms, private), whose lives a
        # new member may continue; see channel_created.
        self._lives: dict[str, tuple[int, bool]] = {}
        self._retention: asyncio.TimerHandle | None = None

    # lifecycle --------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the store (the data directory's, or PostgreSQL's with ``store_url``) and bring
        back the persistent channels."""
        settings = self.settings
        loop = asyncio.get_running_loop()
        if settings.store_url:
            self.store = self._open_postgres(loop)
        else:
            sqlite = open_store(settings.data_dir)
            self.store = sqlite
            self.writer = StoreWriter(sqlite.path, loop)
            try:
                self.writer.start()
            except BaseException:
                self.store.close()
                self.store = None
                raise
        self.delivery.writer = self.writer
        world = self.world
        for record in self.store.load_channels():
            channel = world.add_channel(record.name)
            _apply_record(channel, record)
        for name in self.settings.persistent_channels:
            channel = world.find_channel(name) or world.add_channel(name)
            if not channel.persistent:
                channel.persistent = True
                self.save_channel(channel)
        # Channels that exist from start-up continue their lives already; the rest wait for a joiner.
        self._lives = {k: v for k, v in self.store.channel_lives().items() if k not in world.channels}
        if self.settings.retention_days > 0 or self.settings.retention_messages > 0:
            self._retention = asyncio.get_running_loop().call_later(1.0, self._retain)

    def _open_postgres(self, loop: asyncio.AbstractEventLoop) -> Store:
        """The writer on PostgreSQL, then the loop's store (docs/postgresql.md).

        The writer's thread opens the database first, bringing its schema up to date with all
        the time ``store_timeout`` gives. The loop's store only reads, each read a round trip
        bounded by ``store_read_timeout``: the loop serves everyone and must not wait long on a
        database that stopped answering.
        """
        settings = self.settings
        self.writer = StoreWriter(
            Path(settings.data_dir), loop, store_url=settings.store_url, timeout_s=settings.store_timeout
        )
        self.writer.start()
        try:
            return open_store_url(
                settings.store_url, timeout_s=settings.store_read_timeout, readers=settings.store_readers
            )
        except BaseException:
            self.writer.stop()
            self.writer = None
            raise

    def reading(self) -> SQLiteStore | None:
        """The store, to read from the loop.

        Commands that read history wait until what was recorded before them is committed
        (``after_commit`` in the command table), so a query never misses a line the client sent
        just before it.
        """
        # Its readers name SQLiteStore; the PostgreSQL store follows the same interface (Store).
        return cast("SQLiteStore | None", self.store)

    def close(self) -> None:
        """Stop the retention timer, finish the writes, and close the store."""
        if self._retention is not None:
            self._retention.cancel()
        if self.writer is not None:
            self.writer.stop()
            self.writer = None
            self.delivery.writer = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def retain(self) -> asyncio.Future[int]:
        """Run one retention pass now, on the writer; a future of how many messages it deleted."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if self.writer is None:
            future.set_result(0)
            return future
        settings = self.settings
        max_age_ms = int(settings.retention_days * 86400_000) or None
        max_per_target = settings.retention_messages or None
        now_ms = int(time.time() * 1000)

        def prune(store: SQLiteStore) -> int:
            return store.prune(
                max_age_ms=max_age_ms, max_per_target=max_per_target, now_ms=now_ms, budget=RETENTION_BUDGET
            )

        def pruned(deleted: int | None, error: BaseException | None) -> None:
            if error is not None:
                log.error("retention pass failed: %s", error)
            else:
                self._forget_unused_channels()
            if not future.done():
                future.set_result(deleted or 0)

        self.writer.submit(prune, pruned)
        return future

    def _retain(self) -> None:
        self._retention = None
        if self.writer is None:
            return
        self.retain().add_done_callback(lambda done: self._retained(done.result()))

    def _retained(self, deleted: int) -> None:
        if self.writer is None:
            return
        # More to do: come back soon; otherwise at the usual pace. Each pass is small, so
        # delivery never waits long behind it.
        delay = 0.05 if (deleted or 0) >= RETENTION_BUDGET else RETENTION_INTERVAL
        self._retention = asyncio.get_running_loop().call_later(delay, self._retain)

    # writing ----------------------------------------------------------------------------------

    # channels ---------------------------------------------------------------------------------

    @property
    def durable(self) -> bool:
        """Whether channels that were used outlive being empty (``channel_lifetime``)."""
        return self.settings.channel_lifetime == "durable"

    def pinned(self, channel: Channel[Session]) -> bool:
        """Whether ``channel`` exists whatever happens in it: configured or registered."""
        world = self.world
        if self.registered(channel.key_folded):
            return True
        return any(world.fold(name) == channel.key_folded for name in self.settings.persistent_channels)

    def save_channel(self, channel: Channel[Session]) -> None:
        """Write a persistent (configured, registered or durable) channel's state."""
        if self.store is None or not channel.persistent:
            return
        record = _record(channel)
        self.delivery.write(lambda store: store.save_channel(record))

    def channel_used(self, channel: Channel[Session]) -> None:
        """Something worth keeping happened in ``channel``: a message kept in history, a topic, a
        channel mode or a list entry. With durable channels it becomes persistent now, so its
        record is written before the message or change that made it so is committed (a crash
        right after that never leaves history behind without its channel)."""
        if channel.persistent or not self.durable:
            return
        channel.persistent = True
        self.save_channel(channel)

    def operator_given(self, channel: Channel[Session]) -> None:
        """Somebody became an operator of ``channel``: from now on nobody is made one just by
        being first into it when it is empty (ChanServ's access list still gives status)."""
        if not channel.had_ops:
            channel.had_ops = True
            self.save_channel(channel)

    def channel_created(self, channel: Channel[Session]) -> None:
        """A channel came into being: continue its life from before a restart, or begin one.

        The privacy rule is that a channel emptied (or dropped) and made anew starts with a clean
        history. A restart does not empty a channel, so an open channel (not +i, +k or +s when the
        server stopped) keeps its creation time and, with it, its history. A closed one starts
        afresh: its modes are gone, and a stranger could be the first in. A new life begins after
        every message stamped so far, so not even one of the same millisecond belongs to it.
        """
        if self.store is None:
            return
        earlier = self._lives.pop(channel.key_folded, None)
        if earlier is not None and not earlier[1]:
            channel.created = earlier[0] / 1000
        else:
            channel.created = self.delivery.start_ms() / 1000
        self._record_life(channel)

    def channel_changed(self, channel: Channel[Session]) -> None:
        """Modes or topic changed: save a persistent channel, note whether it is closed."""
        self.save_channel(channel)
        if self.store is not None and _private(channel) != channel.recorded_private:
            self._record_life(channel)

    def channel_ended(self, channel: Channel[Session]) -> None:
        """An emptied (or dropped) channel is gone; its history stays behind the next one's start."""
        self._lives.pop(channel.key_folded, None)  # a life that ended is not continued
        if self.store is None:
            return
        key = channel.key_folded
        self.delivery.write(lambda store: store.end_channel_life(key))

    def holds_newer_history(self, key: str, channel: Channel[Session]) -> bool:
        """Whether ``key`` holds history from within ``channel``'s life (a RENAME onto it would
        show ``channel``'s members what an earlier channel of that name said). Read once what was
        recorded before is committed (``after_commit``)."""
        store = self.reading()
        if store is None or key == channel.key_folded:
            return False
        return bool(store.latest(key, 1, MessageRef(time_ms=channel.created_ms - 1)))

    def channel_renamed(self, channel: Channel[Session], old_key: str) -> None:
        """``channel`` was renamed from ``old_key``: its history, life, saved record, registration
        and read markers move to the new key in one transaction, in turn with this turn's writes
        (so the RENAME recorded after it lands in the moved conversation)."""
        new_key = channel.key_folded
        self._lives.pop(new_key, None)  # an earlier channel's life under the new name is not continued
        if self.store is None:
            return
        if old_key != new_key:
            self.delivery.write(lambda store: store.rename_channel(old_key, new_key))
        self.save_channel(channel)  # the record names the channel as it is written now

    def _record_life(self, channel: Channel[Session]) -> None:
        private = _private(channel)
        key, created_ms = channel.key_folded, channel.created_ms
        self.delivery.write(lambda store: store.begin_channel_life(key, created_ms, private))
        channel.recorded_private = private

    def forget_channel(self, channel: Channel[Session]) -> None:
        """Delete a channel's saved state (it stopped being persistent)."""
        if self.store is not None:
            key = channel.key_folded
            self.delivery.write(lambda store: store.delete_channel(key))

    def _forget_unused_channels(self) -> None:
        """At each retention pass: an empty durable channel with no history left and
        nothing else to keep (no topic, key, limit or list entry, and the default modes +nt)
        is forgotten, as if it had never been used. Configured and registered channels stay."""
        store = self.store
        if store is None:
            return
        for channel in list(self.world.channels.values()):
            if channel.members or not channel.persistent or _worth_keeping(channel) or self.pinned(channel):
                continue
            try:
                if store.latest(channel.key_folded, 1):
                    continue
            except Exception:
                log.exception("could not read the history of %s", channel.name)
                continue
            log.info("forgetting %s: empty, and retention removed its last message", channel.name)
            channel.persistent = False
            self.forget_channel(channel)
            self.end_channel(channel)

    # reading ----------------------------------------------------------------------------------

    def visible_since(self, session: Session, target: str, channel: Channel[Session] | None) -> int | None:
        """The oldest time (ms) of ``target``'s history that ``session`` may read, or None: none.

        Channels: members may read (everyone, with ``history_public``) the history of the
        channel's life: all of it for a channel that lived on (durable, persistent, or restarted
        while open), none from before it was made anew after being emptied or dropped. A direct
        conversation is keyed by the identities of its two sides (see ``dm_side``), so whoever
        can name it is one of them and may read all of it.
        """
        if channel is not None:
            if session not in channel.members and not self.settings.history_public:
                return None
            return channel.created_ms
        return 0

    def send_rows(self, session: Session, messages: list[StoredMessage], target_name: str) -> None:
        """Send ``messages`` to ``session`` as :meth:`send_page` sends rows."""
        self.send_page(session, [encode_row(m) for m in messages], target_name)

    def send_page(self, session: Session, rows: list[Row], target_name: str, since: int = 0) -> None:
        """Send the rows stamped at ``since`` or later to ``session``: events only with
        event-playback, TAGMSG only with message-tags, inside a ``chathistory`` batch when the
        client has ``batch``."""
        events = "draft/event-playback" in session.caps
        batch = session.open_batch("chathistory", target_name)
        text = playback.page(rows, session.view, batch, since=since, events=events)
        session.write_batch(batch, text.encode())
        session.close_batch(batch)

    def replay_on_join(self, session: Session, channel: Channel[Session]) -> None:
        """Recent lines for a client that will not ask with CHATHISTORY itself."""
        settings = self.settings
        if settings.history_on_join <= 0 or "draft/chathistory" in session.caps:
            return
        store = self.reading()
        if store is None:
            return
        since = self.visible_since(session, channel.key_folded, channel)
        if since is None:
            return
        window = int((time.time() - settings.history_on_join_window) * 1000)
        since = max(since, window)
        try:
            rows = _latest_messages(store, channel.key_folded, settings.history_on_join, since)
        except Exception:
            log.exception("history replay failed for %s", channel.name)
            return
        if rows:
            self.send_rows(session, rows, channel.name)


def _latest_messages(store: Store, key: str, limit: int, since: int) -> list[StoredMessage]:
    """The newest ``limit`` PRIVMSGs and NOTICEs of ``key`` stamped at ``since`` or later.

    Read a page of ``limit`` rows at a time, back past the TAGMSGs and events between them, for at
    most :data:`REPLAY_PAGES` pages: a burst of reactions (or of joins and parts) does not hide the
    conversation before it.
    """
    found: list[StoredMessage] = []
    rows = store.latest(key, limit, MessageRef(time_ms=since - 1))
    for _ in range(REPLAY_PAGES):
        found[:0] = [r for r in rows if r.command in MESSAGES]
        if len(found) >= limit or len(rows) < limit:
            break
        older = store.before(key, MessageRef(msgid=rows[0].msgid), limit)
        rows = [r for r in older if r.time_ms >= since]
    return found[-limit:]


def _entries(entries: tuple[ListEntry, ...]) -> tuple[tuple[str, str, int], ...]:
    return tuple((e.mask, e.setter, int(e.set_at * 1000)) for e in entries)


def _private(channel: Channel[Session]) -> bool:
    return bool(channel.modes & {"i", "s"}) or channel.key is not None


def _worth_keeping(channel: Channel[Session]) -> bool:
    """Whether an empty channel holds anything besides its history: a topic, modes or lists."""
    return bool(
        channel.topic
        or channel.modes != {"n", "t"}
        or channel.key is not None
        or channel.limit is not None
        or channel.bans
        or channel.excepts
        or channel.invex
        or channel.metadata
    )


def _record(channel: Channel[Session]) -> ChannelRecord:
    return ChannelRecord(
        name=channel.name,
        key=channel.key_folded,
        created_ms=channel.created_ms,
        topic=channel.topic,
        topic_setter=channel.topic_setter,
        topic_time_ms=int(channel.topic_time * 1000),
        modes="".join(sorted(channel.modes)),
        channel_key=channel.key,
        limit=channel.limit,
        bans=_entries(channel.bans),
        excepts=_entries(channel.excepts),
        invites=_entries(channel.invex),
        had_ops=channel.had_ops,
        metadata=tuple(sorted(channel.metadata.items())),
    )


def _apply_record(channel: Channel[Session], record: ChannelRecord) -> None:
    channel.persistent = True
    channel.created = record.created_ms / 1000
    channel.topic = record.topic
    channel.topic_setter = record.topic_setter
    channel.topic_time = record.topic_time_ms / 1000
    modes = frozenset(record.modes)
    channel.modes = DEFAULT_CHANNEL_MODES if modes == DEFAULT_CHANNEL_MODES else modes
    channel.key = record.channel_key
    channel.limit = record.limit
    channel.bans = tuple(ListEntry(m, s, t / 1000) for m, s, t in record.bans)
    channel.excepts = tuple(ListEntry(m, s, t / 1000) for m, s, t in record.excepts)
    channel.invex = tuple(ListEntry(m, s, t / 1000) for m, s, t in record.invites)
    channel.had_ops = record.had_ops
    channel.metadata = dict(record.metadata)
