"""Splitting a byte stream into lines, with a maximum length (sans-IO)."""

from __future__ import annotations

from ._errors import ProtocolError
from ._message import MAX_LINE


class LineFramer:
    """Collects bytes and yields complete lines, without the CRLF or LF that ended them.

    ``max_length`` counts the bytes of a line without its CRLF or LF (the default is
    :data:`MAX_LINE` less the CRLF). A longer line raises :class:`ProtocolError` with
    ``fatal=True`` and numeric 417 as soon as it is seen, even before its end arrives: it is
    never silently cut, since what follows a cut would be read as a command. Lines that a read
    completed before the over-long one are lost with it; the connection is closing anyway.
    Empty lines are skipped (Modern IRC: "If you encounter an empty message, silently ignore
    it"). Modern IRC also asks to accept a bare LF as the end of a line, so both end a line.
    """

    __slots__ = ("_buffer", "max_length")

    def __init__(self, max_length: int = MAX_LINE - 2) -> None:
        # The unfinished line: immutable bytes, the shared empty one between lines, so that an idle
        # connection holds no buffer of its own and a complete line is never copied out of one.
        self._buffer = b""
        self.max_length = max_length

    def receive_data(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the lines it completed (possibly none)."""
        try:
            lines, self._buffer = split_lines(self._buffer, data, self.max_length)
        except ProtocolError:
            self._buffer = b""
            raise
        return lines

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held so far."""
        return len(self._buffer)


def split_lines(pending: bytes, data: bytes, max_length: int = MAX_LINE - 2) -> tuple[list[bytes], bytes]:
    """:meth:`LineFramer.receive_data` without the object: the lines ``data`` completes after the
    unfinished line ``pending``, and the new unfinished line (``b""``, shared, between lines).

    For a caller that keeps the unfinished line itself, as the server's connection does, so that
    an idle one holds no framer of its own. Raises as :class:`LineFramer` does; the caller then
    drops what it kept.
    """
    buf = pending + data if pending else bytes(data)
    if b"\n" not in data:
        if _too_long(buf, max_length):
            raise _too_long_error()
        return [], buf
    parts = buf.split(b"\n")
    rest = parts.pop()
    lines: list[bytes] = []
    for part in parts:
        if part.endswith(b"\r"):
            part = part[:-1]
        if len(part) > max_length:
            raise _too_long_error()
        if part:
            lines.append(part)
    if _too_long(rest, max_length):
        raise _too_long_error()
    return lines, rest


def _too_long(pending: bytes, max_length: int) -> bool:
    # An unfinished line may hold one extra byte: the CR of a CRLF whose LF is still to come.
    excess = len(pending) - max_length
    return excess > 1 or (excess == 1 and pending[-1] != 0x0D)


def _too_long_error() -> ProtocolError:
    return ProtocolError("input line too long", numeric="417", fatal=True)
