"""History on the server side: what is kept, replay on join, durable channels, retention.

The Store (``hubbub.store``) keeps the rows; this module decides what goes in (DESIGN.md
principle 5: appended to the turn's batch, committed before delivery), who may read it back, and
how stored rows become messages again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hubbub.protocol import Message
from hubbub.store import (
    ChannelRecord,
    MessageRef,
    SQLiteStore,
    StoredMessage,
    dm_key,
    dm_sides,
    open_store,
)

from . import caps as capmod
from .world import Channel, ListEntry

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
        self.store: SQLiteStore | None = None
        # Channels alive when the server last stopped (key -> created_ms, private), whose lives a
        # new member may continue; see channel_created.
        self._lives: dict[str, tuple[int, bool]] = {}
        self._retention: asyncio.TimerHandle | None = None

    # lifecycle --------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the store in the data directory and bring back the persistent channels."""
        self.store = open_store(self.settings.data_dir)
        self.server.delivery.store = self.store
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
        """The store, ready to be read: messages accepted earlier in this loop turn are committed
        first, so a query never misses a line the client sent just before it."""
        if self.store is not None and self.server.delivery.pending:
            self.server.delivery.commit()
        return self.store

    def close(self) -> None:
        """Stop the retention timer and close the store."""
        if self._retention is not None:
            self._retention.cancel()
        if self.store is not None:
            self.store.close()
            self.store = None
            self.server.delivery.store = None

    def retain(self) -> int:
        """Run one retention pass now; return how many messages it deleted."""
        if self.store is None:
            return 0
        settings = self.settings
        try:
            deleted = self.store.prune(
                max_age_ms=int(settings.retention_days * 86400_000) or None,
                max_per_target=settings.retention_messages or None,
                now_ms=int(time.time() * 1000),
                budget=RETENTION_BUDGET,
            )
        except Exception:
            log.exception("retention pass failed")
            return 0
        self._forget_unused_channels()
        return deleted

    def _retain(self) -> None:
        self._retention = None
        if self.store is None:
            return
        deleted = self.retain()
        # More to do: come back soon; otherwise at the usual pace. Each pass is small, so
        # delivery never waits long behind it.
        delay = 0.05 if deleted >= RETENTION_BUDGET else RETENTION_INTERVAL
        self._retention = asyncio.get_running_loop().call_later(delay, self._retain)

    # writing ----------------------------------------------------------------------------------

    def keep(self, target: str, message: Message, msgid: str, time_ms: int, account: str | None) -> None:
        """Add a relayed message to this turn's commit batch."""
        if self.store is None:
            return
        tags = {k: v for k, v in message.tags.items() if k in KEPT_TAGS}
        self.server.delivery.record(
            StoredMessage(
                msgid, time_ms, target, message.command, message.source or "", message.params, account, tags
            )
        )

    def keep_event(self, session: Session, message: Message, targets: Iterable[str]) -> None:
        """Store a JOIN/PART/QUIT/KICK/TOPIC/NICK event for each target, if events are kept."""
        if self.store is None or not self.settings.history_events:
            return
        delivery = self.server.delivery
        for target in targets:
            tags: dict[str, str] = {}
            msgid, time_ms = delivery.stamp(tags)
            delivery.record(
                StoredMessage(
                    msgid,
                    time_ms,
                    target,
                    message.command,
                    message.source or "",
                    message.params,
                    session.account,
                )
            )

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
        try:
            self.store.save_channel(_record(channel))
        except Exception:
            log.exception("could not save channel %s", channel.name)

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
        try:
            self.store.end_channel_life(channel.key_folded)
        except Exception:
            log.exception("could not record the end of %s", channel.name)

    def _record_life(self, channel: Channel) -> None:
        assert self.store is not None
        private = _private(channel)
        try:
            self.store.begin_channel_life(channel.key_folded, channel.created_ms, private)
        except Exception:
            log.exception("could not record channel %s", channel.name)
        channel.recorded_private = private

    def forget_channel(self, channel: Channel) -> None:
        """Delete a channel's saved state (it stopped being persistent)."""
        if self.store is not None:
            try:
                self.store.delete_channel(channel.key_folded)
            except Exception:
                log.exception("could not forget channel %s", channel.name)

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
        while open), none from before it was made anew after being emptied or dropped. Direct
        conversations of a logged-in user are keyed by its account, which owns their whole
        history; those of anybody else are keyed by nick, so a nick's holder sees only what was
        said since they took it.
        """
        if channel is not None:
            if session not in channel.members and not self.settings.history_public:
                return None
            return channel.created_ms
        return 0 if session.account is not None else int(session.nick_since * 1000)

    def dm_side(self, session: Session) -> str:
        """Who ``session`` is in a direct conversation key: its account, else its nick (casefolded)."""
        return self.server.world.fold(session.account or session.nick)

    def dm_target(self, session: Session, nick: str) -> str:
        """The conversation key of ``session``'s direct messages with ``nick``.

        An online peer is named by its account when it has one; an offline ``nick`` stands for
        itself, which is also the name of the account owning it (account names are nicks).
        """
        world = self.server.world
        peer = world.find_user(nick)
        other = self.dm_side(peer) if peer is not None else world.fold(nick)
        return dm_key(self.dm_side(session), other)

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
        if store is None or marks is None or session.account is None or settings.history_on_join <= 0:
            return
        if "draft/chathistory" in session.caps:
            return
        me = self.dm_side(session)
        now_ms = int(time.time() * 1000)
        window = now_ms - int(settings.history_on_join_window * 1000)
        try:
            conversations = store.targets(window, now_ms + 1, 100, channels=(), participant=me)
            for key, _last_ms in conversations:
                sides = dm_sides(key)
                if sides is None:
                    continue
                other = sides[1] if sides[0] == me else sides[0]
                marker = marks.read_marker(me, other)
                since = max(window, marker if marker is not None else 0)
                rows = store.latest(key, settings.history_on_join, MessageRef(time_ms=since))
                rows = [r for r in rows if r.command in MESSAGES]
                if not any(r.account is None or self.server.world.fold(r.account) != me for r in rows):
                    continue
                peer = self.server.world.find_user(other)
                self.send_rows(session, rows, peer.nick if peer is not None else other)
                marks.set_read_marker(me, other, rows[-1].time_ms)
        except Exception:
            log.exception("direct message replay failed for %r", session)

    def to_message(self, row: StoredMessage, batch: str | None = None) -> Message:
        """A stored row as a message to send again, with its original time and msgid."""
        tags = dict(row.tags)
        tags["time"] = _stamp(row.time_ms)
        tags["msgid"] = row.msgid
        if row.account:
            tags["account"] = row.account
        if batch:
            tags["batch"] = batch
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
        batch = None
        if "batch" in session.caps:
            batch = session.next_batch_id()
            session.send(
                Message.build("BATCH", "+" + batch, "chathistory", target_name, source=self.server.name)
            )
        for row in rows:
            session.send(self.to_message(row, batch))
        if batch:
            session.send(Message.build("BATCH", "-" + batch, source=self.server.name))

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
