"""The driver's outgoing queue: what the application sends, in order, paced, kept across reconnects.

A command goes out at once when nothing waits before it and the pacer has a token for it;
otherwise it waits in the queue, in order, and one task writes the queue as tokens come. A message
is a unit (one PRIVMSG, or a whole draft/multiline batch): a unit cut by a dropped connection is
sent again, whole, once the client has registered anew. What is still queued when the client
closes or gives up reconnecting is reported (:class:`NotSent`), never dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from hubbub.protocol import ProtocolError, parse

from ._errors import ClientError
from ._events import Event, MessageKind, NotSent, Sending
from ._pacing import Pacer, SendPacing, unbatched

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Unit:
    """Lines the server takes as one: a message (``shown`` its text) or a command."""

    lines: tuple[bytes, ...]
    weight: int = 0  # pieces of text it carries, for progress
    shown: str | None = None

    @property
    def batch(self) -> bool:
        """Whether it is a client batch (draft/multiline)."""
        return any(line.startswith(b"BATCH ") for line in self.lines)


@dataclass(slots=True)
class Outgoing:
    """One call of a command method: its units and how far they have gone."""

    target: str
    units: list[Unit]
    kind: MessageKind | None = None  # a chat message's kind; None for a command
    resend: bool = True  # sent again after a reconnect (not for labelled requests)
    index: int = 0  # the next unit to send
    line: int = 0  # the next line of that unit
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def weight(self) -> int:
        """Pieces of text in the units not sent yet."""
        return sum(unit.weight for unit in self.units[self.index :])

    def unsent_texts(self) -> tuple[str, ...]:
        """The texts of the messages not sent yet."""
        return tuple(u.shown for u in self.units[self.index :] if u.shown is not None)

    def settle(self, error: ClientError | None) -> None:
        """Tell whoever waits for this that it was sent (``error`` None) or never will be."""
        for waiter in self.waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
        self.waiters.clear()


class Sender:
    """The ordered, paced queue of a :class:`~hubbub.client.Client`'s outgoing commands.

    ``emit`` reports events (:class:`Sending`, :class:`NotSent`), ``sent`` is called with each
    message unit once written (for the local echo), and ``multiline`` tells whether the current
    connection offers draft/multiline.
    """

    def __init__(
        self,
        pacing: SendPacing,
        *,
        emit: Callable[[Event], None],
        sent: Callable[[Outgoing, Unit], None],
        multiline: Callable[[], bool],
        name: str = "",
    ) -> None:
        self._loop_time = asyncio.get_running_loop().time
        self.pacer = Pacer(pacing, self._loop_time())
        self._emit = emit
        self._sent = sent
        self._multiline = multiline
        self._name = name
        self._queue: deque[Outgoing] = deque()
        self._writer: asyncio.StreamWriter | None = None
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._sent_weight = 0
        self._total_weight = 0
        self._reported = False  # a Sending event went out for the current backlog

    # -- connection ------------------------------------------------------------------------------
    def attach(self, writer: asyncio.StreamWriter) -> None:
        """A connection registered: send the queue on it, from the start of any unit cut off."""
        self._writer = writer
        self.pacer.reset(self._loop_time())
        multiline = self._multiline()
        for entry in self._queue:
            entry.line = 0
            if not multiline and any(unit.batch for unit in entry.units[entry.index :]):
                self._total_weight -= entry.weight
                entry.units = entry.units[: entry.index] + [
                    Unit((line,), 1, _shown_of(line, unit.shown))
                    for unit in entry.units[entry.index :]
                    for line in (unbatched(unit.lines) if unit.batch else unit.lines)
                ]
                self._total_weight += entry.weight
        self._wake.set()

    def detach(self) -> None:
        """The connection ended: keep the queue for the next one, less labelled requests."""
        self._writer = None
        kept: deque[Outgoing] = deque()
        for entry in self._queue:
            if entry.resend:
                kept.append(entry)
            else:
                self._total_weight -= entry.weight
                entry.settle(ClientError("the connection was lost before it was sent"))
        self._queue = kept
        self._wake.set()
        self._check_empty()

    @property
    def busy(self) -> bool:
        """Whether anything waits in the queue."""
        return bool(self._queue)

    # -- queueing --------------------------------------------------------------------------------
    def push(self, entry: Outgoing) -> bool:
        """Queue ``entry``; write what may go now. Returns whether it was all written."""
        if not entry.units:
            return True
        self._queue.append(entry)
        self._total_weight += entry.weight
        self._empty.clear()
        if len(self._queue) == 1 and self._writer is not None:
            self._write_ready()
        if self._queue:
            self._wake.set()
        else:
            self._check_empty()
        return entry not in self._queue

    def waiter(self, entry: Outgoing) -> asyncio.Future[None]:
        """A future done when ``entry`` has been written (or failed if it never will be)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if entry in self._queue:
            entry.waiters.append(future)
        else:
            future.set_result(None)
        return future

    async def flush(self) -> None:
        """Wait until everything queued so far has been written."""
        await self._empty.wait()

    def fail(self, reason: str) -> None:
        """Nothing queued will be sent: report each message (:class:`NotSent`) and forget them."""
        queue, self._queue = self._queue, deque()
        for entry in queue:
            texts = entry.unsent_texts()
            if entry.kind is not None and texts:
                self._emit(NotSent(entry.target, texts, reason))
            entry.settle(ClientError(f"not sent: {reason}"))
        self._total_weight = self._sent_weight
        self._check_empty()

    # -- writing ---------------------------------------------------------------------------------
    def _write_ready(self) -> float:
        """Write every line that may go now, in order; return how long the next one must wait."""
        writer = self._writer
        while self._queue and writer is not None:
            entry = self._queue[0]
            unit = entry.units[entry.index]
            line = unit.lines[entry.line]
            now = self._loop_time()
            wait = self.pacer.delay(line, now)
            if wait > 0:
                return wait
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s >> %r", self._name, line)
            writer.write(line)
            self.pacer.spend(line, now)
            entry.line += 1
            if entry.line < len(unit.lines):
                continue
            entry.index += 1
            entry.line = 0
            self._sent_weight += unit.weight
            if unit.shown is not None:
                self._sent(entry, unit)
            if entry.index == len(entry.units):
                self._queue.popleft()
                entry.settle(None)
            if self._reported and unit.weight:
                self._progress()
        return 0.0

    def _progress(self) -> None:
        target = self._queue[0].target if self._queue else ""
        self._emit(Sending(target, self._sent_weight, self._total_weight))

    def _check_empty(self) -> None:
        if self._queue:
            return
        if self._reported and self._total_weight:
            self._emit(Sending("", self._total_weight, self._total_weight))
        self._reported = False
        self._sent_weight = self._total_weight = 0
        self._empty.set()

    async def run(self) -> None:
        """Write the queue as the pacer allows, for as long as the client lives."""
        while True:
            self._wake.clear()
            wait = self._write_ready()
            writer = self._writer
            if writer is not None:
                with contextlib.suppress(OSError, ConnectionError):
                    await writer.drain()  # a lost connection is noticed by the reading side
            self._check_empty()
            if not self._queue or self._writer is None:
                await self._wake.wait()
                continue
            if wait > 0 and not self._reported and self._total_weight:
                self._reported = True
                self._progress()
            # Sleep until the next token, waking early for a new connection or a new entry.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)


def _shown_of(line: bytes, fallback: str | None) -> str | None:
    """The text a plain PRIVMSG or NOTICE line shows (for the echo), or ``fallback``."""
    if fallback is None:
        return None
    try:
        return parse(line.rstrip(b"\r\n")).param(1)
    except ProtocolError:
        return fallback
