"""One reply buffer per command: labeled-response and batches in one place.

In the spirit of Ergo's ``irc/responsebuffer.go``. Everything a command sends to the client that
issued it goes through its :class:`Replies`: handlers add lines and open or close (nested)
batches; this module alone decides which ``batch`` tag a line carries (exactly one: the innermost
batch open when it was added) and how the label is answered (IRCv3 labeled-response: ``ACK`` for
nothing, the label on a single line, or a ``labeled-response`` batch around several lines).

Without a label, lines go straight to the connection as they are added (nested batches are still
tagged), so the common command costs nothing extra.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import Any, Protocol, TypeVar

from hubbub.protocol import format_body

from . import caps as capmod

Write = Callable[[bytes], None]


class Replies:
    """The replies to one command of one client."""

    __slots__ = ("_batches", "_lines", "_stream_end", "_stream_ref", "_top_batches", "_write", "label")

    def __init__(self, write: Write, label: str | None = None) -> None:
        self._write = write  # where the lines go: the client's outbox
        self.label = label
        self._batches: list[str] = []  # open nested batches, innermost last
        # Collected while labelled: (line, whether it already belongs to a nested batch).
        self._lines: list[tuple[bytes, bool]] = []
        self._top_batches = 0  # batches opened at the top level of a labelled response
        # Once a labelled response is streamed (too long to hold): its batch and closing line.
        self._stream_ref: str | None = None
        self._stream_end = b""

    def add(self, line: bytes) -> None:
        """Add one formatted line (CRLF included) in the innermost open batch."""
        nested = bool(self._batches)
        if nested:
            line = capmod.add_tag(line, "batch", self._batches[-1])
        if self.label is None:
            self._write(line)
        elif self._stream_ref is not None:
            self._write(line if nested else capmod.add_tag(line, "batch", self._stream_ref))
        else:
            self._lines.append((line, nested))

    def stream(self, batch_ref: str, start: bytes, end: bytes) -> None:
        """Send a labelled response as it comes instead of holding it: a long one (WHO of many).

        The response becomes a ``labeled-response`` batch opened now (``start``, the label on
        it) with the lines so far; later lines go out as they are added, and :meth:`finish`
        closes it with ``end``.
        """
        if self.label is None or self._stream_ref is not None:
            return
        write = self._write
        write(capmod.add_tag(start, "label", self.label))
        for line, nested in self._lines:
            write(line if nested else capmod.add_tag(line, "batch", batch_ref))
        self._lines = []
        self._stream_ref = batch_ref
        self._stream_end = end

    def open_batch(self, ref: str, start: bytes) -> None:
        """Add ``start`` (a ``BATCH +ref`` line, which belongs to the enclosing batch) and open ``ref``."""
        if not self._batches:
            self._top_batches += 1
        self.add(start)
        self._batches.append(ref)

    def close_batch(self, ref: str, end: bytes) -> None:
        """Close ``ref`` (and any batch left open inside it) and add its ``BATCH -ref`` line."""
        while self._batches:
            if self._batches.pop() == ref:
                break
        self.add(end)

    @property
    def open(self) -> bool:
        """Whether a nested batch is still open."""
        return bool(self._batches)

    def finish(self, ack: bytes, batch_ref: str, start: bytes, end: bytes) -> None:
        """Answer the label: ``ack`` for no line, the label on one, a labelled batch around several.

        ``start`` and ``end`` are the ``BATCH +batch_ref labeled-response`` and ``BATCH -batch_ref``
        lines, used only when there are several lines.
        """
        label = self.label
        lines, self._lines = self._lines, []
        self.label = None
        if label is None:
            return
        write = self._write
        if self._stream_ref is not None:
            self._stream_ref = None
            write(self._stream_end)
            return
        if not lines:
            write(capmod.add_tag(ack, "label", label))
        elif len(lines) == 1:
            write(capmod.add_tag(lines[0][0], "label", label))
        elif (
            self._top_batches == 1
            and not lines[0][1]
            and not lines[-1][1]
            and all(nested for _, nested in lines[1:-1])
        ):
            # The whole response is one batch (a CHATHISTORY's): its start line takes the label,
            # as the spec allows for "an existing type applicable to the entire response".
            write(capmod.add_tag(lines[0][0], "label", label))
            for line, _ in lines[1:]:
                write(line)
        else:
            write(capmod.add_tag(start, "label", label))
            for line, nested in lines:
                # A line inside a nested batch keeps that batch's tag alone (IRCv3 batch).
                write(line if nested else capmod.add_tag(line, "batch", batch_ref))
            write(end)


class Steps:
    """Await a coroutine, calling ``enter`` before and ``leave`` after each step it runs."""

    __slots__ = ("_coro", "_enter", "_leave")

    def __init__(self, coro: Coroutine[Any, Any, None], enter: Callable[[], None], leave: Callable[[], None]):
        self._coro = coro
        self._enter = enter
        self._leave = leave

    def __await__(self) -> Generator[Any, Any, None]:
        coro = self._coro
        value: Any = None
        error: BaseException | None = None
        while True:
            self._enter()
            try:
                step = coro.send(value) if error is None else coro.throw(error)
            except StopIteration:
                return
            finally:
                self._leave()
            try:
                value, error = (yield step), None
            except BaseException as exc:  # a cancellation reaches the coroutine too
                value, error = None, exc


def safe_param(param: str) -> str:
    """``param`` if it can be a middle parameter, else ``*``."""
    if not param or param[0] == ":" or " " in param:
        return "*"
    return param


class CachesReplies(Protocol):
    """What :func:`constant_replies` needs of the server: a place to keep formatted replies."""

    reply_cache: dict[str, list[tuple[str, str]]]


S = TypeVar("S", bound=CachesReplies)


def constant_replies(
    server: S, key: str, build: Callable[[S], list[tuple[str, ...]]]
) -> list[tuple[str, str]]:
    """Numerics that read the same for everybody, formatted once for :meth:`Session.reply_lines`.

    ``build`` gives (numeric, parameters after the nick...) tuples; the formatted text is kept in
    ``server.reply_cache`` until REHASH changes what it is made of.
    """
    cached = server.reply_cache.get(key)
    if cached is None:
        # format_body checks every parameter; the nick in front is a placeholder cut off again.
        cached = server.reply_cache[key] = [
            (numeric, format_body(numeric, ("*", *params)).split(" ", 2)[2])
            for numeric, *params in build(server)
        ]
    return cached
