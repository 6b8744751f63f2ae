"""Small records a :class:`~hubbub.server.session.Session` holds: its authentication, its open
draft/multiline batch.

A module apart from session.py so that the optional compiled build can compile Session while these
stay Python classes: the shared read-only :data:`NO_AUTH` is made with ``object.__new__``, which a
compiled class does not allow.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .clock import Timer

__all__ = ["NO_AUTH", "AuthState", "MultilineBatch"]


@dataclass(slots=True)
class AuthState:
    """Per-connection authentication state: TLS, certificate, SASL exchange, operator name."""

    tls: bool = False
    certfp: str | None = None
    mechanism: str | None = None
    buffer: str = ""
    pending: bool = False
    oper: str | None = None
    scram: object | None = None  # a SCRAM-SHA-256 exchange under way (handlers/login.py)


class _NoAuth(AuthState):
    """The state of every client that has not authenticated in any way: shared, so read only."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"the shared AuthState is read only: set {name} on Session.own_auth()")


# Made without __init__, whose assignments the class refuses.
NO_AUTH: AuthState = object.__new__(_NoAuth)
for _field in fields(AuthState):
    object.__setattr__(NO_AUTH, _field.name, _field.default)
del _field


@dataclass(slots=True)
class MultilineBatch:
    """A ``draft/multiline`` batch the client has opened and not closed yet (IRCv3 multiline).

    Its lines are collected here until ``BATCH -ref``; what it may hold is bounded by
    ``multiline_max_bytes`` and ``multiline_max_lines``, and how long by ``multiline_timeout``.
    A batch that broke a rule is ``failed``: its client was told, and its later lines are dropped
    as they come until it is closed.
    """

    ref: str
    target: str
    label: str | None  # the opening BATCH's label: the echo, or the failure, answers it
    tags: dict[str, str]  # client-only tags of the opening BATCH: they belong to the message
    command: str = ""
    lines: list[tuple[str, bool]] = field(default_factory=list)
    size: int = 0  # bytes of text, each joining line feed counted (max-bytes)
    failed: bool = False
    timer: Timer | None = None

    def drop(self) -> None:
        """Forget the lines and stop the timer."""
        self.lines = []
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
