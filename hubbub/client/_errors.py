"""The client library's one exception family."""

from __future__ import annotations


class ClientError(Exception):
    """A request the client cannot carry out (not connected, capability missing, timed out)."""
