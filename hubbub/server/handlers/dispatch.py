"""Running one command: the checks every command shares, labeled-response, then its handler.

The common checks come from the command's row in :data:`hubbub.server.handlers.table.COMMANDS`,
in this order: registration (451; any command, known or not, before registration), parameters
(461), operator status (481); a command not in the table gets 421. A command that reads history
waits until what was recorded before it is committed. A line of a client's open multiline batch
is collected into the batch instead (handlers/multiline.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubbub.protocol import Message, numerics

from .multiline import collect
from .table import COMMANDS

if TYPE_CHECKING:
    from ..session import Session
    from .context import Context

log = logging.getLogger(__name__)


def dispatch(ctx: Context, session: Session, message: Message, line: bytes) -> None:
    """Run ``message`` (the client's ``line``) for ``session``; no exception escapes."""
    command = message.command
    spec = COMMANDS.get(command)
    if spec is not None and spec.after_commit and ctx.delivery.pending and session.conn.after_commit(line):
        return  # it runs again once the history it reads is committed
    if session.registered and command not in ("PING", "PONG"):
        session.last_active = ctx.clock.now()
    label = message.tags.get("label") if "labeled-response" in session.caps else None
    replies = session.begin_replies(label)
    try:
        if "batch" in message.tags and collect(ctx, session, message):
            return  # a line of a draft/multiline batch: kept until the batch ends
        if spec is None:
            if session.registered:
                session.reply(numerics.ERR_UNKNOWNCOMMAND, command)
            else:
                session.reply(numerics.ERR_NOTREGISTERED)
            return
        if not session.registered and not spec.before_registration:
            session.reply(numerics.ERR_NOTREGISTERED)
            return
        if len(message.params) < spec.min_params:
            session.reply(numerics.ERR_NEEDMOREPARAMS, command)
            return
        if spec.oper and "o" not in session.umodes:
            session.reply(numerics.ERR_NOPRIVILEGES)
            return
        spec.handler(ctx, session, message)
    except Exception:
        log.exception("handler failed for %r command %s", session, command)
        session.reply(numerics.ERR_UNKNOWNERROR, command)
    finally:
        session.end_replies(replies)
