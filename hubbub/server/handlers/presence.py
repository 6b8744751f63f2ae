"""MONITOR (IRCv3 monitor): + adds nicks, - removes them, C clears, L lists, S shows status.

The limit is the ``monitor_limit`` setting, advertised as ISUPPORT ``MONITOR=<limit>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.protocol import Message, numerics, valid_nick

from ..monitor import chunks, forget
from . import metadata

if TYPE_CHECKING:
    from ..session import Session
    from .context import Context


def _status(ctx: Context, session: Session, nicks: list[str]) -> None:
    """730 for the nicks online (as ``nick!user@host``), 731 for the others."""
    world = ctx.world
    online: list[str] = []
    offline: list[str] = []
    for nick in nicks:
        user = world.find_user(nick)
        if user is not None:
            online.append(user.hostmask)
        else:
            offline.append(nick)
    for line in chunks(online):
        session.reply(numerics.RPL_MONONLINE, line)
    for line in chunks(offline):
        session.reply(numerics.RPL_MONOFFLINE, line)


def _add(ctx: Context, session: Session, targets: str) -> None:
    world = ctx.world
    limit = ctx.settings.monitor_limit
    added: list[str] = []
    monitoring = session.monitoring
    if monitoring is None:
        monitoring = session.monitoring = {}
    for nick in (t for t in targets.split(",") if t):
        if not valid_nick(nick, ctx.settings.nicklen):
            continue  # IRCv3 monitor: invalid nicks may be ignored
        folded = world.fold(nick)
        if folded in monitoring:
            continue
        if len(monitoring) >= limit:
            session.reply(numerics.ERR_MONLISTFULL, str(limit), targets)
            break
        monitoring[folded] = nick
        world.monitors.setdefault(folded, set()).add(session)
        added.append(nick)
    _status(ctx, session, added)
    metadata.monitored(ctx, session, added)  # draft/metadata-notify-2


def _remove(ctx: Context, session: Session, targets: str) -> None:
    world = ctx.world
    monitoring = session.monitoring
    if monitoring is None:
        return
    for nick in (t for t in targets.split(",") if t):
        folded = world.fold(nick)
        if monitoring.pop(folded, None) is None:
            continue
        watchers = world.monitors.get(folded)
        if watchers is not None:
            watchers.discard(session)
            if not watchers:
                del world.monitors[folded]


def handle_monitor(ctx: Context, session: Session, msg: Message) -> None:
    """MONITOR {+|-} <nick>{,<nick>} | C | L | S."""
    sub = msg.params[0]
    if sub in ("+", "-"):
        if len(msg.params) < 2 or not msg.params[1]:
            session.reply(numerics.ERR_NEEDMOREPARAMS, "MONITOR")
        elif sub == "+":
            _add(ctx, session, msg.params[1])
        else:
            _remove(ctx, session, msg.params[1])
    elif sub.upper() == "C":
        forget(ctx.world, session)
    elif sub.upper() == "L":
        for line in chunks(session.monitoring.values() if session.monitoring else ()):
            session.reply(numerics.RPL_MONLIST, line)
        session.reply(numerics.RPL_ENDOFMONLIST)
    elif sub.upper() == "S":
        _status(ctx, session, list(session.monitoring.values()) if session.monitoring else [])
    else:
        session.reply(numerics.ERR_UNKNOWNCOMMAND, "MONITOR", text="Unknown MONITOR subcommand")
