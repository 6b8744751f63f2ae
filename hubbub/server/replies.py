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


class Kept(Protocol):
    """The epoch a line's message is kept in (:class:`hubbub.server.outbox.Epoch`).

    Every line written for such a message is registered with it: if the message cannot be
    stored, none of them is delivered, and a label one of them answered goes with the ``FAIL``.
    """

    def keep(self, line: bytes, label: str | None = None) -> None:
        """Register ``line`` (the one answering ``label``, if given) as carrying the message."""


class Replies:
    """The replies to one command of one client."""

    __slots__ = ("_batches", "_lines", "_stream_end", "_stream_ref", "_top_batches", "_write", "label")

    def __init__(self, write: Write, label: str | None = None) -> None:
        self._write = write  # where the lines go: the client's outbox
        self.label = label
        self._batches: list[str] = []  # open nested batches, innermost last
        # Collected while labelled: (line, whether it already belongs to a nested batch, the
        # epoch keeping its message if it carries one).
        self._lines: list[tuple[bytes, bool, Kept | None]] = []
        self._top_batches = 0  # batches opened at the top level of a labelled response
        # Once a labelled response is streamed (too long to hold): its batch and closing line.
        self._stream_ref: str | None = None
        self._stream_end = b""

    def add(self, line: bytes, kept: Kept | None = None) -> None:
        """Add one formatted line (CRLF included) in the innermost open batch.

        ``kept``: the epoch keeping the message the line carries (an echo), if any.
        """
        nested = bool(self._batches)
        if nested:
            line = capmod.tag_batch(line, self._batches[-1])
        if self.label is None:
            self._write(line)
            if kept is not None:
                kept.keep(line)
        elif self._stream_ref is not None:
            self._put(line if nested else capmod.tag_batch(line, self._stream_ref), kept)
        else:
            self._lines.append((line, nested, kept))

    def add_tagged(self, data: bytes) -> None:
        """Add lines (one piece, CRLF after each) that already carry the innermost open batch's tag."""
        if not self._batches:
            raise ValueError("add_tagged needs an open batch")
        if self.label is None:
            self._write(data)
        elif self._stream_ref is not None:
            self._put(data, None)
        else:
            self._lines.append((data, True, None))

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
        for line, nested, kept in self._lines:
            self._put(line if nested else capmod.tag_batch(line, batch_ref), kept)
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
        if self._stream_ref is not None:
            self._stream_ref = None
            self._write(self._stream_end)
            return
        if not lines:
            self._write(capmod.add_tag(ack, "label", label))
        elif len(lines) == 1:
            line, _, kept = lines[0]
            self._put(capmod.add_tag(line, "label", label), kept, label)
        elif (
            self._top_batches == 1
            and not lines[0][1]
            and not lines[-1][1]
            and all(nested for _, nested, _ in lines[1:-1])
        ):
            # The whole response is one batch (a CHATHISTORY's): its start line takes the label,
            # as the spec allows for "an existing type applicable to the entire response".
            line, _, kept = lines[0]
            self._put(capmod.add_tag(line, "label", label), kept, label)
            for line, _, kept in lines[1:]:
                self._put(line, kept)
        else:
            self._write(capmod.add_tag(start, "label", label))
            for line, nested, kept in lines:
                # A line inside a nested batch keeps that batch's tag alone (IRCv3 batch).
                self._put(line if nested else capmod.tag_batch(line, batch_ref), kept)
            self._write(end)

    def _put(self, line: bytes, kept: Kept | None, label: str | None = None) -> None:
        self._write(line)
        if kept is not None:
            kept.keep(line, label)


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


# Bytes of a line before its CRLF, tags aside (RFC 1459 2.3; Modern IRC "Message format").
MAX_BODY = 510


def _cut(text: str, size: int) -> str:
    """``text`` cut to at most ``size`` bytes of UTF-8, never inside a character."""
    return text.encode()[: max(size, 0)].decode("utf-8", "ignore")


def fit_params(command: str, params: tuple[str, ...], source: str) -> tuple[str, ...]:
    """``params`` cut so that the line of ``command`` from ``source`` fits in :data:`MAX_BODY`.

    A reply that echoes what a client sent (a 401 for a 480-byte target, a FAIL naming it) would
    otherwise pass the limit every client may rely on. The longest parameter is cut first, so
    the nick a numeric is addressed to and short context stay whole; a middle parameter keeps
    at least one byte.
    """
    size = len(format_body(command, params, source).encode())
    while size > MAX_BODY:
        lengths = [len(p.encode()) for p in params]
        i = max(range(len(params)), key=lengths.__getitem__)
        keep = lengths[i] - (size - MAX_BODY)
        if i < len(params) - 1:
            keep = max(keep, 1)  # a middle parameter cannot be empty
        cut = _cut(params[i], keep)
        if cut == params[i]:
            break  # nothing left to cut
        params = (*params[:i], cut, *params[i + 1 :])
        size = len(format_body(command, params, source).encode())
    return params


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
