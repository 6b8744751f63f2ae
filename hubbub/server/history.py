"""History on the server side: what is kept, replay on join, durable channels, retention.

The Store (``hubbub.store``) keeps the rows; this module decides what goes in (DESIGN.md
principle 5: appended to the turn's batch, committed before delivery), who may read it back, and
how stored rows become messages again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hubbub.protocol import Message
from hubbub.store import (
    ChannelRecord,
    MessageRef,
    SQLiteStore,
    StoredMessage,
    account_side,
    dm_key,
    dm_peer,
    open_store,
    side_account,
)

from . import caps as capmod
from .world import Channel, ListEntry
from .writer import StoreWriter

if TYPE_CHECKING:
    from .app import Server
    from .session import Session

log = logging.getLogger(__name__)

# Client-only tags worth keeping in history; typing notifications and the like are not.
KEPT_TAGS = frozenset({"+draft/react", "+draft/reply", "+draft/channel-context", "+reply", "+react"})
# Commands a plain client is shown when history is replayed; the rest are events.
MESSAGES = frozenset({"PRIVMSG", "NOTICE"})
# Seconds between two background retention passes, and rows deleted per pass.
RETENTION_INTERVAL = 30.0
RETENTION_BUDGET = 5000


class History:
    """The server's link to its Store."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.settings = server.settings
        self.store: SQLiteStore | None = None  # the loop's connection: reads only
        self.writer: StoreWriter | None = None  # every write, on its own thread
        # Channels alive when the server last stopped (key -> created_ms, private), whose lives a
        # new member may continue; see channel_created.
        self._lives: dict[str, tuple[int, bool]] = {}
        self._retention: asyncio.TimerHandle | None = None
        # Connections that are sides of direct conversations, by side, to name them in TARGETS.
        self._connections: weakref.WeakValueDictionary[str, Session] = weakref.WeakValueDictionary()
        # Read markers moved by a replay whose write has not returned yet, by (account id, target):
        # a login in the meantime must not be shown the same messages again.
        self._unsaved_marks: dict[tuple[str, str], int] = {}

    # lifecycle --------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the store in the data directory and bring back the persistent channels."""
        self.store = open_store(self.settings.data_dir)
        self.writer = StoreWriter(self.store.path, self.server.loop)
        try:
            self.writer.start()
        except BaseException:
            self.store.close()
            self.store = None
            raise
        self.server.delivery.writer = self.writer
        world = self.server.world
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

    def reading(self) -> SQLiteStore | None:
        """The store, to read from the loop.

        Commands that read history wait until what was recorded before them is committed
        (``after_commit`` in the command table), so a query never misses a line the client sent
        just before it.
        """
        return self.store

    def close(self) -> None:
        """Stop the retention timer, finish the writes, and close the store."""
        if self._retention is not None:
            self._retention.cancel()
        if self.writer is not None:
            self.writer.stop()
            self.writer = None
            self.server.delivery.writer = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def retain(self) -> asyncio.Future[int]:
        """Run one retention pass now, on the writer; a future of how many messages it deleted."""
        future: asyncio.Future[int] = self.server.loop.create_future()
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
        self._retention = self.server.loop.call_later(delay, self._retain)

    # writing ----------------------------------------------------------------------------------

    def direct(self, session: Session, peer_side: str, peer_name: str) -> tuple[str, dict[str, str]]:
        """The conversation key of ``session`` with the side ``peer_side`` (shown as ``peer_name``),
        and the display names of both sides, to publish a direct message under."""
        me = self.dm_side(session)
        return dm_key(me, peer_side), {me: self.side_name(session), peer_side: peer_name}

    # channels ---------------------------------------------------------------------------------

    @property
    def durable(self) -> bool:
        """Whether channels that were used outlive being empty (``channel_lifetime``)."""
        return self.settings.channel_lifetime == "durable"

    def pinned(self, channel: Channel) -> bool:
        """Whether ``channel`` exists whatever happens in it: configured or registered."""
        world = self.server.world
        if channel.key_folded in self.server.registry.channels:
            return True
        return any(world.fold(name) == channel.key_folded for name in self.settings.persistent_channels)

    def save_channel(self, channel: Channel) -> None:
        """Write a persistent (configured, registered or durable) channel's state."""
        if self.store is None or not channel.persistent:
            return
        record = _record(channel)
        self.server.delivery.write(lambda store: store.save_channel(record))

    def channel_used(self, channel: Channel) -> None:
        """Something worth keeping happened in ``channel``: a message kept in history, a topic, a
        channel mode or a list entry. With durable channels it becomes persistent now, so its
        record is written before the message or change that made it so is committed (a crash
        right after that never leaves history behind without its channel)."""
        if channel.persistent or not self.durable:
            return
        channel.persistent = True
        self.save_channel(channel)

    def operator_given(self, channel: Channel) -> None:
        """Somebody became an operator of ``channel``: from now on nobody is made one just by
        being first into it when it is empty (ChanServ's access list still gives status)."""
        if not channel.had_ops:
            channel.had_ops = True
            self.save_channel(channel)

    def channel_created(self, channel: Channel) -> None:
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
            channel.created = self.server.delivery.start_ms() / 1000
        self._record_life(channel)

    def channel_changed(self, channel: Channel) -> None:
        """Modes or topic changed: save a persistent channel, note whether it is closed."""
        self.save_channel(channel)
        if self.store is not None and _private(channel) != channel.recorded_private:
            self._record_life(channel)

    def channel_ended(self, channel: Channel) -> None:
        """An emptied (or dropped) channel is gone; its history stays behind the next one's start."""
        self._lives.pop(channel.key_folded, None)  # a life that ended is not continued
        if self.store is None:
            return
        key = channel.key_folded
        self.server.delivery.write(lambda store: store.end_channel_life(key))

    def _record_life(self, channel: Channel) -> None:
        private = _private(channel)
        key, created_ms = channel.key_folded, channel.created_ms
        self.server.delivery.write(lambda store: store.begin_channel_life(key, created_ms, private))
        channel.recorded_private = private

    def forget_channel(self, channel: Channel) -> None:
        """Delete a channel's saved state (it stopped being persistent)."""
        if self.store is not None:
            key = channel.key_folded
            self.server.delivery.write(lambda store: store.delete_channel(key))

    def _forget_unused_channels(self) -> None:
        """At each retention pass: an empty durable channel with no history left and
        nothing else to keep (no topic, key, limit or list entry, and the default modes +nt)
        is forgotten, as if it had never been used. Configured and registered channels stay."""
        store = self.store
        if store is None:
            return
        for channel in list(self.server.world.channels.values()):
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
            self.server.end_channel(channel)

    # reading ----------------------------------------------------------------------------------

    def visible_since(self, session: Session, target: str, channel: Channel | None) -> int | None:
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

    def dm_side(self, session: Session) -> str:
        """Who ``session`` is in direct conversations: its account's id, else its connection.

        A connection's side is made when it connects and dies with it; it stays the same across
        the connection's nick changes. Neither kind is ever given to anybody else.
        """
        if session.account_id is not None:
            return account_side(session.account_id)
        holder = session.primary or session
        self._connections[holder.identity] = holder
        return holder.identity

    def nick_changed(self, session: Session) -> None:
        """A user changed nick: a connection's conversations remember its new one (for TARGETS)."""
        if session.account_id is not None:
            return  # an account is shown by its own name once its user is gone
        holder = session.primary or session
        if self._connections.get(holder.identity) is not holder:
            return  # it never had a direct conversation
        if self.store is None:
            return
        side, nick = holder.identity, holder.nick
        # On the writer, after the messages sent under the old nick.
        self.server.delivery.write(lambda store: store.rename_side(side, nick))

    def side_name(self, session: Session) -> str:
        """The name a direct-conversation side is remembered by: the account, else the nick."""
        return session.account or (session.primary or session).nick

    def peer_side(self, nick: str) -> tuple[str, str] | None:
        """The side and display name meant by ``nick``, or None when it names nobody.

        An online user is its own side; an offline nick stands for the account that owns it.
        """
        peer = self.server.world.find_user(nick)
        if peer is not None:
            return self.dm_side(peer), self.side_name(peer)
        account = self.server.accounts.get(nick)
        if account is not None:
            return account_side(account.id), account.name
        return None

    def dm_target(self, session: Session, nick: str) -> str | None:
        """The conversation key of ``session``'s direct messages with ``nick``, or None."""
        peer = self.peer_side(nick)
        return dm_key(self.dm_side(session), peer[0]) if peer is not None else None

    def side_display(self, side: str, remembered: str | None) -> str | None:
        """The nick or name to show for a direct-conversation side, or None if there is none.

        An online connection or account shows its current nick; an offline account its name;
        anything else the name remembered with the conversation.
        """
        account_id = side_account(side)
        if account_id is not None:
            account = self.server.accounts.by_id(account_id)
            if account is None:
                return remembered  # dropped: nobody can be this side again
            world = self.server.world
            for user in world.accounts.get(account.key, ()):
                if user.registered and not user.gone and user.account_id == account_id:
                    return (user.primary or user).nick
            return account.name
        holder = self._connections.get(side)
        if holder is not None and not holder.gone:
            return holder.nick
        return remembered

    def peer_names(self, me: str, keys: Iterable[str]) -> dict[str, str]:
        """For each direct-conversation key of ``me``: the name to show for the other side."""
        store = self.store
        keys = list(keys)
        remembered = store.dm_names(keys) if store is not None else {}
        shown: dict[str, str] = {}
        for key in keys:
            other = dm_peer(key, me)
            name = self.side_display(other, remembered.get(key, {}).get(other))
            if name is not None:
                shown[key] = name
        return shown

    def replay_direct(self, session: Session) -> None:
        """Show a just logged-in client without chathistory the direct messages it has not read.

        Conversations of the account with a message from someone else after its read marker (and
        inside the on-join window) are replayed, each in a ``chathistory`` batch; the marker then
        moves past them so the next login does not show them again. Clients with
        ``draft/chathistory`` find them with CHATHISTORY TARGETS instead.
        """
        settings = self.settings
        accounts = self.server.accounts
        store, marks = self.reading(), accounts.store
        account_id = session.account_id
        if store is None or marks is None or account_id is None or settings.history_on_join <= 0:
            return
        if "draft/chathistory" in session.caps:
            return
        me = self.dm_side(session)
        now_ms = int(time.time() * 1000)
        window = now_ms - int(settings.history_on_join_window * 1000)
        fold = self.server.world.fold
        mine = fold(session.account or "")
        try:
            conversations = store.targets(window, now_ms + 1, 100, channels=(), participant=me)
            names = self.peer_names(me, [key for key, _last_ms in conversations])
            for key, _last_ms in conversations:
                name = names.get(key)
                if name is None:
                    continue
                marker = marks.read_marker(account_id, fold(name))
                unsaved = self._unsaved_marks.get((account_id, fold(name)))
                if unsaved is not None:
                    marker = max(marker or 0, unsaved)
                since = max(window, marker if marker is not None else 0)
                rows = store.latest(key, settings.history_on_join, MessageRef(time_ms=since))
                rows = [r for r in rows if r.command in MESSAGES]
                if not any(r.account is None or fold(r.account) != mine for r in rows):
                    continue
                self.send_rows(session, rows, name)
                self._mark_read(account_id, fold(name), rows[-1].time_ms)
        except Exception:
            log.exception("direct message replay failed for %r", session)

    def _mark_read(self, account_id: str, target: str, time_ms: int) -> None:
        key = (account_id, target)
        self._unsaved_marks[key] = max(time_ms, self._unsaved_marks.get(key, 0))

        def saved(_future: asyncio.Future[object]) -> None:
            if self._unsaved_marks.get(key) == time_ms:
                del self._unsaved_marks[key]

        self.server.accounts.write_later(
            lambda store: store.set_read_marker(account_id, target, time_ms), "move a read marker"
        ).add_done_callback(saved)

    def to_message(self, row: StoredMessage) -> Message:
        """A stored row as a message to send again, with its original time and msgid."""
        tags = dict(row.tags)
        tags["time"] = _stamp(row.time_ms)
        tags["msgid"] = row.msgid
        if row.account:
            tags["account"] = row.account
        return Message(row.command, row.params, row.source, tags)

    def send_rows(self, session: Session, rows: list[StoredMessage], target_name: str) -> None:
        """Send rows to ``session``: events only with event-playback, TAGMSG only with message-tags,
        inside a ``chathistory`` batch when the client has ``batch``."""
        events = "draft/event-playback" in session.caps
        tagmsg = bool(session.view & capmod.TAGS)
        rows = [
            r
            for r in rows
            if r.command in MESSAGES
            or (r.command == "TAGMSG" and tagmsg)
            or (events and r.command != "TAGMSG")
        ]
        batch = session.open_batch("chathistory", target_name)
        for row in rows:
            session.send(self.to_message(row))
        session.close_batch(batch)

    def replay_on_join(self, session: Session, channel: Channel) -> None:
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
            rows = store.latest(channel.key_folded, settings.history_on_join, MessageRef(time_ms=since - 1))
        except Exception:
            log.exception("history replay failed for %s", channel.name)
            return
        rows = [r for r in rows if r.command in MESSAGES]
        if rows:
            self.send_rows(session, rows, channel.name)


def time_text(time_ms: int) -> str:
    """The IRCv3 server-time text of ``time_ms`` (milliseconds since the epoch)."""
    return _stamp(time_ms)


def _stamp(time_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time_ms // 1000)) + f".{time_ms % 1000:03d}Z"


def _entries(entries: list[ListEntry]) -> tuple[tuple[str, str, int], ...]:
    return tuple((e.mask, e.setter, int(e.set_at * 1000)) for e in entries)


def _private(channel: Channel) -> bool:
    return bool(channel.modes & {"i", "s"}) or channel.key is not None


def _worth_keeping(channel: Channel) -> bool:
    """Whether an empty channel holds anything besides its history: a topic, modes or lists."""
    return bool(
        channel.topic
        or channel.modes != {"n", "t"}
        or channel.key is not None
        or channel.limit is not None
        or channel.bans
        or channel.excepts
        or channel.invex
    )


def _record(channel: Channel) -> ChannelRecord:
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
    )


def _apply_record(channel: Channel, record: ChannelRecord) -> None:
    channel.persistent = True
    channel.created = record.created_ms / 1000
    channel.topic = record.topic
    channel.topic_setter = record.topic_setter
    channel.topic_time = record.topic_time_ms / 1000
    channel.modes = set(record.modes)
    channel.key = record.channel_key
    channel.limit = record.limit
    channel.bans = [ListEntry(m, s, t / 1000) for m, s, t in record.bans]
    channel.excepts = [ListEntry(m, s, t / 1000) for m, s, t in record.excepts]
    channel.invex = [ListEntry(m, s, t / 1000) for m, s, t in record.invites]
    channel.had_ops = record.had_ops
