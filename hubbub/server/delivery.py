"""Delivery: msgid and server time, group commit, and formatting once per view.

Principles 4 and 5 (docs/architecture.md, "Nothing is written before it is committed").
Messages that must be kept are stamped and recorded in an :class:`Epoch`, which goes to the
store writer's thread at the end of the loop turn (or, while a commit is out, when that one
returns: later turns join it). Every connection that was queued one of its messages keeps what
it is queued from then on (in the epoch's hold) until that commit returns, so nothing reaches a
socket before it is in the store, and each connection's lines keep their order. Epochs commit
in order. When a commit fails (a full disk), the epoch's messages are not delivered at all and
their senders are told. Fan-out formats a message once per distinct client view and queues the
same bytes to every recipient with that view.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from hubbub.protocol import Message
from hubbub.store import StoredMessage

from . import caps as capmod
from .clock import Clock, SystemClock
from .outbox import Epoch, Outboxes, Segment, Write
from .stats import Stats

if TYPE_CHECKING:
    from hubbub.store import SQLiteStore

    from .session import Session
    from .writer import StoreWriter

log = logging.getLogger(__name__)

_new_tuple = tuple.__new__

_B32 = "0123456789abcdefghjkmnpqrstvwxyz"


def _b32(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        out.append(_B32[n & 31])
        n >>= 5
    return "".join(reversed(out))


# Two base32 digits for every 10-bit number: a counter is encoded with four lookups, not a loop.
_B32_PAIRS = tuple(a + b for a in _B32 for b in _B32)


class MsgidFactory:
    """Unique, time-ordered message ids: milliseconds, a per-process prefix and a counter."""

    def __init__(self) -> None:
        self._node = _b32(int.from_bytes(os.urandom(4), "big"), 4)
        self._counter = itertools.count(int.from_bytes(os.urandom(2), "big"))
        # The time and node part of the last msgid: messages stamped in the same millisecond (all
        # of a busy loop turn's) share it, so it is encoded once.
        self._ms = -1
        self._prefix = ""

    def __call__(self, now_ms: int) -> str:
        """A new msgid for a message stamped ``now_ms``."""
        if now_ms != self._ms:
            self._ms = now_ms
            self._prefix = _b32(now_ms, 9) + self._node
        n = next(self._counter) & 0xFFFFFFFF
        pairs = _B32_PAIRS
        # The counter's low 32 bits as 7 digits, most significant first (as _b32(n, 7)).
        return (
            self._prefix
            + _B32[(n >> 30) & 31]
            + pairs[(n >> 20) & 1023]
            + pairs[(n >> 10) & 1023]
            + pairs[n & 1023]
        )


# Tags always stored with a message, besides its other client-only tags (see kept_tags_of); a
# multiline message keeps the mark of its joined lines with it (caps.MULTILINE_TAG): it is one row.
KEPT_TAGS = frozenset(
    {"+draft/react", "+draft/reply", "+draft/channel-context", "+reply", "+react", capmod.MULTILINE_TAG}
)
# A TAGMSG is kept only for one of these (a reaction, or a reply), and never when it is a typing
# notification: clients send one every few seconds while someone types, and kept they would push
# the conversation out of every "latest N" read.
TAGMSG_KEPT_FOR = frozenset({"+draft/react", "+react", "+draft/reply", "+reply"})
TYPING_TAGS = frozenset({"+typing", "+draft/typing"})


def kept_tags_of(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a message is stored with: its client-only tags, so playback shows them as sent.

    (chathistory's own example plays back ``+client_tag=val``.) Typing tags never are: a message
    carrying one is a notification of the moment, and one kept alongside would replay a typing
    state long gone. The server's own tags are stamped again from the stored row.
    """
    return {k: v for k, v in tags.items() if k in KEPT_TAGS or (k[:1] == "+" and k not in TYPING_TAGS)}


def worth_keeping(message: Message) -> bool:
    """Whether ``message`` belongs in history at all: a TAGMSG only for a reaction or reply."""
    if message.command != "TAGMSG":
        return True
    tags = message.tags
    return TYPING_TAGS.isdisjoint(tags) and not TAGMSG_KEPT_FOR.isdisjoint(tags)


# Recipient lists at least this long share one segment per view (outbox.Segment).
SHARED_FANOUT = 16


class Delivery:
    """Stamps stored messages, gathers each loop turn's writes, and commits them in order."""

    def __init__(
        self,
        on_committed: Callable[[Epoch, BaseException | None], None],
        clock: Clock | None = None,
        outboxes: Outboxes | None = None,
        stats: Stats | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.stats = stats if stats is not None else Stats()
        # Where fan-out queues its bytes; the turn's flush submits the epoch first.
        self.outboxes = outboxes if outboxes is not None else Outboxes(sendq=1 << 20)
        self.outboxes.before_flush = self.submit
        self.writer: StoreWriter | None = None
        self.new_msgid = MsgidFactory()
        self.failures = 0
        self._last_ms = 0
        self._seq = 0
        self.epoch: Epoch | None = None  # this turn's, until the end of the turn
        self.in_flight: deque[Epoch] = deque()
        self.committed_seq = 0
        self.in_flight_messages = 0
        self._on_committed = on_committed
        self._waiters: list[tuple[int, Callable[[], None]]] = []
        self.backlog_limit = 10000  # settings.store_backlog
        self.keep_events = False  # settings.history_events: JOIN, PART, QUIT ... are kept too

    @property
    def backlogged(self) -> bool:
        """Whether so many messages wait for the store that senders must wait too."""
        waiting = self.epoch.messages if self.epoch is not None else 0
        return self.in_flight_messages + waiting > self.backlog_limit

    @property
    def pending(self) -> bool:
        """Whether anything recorded is not committed yet."""
        return self.epoch is not None or bool(self.in_flight)

    def stamp(self, tags: dict[str, str], account: str | None = None) -> tuple[str, int]:
        """Add ``msgid`` and ``time`` (and ``account``) to ``tags``; return (msgid, time_ms)."""
        now_ms = int(self.clock.now() * 1000)
        # History order is delivery order; timestamp references and retention need server time to
        # follow it, so a clock stepping back never stamps a message earlier than the one before.
        if now_ms < self._last_ms:
            now_ms = self._last_ms
        self._last_ms = now_ms
        now = now_ms / 1000
        msgid = self.new_msgid(now_ms)
        tags["msgid"] = msgid
        tags["time"] = capmod.server_time(now)
        if account:
            tags["account"] = account
        return msgid, now_ms

    def publish(
        self,
        message: Message,
        audience: Iterable[Session],
        *,
        keep: Iterable[str] = (),
        event: bool = False,
        sender: Session | None = None,
        account: str | None = None,
        named: str = "",
        names: Mapping[str, str] | None = None,
        also: Iterable[tuple[Message, Iterable[Session]]] = (),
    ) -> tuple[Message, Epoch | None]:
        """Deliver ``message`` to ``audience``: the one seam every event goes through.

        The message is stamped once (msgid, server time, and ``account``, the author's); kept in
        history under each conversation key of ``keep`` (an ``event`` such as a JOIN or QUIT only
        where events are kept, a TAGMSG only when :func:`worth_keeping`, with only
        :func:`kept_tags_of`), all with that one msgid, so the live copy and the stored one agree;
        and queued, formatted once per view, to every member of ``audience``, whose output then
        waits for the commit (principle 5). ``also`` gives other forms of the same event (an
        extended JOIN) with their own audiences. ``sender`` is told if a kept message cannot be
        stored (``named``: the target as it named it); ``names`` are the display names of a
        direct conversation's sides. Returns the stamped message and the epoch that delivers it.
        In cluster mode another node's users are mirrors here, their bytes sent on by the cluster.
        """
        if not event:
            self.stats.messages += 1
        tags = dict(message.tags)
        msgid, time_ms = self.stamp(tags, account)
        # The dict is this call's own and never changed again: a view of it needs no copy.
        frozen = MappingProxyType(tags)
        stamped = Message(message.command, message.params, message.source, frozen)
        hold = None
        if self.writer is not None and (self.keep_events or not event) and worth_keeping(message):
            # Stamping adds only server tags, none of which is kept: the message's own tags decide.
            kept_tags = kept_tags_of(message.tags) if message.tags else {}
            source = stamped.source or ""
            for key in keep:
                hold = self.record(
                    # tuple.__new__ rather than the named tuple's own __new__, a Python function
                    # (the compiled build would call into the interpreter for every message kept).
                    _new_tuple(
                        StoredMessage,
                        (msgid, time_ms, key, stamped.command, source, stamped.params, account, kept_tags),
                    ),
                    (sender, stamped.command, named or key) if sender is not None else None,
                    names,
                )
        self.fanout(stamped, audience, hold, event=event)
        for variant, others in also:
            self.fanout(
                Message(variant.command, variant.params, variant.source, frozen), others, hold, event=event
            )
        return stamped, hold

    def fanout(
        self,
        message: Message,
        recipients: Iterable[Session],
        hold: Epoch | None = None,
        *,
        event: bool = False,
    ) -> None:
        """Queue ``message`` to every recipient, formatting it once per distinct view.

        ``hold`` is the epoch that keeps ``message`` (see :meth:`Delivery.record`): every recipient's
        output then waits for its commit, and a failed commit takes the message back out, unless it
        is an ``event`` (a JOIN, a QUIT ...): what happened happened, stored or not.

        This is the hot path of every channel message (DESIGN.md principle 4): the common case of
        :meth:`Connection.write` is inlined, and consecutive recipients with the same view reuse the
        bytes without a lookup. A long recipient list (a list, as channels pass) gets a shared
        :class:`Segment` per view; when the next message in the same loop turn goes to an equal list,
        nothing else was queued to any of them since, and no labelled reply is being collected, it is
        appended to that segment alone.
        """
        if not isinstance(recipients, (list, tuple)):
            recipients = list(recipients)  # a set or a generator: counted, and iterated once
        self.stats.deliveries += len(recipients)
        members = recipients if isinstance(recipients, list) and len(recipients) >= SHARED_FANOUT else None
        shared = members is not None
        outboxes = self.outboxes
        if members is not None:
            seg = outboxes.segment
            if seg is not None:
                if not outboxes.labelling and seg.hold is hold and seg.recipients == members:
                    data = capmod.render(message, seg.view)
                    if seg.size + len(data) <= seg.room:
                        seg.append(data)
                        seg.size += len(data)
                        return
                outboxes.close_segment()
        cache: dict[int, tuple[bytes, bytes | Segment]] = {}
        render = capmod.render
        last_view = -1
        data = b""
        part: bytes | Segment = b""
        size = 0
        limit = -1
        peak = 0
        inline = True
        mark_dirty = None
        for session in recipients:
            view = session.view
            if view != last_view:
                cached = cache.get(view)
                if cached is None:
                    data = render(message, view)
                    cached = cache[view] = (data, Segment(data, view) if shared else data)
                data, part = cached
                size = len(data)
                last_view = view
            conn = session.conn
            if hold is not None:
                conn.hold = hold
            if mark_dirty is None:
                if outboxes.segment is not None:
                    outboxes.close_segment()
                mark_dirty = outboxes.mark_dirty
                limit = outboxes.turn_limit
            if session.replies is None and not conn.closed and conn.outbox_size + size <= limit:
                outbox = conn.outbox
                if outbox is None:
                    conn.outbox = [part]
                else:
                    outbox.append(part)
                conn.outbox_size += size
                if conn.outbox_size > peak:
                    peak = conn.outbox_size
                if not conn.dirty:
                    conn.dirty = True
                    mark_dirty(conn)
            else:
                # into the reply buffer of the command being handled, if any
                session.write(data, hold if hold is not None and not event else None)
                inline = False
        if hold is not None and not event:
            for data, part in cache.values():
                hold.message_parts.add(id(data))
                hold.message_parts.add(id(part))
        if members is not None and inline and len(cache) == 1:
            ((_, opened),) = cache.values()
            assert isinstance(opened, Segment)
            opened.hold = hold
            opened.recipients = members.copy()  # the caller's list is its own to change
            # Each member holds at most peak - first bytes besides the segment.
            opened.room = limit - peak + opened.first
            outboxes.segment = opened

    def current(self) -> Epoch:
        """This turn's epoch, begun if needed (its commit is scheduled for the end of the turn)."""
        epoch = self.epoch
        if epoch is None:
            self._seq += 1
            epoch = self.epoch = Epoch(self._seq)
            # A message whose sender then leaves, alone in its channel, queues nothing: its
            # commit must not wait for somebody else's output (the notification-script case).
            self.outboxes.schedule()
        return epoch

    def position(self) -> tuple[Epoch | None, int, int]:
        """Where this node's messages stand now: the epoch being gathered (None if none is), how
        many writes it holds, and the number of the last epoch begun (cluster join marks)."""
        epoch = self.epoch
        return epoch, (len(epoch.writes) if epoch is not None else 0), self._seq

    def start_ms(self) -> int:
        """A time (ms) later than every message stamped so far, and no later stamp is earlier.

        A channel made anew begins its life here: none of an earlier channel's lines fall inside
        it, even when both happen within the same millisecond.
        """
        now_ms = max(int(self.clock.now() * 1000), self._last_ms + 1)
        self._last_ms = now_ms
        return now_ms

    def record(
        self,
        item: Any,
        sender: tuple[Session, str, str] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> Epoch:
        """Add a message to this turn's writes; return the epoch whose commit delivers it.

        ``names`` gives the display names of a direct conversation's sides.
        """
        epoch = self.current()
        epoch.writes.append(item)
        epoch.messages += 1
        if names:
            epoch.names.update(names)
        if sender is not None:
            epoch.senders.append(sender)
            # What the sender is told next (its ERROR when it quits at once, say) must not reach
            # it before this message is committed, even if nobody else was sent the message.
            sender[0].conn.hold = epoch
        return epoch

    def write(self, job: Callable[[SQLiteStore], Any]) -> Epoch:
        """Run ``job(store)`` on the writer thread in turn with this turn's messages."""
        epoch = self.current()
        epoch.writes.append(job)
        return epoch

    def run(self, job: Callable[[SQLiteStore], Any]) -> asyncio.Future[Any]:
        """Run ``job(store)`` after this turn's messages; a future of what it returns."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        result: list[Any] = []
        epoch = self.write(lambda store: result.append(job(store)))

        def settle(error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result[0] if result else None)

        epoch.done.append(settle)
        return future

    def submit(self) -> Epoch | None:
        """End the turn: send the epoch to the writer, unless one is still being committed.

        Called before outboxes are looked at. While a commit is out, later turns keep adding to
        the same epoch (group commit across turns): one commit, and one write per connection,
        for all of them, instead of one per turn.
        """
        if self.in_flight:
            return None  # submitted when the one in flight returns (_finished)
        epoch, self.epoch = self.epoch, None
        if epoch is None:
            return None
        self.in_flight.append(epoch)
        self.in_flight_messages += epoch.messages
        epoch.submitted_at = self.clock.monotonic()
        if self.writer is None:
            self._finished(epoch, None)
        else:
            writes, names = epoch.writes, epoch.names
            self.writer.submit(
                lambda store: _apply(store, writes, names), lambda r, e: self._numbered(epoch, r, e)
            )
        return epoch

    def _numbered(self, epoch: Epoch, seqs: dict[str, list[int]] | None, error: BaseException | None) -> None:
        epoch.seqs = seqs
        self._finished(epoch, error)

    def _finished(self, epoch: Epoch, error: BaseException | None) -> None:
        done = self.in_flight.popleft()
        assert done is epoch, "epochs are committed in the order they were submitted"
        self.in_flight_messages -= epoch.messages
        self.committed_seq = epoch.seq
        if self.writer is not None:
            self.stats.commit_took(self.clock.monotonic() - epoch.submitted_at)
        if error is not None:
            self.failures += 1
        self._on_committed(epoch, error)
        for callback in epoch.done:
            callback(error)
        epoch.done.clear()
        if self._waiters:
            ready = [w for w in self._waiters if w[0] <= epoch.seq]
            if ready:
                self._waiters = [w for w in self._waiters if w[0] > epoch.seq]
                for _seq, wake in ready:
                    wake()
        if self.epoch is not None:
            self.outboxes.schedule()  # what gathered meanwhile goes now

    def after_commit(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` once everything recorded so far is committed; False if it already is."""
        target = (
            self.epoch.seq if self.epoch is not None else (self.in_flight[-1].seq if self.in_flight else 0)
        )
        if target <= self.committed_seq:
            return False
        self._waiters.append((target, callback))
        return True


def _apply(store: SQLiteStore, writes: list[Write], names: Mapping[str, str]) -> dict[str, list[int]] | None:
    """Carry out one epoch's writes on the writer thread: messages in batches, jobs in between.

    A store that numbers each conversation's messages (PostgreSQL, for a cluster) says which
    numbers they got: conversation key -> [first, last]; SQLite's order is its row ids (None).
    """
    # One transaction: a turn's messages and the channel state they made are kept together or
    # not at all.
    seqs: dict[str, list[int]] | None = None
    append: Callable[..., object] = store.append  # a numbering store returns the numbers
    with store.transaction():
        batch: list[StoredMessage] = []
        for item in writes:
            if isinstance(item, StoredMessage):
                batch.append(item)
                continue
            if batch:
                seqs = _numbered(batch, append(batch, names or None), seqs)
                batch = []
            item(store)
        if batch:
            seqs = _numbered(batch, append(batch, names or None), seqs)
    return seqs


def _numbered(
    batch: list[StoredMessage], numbers: object, seqs: dict[str, list[int]] | None
) -> dict[str, list[int]] | None:
    """Add what ``append`` numbered to ``seqs`` (per conversation, the first and last number)."""
    if not isinstance(numbers, list):
        return seqs
    if seqs is None:
        seqs = {}
    for message, number in zip(batch, numbers, strict=True):
        span = seqs.get(message.target)
        if span is None:
            seqs[message.target] = [number, number]
        else:
            span[0] = min(span[0], number)
            span[1] = max(span[1], number)
    return seqs
