"""The command table: command name → handler, minimum parameters, registration needed.

Like Ergo's ``irc/commands.go``, one table decides dispatch; the handlers live in one module per
topic and add themselves with :func:`command`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubbub.protocol import Message

    from ..session import Session

Handler = Callable[["Session", "Message"], None]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """How to dispatch one command."""

    handler: Handler
    min_params: int = 0
    registered: bool = True
    after_commit: bool = False  # reads history: runs once what was recorded before it is committed


COMMANDS: dict[str, CommandSpec] = {}


def command(
    name: str, min_params: int = 0, *, registered: bool = True, after_commit: bool = False
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``name``."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = CommandSpec(handler, min_params, registered, after_commit)
        return handler

    return register


# Importing the topic modules fills COMMANDS.
from . import (  # noqa: E402
    accounts,
    channels,
    chghost,
    history,
    messaging,
    modes,
    monitor,
    operators,
    queries,
    readmarker,
    registration,
)

__all__ = [
    "COMMANDS",
    "CommandSpec",
    "accounts",
    "channels",
    "chghost",
    "command",
    "history",
    "messaging",
    "modes",
    "monitor",
    "operators",
    "queries",
    "readmarker",
    "registration",
]
