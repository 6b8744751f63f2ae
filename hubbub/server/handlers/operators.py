"""Server operators: OPER, KILL, KLINE/DLINE (and UN-), WALLOPS, REHASH, HISTORY DELETE, SAMODE,
CHANNEL DROP.

Operator credentials come from the ``opers`` setting (``name argon2-hash``); the password is
verified off the event loop and failures are throttled like logins. Server bans are stored with
their reason and expiry and are checked when a client registers or logs in.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from hubbub.protocol import Message, is_channel_name, numerics
from hubbub.store import StoreError, dm_key, dm_sides

from ..bans import BanError
from ..config import ConfigError
from ..services import is_service
from ..throttle import Throttled
from .login import throttled_text
from .modes import change_channel_modes

if TYPE_CHECKING:
    from ..session import Session
    from .context import Context

log = logging.getLogger(__name__)

# Extended-ban style prefix that makes a KLINE mask an account: ``KLINE $a:alice``.
ACCOUNT_PREFIX = "$a:"
# A KLINE or DLINE duration, or what an operator may have meant as one (``-5``).
_NUMBER = re.compile(r"[+-]?[0-9]+")


def _oper_notice(session: Session, text: str) -> None:
    session.notice(text)


def _credentials(ctx: Context, session: Session, name: str) -> str | None:
    for entry in ctx.settings.opers:
        oper_name, _, hashed = entry.partition(" ")
        if oper_name == name:
            return hashed.strip()
    return None


def handle_oper(ctx: Context, session: Session, msg: Message) -> None:
    """OPER <name> <password>: become an IRC operator (user mode +o)."""
    name, password = msg.params[0], msg.params[1]
    hashed = _credentials(ctx, session, name)
    if hashed is None:
        session.reply(numerics.ERR_NOOPERHOST)
        return
    if session.auth.pending:
        return
    session.own_auth().pending = True

    async def check() -> None:
        try:
            ok = await ctx.accounts.verify("oper:" + name, hashed, password, session.conn.peer_ip)
        except Throttled as refused:
            session.own_auth().pending = False
            if not session.gone:
                session.reply(numerics.ERR_PASSWDMISMATCH, text=throttled_text(refused))
            return
        session.own_auth().pending = False
        if session.gone:
            return
        if not ok:
            log.warning("failed OPER %s from %r", name, session)
            session.reply(numerics.ERR_PASSWDMISMATCH)
            return
        session.own_auth().oper = name
        if ctx.world.set_umode(session, "o", True):
            session.send(Message.build("MODE", session.nick, "+o", source=session.nick))
        session.reply(numerics.RPL_YOUREOPER)
        log.info("%r is now operator %s", session, name)

    session.run_async(check())


def handle_kill(ctx: Context, session: Session, msg: Message) -> None:
    """KILL <nick> [<reason>]: disconnect a user."""
    nick = msg.params[0]
    if is_service(nick):
        session.reply(numerics.ERR_CANTKILLSERVER)
        return
    target = ctx.world.find_user(nick)
    if target is None:
        session.reply(numerics.ERR_NOSUCHNICK, nick)
        return
    reason = msg.param(1) or "No reason given"
    log.info("%s killed %s (%s)", session.nick, target.nick, reason)
    target.send(Message.build("KILL", target.nick, reason, source=session.hostmask))
    target.disconnect(f"Killed ({session.nick} ({reason}))")


def _ban_args(msg: Message) -> tuple[int | None, str, str]:
    """``[minutes] <mask> [<reason>]`` to (minutes or None, mask, reason).

    A first parameter that looks like a number is the duration when a mask follows it; one that
    is not minutes (negative, or digits other than 0-9) raises :class:`BanError`.
    """
    params = list(msg.params)
    minutes = None
    first = params[0]
    if len(params) > 1 and (_NUMBER.fullmatch(first) or first.isdigit()):
        params.pop(0)
        if not (first.isascii() and first.isdigit()):
            raise BanError("A duration is minutes in digits 0-9: 0 (permanent) or more")
        minutes = int(first)
    mask = params[0]
    reason = params[1] if len(params) > 1 and params[1] else "No reason given"
    return minutes, mask, reason


def _set_ban(ctx: Context, session: Session, kind: str, msg: Message) -> None:
    try:
        minutes, mask, reason = _ban_args(msg)
    except BanError as exc:
        session.fail(msg.command, "INVALID_PARAMS", str(exc), msg.params[0])
        return
    if kind == "mask" and mask.startswith(ACCOUNT_PREFIX):
        kind, mask = "account", mask[len(ACCOUNT_PREFIX) :]
    if not mask or " " in mask:
        # An empty mask would be completed to *!*@*: everyone. Say * for that.
        session.fail(msg.command, "INVALID_PARAMS", "Give a mask, an account or an address to ban", mask)
        return
    longest = int(ctx.settings.server_ban_max_days * 24 * 60)
    capped = False
    if minutes is not None and minutes > longest:
        minutes, capped = longest, True
    try:
        ban = ctx.bans.add(kind, mask, reason, session.nick, minutes * 60.0 if minutes else None)
    except BanError as exc:
        session.fail(msg.command, "INVALID_PARAMS", str(exc), mask)
        return
    until = f" for {minutes} minute(s)" if minutes else ""
    if capped:
        until += " (the longest a ban may last; without a duration a ban is permanent)"
    _oper_notice(session, f"Added {kind} ban on {ban.mask}{until}: {reason}")
    log.info("%s banned %s %s%s: %s", session.nick, kind, ban.mask, until, reason)
    ctx.bans.enforce(ban, spare=session)


def _unset_ban(ctx: Context, session: Session, kind: str, msg: Message) -> None:
    mask = msg.params[0]
    if kind == "mask" and mask.startswith(ACCOUNT_PREFIX):
        kind, mask = "account", mask[len(ACCOUNT_PREFIX) :]
    try:
        removed = ctx.bans.remove(kind, mask)
    except BanError as exc:
        session.fail(msg.command, "INVALID_PARAMS", str(exc), mask)
        return
    _oper_notice(session, f"Removed {kind} ban on {mask}" if removed else f"No {kind} ban on {mask}")


def handle_kline(ctx: Context, session: Session, msg: Message) -> None:
    """KLINE [<minutes>] <nick!user@host | $a:account> [<reason>]: ban by mask or account."""
    _set_ban(ctx, session, "mask", msg)


def handle_dline(ctx: Context, session: Session, msg: Message) -> None:
    """DLINE [<minutes>] <address | network/prefix> [<reason>]: ban an IP address or CIDR range."""
    _set_ban(ctx, session, "ip", msg)


def handle_unkline(ctx: Context, session: Session, msg: Message) -> None:
    """UNKLINE <mask | $a:account>: lift a mask or account ban."""
    _unset_ban(ctx, session, "mask", msg)


def handle_undline(ctx: Context, session: Session, msg: Message) -> None:
    """UNDLINE <address | network/prefix>: lift an IP ban."""
    _unset_ban(ctx, session, "ip", msg)


def handle_wallops(ctx: Context, session: Session, msg: Message) -> None:
    """WALLOPS <text>: a message to every operator and every user with mode +w."""
    out = Message.build("WALLOPS", msg.params[0], source=session.hostmask)
    users = ctx.world.users.values()
    ctx.delivery.publish(out, [u for u in users if "o" in u.umodes or "w" in u.umodes], event=True)


def handle_rehash(ctx: Context, session: Session, msg: Message) -> None:
    """REHASH: read the configuration again and apply it; nobody is disconnected."""
    session.reply(numerics.RPL_REHASHING, ctx.config_name)
    try:
        ctx.rehash()
    except (ConfigError, OSError, ValueError) as exc:
        session.fail("REHASH", "CONFIG_ERROR", f"Configuration not reloaded: {exc}")
        return
    _oper_notice(session, "Configuration reloaded")
    log.info("%s reloaded the configuration", session.nick)


def handle_history(ctx: Context, session: Session, msg: Message) -> None:
    """HISTORY DELETE <#channel | nick1,nick2 | @key>: delete a conversation's stored history.

    Each nick means whoever holds it now, or the account owning it; ``@key`` is a stored key as
    ``hubbub history targets`` lists it.
    """
    if msg.params[0].upper() != "DELETE":
        session.fail("HISTORY", "UNKNOWN_COMMAND", "Only HISTORY DELETE is supported", msg.params[0])
        return
    store = ctx.history.store
    target = msg.params[1]
    world = ctx.world
    if is_channel_name(target):
        key = world.fold(target)
    elif dm_sides(target) is not None:
        key = target
    else:
        nicks = [s for s in target.split(",") if s]
        if len(nicks) != 2:
            session.fail("HISTORY", "INVALID_TARGET", "Name a channel or two nicks: a,b", target)
            return
        sides = [ctx.directs.peer_side(nick) for nick in nicks]
        if sides[0] is None or sides[1] is None:
            session.fail("HISTORY", "INVALID_TARGET", "Each nick must be online or registered", target)
            return
        key = dm_key(sides[0][0], sides[1][0])
    if store is None:
        session.fail("HISTORY", "MESSAGE_ERROR", "History is not available", target)
        return

    async def delete() -> None:
        # After this turn's messages (they go to the store first), off the loop.
        try:
            deleted = await ctx.delivery.run(lambda store: store.delete_target(key))
        except StoreError as exc:
            log.error("could not delete the history of %s: %s", target, exc)
            session.fail("HISTORY", "MESSAGE_ERROR", "The history store cannot delete now", target)
            return
        log.info("%s deleted the history of %s (%d messages)", session.nick, target, deleted)
        _oper_notice(session, f"Deleted {deleted} message(s) of {target}")

    session.run_async(delete())


def handle_samode(ctx: Context, session: Session, msg: Message) -> None:
    """SAMODE <#channel> <modestring> [<arguments>...]: change channel modes as its operator would.

    How an operator gives a durable channel an operator again when nobody has ops (the first
    one in is not made one) and the channel is not registered with ChanServ.
    """
    channel = session.find_channel(msg.params[0])
    if channel is None:
        return
    log.info("%s SAMODE %s %s", session.nick, channel.name, " ".join(msg.params[1:]))
    change_channel_modes(ctx, session, channel, msg.params[1], list(msg.params[2:]), override=True)


def handle_channel(ctx: Context, session: Session, msg: Message) -> None:
    """CHANNEL DROP <#channel> [HISTORY]: forget a durable channel and end it now.

    Its saved topic, modes and lists and its ChanServ registration are forgotten, its members are
    kicked, and a channel of that name made later starts clean. With HISTORY its stored messages
    are deleted too; without, they stay in the store (for export) but no member sees them again.
    """
    if msg.params[0].upper() != "DROP":
        session.fail("CHANNEL", "UNKNOWN_COMMAND", "Only CHANNEL DROP is supported", msg.params[0])
        return
    name = msg.params[1]
    with_history = msg.param(2).upper() == "HISTORY"
    if msg.param(2) and not with_history:
        session.fail("CHANNEL", "INVALID_PARAMS", "Syntax: CHANNEL DROP <#channel> [HISTORY]", msg.param(2))
        return
    channel = session.find_channel(name, silent=True)
    if channel is None:
        session.fail("CHANNEL", "INVALID_TARGET", "No such channel", name)
        return
    world = ctx.world
    if any(world.fold(c) == channel.key_folded for c in ctx.settings.persistent_channels):
        session.fail(
            "CHANNEL", "CANNOT_DROP", "Listed in persistent_channels: remove it there first", channel.name
        )
        return
    ctx.drop_channel(channel, f"Channel dropped by {session.nick}")
    if not with_history or ctx.history.store is None:
        log.info("%s dropped %s", session.nick, channel.name)
        _oper_notice(session, f"Dropped {channel.name}, its history kept in the store")
        return
    key = channel.key_folded

    async def delete() -> None:
        # After this turn's messages and the channel's end (they go to the store first), off the loop.
        try:
            deleted = await ctx.delivery.run(lambda store: store.delete_target(key))
        except StoreError as exc:
            log.error("could not delete the history of %s: %s", channel.name, exc)
            session.fail("CHANNEL", "MESSAGE_ERROR", "Dropped, but the history store cannot delete now", name)
            return
        log.info("%s dropped %s (%d messages deleted)", session.nick, channel.name, deleted)
        _oper_notice(session, f"Dropped {channel.name}, {deleted} message(s) deleted")

    session.run_async(delete())
