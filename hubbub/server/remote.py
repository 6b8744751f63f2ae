"""A user of another node, as this node's World holds it: a Link whose bytes go to its node.

Cluster mode (docs/cluster.md). Every node keeps a mirror of every user of the network: its own
users are Sessions on real connections, the others Sessions on a :class:`RemoteLink`. Handlers
and the publish seam treat both alike: a channel message is formatted once per view and queued
to every member, and what is queued to a mirror is handed, once the commit it waits for has
returned (the same hold as a real connection's), to its node's :class:`NodeOutbox`, which the
cluster sends to that node in one batch per loop turn. The node writes the bytes to its user's
connection as they are.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from .outbox import Epoch, Outboxes, Part, Segment


class NodeOutbox:
    """What this loop turn queued for the users of one other node, per user, in order."""

    __slots__ = ("_schedule", "asks", "node", "parts", "scheduled")

    def __init__(self, node: str, schedule: Callable[[NodeOutbox], None]) -> None:
        self.node = node
        self.parts: dict[int, list[Part]] = {}  # uid -> parts, in the order they were queued
        # What that node is asked to do to its users (Cluster.ask): [uid, what, [args]].
        self.asks: list[list[object]] = []
        self.scheduled = False
        self._schedule = schedule

    def add(self, uid: int, parts: list[Part]) -> None:
        """Queue ``parts`` for the user ``uid`` of this node."""
        queued = self.parts.get(uid)
        if queued is None:
            self.parts[uid] = list(parts)
        else:
            queued.extend(parts)
        if not self.scheduled:
            self.scheduled = True
            self._schedule(self)

    def take(self) -> tuple[list[bytes], list[list[int]]]:
        """Empty the outbox: the distinct pieces, and per user ``[uid, piece index, ...]``.

        A piece queued to many users (one fan-out's bytes, a shared segment) is sent once.
        """
        self.scheduled = False
        parts, self.parts = self.parts, {}
        index: dict[int, int] = {}
        pieces: list[bytes] = []
        users: list[list[int]] = []
        for uid, queued in parts.items():
            entry = [uid]
            for part in queued:
                at = index.get(id(part))
                if at is None:
                    at = index[id(part)] = len(pieces)
                    pieces.append(part.joined() if isinstance(part, Segment) else part)
                entry.append(at)
            users.append(entry)
        return pieces, users


class RemoteLink:
    """The connection of a user on another node: what it is queued goes to that node."""

    __slots__ = (
        "_committed",
        "_outboxes",
        "closed",
        "dirty",
        "hold",
        "last_seen",
        "lost",
        "node",
        "outbox",
        "outbox_size",
        "overflowed",
        "peer_ip",
        "uid",
    )

    def __init__(
        self, node: NodeOutbox, uid: int, host: str, committed: Callable[[], int], outboxes: Outboxes
    ) -> None:
        self.node = node
        self._outboxes = outboxes
        self.uid = uid
        self.outbox: list[Part] | None = None
        self.outbox_size = 0
        self.dirty = False
        self.closed = False
        self.lost = False
        self.overflowed = False
        self.hold: Epoch | None = None
        self.last_seen = 0.0
        self.peer_ip = host
        self._committed = committed  # the seq of the last committed epoch (Delivery.committed_seq)

    @property
    def peer_port(self) -> int:
        """Unknown here: the user's node knows it."""
        return 0

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the next flush (a reply to a mirror is a line for its user)."""
        if self.closed:
            return
        outbox = self.outbox
        if outbox is None:
            self.outbox = [data]
        else:
            if outbox and outbox[-1] is self._outboxes.segment:
                # Later lines of the shared segment must not overtake this one (Delivery.fanout).
                self._outboxes.close_segment()
            outbox.append(data)
        self.outbox_size += len(data)
        if not self.dirty:
            self.dirty = True
            self._outboxes.mark_dirty(self)

    def flush(self) -> None:
        """Hand the outbox to the user's node, or to the commit it waits for."""
        self.dirty = False
        outbox = self.outbox
        if self.closed or not outbox:
            return
        self.outbox = None
        self.outbox_size = 0
        hold = self.hold
        if hold is not None and hold.seq > self._committed():
            hold.hold_output(self, outbox)
            return
        self.node.add(self.uid, outbox)

    def send_now(self, data: bytes) -> None:
        """Hand ``data`` to the user's node."""
        if not self.closed and data:
            self.node.add(self.uid, [data])

    def send_parts(self, parts: list[Part]) -> None:
        """Hand what waited for a commit to the user's node."""
        if not self.closed and parts:
            self.node.add(self.uid, parts)

    def shut(self) -> None:
        """Nothing to close here: the user's node closes its connection."""
        self.closed = True

    def close_with_error(self, reason: str) -> None:
        """A mirror is never closed from here: its node decides (see Cluster.drop_mirror)."""
        self.closed = True

    def hold_input(self) -> None:
        """A mirror sends no input here."""

    def release_input(self) -> None:
        """A mirror sends no input here."""

    def after_commit(self, line: bytes) -> bool:
        """A mirror sends no input here."""
        return False

    def tls_info(self) -> ssl.SSLObject | None:
        """The user's node knows its TLS session."""
        return None

    async def writable(self) -> None:
        """A mirror is not sent long replies."""
