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
from collections import deque
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
        self._hand_on(outbox)

    def _hand_on(self, parts: list[Part]) -> None:
        """To the user's node now, or once the commit the output waits for has returned."""
        hold = self.hold
        if hold is not None and hold.seq > self._committed():
            hold.hold_output(self, parts)
            return
        self.send_parts(parts)

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


class DeviceLink(RemoteLink):
    """A device of one of our users whose connection is on another node (docs/cluster.md).

    Its session runs here, on the account's home node, like a local device's; its output goes to
    the connection's node as a mirror's does, and the lines the client sends there come here
    (:meth:`take`). While one of its commands finishes off the loop, or waits for a commit, its
    later lines wait, in order, as a local connection's do (intake.py).
    """

    __slots__ = ("_after_commit", "_bypass", "_call_soon", "_final", "_holds", "_pending", "handle")

    def __init__(
        self,
        node: NodeOutbox,
        uid: int,
        host: str,
        committed: Callable[[], int],
        outboxes: Outboxes,
        after_commit: Callable[[Callable[[], None]], bool],
        call_soon: Callable[[Callable[[], None]], object],
    ) -> None:
        super().__init__(node, uid, host, committed, outboxes)
        self._after_commit = after_commit  # Delivery.after_commit
        self._call_soon = call_soon
        self._pending: deque[bytes] = deque()
        self._holds = 0
        self._bypass: bytes | None = None
        self._final: bytes | None = None  # the ERROR line, once the session ended here
        self.handle: Callable[[bytes], None] | None = None  # Session.handle_line, once it is made

    def take(self, lines: list[bytes]) -> None:
        """The client sent ``lines`` on its node: handle them, after any that wait."""
        if self._pending or self._holds:
            self._pending.extend(lines)
            return
        for i, line in enumerate(lines):
            if self.closed or self.handle is None:
                return
            if self._holds:  # the line before held the rest
                self._pending.extend(lines[i:])
                return
            self.handle(line)

    def _drain(self) -> None:
        pending = self._pending
        while pending and not self._holds and not self.closed and self.handle is not None:
            self.handle(pending.popleft())

    def hold_input(self) -> None:
        """Handle none of the client's lines until :meth:`release_input`."""
        self._holds += 1

    def release_input(self) -> None:
        """The command that held input is finished: go on with the lines that waited."""
        self._holds -= 1
        if not self._holds and self._pending and not self.closed:
            self._call_soon(self._drain)

    def after_commit(self, line: bytes) -> bool:
        """Handle ``line`` again once what is recorded is committed; False if it is already."""
        if line is self._bypass:
            self._bypass = None
            return False
        if not self._after_commit(self.release_input):
            return False
        self._pending.appendleft(line)
        self._bypass = line
        self._holds += 1
        return True

    def send_parts(self, parts: list[Part]) -> None:
        """Hand what waited for a commit to the connection's node (its ERROR last)."""
        if self.lost or not parts:
            return
        self.node.add(self.uid, parts)
        if self._final is not None and parts[-1] is self._final:
            self.lost = True  # the connection's node closes it on that line

    def close_with_error(self, reason: str) -> None:
        """Send ``ERROR :reason`` after whatever is queued; the connection's node then closes it."""
        if self.closed:
            return
        self.closed = True
        self._pending.clear()
        final = self._final = f"ERROR :{reason}\r\n".encode()
        parts = [*(self.outbox or ()), final]
        self.outbox = None
        self.outbox_size = 0
        self._hand_on(parts)
