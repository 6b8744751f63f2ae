"""The protocol layer's one exception family."""

from __future__ import annotations


class ProtocolError(Exception):
    """A line or value that breaks the protocol's rules.

    ``numeric`` is the reply the server sends back (``417`` for an over-long line, for
    example); ``fatal`` marks errors after which the connection cannot continue and must be
    closed with an ``ERROR`` line.
    """

    def __init__(self, message: str, *, numeric: str = "", fatal: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.numeric = numeric
        self.fatal = fatal
