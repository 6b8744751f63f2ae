"""Splitting a byte stream into lines, with a maximum length (sans-IO)."""

from __future__ import annotations

from ._errors import ProtocolError
from ._message import MAX_LINE


class LineFramer:
    """Collects bytes and yields complete lines, without the CRLF or LF that ended them.

    A line longer than ``max_length`` bytes raises :class:`ProtocolError` with ``fatal=True``:
    it is never silently cut, since what follows a cut would be read as a command. Empty lines
    are skipped (Modern IRC: they are silently ignored).
    """

    __slots__ = ("_buffer", "max_length")

    def __init__(self, max_length: int = MAX_LINE) -> None:
        self._buffer = bytearray()
        self.max_length = max_length

    def receive_data(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the lines it completed (possibly none)."""
        buf = self._buffer
        if b"\n" not in data:
            buf += data
            if len(buf) > self.max_length:
                buf.clear()
                raise ProtocolError("input line too long", numeric="417", fatal=True)
            return []
        buf += data
        parts = buf.split(b"\n")
        rest = parts.pop()
        lines: list[bytes] = []
        limit = self.max_length
        for part in parts:
            if part.endswith(b"\r"):
                part = part[:-1]
            if len(part) > limit:
                buf.clear()
                raise ProtocolError("input line too long", numeric="417", fatal=True)
            if part:
                lines.append(bytes(part))
        if len(rest) > limit:
            buf.clear()
            raise ProtocolError("input line too long", numeric="417", fatal=True)
        self._buffer = bytearray(rest)
        return lines

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held so far."""
        return len(self._buffer)
