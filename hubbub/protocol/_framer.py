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

    def _too_long(self, pending: bytes) -> bool:
        # An unfinished line may hold one extra byte: the CR of a CRLF whose LF is still to come.
        excess = len(pending) - self.max_length
        return excess > 1 or (excess == 1 and pending[-1] != 0x0D)

    def _fail(self) -> ProtocolError:
        self._buffer = b""
        return ProtocolError("input line too long", numeric="417", fatal=True)

    def receive_data(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the lines it completed (possibly none)."""
        buf = self._buffer + data if self._buffer else bytes(data)
        if b"\n" not in data:
            if self._too_long(buf):
                raise self._fail()
            self._buffer = buf
            return []
        parts = buf.split(b"\n")
        rest = parts.pop()
        lines: list[bytes] = []
        limit = self.max_length
        for part in parts:
            if part.endswith(b"\r"):
                part = part[:-1]
            if len(part) > limit:
                raise self._fail()
            if part:
                lines.append(part)
        if self._too_long(rest):
            raise self._fail()
        self._buffer = rest
        return lines

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held so far."""
        return len(self._buffer)
