"""Delivery: msgid and server time, group commit, and formatting once per view.

DESIGN.md principles 4 and 5. Messages that must be kept are stamped and appended to the
current batch; the server commits the batch at the end of the loop turn and only then flushes the
outboxes, so nothing reaches a socket before it is in the store. Fan-out formats a message once
per distinct client view and queues the same bytes to every recipient with that view.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hubbub.protocol import Message

from . import caps as capmod
from .connection import TURN_SENDQ_FACTOR, Segment

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger(__name__)

_B32 = "0123456789abcdefghjkmnpqrstvwxyz"


def _b32(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        out.append(_B32[n & 31])
        n >>= 5
    return "".join(reversed(out))


class MsgidFactory:
    """Unique, time-ordered message ids: milliseconds, a per-process prefix and a counter."""

    def __init__(self) -> None:
        self._node = _b32(int.from_bytes(os.urandom(4), "big"), 4)
        self._counter = itertools.count(int.from_bytes(os.urandom(2), "big"))

    def __call__(self, now_ms: int) -> str:
        """A new msgid for a message stamped ``now_ms``."""
        return f"{_b32(now_ms, 9)}{self._node}{_b32(next(self._counter) & 0xFFFFFFFF, 7)}"


# Recipient lists at least this long share one segment per view (connection.Segment).
SHARED_FANOUT = 16


def fanout(message: Message, recipients: Iterable[Session]) -> None:
    """Queue ``message`` to every recipient, formatting it once per distinct view.

    This is the hot path of every channel message (DESIGN.md principle 4): the common case of
    :meth:`Connection.write` is inlined, and consecutive recipients with the same view reuse the
    bytes without a lookup. A long recipient list (a list, as channels pass) gets a shared
    :class:`Segment` per view; when the next message in the same loop turn goes to an equal list,
    nothing else was queued to any of them since, and no labelled reply is being collected, it is
    appended to that segment alone.
    """
    members = recipients if isinstance(recipients, list) and len(recipients) >= SHARED_FANOUT else None
    shared = members is not None
    if members is not None:
        server = members[0].server
        seg = server.segment
        if seg is not None:
            if not server.labelling and seg.recipients == members:
                data = capmod.render(message, seg.view)
                if seg.size + len(data) <= seg.room:
                    seg.append(data)
                    seg.size += len(data)
                    return
            server.close_segment()
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
        if mark_dirty is None:
            server = session.server
            if server.segment is not None:
                server.close_segment()
            mark_dirty = server.mark_dirty
            limit = server.settings.sendq * TURN_SENDQ_FACTOR
        if conn.capture is None and not conn.closed and conn.outbox_size + size <= limit:
            conn.outbox.append(part)
            conn.outbox_size += size
            if conn.outbox_size > peak:
                peak = conn.outbox_size
            if not conn.dirty:
                conn.dirty = True
                mark_dirty(conn)
        else:
            conn.write(data)
            inline = False
    if members is not None and inline and len(cache) == 1:
        ((_, opened),) = cache.values()
        assert isinstance(opened, Segment)
        opened.recipients = members.copy()  # the caller's list is its own to change
        # Each member holds at most peak - first bytes besides the segment.
        opened.room = limit - peak + opened.first
        server.segment = opened


class Delivery:
    """Stamps stored messages and holds the batch of the current loop turn."""

    def __init__(self, store: Any | None = None) -> None:
        self.store = store
        self.pending: list[Any] = []
        self.new_msgid = MsgidFactory()
        self.failures = 0
        self._last_ms = 0

    def stamp(self, tags: dict[str, str], account: str | None = None) -> tuple[str, int]:
        """Add ``msgid`` and ``time`` (and ``account``) to ``tags``; return (msgid, time_ms)."""
        now_ms = int(time.time() * 1000)
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

    def start_ms(self) -> int:
        """A time (ms) later than every message stamped so far, and no later stamp is earlier.

        A channel made anew begins its life here: none of an earlier channel's lines fall inside
        it, even when both happen within the same millisecond.
        """
        now_ms = max(int(time.time() * 1000), self._last_ms + 1)
        self._last_ms = now_ms
        return now_ms

    def record(self, item: Any) -> None:
        """Add a message to this turn's commit batch."""
        self.pending.append(item)

    def commit(self) -> None:
        """Write this turn's batch in one transaction (called before any outbox is flushed)."""
        batch, self.pending = self.pending, []
        if self.store is None or not batch:
            return
        try:
            self.store.append(batch)
        except Exception:
            # The store is broken (disk full, file removed): keep chatting, say so loudly.
            self.failures += 1
            log.exception("could not commit %d messages to the store", len(batch))
