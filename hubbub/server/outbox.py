"""What waits to be written: outboxes, shared segments, and the output held for a commit.

The sans-IO half of the wire. Delivery (the publish seam) and a session's replies queue bytes
into a connection's outbox through :class:`Link`, the face a connection shows the layers below
the wire; :class:`Outboxes` flushes every outbox with output once at the end of the loop turn;
an :class:`Epoch` keeps what must wait for a commit (docs/architecture.md, principle 5).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# How many sendqs one loop turn may queue for a client before it is dropped regardless.
TURN_SENDQ_FACTOR = 8


class Segment:
    """Lines of one loop turn queued once and shared by the outboxes of many recipients.

    A fan-out to a large recipient list puts one Segment into every outbox instead of the bytes.
    While nothing else is queued to those recipients, the next message to the same list is
    appended to the Segment alone: one append instead of one per member (``Delivery.fanout``).
    At flush every member sends the same joined bytes.

    It holds its lines in a list rather than being one: mypyc, which compiles this module in the
    optional build (docs/performance.md), cannot compile a subclass of ``list``.
    """

    __slots__ = (
        "_joined",
        "_joined_parts",
        "append",
        "first",
        "hold",
        "lines",
        "recipients",
        "room",
        "size",
        "view",
    )

    def __init__(self, data: bytes, view: int) -> None:
        lines = self.lines = [data]
        # Adds a line (``size`` is the caller's to keep): the list's own method, as cheap to call
        # as when Segment was the list.
        self.append: Callable[[bytes], None] = lines.append
        self.view = view
        self.first = self.size = len(data)
        self.room = 0  # how large ``size`` may grow before a member would pass the turn cap
        self.recipients: list[Any] = []  # the sessions it went to (delivery compares the list)
        self.hold: Epoch | None = None  # the epoch whose messages these are, if they are kept
        self._joined = data
        self._joined_parts = 1

    def joined(self) -> bytes:
        """All lines as one bytes object, joined once however many outboxes ask."""
        lines = self.lines
        if self._joined_parts != len(lines):
            self._joined = b"".join(lines)
            self._joined_parts = len(lines)
        return self._joined


Part = bytes | Segment


def outbox_bytes(outbox: list[Part]) -> bytes:
    """The queued parts of one outbox as the bytes to write."""
    if len(outbox) == 1:
        part = outbox[0]
        return part.joined() if isinstance(part, Segment) else part
    return b"".join([part.joined() if isinstance(part, Segment) else part for part in outbox])


class Link(Protocol):
    """A client's connection as the layers below the wire see it: an outbox and its state.

    :class:`hubbub.server.connection.Connection` is the one implementation; sessions, delivery
    and the commit path use no more of it than this.
    """

    outbox: list[Part] | None  # None while empty: most connections are idle most of the time
    outbox_size: int
    dirty: bool
    closed: bool
    lost: bool  # the transport is gone: nothing can be written any more
    overflowed: bool  # dropped for its sendq
    hold: Epoch | None  # the newest epoch whose commit its output waits for
    last_seen: float  # monotonic time of its last input
    peer_ip: str

    @property
    def peer_port(self) -> int:
        """The client's port (0 when unknown)."""

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the next flush."""

    def flush(self) -> None:
        """Write the outbox, or hand it to the epoch it waits for."""

    def send_now(self, data: bytes) -> None:
        """Write ``data`` to the socket."""

    def send_parts(self, parts: list[Part]) -> None:
        """Write queued parts (an outbox, or what waited for a commit) to the socket, in order."""

    def shut(self) -> None:
        """Close the socket after the last lines."""

    def close_with_error(self, reason: str) -> None:
        """Send ``ERROR :reason`` after what is queued, and close."""

    def hold_input(self) -> None:
        """Handle none of the client's lines until :meth:`release_input`."""

    def release_input(self) -> None:
        """Handle the client's lines again, those that waited first."""

    def after_commit(self, line: bytes) -> bool:
        """Handle ``line`` again once what is recorded is committed; False if it is already."""

    def tls_info(self) -> ssl.SSLObject | None:
        """The TLS session's ``ssl_object``, or None on a plain connection."""

    async def writable(self) -> None:
        """Return once the client has taken most of what it was sent (or is gone): a long reply
        may go on (``Answering.send_paced``)."""


class Sender(Protocol):
    """Whoever sent a kept message, told if it cannot be stored."""

    gone: bool
    conn: Link

    def fail(self, command: str, code: str, text: str, *context: str, label: str | None = None) -> None:
        """Send a standard-replies ``FAIL`` (answering ``label``)."""


Write = Any  # a StoredMessage, or a callable run with the store on the writer's thread


@dataclass(eq=False, slots=True)
class Epoch:
    """One loop turn's writes, and everything queued behind them until they are committed."""

    seq: int
    writes: list[Write] = field(default_factory=list)
    # Connection -> the parts it was queued while this epoch (or one before it) was uncommitted.
    held: dict[Link, list[Part]] = field(default_factory=dict)
    closing: list[Link] = field(default_factory=list)  # to close once their lines are out
    message_parts: set[int] = field(default_factory=set)  # id() of the kept messages' bytes
    senders: list[tuple[Sender, str, str]] = field(default_factory=list)  # (who, command, target)
    messages: int = 0
    submitted_at: float = 0.0  # clock.monotonic() when it went to the store writer
    names: dict[str, str] = field(default_factory=dict)  # direct sides' display names (Store.append)
    done: list[Callable[[BaseException | None], None]] = field(default_factory=list)
    # id() of a kept message's line that answered a label -> the label (replies.Replies): if the
    # commit fails, the FAIL answers it instead.
    labels: dict[int, str] = field(default_factory=dict)
    # Conversation key -> [first, last] number its messages got in the store, where the store
    # numbers them (PostgreSQL): a cluster delivers every conversation in that order.
    seqs: dict[str, list[int]] | None = None

    def keep(self, line: bytes, label: str | None = None) -> None:
        """``line`` carries one of this epoch's messages (to its sender, through its replies)."""
        self.message_parts.add(id(line))
        if label is not None:
            self.labels[id(line)] = label

    def hold_output(self, conn: Link, parts: list[Part]) -> None:
        """Keep ``parts`` for ``conn`` until this epoch is committed (the list is the epoch's now)."""
        held = self.held.get(conn)
        if held is None:
            self.held[conn] = parts
        else:
            held.extend(parts)


class Outboxes:
    """This loop turn's output: the outboxes to flush at its end, and the open shared segment."""

    __slots__ = ("_dirty", "_loop", "_scheduled", "before_flush", "labelling", "segment", "sendq")

    def __init__(self, sendq: int) -> None:
        self.sendq = sendq  # settings.sendq; REHASH sets it again
        self._dirty: list[Link] = []
        # The shared segment later messages to the same recipients may join (Delivery.fanout),
        # and how many labelled commands are collecting their replies (their echoes cannot).
        self.segment: Segment | None = None
        self.labelling = 0
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # Runs first at every flush: the turn's messages go to the store writer, and every
        # outbox they are in waits for that commit (Delivery.submit).
        self.before_flush: Callable[[], object] = lambda: None

    @property
    def turn_limit(self) -> int:
        """The most one outbox may hold within a loop turn."""
        return self.sendq * TURN_SENDQ_FACTOR

    def mark_dirty(self, conn: Link) -> None:
        """``conn`` has output: flush it at the end of this loop turn."""
        self._dirty.append(conn)
        if not self._scheduled:
            self.schedule()

    def schedule(self) -> None:
        """Flush at the end of this loop turn (once, however often it is asked)."""
        if not self._scheduled:
            self._scheduled = True
            if self._loop is None:  # asking asyncio costs a getpid() system call each time
                self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self.flush)

    def close_segment(self) -> None:
        """Let nothing more join the open shared segment; charge its growth to each outbox."""
        seg, self.segment = self.segment, None
        if seg is not None and seg.size > seg.first:
            extra = seg.size - seg.first
            for session in seg.recipients:
                session.conn.outbox_size += extra

    def flush(self) -> None:
        """Submit the turn's messages, then write (or hold) every outbox with output."""
        self._scheduled = False
        self.segment = None  # a new turn starts new segments; flushing empties every outbox
        self.before_flush()
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.flush()
