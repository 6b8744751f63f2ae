"""Running a service pseudo-user's commands: ``/msg NickServ REGISTER <password>``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..services import service_notice

if TYPE_CHECKING:
    from ..session import Session
    from .context import Context

# A service command: (the handler context, who sent it, the words after the command).
ServiceCommand = Callable[["Context", "Session", list[str]], None]


def run_command(
    ctx: Context, session: Session, service: str, table: dict[str, ServiceCommand], text: str
) -> None:
    """A PRIVMSG from ``session`` to ``service``: run the command of ``table`` it holds."""
    words = text.split()
    if not words:
        return
    verb = words[0].upper()
    handler = table.get(verb)
    if handler is None:
        service_notice(session, service, f"Unknown command {verb}. Commands: {', '.join(sorted(table))}")
        return
    handler(ctx, session, words[1:])
